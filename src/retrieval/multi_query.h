// retrieval/multi_query: multi-query retrieval (RAG-Fusion). Several phrasings of one question
// are retrieved separately, their lists fused by reciprocal rank fusion, and the fused candidates
// reranked against the original question.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/status.h"
#include "retrieval/pipeline.h"
#include "retrieval/reranker.h"

namespace sieve::retrieval {

struct MultiQueryOptions {
  std::size_t k = 50;            // candidates kept after fusion
  std::size_t top_n = 10;        // results returned
  std::size_t rerank_depth = 0;  // fused candidates the cross-encoder scores (0 = all)
  double rrf_k = kDefaultRrfK;
};

// Runs every query of `queries` (the original first) through `pipeline`, which must be built
// without reranking and keep at least k results per query, fuses the lists with
// FuseReciprocalRank, then reranks the fused head against queries[0] when `reranker` is given
// (non-owning, may be null). Hits keep every stage's scores; stages.fused is the fusion score
// across queries. Errors: the pipeline's or the reranker's; kInvalidArgument for no query.
Result<std::vector<RankedChunk>> RunMultiQuery(Pipeline& pipeline, const Reranker* reranker,
                                               const std::vector<std::string>& queries,
                                               const MultiQueryOptions& options);

}  // namespace sieve::retrieval
