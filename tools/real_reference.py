#!/usr/bin/python3
"""Independent PyTorch reference embeddings for a real sentence-transformers bi-encoder folder
(e.g. all-MiniLM-L6-v2 laid out by scripts/fetch-real-models), for the real-weights parity test
(tests/models/real_parity_test.cpp runs it in its setup; nothing it writes is committed).

    /usr/bin/python3 tools/real_reference.py --model DIR --out FILE.json

Needs Debian's python3-torch and python3-numpy (`scripts/setup --with-torch`). Exit status 77
when torch is missing (the test reports that as a skip), 1 on any other error.

It shares no code with the C++ engine: the weights are read with tools/fixturegen's safetensors
reader into the torch.nn BERT of tools/fixturegen/hf_models.py, texts are tokenized by the
independent Python WordPiece (tools/fixturegen/wordpiece.py) with the folder's vocab.txt, and the
pooling (CLS or masked mean) and L2 normalisation follow 1_Pooling/config.json and modules.json.

The texts (written into FILE.json with the vectors): Cranfield abstracts of many lengths, long
texts truncated at the model's max_seq_length and at 512 tokens, and Unicode-heavy texts (CJK,
accents, emoji, Arabic/Hebrew right-to-left, Cyrillic, Greek, combining marks, mixed scripts).
Output: {"model": DIR, "cases": [{"text", "query", "max_length", "num_tokens", "embedding"}]}.
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__

try:
    import torch  # noqa: E402
except ImportError:
    print("real_reference.py: python3-torch is not installed (scripts/setup --with-torch)",
          file=sys.stderr)
    sys.exit(77)

from fixturegen import hf_models, safetensors_writer, wordpiece  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "data", "cranfield", "corpus.jsonl")

UNICODE_TEXTS = [
    "Café crème brûlée à la française, naïve façade, Ångström, Øresund, São Paulo.",
    "Über die Strömungsgrenzschicht an einer ebenen Platte bei hoher Machzahl.",
    "Él está en el año más difícil; ¿qué pasó? ¡Olé!",
    "東京大学の研究者は、超音速流れにおける境界層の遷移を調べた。",
    "我们研究了高超声速飞行器表面的热传导问题和边界层分离现象。",
    "한국어 문장도 포함됩니다: 초음속 유동과 경계층.",
    "Emoji test 🚀✈️🌍🔥 rockets, planes 🛩️ and the 🌊 wave drag 😀👍🏽.",
    "👨‍👩‍👧‍👦 family emoji with zero-width joiners and flags 🇫🇷🇯🇵",
    "العربية: دراسة الطبقة الحدية على جناح في تيار هواء سريع.",
    "עברית: זרימה על פני לוח שטוח במהירות על-קולית.",
    "Mixed RTL: the coefficient \u05de\u05e7\u05d3\u05dd equals 0.35 at Mach 2 (\u0645\u0627\u062e).",
    "Русский текст: ударная волна и пограничный слой при сверхзвуковом обтекании.",
    "Ελληνικά: η ροή γύρω από την πτέρυγα και ο αριθμός Reynolds Re ≈ 10⁶.",
    "Combining marks: e\u0301 a\u0300 o\u0308 n\u0303 vs precomposed é à ö ñ.",
    "Math symbols ∂u/∂t + u·∇u = −∇p/ρ + ν∇²u, α ≤ β ≥ γ ± δ ∞.",
    "Full-width ＡＢＣ１２３ and half-width ｶﾀｶﾅ mixed with ASCII abc123.",
    "ไทย: การไหลแบบความเร็วเหนือเสียง और हिन्दी: सीमा परत का अध्ययन",
    "Ligatures ﬁ ﬂ and ß, Æsir, œuvre, ĳ; quotes “curly” ‘single’ «guillemets».",
    "Tabs\tand\nnewlines\r\nand\u00a0no-break\u2003em spaces\u200bzero width.",
    "日本語とEnglishが混ざったtext、句読点。「括弧」も！",
    "Vietnamese: Nghiên cứu lớp biên trên cánh máy bay ở tốc độ siêu âm.",
    "Ünïcödé ëvërÿwhërë: ÀÉÎÕÜ ãẽĩõũ ŁŚŻŹĆŃ ČŠŽ ŘĚ ǅ",
]


def load_model(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "bert":
        raise SystemExit(f"real_reference.py: {folder}: model_type {cfg.get('model_type')} "
                         "is not bert")
    config = hf_models.Config(
        vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"],
        num_hidden_layers=cfg["num_hidden_layers"],
        num_attention_heads=cfg["num_attention_heads"],
        intermediate_size=cfg["intermediate_size"],
        max_position_embeddings=cfg["max_position_embeddings"],
        type_vocab_size=cfg["type_vocab_size"], layer_norm_eps=cfg["layer_norm_eps"],
        pad_token_id=cfg.get("pad_token_id", 0))
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise SystemExit(f"real_reference.py: hidden_act {cfg['hidden_act']} not supported")
    model = hf_models.BertModel(config)
    tensors = safetensors_writer.read_safetensors(os.path.join(folder, "model.safetensors"))
    tensors = {k[len("bert."):] if k.startswith("bert.") else k: v.float()
               for k, v in tensors.items()}
    tensors.pop("embeddings.position_ids", None)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [m for m in missing if not m.startswith("pooler.")]
    if missing or unexpected:
        raise SystemExit(f"real_reference.py: tensors missing {missing} unexpected {unexpected}")
    model.eval()
    return model, cfg


def read_json(folder, name, default):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def build_texts():
    with open(CORPUS) as f:
        docs = [json.loads(line)["text"] for line in f]
    # Abstracts of many lengths: every 35th document (40 texts).
    texts = [docs[i] for i in range(0, len(docs), 35)][:40]
    # Long texts: several abstracts glued together (well over 512 word pieces).
    long_texts = [" ".join(docs[i:i + 12]) for i in (100, 400, 900)]
    return texts, long_texts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    model, cfg = load_model(args.model)
    with open(os.path.join(args.model, "vocab.txt"), encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]
    tokenizer = wordpiece.WordPieceTokenizer(vocab)
    st_config = read_json(args.model, "sentence_bert_config.json", {})
    pooling = read_json(args.model, os.path.join("1_Pooling", "config.json"), {})
    modules = read_json(args.model, "modules.json", [])
    prompts = read_json(args.model, "config_sentence_transformers.json", {}).get("prompts", {})
    normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
    cls_pooling = bool(pooling.get("pooling_mode_cls_token"))
    if not cls_pooling and not pooling.get("pooling_mode_mean_tokens"):
        raise SystemExit("real_reference.py: only CLS or mean pooling is supported")
    default_max = min(st_config.get("max_seq_length", cfg["max_position_embeddings"]),
                      cfg["max_position_embeddings"])
    query_prompt = prompts.get("query", "")

    texts, long_texts = build_texts()
    plan = [(t, False, default_max) for t in texts + UNICODE_TEXTS]
    plan += [(t, False, default_max) for t in long_texts]
    plan += [(t, False, 512) for t in long_texts]
    plan += [(t, True, default_max) for t in texts[:5] + UNICODE_TEXTS[:3]]

    cases = []
    with torch.no_grad():
        for text, query, max_length in plan:
            full = (query_prompt + text) if query else text
            ids, type_ids = tokenizer.encode(full, max_length)
            input_ids = torch.tensor([ids])
            hidden, _ = model(input_ids, torch.tensor([type_ids]), torch.ones_like(input_ids))
            if cls_pooling:
                vector = hidden[0, 0]
            else:
                vector = hidden[0].mean(dim=0)  # one unpadded sequence: the masked mean
            if normalize:
                vector = vector / vector.norm().clamp_min(1e-12)
            cases.append({"text": text, "query": query, "max_length": max_length,
                          "num_tokens": len(ids), "embedding": [float(v) for v in vector]})
    if max(c["num_tokens"] for c in cases) < 512:
        raise SystemExit("real_reference.py: no case reached 512 tokens")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"model": os.path.abspath(args.model), "cases": cases}, f, ensure_ascii=False)
    print(f"real_reference.py: {len(cases)} cases -> {args.out}")


if __name__ == "__main__":
    main()
