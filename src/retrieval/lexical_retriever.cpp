#include "retrieval/lexical_retriever.h"

namespace sieve::retrieval {

Result<std::vector<Hit>> LexicalRetriever::Search(const SearchRequest& request) {
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
