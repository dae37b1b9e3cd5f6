// models/transformer.h: the BERT / XLM-R encoder forward pass on token ids (internal to the
// models stage; the parity tests feed it reference ids directly).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/encoder.h"
#include "models/model_config.h"
#include "nn/arena.h"
#include "nn/gemm.h"
#include "nn/quant.h"
#include "nn/thread_pool.h"

namespace sieve::models {

// A padded batch: every vector holds batch · seq_len entries, row-major.
struct TokenBatch {
  std::size_t batch = 0;
  std::size_t seq_len = 0;
  std::vector<std::int32_t> input_ids;
  std::vector<std::int32_t> token_type_ids;
  std::vector<std::int32_t> attention_mask;
};

// Immutable after construction: Encode and Classify are const and safe to call from several
// threads at once, each with its own arena. Move-only (the weights may point into a mapping the
// model owns).
class TransformerModel {
 public:
  // Reads config.json and model.safetensors from a Hub-layout folder, checking every tensor's
  // shape against the config. F32 tensors are used in place from the memory-mapped file (the
  // model keeps the mapping); F16/BF16 weights are converted to F32 once. In float32 the six
  // linear layers of every encoder layer are packed once for nn::LinearPacked (the CPU's best GEMM
  // kernel), and the source weights are then released. With Precision::kInt8
  // the six linear layers of every encoder layer are quantised at load (nn/quant.h: per output
  // channel weights, activations per row at run time, the CPU's best int8 kernel); embeddings,
  // LayerNorms, attention scores and the classification head stay float32.
  static Result<TransformerModel> Load(const std::filesystem::path& model_dir,
                                       Precision precision = Precision::kFp32);

  // Gives the float32 values of a tensor by its HF name (without any "bert."/"roberta." prefix
  // for encoder tensors; "classifier.*" for heads), checked against `shape`.
  using TensorSource = std::function<Result<std::vector<float>>(
      const std::string& name, const std::vector<std::size_t>& shape)>;
  // Builds a model from any source of weights (benchmarks and tests use random ones); the model
  // owns the vectors.
  static Result<TransformerModel> FromTensors(const TransformerConfig& config,
                                              const TensorSource& tensors,
                                              Precision precision = Precision::kFp32);

  TransformerModel(TransformerModel&&) noexcept = default;
  TransformerModel& operator=(TransformerModel&&) noexcept = default;
  TransformerModel(const TransformerModel&) = delete;
  TransformerModel& operator=(const TransformerModel&) = delete;

  const TransformerConfig& config() const { return config_; }
  Precision precision() const { return precision_; }
  // Bytes of float32 weights the forward pass reads (mapped or owned).
  std::size_t weight_bytes() const { return weight_bytes_; }
  // Bytes the model allocated (converted or built tensors, int8 weights), not mapped.
  std::size_t owned_bytes() const;

  // Last hidden states [batch · seq_len, hidden_size], in memory from `arena` (valid until its
  // Reset()). Rows of tokens with attention_mask 1 (any non-zero value) hold the model's output,
  // equal to PyTorch's for those rows (each sequence attends to its own unmasked tokens, wherever
  // they are); rows with mask 0 are all zero (PyTorch computes values there; Encode never runs
  // padding through the model, and the arena holds activations for the real tokens only).
  // Positions stay the tokens' indices in the padded row (XLM-R: HF's padding-aware positions).
  // Kernels are split over `pool` (null = calling thread). Fails on ids outside the vocabulary /
  // type vocabulary (padding's ids are checked too) or a batch too long for the position table.
  //
  // With Output::kFirstTokens the result is [batch, hidden_size] instead: the row of position 0 of
  // each sequence ([CLS] / <s>; zero when position 0 is padding), the only row CLS pooling and
  // the classification heads read. The last layer then runs for those rows only (one query row
  // of attention, the feed-forward block on batch rows), which saves most of that layer; the rows
  // equal the same rows of Output::kAllRows.
  enum class Output { kAllRows, kFirstTokens };
  Result<const float*> Encode(const TokenBatch& batch, nn::Arena& arena,
                              nn::ThreadPool* pool = nullptr,
                              Output output = Output::kAllRows) const;

