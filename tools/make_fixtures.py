#!/usr/bin/python3
"""Builds the encoder parity fixtures in tests/data/models/ (run by hand; the C++ tests only read
the committed outputs and never need torch).

    scripts/setup --with-torch && /usr/bin/python3 tools/make_fixtures.py

Needs Debian's python3-torch, python3-numpy and python3-sentencepiece (the pyenv `python3` on
PATH has no torch: use /usr/bin/python3). Takes a few seconds; the output is byte-identical on
every run.

For each fixture it:
  1. builds a tiny model (hidden 32, 2 layers, 4 heads, intermediate 64) with the real Hugging
     Face architecture out of torch.nn modules (tools/fixturegen/hf_models.py), with seeded,
     deliberately sharp random weights;
  2. writes it in the Hub folder layout: config.json, model.safetensors (exact HF tensor names,
     F32 / F16 / BF16), the tokenizer files and, for bi-encoders, the sentence-transformers
     metadata;
  3. tokenizes the test inputs with independent Python tokenizers (tools/fixturegen/wordpiece.py,
     python3-sentencepiece with the fairseq id offset) and records the PyTorch outputs in
     reference.json (weights rounded to the stored dtype, computed in float32);
  4. checks the fixture is sensitive: each planted bug (tanh GELU, wrong LayerNorm eps, dropped
     query bias, ignored padding mask, wrong XLM-R position offset) must move the recorded outputs
     by more than 1e-3 (the parity tests allow 1e-4), and float32 noise (float64 rerun) must stay
     below 1e-5. Any failed check exits non-zero.

Usage: make_fixtures.py [--out DIR] (default: tests/data/models next to this script's repo).
"""
import argparse
import collections
import dataclasses
import json
import os
import shutil
import sys

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__

import sentencepiece  # noqa: E402
import torch  # noqa: E402

from fixturegen import hf_models, numpy_consumer, safetensors_writer, wordpiece  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
CORPUS = os.path.join(SHARED, "data", "cranfield", "corpus.jsonl")
GOLDEN_DEV = os.path.join(SHARED, "data", "tokenizers", "golden_dev.jsonl")
BERT_BASE_VOCAB = os.path.join(SHARED, "data", "tokenizers", "bert-base-uncased", "vocab.txt")
SPM_MODEL = os.path.join(ROOT, "tests", "data", "tokenizer", "spm", "sentencepiece.bpe.model")

WORDPIECE_VOCAB_SIZE = 1000
BGE_QUERY_PROMPT = "Represent this sentence for searching relevant passages: "
SENSITIVITY_MIN = 1e-3   # every planted bug must move the outputs more than this
FLOAT32_NOISE_MAX = 1e-5  # float32 vs float64 forward pass
TRANSFORMERS_VERSION = "4.36.2"  # written into config.json like a real checkpoint


@dataclasses.dataclass(frozen=True)
class FixtureSpec:
    name: str
    architecture: str  # HF class name
    kind: str  # "embedder" | "cross-encoder"
    dtype: torch.dtype  # storage dtype of model.safetensors
    seed: int
    pooling: str = None  # "cls" | "mean" (embedders)
    max_seq_length: int = 64  # sentence_bert_config.json (embedders)
    num_labels: int = 0  # cross-encoders
    query_prompt: str = None
    do_lower_case: bool = False
    position_ids_buffer: bool = False  # also store embeddings.position_ids (I64), like old files
    description: str = ""

    @property
    def is_xlmr(self):
        return self.architecture.startswith("XLMRoberta")


