// Pipeline: query -> candidates (lexical, dense or hybrid; k = 50) -> cross-encoder rerank ->
// top n, with each result's chunk and document metadata. Used by `sieve ask`, `sieve eval` and
// the server.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "models/encoder.h"
#include "retrieval/dense_retriever.h"
#include "retrieval/hybrid_retriever.h"
#include "retrieval/lexical_retriever.h"
#include "retrieval/reranker.h"
#include "retrieval/retriever.h"
#include "store/document_store.h"
#include "store/vector_store.h"

namespace sieve::retrieval {

enum class Mode { kLexical, kDense, kHybrid };
const char* ModeName(Mode mode);  // "lexical", "dense", "hybrid"
Result<Mode> ParseMode(std::string_view name);

struct PipelineOptions {
  Mode mode = Mode::kHybrid;
  std::size_t k = 50;                // candidates from the retriever
  std::size_t top_n = kDefaultTopN;  // results kept (after rerank, or the first n without it)
  bool rerank = true;
  // Candidates the cross-encoder scores (0 = all k); the others follow them in retrieval order.
  std::size_t rerank_depth = 0;
  double rrf_k = kDefaultRrfK;
  Filter filter;
};

struct RankedChunk {
  Hit hit;  // score = the last stage's; stages = every stage's
  store::ChunkRecord chunk;
  // Source paths of lower-ranked chunks with the same text (collapsed into this one).
  std::vector<std::string> also_in;
};

// Keeps the best of every group of chunks whose text is identical (whitespace runs counted as
// one space), in order, and lists the others' source paths in its also_in: five copies of one
// license clause take one place, not five.
void CollapseDuplicates(std::vector<RankedChunk>& ranked);

class Pipeline {
 public:
  // Non-owning; what is given must outlive the pipeline. `vectors` (opened with a filter
  // resolver, or a backend that evaluates filters itself) and `embedder` are needed by
  // the dense and hybrid modes, `cross_encoder` when options.rerank is set; a missing one is a
  // kInvalidArgument error naming the mode.
  static Result<std::unique_ptr<Pipeline>> Create(store::DocumentStore& store,
                                                  store::VectorStore* vectors,
                                                  models::Embedder* embedder,
                                                  models::CrossEncoder* cross_encoder,
                                                  const PipelineOptions& options);

  // Best first, at most options.top_n results.
  Result<std::vector<RankedChunk>> Run(std::string_view query);
  // Same, with the stage's spans in `ctx` (retrieval/tracing.h): RETRIEVER spans (lexical, dense
  // with its query EMBEDDING), the fusion, RERANKER with input and output documents.
  Result<std::vector<RankedChunk>> Run(std::string_view query, RequestContext* ctx);
  // Same as Run, with the filter of this query instead of options.filter.
  Result<std::vector<RankedChunk>> Run(std::string_view query, const Filter& filter);
  // request.k candidates (instead of options.k), at most `top_n` kept; spans in request.ctx.
  // Identical chunks are collapsed (CollapseDuplicates) before the top n are taken, unless
  // `collapse_duplicates` is false (evaluation against judgements of every copy).
  Result<std::vector<RankedChunk>> Run(const SearchRequest& request, std::size_t top_n,
                                       bool collapse_duplicates = true);

  const PipelineOptions& options() const { return options_; }
  // "hybrid + rerank", "lexical", ...
  std::string Describe() const;

 private:
  Pipeline(store::DocumentStore& store, const PipelineOptions& options)
      : store_(store), options_(options), lexical_(store) {}

  store::DocumentStore& store_;
  PipelineOptions options_;
  LexicalRetriever lexical_;
  std::optional<DenseRetriever> dense_;
  std::optional<HybridRetriever> hybrid_;
  std::optional<Reranker> reranker_;
  Retriever* retriever_ = nullptr;  // one of the above
  std::string rerank_model_;        // the cross-encoder's id, for spans
};

// A pipeline seen as a Retriever (for eval): request.k candidates, all of them returned in the
// pipeline's final order (reranked ones first).
class PipelineRetriever : public Retriever {
 public:
  explicit PipelineRetriever(std::unique_ptr<Pipeline> pipeline) : pipeline_(std::move(pipeline)) {}
  Result<std::vector<Hit>> Search(const SearchRequest& request) override;
  std::string name() const override { return pipeline_->Describe(); }

 private:
  std::unique_ptr<Pipeline> pipeline_;
};

}  // namespace sieve::retrieval
