// models/transformer.h: the BERT / XLM-R encoder forward pass on token ids (internal to the
// models stage; the parity tests feed it reference ids directly).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/encoder.h"
#include "models/model_config.h"
#include "nn/arena.h"

namespace sieve::models {

// A padded batch: every vector holds batch · seq_len entries, row-major.
struct TokenBatch {
  std::size_t batch = 0;
  std::size_t seq_len = 0;
  std::vector<std::int32_t> input_ids;
  std::vector<std::int32_t> token_type_ids;
  std::vector<std::int32_t> attention_mask;
};

class TransformerModel {
 public:
  // Reads config.json and model.safetensors from a Hub-layout folder, checking every tensor's
  // shape against the config. F16/BF16 weights are converted to F32.
  static Result<TransformerModel> Load(const std::filesystem::path& model_dir);

  // Gives the float32 values of a tensor by its HF name (without any "bert."/"roberta." prefix
  // for encoder tensors; "classifier.*" for heads), checked against `shape`.
  using TensorSource = std::function<Result<std::vector<float>>(
      const std::string& name, const std::vector<std::size_t>& shape)>;
  // Builds a model from any source of weights (benchmarks use random ones).
  static Result<TransformerModel> FromTensors(const TransformerConfig& config,
                                              const TensorSource& tensors);

  const TransformerConfig& config() const { return config_; }

  // Last hidden states [batch · seq_len, hidden_size], in memory from `arena` (valid until its
  // Reset()). Fails on ids outside the vocabulary / type vocabulary or a batch too long for the
  // position table.
  Result<const float*> Encode(const TokenBatch& batch, nn::Arena& arena) const;

  // Classification logits [batch · num_labels] from the hidden states Encode() returned: BERT
  // uses pooler (dense + tanh on [CLS]) then classifier; XLM-R uses classifier.dense + tanh +
  // classifier.out_proj on <s>. Only for *ForSequenceClassification models.
  std::vector<float> Classify(const float* hidden_states, const TokenBatch& batch,
                              nn::Arena& arena) const;

 private:
  struct Layer {
    std::vector<float> qkv_weight, qkv_bias;  // query, key, value stacked: [3·hidden, hidden]
    std::vector<float> attention_out_weight, attention_out_bias;
    std::vector<float> attention_norm_weight, attention_norm_bias;
    std::vector<float> intermediate_weight, intermediate_bias;
    std::vector<float> output_weight, output_bias;
    std::vector<float> output_norm_weight, output_norm_bias;
  };

  TransformerConfig config_;
  std::vector<float> word_embeddings_, position_embeddings_, token_type_embeddings_;
  std::vector<float> embedding_norm_weight_, embedding_norm_bias_;
  std::vector<Layer> layers_;
  // Heads (classifiers only). BERT: pooler_ + classifier_; XLM-R: head_dense_ + classifier_.
  std::vector<float> head_dense_weight_, head_dense_bias_;
  std::vector<float> classifier_weight_, classifier_bias_;
};

// One vector per sequence from Encode()'s hidden states: CLS or masked-mean pooling, then L2
// normalisation when `normalize`.
std::vector<std::vector<float>> PoolEmbeddings(const float* hidden_states, const TokenBatch& batch,
                                               std::size_t hidden_size, Pooling pooling,
                                               bool normalize);

// One label: score = sigmoid(logit). Several: score = softmax probability of the last label
// (the "relevant" class by the usual convention) and logit = that label's raw logit.
CrossEncoderScore ScoreFromLogits(const float* logits, std::size_t num_labels);

}  // namespace sieve::models
