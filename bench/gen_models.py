#!/usr/bin/python3
"""Builds the benchmark's models and inputs (run by bench/run with Debian's python3-torch).

    /usr/bin/python3 bench/gen_models.py --out DIR [--quick] [--real-models DIR]

Writes under DIR:
  bge-small/        BertModel shaped exactly like BAAI/bge-small-en-v1.5 (12 layers, hidden 384,
                    12 heads, intermediate 1536, vocab 30522, CLS pooling, Normalize), in the
                    Hugging Face Hub folder layout Sieve loads (config.json, model.safetensors,
                    tokenizer.json from bert-base-uncased, sentence-transformers metadata) and
                    model.onnx exported from the same weights (output last_hidden_state).
  ms-marco-minilm/  BertForSequenceClassification shaped like cross-encoder/ms-marco-MiniLM-L-6-v2
                    (6 layers, hidden 384, 12 heads, intermediate 1536, 1 label), same layout,
                    model.onnx with output logits.
  workloads.json    the texts and their token ids (bert-base-uncased WordPiece) of every workload,
                    and the PyTorch float32 reference outputs of the check sets.

Weights are seeded random (deterministic). Real weights hook: with --real-models DIR (or the
environment variable SIEVE_BENCH_REAL_MODELS), DIR/bge-small and DIR/ms-marco-minilm holding a
Hub folder (config.json + model.safetensors in F32/F16/BF16) are loaded instead of random
weights; everything else (ONNX export, references, workloads) is unchanged.
"""
import argparse
import collections
import json
import math
import os
import random
import shutil
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import torch  # noqa: E402

from fixturegen import hf_models, safetensors_writer, wordpiece  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
CORPUS = os.path.join(SHARED, "cranfield", "corpus.jsonl")
QUERIES = os.path.join(SHARED, "cranfield", "queries.jsonl")
TOKENIZER_DIR = os.path.join(SHARED, "tokenizers", "bert-base-uncased")

HIDDEN, HEADS, INTERMEDIATE, VOCAB, MAX_POS = 384, 12, 1536, 30522, 512
MODELS = {
    "bge-small": dict(architecture="BertModel", layers=12, seed=1001, num_labels=0),
    "ms-marco-minilm": dict(architecture="BertForSequenceClassification", layers=6, seed=2002,
                            num_labels=1),
}


def config_for(spec):
    return hf_models.Config(vocab_size=VOCAB, hidden_size=HIDDEN,
                            num_hidden_layers=spec["layers"], num_attention_heads=HEADS,
                            intermediate_size=INTERMEDIATE, max_position_embeddings=MAX_POS)


def random_init(model, seed):
    """BERT-like seeded init: N(0, 0.02) weights and biases, LayerNorm gamma near 1."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if "LayerNorm.weight" in name:
                param.copy_(1.0 + 0.05 * noise)
            else:
                param.copy_(0.02 * noise)


def load_real(model, folder):
    """Real-weights hook: loads a Hub folder's model.safetensors into the torch.nn model."""
    tensors = safetensors_writer.read_safetensors(os.path.join(folder, "model.safetensors"))
    state = {}
    names = set(model.state_dict())
    for name, tensor in tensors.items():
        for key in (name, "bert." + name, name.removeprefix("bert.")):
            if key in names:
                state[key] = tensor.to(torch.float32)
                break
    missing = names - set(state)
    if missing:
        raise SystemExit(f"real weights in {folder} lack {sorted(missing)[:5]}")
    model.load_state_dict(state)


def write_json(path, value):
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        json.dump(value, out, ensure_ascii=False, indent=2)
        out.write("\n")


def hf_config(spec):
    fields = collections.OrderedDict()
    fields["architectures"] = [spec["architecture"]]
    fields["attention_probs_dropout_prob"] = 0.1
    fields["classifier_dropout"] = None
    fields["hidden_act"] = "gelu"
    fields["hidden_dropout_prob"] = 0.1
    fields["hidden_size"] = HIDDEN
    if spec["num_labels"]:
        fields["id2label"] = {"0": "LABEL_0"}
        fields["label2id"] = {"LABEL_0": 0}
    fields["initializer_range"] = 0.02
    fields["intermediate_size"] = INTERMEDIATE
    fields["layer_norm_eps"] = 1e-12
    fields["max_position_embeddings"] = MAX_POS
    fields["model_type"] = "bert"
    fields["num_attention_heads"] = HEADS
    fields["num_hidden_layers"] = spec["layers"]
    fields["pad_token_id"] = 0
    fields["position_embedding_type"] = "absolute"
    fields["torch_dtype"] = "float32"
    fields["transformers_version"] = "4.36.2"
    fields["type_vocab_size"] = 2
    fields["use_cache"] = True
    fields["vocab_size"] = VOCAB
    return fields


