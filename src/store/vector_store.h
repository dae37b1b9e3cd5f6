// store: the dense vectors beside the SQLite store, behind one interface in the manner of
// FAISS's Index: many backends (FAISS files today, a Qdrant collection later), one contract.
//
// A VectorStore keeps one vector per chunk, keyed by chunk id, made by one embedding model
// (bound with BindModel; vectors of two models are never mixed). Scores are cosine similarities:
// every vector and query is L2-normalised by the store. The SQLite store is the source of truth;
// a vector store may hold stale ids (chunks deleted since) or lack some (chunks not embedded
// yet): readers drop ids the SQLite store does not return, and writers bring the vectors in line
// with Reconcile() (retrieval::SyncVectors).
//
// Thread-safety: const methods (Search, Ids, size, model, damage) are safe to call from many
// threads at once, also while one writer runs (each call sees the state before or after a
// write, never half of it). Writes (BindModel, Upsert, Remove, Clear, Flush) must be serialised
// by the caller: one writer per index, which across processes means holding the index's
// IndexWriteLock (store/index_lock.h). Readers never take that lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/status.h"
#include "models/encoder.h"
#include "store/filter.h"
#include "store/index_identity.h"
#include "store/index_lock.h"

namespace sieve::store {

// Below this many vectors the FAISS backend searches exactly (IndexFlatIP); at or above it,
// with HNSW. The one default of the exact/HNSW threshold: ingest, ask, eval and reembed use it
// unless the configuration names another value.
inline constexpr std::size_t kDefaultExactThreshold = 20000;

// Index kind and HNSW parameters of the FAISS backend; the defaults here are the only ones.
struct FaissIndexOptions {
  std::size_t exact_threshold = kDefaultExactThreshold;  // fewer vectors: exact; else HNSW
  int hnsw_m = 32;                                       // HNSW graph degree
  int hnsw_ef_construction = 200;                        // HNSW build-time beam width
  int hnsw_ef_search = 64;  // HNSW query-time beam width (raised to k when smaller)
};

// Settings of the Qdrant backend (URI "qdrant://HOST:PORT/COLLECTION", or "qdrants://" for
// TLS); the defaults here are the only ones. The *_json fields are passed through to Qdrant's
// create-collection request as they are (JSON objects, "" = Qdrant's default); the integers, when
// non-zero, likewise. They only matter when Sieve creates the collection.
// The variable that holds the Qdrant API key unless qdrant.api_key_env names another
// (SIEVE_QDRANT_API_KEY wins over both).
inline constexpr const char* kDefaultQdrantApiKeyEnv = "QDRANT_API_KEY";

struct QdrantOptions {
  std::string api_key;                   // sent as the `api-key` header when non-empty
  double timeout_s = 30;                 // one HTTP attempt, connect to last byte
  double connect_timeout_s = 10;         // connecting to the server
  int retries = 3;                       // extra attempts on 429, 5xx and connection failures
  std::size_t batch_size = 256;          // points per upsert / delete request
  int shard_number = 0;                  // shard_number; 0 = Qdrant's default
  int replication_factor = 0;            // replication_factor; 0 = Qdrant's default
  int write_consistency_factor = 0;      // write_consistency_factor; 0 = Qdrant's default
  std::string hnsw_config_json;          // hnsw_config, e.g. {"m": 32, "ef_construct": 200}
  std::string quantization_config_json;  // quantization_config, e.g. {"scalar": {"type": "int8"}}
};

// Chunk ids that pass a filter, ascending, from the source of truth (the SQLite store). Must be
// safe to call from the threads that call Search concurrently.
using FilterResolver = std::function<Result<std::vector<std::int64_t>>(const Filter&)>;

struct VectorStoreOptions {
  FaissIndexOptions faiss;
  QdrantOptions qdrant;
  // How a backend that cannot evaluate filters itself (FAISS) learns which chunks pass one.
  // Without it, Search with a non-empty filter fails with kInvalidArgument. (Qdrant evaluates
  // filters on stored payloads and asks it only for a path prefix that does not end in "/".)
  FilterResolver resolve_filter;
  // The database the vectors belong to (DocumentStore::Binding). Unset: not checked (tests).
  VectorBinding binding;
};

// What a vector is about; a backend may store it to evaluate filters itself (Qdrant) or ignore
// it (FAISS resolves filters through FilterResolver).
struct VectorPayload {
  std::int64_t doc_id = 0;
  std::string doc_key;
  std::string source_path;
  std::string type;
  std::vector<std::string> tags;
  std::string content_hash;
};

struct VectorRecord {
  std::int64_t chunk_id = 0;
  std::vector<float> vector;  // the model's dimension; need not be unit length
  VectorPayload payload;
};

struct VectorMatch {
  std::int64_t chunk_id = 0;
  float score = 0;  // cosine similarity
};

// True when vectors made by `a` and `b` are interchangeable (same model, revision, dimension,
// pooling, normalisation, query prompt and precision).
bool SameEmbeddingModel(const models::ModelInfo& a, const models::ModelInfo& b);
// One line naming a model: "BAAI/bge-small-en-v1.5 @abc123 (384-d, cls pooling)" (", int8"
// appended for int8 models).
std::string DescribeModel(const models::ModelInfo& model);
// Ok when `stored` and `model` have the same precision; else kInvalidArgument telling how to
// fix it (the matching --precision, or `sieve LOCATION_FLAG reembed --precision`). `where` names
// the index in the message; `location_flag` is how the CLI names it ("--index DIR").
Status PrecisionMismatch(const models::ModelInfo& stored, const models::ModelInfo& model,
                         const std::string& where, const std::string& location_flag);

class VectorStore {
 public:
  virtual ~VectorStore() = default;

