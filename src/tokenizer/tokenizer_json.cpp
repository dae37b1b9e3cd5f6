// tokenizer.json -> PipelineTokenizer. Every field is type-checked so that a malformed file gets
// a message naming the field, and no input can throw past this file.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "tokenizer/loaders.h"
#include "tokenizer/unicode_chars.h"

namespace sieve::tokenizer {
namespace {

using nlohmann::json;

constexpr int kMaxNesting = 64;

const char* TypeName(const json& value) {
  return value.type_name();
}

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  Status Invalid(const std::string& what) const {
    return Status::InvalidInput(source_ + ": " + what);
  }
  Status Unsupported(const std::string& what) const {
    return Status::Unsupported(source_ + ": " + what);
  }

  // Missing or null gives `fallback`.
  Result<bool> Bool(const json& object, const char* key, const std::string& where,
                    bool fallback) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) {
      return Invalid(where + "." + key + " must be a boolean, not " + TypeName(*it));
    }
    return it->get<bool>();
  }

  Result<std::string> String(const json& object, const char* key, const std::string& where,
                             const std::string* fallback) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
      if (fallback != nullptr) return *fallback;
      return Invalid(where + "." + key + " is missing");
    }
    if (!it->is_string()) {
      return Invalid(where + "." + key + " must be a string, not " + TypeName(*it));
    }
    return it->get<std::string>();
  }

  // A token id: an integer in [0, 2^31).
  Result<std::int32_t> Id(const json& value, const std::string& where) const {
    if (value.is_number_unsigned()) {
      const auto v = value.get<std::uint64_t>();
      if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
        return static_cast<std::int32_t>(v);
      }
      return Invalid(where + " is out of range (" + std::to_string(v) + ")");
    }
    if (value.is_number_integer()) {
      return Invalid(where + " must not be negative (" + std::to_string(value.get<std::int64_t>()) +
                     ")");
    }
    return Invalid(where + " must be an integer, not " + TypeName(value));
  }

  Result<std::int64_t> PositiveInt(const json& object, const char* key, const std::string& where,
                                   std::int64_t fallback) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 ||
        it->get<std::uint64_t>() > (1ULL << 31)) {
      return Invalid(where + "." + key + " must be a positive integer");
    }
    return static_cast<std::int64_t>(it->get<std::uint64_t>());
  }

 private:
  std::string source_;
};

