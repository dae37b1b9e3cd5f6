#include "retrieval/lexical_retriever.h"

#include "retrieval/tracing.h"

namespace sieve::retrieval {

Result<std::vector<Hit>> LexicalRetriever::Search(const SearchRequest& request) {
  Span span;
  if (request.ctx != nullptr)
    span = request.ctx->StartSpan("retrieve.lexical", SpanKind::kRetriever);
  auto hits = SearchUntraced(request);
  if (hits.ok()) RecordRetrievedDocuments(span, *hits, request);
  span.End(hits.status());
  return hits;
}

Result<std::vector<Hit>> LexicalRetriever::SearchUntraced(const SearchRequest& request) {
  store::LexicalQuery query;
  query.text = request.query;
  query.k = request.k;
  query.filter = request.filter;
  query.bm25 = bm25_;
  SIEVE_ASSIGN_OR_RETURN(auto matches, store_.SearchLexical(query));
  std::vector<Hit> hits;
  hits.reserve(matches.size());
  for (size_t i = 0; i < matches.size(); ++i) {
    Hit hit;
    hit.chunk_id = matches[i].chunk_id;
    hit.score = matches[i].score;
    hit.stages.bm25 = matches[i].score;
    hit.stages.bm25_rank = i + 1;
    hits.push_back(hit);
  }
  return hits;
}

}  // namespace sieve::retrieval