  // The URI the store was opened with ("faiss:/path/to/index").
  virtual std::string uri() const = 0;

  // The model the vectors were made with; nullopt for a new (or damaged) store. A copy.
  virtual std::optional<models::ModelInfo> model() const = 0;
  // Adopts `model` for a store without one; accepts the same model again (SameEmbeddingModel);
  // refuses a different one with kInvalidArgument and a message naming both models and the
  // `sieve reembed` command. Nothing is written until Flush. Writer.
  virtual Status BindModel(const models::ModelInfo& model) = 0;

  // Adds the records' vectors (normalised by the store), replacing any vector the chunk ids
  // already had. All or nothing: a wrong dimension, a non-finite value or an id given twice is
  // kInvalidArgument / kInvalidInput and changes nothing. Needs a bound model (else kInternal).
  // Visible to Search at once; durable after Flush. Writer.
  virtual Status Upsert(std::span<const VectorRecord> records) = 0;
  // Removes the ids present; absent ids are ignored. Durable after Flush. Writer.
  virtual Status Remove(std::span<const std::int64_t> ids) = 0;
  // Forgets every vector and the model, durably at once (how an index moves to another
  // model). Writer.
  virtual Status Clear() = 0;
  // Makes every write so far durable, atomically: after a crash the store reopens as of the
  // last successful Flush. Writer.
  virtual Status Flush() = 0;

  // The chunk ids that have a vector, ascending.
  virtual Result<std::vector<std::int64_t>> Ids() const = 0;
  virtual Result<std::size_t> size() const = 0;

  // For each of the `n` queries (`queries` holds n x d floats, row-major, d = the model's
  // dimension; normalised by the store), the at most `k` chunks with the highest cosine, best
  // first (ties: lower chunk id first where the backend is exact). With a non-empty `filter`,
  // only chunks passing it are considered; the filter is exact (every passing chunk can be
  // returned). No model bound or an empty store: n empty lists. `ctx` (may be null) is checked
  // before searching (kTimeout/kCancelled) and gets a "vector_store.search" span.
  virtual Result<std::vector<std::vector<VectorMatch>>> Search(std::span<const float> queries,
                                                               std::size_t n, std::size_t k,
                                                               const Filter& filter,
                                                               RequestContext* ctx) const = 0;

