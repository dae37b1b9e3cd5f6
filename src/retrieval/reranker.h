// Reranker: the cross-encoder sieve. It reads each (query, passage) pair whole, which a
// bi-encoder or BM25 cannot, and reorders a retriever's candidates by its relevance score.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "models/encoder.h"
#include "retrieval/retriever.h"

namespace sieve::retrieval {

inline constexpr std::size_t kDefaultTopN = 5;

class Reranker {
 public:
  // Non-owning: `model` must outlive the reranker.
  explicit Reranker(models::CrossEncoder& model) : model_(model) {}

  // Scores texts[i] (the passage of candidates[i]) against `query`; returns the candidates
  // ordered by that score (ties keep their input order), each with stages.rerank in [0,1] and
  // score = rerank, cut to `top_n` (0 = keep all). Earlier stages' scores are kept.
  Result<std::vector<Hit>> Rerank(std::string_view query, std::vector<Hit> candidates,
                                  const std::vector<std::string>& texts, std::size_t top_n) const;

  const models::ModelInfo& info() const { return model_.info(); }

 private:
  models::CrossEncoder& model_;
};

}  // namespace sieve::retrieval
