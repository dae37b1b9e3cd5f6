#include "models/model_config.h"

#include <nlohmann/json.hpp>

#include "core/file.h"

namespace sieve::models {
namespace {

using Json = nlohmann::json;
constexpr std::uint64_t kMaxConfigBytes = 16 << 20;

Result<Json> ParseJsonFile(const std::filesystem::path& path) {
  SIEVE_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxConfigBytes));
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Status::InvalidInput(path.string() + ": not valid JSON");
  if (!json.is_object()) return Status::InvalidInput(path.string() + ": not a JSON object");
  return json;
}

// A required positive integer field.
Result<std::size_t> PositiveField(const Json& json, const char* key, const std::string& source) {
  auto it = json.find(key);
  if (it == json.end()) return Status::InvalidInput(source + ": missing '" + key + "'");
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 ||
      it->get<std::uint64_t>() > (1ull << 31)) {
    return Status::InvalidInput(source + ": '" + key + "' must be a positive integer, got " +
                                it->dump());
  }
  return static_cast<std::size_t>(it->get<std::uint64_t>());
}

}  // namespace

namespace {
Result<TransformerConfig> ParseTransformerConfigImpl(std::string_view json_text,
                                                     const std::string& source) {
  Json json = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Status::InvalidInput(source + ": not valid JSON");
  if (!json.is_object()) return Status::InvalidInput(source + ": not a JSON object");

  TransformerConfig config;
  auto archs = json.find("architectures");
  if (archs != json.end() && archs->is_array() && !archs->empty() && (*archs)[0].is_string()) {
    config.architecture_name = (*archs)[0].get<std::string>();
  } else {
    // Some exported configs omit "architectures"; the model type still says what the encoder is.
    const std::string model_type = json.value("model_type", "");
    if (model_type == "bert") {
      config.architecture_name = "BertModel";
    } else if (model_type == "xlm-roberta") {
      config.architecture_name = "XLMRobertaModel";
    } else {
      return Status::InvalidInput(source + ": no 'architectures' list and unknown model_type '" +
                                  model_type + "'");
    }
  }
  const std::string& arch = config.architecture_name;
  if (arch == "BertModel") {
    config.architecture = Architecture::kBertModel;
  } else if (arch == "BertForSequenceClassification") {
    config.architecture = Architecture::kBertForSequenceClassification;
  } else if (arch == "XLMRobertaModel") {
    config.architecture = Architecture::kXLMRobertaModel;
  } else if (arch == "XLMRobertaForSequenceClassification") {
    config.architecture = Architecture::kXLMRobertaForSequenceClassification;
  } else {
    return Status::Unsupported(source + ": unsupported architecture '" + arch +
                               "' (supported: BertModel, BertForSequenceClassification, "
                               "XLMRobertaModel, XLMRobertaForSequenceClassification)");
  }

  SIEVE_ASSIGN_OR_RETURN(config.vocab_size, PositiveField(json, "vocab_size", source));
  SIEVE_ASSIGN_OR_RETURN(config.hidden_size, PositiveField(json, "hidden_size", source));
  SIEVE_ASSIGN_OR_RETURN(config.num_layers, PositiveField(json, "num_hidden_layers", source));
  SIEVE_ASSIGN_OR_RETURN(config.num_heads, PositiveField(json, "num_attention_heads", source));
  SIEVE_ASSIGN_OR_RETURN(config.intermediate_size,
                         PositiveField(json, "intermediate_size", source));
  SIEVE_ASSIGN_OR_RETURN(config.max_position_embeddings,
                         PositiveField(json, "max_position_embeddings", source));
  config.type_vocab_size = 2;
  if (json.contains("type_vocab_size")) {
    SIEVE_ASSIGN_OR_RETURN(config.type_vocab_size, PositiveField(json, "type_vocab_size", source));
  }
  if (config.hidden_size % config.num_heads != 0) {
    return Status::InvalidInput(source + ": hidden_size " + std::to_string(config.hidden_size) +
                                " is not a multiple of num_attention_heads " +
                                std::to_string(config.num_heads));
  }

  auto eps = json.find("layer_norm_eps");
  if (eps != json.end()) {
    if (!eps->is_number() || eps->get<double>() <= 0 || eps->get<double>() > 1) {
      return Status::InvalidInput(source + ": 'layer_norm_eps' must be a small positive number");
    }
    config.layer_norm_eps = static_cast<float>(eps->get<double>());
  }
  const std::string position_type = json.value("position_embedding_type", "absolute");
  if (position_type != "absolute") {
    return Status::Unsupported(source + ": unsupported position_embedding_type '" + position_type +
                               "' (only absolute)");
  }
  const std::string act = json.value("hidden_act", "gelu");
  if (act == "gelu") {
    config.hidden_act = nn::Activation::kGeluErf;
  } else if (act == "gelu_new" || act == "gelu_pytorch_tanh") {
    config.hidden_act = nn::Activation::kGeluTanh;
  } else if (act == "relu") {
    config.hidden_act = nn::Activation::kRelu;
  } else {
    return Status::Unsupported(source + ": unsupported hidden_act '" + act + "'");
  }
  auto pad = json.find("pad_token_id");
  if (pad != json.end() && !pad->is_null()) {
    if (!pad->is_number_integer() || pad->get<std::int64_t>() < 0 ||
        static_cast<std::size_t>(pad->get<std::int64_t>()) >= config.vocab_size) {
      return Status::InvalidInput(source + ": 'pad_token_id' must be an id in the vocabulary");
    }
    config.pad_token_id = static_cast<std::int32_t>(pad->get<std::int64_t>());
  } else if (config.is_xlmr()) {
    config.pad_token_id = 1;
  }
  if (config.max_positions() == 0) {
    return Status::InvalidInput(source + ": max_position_embeddings leaves no room for tokens");
  }

  if (config.is_classifier()) {
    // HF: num_labels = len(id2label), default 2.
    config.num_labels = 2;
    auto labels = json.find("id2label");
    if (labels != json.end() && labels->is_object() && !labels->empty()) {
      config.num_labels = labels->size();
    }
    if (json.contains("num_labels")) {
      SIEVE_ASSIGN_OR_RETURN(config.num_labels, PositiveField(json, "num_labels", source));
    }
  }
  return config;
}

Result<SentenceTransformersConfig> LoadSentenceTransformersConfigImpl(
    const std::filesystem::path& model_dir);
}  // namespace

