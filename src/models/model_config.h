// models/model_config.h: what a Hub model folder says about itself (config.json and the
// sentence-transformers metadata). Internal to the models stage; tests use it too.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"
#include "nn/kernels.h"

namespace sieve::models {

enum class Architecture {
  kBertModel,
  kBertForSequenceClassification,
  kXLMRobertaModel,
  kXLMRobertaForSequenceClassification,
};

struct TransformerConfig {
  std::string architecture_name;  // as written in config.json
  Architecture architecture = Architecture::kBertModel;
  std::size_t vocab_size = 0;
  std::size_t hidden_size = 0;
  std::size_t num_layers = 0;
  std::size_t num_heads = 0;
  std::size_t intermediate_size = 0;
  std::size_t max_position_embeddings = 0;
  std::size_t type_vocab_size = 0;
  std::size_t num_labels = 0;  // classification heads only
  float layer_norm_eps = 1e-12f;
  nn::Activation hidden_act = nn::Activation::kGeluErf;
  std::int32_t pad_token_id = 0;

  bool is_xlmr() const {
    return architecture == Architecture::kXLMRobertaModel ||
           architecture == Architecture::kXLMRobertaForSequenceClassification;
  }
  bool is_classifier() const {
    return architecture == Architecture::kBertForSequenceClassification ||
           architecture == Architecture::kXLMRobertaForSequenceClassification;
  }
  // XLM-R numbers positions from padding_idx + 1 (position ids = pad + cumulative count).
  std::size_t position_offset() const {
    return is_xlmr() ? static_cast<std::size_t>(pad_token_id) + 1 : 0;
  }
  // Longest input (with special tokens) the position table allows.
  std::size_t max_positions() const {
    return max_position_embeddings > position_offset() ? max_position_embeddings - position_offset()
                                                       : 0;
  }
};

// Parses config.json text; `source` names the file in errors.
Result<TransformerConfig> ParseTransformerConfig(std::string_view json_text,
                                                 const std::string& source);
Result<TransformerConfig> LoadTransformerConfig(const std::filesystem::path& model_dir);

enum class Pooling { kCls, kMean };

// sentence-transformers metadata. Without it (no modules.json) a bi-encoder defaults to mean
// pooling + L2 normalisation: mean pooling is what sentence-transformers itself falls back to
// for a plain Hugging Face model, and normalised vectors make dot product = cosine.
struct SentenceTransformersConfig {
  bool present = false;  // modules.json found
  Pooling pooling = Pooling::kMean;
  bool normalize = true;
  std::size_t max_seq_length = 0;  // 0 = not stated
  std::string query_prompt;        // prepended to queries ("" = none)
};

Result<SentenceTransformersConfig> LoadSentenceTransformersConfig(
    const std::filesystem::path& model_dir);

}  // namespace sieve::models
