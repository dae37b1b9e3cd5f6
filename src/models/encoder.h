// models: BERT-family encoders loaded from Hugging Face Hub folders.
//
// Interface of the stage, split as llama.cpp splits model and context:
// - LoadEncoderModel(dir) loads an immutable EncoderModel (weights used in place from the mapped
//   safetensors file, tokenizer, config, metadata), shared by std::shared_ptr<const EncoderModel>
//   between any number of threads and sessions.
// - NewEmbedderSession(model) gives a bi-encoder session (texts -> unit vectors, with
//   sentence-transformers pooling/normalisation/prompts); NewCrossEncoderSession(model) a reranker
//   session ((query, passage) pairs -> relevance in [0,1]). A session owns its scratch memory and
//   runs its kernels on the caller's nn::ThreadPool; one thread at a time per session.
// - LoadEmbedder(dir) / LoadCrossEncoder(dir) load a model and open one session on it.
// ResolveModel() (hub.h) turns a folder or a Hub id ("BAAI/bge-small-en-v1.5", found in the
// Hugging Face cache) into a folder.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "core/status.h"
#include "models/model_config.h"
#include "nn/thread_pool.h"

namespace sieve::tokenizer {
class Tokenizer;
}

namespace sieve::models {

class EncoderModel;
class TransformerModel;

// Arithmetic of the encoder's linear layers: float32, or int8 dynamic quantisation (weights
// per output channel at load, activations per row at run time; nn/quant.h).
enum class Precision { kFp32, kInt8 };
// "fp32" / "int8".
std::string_view PrecisionName(Precision precision);
// Parses "fp32" or "int8"; kInvalidArgument naming both otherwise.
Result<Precision> ParsePrecision(std::string_view text);

// What made a set of vectors; stored with an index so a mismatch can be refused.
struct ModelInfo {
  std::string id;        // Hub id or folder path
  std::string revision;  // Hub commit hash when known, else ""
  std::string architecture;
  std::size_t dimension = 0;
  std::string pooling;  // "cls" or "mean"
  bool normalize = false;
  std::string
      query_prompt;  // e.g. BGE's "Represent this sentence for searching relevant passages: "
  std::size_t max_seq_length = 512;
  std::string precision = "fp32";  // PrecisionName() of the model's Precision
};

// A session: one thread at a time (it reuses one activation arena); open one session per worker
// thread on a shared EncoderModel. info() and CountTokens() are const and thread-safe.
class Embedder {
 public:
  virtual ~Embedder() = default;
  // One vector per text, in order. `is_query` applies the model's query prompt.
  virtual Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts,
                                                        bool is_query) = 0;
  virtual const ModelInfo& info() const = 0;
  // Tokens of `text` under this model's tokenizer (no special tokens).
  virtual std::size_t CountTokens(std::string_view text) const = 0;
  // The shared model behind this session; null for implementations not backed by one (fakes).
  virtual std::shared_ptr<const EncoderModel> shared_model() const { return nullptr; }
  // Requires shared_model() != null.
  const EncoderModel& model() const { return *shared_model(); }
};

struct CrossEncoderScore {
  float score = 0;  // sigmoid(logit) for one label; softmax probability of the last label else
  float logit = 0;
};

// One (query, passage) pair for CrossEncoder::ScorePairs; the views must outlive the call.
struct ScorePair {
  std::string_view query;
  std::string_view passage;
};

// A session: one thread at a time, as Embedder.
class CrossEncoder {
 public:
  virtual ~CrossEncoder() = default;
  // Scores each passage against the query, in input order.
  virtual Result<std::vector<CrossEncoderScore>> Score(
      std::string_view query, const std::vector<std::string>& passages) = 0;
  // Scores pairs whose queries may differ (e.g. the pairs of several requests), in input order.
  // The session sorts all pairs by token length and runs them in batches padded to their longest
  // pair (SessionOptions::batch_size and max_batch_tokens), so a pair's score does not depend on
  // the other pairs beyond float rounding of the batch's shape: each equals Score(query,
  // {passage}) alone to ~1e-6 in the logit (the tests allow 1e-5), as batch sizes do for Score.
  // The default (for fakes) calls Score once per distinct query. (Inline: users of the
  // interface alone, e.g. generation, need not link the models library.)
  virtual Result<std::vector<CrossEncoderScore>> ScorePairs(std::span<const ScorePair> pairs) {
    std::map<std::string_view, std::vector<std::size_t>> groups;  // the pairs of each query
    for (std::size_t i = 0; i < pairs.size(); ++i) groups[pairs[i].query].push_back(i);
    std::vector<CrossEncoderScore> scores(pairs.size());
    for (const auto& [query, positions] : groups) {
      std::vector<std::string> passages;
      passages.reserve(positions.size());
      for (std::size_t i : positions) passages.emplace_back(pairs[i].passage);
      SIEVE_ASSIGN_OR_RETURN(auto group_scores, Score(query, passages));
      if (group_scores.size() != positions.size()) {
        return Status::Internal("the cross-encoder gave " + std::to_string(group_scores.size()) +
                                " scores for " + std::to_string(positions.size()) + " passages");
      }
      for (std::size_t j = 0; j < positions.size(); ++j) scores[positions[j]] = group_scores[j];
    }
    return scores;
  }
  virtual const ModelInfo& info() const = 0;
  // The shared model behind this session; null for implementations not backed by one (fakes).
  virtual std::shared_ptr<const EncoderModel> shared_model() const { return nullptr; }
  // Requires shared_model() != null.
  const EncoderModel& model() const { return *shared_model(); }
};

