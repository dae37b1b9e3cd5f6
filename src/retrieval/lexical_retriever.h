// LexicalRetriever: BM25 over the store's FTS5 index (Snowball-stemmed terms, OR query).
#pragma once

#include <string>
#include <vector>

#include "retrieval/retriever.h"
#include "store/document_store.h"

namespace sieve::retrieval {

class LexicalRetriever : public Retriever {
 public:
  // `store` must outlive the retriever.
  explicit LexicalRetriever(store::DocumentStore& store, store::Bm25Parameters bm25 = {})
      : store_(store), bm25_(bm25) {}

  // Hits carry stages.bm25 and stages.bm25_rank; score = BM25 (higher is better).
  Result<std::vector<Hit>> Search(const SearchRequest& request) override;
  std::string name() const override { return "lexical"; }

 private:
  Result<std::vector<Hit>> SearchUntraced(const SearchRequest& request);
  store::DocumentStore& store_;
  store::Bm25Parameters bm25_;
};

}  // namespace sieve::retrieval
