// models: BERT-family encoders loaded from Hugging Face Hub folders.
//
// Interface of the stage: LoadEmbedder(dir) gives a bi-encoder (texts -> unit vectors, with
// sentence-transformers pooling/normalisation/prompts); LoadCrossEncoder(dir) gives a reranker
// ((query, passage) pairs -> relevance in [0,1]). ResolveModel() turns a folder or a Hub id
// ("BAAI/bge-small-en-v1.5", found in the Hugging Face cache) into a folder.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sieve::models {

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
};

class Embedder {
 public:
  virtual ~Embedder() = default;
  // One vector per text, in order. `is_query` applies the model's query prompt.
  virtual Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts,
                                                        bool is_query) = 0;
  virtual const ModelInfo& info() const = 0;
  // Tokens of `text` under this model's tokenizer (no special tokens).
  virtual std::size_t CountTokens(std::string_view text) const = 0;
};

struct CrossEncoderScore {
  float score = 0;  // sigmoid(logit) for one label; softmax probability of the last label else
  float logit = 0;
};

class CrossEncoder {
 public:
  virtual ~CrossEncoder() = default;
  // Scores each passage against the query, in input order.
  virtual Result<std::vector<CrossEncoderScore>> Score(
      std::string_view query, const std::vector<std::string>& passages) = 0;
  virtual const ModelInfo& info() const = 0;
};

struct LoadModelOptions {
  std::size_t batch_size = 32;
  std::size_t max_length = 0;  // 0 = model's max_seq_length
  bool verbose = false;        // report truncation on stderr
};

Result<std::unique_ptr<Embedder>> LoadEmbedder(const std::filesystem::path& model_dir,
                                               const LoadModelOptions& options = {});
Result<std::unique_ptr<CrossEncoder>> LoadCrossEncoder(const std::filesystem::path& model_dir,
                                                       const LoadModelOptions& options = {});

}  // namespace sieve::models