FIXTURES = [
    FixtureSpec("tiny-bge", "BertModel", "embedder", torch.float32, seed=101, pooling="cls",
                max_seq_length=64, query_prompt=BGE_QUERY_PROMPT, do_lower_case=True,
                description="like BAAI/bge-small-en-v1.5: CLS pooling, Normalize, query prompt"),
    FixtureSpec("tiny-minilm", "BertModel", "embedder", torch.float16, seed=202, pooling="mean",
                max_seq_length=32, position_ids_buffer=True,
                description="like sentence-transformers/all-MiniLM-L6-v2: mean pooling, Normalize, "
                            "max_seq_length below max_position_embeddings, F16 weights"),
    FixtureSpec("tiny-ms-marco", "BertForSequenceClassification", "cross-encoder",
                torch.bfloat16, seed=303, num_labels=1,
                description="like cross-encoder/ms-marco-MiniLM-L-6-v2: pooler + classifier, "
                            "1 label (sigmoid), BF16 weights"),
    FixtureSpec("tiny-ms-marco-2label", "BertForSequenceClassification", "cross-encoder",
                torch.float32, seed=404, num_labels=2,
                description="BertForSequenceClassification with 2 labels (softmax, last label)"),
    FixtureSpec("tiny-xlmr", "XLMRobertaModel", "embedder", torch.float32, seed=505,
                pooling="cls", max_seq_length=64,
                description="like BAAI/bge-m3: XLMRobertaModel, CLS pooling, Normalize, "
                            "SentencePiece"),
    FixtureSpec("tiny-xlmr-reranker", "XLMRobertaForSequenceClassification", "cross-encoder",
                torch.float32, seed=606, num_labels=1,
                description="like BAAI/bge-reranker-base: RobertaClassificationHead on <s>, "
                            "1 label (sigmoid), SentencePiece"),
]

DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


# ----------------------------------------------------------------------------- test inputs

def corpus_texts(doc_ids):
    found = {}
    with open(CORPUS, encoding="utf-8") as corpus:
        for line in corpus:
            doc = json.loads(line)
            if doc["_id"] in doc_ids:
                found[doc["_id"]] = doc["text"]
    return [found[i] for i in doc_ids]


def embedder_cases(spec):
    long_1, long_12 = corpus_texts(["1", "12"])
    m = spec.max_seq_length
    return [
        {"name": "single", "texts": ["the boundary layer on a flat plate"], "is_query": False,
         "max_length": m},
        {"name": "padded_batch", "is_query": False, "max_length": m, "texts": [
            "supersonic flow",
            "Heat transfer to a cylinder in HYPERSONIC flow, at Mach numbers near 7.5!",
            "What is the effect of the wing's sweep on lift (and drag)?",
            "shock waves and " + "x" * 120 + " nonsense"]},
        {"name": "truncated_at_max_length", "texts": [long_1], "is_query": False,
         "max_length": m},
        {"name": "truncated_short_max_length", "texts": [long_12, "thin airfoil theory"],
         "is_query": False, "max_length": 16},
        {"name": "queries", "is_query": True, "max_length": m, "texts": [
            "what similarity laws must be obeyed when constructing aeroelastic models of heated "
            "high speed aircraft ?",
            "boundary layer transition"]},
    ]


def cross_encoder_cases(spec):
    long_1, long_184 = corpus_texts(["1", "184"])
    query = "what is the lift of a wing in a propeller slipstream?"
    long_query = ("how do thermal stresses and aerodynamic heating interact in the structural "
                  "design of high speed aircraft, and which similarity laws must aeroelastic "
                  "models obey?")
    return [
        {"name": "single_pair", "is_query": False, "max_length": 64,
         "pairs": [[query, "the lift increase due to the slipstream was measured."]]},
        {"name": "padded_batch", "is_query": False, "max_length": 64, "pairs": [
            [query, "slipstream"],
            [query, "An experimental study of a wing in a propeller slipstream was made."],
            [query, "Heat transfer in HYPERSONIC flow: results for Mach 7.5, cold walls."],
            [query, "boundary layer"]]},
        {"name": "longest_first_passage_cut", "is_query": False, "max_length": 64,
         "pairs": [[query, long_1], [query, "short passage about lift"]]},
        {"name": "longest_first_both_cut", "is_query": False, "max_length": 24,
         "pairs": [[long_query, long_184], [long_query, "thermal stress"]]},
    ]


# ----------------------------------------------------------------------------- tokenizers

