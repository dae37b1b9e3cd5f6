"""Reads a written fixture folder the way the C++ engine must (config.json, model.safetensors,
sentence-transformers metadata) and recomputes reference.json's outputs in float64 numpy from
the recorded input ids. It shares no code with the torch models, so it checks the files on disk
(tensor names, dtypes, layouts, config fields) against the recorded outputs."""
import json
import math
import os

import numpy as np

from . import safetensors_writer

_erf = np.frompyfunc(math.erf, 1, 1)


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def _layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _load(folder):
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    tensors = {}
    for name, tensor in safetensors_writer.read_safetensors(
            os.path.join(folder, "model.safetensors")).items():
        if tensor.is_floating_point():
            tensors[name] = tensor.double().numpy()
    return config, tensors


def _encoder(config, w, prefix, input_ids, type_ids, mask):
    hidden_size = config["hidden_size"]
    heads = config["num_attention_heads"]
    head_dim = hidden_size // heads
    eps = config["layer_norm_eps"]
    if config["model_type"] == "xlm-roberta":
        pad = config["pad_token_id"]
        real = (input_ids != pad).astype(np.int64)
        positions = np.cumsum(real, axis=1) * real + pad
    else:
        positions = np.broadcast_to(np.arange(input_ids.shape[1]), input_ids.shape)

    def p(name):
        return w[prefix + name]

    x = (p("embeddings.word_embeddings.weight")[input_ids]
         + p("embeddings.position_embeddings.weight")[positions]
         + p("embeddings.token_type_embeddings.weight")[type_ids])
    x = _layer_norm(x, p("embeddings.LayerNorm.weight"), p("embeddings.LayerNorm.bias"), eps)
    batch, seq_len, _ = x.shape
    additive = np.where(mask[:, None, None, :] > 0, 0.0, -1e30)
    for i in range(config["num_hidden_layers"]):
        layer = f"encoder.layer.{i}."

        def linear(name, v):
            return v @ p(layer + name + ".weight").T + p(layer + name + ".bias")

        def split(v):
            return v.reshape(batch, seq_len, heads, head_dim).transpose(0, 2, 1, 3)

        q = split(linear("attention.self.query", x))
        k = split(linear("attention.self.key", x))
        v = split(linear("attention.self.value", x))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + additive
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq_len, hidden_size)
        x = _layer_norm(linear("attention.output.dense", context) + x,
                        p(layer + "attention.output.LayerNorm.weight"),
                        p(layer + "attention.output.LayerNorm.bias"), eps)
        inner = _gelu(linear("intermediate.dense", x))
        x = _layer_norm(linear("output.dense", inner) + x, p(layer + "output.LayerNorm.weight"),
                        p(layer + "output.LayerNorm.bias"), eps)
    return x


def recompute(folder):
    """Max |difference| between reference.json and this float64 recomputation, per field."""
    config, w = _load(folder)
    with open(os.path.join(folder, "reference.json"), encoding="utf-8") as f:
        reference = json.load(f)
    arch = config["architectures"][0]
    worst = {}

    def note(field, got, want):
        worst[field] = max(worst.get(field, 0.0), float(np.abs(got - np.array(want)).max()))

    for case in reference["cases"]:
        ids, types, mask = (np.array(case[k], dtype=np.int64)
                            for k in ("input_ids", "token_type_ids", "attention_mask"))
        if arch in ("BertModel", "XLMRobertaModel"):
            with open(os.path.join(folder, "1_Pooling", "config.json"), encoding="utf-8") as f:
                pooling = json.load(f)
            hidden = _encoder(config, w, "", ids, types, mask)
            if pooling["pooling_mode_cls_token"]:
                pooled = hidden[:, 0]
            else:
                pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            got = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
            note("embeddings", got, case["embeddings"])
        elif arch == "BertForSequenceClassification":
            hidden = _encoder(config, w, "bert.", ids, types, mask)
            pooled = np.tanh(hidden[:, 0] @ w["bert.pooler.dense.weight"].T
                             + w["bert.pooler.dense.bias"])
            got = pooled @ w["classifier.weight"].T + w["classifier.bias"]
            note("logits", got, case["logits"])
        elif arch == "XLMRobertaForSequenceClassification":
            hidden = _encoder(config, w, "roberta.", ids, types, mask)
            dense = np.tanh(hidden[:, 0] @ w["classifier.dense.weight"].T
                            + w["classifier.dense.bias"])
            got = dense @ w["classifier.out_proj.weight"].T + w["classifier.out_proj.bias"]
            note("logits", got, case["logits"])
        else:
            raise ValueError(f"{folder}: unexpected architecture {arch}")
        if "scores" in case:
            logits = np.array(case["logits"])
            if logits.shape[1] == 1:
                scores = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            else:
                e = np.exp(logits - logits.max(axis=1, keepdims=True))
                scores = (e / e.sum(axis=1, keepdims=True))[:, -1]
            note("scores", scores, case["scores"])
        if "last_hidden_state" in case:
            note("last_hidden_state", hidden, case["last_hidden_state"])
    if "masked" in reference:  # non-prefix masks: real rows only
        masked = reference["masked"]
        ids, types, mask = (np.array(masked[k], dtype=np.int64)
                            for k in ("input_ids", "token_type_ids", "attention_mask"))
        prefix = {"BertForSequenceClassification": "bert.",
                  "XLMRobertaForSequenceClassification": "roberta."}.get(arch, "")
        hidden = _encoder(config, w, prefix, ids, types, mask)
        real = mask[..., None] > 0
        note("masked hidden", np.where(real, hidden, 0.0),
             np.where(real, np.array(masked["last_hidden_state"]), 0.0))
    return worst
