"""A small, independent WordPiece tokenizer (Hugging Face BertNormalizer + BertPreTokenizer +
WordPiece + TemplateProcessing semantics) and the fixture vocabulary built from Cranfield.

It is written from the published rules, not from the C++ code it checks, and is exact for the
ASCII test texts the fixtures use (the golden tokenizer cases cover Unicode edge cases).
"""
import collections
import json
import string
import unicodedata

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_INPUT_CHARS_PER_WORD = 100


def _is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def normalize(text):
    """BertNormalizer: clean_text, handle_chinese_chars, strip accents, lowercase."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    text = "".join(out)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return text.lower()


def pre_tokenize(text):
    """BertPreTokenizer: split on whitespace, every punctuation character is its own word."""
    words = []
    for chunk in text.split():
        current = ""
        for ch in chunk:
            if _is_punctuation(ch):
                if current:
                    words.append(current)
                    current = ""
                words.append(ch)
            else:
                current += ch
        if current:
            words.append(current)
    return words


class WordPieceTokenizer:
    def __init__(self, vocab_tokens):
        self.tokens = list(vocab_tokens)
        self.vocab = {t: i for i, t in enumerate(self.tokens)}
        assert len(self.vocab) == len(self.tokens), "duplicate vocab entries"
        self.pad_id = self.vocab["[PAD]"]
        self.unk_id = self.vocab["[UNK]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]

    def _word_pieces(self, word):
        if len(word) > MAX_INPUT_CHARS_PER_WORD:
            return [self.unk_id]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            pieces.append(found)
            start = end
        return pieces

    def tokenize_ids(self, text):
        """Ids of `text` without special tokens."""
        for special in SPECIAL_TOKENS:
            assert special not in text, "test texts must not contain special-token literals"
        ids = []
        for word in pre_tokenize(normalize(text)):
            ids.extend(self._word_pieces(word))
        return ids

    def encode(self, text, max_length):
        """[CLS] A [SEP], truncated to max_length (tokens cut from the end of A)."""
        ids = self.tokenize_ids(text)
        ids = ids[:max(0, max_length - 2)]
        input_ids = [self.cls_id] + ids + [self.sep_id]
        return input_ids, [0] * len(input_ids)

    def encode_pair(self, first, second, max_length):
        """[CLS] A [SEP] B [SEP] with type ids 0 / 1 and longest_first truncation."""
        a, b = truncate_pair(self.tokenize_ids(first), self.tokenize_ids(second), max_length - 3)
        input_ids = [self.cls_id] + a + [self.sep_id] + b + [self.sep_id]
        type_ids = [0] * (len(a) + 2) + [1] * (len(b) + 1)
        return input_ids, type_ids


def truncate_pair(a, b, budget):
    """longest_first as in HF tokenizers' truncate_encodings (stride 0, cut from the right)."""
    if len(a) + len(b) <= budget:
        return list(a), list(b)
    swapped = len(a) > len(b)  # A counts as the shorter side on a tie
    n1, n2 = (len(b), len(a)) if swapped else (len(a), len(b))
    keep_long = n1 if n1 > budget else max(n1, budget - n1)
    keep_short = n1
    if keep_short + keep_long > budget:
        keep_short = budget // 2
        keep_long = budget - keep_short
    if swapped:
        return list(a[:keep_long]), list(b[:keep_short])
    return list(a[:keep_short]), list(b[:keep_long])