// Deeper nesting than any tokenizer.json has is refused before parsing.
bool NestingWithin(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

std::vector<char32_t> Chars(const std::string& text) {
  std::vector<char32_t> out;
  DecodeUtf8(text, out);
  return out;
}

Status ParseNormalizer(const Reader& r, const json& node, const std::string& where,
                       Normalizer& normalizer, int depth) {
  if (node.is_null()) return Status::Ok();
  if (!node.is_object()) return r.Invalid(where + " must be an object or null");
  SIEVE_ASSIGN_OR_RETURN(std::string type, r.String(node, "type", where, nullptr));
  using Kind = Normalizer::Kind;
  if (type == "BertNormalizer") {
    SIEVE_ASSIGN_OR_RETURN(bool clean_text, r.Bool(node, "clean_text", where, true));
    SIEVE_ASSIGN_OR_RETURN(bool chinese, r.Bool(node, "handle_chinese_chars", where, true));
    SIEVE_ASSIGN_OR_RETURN(bool lowercase, r.Bool(node, "lowercase", where, true));
    // strip_accents null (or absent) follows lowercase.
    SIEVE_ASSIGN_OR_RETURN(bool strip_accents, r.Bool(node, "strip_accents", where, lowercase));
    normalizer.AddBert(clean_text, chinese, strip_accents, lowercase);
  } else if (type == "Lowercase") {
    normalizer.AddStep({.kind = Kind::kLowercase});
  } else if (type == "NFD") {
    normalizer.AddStep({.kind = Kind::kNfd});
  } else if (type == "NFKD") {
    normalizer.AddStep({.kind = Kind::kNfkd});
  } else if (type == "NFC") {
    normalizer.AddStep({.kind = Kind::kNfc});
  } else if (type == "NFKC") {
    normalizer.AddStep({.kind = Kind::kNfkc});
  } else if (type == "StripAccents") {
    normalizer.AddStep({.kind = Kind::kStripAccents});
  } else if (type == "Strip") {
    SIEVE_ASSIGN_OR_RETURN(bool left, r.Bool(node, "strip_left", where, true));
    SIEVE_ASSIGN_OR_RETURN(bool right, r.Bool(node, "strip_right", where, true));
    normalizer.AddStep({.kind = Kind::kStrip, .left = left, .right = right});
  } else if (type == "Replace") {
    auto pattern = node.find("pattern");
    if (pattern == node.end() || !pattern->is_object()) {
      return r.Invalid(where + ".pattern must be an object");
    }
    if (pattern->contains("Regex")) {
      return r.Unsupported(where + ": Replace with a Regex pattern is not supported");
    }
    SIEVE_ASSIGN_OR_RETURN(std::string literal,
                           r.String(*pattern, "String", where + ".pattern", nullptr));
    SIEVE_ASSIGN_OR_RETURN(std::string content, r.String(node, "content", where, nullptr));
    normalizer.AddStep(
        {.kind = Kind::kReplace, .pattern = Chars(literal), .content = Chars(content)});
  } else if (type == "Sequence") {
    auto list = node.find("normalizers");
    if (list == node.end() || !list->is_array()) {
      return r.Invalid(where + ".normalizers must be an array");
    }
    if (depth > 8) return r.Invalid(where + ": Sequence nested too deeply");
    for (std::size_t i = 0; i < list->size(); ++i) {
      SIEVE_RETURN_IF_ERROR(ParseNormalizer(
          r, (*list)[i], where + ".normalizers[" + std::to_string(i) + "]", normalizer, depth + 1));
    }
  } else {
    return r.Unsupported(where + ": normalizer type '" + type +
                         "' is not supported (supported: BertNormalizer, Lowercase, NFD, NFKD, "
                         "NFC, NFKC, StripAccents, Strip, Replace, Sequence)");
  }
  return Status::Ok();
}

Status ParsePreTokenizer(const Reader& r, const json& node, const std::string& where,
                         PreTokenizer& pre_tokenizer, int depth) {
  if (!node.is_object()) return r.Invalid(where + " must be an object or null");
  SIEVE_ASSIGN_OR_RETURN(std::string type, r.String(node, "type", where, nullptr));
  if (type == "BertPreTokenizer") {
    pre_tokenizer.AddStep(PreTokenizer::Kind::kBert);
  } else if (type == "WhitespaceSplit") {
    pre_tokenizer.AddStep(PreTokenizer::Kind::kWhitespaceSplit);
  } else if (type == "Whitespace") {
    pre_tokenizer.AddStep(PreTokenizer::Kind::kWhitespace);
  } else if (type == "Sequence") {
    auto list = node.find("pretokenizers");
    if (list == node.end() || !list->is_array()) {
      return r.Invalid(where + ".pretokenizers must be an array");
    }
    if (depth > 8) return r.Invalid(where + ": Sequence nested too deeply");
    for (std::size_t i = 0; i < list->size(); ++i) {
      SIEVE_RETURN_IF_ERROR(ParsePreTokenizer(r, (*list)[i],
                                              where + ".pretokenizers[" + std::to_string(i) + "]",
                                              pre_tokenizer, depth + 1));
    }
  } else {
    return r.Unsupported(where + ": pre_tokenizer type '" + type +
                         "' is not supported (supported: BertPreTokenizer, WhitespaceSplit, "
                         "Whitespace, Sequence)");
  }
  return Status::Ok();
}

Result<std::vector<TemplatePiece>> ParseTemplate(
    const Reader& r, const json& node, const std::string& where,
    const std::unordered_map<std::string, std::vector<std::int32_t>>& specials) {
  if (!node.is_array()) return r.Invalid(where + " must be an array");
  std::vector<TemplatePiece> pieces;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string item_where = where + "[" + std::to_string(i) + "]";
    const json& item = node[i];
    if (!item.is_object() || item.size() != 1) {
      return r.Invalid(item_where + " must be {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
    const std::string kind = item.begin().key();
    const json& body = item.begin().value();
    if (!body.is_object()) return r.Invalid(item_where + "." + kind + " must be an object");
    TemplatePiece piece;
    auto type_id = body.find("type_id");
    if (type_id != body.end()) {
      SIEVE_ASSIGN_OR_RETURN(piece.type_id, r.Id(*type_id, item_where + ".type_id"));
    }
    SIEVE_ASSIGN_OR_RETURN(std::string id, r.String(body, "id", item_where + "." + kind, nullptr));
    if (kind == "Sequence") {
      if (id != "A" && id != "B") {
        return r.Invalid(item_where + ".Sequence.id must be \"A\" or \"B\", not \"" + id + "\"");
      }
      piece.sequence = id == "A" ? 0 : 1;
    } else if (kind == "SpecialToken") {
      auto special = specials.find(id);
      if (special == specials.end()) {
        return r.Invalid(item_where + ": special token '" + id +
                         "' is not in post_processor.special_tokens");
      }
      piece.special_ids = special->second;
    } else {
      return r.Invalid(item_where + ": unknown template piece '" + kind + "'");
    }
    pieces.push_back(std::move(piece));
  }
  return pieces;
}

// A [token, id] pair of BertProcessing / RobertaProcessing.
Result<std::int32_t> ProcessingTokenId(const Reader& r, const json& node, const char* key,
                                       const std::string& where) {
  auto it = node.find(key);
  if (it == node.end() || !it->is_array() || it->size() != 2 || !(*it)[0].is_string()) {
    return r.Invalid(where + "." + key + " must be [token, id]");
  }
  return r.Id((*it)[1], where + "." + key + "[1]");
}

Status ParsePostProcessor(const Reader& r, const json& node, const std::string& where,
                          PostProcessor& post, int depth) {
  if (node.is_null()) return Status::Ok();
  if (!node.is_object()) return r.Invalid(where + " must be an object or null");
  SIEVE_ASSIGN_OR_RETURN(std::string type, r.String(node, "type", where, nullptr));
  if (type == "TemplateProcessing") {
    std::unordered_map<std::string, std::vector<std::int32_t>> specials;
    auto special_tokens = node.find("special_tokens");
    if (special_tokens != node.end() && !special_tokens->is_null()) {
      if (!special_tokens->is_object()) {
        return r.Invalid(where + ".special_tokens must be an object");
      }
      for (const auto& [name, entry] : special_tokens->items()) {
        const std::string entry_where = where + ".special_tokens." + name;
        auto ids = entry.is_object() ? entry.find("ids") : entry.end();
        if (!entry.is_object() || ids == entry.end() || !ids->is_array() || ids->empty()) {
          return r.Invalid(entry_where + " must have a non-empty \"ids\" array");
        }
        std::vector<std::int32_t> values;
        for (const json& id : *ids) {
          SIEVE_ASSIGN_OR_RETURN(std::int32_t value, r.Id(id, entry_where + ".ids[]"));
          values.push_back(value);
        }
        specials.emplace(name, std::move(values));
      }
    }
    auto single = node.find("single");
    auto pair = node.find("pair");
    if (single == node.end()) return r.Invalid(where + ".single is missing");
    if (pair == node.end()) return r.Invalid(where + ".pair is missing");
    SIEVE_ASSIGN_OR_RETURN(post.single, ParseTemplate(r, *single, where + ".single", specials));
    SIEVE_ASSIGN_OR_RETURN(post.pair, ParseTemplate(r, *pair, where + ".pair", specials));
    // An empty template means "no pieces"; keep at least the sequences so nothing is lost.
    if (post.single.empty()) post.single.push_back({.sequence = 0});
    if (post.pair.empty()) {
      post.pair = {{.sequence = 0}, {.sequence = 1, .type_id = 1}};
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    SIEVE_ASSIGN_OR_RETURN(std::int32_t cls, ProcessingTokenId(r, node, "cls", where));
    SIEVE_ASSIGN_OR_RETURN(std::int32_t sep, ProcessingTokenId(r, node, "sep", where));
    if (type == "BertProcessing") {
      post.single = {{.special_ids = {cls}}, {.sequence = 0}, {.special_ids = {sep}}};
      post.pair = {{.special_ids = {cls}},
                   {.sequence = 0},
                   {.special_ids = {sep}},
                   {.sequence = 1, .type_id = 1},
                   {.special_ids = {sep}, .type_id = 1}};
    } else {  // RoBERTa: every type id is 0
      post.single = {{.special_ids = {cls}}, {.sequence = 0}, {.special_ids = {sep}}};
      post.pair = {{.special_ids = {cls}},
                   {.sequence = 0},
                   {.special_ids = {sep, sep}},
                   {.sequence = 1},
                   {.special_ids = {sep}}};
    }
  } else if (type == "ByteLevel") {
    // Only adjusts offsets, which Sieve does not report.
  } else if (type == "Sequence") {
    auto list = node.find("processors");
    if (list == node.end() || !list->is_array()) {
      return r.Invalid(where + ".processors must be an array");
    }
    if (depth > 8) return r.Invalid(where + ": Sequence nested too deeply");
    for (std::size_t i = 0; i < list->size(); ++i) {
      SIEVE_RETURN_IF_ERROR(ParsePostProcessor(
          r, (*list)[i], where + ".processors[" + std::to_string(i) + "]", post, depth + 1));
    }
  } else {
    return r.Unsupported(where + ": post_processor type '" + type +
                         "' is not supported (supported: TemplateProcessing, BertProcessing, "
                         "RobertaProcessing, ByteLevel, Sequence)");
  }
  return Status::Ok();
}

Result<std::vector<AddedToken>> ParseAddedTokens(const Reader& r, const json& doc) {
  std::vector<AddedToken> tokens;
  auto list = doc.find("added_tokens");
  if (list == doc.end() || list->is_null()) return tokens;
  if (!list->is_array()) return r.Invalid("added_tokens must be an array");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string where = "added_tokens[" + std::to_string(i) + "]";
    const json& item = (*list)[i];
    if (!item.is_object()) return r.Invalid(where + " must be an object");
    AddedToken token;
    auto id = item.find("id");
    if (id == item.end()) return r.Invalid(where + ".id is missing");
    SIEVE_ASSIGN_OR_RETURN(token.id, r.Id(*id, where + ".id"));
    SIEVE_ASSIGN_OR_RETURN(token.content, r.String(item, "content", where, nullptr));
    SIEVE_ASSIGN_OR_RETURN(token.special, r.Bool(item, "special", where, false));
    SIEVE_ASSIGN_OR_RETURN(token.single_word, r.Bool(item, "single_word", where, false));
    SIEVE_ASSIGN_OR_RETURN(token.lstrip, r.Bool(item, "lstrip", where, false));
    SIEVE_ASSIGN_OR_RETURN(token.rstrip, r.Bool(item, "rstrip", where, false));
    SIEVE_ASSIGN_OR_RETURN(token.normalized, r.Bool(item, "normalized", where, !token.special));
    if (!token.content.empty()) tokens.push_back(std::move(token));
  }
  return tokens;
}

// The entries of model.vocab, taken out of the document while it is parsed (a std::map of 30k
// nodes would cost more than the rest of the load); values are kept as parsed.
using VocabEntries = std::vector<std::pair<std::string, json>>;

Result<std::unique_ptr<WordModel>> ParseModel(const Reader& r, const json& doc,
                                              const VocabEntries& captured) {
  auto model = doc.find("model");
  if (model == doc.end() || model->is_null()) return r.Invalid("model is missing");
  if (!model->is_object()) {
    return r.Invalid(std::string("model must be an object, not ") + TypeName(*model));
  }
  SIEVE_ASSIGN_OR_RETURN(std::string type, r.String(*model, "type", "model", nullptr));
  if (type != "WordPiece") {
    return r.Unsupported("model type '" + type +
                         "' is not supported (supported: WordPiece; SentencePiece models such as "
                         "XLM-RoBERTa load from sentencepiece.bpe.model in the model folder)");
  }
  auto vocab_node = model->find("vocab");
  if (vocab_node == model->end() || vocab_node->is_null()) {
    return r.Invalid("model.vocab is missing");
  }
  if (!vocab_node->is_object()) {
    return r.Invalid(std::string("model.vocab must be an object of token -> id, not ") +
                     TypeName(*vocab_node));
  }
  if (vocab_node->empty() && captured.empty()) return r.Invalid("model.vocab is empty");
  TokenVocab vocab;
  vocab.Reserve(vocab_node->size() + captured.size());
  auto insert = [&](const std::string& token, const json& id) -> Status {
    // The common case without building the error's text (30k entries).
    if (id.is_number_unsigned() &&
        id.get<std::uint64_t>() <=
            static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
      vocab.Insert(token, static_cast<std::int32_t>(id.get<std::uint64_t>()));
      return Status::Ok();
    }
    SIEVE_ASSIGN_OR_RETURN(std::int32_t value, r.Id(id, "model.vocab[\"" + token + "\"]"));
    vocab.Insert(token, value);
    return Status::Ok();
  };
  // Captured entries in document order (a repeated token keeps its last id, as the DOM would),
  // then any left in the document (none when the parse captured them).
  for (const auto& [token, id] : captured) SIEVE_RETURN_IF_ERROR(insert(token, id));
  for (const auto& [token, id] : vocab_node->items()) SIEVE_RETURN_IF_ERROR(insert(token, id));
  const std::string default_unk = "[UNK]";
  const std::string default_prefix = "##";
  SIEVE_ASSIGN_OR_RETURN(std::string unk, r.String(*model, "unk_token", "model", &default_unk));
  SIEVE_ASSIGN_OR_RETURN(std::string prefix,
                         r.String(*model, "continuing_subword_prefix", "model", &default_prefix));
  SIEVE_ASSIGN_OR_RETURN(std::int64_t max_chars,
                         r.PositiveInt(*model, "max_input_chars_per_word", "model", 100));
  auto unk_id = vocab.Find(unk);
  if (!unk_id) return r.Invalid("model.unk_token '" + unk + "' is not in model.vocab");
  return std::unique_ptr<WordModel>(std::make_unique<WordPieceModel>(
      std::move(vocab), *unk_id, std::move(prefix), static_cast<std::size_t>(max_chars)));
}

Result<std::unique_ptr<PipelineTokenizer>> Build(const Reader& r, const json& doc,
                                                 const VocabEntries& captured) {
  if (!doc.is_object()) {
    return r.Invalid(std::string("top level must be a JSON object, not ") + TypeName(doc));
  }
  PipelineParts parts;
  SIEVE_ASSIGN_OR_RETURN(parts.model, ParseModel(r, doc, captured));
  SIEVE_ASSIGN_OR_RETURN(parts.added_tokens, ParseAddedTokens(r, doc));
  if (auto it = doc.find("normalizer"); it != doc.end()) {
    SIEVE_RETURN_IF_ERROR(ParseNormalizer(r, *it, "normalizer", parts.normalizer, 0));
  }
  if (auto it = doc.find("pre_tokenizer"); it != doc.end() && !it->is_null()) {
    PreTokenizer pre_tokenizer;
    SIEVE_RETURN_IF_ERROR(ParsePreTokenizer(r, *it, "pre_tokenizer", pre_tokenizer, 0));
    parts.pre_tokenizer = std::move(pre_tokenizer);
  }
  if (auto it = doc.find("post_processor"); it != doc.end()) {
    SIEVE_RETURN_IF_ERROR(ParsePostProcessor(r, *it, "post_processor", parts.post_processor, 0));
  }
  if (auto padding = doc.find("padding"); padding != doc.end() && padding->is_object()) {
    if (auto pad_id = padding->find("pad_id"); pad_id != padding->end()) {
      SIEVE_ASSIGN_OR_RETURN(std::int32_t id, r.Id(*pad_id, "padding.pad_id"));
      parts.pad_id = id;
    }
  }
  return std::make_unique<PipelineTokenizer>(std::move(parts));
}

}  // namespace

Result<std::unique_ptr<PipelineTokenizer>> ParseTokenizerJsonText(std::string_view json_text,
                                                                  const std::string& source) {
  const Reader reader(source);
  if (!NestingWithin(json_text, kMaxNesting)) {
    return reader.Invalid("JSON nested deeper than " + std::to_string(kMaxNesting) + " levels");
  }
  try {
    // Depths as nlohmann's callback gives them: top-level keys 1, model's keys 2, the entries
    // of model.vocab 3. Its primitive values are captured and dropped from the document.
    VocabEntries captured;
    std::string keys[4];
    bool in_vocab = false;
    auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
      switch (event) {
        case json::parse_event_t::key:
          if (depth >= 1 && depth <= 3) keys[depth] = parsed.get<std::string>();
          // Dropping the key keeps the entry out of the document's map (its value is then
          // handed to the callback below and not stored).
          return !(in_vocab && depth == 3);
        case json::parse_event_t::object_start:
        case json::parse_event_t::array_start:
          if (in_vocab && depth == 3) {
            // Not an id: kept as an empty container of its kind, so ParseModel names the type.
            captured.emplace_back(std::move(keys[3]), event == json::parse_event_t::object_start
                                                          ? json::object()
                                                          : json::array());
            return false;
          }
          if (event == json::parse_event_t::object_start && depth == 2 && keys[1] == "model" &&
              keys[2] == "vocab") {
            in_vocab = true;
            captured.clear();  // a repeated "vocab" key: the last one counts, as in the DOM
          }
          return true;
        case json::parse_event_t::object_end:
          if (depth == 2) in_vocab = false;
          return true;
        case json::parse_event_t::value:
          if (in_vocab && depth == 3) {
            captured.emplace_back(std::move(keys[3]), std::move(parsed));
            return false;
          }
          return true;
        default:
          return true;
      }
    };
    const json doc = json::parse(json_text.begin(), json_text.end(), callback);
    return Build(reader, doc, captured);
  } catch (const json::parse_error& e) {
    return reader.Invalid(std::string("not valid JSON: ") + e.what());
  } catch (const json::exception& e) {
    // Build checks every type first; this is a safety net for anything missed.
    return reader.Invalid(std::string("unexpected JSON content: ") + e.what());
  }
}

Result<std::unique_ptr<Tokenizer>> ParseTokenizerJson(std::string_view json_text) {
  SIEVE_ASSIGN_OR_RETURN(auto tokenizer, ParseTokenizerJsonText(json_text, "tokenizer.json"));
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace sieve::tokenizer