class SentencePieceXlmr:
    """XLMRobertaTokenizer ids: fairseq offset (spm id + 1; spm unk -> <unk> = 3)."""
    BOS, PAD, EOS, UNK = 0, 1, 2, 3

    def __init__(self, model_path):
        self.sp = sentencepiece.SentencePieceProcessor(model_file=model_path)
        self.pad_id = self.PAD
        self.vocab_size = self.sp.get_piece_size() + 2  # fairseq offset + <mask>

    def tokenize_ids(self, text):
        return [self.UNK if i == self.sp.unk_id() else i + 1
                for i in self.sp.encode(text, out_type=int)]

    def encode(self, text, max_length):
        ids = self.tokenize_ids(text)[:max(0, max_length - 2)]
        input_ids = [self.BOS] + ids + [self.EOS]
        return input_ids, [0] * len(input_ids)

    def encode_pair(self, first, second, max_length):
        a, b = wordpiece.truncate_pair(self.tokenize_ids(first), self.tokenize_ids(second),
                                       max_length - 4)
        input_ids = [self.BOS] + a + [self.EOS, self.EOS] + b + [self.EOS]
        return input_ids, [0] * len(input_ids)


def pad_batch(encodings, pad_id):
    width = max(len(ids) for ids, _ in encodings)
    input_ids, type_ids, mask = [], [], []
    for ids, types in encodings:
        extra = width - len(ids)
        input_ids.append(ids + [pad_id] * extra)
        type_ids.append(types + [0] * extra)
        mask.append([1] * len(ids) + [0] * extra)
    return input_ids, type_ids, mask


def masked_batch(batch):
    """The padded batch with masks that are not a prefix (an engine that assumes real tokens come
    first must fail on it): sequence 1 gets holes, sequence 2 its first token and one more masked,
    sequence 3 nothing real at all. Only real rows of its last_hidden_state are meaningful."""
    input_ids, type_ids, mask = batch
    mask = [list(row) for row in mask]
    assert len(mask) == 4 and sum(mask[1]) >= 6 and sum(mask[2]) >= 6
    mask[1][2] = mask[1][4] = 0
    mask[2][0] = mask[2][3] = 0
    mask[3] = [0] * len(mask[3])
    return input_ids, type_ids, mask


def check_wordpiece_against_golden():
    """The reference WordPiece must reproduce the shared golden encodings it can handle."""
    with open(BERT_BASE_VOCAB, encoding="utf-8") as f:
        tokenizer = wordpiece.WordPieceTokenizer(f.read().split("\n")[:-1])
    checked = mismatched = 0
    with open(GOLDEN_DEV, encoding="utf-8") as golden:
        for line in golden:
            case = json.loads(line)
            if case["category"] == "special_literal":
                continue  # the simple tokenizer does not match added tokens inside text
            max_length = case.get("max_length", 10**9)
            if "text_pair" in case:
                ids, types = tokenizer.encode_pair(case["text"], case["text_pair"], max_length)
            else:
                ids, types = tokenizer.encode(case["text"], max_length)
            checked += 1
            if ids != case["input_ids"] or types != case["token_type_ids"]:
                mismatched += 1
                print(f"  golden mismatch {case['id']} ({case['category']})", file=sys.stderr)
    print(f"reference WordPiece vs golden_dev.jsonl: {checked - mismatched}/{checked} equal")
    return mismatched == 0


# ----------------------------------------------------------------------------- model

def make_config(spec, vocab_size):
    if spec.is_xlmr:
        config = hf_models.Config(vocab_size=vocab_size, max_position_embeddings=66,
                                  type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1,
                                  is_xlmr=True)
    else:
        config = hf_models.Config(vocab_size=vocab_size)
    return config


def build_model(spec, config):
    torch.manual_seed(spec.seed)
    if spec.architecture in ("BertModel", "XLMRobertaModel"):
        model = hf_models.BertModel(config)
    elif spec.architecture == "BertForSequenceClassification":
        model = hf_models.BertForSequenceClassification(config, spec.num_labels)
    elif spec.architecture == "XLMRobertaForSequenceClassification":
        model = hf_models.XLMRobertaForSequenceClassification(config, spec.num_labels)
    else:
        raise ValueError(spec.architecture)
    hf_models.sharp_init(model, spec.seed)
    # The reference runs on the weights as stored (F16 / BF16 rounding included), in float32.
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(param.to(spec.dtype).to(torch.float32))
    return model.eval()