Result<TransformerConfig> ParseTransformerConfig(std::string_view json_text,
                                                 const std::string& source) {
  // nlohmann's value()/get() throw on a field of the wrong type; keep that inside the stage.
  try {
    return ParseTransformerConfigImpl(json_text, source);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidInput(source + ": " + e.what());
  }
}

Result<SentenceTransformersConfig> LoadSentenceTransformersConfig(
    const std::filesystem::path& model_dir) {
  try {
    return LoadSentenceTransformersConfigImpl(model_dir);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidInput(model_dir.string() +
                                ": sentence-transformers metadata: " + e.what());
  }
}

Result<TransformerConfig> LoadTransformerConfig(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  SIEVE_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxConfigBytes));
  return ParseTransformerConfig(text, path.string());
}

namespace {
Result<SentenceTransformersConfig> LoadSentenceTransformersConfigImpl(
    const std::filesystem::path& model_dir) {
  SentenceTransformersConfig st;
  std::error_code ec;
  const auto modules_path = model_dir / "modules.json";
  if (std::filesystem::exists(modules_path, ec)) {
    st.present = true;
    st.normalize = false;  // only when a Normalize module is listed
    SIEVE_ASSIGN_OR_RETURN(std::string text, ReadFile(modules_path, kMaxConfigBytes));
    Json modules = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (modules.is_discarded() || !modules.is_array()) {
      return Status::InvalidInput(modules_path.string() + ": expected a JSON array of modules");
    }
    bool saw_pooling = false;
    for (const Json& module : modules) {
      if (!module.is_object()) {
        return Status::InvalidInput(modules_path.string() + ": module entry is not an object");
      }
      const std::string type = module.value("type", "");
      const std::string path = module.value("path", "");
      if (type.ends_with("models.Normalize")) {
        st.normalize = true;
      } else if (type.ends_with("models.Pooling")) {
        saw_pooling = true;
        const auto pooling_path = model_dir / path / "config.json";
        SIEVE_ASSIGN_OR_RETURN(Json pooling, ParseJsonFile(pooling_path));
        const bool cls = pooling.value("pooling_mode_cls_token", false);
        const bool mean = pooling.value("pooling_mode_mean_tokens", false);
        for (const char* other : {"pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                                  "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"}) {
          if (pooling.value(other, false)) {
            return Status::Unsupported(pooling_path.string() + ": " + other +
                                       " is not supported (only CLS or mean pooling)");
          }
        }
        if (cls == mean) {
          return Status::Unsupported(pooling_path.string() +
                                     ": exactly one of pooling_mode_cls_token and "
                                     "pooling_mode_mean_tokens must be true");
        }
        st.pooling = cls ? Pooling::kCls : Pooling::kMean;
      } else if (!type.ends_with("models.Transformer")) {
        return Status::Unsupported(modules_path.string() + ": unsupported module type '" + type +
                                   "'");
      }
    }
    if (!saw_pooling) st.pooling = Pooling::kMean;
  }

  const auto bert_config_path = model_dir / "sentence_bert_config.json";
  if (std::filesystem::exists(bert_config_path, ec)) {
    SIEVE_ASSIGN_OR_RETURN(Json bert_config, ParseJsonFile(bert_config_path));
    auto max_len = bert_config.find("max_seq_length");
    if (max_len != bert_config.end() && !max_len->is_null()) {
      if (!max_len->is_number_unsigned() || max_len->get<std::uint64_t>() == 0) {
        return Status::InvalidInput(bert_config_path.string() +
                                    ": 'max_seq_length' must be a positive integer");
      }
      st.max_seq_length = static_cast<std::size_t>(max_len->get<std::uint64_t>());
    }
  }

  const auto prompts_path = model_dir / "config_sentence_transformers.json";
  if (std::filesystem::exists(prompts_path, ec)) {
    SIEVE_ASSIGN_OR_RETURN(Json prompts_config, ParseJsonFile(prompts_path));
    auto prompts = prompts_config.find("prompts");
    if (prompts != prompts_config.end() && prompts->is_object()) {
      auto query = prompts->find("query");
      if (query != prompts->end() && query->is_string())
        st.query_prompt = query->get<std::string>();
    }
  }
  return st;
}
}  // namespace

}  // namespace sieve::models
