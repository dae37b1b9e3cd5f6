#include "retrieval/pipeline.h"

#include <algorithm>
#include <unordered_map>

#include "retrieval/tracing.h"
#include "retrieval/vector_sync.h"

namespace sieve::retrieval {

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kLexical:
      return "lexical";
    case Mode::kDense:
      return "dense";
    case Mode::kHybrid:
      return "hybrid";
  }
  return "?";
}

Result<Mode> ParseMode(std::string_view name) {
  for (Mode mode : {Mode::kLexical, Mode::kDense, Mode::kHybrid}) {
    if (name == ModeName(mode)) return mode;
  }
  return Status::InvalidArgument("unknown retrieval mode \"" + std::string(name) +
                                 "\" (expected dense, lexical or hybrid)");
}

Result<std::unique_ptr<Pipeline>> Pipeline::Create(store::DocumentStore& store,
                                                   store::VectorStore* vectors,
                                                   models::Embedder* embedder,
                                                   models::CrossEncoder* cross_encoder,
                                                   const PipelineOptions& options) {
  if (options.k == 0) return Status::InvalidArgument("candidate depth k must be at least 1");
  if (options.top_n == 0) return Status::InvalidArgument("top n must be at least 1");
  if (options.rrf_k <= 0) return Status::InvalidArgument("RRF k must be positive");
  std::unique_ptr<Pipeline> pipeline(new Pipeline(store, options));
  if (options.mode != Mode::kLexical) {
    if (vectors == nullptr || embedder == nullptr) {
      return Status::InvalidArgument(std::string(ModeName(options.mode)) +
                                     " retrieval needs an embedding model and its vectors");
    }
    pipeline->dense_.emplace(*vectors, *embedder);
  }
  switch (options.mode) {
    case Mode::kLexical:
      pipeline->retriever_ = &pipeline->lexical_;
      break;
    case Mode::kDense:
      pipeline->retriever_ = &*pipeline->dense_;
      break;
    case Mode::kHybrid:
      pipeline->hybrid_.emplace(pipeline->lexical_, *pipeline->dense_,
                                HybridOptions{options.rrf_k, options.k});
      pipeline->retriever_ = &*pipeline->hybrid_;
      break;
  }
  if (options.rerank) {
    if (cross_encoder == nullptr) {
      return Status::InvalidArgument("reranking needs a cross-encoder model");
    }
    pipeline->reranker_.emplace(*cross_encoder);
    pipeline->rerank_model_ = cross_encoder->info().id;
  }
  return pipeline;
}

std::string Pipeline::Describe() const {
  return std::string(ModeName(options_.mode)) + (reranker_ ? " + rerank" : "");
}

Result<std::vector<RankedChunk>> Pipeline::Run(std::string_view query) {
  return Run(query, options_.filter);
}

Result<std::vector<RankedChunk>> Pipeline::Run(std::string_view query, const Filter& filter) {
  SearchRequest request;
  request.query = std::string(query);
  request.k = options_.k;
  request.filter = filter;
  return Run(request, options_.top_n);
}

Result<std::vector<Hit>> PipelineRetriever::Search(const SearchRequest& request) {
  SIEVE_ASSIGN_OR_RETURN(auto ranked, pipeline_->Run(request, request.k, false));
  std::vector<Hit> hits;
  hits.reserve(ranked.size());
  for (auto& r : ranked) hits.push_back(std::move(r.hit));
  return hits;
}

Result<std::vector<RankedChunk>> Pipeline::Run(std::string_view query, RequestContext* ctx) {
  SearchRequest request;
  request.query = std::string(query);
  request.k = options_.k;
  request.filter = options_.filter;
  request.ctx = ctx;
  return Run(request, options_.top_n);
}

void CollapseDuplicates(std::vector<RankedChunk>& ranked) {
  std::unordered_map<std::string, std::size_t> first;  // normalised text -> index in `kept`
  std::vector<RankedChunk> kept;
  kept.reserve(ranked.size());
  for (auto& r : ranked) {
    std::string normal;
    normal.reserve(r.chunk.text.size());
    bool space = false;
    for (char c : r.chunk.text) {
      if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
        space = !normal.empty();
        continue;
      }
      if (space) normal.push_back(' ');
      space = false;
      normal.push_back(c);
    }
    auto [it, inserted] = first.emplace(std::move(normal), kept.size());
    if (inserted) {
      kept.push_back(std::move(r));
      continue;
    }
    auto& also = kept[it->second].also_in;
    const std::string& path = r.chunk.source_path;
    if (path != kept[it->second].chunk.source_path &&
        std::find(also.begin(), also.end(), path) == also.end()) {
      also.push_back(path);
    }
  }
  ranked = std::move(kept);
}

