// DenseRetriever: the bi-encoder sieve. The query is embedded with the model's query prompt and
// matched against the chunk vectors (cosine); filters are applied exactly, through the ids of
// the chunks the store says pass them.
#pragma once

#include <string>
#include <vector>

#include "models/encoder.h"
#include "retrieval/retriever.h"
#include "store/document_store.h"
#include "store/vector_index.h"

namespace sieve::retrieval {

class DenseRetriever : public Retriever {
 public:
  // Non-owning: all three must outlive the retriever.
  DenseRetriever(store::DocumentStore& store, store::VectorIndex& vectors,
                 models::Embedder& embedder)
      : store_(store), vectors_(vectors), embedder_(embedder) {}

  // Hits carry stages.cosine and stages.dense_rank; score = cosine.
  Result<std::vector<Hit>> Search(const SearchRequest& request) override;
  std::string name() const override { return "dense"; }

 private:
  Result<std::vector<Hit>> SearchUntraced(const SearchRequest& request);
  store::DocumentStore& store_;
  store::VectorIndex& vectors_;
  models::Embedder& embedder_;
};

}  // namespace sieve::retrieval
