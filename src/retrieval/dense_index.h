// Opening the dense side of an index for ingest, ask, eval and serve: the vector store, the
// embedding model that made (or will make) its vectors, and -- separately -- the write that
// brings the vectors in line with the store.
//
// Reads and writes are apart. OpenDenseIndex() only reads: it opens the vector store, loads and
// binds the model, and reports how far the vectors are from the store (VectorStaleness); it
// never embeds and never writes. Searching a stale index is safe: vectors of deleted chunks are
// dropped when their chunks are fetched, and chunks without vectors are just not found densely.
// SyncDenseIndex() and ReembedIndex() write; their caller holds the index's
// store::IndexWriteLock.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "retrieval/model_loading.h"
#include "retrieval/vector_sync.h"
#include "store/document_store.h"
#include "store/vector_store.h"

namespace sieve::retrieval {

struct DenseIndexOptions {
  // The model the user named (flag or configuration); "" = none named. A named model must load.
  std::string embed_model;
  // The vector store's URI; "" = the FAISS files of the index folder (store::FaissUri).
  std::string vector_store_uri;
  store::FaissIndexOptions index;  // exact/HNSW threshold and HNSW parameters
  store::QdrantOptions qdrant;     // for a qdrant:// or qdrants:// vector_store_uri
  VectorSyncOptions sync;
  models::LoadModelOptions load;
};

struct DenseIndex {
  LoadedEmbedder embedder;                      // embedder.model null: no model available
  std::unique_ptr<store::VectorStore> vectors;  // null when embedder.model is null
  std::string model_spec;                       // the spec that was tried
  VectorStaleness staleness;                    // found on open (nothing fixed)
  store::ReconcileReport repaired;              // what SyncDenseIndex / ReembedIndex did
  std::string damage;  // why the saved vectors could not be used as they were
  bool available() const { return embedder.model != nullptr && vectors != nullptr; }
};

// The model to use: the one named; else the one recorded with the vectors; else
// kDefaultEmbedModel. Only a named model is required to load.
ModelRequest ChooseEmbedModel(const std::string& named,
                              const std::optional<models::ModelInfo>& recorded);

// Read path. Opens the vector store of `index_dir` (filters resolved through `store`, which
// must outlive the result), loads the chosen model and binds it in memory (a model other than
// the one that made the vectors is refused, with how to re-embed), and fills `staleness`. Never
// embeds, never writes. When no model was named and the default is not cached, returns a
// DenseIndex that is not available(), with the reason in embedder.unavailable.
Result<DenseIndex> OpenDenseIndex(store::DocumentStore& store,
                                  const std::filesystem::path& index_dir,
                                  const DenseIndexOptions& options);

// Re-reads the vector store of an available() `dense` (binding its model again and refreshing
// `staleness`): a caller that opened it before taking the writer lock calls this after, so the
// work of a writer that finished in between is kept, not redone or overwritten.
Status ReopenVectors(store::DocumentStore& store, const std::filesystem::path& index_dir,
                     const DenseIndexOptions& options, DenseIndex& dense);

// Write path. Embeds the chunks without vectors and drops stale vectors of an available()
// `dense`, flushing; sets dense.repaired and clears dense.staleness. The caller holds the
// index's writer lock (ingest, delete, reembed; ask only when it allows repair) and opened
// `dense` while holding it (else calls ReopenVectors first).
Status SyncDenseIndex(store::DocumentStore& store, DenseIndex& dense,
                      const VectorSyncOptions& options);

// Write path. Deletes the vectors of `index_dir` and embeds every chunk again with
// `options.embed_model` (required): how an index moves to another embedding model. The caller
// holds the index's writer lock.
Result<DenseIndex> ReembedIndex(store::DocumentStore& store, const std::filesystem::path& index_dir,
                                const DenseIndexOptions& options);

}  // namespace sieve::retrieval