Result<std::vector<RankedChunk>> Pipeline::Run(const SearchRequest& original, std::size_t top_n,
                                               bool collapse_duplicates) {
  SearchRequest request = original;
  if (request.ctx != nullptr && request.ctx->recording() && !request.documents) {
    request.documents = [this](const std::vector<std::int64_t>& ids) {
      return store_.GetChunks(ids);
    };
  }
  const std::string_view query = request.query;
  SIEVE_ASSIGN_OR_RETURN(auto hits, retriever_->Search(request));

  std::vector<std::int64_t> ids;
  ids.reserve(hits.size());
  for (const Hit& hit : hits) ids.push_back(hit.chunk_id);
  SIEVE_ASSIGN_OR_RETURN(auto chunks, store_.GetChunks(ids));
  // Joined by chunk id, never by position; a chunk deleted since it was found is dropped
  // (GetChunks leaves it out).
  std::unordered_map<std::int64_t, std::size_t> by_id;
  by_id.reserve(chunks.size());
  for (std::size_t i = 0; i < chunks.size(); ++i) by_id.emplace(chunks[i].chunk_id, i);
  std::vector<RankedChunk> ranked;
  ranked.reserve(hits.size());
  for (const Hit& hit : hits) {
    auto it = by_id.find(hit.chunk_id);
    if (it == by_id.end()) continue;
    ranked.push_back({hit, chunks[it->second]});
  }

  if (reranker_ && !ranked.empty()) {
    const std::size_t depth =
        options_.rerank_depth == 0 ? ranked.size() : std::min(options_.rerank_depth, ranked.size());
    std::vector<Hit> head;
    std::vector<std::string> texts;
    head.reserve(depth);
    texts.reserve(depth);
    for (std::size_t i = 0; i < depth; ++i) {
      head.push_back(ranked[i].hit);
      texts.push_back(PassageText(ranked[i].chunk));
    }
    Span span;
    const bool recording = request.ctx != nullptr && request.ctx->recording();
    if (request.ctx != nullptr) span = request.ctx->StartSpan("rerank", SpanKind::kReranker);
    if (recording) {
      span.SetAttribute("reranker.query", std::string(query));
      span.SetAttribute("reranker.model_name", rerank_model_);
      span.SetAttribute("reranker.top_k", static_cast<std::int64_t>(top_n));
      std::vector<const store::ChunkRecord*> chunks;
      for (std::size_t i = 0; i < depth; ++i) chunks.push_back(&ranked[i].chunk);
      SetDocumentAttributes(span, "reranker.input_documents", head, chunks);
    }
    auto reranked_or = reranker_->Rerank(query, std::move(head), texts, 0);
    if (recording && reranked_or.ok()) {
      // The output: the first top_n of the reranked head, as the pipeline returns them.
      std::vector<Hit> out(
          reranked_or->begin(),
          reranked_or->begin() + static_cast<std::ptrdiff_t>(std::min(top_n, reranked_or->size())));
      std::vector<const store::ChunkRecord*> chunks;
      for (const Hit& hit : out) {
        auto it =
            std::find_if(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(depth),
                         [&](const RankedChunk& r) { return r.hit.chunk_id == hit.chunk_id; });
        chunks.push_back(&it->chunk);
      }
      SetDocumentAttributes(span, "reranker.output_documents", out, chunks);
    }
    span.End(reranked_or.status());
    SIEVE_ASSIGN_OR_RETURN(auto reranked, std::move(reranked_or));
    // Reorder the head by the reranked hits (ids are unique within a list).
    std::vector<RankedChunk> reordered;
    reordered.reserve(ranked.size());
    for (Hit& hit : reranked) {
      auto it = std::find_if(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(depth),
                             [&](const RankedChunk& r) { return r.hit.chunk_id == hit.chunk_id; });
      reordered.push_back({std::move(hit), std::move(it->chunk)});
    }
    for (std::size_t i = depth; i < ranked.size(); ++i) reordered.push_back(std::move(ranked[i]));
    ranked = std::move(reordered);
  }
  if (collapse_duplicates) CollapseDuplicates(ranked);
  if (ranked.size() > top_n) ranked.resize(top_n);
  return ranked;
}

}  // namespace sieve::retrieval
