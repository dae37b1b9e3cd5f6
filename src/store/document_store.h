// store: where ingested documents live.
//
// Interface of the stage: one SQLite database per index (`<index>/sieve.db`, WAL mode) holding
// documents, their chunks, user tags, key/value metadata and an FTS5 full-text index over the
// chunks (BM25). Chunk ids are never reused (AUTOINCREMENT), so a vector index keyed by chunk_id
// stays valid: a chunk that changes gets a new id. Writes happen inside a Transaction; each file
// is ingested in one transaction (ingest.h), so a killed process leaves a valid index.
//
// A DocumentStore is one SQLite connection: use it from one thread at a time. Several processes
// may open the same index (WAL + busy timeout).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/filter.h"
#include "store/index_identity.h"
#include "text/chunker.h"

struct sqlite3;

namespace sieve::store {

struct FtsRowLengths;  // store/fts_tokenizer.h

inline constexpr int kSchemaVersion = 1;
inline constexpr const char* kDatabaseFileName = "sieve.db";

// The store's name for the metadata filter (store/filter.h).
using ChunkFilter = Filter;

// A document as stored (without its chunks).
struct DocumentInfo {
  std::int64_t doc_id = 0;
  std::string key;  // unique: absolute file path, or a BEIR record's _id
  std::string source_path;
  std::string type;  // text::DocumentTypeName()
  std::string title;
  std::string content_hash;  // sha256 hex of the file bytes (of the record for BEIR)
  std::uint64_t bytes = 0;
  std::string chunking;  // chunker settings the chunks were made with, e.g. "max=256,overlap=32"
  std::vector<std::string> tags;  // sorted
  std::int64_t ingested_at = 0;   // unix seconds
  std::size_t chunk_count = 0;
};

// What PutDocument writes: the document row plus all of its chunks.
struct DocumentInput {
  std::string key;
  std::string source_path;
  std::string type;
  std::string title;
  std::string content_hash;
  std::uint64_t bytes = 0;
  std::string chunking;
  std::vector<std::string> tags;
  std::vector<text::Chunk> chunks;
};

// A chunk with the metadata of its document: what retrieval, eval and generation need to show,
// score and cite it.
struct ChunkRecord {
  std::int64_t chunk_id = 0;
  std::int64_t doc_id = 0;
  std::size_t ordinal = 0;
  std::size_t begin = 0;  // byte offsets into the document's extracted text
  std::size_t end = 0;
  std::string section;
  int page = 0;
  // Lines of the source file the chunk starts and ends on (0 = none: the format has no lines,
  // or the chunk was stored by a Sieve that did not record them).
  std::size_t line = 0;
  std::size_t line_end = 0;
  std::string text;
  std::string doc_key;
  std::string source_path;
  std::string title;
  std::string type;
};

// One BM25 match from the FTS5 index.
struct LexicalMatch {
  std::int64_t chunk_id = 0;
  double score = 0;  // BM25, higher is better
};

// BM25 parameters and per-column term weights (the FTS5 columns are chunk text, section title
// and document title). The defaults are the usual k1 = 1.2, b = 0.75. On Cranfield (all 225
// queries, nDCG@10) they give 0.3664 with the Snowball tokenizer against 0.3643 with FTS5's
// Porter tokenizer; k1 = 1, b = 0.5 without the title column (Xapian's setup) gives 0.3482,
// next to Xapian's own 0.3496.
struct Bm25Parameters {
  double k1 = 1.2;
  double b = 0.75;
  double text_weight = 1.0;
  double section_weight = 1.0;
  double title_weight = 1.0;
};

struct LexicalQuery {
  std::string text;  // free text; never parsed as FTS5 syntax
  std::size_t k = 50;
  ChunkFilter filter;
  Bm25Parameters bm25;
};

struct StoreStats {
  std::size_t documents = 0;
  std::size_t chunks = 0;
  std::uint64_t bytes = 0;  // sum of documents.bytes
  std::uint64_t database_bytes = 0;
  std::vector<std::pair<std::string, std::size_t>> documents_by_type;  // sorted by type
  std::vector<std::pair<std::string, std::size_t>> documents_by_tag;   // sorted by tag
};

struct OpenOptions {
  bool create = true;  // create the directory and database when missing
  // Read-only: the file is opened with SQLITE_OPEN_READONLY and `PRAGMA query_only`, the schema
  // is checked but never written, and the connection never takes the write lock (a reader is
  // never blocked by a long write transaction, and a read-only folder can be searched). Writes
  // fail with kIoError. Implies !create.
  bool read_only = false;
  int busy_timeout_ms = 10000;
};

// Turns free text into an FTS5 MATCH expression: an OR of quoted terms (whitespace-separated
// words, with FTS5 quoting), so user text can never raise an FTS5 syntax error. Words without a
// letter or digit are dropped; repeated words are kept once. Empty when nothing is left.
std::string BuildFtsQuery(std::string_view text);

class DocumentStore {
 public:
  // Opens (and by default creates) `<index_dir>/sieve.db`, applies the schema, checks its version.
  static Result<std::unique_ptr<DocumentStore>> Open(const std::filesystem::path& index_dir,
                                                     const OpenOptions& options = {});
  ~DocumentStore();
  DocumentStore(const DocumentStore&) = delete;
  DocumentStore& operator=(const DocumentStore&) = delete;

