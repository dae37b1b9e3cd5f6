"""One Python peer of the benchmark, serving JSON lines on stdin/stdout (driven by harness.py).

    python peer_py.py PEER --workloads DIR/workloads.json [--threads 2]

PEER is one of:
  ort          onnxruntime (PyPI) on the exported model.onnx, default session options
  ort-fused    onnxruntime on the transformer optimizer's output (model_type bert: Attention,
               SkipLayerNorm, BiasGelu, EmbedLayerNorm fusions), built once into model.fused.onnx
  ort-int8     onnxruntime on quantize_dynamic(model.fused.onnx) (int8 weights, dynamic activations)
  ct2-fp32     CTranslate2 Encoder, compute_type float32 (model converted from the safetensors)
  ct2-int8     CTranslate2 Encoder, compute_type int8
  openvino     OpenVINO CPU plugin reading model.onnx, f32 inference precision
  torch        PyTorch (Debian's python3-torch; run with /usr/bin/python3): BERT built from
               torch.nn modules with Hugging Face tensor names (tools/fixturegen/hf_models.py)

Every peer is fed as its users feed it: token ids (tokenised once by the harness's reference
WordPiece), sorted by length, cut into batches of the workload's batch size, padded to the
longest sequence of each batch. Embeddings are the L2-normalised [CLS] hidden state; the
cross-encoder's outputs are its logits.

Protocol (same for every peer): first line {"ok":true,"ready":true,"load_seconds":S,...} or
{"ok":false,"error":...}; then per request line one reply line:
  {"op":"run","w":"W1"} -> {"ok":true,"seconds":S}
  {"op":"check","w":"C1"} -> {"ok":true,"outputs":[[...],...]}
  {"op":"rss"} -> {"ok":true,"rss_kb":N,"hwm_kb":N}
"""
import argparse
import json
import os
import sys
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))

import numpy as np  # noqa: E402


def proc_status_kb(field):
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def padded_batches(workload):
    """(indices, ids, mask, type_ids) per length-sorted batch, padded to its longest."""
    ids = workload["ids"]
    types = workload.get("type_ids") or [[0] * len(x) for x in ids]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    size = workload["batch"]
    out = []
    for start in range(0, len(order), size):
        idx = order[start:start + size]
        width = max(len(ids[i]) for i in idx)
        b_ids = np.zeros((len(idx), width), dtype=np.int64)
        b_mask = np.zeros((len(idx), width), dtype=np.int64)
        b_types = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            n = len(ids[i])
            b_ids[row, :n] = ids[i]
            b_mask[row, :n] = 1
            b_types[row, :n] = types[i]
        out.append((idx, b_ids, b_mask, b_types))
    return out


def normalize_cls(hidden):
    cls = np.asarray(hidden, dtype=np.float32)[:, 0, :]
    return cls / np.maximum(np.linalg.norm(cls, axis=1, keepdims=True), 1e-12)


# ----------------------------------------------------------------------------- backends

