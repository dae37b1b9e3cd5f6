#include "retrieval/dense_retriever.h"

#include <algorithm>
#include <cctype>

#include "retrieval/tracing.h"

namespace sieve::retrieval {

Result<std::vector<Hit>> DenseRetriever::Search(const SearchRequest& request) {
  Span span;
  if (request.ctx != nullptr) span = request.ctx->StartSpan("retrieve.dense", SpanKind::kRetriever);
  auto hits = SearchUntraced(request);
  if (hits.ok()) RecordRetrievedDocuments(span, *hits, request);
  span.End(hits.status());
  return hits;
}

Result<std::vector<Hit>> DenseRetriever::SearchUntraced(const SearchRequest& request) {
  if (std::all_of(request.query.begin(), request.query.end(),
                  [](unsigned char c) { return std::isspace(c) != 0; })) {
    return Status::InvalidArgument("empty query");
  }
  std::vector<Hit> hits;
  if (request.k == 0) return hits;
  Span embed_span;
  if (request.ctx != nullptr) {
    embed_span = request.ctx->StartSpan("embed.query", SpanKind::kEmbedding);
    if (request.ctx->recording()) {
      embed_span.SetAttribute("embedding.model_name", embedder_.info().id);
      embed_span.SetAttribute("embedding.embeddings.0.embedding.text", request.query);
    }
  }
  auto embedded_or = embedder_.Embed({request.query}, /*is_query=*/true);
  embed_span.End(embedded_or.status());
  SIEVE_ASSIGN_OR_RETURN(auto embedded, std::move(embedded_or));
  if (embedded.size() != 1) {
    return Status::Internal("embedder returned " + std::to_string(embedded.size()) +
                            " vectors for one query");
  }
  SIEVE_ASSIGN_OR_RETURN(auto matches,
                         vectors_.Search(embedded[0], 1, request.k, request.filter, request.ctx));
  if (matches.size() != 1) return Status::Internal("vector store: one query, not one result list");
  hits.reserve(matches[0].size());
  for (std::size_t i = 0; i < matches[0].size(); ++i) {
    Hit hit;
    hit.chunk_id = matches[0][i].chunk_id;
    hit.score = matches[0][i].score;
    hit.stages.cosine = matches[0][i].score;
    hit.stages.dense_rank = i + 1;
    hits.push_back(hit);
  }
  return hits;
}

}  // namespace sieve::retrieval
