// Keeping the dense vectors in line with the store, and which model made them: the write path.
//
// The store is the source of truth: SyncVectors() embeds every chunk that has no vector (new
// chunks after an ingest, all of them after a damaged or deleted vectors file) and drops vectors
// of chunks that no longer exist (deleted or re-ingested documents), then flushes atomically.
// Every function here writes: the caller holds the index's store::IndexWriteLock, so one process
// (or one Engine) writes an index at a time. Reading (search, ask) needs none of this: stale
// vector ids are dropped when their chunks are fetched, missing ones are simply not found.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "models/encoder.h"
#include "store/document_store.h"
#include "store/vector_store.h"

namespace sieve::retrieval {

// What the bi-encoder and the cross-encoder read for a chunk: its text, preceded by the document
// title when the text does not already start with it.
std::string PassageText(const store::ChunkRecord& chunk);

// The identity recorded with the vectors: the model as loaded, with `id` set to the Hub id the
// user named (without "@revision"; the commit is in `revision`) or to the absolute folder path,
// so the same model named the same way is recognised from any working directory.
models::ModelInfo EmbeddingIdentity(std::string_view spec, const models::ModelInfo& loaded);

struct VectorSyncOptions {
  std::size_t batch_size = 32;    // chunks per embedder call
  std::size_t save_every = 1024;  // vectors between flushes, so a killed run keeps its work
  std::function<void(std::size_t done, std::size_t total)> progress;
};

// How far the vectors are from the store (read only; nothing is fixed).
struct VectorStaleness {
  std::size_t missing = 0;  // chunks without a vector
  std::size_t stale = 0;    // vectors of chunks the store no longer has
  std::string damage;       // the vector store's damage() when opened
  bool in_sync() const { return missing == 0 && stale == 0 && damage.empty(); }
};
Result<VectorStaleness> CheckVectors(store::DocumentStore& store,
                                     const store::VectorStore& vectors);

// A resolver for store::VectorStoreOptions: the chunk ids of `store` that pass a filter.
// `store` must outlive the vector store; its thread-safety is the resolver's.
store::FilterResolver StoreFilterResolver(store::DocumentStore& store);

// Makes `vectors` (bound to the embedder's model) hold exactly the store's chunks, with each
// record's payload (document id, key, path, type, tags, content hash). Writer.
Result<store::ReconcileReport> SyncVectors(store::DocumentStore& store, store::VectorStore& vectors,
                                           models::Embedder& embedder,
                                           const VectorSyncOptions& options = {});

// Drops the vectors of chunks the store no longer has and flushes (no model needed): after a
// delete. Returns how many were removed. Writer.
Result<std::size_t> RemoveStaleVectors(store::DocumentStore& store, store::VectorStore& vectors);

}  // namespace sieve::retrieval