  const std::filesystem::path& database_path() const { return database_path_; }

  // RAII write transaction (BEGIN IMMEDIATE). Rolled back unless Commit() succeeds.
  class Transaction {
   public:
    Transaction(Transaction&& other) noexcept;
    Transaction& operator=(Transaction&&) = delete;
    ~Transaction();
    Status Commit();

   private:
    friend class DocumentStore;
    explicit Transaction(DocumentStore* store) : store_(store) {}
    DocumentStore* store_;  // null once committed, rolled back or moved from
  };
  Result<Transaction> BeginTransaction();

  // --- writes (call inside a Transaction to make several of them atomic) ---

  // Inserts the document, or replaces the existing one with the same key: old chunks (and their
  // FTS rows) are deleted, new chunks get new ids. Keeps doc_id. Returns the doc_id.
  Result<std::int64_t> PutDocument(const DocumentInput& input);
  // Replaces the tags of a document.
  Status SetTags(std::int64_t doc_id, const std::vector<std::string>& tags);
  // Deletes a document, its chunks, FTS rows and tags. False when no such key.
  Result<bool> DeleteDocument(const std::string& key);
  Status SetMeta(const std::string& key, const std::string& value);
  // Gives the document keyed `from` a new key and source path (a file that was moved or renamed):
  // its doc_id, chunks (and chunk ids, so their vectors stay valid), title and tags are kept;
  // the full-text index follows. False when no such key; fails (kInvalidInput from the unique
  // key) when `to_key` is taken.
  Result<bool> MoveDocument(const std::string& from, const std::string& to_key,
                            const std::string& to_source);

  // --- reads ---

  Result<std::optional<DocumentInfo>> FindDocument(const std::string& key);
  // Keys of the documents ingested from one source file, sorted.
  Result<std::vector<std::string>> KeysFromSource(const std::string& source_path);
  Result<std::vector<DocumentInfo>> ListDocuments();
  Result<std::optional<std::string>> GetMeta(const std::string& key);

  // The database's identity (store/index_identity.h).
  Result<IndexIdentity> Identity();
  // Raises vectors_generation by one in its own committed transaction (or inside the caller's)
  // and returns the new identity. Write.
  Result<IndexIdentity> AdvanceGeneration();
  // A VectorBinding over this connection: current() = Identity(), advance (unless read_only) =
  // AdvanceGeneration(). The store must outlive the binding; thread-safety is this connection's.
  VectorBinding Binding(bool read_only = false);

  // A read snapshot: every read on this connection until the snapshot ends sees the database as
  // of its first read (one WAL read transaction), whatever writers commit meanwhile. Nested
  // inside an open transaction it does nothing. RAII; use from the connection's thread.
  class ReadSnapshot {
   public:
    ReadSnapshot(ReadSnapshot&& other) noexcept;
    ReadSnapshot& operator=(ReadSnapshot&&) = delete;
    ~ReadSnapshot();