  // Classification logits [batch · num_labels] from the hidden states Encode() returned: BERT
  // uses pooler (dense + tanh on [CLS]) then classifier; XLM-R uses classifier.dense + tanh +
  // classifier.out_proj on <s>. Only for *ForSequenceClassification models. The head reads row 0
  // of each sequence; a sequence whose first token is padding (its row is zero) gets the head's
  // logits of a zero vector.
  std::vector<float> Classify(const float* hidden_states, const TokenBatch& batch, nn::Arena& arena,
                              nn::ThreadPool* pool = nullptr) const;
  // The same from first-token rows [batch_size, hidden_size] (Encode with Output::kFirstTokens).
  std::vector<float> ClassifyFirstTokens(const float* first_tokens, std::size_t batch_size,
                                         nn::Arena& arena, nn::ThreadPool* pool = nullptr) const;

 private:
  TransformerModel() = default;
  // A tensor's values: `data` points into `owned` when that is not empty, else into memory the
  // source keeps alive (the mapping).
  struct TensorData {
    const float* data = nullptr;
    std::vector<float> owned;
  };
  using TensorViewSource = std::function<Result<TensorData>(const std::string& name,
                                                            const std::vector<std::size_t>& shape)>;
  static Result<TransformerModel> Build(const TransformerConfig& config,
                                        const TensorViewSource& tensors,
                                        std::shared_ptr<const void> mapping, Precision precision);

  // Query, key and value are separate [hidden, hidden] matrices: three GEMMs write interleaved
  // column blocks of one [tokens, 3·hidden] buffer, so nothing is stacked (copied) at load.
  struct Layer {
    const float *query_weight = nullptr, *query_bias = nullptr;
    const float *key_weight = nullptr, *key_bias = nullptr;
    const float *value_weight = nullptr, *value_bias = nullptr;
    const float *attention_out_weight = nullptr, *attention_out_bias = nullptr;
    const float *attention_norm_weight = nullptr, *attention_norm_bias = nullptr;
    const float *intermediate_weight = nullptr, *intermediate_bias = nullptr;
    const float *output_weight = nullptr, *output_bias = nullptr;
    const float *output_norm_weight = nullptr, *output_norm_bias = nullptr;
  };

  // The linear weights of a layer quantised for nn::LinearInt8 (Precision::kInt8 only), query,
  // key and value stacked as in PackedLayer.
  struct Int8Layer {
    nn::Int8Matrix qkv, attention_out, intermediate, output;
    std::vector<float> qkv_bias;
  };

  // The float32 linear weights of a layer packed for nn::LinearPacked (Precision::kFp32 only):
  // query, key and value stacked into one [3·hidden, hidden] matrix (one GEMM writes the qkv
  // buffer), with their biases stacked in `qkv_bias`.
  struct PackedLayer {
    nn::PackedMatrix qkv, attention_out, intermediate, output;
    std::vector<float> qkv_bias;
  };

  TransformerConfig config_;
  Precision precision_ = Precision::kFp32;
  std::vector<Int8Layer> int8_layers_;      // empty for kFp32
  std::vector<PackedLayer> packed_layers_;  // empty for kInt8
  std::shared_ptr<const void> mapping_;     // the safetensors mapping views point into
  std::vector<std::vector<float>> owned_;   // tensors converted or built at load
  std::size_t weight_bytes_ = 0;
  const float *word_embeddings_ = nullptr, *position_embeddings_ = nullptr,
              *token_type_embeddings_ = nullptr;
  const float *embedding_norm_weight_ = nullptr, *embedding_norm_bias_ = nullptr;
  std::vector<Layer> layers_;
  // Heads (classifiers only). BERT: pooler_ + classifier_; XLM-R: head_dense_ + classifier_.
  const float *head_dense_weight_ = nullptr, *head_dense_bias_ = nullptr;
  const float *classifier_weight_ = nullptr, *classifier_bias_ = nullptr;
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