struct LoadModelOptions {
  std::size_t batch_size = 32;     // of the session LoadEmbedder/LoadCrossEncoder open
  std::size_t max_length = 0;      // 0 = model's max_seq_length; else at most the model's positions
  bool verbose = false;            // report truncated inputs to `logger` (as notes)
  Logger logger;                   // the sessions LoadEmbedder/LoadCrossEncoder open log here
  nn::ThreadPool* pool = nullptr;  // of those sessions; must outlive them (null = caller thread)
  Precision precision = Precision::kFp32;  // of the model's linear layers (fixed at load)
};

enum class EncoderKind { kEmbedder, kCrossEncoder };

// A loaded encoder: immutable after LoadEncoderModel; every method is const and thread-safe.
// Keeps the weights' file mapping alive as long as any session holds the model.
class EncoderModel {
 public:
  ~EncoderModel();
  EncoderModel(const EncoderModel&) = delete;
  EncoderModel& operator=(const EncoderModel&) = delete;

  // Embedder for *Model architectures, cross-encoder for *ForSequenceClassification.
  EncoderKind kind() const { return kind_; }
  // Identity and limits (dimension = hidden size for embedders, number of labels for
  // cross-encoders; max_seq_length after LoadModelOptions::max_length).
  const ModelInfo& info() const { return info_; }
  const TransformerConfig& config() const;
  // Sentence-transformers metadata (embedders): pooling, normalisation, query prompt.
  Pooling pooling() const { return pooling_; }
  bool normalize() const { return info_.normalize; }
  const std::string& query_prompt() const { return info_.query_prompt; }
  const TransformerModel& transformer() const { return *transformer_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  // Bytes of float32 weights the forward pass reads.
  std::size_t weight_bytes() const;
  // Tokens of `text` under the model's tokenizer (no special tokens).
  std::size_t CountTokens(std::string_view text) const;
  // Tokens a cross-encoder session reads for the pair: special tokens included, truncated to
  // info().max_seq_length (a session with a lower max_length reads fewer).
  std::size_t CountPairTokens(std::string_view query, std::string_view passage) const;

 private:
  friend Result<std::shared_ptr<const EncoderModel>> LoadEncoderModel(
      const std::filesystem::path& model_dir, const LoadModelOptions& options);
  EncoderModel() = default;

  EncoderKind kind_ = EncoderKind::kEmbedder;
  ModelInfo info_;
  Pooling pooling_ = Pooling::kMean;
  std::unique_ptr<const TransformerModel> transformer_;
  std::unique_ptr<const tokenizer::Tokenizer> tokenizer_;
};

// Loads a model folder (config.json, model.safetensors, tokenizer, sentence-transformers
// metadata). Uses options.max_length (validated against the model's positions) and
// options.precision (recorded in info().precision); options.pool, when set, loads the weights
// and the tokenizer at the same time on it. The session fields of `options` (batch_size,
// verbose, logger) are not used here.
Result<std::shared_ptr<const EncoderModel>> LoadEncoderModel(const std::filesystem::path& model_dir,
                                                             const LoadModelOptions& options = {});

struct SessionOptions {
  nn::ThreadPool* pool = nullptr;  // runs the kernels; must outlive the session; null = caller
  std::size_t batch_size = 32;     // at least 1
  std::size_t max_length = 0;      // 0 = model's info().max_seq_length; else 2..that
  // A forward pass holds at most this many padded tokens (sequences x the longest of them) and
  // at most batch_size sequences; a sequence longer than this runs alone. 0 = batch_size alone.
  std::size_t max_batch_tokens = 0;
  Logger logger;  // truncated inputs are reported here as notes
};

// A session on `model`. Fails with kInvalidArgument when the model is of the other kind or the
// options are out of range. Sessions on one model share its weights (no copy).
Result<std::unique_ptr<Embedder>> NewEmbedderSession(std::shared_ptr<const EncoderModel> model,
                                                     const SessionOptions& options = {});
Result<std::unique_ptr<CrossEncoder>> NewCrossEncoderSession(
    std::shared_ptr<const EncoderModel> model, const SessionOptions& options = {});

// LoadEncoderModel + one session (batch_size, pool and the logger from `options`; the logger only
// when options.verbose).
Result<std::unique_ptr<Embedder>> LoadEmbedder(const std::filesystem::path& model_dir,
                                               const LoadModelOptions& options = {});
Result<std::unique_ptr<CrossEncoder>> LoadCrossEncoder(const std::filesystem::path& model_dir,
                                                       const LoadModelOptions& options = {});

}  // namespace sieve::models