def write_hub_folder(folder, spec, model):
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "config.json"), hf_config(spec))
    tensors = {name: value.detach().clone() for name, value in model.state_dict().items()}
    safetensors_writer.write_safetensors(os.path.join(folder, "model.safetensors"), tensors)
    for name in ("tokenizer.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copyfile(os.path.join(TOKENIZER_DIR, name), os.path.join(folder, name))
    tokenizer_config = wordpiece.tokenizer_config(MAX_POS)
    write_json(os.path.join(folder, "tokenizer_config.json"), tokenizer_config)
    if spec["architecture"] != "BertModel":
        return
    write_json(os.path.join(folder, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"}])
    os.makedirs(os.path.join(folder, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(folder, "1_Pooling", "config.json"), collections.OrderedDict([
        ("word_embedding_dimension", HIDDEN), ("pooling_mode_cls_token", True),
        ("pooling_mode_mean_tokens", False), ("pooling_mode_max_tokens", False),
        ("pooling_mode_mean_sqrt_len_tokens", False)]))
    write_json(os.path.join(folder, "sentence_bert_config.json"),
               collections.OrderedDict([("max_seq_length", MAX_POS), ("do_lower_case", True)]))
    write_json(os.path.join(folder, "config_sentence_transformers.json"), collections.OrderedDict([
        ("__version__", {"sentence_transformers": "2.2.2", "transformers": "4.36.2",
                         "pytorch": "1.13.0"}),
        ("prompts", {}), ("default_prompt_name", None), ("similarity_fn_name", "cosine")]))


class OnnxWrapper(torch.nn.Module):
    """What optimum exports: (input_ids, attention_mask, token_type_ids) -> one output."""

    def __init__(self, model, classifier):
        super().__init__()
        self.model = model
        self.classifier = classifier

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids, token_type_ids, attention_mask)
        return out[1] if self.classifier else out[0]


def export_onnx(model, classifier, path):
    wrapper = OnnxWrapper(model, classifier).eval()
    ids = torch.randint(1000, 2000, (2, 16), dtype=torch.long)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    output = "logits" if classifier else "last_hidden_state"
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "token_type_ids": {0: "batch", 1: "sequence"}, output: {0: "batch"}}
    if not classifier:
        axes[output][1] = "sequence"
    with torch.no_grad():
        torch.onnx.export(wrapper, (ids, mask, types), path, opset_version=14,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=[output], dynamic_axes=axes, do_constant_folding=True)


# ----------------------------------------------------------------------------- texts

class Texts:
    """Deterministic texts of exact token lengths, cut from the Cranfield collection."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        with open(CORPUS, encoding="utf-8") as f:
            docs = [json.loads(line)["text"] for line in f]
        self.stream = []  # token ids of the whole corpus, in document order
        for doc in docs[:400]:
            self.stream.extend(tokenizer.tokenize_ids(doc))
        self.pos = 0

    def detok(self, ids):
        words = []
        for i in ids:
            piece = self.id_to_token[i]
            if piece.startswith("##") and words:
                words[-1] += piece[2:]
            else:
                words.append(piece)
        return " ".join(words)

    def text_of_length(self, n_pieces):
        """A text whose WordPiece encoding has exactly n_pieces tokens (specials excluded)."""
        for _ in range(50):
            start = self.pos
            self.pos = (self.pos + n_pieces + 7) % (len(self.stream) - 4 * MAX_POS)
            ids = self.stream[start:start + n_pieces + 8]
            for _ in range(4):
                text = self.detok(ids[:n_pieces])
                ids = self.tok.tokenize_ids(text)
                if len(ids) == n_pieces:
                    return text, ids
                if len(ids) < n_pieces:
                    break
        raise RuntimeError(f"no stable text of {n_pieces} tokens")


def load_tokenizer():
    with open(os.path.join(TOKENIZER_DIR, "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    tokenizer = wordpiece.WordPieceTokenizer(vocab)
    return tokenizer, vocab


def embed_item(texts, text):
    ids = [texts.tok.cls_id] + texts.tok.tokenize_ids(text) + [texts.tok.sep_id]
    return ids


def build_workloads(texts, quick):
    rng = random.Random(7)
    tok = texts.tok
    w = collections.OrderedDict()

    def embed_workload(name, lengths, batch, description):
        items = [texts.text_of_length(n - 2) for n in lengths]
        w[name] = {"kind": "embed", "description": description, "batch": batch,
                   "texts": [t for t, _ in items],
                   "ids": [[tok.cls_id] + ids + [tok.sep_id] for _, ids in items]}

    n_w1 = 32 if quick else 512
    embed_workload("W1", [rng.randint(64, 256) for _ in range(n_w1)], 32,
                   f"embed {n_w1} passages of 64-256 tokens, batch 32")
    embed_workload("W2", [16], 1, "embed one 16-token query")
    # W3: one Cranfield query, 50 passages; pairs of about 160 tokens.
    with open(QUERIES, encoding="utf-8") as f:
        query = json.loads(f.readline())["text"]
    q_ids = tok.tokenize_ids(query)
    passages, ids, types = [], [], []
    n_pairs = 16 if quick else 50
    for _ in range(n_pairs):
        n = 160 - 3 - len(q_ids) + rng.randint(-8, 8)
        text, p_ids = texts.text_of_length(n)
        passages.append(text)
        ids.append([tok.cls_id] + q_ids + [tok.sep_id] + p_ids + [tok.sep_id])
        types.append([0] * (len(q_ids) + 2) + [1] * (len(p_ids) + 1))
    w["W3"] = {"kind": "rerank", "description": f"rerank {n_pairs} (query, passage) pairs of ~160 tokens, batch 32",
               "batch": 32, "query": query, "passages": passages, "ids": ids, "type_ids": types}
    # Check set for the embedder: 12 texts spread over 8..300 tokens, one batch.
    embed_workload("C1", [8, 20, 33, 47, 64, 90, 128, 150, 200, 256, 280, 300], 32,
                   "check set: 12 texts of 8-300 tokens")
    # Sweep: throughput against sequence length.
    lengths = [32, 128, 512] if quick else [32, 64, 128, 256, 384, 512]
    for n in lengths:
        count = max(2, 4096 // n) if not quick else max(1, 512 // n)
        embed_workload(f"S{n}", [n] * count, min(count, 32), f"sweep: {count} texts of {n} tokens")
    return w


def reference_outputs(models, workloads):
    """PyTorch float32 outputs, each sequence unpadded (the ground truth)."""
    refs = {}
    for name in ("C1", "W2", "W3"):
        wl = workloads[name]
        outputs = []
        for i, ids in enumerate(wl["ids"]):
            types = wl["type_ids"][i] if "type_ids" in wl else [0] * len(ids)
            t_ids = torch.tensor([ids])
            with torch.no_grad():
                if wl["kind"] == "embed":
                    hidden, _ = models["bge-small"](t_ids, torch.tensor([types]),
                                                    torch.ones_like(t_ids))
                    outputs.append(torch.nn.functional.normalize(hidden[:, 0], dim=1)[0].tolist())
                else:
                    _, logits = models["ms-marco-minilm"](t_ids, torch.tensor([types]),
                                                          torch.ones_like(t_ids))
                    outputs.append(logits[0].tolist())
        refs[name] = outputs
    return refs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--real-models", default=os.environ.get("SIEVE_BENCH_REAL_MODELS"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.time()
    os.makedirs(args.out, exist_ok=True)
    tokenizer, vocab = load_tokenizer()
    texts = Texts(tokenizer)
    texts.id_to_token = vocab

    models = {}
    weights = {}
    for name, spec in MODELS.items():
        config = config_for(spec)
        if spec["architecture"] == "BertModel":
            model = hf_models.BertModel(config)
        else:
            model = hf_models.BertForSequenceClassification(config, spec["num_labels"])
        real = args.real_models and os.path.isdir(os.path.join(args.real_models, name))
        if real:
            load_real(model, os.path.join(args.real_models, name))
        else:
            random_init(model, spec["seed"])
        model.eval()
        folder = os.path.join(args.out, name)
        write_hub_folder(folder, spec, model)
        export_onnx(model, spec["num_labels"] > 0, os.path.join(folder, "model.onnx"))
        models[name] = model
        weights[name] = "real" if real else "random"
        print(f"gen_models: {name} ({weights[name]} weights) -> {folder}", flush=True)

    workloads = build_workloads(texts, args.quick)
    doc = collections.OrderedDict([
        ("models", {"embedder": os.path.join(args.out, "bge-small"),
                    "cross_encoder": os.path.join(args.out, "ms-marco-minilm")}),
        ("weights", weights),
        ("quick", args.quick),
        ("workloads", workloads),
        ("reference", reference_outputs(models, workloads)),
    ])
    write_json(os.path.join(args.out, "workloads.json"), doc)
    print(f"gen_models: done in {time.time() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
