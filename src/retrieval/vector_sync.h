// Keeping the dense vectors in line with the store, and which model made them.
//
// The store is the source of truth: SyncVectors() embeds every chunk that has no vector (new
// chunks after an ingest, all of them after a damaged or deleted vectors file) and drops vectors
// of chunks that no longer exist (deleted or re-ingested documents), then saves atomically. The
// same call serves ingest (after its SQLite transactions) and the repair on open.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "models/encoder.h"
#include "store/document_store.h"
#include "store/vector_index.h"

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
  std::size_t save_every = 1024;  // vectors between saves, so a killed run keeps its work
  std::function<void(std::size_t done, std::size_t total)> progress;
};

// Makes `vectors` (bound to the embedder's model) hold exactly the store's chunks.
Result<store::ReconcileReport> SyncVectors(store::DocumentStore& store, store::VectorIndex& vectors,
                                           models::Embedder& embedder,
                                           const VectorSyncOptions& options = {});

}  // namespace sieve::retrieval