   private:
    friend class DocumentStore;
    explicit ReadSnapshot(DocumentStore* store) : store_(store) {}
    DocumentStore* store_;  // null when nothing to end
  };
  Result<ReadSnapshot> BeginReadSnapshot();

  // Ids of all chunks whose document passes the filter, ascending.
  Result<std::vector<std::int64_t>> ListChunkIds(const ChunkFilter& filter = {});
  // Chunks by id, in the order of `chunk_ids`; ids that do not exist are left out.
  Result<std::vector<ChunkRecord>> GetChunks(std::span<const std::int64_t> chunk_ids);

  // The index's inverse document frequency of a word (tokenized and stemmed as the index is),
  // over the chunk text: ln(1 + (N - n + 0.5) / (n + 0.5)) with N chunks, n of them holding the
  // word. nullopt for a word the tokenizer drops or that makes more than one term.
  Result<std::optional<double>> TermIdf(std::string_view word);

  // BM25 over the FTS5 index, best first (score descending, then chunk id ascending), at most
  // query.k matches. Scored phrase by phrase (store/fts_tokenizer.h, sieve_bm25_topk): each
  // query term's rows are walked once, rarest term first, and rows that provably cannot reach
  // the top k stop being scored. The result is exactly SearchLexicalReference's.
  Result<std::vector<LexicalMatch>> SearchLexical(const LexicalQuery& query);
  // The same search row by row in SQL: every matching row scored by sieve_bm25, then sorted.
  // The reference SearchLexical is tested against; much slower on large indexes.
  Result<std::vector<LexicalMatch>> SearchLexicalReference(const LexicalQuery& query);

  Result<StoreStats> Stats();

  // PRAGMA integrity_check, the FTS5 integrity check and the absence of orphan rows.
  Status CheckIntegrity();
  // What CheckIntegrity looks at, as a list of problems ("" list = healthy), each one line.
  // `repair` fixes what can be fixed from the database itself: duplicate document keys (the
  // newest row of each key is kept, the others are deleted with their chunks), orphan chunks
  // and tags, indexes (REINDEX) and the full-text index (FTS5 rebuild). Write when repairing.
  struct CheckReport {
    std::vector<std::string> found;
    std::vector<std::string> fixed;
  };
  Result<CheckReport> Check(bool repair);
  // The documents table and its unique key index only: `PRAGMA integrity_check(documents)`
  // (milliseconds for thousands of documents). Writers run it before writing, so a damaged
  // key index cannot let duplicate documents in. kInvalidInput when damaged.
  Status CheckDocumentKeys();

 private:
  struct SqliteCloser {
    void operator()(sqlite3* db) const;
  };
  using DatabaseHandle = std::unique_ptr<sqlite3, SqliteCloser>;

  DocumentStore(std::filesystem::path database_path, DatabaseHandle db, bool read_only);
  Status Execute(const char* sql);

  // One read transaction for the scope that created it, when none is open yet (one snapshot and
  // one lock round trip for many statements); committed when it goes out of scope.
  class ScopedRead {
   public:
    explicit ScopedRead(DocumentStore* store) : store_(store) {}
    ScopedRead(const ScopedRead&) = delete;
    ScopedRead& operator=(const ScopedRead&) = delete;
    ~ScopedRead();
    Status Begin();

   private:
    DocumentStore* store_;
    bool active_ = false;
  };

  std::filesystem::path database_path_;
  DatabaseHandle db_;
  bool read_only_ = false;
  // The chunks table has the line columns (a read-only open of an index made before them reads
  // 0 instead; a write open adds them).
  bool chunk_lines_ = true;
  // The full-text rows' lengths as of a data version of the file (SearchLexical).
  struct FtsLengthsCache {
    unsigned int version = 0;
    std::shared_ptr<const FtsRowLengths> lengths;  // null: not readable as a table
  };
  std::optional<FtsLengthsCache> fts_lengths_;
};

}  // namespace sieve::store
