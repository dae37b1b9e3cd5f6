#include "retrieval/reranker.h"

#include <algorithm>
#include <cmath>

namespace sieve::retrieval {

Result<std::vector<Hit>> Reranker::Rerank(std::string_view query, std::vector<Hit> candidates,
                                          const std::vector<std::string>& texts,
                                          std::size_t top_n) const {
  if (texts.size() != candidates.size()) {
    return Status::Internal("rerank: " + std::to_string(candidates.size()) + " candidates but " +
                            std::to_string(texts.size()) + " texts");
  }
  if (candidates.empty()) return candidates;
  SIEVE_ASSIGN_OR_RETURN(auto scores, model_.Score(query, texts));
  if (scores.size() != candidates.size()) {
    return Status::Internal("cross-encoder returned " + std::to_string(scores.size()) +
                            " scores for " + std::to_string(candidates.size()) + " passages");
  }
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const double score = scores[i].score;
    if (!std::isfinite(score) || score < 0 || score > 1) {
      return Status::Internal("cross-encoder " + model_.info().id + " gave score " +
                              std::to_string(score) + ", outside [0,1]");
    }
    candidates[i].stages.rerank = score;
    candidates[i].score = score;
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Hit& a, const Hit& b) { return a.score > b.score; });
  if (top_n != 0 && candidates.size() > top_n) candidates.resize(top_n);
  return candidates;
}

}  // namespace sieve::retrieval
