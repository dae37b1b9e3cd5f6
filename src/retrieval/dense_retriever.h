// DenseRetriever: the bi-encoder sieve. The query is embedded with the model's query prompt and
// matched against the chunk vectors (cosine) of a VectorStore; filters go to the vector store,
// which applies them exactly (pushed down, or resolved through the SQLite store for FAISS).
#pragma once

#include <string>
#include <vector>

#include "models/encoder.h"
#include "retrieval/retriever.h"
#include "store/vector_store.h"

namespace sieve::retrieval {

class DenseRetriever : public Retriever {
 public:
  // Non-owning: both must outlive the retriever.
  DenseRetriever(store::VectorStore& vectors, models::Embedder& embedder)
      : vectors_(vectors), embedder_(embedder) {}

  // Hits carry stages.cosine and stages.dense_rank; score = cosine. Ids of chunks deleted since
  // their vectors were written may appear; the pipeline drops them when fetching the chunks.
  Result<std::vector<Hit>> Search(const SearchRequest& request) override;
  std::string name() const override { return "dense"; }

 private:
  Result<std::vector<Hit>> SearchUntraced(const SearchRequest& request);
  store::VectorStore& vectors_;
  models::Embedder& embedder_;
};

}  // namespace sieve::retrieval