  // Why the durable data could not be used as it was when opened ("" when it could): the store
  // then starts empty (or without the damaged part) and a Reconcile re-embeds; opening never
  // fails for damaged data. Cleared by a successful Flush.
  virtual std::string damage() const = 0;

  // Re-embedding without a gap: a store over separate data at the same location, which a
  // writer fills and then swaps in with CommitStaging in one atomic step; until then this
  // store's vectors (and model) stay as they are, also across a crash. Opening it again after a
  // crash finds what was staged so far. Writer. Default: kUnsupported (the caller then clears
  // and re-embeds in place).
  virtual Result<std::unique_ptr<VectorStore>> OpenStaging() {
    return Status::Unsupported("vector store " + uri() + " cannot stage a re-embedding");
  }
  virtual Status CommitStaging(VectorStore& /*staged*/) {
    return Status::Unsupported("vector store " + uri() + " cannot stage a re-embedding");
  }
};

// Opens a vector store by URI:
//   faiss:<dir>                        FAISS files in the index folder <dir> (which must exist)
//   qdrant://HOST[:PORT]/COLLECTION    a Qdrant collection over HTTP (port 6333 by default)
//   qdrants://HOST[:PORT]/COLLECTION   the same over HTTPS
// Any other scheme is kUnsupported ("unsupported vector store scheme ..."). Opening reads; it
// never writes (Qdrant: one GET of the collection, so an unreachable server or a refused API key
// fails here).
Result<std::unique_ptr<VectorStore>> OpenVectorStore(const std::string& uri,
                                                     const VectorStoreOptions& options = {});

// Removes what a killed save of the store at `uri` left behind (FAISS: its temporary files, see
// FaissVectorStore::RemoveStaleTemporaries; other backends keep nothing locally). `lock` is the
// index's writer lock, held by the caller. Errors are ignored. Thread-safe.
void RemoveStaleTemporaries(const std::string& uri, const IndexWriteLock& lock);

// The URI of the FAISS vectors of an index folder: "faiss:" + dir.
std::string FaissUri(const std::filesystem::path& dir);

// SHA-256 (hex) of ids sorted ascending, as 8-byte little-endian integers: the FAISS manifest's
// checksum and a cheap way to compare id sets.
std::string IdsChecksum(std::vector<std::int64_t> ids);

// ---- Reconcile: the write path that brings a vector store in line with the SQLite store ----

struct ReconcileOptions {
  std::size_t batch_size = 64;    // chunks per embed call
  std::size_t save_every = 2048;  // Flush after this many new vectors, so a killed run keeps them
  // Called after each batch with (embedded so far, total missing).
  std::function<void(std::size_t, std::size_t)> progress;
};

struct ReconcileReport {
  std::size_t stale_removed = 0;     // vectors whose chunk no longer exists
  std::size_t missing_embedded = 0;  // chunks that had no vector
  std::size_t vanished = 0;          // chunks deleted while they were being embedded (skipped)
  bool saved = false;                // Flush ran
};

// Records (vector and payload) for chunk ids, in order: the caller fetches the texts and runs
// the embedder. A chunk deleted since its id was listed has no record (the others keep their
// order).
using EmbedChunks =
    std::function<Result<std::vector<VectorRecord>>(const std::vector<std::int64_t>& ids)>;

// Makes `vectors` hold a vector for exactly `store_ids`: removes the others, embeds the missing
// in batches through `embed`, and flushes whenever anything changed or the store reported
// damage (also every save_every vectors). The store must have a model bound. A write: the
// caller holds the index's writer lock.
Result<ReconcileReport> Reconcile(VectorStore& vectors, const std::vector<std::int64_t>& store_ids,
                                  const EmbedChunks& embed, const ReconcileOptions& options = {});

}  // namespace sieve::store
