// store: the FAISS backend of VectorStore (URI "faiss:<dir>").
//
// One FAISS IndexIDMap2 keyed by chunk id over unit vectors (inner product = cosine). Below
// options.exact_threshold vectors the inner index is exact (IndexFlatIP); at or above it, HNSW
// (IndexHNSWFlat); crossing the threshold rebuilds. Two files in the index folder, each replaced
// atomically by Flush (temporary file, fsync, rename, fsync of the folder):
//   vectors.faiss  the FAISS index, followed by a trailer: XXH3-64 of the whole file, the index id
//                  and generation of the sieve.db it belongs to (store/index_identity.h)
//   vectors.json   manifest: the model that made the vectors, the count and a SHA-256 of the ids
// Open verifies the checksum and the FAISS header (dimension, count against the file size) before
// FAISS reads anything, and refuses vectors of another database (options.binding).
// Damaged files (unreadable index, corrupt manifest, index without manifest, ids that do not
// match the manifest) never fail Open: the store starts empty, damage() says why, and a
// Reconcile re-embeds. Filters are resolved to chunk ids through the FilterResolver given at
// open and searched under a FAISS IDSelector (payloads are ignored).
//
// Thread-safety as VectorStore: a shared mutex lets Search and the other const methods run
// concurrently; writes take it exclusively (and must still be serialised by the caller).
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <shared_mutex>
#include <string>

#include "store/index_lock.h"
#include "store/vector_store.h"

namespace faiss {
struct Index;
template <typename IndexT>
struct IndexIDMap2Template;  // faiss::IndexIDMap2 is IndexIDMap2Template<Index>
}  // namespace faiss

namespace sieve::store {

inline constexpr const char* kVectorIndexFile = "vectors.faiss";
inline constexpr const char* kVectorManifestFile = "vectors.json";
// Re-embedding fills a store in this folder of the index, then swaps it in (CommitStaging).
inline constexpr const char* kVectorStagingDir = "vectors.next";
// The swapped-in file, until the next Flush writes vectors.faiss again.
inline constexpr const char* kVectorStagedFile = "vectors.next.faiss";

class FaissVectorStore : public VectorStore {
 public:
  ~FaissVectorStore() override;
  FaissVectorStore(const FaissVectorStore&) = delete;
  FaissVectorStore& operator=(const FaissVectorStore&) = delete;

  // Opens the vectors of the index folder `dir` (which must exist: else kNotFound). Missing
  // files give an empty store with no model. Invalid HNSW parameters are kInvalidArgument.
  // Reads only.
  static Result<std::unique_ptr<FaissVectorStore>> Open(const std::filesystem::path& dir,
                                                        const VectorStoreOptions& options = {});

  // Removes the temporary files a killed save left in `dir` (vectors.faiss.tmp.PID,
  // vectors.json.tmp.PID, whatever the PID: a container's process may have the pid of the one
  // that was killed). `lock` is the index's writer lock, held by the caller: every save runs
  // under it, so none of these files is being written. Errors are ignored (a read-only folder
  // keeps them; they are harmless, only taking space). Thread-safe.
  static void RemoveStaleTemporaries(const std::filesystem::path& dir, const IndexWriteLock& lock);

  std::string uri() const override;
  std::optional<models::ModelInfo> model() const override;
  Status BindModel(const models::ModelInfo& model) override;
  Status Upsert(std::span<const VectorRecord> records) override;
  Status Remove(std::span<const std::int64_t> ids) override;
  Status Clear() override;
  Status Flush() override;
  Result<std::vector<std::int64_t>> Ids() const override;
  Result<std::size_t> size() const override;
  Result<std::vector<std::vector<VectorMatch>>> Search(std::span<const float> queries,
                                                       std::size_t n, std::size_t k,
                                                       const Filter& filter,
                                                       RequestContext* ctx) const override;
  std::string damage() const override;
  // A FaissVectorStore in <dir>/vectors.next with the same options.
  Result<std::unique_ptr<VectorStore>> OpenStaging() override;
  // Links the staged vectors.faiss beside the live one as vectors.next.faiss, then replaces the
  // manifest (naming that file) in one rename: the commit point. Then deletes the old file and
  // the staging folder, and serves the staged vectors.
  Status CommitStaging(VectorStore& staged) override;

  // FAISS specifics, for tests and diagnostics (thread-safe, readers).
  bool is_hnsw() const;
  // The stored (unit-length) vector of `id`; kNotFound when it has none.
  Result<std::vector<float>> Vector(std::int64_t id) const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  FaissVectorStore(std::filesystem::path dir, VectorStoreOptions options);
  Status LoadFiles();
  Status RebuildLocked(const std::vector<std::int64_t>& drop);  // fresh index without `drop`
  Status ResetIndexLocked(std::size_t expected_size);
  std::size_t SizeLocked() const;
  nlohmann::json ManifestLocked(const std::string& index_file, const IndexIdentity& identity) const;

  const std::filesystem::path dir_;
  const VectorStoreOptions options_;
  std::optional<models::ModelInfo> model_;
  std::unique_ptr<faiss::IndexIDMap2Template<faiss::Index>> index_;  // null until a model is bound
  std::string damage_;
  mutable std::shared_mutex mutex_;
};

}  // namespace sieve::store
