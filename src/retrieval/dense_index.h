// Opening the dense side of an index for ingest, ask, eval and serve: the vector index, the
// embedding model that made (or will make) its vectors, and the repair that brings the vectors
// in line with the store before anything is served.
#pragma once

#include <memory>
#include <string>

#include "retrieval/model_loading.h"
#include "retrieval/vector_sync.h"
#include "store/document_store.h"
#include "store/vector_index.h"

namespace sieve::retrieval {

struct DenseIndexOptions {
  // The model the user named (flag or configuration); "" = none named. A named model must load.
  std::string embed_model;
  store::VectorIndexOptions index;
  VectorSyncOptions sync;
  models::LoadModelOptions load;
};

struct DenseIndex {
  LoadedEmbedder embedder;                      // embedder.model null: no model available
  std::unique_ptr<store::VectorIndex> vectors;  // null when embedder.model is null
  std::string model_spec;                       // the spec that was tried
  store::ReconcileReport repaired;              // what the sync did
  std::string damage;  // why the saved vectors could not be used as they were
  bool available() const { return embedder.model != nullptr && vectors != nullptr; }
};

// The model to use: the one named; else the one recorded with the index's vectors; else
// kDefaultEmbedModel. Only a named model is required to load.
ModelRequest ChooseEmbedModel(const std::string& named, const store::VectorIndex& vectors);

// Opens `index_dir`'s vectors, loads the chosen model, binds it (a model other than the one that
// made the vectors is refused, with how to re-embed), and syncs the vectors with the store
// (embedding chunks without vectors, dropping stale ones). When no model was named and the
// default is not cached, returns a DenseIndex that is not available(), with the reason in
// embedder.unavailable.
Result<DenseIndex> OpenDenseIndex(store::DocumentStore& store,
                                  const std::filesystem::path& index_dir,
                                  const DenseIndexOptions& options);

// Deletes the vectors of `index_dir` and embeds every chunk again with `options.embed_model`
// (required): how an index moves to another embedding model.
Result<DenseIndex> ReembedIndex(store::DocumentStore& store, const std::filesystem::path& index_dir,
                                const DenseIndexOptions& options);

}  // namespace sieve::retrieval
