#include "retrieval/multi_query.h"

#include <algorithm>
#include <map>
#include <utility>

#include "retrieval/hybrid_retriever.h"
#include "retrieval/vector_sync.h"

namespace sieve::retrieval {

Result<std::vector<RankedChunk>> RunMultiQuery(Pipeline& pipeline, const Reranker* reranker,
                                               const std::vector<std::string>& queries,
                                               const MultiQueryOptions& options) {
  if (queries.empty()) return Status::InvalidArgument("multi-query retrieval needs a query");
  std::vector<std::vector<Hit>> lists;
  std::map<std::int64_t, store::ChunkRecord> chunks;
  for (const std::string& query : queries) {
    SIEVE_ASSIGN_OR_RETURN(auto ranked, pipeline.Run(query));
    std::vector<Hit> hits;
    hits.reserve(ranked.size());
    for (auto& r : ranked) {
      hits.push_back(r.hit);
      chunks.emplace(r.hit.chunk_id, std::move(r.chunk));
    }
    lists.push_back(std::move(hits));
  }
  std::vector<Hit> fused = FuseReciprocalRank(lists, options.rrf_k, options.k);
  if (reranker != nullptr && !fused.empty()) {
    const std::size_t depth =
        options.rerank_depth == 0 ? fused.size() : std::min(options.rerank_depth, fused.size());
    std::vector<Hit> head(fused.begin(), fused.begin() + static_cast<std::ptrdiff_t>(depth));
    std::vector<std::string> texts;
    texts.reserve(depth);
    for (const Hit& hit : head) texts.push_back(PassageText(chunks.at(hit.chunk_id)));
    SIEVE_ASSIGN_OR_RETURN(auto reranked,
                           reranker->Rerank(queries.front(), std::move(head), texts, 0));
    for (std::size_t i = depth; i < fused.size(); ++i) reranked.push_back(std::move(fused[i]));
    fused = std::move(reranked);
  }
  if (fused.size() > options.top_n) fused.resize(options.top_n);
  std::vector<RankedChunk> out;
  out.reserve(fused.size());
  for (Hit& hit : fused) {
    auto it = chunks.find(hit.chunk_id);
    out.push_back({std::move(hit), std::move(it->second)});
  }
  return out;
}

}  // namespace sieve::retrieval
