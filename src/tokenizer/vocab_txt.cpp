// vocab.txt + tokenizer_config.json -> the pipeline BertTokenizerFast would build from them
// (transformers' convert_slow_tokenizer BertConverter).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <utility>

#include "core/file.h"
#include "tokenizer/loaders.h"

namespace sieve::tokenizer {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxConfigBytes = 16ULL << 20;
constexpr std::uint64_t kMaxVocabBytes = 256ULL << 20;

// A special token in tokenizer_config.json: "[UNK]" or {"content": "[UNK]", ...}.
std::string SpecialTokenText(const json& config, const char* key, const char* fallback) {
  auto it = config.find(key);
  if (it == config.end()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  return "";  // null: the tokenizer has no such token
}

bool ConfigBool(const json& config, const char* key, bool fallback) {
  auto it = config.find(key);
  return it != config.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

Result<json> ReadConfig(const std::filesystem::path& path) {
  SIEVE_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxConfigBytes));
  json config = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return Status::InvalidInput(path.string() + ": not valid JSON");
  if (!config.is_object()) {
    return Status::InvalidInput(path.string() + ": top level must be a JSON object");
  }
  return config;
}

}  // namespace

std::size_t ModelMaxLengthFromConfig(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "tokenizer_config.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return 0;
  auto config = ReadConfig(path);
  if (!config.ok()) return 0;
  auto it = config->find("model_max_length");
  // transformers writes a huge number (1e30) when the length is unknown.
  if (it == config->end() || !it->is_number_unsigned()) return 0;
  const auto value = it->get<std::uint64_t>();
  return value <= (1ULL << 24) ? static_cast<std::size_t>(value) : 0;
}

Result<std::unique_ptr<PipelineTokenizer>> LoadVocabTxtTokenizer(
    const std::filesystem::path& model_dir) {
  const auto vocab_path = model_dir / "vocab.txt";
  SIEVE_ASSIGN_OR_RETURN(std::string vocab_text, ReadFile(vocab_path, kMaxVocabBytes));
  json config = json::object();
  const auto config_path = model_dir / "tokenizer_config.json";
  std::error_code ec;
  if (std::filesystem::exists(config_path, ec)) {
    SIEVE_ASSIGN_OR_RETURN(config, ReadConfig(config_path));
  }

  // One token per line; its id is its line number. A trailing \r (CRLF file) is not part of it.
  TokenVocab vocab;
  std::int32_t next_id = 0;
  std::size_t line_start = 0;
  while (line_start < vocab_text.size()) {
    std::size_t line_end = vocab_text.find('\n', line_start);
    if (line_end == std::string::npos) line_end = vocab_text.size();
    std::string_view line(vocab_text.data() + line_start, line_end - line_start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    vocab.Insert(std::string(line), next_id++);
    line_start = line_end + 1;
  }
  if (vocab.size() == 0) return Status::InvalidInput(vocab_path.string() + ": empty vocabulary");

  const bool lowercase = ConfigBool(config, "do_lower_case", true);
  const bool chinese = ConfigBool(config, "tokenize_chinese_chars", true);
  const bool strip_accents = ConfigBool(config, "strip_accents", lowercase);  // null: follow
  const std::string unk = SpecialTokenText(config, "unk_token", "[UNK]");
  const std::string sep = SpecialTokenText(config, "sep_token", "[SEP]");
  const std::string pad = SpecialTokenText(config, "pad_token", "[PAD]");
  const std::string cls = SpecialTokenText(config, "cls_token", "[CLS]");
  const std::string mask = SpecialTokenText(config, "mask_token", "[MASK]");

  PipelineParts parts;
  // Special tokens missing from vocab.txt get new ids after it, as transformers adds them.
  std::int32_t new_id = vocab.max_id() + 1;
  auto add_special = [&](const std::string& content) -> std::int32_t {
    if (content.empty()) return -1;
    for (const AddedToken& token : parts.added_tokens) {
      if (token.content == content) return token.id;
    }
    const auto id = vocab.Find(content);
    AddedToken token{.content = content, .id = id ? *id : new_id++};
    parts.added_tokens.push_back(token);
    return token.id;
  };
  const std::int32_t unk_id = add_special(unk);
  const std::int32_t sep_id = add_special(sep);
  const std::int32_t pad_id = add_special(pad);
  const std::int32_t cls_id = add_special(cls);
  add_special(mask);
  if (auto extra = config.find("additional_special_tokens");
      extra != config.end() && extra->is_array()) {
    for (const json& item : *extra) {
      if (item.is_string()) add_special(item.get<std::string>());
    }
  }
  const auto unk_vocab_id = vocab.Find(unk);
  if (unk_id < 0 || !unk_vocab_id) {
    return Status::InvalidInput(vocab_path.string() + ": unk_token '" + unk +
                                "' is not in the vocabulary");
  }
  if (cls_id < 0 || sep_id < 0) {
    return Status::InvalidInput(config_path.string() + ": cls_token and sep_token are required");
  }
  if (pad_id >= 0) parts.pad_id = pad_id;

  parts.normalizer.AddBert(/*clean_text=*/true, chinese, strip_accents, lowercase);
  parts.pre_tokenizer.emplace();
  parts.pre_tokenizer->AddStep(PreTokenizer::Kind::kBert);
  parts.post_processor.single = {
      {.special_ids = {cls_id}}, {.sequence = 0}, {.special_ids = {sep_id}}};
  parts.post_processor.pair = {{.special_ids = {cls_id}},
                               {.sequence = 0},
                               {.special_ids = {sep_id}},
                               {.sequence = 1, .type_id = 1},
                               {.special_ids = {sep_id}, .type_id = 1}};
  parts.model = std::make_unique<WordPieceModel>(std::move(vocab), *unk_vocab_id, "##", 100);
  parts.model_max_length = ModelMaxLengthFromConfig(model_dir);
  return std::make_unique<PipelineTokenizer>(std::move(parts));
}

}  // namespace sieve::tokenizer