def build_vocab(corpus_path, size):
    """Specials, single ASCII letters/digits/punctuation and their ## forms, then the most
    frequent Cranfield words, then frequent ## suffixes of the words left out. Deterministic
    (ties broken by the string)."""
    singles = list(string.ascii_lowercase) + list(string.digits) + list(string.punctuation)
    tokens = SPECIAL_TOKENS + singles + ["##" + c for c in singles]
    word_counts = collections.Counter()
    with open(corpus_path, encoding="utf-8") as corpus:
        for line in corpus:
            doc = json.loads(line)
            for field in ("title", "text"):
                word_counts.update(pre_tokenize(normalize(doc.get(field, ""))))
    remaining = size - len(tokens)
    word_budget = remaining * 4 // 5
    ranked = sorted(word_counts.items(), key=lambda item: (-item[1], item[0]))
    taken = set(tokens)
    words = []
    for word, _ in ranked:
        if len(words) == word_budget:
            break
        if len(word) > 1 and word not in taken:
            words.append(word)
            taken.add(word)
    left_out = [(w, c) for w, c in ranked if w not in taken and len(w) > 3]
    suffix_counts = collections.Counter()
    for word, count in left_out:
        for length in range(2, 6):
            if len(word) - length >= 2:
                suffix_counts["##" + word[-length:]] += count
    suffixes = []
    for suffix, _ in sorted(suffix_counts.items(), key=lambda item: (-item[1], item[0])):
        if len(tokens) + len(words) + len(suffixes) == size:
            break
        if suffix not in taken:
            suffixes.append(suffix)
            taken.add(suffix)
    return tokens + words + suffixes


def tokenizer_json(vocab_tokens):
    """tokenizer.json in the shape of shared/data/tokenizers/bert-base-uncased/tokenizer.json."""
    vocab = collections.OrderedDict((t, i) for i, t in enumerate(vocab_tokens))
    added = [collections.OrderedDict([("id", vocab[t]), ("content", t), ("single_word", False),
                                      ("lstrip", False), ("rstrip", False), ("normalized", False),
                                      ("special", True)]) for t in SPECIAL_TOKENS]

    def special(token, type_id):
        return {"SpecialToken": collections.OrderedDict([("id", token), ("type_id", type_id)])}

    def sequence(name, type_id):
        return {"Sequence": collections.OrderedDict([("id", name), ("type_id", type_id)])}

    def special_entry(token):
        return collections.OrderedDict([("id", token), ("ids", [vocab[token]]),
                                        ("tokens", [token])])

    return collections.OrderedDict([
        ("version", "1.0"),
        ("truncation", None),
        ("padding", None),
        ("added_tokens", added),
        ("normalizer", collections.OrderedDict([
            ("type", "BertNormalizer"), ("clean_text", True), ("handle_chinese_chars", True),
            ("strip_accents", None), ("lowercase", True)])),
        ("pre_tokenizer", collections.OrderedDict([("type", "BertPreTokenizer")])),
        ("post_processor", collections.OrderedDict([
            ("type", "TemplateProcessing"),
            ("single", [special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0)]),
            ("pair", [special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0),
                      sequence("B", 1), special("[SEP]", 1)]),
            ("special_tokens", collections.OrderedDict([
                ("[CLS]", special_entry("[CLS]")), ("[SEP]", special_entry("[SEP]"))])),
        ])),
        ("decoder", collections.OrderedDict([("type", "WordPiece"), ("prefix", "##"),
                                             ("cleanup", True)])),
        ("model", collections.OrderedDict([
            ("type", "WordPiece"), ("unk_token", "[UNK]"), ("continuing_subword_prefix", "##"),
            ("max_input_chars_per_word", MAX_INPUT_CHARS_PER_WORD), ("vocab", vocab)])),
    ])


def tokenizer_config(model_max_length):
    return collections.OrderedDict([
        ("do_lower_case", True),
        ("model_max_length", model_max_length),
        ("tokenizer_class", "BertTokenizer"),
        ("tokenize_chinese_chars", True),
        ("strip_accents", None),
        ("clean_up_tokenization_spaces", True),
        ("unk_token", "[UNK]"),
        ("sep_token", "[SEP]"),
        ("pad_token", "[PAD]"),
        ("cls_token", "[CLS]"),
        ("mask_token", "[MASK]"),
    ])


def special_tokens_map():
    return collections.OrderedDict([("unk_token", "[UNK]"), ("sep_token", "[SEP]"),
                                    ("pad_token", "[PAD]"), ("cls_token", "[CLS]"),
                                    ("mask_token", "[MASK]")])
