#include "retrieval/hybrid_retriever.h"

#include "retrieval/tracing.h"

#include <algorithm>
#include <unordered_map>

namespace sieve::retrieval {

namespace {

// Copies the stage scores `from` has into `into` (each stage is set by one list only).
void MergeStages(StageScores& into, const StageScores& from) {
  if (from.bm25) into.bm25 = from.bm25;
  if (from.bm25_rank) into.bm25_rank = from.bm25_rank;
  if (from.cosine) into.cosine = from.cosine;
  if (from.dense_rank) into.dense_rank = from.dense_rank;
  if (from.rerank) into.rerank = from.rerank;
}

}  // namespace

std::vector<Hit> FuseReciprocalRank(const std::vector<std::vector<Hit>>& lists, double rrf_k,
                                    std::size_t k) {
  struct Fused {
    Hit hit;
    double sum = 0;
    std::size_t best_rank = SIZE_MAX;
  };
  std::unordered_map<std::int64_t, std::size_t> position;
  std::vector<Fused> fused;
  for (const auto& list : lists) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Hit& hit = list[i];
      auto [it, inserted] = position.emplace(hit.chunk_id, fused.size());
      if (inserted) {
        fused.push_back({});
        fused.back().hit.chunk_id = hit.chunk_id;
      }
      Fused& f = fused[it->second];
      const std::size_t rank = i + 1;
      f.sum += 1.0 / (rrf_k + static_cast<double>(rank));
      f.best_rank = std::min(f.best_rank, rank);
      MergeStages(f.hit.stages, hit.stages);
    }
  }
  std::sort(fused.begin(), fused.end(), [](const Fused& a, const Fused& b) {
    if (a.sum != b.sum) return a.sum > b.sum;
    if (a.best_rank != b.best_rank) return a.best_rank < b.best_rank;
    return a.hit.chunk_id < b.hit.chunk_id;
  });
  std::vector<Hit> out;
  out.reserve(std::min(k, fused.size()));
  for (std::size_t i = 0; i < fused.size() && i < k; ++i) {
    Hit hit = fused[i].hit;
    hit.score = fused[i].sum;
    hit.stages.fused = fused[i].sum;
    out.push_back(hit);
  }
  return out;
}

Result<std::vector<Hit>> HybridRetriever::Search(const SearchRequest& request) {
  SearchRequest deep = request;
  deep.k = std::max(request.k, options_.list_depth);
  SIEVE_ASSIGN_OR_RETURN(auto lexical, lexical_.Search(deep));
  SIEVE_ASSIGN_OR_RETURN(auto dense, dense_.Search(deep));
  Span span;
  if (request.ctx != nullptr) {
    span = request.ctx->StartSpan("fuse.rrf", SpanKind::kChain);
    if (request.ctx->recording()) {
      span.SetAttribute("fusion.method", std::string("reciprocal rank fusion"));
      span.SetAttribute("fusion.rrf_k", options_.rrf_k);
      span.SetAttribute("input.value", std::to_string(lexical.size()) + " lexical + " +
                                           std::to_string(dense.size()) + " dense candidates");
    }
  }
  auto fused = FuseReciprocalRank({lexical, dense}, options_.rrf_k, request.k);
  if (span.active() && request.ctx->recording()) {
    SetDocumentAttributes(span, "retrieval.documents", fused, {});
    span.SetAttribute("output.value", std::to_string(fused.size()) + " fused candidates");
  }
  return fused;
}

}  // namespace sieve::retrieval
