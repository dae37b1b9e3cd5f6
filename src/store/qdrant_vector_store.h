// store: the Qdrant backend of VectorStore (URI "qdrant://HOST[:PORT]/COLLECTION", or
// "qdrants://" for HTTPS), through Qdrant's REST API (v1.16, docs/redoc/v1.16.x/openapi.json of
// the Qdrant repository) and Sieve's HTTP client (retries with backoff on 429, 5xx and connection
// failures; Retry-After honoured; timeouts; cancellation through the RequestContext).
//
// One collection per index: one unnamed dense vector per point, Cosine distance, the model's
// dimension; point id = the chunk id (an unsigned integer, so a repeated or retried upsert
// replaces, never duplicates); payload {chunk_id, doc_id, doc_key, path, path_dirs, type, tags,
// content_hash} with keyword/integer payload indexes on the filtered fields. The model that made
// the vectors is recorded in the collection's metadata ("sieve_model"); a collection without it
// (not made by Sieve, or a Qdrant older than 1.16 that drops metadata) is refused. Filters are
// Qdrant filters: types -> match any on "type", each tag -> match on "tags", a path prefix that
// ends in "/" (or is a whole path) -> match on "path_dirs" (every directory prefix of the path and
// the path itself); any other path prefix is resolved to chunk ids through the FilterResolver and
// sent as a has_id condition.
//
// Durability: every write waits for Qdrant to apply it (wait=true), so writes are durable one by
// one and Flush only creates the collection of a bound model that has none yet. The collection
// is created lazily, at the first Upsert or Flush after BindModel (BindModel itself writes
// nothing). Upsert validates every record before sending anything; the batches that follow are
// sent one by one, so a network failure part-way leaves the earlier batches applied (a Reconcile
// completes them).
//
// Thread-safety as VectorStore: the HTTP client is thread-safe and the little local state (the
// model, whether the collection exists) sits under a shared mutex, so readers run concurrently;
// writes must be serialised by the caller.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>

#include "core/http.h"
#include "store/vector_store.h"

namespace sieve::store {

// The parts of a Qdrant URI.
struct QdrantLocation {
  std::string base_url;    // "http://host:6333" or "https://host:6333"
  std::string collection;  // letters, digits, '_', '-', '.'
};
// Parses "qdrant://HOST[:PORT]/COLLECTION" or "qdrants://..." (IPv6 hosts in brackets); the port
// defaults to 6333. kInvalidArgument naming the URI when malformed.
Result<QdrantLocation> ParseQdrantUri(const std::string& uri);

class QdrantVectorStore : public VectorStore {
 public:
  ~QdrantVectorStore() override;
  QdrantVectorStore(const QdrantVectorStore&) = delete;
  QdrantVectorStore& operator=(const QdrantVectorStore&) = delete;

  // Opens the collection named by `uri`: one GET of the collection (absent = an empty store with
  // no model). Errors: the URI (kInvalidArgument), bad options (kInvalidArgument), the server
  // unreachable (kUnavailable) or refusing the API key (kInvalidArgument naming HTTP 401/403),
  // a collection Sieve did not make or whose vectors are not Cosine (kInvalidArgument).
  static Result<std::unique_ptr<QdrantVectorStore>> Open(const std::string& uri,
                                                         const VectorStoreOptions& options = {});

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

  // Qdrant specifics. Removes every vector of the documents `doc_ids` with one delete by payload
  // filter per batch (no chunk ids needed). Writer.
  Status RemoveDocuments(std::span<const std::int64_t> doc_ids);
  const QdrantLocation& location() const { return location_; }

 private:
  QdrantVectorStore(std::string uri, QdrantLocation location, VectorStoreOptions options);

  // One request to `path` (under the base URL) with a JSON body ("" = none); the parsed JSON
  // answer of a 2xx, else an error naming the operation.
  Result<std::string> Call(const std::string& method, const std::string& path,
                           const std::string& body, std::string_view what,
                           RequestContext* ctx = nullptr, long* status = nullptr) const;
  Status LoadCollection();
  Status EnsureCollectionLocked();
  Status DeleteBySelector(const std::string& selector_json);

  const std::string uri_;
  const QdrantLocation location_;
  const VectorStoreOptions options_;
  std::shared_ptr<const http::Client> client_;
  std::optional<models::ModelInfo> model_;
  bool collection_exists_ = false;
  mutable std::shared_mutex mutex_;
};

}  // namespace sieve::store
