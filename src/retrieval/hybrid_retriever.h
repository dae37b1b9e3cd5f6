// HybridRetriever: lexical and dense lists fused with Reciprocal Rank Fusion (Cormack et al.,
// 2009): a chunk's fused score is the sum over the lists it appears in of 1 / (rrf_k + rank),
// rank 1-based. Ranks, not raw scores, are fused, so BM25 and cosine need no calibration.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "retrieval/retriever.h"

namespace sieve::retrieval {

inline constexpr double kDefaultRrfK = 60;

// Fuses ranked lists (each best first; rank = position + 1). Each hit keeps the stage scores it
// had in every list (bm25 and cosine side by side); stages.fused and score are the RRF sum.
// Ties: better best rank first, then lower chunk id. At most `k` hits.
std::vector<Hit> FuseReciprocalRank(const std::vector<std::vector<Hit>>& lists, double rrf_k,
                                    std::size_t k);

struct HybridOptions {
  double rrf_k = kDefaultRrfK;
  // Depth of each input list; 0 = the request's k. Deeper lists let chunks found by only one
  // retriever compete fairly.
  std::size_t list_depth = 0;
};

class HybridRetriever : public Retriever {
 public:
  // Non-owning: both retrievers must outlive this one.
  HybridRetriever(Retriever& lexical, Retriever& dense, HybridOptions options = {})
      : lexical_(lexical), dense_(dense), options_(options) {}

  Result<std::vector<Hit>> Search(const SearchRequest& request) override;
  std::string name() const override { return "hybrid"; }

 private:
  Retriever& lexical_;
  Retriever& dense_;
  HybridOptions options_;
};

}  // namespace sieve::retrieval
