// store: the dense vector index beside the SQLite store.
//
// VectorIndex keeps one L2-normalised vector per chunk, keyed by chunk_id, in a FAISS
// IndexIDMap2; inner product on unit vectors is cosine similarity. Below `exact_threshold`
// vectors the index is exact (IndexFlatIP); at or above it, HNSW (IndexHNSWFlat). It lives in two
// files in the index directory, each replaced atomically (temporary file, fsync, rename):
//   vectors.faiss  the FAISS index
//   vectors.json   manifest: the model that made the vectors, the count and a SHA-256 of the ids
// The SQLite store is the source of truth. Reconcile() makes the index hold exactly the store's
// chunk ids (removing stale vectors, embedding missing ones), so a crash between the store's
// commit and the vector save, a deleted or corrupt vectors file, or a half-finished ingest is
// repaired instead of serving wrong results. Vectors made by one model are never mixed with
// another's: BindModel() refuses a different model and says how to re-embed.
//
// Not safe for concurrent writes; concurrent Search() calls are fine (a shared lock guards them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/encoder.h"

namespace faiss {
struct Index;
template <typename IndexT>
struct IndexIDMap2Template;  // faiss::IndexIDMap2 is IndexIDMap2Template<Index>
}  // namespace faiss

namespace sieve::store {

inline constexpr const char* kVectorIndexFile = "vectors.faiss";
inline constexpr const char* kVectorManifestFile = "vectors.json";

struct VectorIndexOptions {
  std::size_t exact_threshold = 10000;  // fewer vectors: exact search; this many or more: HNSW
  int hnsw_m = 32;                      // HNSW graph degree
  int hnsw_ef_construction = 200;       // HNSW build-time beam width
  int hnsw_ef_search = 128;             // HNSW query-time beam width (raised to k when smaller)
};

struct VectorMatch {
  std::int64_t chunk_id = 0;
  float score = 0;  // cosine similarity
};

// True when vectors made by `a` and `b` are interchangeable (same model, revision, dimension,
// pooling, normalisation and query prompt).
bool SameEmbeddingModel(const models::ModelInfo& a, const models::ModelInfo& b);
// One line naming a model: "BAAI/bge-small-en-v1.5 @abc123 (384-d, cls)".
std::string DescribeModel(const models::ModelInfo& model);

class VectorIndex {
 public:
  ~VectorIndex();
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  // Opens the index in `dir` (the directory must exist). Missing files give an empty index with
  // no model. Damaged files (unreadable index, corrupt manifest, index without manifest) are not
  // an error: the index starts empty, damage() says why, and Reconcile() re-embeds everything.
  static Result<std::unique_ptr<VectorIndex>> Open(const std::filesystem::path& dir,
                                                   const VectorIndexOptions& options = {});

  // The model the vectors were made with; nullopt for a new index.
  const std::optional<models::ModelInfo>& model() const { return model_; }
  // Adopts `model` for a new index; accepts the same model again; refuses a different one with
  // kInvalidArgument and a message naming both models and the `sieve reembed` command.
  Status BindModel(const models::ModelInfo& model);

  // Adds vectors (normalised here) under chunk ids, replacing any the ids already had.
  // Switches to HNSW when the size crosses the threshold.
  Status Upsert(const std::vector<std::int64_t>& ids,
                const std::vector<std::vector<float>>& vectors);
  // Removes the ids present (absent ids are ignored).
  Status Remove(const std::vector<std::int64_t>& ids);
  // Forgets every vector and the model, and deletes the files (used to re-embed with another
  // model).
  Status Clear();

  // The k most similar chunks to `query` (normalised here), best first. With `allowed`, only
  // those chunk ids are considered (exact under the filter for the flat index; HNSW searches its
  // graph restricted to them).
  Result<std::vector<VectorMatch>> Search(const std::vector<float>& query, std::size_t k,
                                          const std::vector<std::int64_t>* allowed = nullptr) const;

  // Writes vectors.faiss then vectors.json, each atomically.
  Status Save();

  std::size_t size() const;
  std::vector<std::int64_t> Ids() const;  // ascending
  bool Contains(std::int64_t id) const;
  bool is_hnsw() const;
  // The stored vector of `id` (unit length).
  Result<std::vector<float>> Vector(std::int64_t id) const;
  // Why the files on disk could not be used as they were ("" when they could).
  const std::string& damage() const { return damage_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  VectorIndex(std::filesystem::path dir, VectorIndexOptions options);
  Status LoadFiles();
  Status RebuildLocked(const std::vector<std::int64_t>& drop);  // fresh index without `drop`
  Status ResetIndexLocked(std::size_t expected_size);
  std::size_t SizeLocked() const;

  std::filesystem::path dir_;
  VectorIndexOptions options_;
  std::optional<models::ModelInfo> model_;
  std::unique_ptr<faiss::IndexIDMap2Template<faiss::Index>> index_;  // null until a model is bound
  std::string damage_;
  mutable std::shared_mutex mutex_;
};

// SHA-256 (hex) of ids sorted ascending, as 8-byte little-endian integers: the manifest's
// checksum and a cheap way to compare id sets.
std::string IdsChecksum(std::vector<std::int64_t> ids);

struct ReconcileOptions {
  std::size_t batch_size = 64;    // chunks per embed call
  std::size_t save_every = 2048;  // save after this many new vectors, so a killed run keeps them
  // Called after each batch with (embedded so far, total missing).
  std::function<void(std::size_t, std::size_t)> progress;
};

struct ReconcileReport {
  std::size_t stale_removed = 0;     // vectors whose chunk no longer exists
  std::size_t missing_embedded = 0;  // chunks that had no vector
  bool saved = false;                // files were (re)written
};

// Vectors for chunk ids, in order (the caller fetches the texts and runs the embedder).
using EmbedChunks =
    std::function<Result<std::vector<std::vector<float>>>(const std::vector<std::int64_t>& ids)>;

// Makes `index` hold a vector for exactly `store_ids`: removes the others, embeds the missing in
// batches through `embed`, and saves whenever anything changed (also every save_every vectors).
// The index must have a model bound.
Result<ReconcileReport> Reconcile(VectorIndex& index, const std::vector<std::int64_t>& store_ids,
                                  const EmbedChunks& embed, const ReconcileOptions& options = {});

}  // namespace sieve::store