def hf_config_json(spec, config):
    fields = collections.OrderedDict()
    fields["architectures"] = [spec.architecture]
    fields["attention_probs_dropout_prob"] = 0.1
    if spec.is_xlmr:
        fields["bos_token_id"] = 0
    fields["classifier_dropout"] = None
    if spec.is_xlmr:
        fields["eos_token_id"] = 2
    fields["hidden_act"] = "gelu"
    fields["hidden_dropout_prob"] = 0.1
    fields["hidden_size"] = config.hidden_size
    if spec.num_labels:
        fields["id2label"] = {str(i): f"LABEL_{i}" for i in range(spec.num_labels)}
    fields["initializer_range"] = 0.02
    fields["intermediate_size"] = config.intermediate_size
    if spec.num_labels:
        fields["label2id"] = {f"LABEL_{i}": i for i in range(spec.num_labels)}
    fields["layer_norm_eps"] = config.layer_norm_eps
    fields["max_position_embeddings"] = config.max_position_embeddings
    fields["model_type"] = "xlm-roberta" if spec.is_xlmr else "bert"
    fields["num_attention_heads"] = config.num_attention_heads
    fields["num_hidden_layers"] = config.num_hidden_layers
    fields["pad_token_id"] = config.pad_token_id
    fields["position_embedding_type"] = "absolute"
    fields["torch_dtype"] = DTYPE_NAMES[spec.dtype]
    fields["transformers_version"] = TRANSFORMERS_VERSION
    fields["type_vocab_size"] = config.type_vocab_size
    fields["use_cache"] = True
    fields["vocab_size"] = config.vocab_size
    return fields


def run_model(model, batch, bugs=hf_models.NO_BUGS, dtype=torch.float32):
    input_ids, type_ids, mask = (torch.tensor(x, dtype=torch.long) for x in batch)
    with torch.no_grad():
        return model.to(dtype)(input_ids, type_ids, mask, bugs)