class OrtBackend:
    def __init__(self, folder, kind, threads, variant):
        import onnxruntime as ort
        self.versions = {"onnxruntime": ort.__version__}
        path = os.path.join(folder, "model.onnx")
        if variant in ("fused", "int8"):
            path = self.fused(folder, kind, path)
        if variant == "int8":
            path = self.quantized(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.names = {i.name for i in self.session.get_inputs()}

    def fused(self, folder, kind, plain):
        path = os.path.join(folder, "model.fused.onnx")
        if not os.path.exists(path):
            from onnxruntime.transformers import optimizer
            # opt_level 0: the optimizer's own fusions only (levels >= 1 first run an ORT
            # session pass that needs torch installed); ORT applies its runtime
            # optimisations when the session is created anyway.
            model = optimizer.optimize_model(plain, model_type="bert", num_heads=12,
                                             hidden_size=384, opt_level=0)
            stats = model.get_fused_operator_statistics()
            with open(path + ".json", "w", encoding="utf-8") as f:
                json.dump(stats, f)
            model.save_model_to_file(path + ".tmp")
            os.replace(path + ".tmp", path)
        with open(path + ".json", encoding="utf-8") as f:
            stats = json.load(f)
        self.versions["fused_ops"] = {k: v for k, v in stats.items() if v}
        return path

    def quantized(self, fused):
        """quantize_dynamic of the fused graph (int8 weights per tensor, uint8 activations
        quantised per call); the fused graph's contrib ops need DefaultTensorType for shape
        inference. Falls back to the plain graph if that fails; versions say which was used."""
        path = fused.replace(".fused.onnx", ".fused.int8.onnx")
        if not os.path.exists(path):
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic
            try:
                quantize_dynamic(fused, path + ".tmp", weight_type=QuantType.QInt8,
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
                source = "fused"
            except Exception:  # noqa: BLE001 - fall back to the unfused graph
                quantize_dynamic(fused.replace(".fused.onnx", ".onnx"), path + ".tmp",
                                 weight_type=QuantType.QInt8)
                source = "plain"
            with open(path + ".json", "w", encoding="utf-8") as f:
                json.dump({"quantized_graph": source}, f)
            os.replace(path + ".tmp", path)
        with open(path + ".json", encoding="utf-8") as f:
            self.versions.update(json.load(f))
        return path

    def forward(self, ids, mask, types):
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return self.session.run(None, {k: v for k, v in feeds.items() if k in self.names})[0]


class OpenVinoBackend:
    def __init__(self, folder, kind, threads, variant):
        import openvino as ov
        self.versions = {"openvino": ov.__version__ if hasattr(ov, "__version__")
                         else ov.get_version()}
        core = ov.Core()
        model = core.read_model(os.path.join(folder, "model.onnx"))
        self.compiled = core.compile_model(model, "CPU", {
            "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32"})
        self.request = self.compiled.create_infer_request()

    def forward(self, ids, mask, types):
        result = self.request.infer({"input_ids": ids, "attention_mask": mask,
                                     "token_type_ids": types})
        return next(iter(result.values()))


def convert_ct2(folder, out_dir):
    """CTranslate2 model from the safetensors, built with ctranslate2's own specs exactly as its
    Transformers converter's BertLoader does (no transformers/torch needed)."""
    import ctranslate2
    from ctranslate2.converters.converter import Converter
    from ctranslate2.converters import utils
    from ctranslate2.specs import common_spec, transformer_spec

    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    tensors = read_safetensors_numpy(os.path.join(folder, "model.safetensors"))
    prefix = "bert." if any(k.startswith("bert.") for k in tensors) else ""

    def t(name):
        return tensors[prefix + name]

    def linear(spec, name):
        spec.weight = t(name + ".weight")
        spec.bias = t(name + ".bias")

    def norm(spec, name):
        spec.gamma = t(name + ".weight")
        spec.beta = t(name + ".bias")

    class BertNumpyConverter(Converter):
        def _load(self):
            encoder = transformer_spec.TransformerEncoderSpec(
                config["num_hidden_layers"], config["num_attention_heads"], pre_norm=False,
                activation=common_spec.Activation.GELU, layernorm_embedding=True,
                num_source_embeddings=2, embeddings_merge=common_spec.EmbeddingsMerge.ADD)
            spec = transformer_spec.TransformerEncoderModelSpec(
                encoder, pooling_layer=True, pooling_activation=common_spec.Activation.Tanh)
            spec.encoder.scale_embeddings = False
            spec.encoder.embeddings[0].weight = t("embeddings.word_embeddings.weight")
            spec.encoder.embeddings[1].weight = t("embeddings.token_type_embeddings.weight")
            spec.encoder.position_encodings.encodings = t(
                "embeddings.position_embeddings.weight")
            norm(spec.encoder.layernorm_embedding, "embeddings.LayerNorm")
            linear(spec.pooler_dense, "pooler.dense")
            for i, layer in enumerate(spec.encoder.layer):
                p = f"encoder.layer.{i}."
                split = [common_spec.LinearSpec() for _ in range(3)]
                for part, name in zip(split, ("query", "key", "value")):
                    linear(part, p + "attention.self." + name)
                utils.fuse_linear(layer.self_attention.linear[0], split)
                linear(layer.self_attention.linear[1], p + "attention.output.dense")
                norm(layer.self_attention.layer_norm, p + "attention.output.LayerNorm")
                linear(layer.ffn.linear_0, p + "intermediate.dense")
                linear(layer.ffn.linear_1, p + "output.dense")
                norm(layer.ffn.layer_norm, p + "output.LayerNorm")
            with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
                spec.register_vocabulary([line.rstrip("\n") for line in f if line != ""])
            spec.config.unk_token = "[UNK]"
            spec.config.layer_norm_epsilon = config["layer_norm_eps"]
            return spec

    BertNumpyConverter().convert(out_dir + ".tmp", force=True)
    os.replace(out_dir + ".tmp", out_dir)
    return ctranslate2


def read_safetensors_numpy(path):
    with open(path, "rb") as f:
        raw = f.read()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    base = 8 + header_len
    types = {"F32": np.float32, "F16": np.float16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in types:
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + begin:base + end],
                                  dtype=types[info["dtype"]]).reshape(info["shape"]).astype(
                                      np.float32)
    return out


class Ct2Backend:
    def __init__(self, folder, kind, threads, variant):
        import ctranslate2
        out_dir = os.path.join(folder, "ct2")
        if not os.path.isdir(out_dir):
            convert_ct2(folder, out_dir)
        self.versions = {"ctranslate2": ctranslate2.__version__}
        self.encoder = ctranslate2.Encoder(out_dir, device="cpu", compute_type=variant,
                                           intra_threads=threads, inter_threads=1)
        self.kind = kind
        if kind == "rerank":
            tensors = read_safetensors_numpy(os.path.join(folder, "model.safetensors"))
            self.classifier_w = tensors["classifier.weight"]
            self.classifier_b = tensors["classifier.bias"]

    def forward(self, ids, mask, types):
        # CTranslate2 takes unpadded id lists and pads each batch to its longest itself.
        lengths = mask.sum(axis=1)
        tokens = [row[:n].tolist() for row, n in zip(ids, lengths)]
        type_ids = [row[:n].tolist() for row, n in zip(types, lengths)]
        out = self.encoder.forward_batch(tokens, token_type_ids=type_ids)
        if self.kind == "rerank":
            pooled = np.asarray(out.pooler_output, dtype=np.float32)
            return pooled @ self.classifier_w.T + self.classifier_b
        return np.asarray(out.last_hidden_state, dtype=np.float32)


class TorchBackend:
    def __init__(self, folder, kind, threads, variant):
        import torch
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
        from fixturegen import hf_models, safetensors_writer
        torch.set_num_threads(threads)
        self.torch = torch
        self.versions = {"torch": torch.__version__}
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            c = json.load(f)
        config = hf_models.Config(
            vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
            num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
            intermediate_size=c["intermediate_size"],
            max_position_embeddings=c["max_position_embeddings"])
        if kind == "rerank":
            self.model = hf_models.BertForSequenceClassification(config, 1)
        else:
            self.model = hf_models.BertModel(config)
        state = safetensors_writer.read_safetensors(os.path.join(folder, "model.safetensors"))
        self.model.load_state_dict({k: v.float() for k, v in state.items()
                                    if k != "embeddings.position_ids"})
        self.model.eval()
        self.kind = kind

    def forward(self, ids, mask, types):
        torch = self.torch
        with torch.inference_mode():
            out = self.model(torch.from_numpy(ids), torch.from_numpy(types),
                             torch.from_numpy(mask))
        return (out[1] if self.kind == "rerank" else out[0]).numpy()


BACKENDS = {
    "ort": (OrtBackend, "plain"), "ort-fused": (OrtBackend, "fused"),
    "ort-int8": (OrtBackend, "int8"), "ct2-fp32": (Ct2Backend, "float32"),
    "ct2-int8": (Ct2Backend, "int8"), "openvino": (OpenVinoBackend, "f32"),
    "torch": (TorchBackend, "fp32"),
}


def reply(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=sorted(BACKENDS))
    parser.add_argument("--workloads", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with open(args.workloads, encoding="utf-8") as f:
        doc = json.load(f)
    cls, variant = BACKENDS[args.peer]
    try:
        started = time.perf_counter()
        backends = {"embed": cls(doc["models"]["embedder"], "embed", args.threads, variant),
                    "rerank": cls(doc["models"]["cross_encoder"], "rerank", args.threads,
                                  variant)}
        load_seconds = time.perf_counter() - started
    except Exception as error:  # noqa: BLE001 - any failure makes the peer unavailable
        reply({"ok": False, "error": f"{type(error).__name__}: {error}",
               "trace": traceback.format_exc()[-2000:]})
        return 2
    batches = {name: padded_batches(w) for name, w in doc["workloads"].items()}
    reply({"ok": True, "ready": True, "load_seconds": load_seconds,
           "versions": backends["embed"].versions})
    for line in sys.stdin:
        try:
            request = json.loads(line)
            op = request.get("op")
            if op == "quit":
                break
            if op == "rss":
                reply({"ok": True, "rss_kb": proc_status_kb("VmRSS"),
                       "hwm_kb": proc_status_kb("VmHWM")})
                continue
            name = request["w"]
            backend = backends[doc["workloads"][name]["kind"]]
            outputs = [None] * len(doc["workloads"][name]["ids"])
            start = time.perf_counter()
            for idx, ids, mask, types in batches[name]:
                result = backend.forward(ids, mask, types)
                if backend is backends["embed"]:
                    result = normalize_cls(result)
                for row, i in enumerate(idx):
                    outputs[i] = result[row]
            seconds = time.perf_counter() - start
            answer = {"ok": True, "seconds": seconds}
            if op == "check":
                answer["outputs"] = [np.asarray(o, dtype=np.float64).tolist() for o in outputs]
            reply(answer)
        except Exception as error:  # noqa: BLE001
            reply({"ok": False, "error": f"{type(error).__name__}: {error}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