def pool(spec, hidden, mask, bugs=hf_models.NO_BUGS):
    mask = torch.tensor(mask, dtype=hidden.dtype)
    if bugs.mean_pool_padding:
        mask = torch.ones_like(mask)
    if spec.pooling == "cls":
        pooled = hidden[:, 0]
    else:  # sentence-transformers mean pooling over real tokens
        summed = (hidden * mask.unsqueeze(-1)).sum(dim=1)
        pooled = summed / torch.clamp(mask.sum(dim=1, keepdim=True), min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def scores_from_logits(logits):
    if logits.shape[1] == 1:
        return torch.sigmoid(logits[:, 0])
    return torch.softmax(logits, dim=1)[:, -1]


def case_outputs(spec, model, batch, bugs=hf_models.NO_BUGS, dtype=torch.float32):
    """(compared output, last_hidden_state, scores): embeddings or logits first."""
    output = run_model(model, batch, bugs, dtype)
    if spec.kind == "embedder":
        hidden = output[0]
        return pool(spec, hidden, batch[2], bugs), hidden, None
    hidden, logits = output
    return logits, hidden, scores_from_logits(logits)


def encoder_body(model):
    if hasattr(model, "bert"):
        return model.bert
    if hasattr(model, "roberta"):
        return model.roberta
    return model


def check_against_torch_transformer(model, config, batch):
    """Independent check of the encoder layers: torch.nn.TransformerEncoderLayer (post-LN, erf
    GELU) loaded with the same weights must give the same hidden states on real tokens."""
    body = encoder_body(model)
    input_ids, type_ids, mask = (torch.tensor(x, dtype=torch.long) for x in batch)
    with torch.no_grad():
        hidden = body.embeddings(input_ids, type_ids, hf_models.NO_BUGS)
        ours = run_model(model, batch)[0]
        for layer in body.encoder.layer:
            attention = layer.attention
            reference = torch.nn.TransformerEncoderLayer(
                config.hidden_size, config.num_attention_heads, config.intermediate_size,
                dropout=0.0, activation="gelu", layer_norm_eps=config.layer_norm_eps,
                batch_first=True).eval()
            reference.self_attn.in_proj_weight.copy_(torch.cat([
                attention.self.query.weight, attention.self.key.weight,
                attention.self.value.weight]))
            reference.self_attn.in_proj_bias.copy_(torch.cat([
                attention.self.query.bias, attention.self.key.bias, attention.self.value.bias]))
            reference.self_attn.out_proj.load_state_dict(attention.output.dense.state_dict())
            reference.norm1.load_state_dict(attention.output.LayerNorm.state_dict())
            reference.linear1.load_state_dict(layer.intermediate.dense.state_dict())
            reference.linear2.load_state_dict(layer.output.dense.state_dict())
            reference.norm2.load_state_dict(layer.output.LayerNorm.state_dict())
            hidden = reference(hidden, src_key_padding_mask=mask.eq(0))
    real = mask.bool()
    return float((hidden[real] - ours[real]).abs().max())


# ----------------------------------------------------------------------------- writing

def rounded(values):
    """Nested lists of float32 values, 9 significant digits (exact float32 round trip)."""
    if isinstance(values, torch.Tensor):
        values = values.to(torch.float32).tolist()
    if isinstance(values, list):
        return [rounded(v) for v in values]
    return float(f"{values:.9g}")


def dumps_compact(value, indent=0):
    """JSON with objects indented and lists of scalars kept on one line."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f'{pad} {json.dumps(k)}: {dumps_compact(v, indent + 1)}' for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = [pad + " " + dumps_compact(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=True)


def write_json(path, value, compact=False):
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        if compact:
            out.write(dumps_compact(value))
        else:
            json.dump(value, out, ensure_ascii=False, indent=2)
        out.write("\n")


def write_sentence_transformers_files(spec, folder, hidden_size):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ]
    write_json(os.path.join(folder, "modules.json"), modules)
    os.makedirs(os.path.join(folder, "1_Pooling"))
    pooling = collections.OrderedDict([
        ("word_embedding_dimension", hidden_size),
        ("pooling_mode_cls_token", spec.pooling == "cls"),
        ("pooling_mode_mean_tokens", spec.pooling == "mean"),
        ("pooling_mode_max_tokens", False),
        ("pooling_mode_mean_sqrt_len_tokens", False),
        ("pooling_mode_weightedmean_tokens", False),
        ("pooling_mode_lasttoken", False),
        ("include_prompt", True),
    ])
    write_json(os.path.join(folder, "1_Pooling", "config.json"), pooling)
    write_json(os.path.join(folder, "sentence_bert_config.json"), collections.OrderedDict([
        ("max_seq_length", spec.max_seq_length), ("do_lower_case", spec.do_lower_case)]))
    st_config = collections.OrderedDict([
        ("__version__", {"sentence_transformers": "2.7.0", "transformers": TRANSFORMERS_VERSION,
                         "pytorch": "1.13.0"}),
        ("prompts", {"query": spec.query_prompt} if spec.query_prompt else {}),
        ("default_prompt_name", None),
        ("similarity_fn_name", "cosine"),
    ])
    write_json(os.path.join(folder, "config_sentence_transformers.json"), st_config)


def write_tokenizer_files(spec, folder, wordpiece_vocab, model_max_length):
    if spec.is_xlmr:
        shutil.copyfile(SPM_MODEL, os.path.join(folder, "sentencepiece.bpe.model"))
        write_json(os.path.join(folder, "tokenizer_config.json"), collections.OrderedDict([
            ("bos_token", "<s>"), ("clean_up_tokenization_spaces", True), ("cls_token", "<s>"),
            ("eos_token", "</s>"), ("mask_token", "<mask>"),
            ("model_max_length", model_max_length), ("pad_token", "<pad>"),
            ("sep_token", "</s>"), ("tokenizer_class", "XLMRobertaTokenizer"),
            ("unk_token", "<unk>")]))
        write_json(os.path.join(folder, "special_tokens_map.json"), collections.OrderedDict([
            ("bos_token", "<s>"), ("cls_token", "<s>"), ("eos_token", "</s>"),
            ("mask_token", "<mask>"), ("pad_token", "<pad>"), ("sep_token", "</s>"),
            ("unk_token", "<unk>")]))
        return
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8", newline="\n") as out:
        out.write("".join(token + "\n" for token in wordpiece_vocab))
    write_json(os.path.join(folder, "tokenizer.json"), wordpiece.tokenizer_json(wordpiece_vocab))
    write_json(os.path.join(folder, "tokenizer_config.json"),
               wordpiece.tokenizer_config(model_max_length))
    write_json(os.path.join(folder, "special_tokens_map.json"), wordpiece.special_tokens_map())


def write_weights(spec, model, config, path):
    tensors = {name: value.to(spec.dtype) for name, value in model.state_dict().items()}
    if spec.position_ids_buffer:
        tensors["embeddings.position_ids"] = torch.arange(
            config.max_position_embeddings, dtype=torch.int64).unsqueeze(0)
    safetensors_writer.write_safetensors(path, tensors, {"format": "pt"})
    back = safetensors_writer.read_safetensors(path)
    assert back.keys() == tensors.keys(), "safetensors round trip lost tensors"
    for name, tensor in tensors.items():
        assert back[name].dtype == tensor.dtype and torch.equal(back[name], tensor), name


# ----------------------------------------------------------------------------- sensitivity

def planted_bugs(spec):
    bugs = [("tanh GELU", hf_models.Bugs(gelu_tanh=True))]
    if spec.is_xlmr:
        bugs.append(("LayerNorm eps 1e-12 (config 1e-5)", hf_models.Bugs(layer_norm_eps=1e-12)))
    else:
        bugs.append(("LayerNorm eps 1e-5 (config 1e-12)", hf_models.Bugs(layer_norm_eps=1e-5)))
    bugs.append(("no query bias", hf_models.Bugs(no_query_bias=True)))
    bugs.append(("padding mask ignored", hf_models.Bugs(ignore_padding_mask=True)))
    if spec.pooling == "mean":
        bugs.append(("mean pooling over padding", hf_models.Bugs(mean_pool_padding=True)))
    if spec.is_xlmr:
        bugs.append(("XLM-R positions from 0", hf_models.Bugs(xlmr_positions_from=0)))
        bugs.append(("XLM-R positions from 1", hf_models.Bugs(xlmr_positions_from=1)))
    return bugs


def max_abs_diff(a, b):
    return max(float((x.double() - y.double()).abs().max()) for x, y in zip(a, b))


# ----------------------------------------------------------------------------- main

def generate(spec, out_root, wordpiece_vocab, spm_tokenizer):
    folder = os.path.join(out_root, spec.name)
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)

    if spec.is_xlmr:
        tokenizer = spm_tokenizer
        vocab_size = spm_tokenizer.vocab_size
    else:
        tokenizer = wordpiece.WordPieceTokenizer(wordpiece_vocab)
        vocab_size = len(wordpiece_vocab)
    config = make_config(spec, vocab_size)
    model = build_model(spec, config)
    model_max_length = config.max_position_embeddings - (2 if spec.is_xlmr else 0)

    write_json(os.path.join(folder, "config.json"), hf_config_json(spec, config))
    write_weights(spec, model, config, os.path.join(folder, "model.safetensors"))
    write_tokenizer_files(spec, folder, wordpiece_vocab, model_max_length)
    if spec.kind == "embedder":
        write_sentence_transformers_files(spec, folder, config.hidden_size)
        cases = embedder_cases(spec)
    else:
        cases = cross_encoder_cases(spec)

    batches = []
    for case in cases:
        if spec.kind == "embedder":
            prompt = spec.query_prompt if case["is_query"] and spec.query_prompt else ""
            encodings = [tokenizer.encode(prompt + text, case["max_length"])
                         for text in case["texts"]]
        else:
            encodings = [tokenizer.encode_pair(q, p, case["max_length"]) for q, p in case["pairs"]]
        batch = pad_batch(encodings, config.pad_token_id)
        assert max(map(len, batch[0])) <= min(case["max_length"], config.max_position_embeddings
                                              - (2 if spec.is_xlmr else 0))
        batches.append(batch)

    reference_cases = []
    outputs = []
    noise = 0.0
    for index, (case, batch) in enumerate(zip(cases, batches)):
        compared, hidden, scores = case_outputs(spec, model, batch)
        compared64, _, _ = case_outputs(spec, model, batch, dtype=torch.float64)
        model.to(torch.float32)
        noise = max(noise, max_abs_diff([compared], [compared64]))
        outputs.append(compared)
        record = collections.OrderedDict(name=case["name"])
        record["texts" if spec.kind == "embedder" else "pairs"] = (
            case["texts"] if spec.kind == "embedder" else case["pairs"])
        record["is_query"] = case["is_query"]
        record["max_length"] = case["max_length"]
        record["input_ids"], record["token_type_ids"], record["attention_mask"] = batch
        if spec.kind == "embedder":
            record["embeddings"] = rounded(compared)
        else:
            record["logits"] = rounded(compared)
            record["scores"] = rounded(scores)
        if index <= 1:  # the single input and the padded batch
            record["last_hidden_state"] = rounded(hidden)
        reference_cases.append(record)

    masked = masked_batch(batches[1])
    _, masked_hidden, _ = case_outputs(spec, model, masked)
    reference = collections.OrderedDict([("model", spec.name), ("kind", spec.kind),
                                         ("cases", reference_cases),
                                         ("masked", collections.OrderedDict([
                                             ("input_ids", masked[0]),
                                             ("token_type_ids", masked[1]),
                                             ("attention_mask", masked[2]),
                                             ("last_hidden_state", rounded(masked_hidden))]))])
    write_json(os.path.join(folder, "reference.json"), reference, compact=True)

    ok = True
    compared_name = "embeddings" if spec.kind == "embedder" else "logits"
    print(f"{spec.name} ({spec.architecture}, {DTYPE_NAMES[spec.dtype]}): "
          f"float32 vs float64 max|diff| {noise:.2e}")
    if noise > FLOAT32_NOISE_MAX:
        print(f"  FAIL: float32 noise above {FLOAT32_NOISE_MAX}", file=sys.stderr)
        ok = False
    # Outputs must be reproduced from the files alone; last_hidden_state (unnormalized, for
    # debugging) carries more float32 noise and gets 1e-4.
    for field, diff in numpy_consumer.recompute(folder).items():
        limit = 1e-4 if field in ("last_hidden_state", "masked hidden") else FLOAT32_NOISE_MAX
        print(f"  files on disk -> float64 numpy, {field:17s} max|diff| {diff:.2e}")
        if diff > limit:
            print(f"  FAIL: {field} from the written files differs by more than {limit}",
                  file=sys.stderr)
            ok = False
    cross_check = check_against_torch_transformer(model, config, batches[1])
    print(f"  encoder layers vs torch.nn.TransformerEncoderLayer max|diff| {cross_check:.2e}")
    if cross_check > FLOAT32_NOISE_MAX:
        print("  FAIL: encoder layers disagree with torch.nn.TransformerEncoderLayer",
              file=sys.stderr)
        ok = False
    for label, bugs in planted_bugs(spec):
        buggy = [case_outputs(spec, model, batch, bugs)[0] for batch in batches]
        diff = max_abs_diff(outputs, buggy)
        verdict = "ok" if diff > SENSITIVITY_MIN else "FAIL: below " + str(SENSITIVITY_MIN)
        print(f"  planted bug {label:38s} max|diff| {compared_name} {diff:.3e}  {verdict}")
        ok = ok and diff > SENSITIVITY_MIN
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "models"))
    parser.add_argument("--only", action="append", help="generate only this fixture (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # same reduction order on every run
    torch.use_deterministic_algorithms(True)

    ok = check_wordpiece_against_golden()
    wordpiece_vocab = wordpiece.build_vocab(CORPUS, WORDPIECE_VOCAB_SIZE)
    spm_tokenizer = SentencePieceXlmr(SPM_MODEL)
    os.makedirs(args.out, exist_ok=True)
    for spec in FIXTURES:
        if args.only and spec.name not in args.only:
            continue
        ok = generate(spec, args.out, wordpiece_vocab, spm_tokenizer) and ok
    if not ok:
        print("make_fixtures: FAILED (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
