#include "store/document_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <optional>
#include <random>
#include <set>
#include <system_error>
#include <utility>

#include "store/fts_tokenizer.h"
#include "store/sqlite_util.h"

namespace sieve::store {
namespace {

using sqlite::Statement;

// The tokenizer the FTS table was made with is recorded in meta: an index made with another
// tokenizer cannot be searched correctly, so it is refused rather than silently misranked.
constexpr const char* kFtsTokenizerSetting = "sieve_snowball remove_diacritics 2";
// Meta keys of the database's identity (store/index_identity.h).
constexpr const char* kIndexIdKey = "index_id";
constexpr const char* kGenerationKey = "vectors_generation";

// Chunks carry the lines of the file they span (line, line_end). Indexes made before are migrated
// on the first write open: the columns are added with 0 (no line) for the chunks already there,
// which keep being shown without a line until their file changes (an unchanged file is not
// chunked again). Read-only opens of such an index read 0.
constexpr const char* kLinesMigration = R"sql(
ALTER TABLE chunks ADD COLUMN line INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chunks ADD COLUMN line_end INTEGER NOT NULL DEFAULT 0;
)sql";

// True when the chunks table has the line columns.
Result<bool> ChunksHaveLines(sqlite3* db) {
  SIEVE_ASSIGN_OR_RETURN(
      auto columns, sqlite::Statement::Prepare(db, "SELECT name FROM pragma_table_info('chunks')"));
  while (true) {
    SIEVE_ASSIGN_OR_RETURN(bool row, columns.Step());
    if (!row) return false;
    if (columns.Text(0) == "line_end") return true;
  }
}

// The full-text index's title column holds the document's title and, except for BEIR records,
// its source path (so file and folder names are searchable). Indexes made before that (their
// view lacks source_path) are migrated on the first write open: view and triggers are made
// again and the full-text index rebuilt (which also re-tokenizes CJK text as bigrams).
constexpr const char* kFtsMigration = R"sql(
DROP TRIGGER IF EXISTS chunks_fts_insert;
DROP TRIGGER IF EXISTS chunks_fts_delete;
DROP VIEW IF EXISTS chunk_fts_source;
)sql";

// Schema version 1. Chunks are never updated in place: a changed document gets new chunk rows
// (new ids). The FTS5 table is an external-content index over a view (chunk text, section,
// document title) kept in step by triggers, so every write path updates it in the same
// transaction. Chunks are deleted before their document (the delete trigger reads the title).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
  doc_id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  source_path TEXT NOT NULL,
  type TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT '',
  content_hash TEXT NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0,
  chunking TEXT NOT NULL DEFAULT '',
  ingested_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS documents_by_source ON documents(source_path);
CREATE TABLE IF NOT EXISTS doc_tags(
  doc_id INTEGER NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY(doc_id, tag)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS doc_tags_by_tag ON doc_tags(tag, doc_id);
CREATE TABLE IF NOT EXISTS chunks(
  chunk_id INTEGER PRIMARY KEY AUTOINCREMENT,
  doc_id INTEGER NOT NULL REFERENCES documents(doc_id),
  ordinal INTEGER NOT NULL,
  byte_begin INTEGER NOT NULL,
  byte_end INTEGER NOT NULL,
  section TEXT NOT NULL DEFAULT '',
  page INTEGER NOT NULL DEFAULT 0,
  text TEXT NOT NULL,
  line INTEGER NOT NULL DEFAULT 0,
  line_end INTEGER NOT NULL DEFAULT 0,
  UNIQUE(doc_id, ordinal));
CREATE VIEW IF NOT EXISTS chunk_fts_source AS
  SELECT c.chunk_id AS chunk_id, c.text AS text, c.section AS section,
         CASE WHEN d.type = 'beir' THEN d.title ELSE d.title || ' ' || d.source_path END AS title
  FROM chunks c JOIN documents d ON d.doc_id = c.doc_id;
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
  text, section, title,
  content='chunk_fts_source', content_rowid='chunk_id',
  tokenize='sieve_snowball remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, text, section, title)
  SELECT chunk_id, text, section, title FROM chunk_fts_source WHERE chunk_id = new.chunk_id;
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete BEFORE DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, text, section, title)
  SELECT 'delete', chunk_id, text, section, title FROM chunk_fts_source
  WHERE chunk_id = old.chunk_id;
END;
CREATE TRIGGER IF NOT EXISTS chunks_no_update BEFORE UPDATE ON chunks BEGIN
  SELECT RAISE(ABORT, 'chunks are immutable: delete and insert instead');
END;
CREATE TRIGGER IF NOT EXISTS documents_title_guard BEFORE UPDATE OF title ON documents
WHEN new.title IS NOT old.title AND EXISTS (SELECT 1 FROM chunks WHERE doc_id = old.doc_id) BEGIN
  SELECT RAISE(ABORT, 'delete a document''s chunks before changing its title');
END;
)sql";

std::int64_t NowUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// SQL conditions on `d` (documents) for a filter, with the values to bind in order.
struct FilterSql {
  std::string where;  // starts with " AND " when not empty
  std::vector<std::string> values;
};

FilterSql BuildFilterSql(const ChunkFilter& filter) {
  FilterSql sql;
  if (!filter.path_prefix.empty()) {
    sql.where += " AND substr(d.source_path, 1, length(CAST(? AS BLOB))) = ?";
    sql.values.push_back(filter.path_prefix);
    sql.values.push_back(filter.path_prefix);
  }
  auto placeholders = [](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += i ? ",?" : "?";
    return out;
  };
  if (!filter.types.empty()) {
    sql.where += " AND d.type IN (" + placeholders(filter.types.size()) + ")";
    for (const auto& type : filter.types) sql.values.push_back(type);
  }
  std::set<std::string> tags(filter.tags.begin(), filter.tags.end());
  if (!tags.empty()) {
    sql.where += " AND (SELECT count(*) FROM doc_tags t WHERE t.doc_id = d.doc_id AND t.tag IN (" +
                 placeholders(tags.size()) + ")) = " + std::to_string(tags.size());
    sql.values.insert(sql.values.end(), tags.begin(), tags.end());
  }
  return sql;
}

// Every full-text row's length in tokens, read from FTS5's docsize table (per row, one SQLite
// varint per column: text, section, title), summed over the columns as FTS5's xColumnSize(-1)
// does. Null when the table is missing, a row does not decode as exactly three varints (FTS5's
// own lookups then decide) or the rowids are too sparse for a table indexed by rowid.
std::shared_ptr<const FtsRowLengths> ReadFtsLengths(sqlite3* db) {
  auto stmt = Statement::Prepare(db, "SELECT id, sz FROM chunks_fts_docsize ORDER BY id");
  if (!stmt.ok()) return nullptr;
  std::vector<std::pair<std::int64_t, int>> lengths;
  while (true) {
    Result<bool> row = stmt->Step();
    if (!row.ok()) return nullptr;
    if (!*row) break;
    const auto* bytes = static_cast<const unsigned char*>(sqlite3_column_blob(stmt->raw(), 1));
    const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt->raw(), 1));
    std::size_t at = 0;
    int total = 0;
    for (int column = 0; column < 3; ++column) {
      std::uint32_t value = 0;
      std::size_t used = 0;
      while (true) {  // SQLite's varint: 7 bits a byte, big-endian, the 9th byte whole
        if (at + used >= size) return nullptr;
        const unsigned char byte = bytes[at + used];
        ++used;
        if (used == 9) {
          value = (value << 8) | byte;
          break;
        }
        value = (value << 7) | (byte & 0x7F);
        if ((byte & 0x80) == 0) break;
      }
      at += used;
      total += static_cast<int>(value);
    }
    if (at != size) return nullptr;
    lengths.emplace_back(stmt->Int(0), total);
  }
  auto table = std::make_shared<FtsRowLengths>();
  if (lengths.empty()) return table;
  const std::int64_t first = lengths.front().first;
  const std::int64_t last = lengths.back().first;
  if (last - first >= 4 * static_cast<std::int64_t>(lengths.size()) + 4096) return nullptr;
  table->first_rowid = first;
  table->length.assign(static_cast<std::size_t>(last - first + 1), -1);
  for (const auto& [rowid, length] : lengths) {
    table->length[static_cast<std::size_t>(rowid - first)] = length;
  }
  return table;
}

bool HasWordCharacter(std::string_view word) {
  return std::any_of(word.begin(), word.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte >= 0x80 || std::isalnum(byte);
  });
}

}  // namespace

std::string BuildFtsQuery(std::string_view text) {
  std::string query;
  std::set<std::string> seen;
  // Control characters separate words too: FTS5 reads a NUL as the end of the query.
  auto separator = [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isspace(u) || u < 0x20 || u == 0x7f;
  };
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && separator(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !separator(text[i])) ++i;
    std::string_view word = text.substr(start, i - start);
    if (word.empty() || !HasWordCharacter(word)) continue;
    std::string folded(word);
    std::transform(folded.begin(), folded.end(), folded.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!seen.insert(folded).second) continue;
    // CJK runs are indexed as character bigrams: each bigram is its own term (a run as one
    // phrase would only match that exact run).
    for (const std::string& term : SplitCjkTerms(word)) {
      if (term != word && !seen.insert(term).second) continue;
      if (!HasWordCharacter(term)) continue;
      if (!query.empty()) query += " OR ";
      query += '"';
      for (char c : term) {
        if (c == '"') query += '"';  // FTS5 escapes a quote inside a string by doubling it
        query += c;
      }
      query += '"';
    }
  }
  return query;
}

void DocumentStore::SqliteCloser::operator()(sqlite3* db) const {
  sqlite3_close_v2(db);
}

DocumentStore::DocumentStore(std::filesystem::path database_path, DatabaseHandle db, bool read_only)
    : database_path_(std::move(database_path)), db_(std::move(db)), read_only_(read_only) {}

DocumentStore::~DocumentStore() = default;

Status DocumentStore::Execute(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    Status status = sqlite::ErrorStatus(db_.get(), database_path_.string());
    return Status(status.code(), database_path_.string() + ": " + message);
  }
  return Status::Ok();
}

Status DocumentStore::ScopedRead::Begin() {
  if (sqlite3_get_autocommit(store_->db_.get()) == 0) return Status::Ok();  // already in one
  SIEVE_RETURN_IF_ERROR(store_->Execute("BEGIN"));
  active_ = true;
  return Status::Ok();
}

DocumentStore::ScopedRead::~ScopedRead() {
  if (active_) (void)store_->Execute("COMMIT");
}

namespace {

// A random 128-bit id, hex: tells one database from another made later in the same folder.
std::string NewIndexId() {
  std::random_device random;
  std::string id;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) {
    const auto word = static_cast<std::uint32_t>(random());
    for (int shift = 12; shift >= 0; shift -= 4) id.push_back(kHex[(word >> shift) & 0xf]);
  }
  return id;
}

// "file:" URI of a path (for the immutable=1 fallback of read-only opens).
std::string FileUri(const std::filesystem::path& path) {
  std::string uri = "file:";
  for (char c : std::filesystem::absolute(path).string()) {
    if (c == '?' || c == '#' || c == '%') {
      static constexpr char kHex[] = "0123456789ABCDEF";
      uri += '%';
      uri += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      uri += kHex[static_cast<unsigned char>(c) & 0xf];
    } else {
      uri += c;
    }
  }
  return uri;
}

}  // namespace

Result<std::unique_ptr<DocumentStore>> DocumentStore::Open(const std::filesystem::path& index_dir,
                                                           const OpenOptions& options) {
  const bool read_only = options.read_only;
  const bool create = options.create && !read_only;
  std::error_code ec;
  auto dir_status = std::filesystem::status(index_dir, ec);
  if (std::filesystem::exists(dir_status) && !std::filesystem::is_directory(dir_status)) {
    return Status::InvalidArgument(index_dir.string() + ": index path is not a directory");
  }
  std::filesystem::path database_path = index_dir / kDatabaseFileName;
  if (!std::filesystem::exists(database_path, ec)) {
    if (!create) {
      return Status::NotFound(index_dir.string() + ": no Sieve index here (run `sieve ingest`)");
    }
    std::filesystem::create_directories(index_dir, ec);
    if (ec) return Status::IoError(index_dir.string() + ": cannot create: " + ec.message());
  }
  auto open = [&](bool immutable) -> Result<std::unique_ptr<DocumentStore>> {
    sqlite3* raw = nullptr;
    int flags = SQLITE_OPEN_NOMUTEX;
    if (read_only) {
      flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
    } else {
      flags |= SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    }
    const std::string name =
        read_only ? FileUri(database_path) + (immutable ? "?immutable=1" : "?mode=ro")
                  : database_path.string();
    int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
    DatabaseHandle db(raw);
    if (rc != SQLITE_OK) {
      return Status::IoError(database_path.string() +
                             ": cannot open: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    sqlite3_extended_result_codes(db.get(), 1);
    sqlite3_busy_timeout(db.get(), options.busy_timeout_ms);
    Status registered = RegisterFtsExtensions(db.get());
    if (!registered.ok()) return registered.WithContext(database_path.string());
    return std::unique_ptr<DocumentStore>(
        new DocumentStore(database_path, std::move(db), read_only));
  };
  SIEVE_ASSIGN_OR_RETURN(auto store, open(false));
  if (read_only) {
    // Never a write, never the write lock: readers are not blocked by a long ingest.
    SIEVE_RETURN_IF_ERROR(store->Execute("PRAGMA query_only=1;"));
    auto version = store->GetMeta("schema_version");
    if (!version.ok() && version.status().code() == StatusCode::kIoError) {
      // A WAL database in a folder this process cannot write (read-only mount): without the
      // -shm file SQLite cannot share the WAL index, so read it as an immutable file.
      SIEVE_ASSIGN_OR_RETURN(store, open(true));
      SIEVE_RETURN_IF_ERROR(store->Execute("PRAGMA query_only=1;"));
      version = store->GetMeta("schema_version");
    }
    if (!version.ok()) return version.status();
    if (!*version || **version != std::to_string(kSchemaVersion)) {
      return Status::Unsupported(database_path.string() + ": index schema version " +
                                 version->value_or("(none)") + ", this sieve reads version " +
                                 std::to_string(kSchemaVersion) + "; re-create the index");
    }
    SIEVE_ASSIGN_OR_RETURN(auto tokenizer, store->GetMeta("fts_tokenizer"));
    if (tokenizer.value_or("") != kFtsTokenizerSetting) {
      return Status::Unsupported(database_path.string() + ": index was built with tokenizer '" +
                                 tokenizer.value_or("") + "'; re-create the index");
    }
    SIEVE_ASSIGN_OR_RETURN(store->chunk_lines_, ChunksHaveLines(store->db_.get()));
    return store;
  }
  // WAL: readers never block the writer; synchronous=NORMAL keeps every committed transaction
  // across a process crash (only a power loss may drop the last ones).
  SIEVE_RETURN_IF_ERROR(
      store->Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA foreign_keys=ON;"));
  {
    SIEVE_ASSIGN_OR_RETURN(Transaction txn, store->BeginTransaction());
    SIEVE_RETURN_IF_ERROR(store->Execute(kSchema));
    {
      SIEVE_ASSIGN_OR_RETURN(auto view,
                             Statement::Prepare(store->db_.get(),
                                                "SELECT sql FROM sqlite_master WHERE name = "
                                                "'chunk_fts_source'"));
      SIEVE_ASSIGN_OR_RETURN(bool row, view.Step());
      if (row && view.Text(0).find("source_path") == std::string::npos) {
        SIEVE_RETURN_IF_ERROR(store->Execute(kFtsMigration));
        SIEVE_RETURN_IF_ERROR(store->Execute(kSchema));
        SIEVE_RETURN_IF_ERROR(
            store->Execute("INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild');"));
      }
    }
    SIEVE_ASSIGN_OR_RETURN(bool has_lines, ChunksHaveLines(store->db_.get()));
    if (!has_lines) SIEVE_RETURN_IF_ERROR(store->Execute(kLinesMigration));
    SIEVE_ASSIGN_OR_RETURN(auto version, store->GetMeta("schema_version"));
    if (!version) {
      SIEVE_RETURN_IF_ERROR(store->SetMeta("schema_version", std::to_string(kSchemaVersion)));
      SIEVE_RETURN_IF_ERROR(store->SetMeta("fts_tokenizer", kFtsTokenizerSetting));
      SIEVE_RETURN_IF_ERROR(store->SetMeta("created_at", std::to_string(NowUnixSeconds())));
    } else if (*version != std::to_string(kSchemaVersion)) {
      return Status::Unsupported(database_path.string() + ": index schema version " + *version +
                                 ", this sieve reads version " + std::to_string(kSchemaVersion) +
                                 "; re-create the index");
    }
    SIEVE_ASSIGN_OR_RETURN(auto tokenizer, store->GetMeta("fts_tokenizer"));
    if (tokenizer.value_or("") != kFtsTokenizerSetting) {
      return Status::Unsupported(database_path.string() + ": index was built with tokenizer '" +
                                 tokenizer.value_or("") + "'; re-create the index");
    }
    SIEVE_ASSIGN_OR_RETURN(auto index_id, store->GetMeta(kIndexIdKey));
    if (!index_id) SIEVE_RETURN_IF_ERROR(store->SetMeta(kIndexIdKey, NewIndexId()));
    SIEVE_RETURN_IF_ERROR(txn.Commit());
  }
  return store;
}

Result<IndexIdentity> DocumentStore::Identity() {
  IndexIdentity identity;
  SIEVE_ASSIGN_OR_RETURN(auto id, GetMeta(kIndexIdKey));
  SIEVE_ASSIGN_OR_RETURN(auto generation, GetMeta(kGenerationKey));
  identity.index_id = id.value_or("");
  if (generation) {
    try {
      identity.generation = std::stoull(*generation);
    } catch (const std::exception&) {
      return Status::InvalidInput(database_path_.string() + ": meta " + kGenerationKey + " is \"" +
                                  *generation + "\", not a number");
    }
  }
  return identity;
}

Result<IndexIdentity> DocumentStore::AdvanceGeneration() {
  std::optional<Transaction> txn;
  if (sqlite3_get_autocommit(db_.get()) != 0) {
    SIEVE_ASSIGN_OR_RETURN(auto begun, BeginTransaction());
    txn.emplace(std::move(begun));
  }
  SIEVE_ASSIGN_OR_RETURN(IndexIdentity identity, Identity());
  ++identity.generation;
  SIEVE_RETURN_IF_ERROR(SetMeta(kGenerationKey, std::to_string(identity.generation)));
  if (txn) SIEVE_RETURN_IF_ERROR(txn->Commit());
  return identity;
}

VectorBinding DocumentStore::Binding(bool read_only) {
  VectorBinding binding;
  binding.current = [this] { return Identity(); };
  if (!read_only && !read_only_) binding.advance = [this] { return AdvanceGeneration(); };
  return binding;
}

DocumentStore::ReadSnapshot::ReadSnapshot(ReadSnapshot&& other) noexcept : store_(other.store_) {
  other.store_ = nullptr;
}

DocumentStore::ReadSnapshot::~ReadSnapshot() {
  if (store_) (void)store_->Execute("COMMIT");
}

Result<DocumentStore::ReadSnapshot> DocumentStore::BeginReadSnapshot() {
  if (sqlite3_get_autocommit(db_.get()) == 0) return ReadSnapshot(nullptr);
  SIEVE_RETURN_IF_ERROR(Execute("BEGIN DEFERRED"));
  ReadSnapshot snapshot(this);
  // A deferred transaction starts reading at its first SELECT: take the snapshot now.
  SIEVE_ASSIGN_OR_RETURN(auto stmt, Statement::Prepare(db_.get(), "SELECT count(*) FROM meta"));
  SIEVE_RETURN_IF_ERROR(stmt.Step().status());
  return snapshot;
}

// ---- Transaction ----

DocumentStore::Transaction::Transaction(Transaction&& other) noexcept : store_(other.store_) {
  other.store_ = nullptr;
}

DocumentStore::Transaction::~Transaction() {
  if (store_) (void)store_->Execute("ROLLBACK");
}

Status DocumentStore::Transaction::Commit() {
  if (!store_) return Status::Internal("commit of a finished transaction");
  DocumentStore* store = store_;
  store_ = nullptr;
  Status status = store->Execute("COMMIT");
  if (!status.ok()) (void)store->Execute("ROLLBACK");
  return status;
}

Result<DocumentStore::Transaction> DocumentStore::BeginTransaction() {
  SIEVE_RETURN_IF_ERROR(Execute("BEGIN IMMEDIATE"));
  return Transaction(this);
}

// ---- writes ----

Result<std::int64_t> DocumentStore::PutDocument(const DocumentInput& input) {
  sqlite3* db = db_.get();
  SIEVE_ASSIGN_OR_RETURN(auto existing, FindDocument(input.key));
  std::int64_t doc_id = 0;
  if (existing) {
    doc_id = existing->doc_id;
    SIEVE_ASSIGN_OR_RETURN(auto drop,
                           Statement::Prepare(db, "DELETE FROM chunks WHERE doc_id = ?"));
    SIEVE_RETURN_IF_ERROR(drop.Bind(1, doc_id).Run());
    SIEVE_ASSIGN_OR_RETURN(auto update, Statement::Prepare(db, R"sql(
      UPDATE documents SET source_path = ?, type = ?, title = ?, content_hash = ?, bytes = ?,
        chunking = ?, ingested_at = ? WHERE doc_id = ?)sql"));
    SIEVE_RETURN_IF_ERROR(update.Bind(1, input.source_path)
                              .Bind(2, input.type)
                              .Bind(3, input.title)
                              .Bind(4, input.content_hash)
                              .Bind(5, static_cast<std::int64_t>(input.bytes))
                              .Bind(6, input.chunking)
                              .Bind(7, NowUnixSeconds())
                              .Bind(8, doc_id)
                              .Run());
  } else {
    SIEVE_ASSIGN_OR_RETURN(auto insert, Statement::Prepare(db, R"sql(
      INSERT INTO documents(key, source_path, type, title, content_hash, bytes, chunking,
        ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?))sql"));
    SIEVE_RETURN_IF_ERROR(insert.Bind(1, input.key)
                              .Bind(2, input.source_path)
                              .Bind(3, input.type)
                              .Bind(4, input.title)
                              .Bind(5, input.content_hash)
                              .Bind(6, static_cast<std::int64_t>(input.bytes))
                              .Bind(7, input.chunking)
                              .Bind(8, NowUnixSeconds())
                              .Run());
    doc_id = sqlite3_last_insert_rowid(db);
  }
  SIEVE_ASSIGN_OR_RETURN(auto insert_chunk, Statement::Prepare(db, R"sql(
    INSERT INTO chunks(doc_id, ordinal, byte_begin, byte_end, section, page, text, line,
      line_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?))sql"));
  for (const auto& chunk : input.chunks) {
    SIEVE_RETURN_IF_ERROR(insert_chunk.Bind(1, doc_id)
                              .Bind(2, static_cast<std::int64_t>(chunk.ordinal))
                              .Bind(3, static_cast<std::int64_t>(chunk.begin))
                              .Bind(4, static_cast<std::int64_t>(chunk.end))
                              .Bind(5, chunk.section)
                              .Bind(6, chunk.page)
                              .Bind(7, chunk.text)
                              .Bind(8, static_cast<std::int64_t>(chunk.line))
                              .Bind(9, static_cast<std::int64_t>(chunk.line_end))
                              .Run());
  }
  SIEVE_RETURN_IF_ERROR(SetTags(doc_id, input.tags));
  return doc_id;
}

Status DocumentStore::SetTags(std::int64_t doc_id, const std::vector<std::string>& tags) {
  SIEVE_ASSIGN_OR_RETURN(auto drop,
                         Statement::Prepare(db_.get(), "DELETE FROM doc_tags WHERE doc_id = ?"));
  SIEVE_RETURN_IF_ERROR(drop.Bind(1, doc_id).Run());
  SIEVE_ASSIGN_OR_RETURN(
      auto insert,
      Statement::Prepare(db_.get(), "INSERT OR IGNORE INTO doc_tags(doc_id, tag) VALUES (?, ?)"));
  for (const auto& tag : tags) SIEVE_RETURN_IF_ERROR(insert.Bind(1, doc_id).Bind(2, tag).Run());
  return Status::Ok();
}

Result<bool> DocumentStore::DeleteDocument(const std::string& key) {
  SIEVE_ASSIGN_OR_RETURN(auto existing, FindDocument(key));
  if (!existing) return false;
  SIEVE_ASSIGN_OR_RETURN(auto drop_chunks,
                         Statement::Prepare(db_.get(), "DELETE FROM chunks WHERE doc_id = ?"));
  SIEVE_RETURN_IF_ERROR(drop_chunks.Bind(1, existing->doc_id).Run());
  SIEVE_ASSIGN_OR_RETURN(auto drop_doc,
                         Statement::Prepare(db_.get(), "DELETE FROM documents WHERE doc_id = ?"));
  SIEVE_RETURN_IF_ERROR(drop_doc.Bind(1, existing->doc_id).Run());
  return true;
}

Result<std::optional<double>> DocumentStore::TermIdf(std::string_view word) {
  if (word.empty() || !HasWordCharacter(word) ||
      word.find_first_of(" \t\n\"") != std::string_view::npos) {
    return std::optional<double>();
  }
  SIEVE_ASSIGN_OR_RETURN(auto total, Statement::Prepare(db_.get(), "SELECT count(*) FROM chunks"));
  SIEVE_ASSIGN_OR_RETURN(bool row, total.Step());
  const double n_chunks = row ? static_cast<double>(total.Int(0)) : 0.0;
  SIEVE_ASSIGN_OR_RETURN(
      auto count,
      Statement::Prepare(db_.get(), "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?"));
  const std::string match = "text : \"" + std::string(word) + "\"";
  Result<bool> counted = count.Bind(1, match).Step();
  if (!counted.ok() || !*counted) return std::optional<double>();  // nothing FTS5 can match
  const double n = static_cast<double>(count.Int(0));
  return std::optional<double>(std::log(1.0 + (n_chunks - n + 0.5) / (n + 0.5)));
}

Result<bool> DocumentStore::MoveDocument(const std::string& from, const std::string& to_key,
                                         const std::string& to_source) {
  SIEVE_ASSIGN_OR_RETURN(auto existing, FindDocument(from));
  if (!existing) return false;
  // The full-text rows carry the source path: out with the old values, in with the new.
  SIEVE_ASSIGN_OR_RETURN(
      auto fts_out,
      Statement::Prepare(db_.get(),
                         "INSERT INTO chunks_fts(chunks_fts, rowid, text, section, title) "
                         "SELECT 'delete', s.chunk_id, s.text, s.section, s.title "
                         "FROM chunk_fts_source s JOIN chunks c ON c.chunk_id = s.chunk_id "
                         "WHERE c.doc_id = ?"));
  SIEVE_RETURN_IF_ERROR(fts_out.Bind(1, existing->doc_id).Run());
  SIEVE_ASSIGN_OR_RETURN(
      auto update,
      Statement::Prepare(db_.get(),
                         "UPDATE documents SET key = ?, source_path = ? WHERE doc_id = ?"));
  SIEVE_RETURN_IF_ERROR(update.Bind(1, to_key).Bind(2, to_source).Bind(3, existing->doc_id).Run());
  SIEVE_ASSIGN_OR_RETURN(
      auto fts_in,
      Statement::Prepare(db_.get(),
                         "INSERT INTO chunks_fts(rowid, text, section, title) "
                         "SELECT s.chunk_id, s.text, s.section, s.title "
                         "FROM chunk_fts_source s JOIN chunks c ON c.chunk_id = s.chunk_id "
                         "WHERE c.doc_id = ?"));
  SIEVE_RETURN_IF_ERROR(fts_in.Bind(1, existing->doc_id).Run());
  return true;
}

Status DocumentStore::SetMeta(const std::string& key, const std::string& value) {
  SIEVE_ASSIGN_OR_RETURN(
      auto stmt, Statement::Prepare(db_.get(),
                                    "INSERT INTO meta(key, value) VALUES (?, ?) "
                                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
  return stmt.Bind(1, key).Bind(2, value).Run();
}

// ---- reads ----

namespace {

constexpr const char* kDocumentColumns = R"sql(
  d.doc_id, d.key, d.source_path, d.type, d.title, d.content_hash, d.bytes, d.chunking,
  d.ingested_at,
  (SELECT count(*) FROM chunks c WHERE c.doc_id = d.doc_id),
  (SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM doc_tags t WHERE t.doc_id = d.doc_id
   ORDER BY tag)) )sql";

DocumentInfo ReadDocument(const Statement& stmt) {
  DocumentInfo info;
  info.doc_id = stmt.Int(0);
  info.key = stmt.Text(1);
  info.source_path = stmt.Text(2);
  info.type = stmt.Text(3);
  info.title = stmt.Text(4);
  info.content_hash = stmt.Text(5);
  info.bytes = static_cast<std::uint64_t>(stmt.Int(6));
  info.chunking = stmt.Text(7);
  info.ingested_at = stmt.Int(8);
  info.chunk_count = static_cast<std::size_t>(stmt.Int(9));
  std::string tags = stmt.Text(10);
  size_t start = 0;
  while (!tags.empty() && start <= tags.size()) {
    size_t end = tags.find('\x1f', start);
    if (end == std::string::npos) end = tags.size();
    info.tags.push_back(tags.substr(start, end - start));
    start = end + 1;
  }
  return info;
}

}  // namespace

Result<std::optional<DocumentInfo>> DocumentStore::FindDocument(const std::string& key) {
  SIEVE_ASSIGN_OR_RETURN(auto stmt,
                         Statement::Prepare(db_.get(), std::string("SELECT ") + kDocumentColumns +
                                                           " FROM documents d WHERE d.key = ?"));
  stmt.Bind(1, key);
  SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<DocumentInfo>();
  return std::optional<DocumentInfo>(ReadDocument(stmt));
}

Result<std::vector<std::string>> DocumentStore::KeysFromSource(const std::string& source_path) {
  SIEVE_ASSIGN_OR_RETURN(
      auto stmt, Statement::Prepare(
                     db_.get(), "SELECT key FROM documents WHERE source_path = ? ORDER BY key"));
  stmt.Bind(1, source_path);
  std::vector<std::string> keys;
  while (true) {
    SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    keys.push_back(stmt.Text(0));
  }
  return keys;
}

Result<std::vector<DocumentInfo>> DocumentStore::ListDocuments() {
  SIEVE_ASSIGN_OR_RETURN(auto stmt,
                         Statement::Prepare(db_.get(), std::string("SELECT ") + kDocumentColumns +
                                                           " FROM documents d ORDER BY d.doc_id"));
  std::vector<DocumentInfo> documents;
  while (true) {
    SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    documents.push_back(ReadDocument(stmt));
  }
  return documents;
}

Result<std::optional<std::string>> DocumentStore::GetMeta(const std::string& key) {
  SIEVE_ASSIGN_OR_RETURN(auto stmt,
                         Statement::Prepare(db_.get(), "SELECT value FROM meta WHERE key = ?"));
  stmt.Bind(1, key);
  SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(stmt.Text(0));
}

Result<std::vector<std::int64_t>> DocumentStore::ListChunkIds(const ChunkFilter& filter) {
  FilterSql filter_sql = BuildFilterSql(filter);
  SIEVE_ASSIGN_OR_RETURN(
      auto stmt,
      Statement::Prepare(db_.get(),
                         "SELECT c.chunk_id FROM chunks c JOIN documents d ON d.doc_id = c.doc_id "
                         "WHERE 1" +
                             filter_sql.where + " ORDER BY c.chunk_id"));
  for (size_t i = 0; i < filter_sql.values.size(); ++i) {
    stmt.Bind(static_cast<int>(i + 1), filter_sql.values[i]);
  }
  std::vector<std::int64_t> ids;
  while (true) {
    SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ids.push_back(stmt.Int(0));
  }
  return ids;
}

Result<std::vector<ChunkRecord>> DocumentStore::GetChunks(std::span<const std::int64_t> chunk_ids) {
  const std::string sql =
      std::string(
          "SELECT c.chunk_id, c.doc_id, c.ordinal, c.byte_begin, c.byte_end, c.section, "
          "c.page, c.text, d.key, d.source_path, d.title, d.type, ") +
      (chunk_lines_ ? "c.line, c.line_end" : "0, 0") +
      " FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE c.chunk_id = ?";
  SIEVE_ASSIGN_OR_RETURN(auto stmt, Statement::Prepare(db_.get(), sql));
  std::vector<ChunkRecord> chunks;
  chunks.reserve(chunk_ids.size());
  // One read transaction for all lookups (not a lock round trip per chunk) and a consistent view.
  ScopedRead read(this);
  SIEVE_RETURN_IF_ERROR(read.Begin());
  for (std::int64_t id : chunk_ids) {
    stmt.Bind(1, id);
    SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row) {
      ChunkRecord chunk;
      chunk.chunk_id = stmt.Int(0);
      chunk.doc_id = stmt.Int(1);
      chunk.ordinal = static_cast<size_t>(stmt.Int(2));
      chunk.begin = static_cast<size_t>(stmt.Int(3));
      chunk.end = static_cast<size_t>(stmt.Int(4));
      chunk.section = stmt.Text(5);
      chunk.page = static_cast<int>(stmt.Int(6));
      chunk.text = stmt.Text(7);
      chunk.doc_key = stmt.Text(8);
      chunk.source_path = stmt.Text(9);
      chunk.title = stmt.Text(10);
      chunk.type = stmt.Text(11);
      chunk.line = static_cast<size_t>(stmt.Int(12));
      chunk.line_end = static_cast<size_t>(stmt.Int(13));
      chunks.push_back(std::move(chunk));
    }
    stmt.Reset();
  }
  return chunks;
}

Result<std::vector<LexicalMatch>> DocumentStore::SearchLexical(const LexicalQuery& query) {
  std::vector<LexicalMatch> matches;
  std::string match = BuildFtsQuery(query.text);
  if (match.empty() || query.k == 0) return matches;
  const auto& w = query.bm25;
  // Parameters outside the usual ranges (a negative length norm or weight can make scores
  // NaN, which SQLite sorts as NULL) are left to the reference query.
  for (double value : {w.k1, w.b, w.text_weight, w.section_weight, w.title_weight}) {
    if (!std::isfinite(value) || value < 0) return SearchLexicalReference(query);
  }
  if (w.b > 1) return SearchLexicalReference(query);
  // The filter's rows and the search see one snapshot.
  ScopedRead read(this);
  SIEVE_RETURN_IF_ERROR(read.Begin());
  Bm25TopK request;
  request.k = query.k;
  // Row lengths are kept between searches while the database file's data version (which moves
  // with every committed change, this connection's or another's) stays the same. Inside a write
  // transaction they are read afresh and not kept: its writes may still be rolled back.
  auto may_keep = [this] { return sqlite3_txn_state(db_.get(), "main") != SQLITE_TXN_WRITE; };
  request.lengths_at_hand = fts_lengths_.has_value() && may_keep();
  request.load_lengths = [this, may_keep]() -> std::shared_ptr<const FtsRowLengths> {
    unsigned int version = 0;
    const bool versioned =
        may_keep() &&
        sqlite3_file_control(db_.get(), "main", SQLITE_FCNTL_DATA_VERSION, &version) == SQLITE_OK;
    if (versioned && fts_lengths_ && fts_lengths_->version == version) {
      return fts_lengths_->lengths;
    }
    auto lengths = ReadFtsLengths(db_.get());
    if (versioned) fts_lengths_ = FtsLengthsCache{version, lengths};
    return lengths;
  };
  std::vector<std::int64_t> allowed;
  if (!query.filter.empty()) {
    SIEVE_ASSIGN_OR_RETURN(allowed, ListChunkIds(query.filter));
    if (allowed.empty()) return matches;
    request.allowed = &allowed;
  }
  SIEVE_ASSIGN_OR_RETURN(
      auto stmt, Statement::Prepare(db_.get(), std::string("SELECT ") + kBm25TopKFunction +
                                                   "(chunks_fts, ?, ?, ?, ?, ?, ?) FROM "
                                                   "chunks_fts WHERE chunks_fts MATCH ? LIMIT 1"));
  stmt.BindPointer(1, &request, kBm25TopKPointerType)
      .Bind(2, w.k1)
      .Bind(3, w.b)
      .Bind(4, w.text_weight)
      .Bind(5, w.section_weight)
      .Bind(6, w.title_weight)
      .Bind(7, match);
  auto row = stmt.Step();
  if (!row.ok()) return row.status().WithContext("search \"" + query.text + "\"");
  matches.reserve(request.matches.size());
  for (const auto& [rowid, score] : request.matches) {
    // SQLite reads a NaN result as NULL, which the reference query sorts last; leave such
    // parameters to it.
    if (!std::isfinite(score)) return SearchLexicalReference(query);
    matches.push_back({rowid, score});
  }
  return matches;
}

Result<std::vector<LexicalMatch>> DocumentStore::SearchLexicalReference(const LexicalQuery& query) {
  std::vector<LexicalMatch> matches;
  std::string match = BuildFtsQuery(query.text);
  if (match.empty() || query.k == 0) return matches;
  FilterSql filter_sql = BuildFilterSql(query.filter);
  std::string sql = std::string("SELECT f.rowid, ") + kBm25Function +
                    "(chunks_fts, ?, ?, ?, ?, ?) AS score FROM chunks_fts f";
  if (!filter_sql.where.empty()) {
    sql += " JOIN chunks c ON c.chunk_id = f.rowid JOIN documents d ON d.doc_id = c.doc_id";
  }
  sql +=
      " WHERE chunks_fts MATCH ?" + filter_sql.where + " ORDER BY score DESC, f.rowid ASC LIMIT ?";
  SIEVE_ASSIGN_OR_RETURN(auto stmt, Statement::Prepare(db_.get(), sql));
  stmt.Bind(1, query.bm25.k1)
      .Bind(2, query.bm25.b)
      .Bind(3, query.bm25.text_weight)
      .Bind(4, query.bm25.section_weight)
      .Bind(5, query.bm25.title_weight)
      .Bind(6, match);
  int index = 7;
  for (const auto& value : filter_sql.values) stmt.Bind(index++, value);
  stmt.Bind(index++, static_cast<std::int64_t>(query.k));
  while (true) {
    auto row = stmt.Step();
    if (!row.ok()) return row.status().WithContext("search \"" + query.text + "\"");
    if (!*row) break;
    matches.push_back({stmt.Int(0), stmt.Double(1)});
  }
  return matches;
}

Result<StoreStats> DocumentStore::Stats() {
  StoreStats stats;
  {
    SIEVE_ASSIGN_OR_RETURN(auto stmt,
                           Statement::Prepare(db_.get(),
                                              "SELECT count(*), coalesce(sum(bytes), 0) FROM "
                                              "documents"));
    SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row) {
      stats.documents = static_cast<size_t>(stmt.Int(0));
      stats.bytes = static_cast<std::uint64_t>(stmt.Int(1));
    }
  }
  {
    SIEVE_ASSIGN_OR_RETURN(auto stmt, Statement::Prepare(db_.get(), "SELECT count(*) FROM chunks"));
    SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row) stats.chunks = static_cast<size_t>(stmt.Int(0));
  }
  auto grouped = [this](const char* sql,
                        std::vector<std::pair<std::string, size_t>>& out) -> Status {
    SIEVE_ASSIGN_OR_RETURN(auto stmt, Statement::Prepare(db_.get(), sql));
    while (true) {
      SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      out.emplace_back(stmt.Text(0), static_cast<size_t>(stmt.Int(1)));
    }
    return Status::Ok();
  };
  SIEVE_RETURN_IF_ERROR(grouped("SELECT type, count(*) FROM documents GROUP BY type ORDER BY type",
                                stats.documents_by_type));
  SIEVE_RETURN_IF_ERROR(grouped("SELECT tag, count(*) FROM doc_tags GROUP BY tag ORDER BY tag",
                                stats.documents_by_tag));
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    auto size = std::filesystem::file_size(database_path_.string() + suffix, ec);
    if (!ec) stats.database_bytes += size;
  }
  return stats;
}

Status DocumentStore::CheckIntegrity() {
  std::string where = database_path_.string() + ": integrity check failed: ";
  {
    SIEVE_ASSIGN_OR_RETURN(auto stmt, Statement::Prepare(db_.get(), "PRAGMA integrity_check"));
    SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row || stmt.Text(0) != "ok") return Status::InvalidInput(where + stmt.Text(0));
  }
  {
    SIEVE_ASSIGN_OR_RETURN(auto stmt, Statement::Prepare(db_.get(), "PRAGMA foreign_key_check"));
    SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row) return Status::InvalidInput(where + "orphan rows in table " + stmt.Text(0));
  }
  Status fts = Execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')");
  if (!fts.ok()) return Status::InvalidInput(where + "full-text index: " + fts.message());
  {
    SIEVE_ASSIGN_OR_RETURN(auto stmt,
                           Statement::Prepare(db_.get(),
                                              "SELECT (SELECT count(*) FROM chunks), "
                                              "(SELECT count(*) FROM chunks_fts_docsize)"));
    SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row && stmt.Int(0) != stmt.Int(1)) {
      return Status::InvalidInput(where + std::to_string(stmt.Int(0)) + " chunks but " +
                                  std::to_string(stmt.Int(1)) + " rows in the full-text index");
    }
  }
  return Status::Ok();
}

Status DocumentStore::CheckDocumentKeys() {
  SIEVE_ASSIGN_OR_RETURN(auto stmt,
                         Statement::Prepare(db_.get(), "PRAGMA integrity_check(documents)"));
  SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row || stmt.Text(0) != "ok") {
    return Status::InvalidInput(database_path_.string() + ": the documents table is damaged (" +
                                (row ? stmt.Text(0) : std::string("no result")) +
                                "); run `sieve check --repair`");
  }
  return Status::Ok();
}

Result<DocumentStore::CheckReport> DocumentStore::Check(bool repair) {
  CheckReport report;
  auto lines = [this](const char* sql) -> Result<std::vector<std::string>> {
    SIEVE_ASSIGN_OR_RETURN(auto stmt, Statement::Prepare(db_.get(), sql));
    std::vector<std::string> out;
    while (true) {
      SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      out.push_back(stmt.Text(0));
    }
    return out;
  };
  auto count = [this](const char* sql) -> Result<std::int64_t> {
    SIEVE_ASSIGN_OR_RETURN(auto stmt, Statement::Prepare(db_.get(), sql));
    SIEVE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    return row ? stmt.Int(0) : 0;
  };
  // 1. SQLite's own check (pages, b-trees, index entries against their tables).
  SIEVE_ASSIGN_OR_RETURN(auto integrity, lines("PRAGMA integrity_check(100)"));
  for (const auto& line : integrity) {
    if (line != "ok") report.found.push_back("sqlite: " + line);
  }
  // 2. Duplicate document keys (only possible through a damaged unique index). Counted without
  // the index: the table scan sees every row.
  const char* kDuplicateKeys = "SELECT count(*) - count(DISTINCT key) FROM documents NOT INDEXED";
  SIEVE_ASSIGN_OR_RETURN(std::int64_t duplicates, count(kDuplicateKeys));
  if (duplicates > 0) {
    report.found.push_back(std::to_string(duplicates) + " duplicate document rows (same key)");
  }
  // 3. Orphans: chunks or tags whose document is gone.
  SIEVE_ASSIGN_OR_RETURN(std::int64_t orphan_chunks,
                         count("SELECT count(*) FROM chunks c NOT INDEXED WHERE NOT EXISTS "
                               "(SELECT 1 FROM documents d WHERE d.doc_id = c.doc_id)"));
  if (orphan_chunks > 0) {
    report.found.push_back(std::to_string(orphan_chunks) + " chunks without a document");
  }
  SIEVE_ASSIGN_OR_RETURN(std::int64_t orphan_tags,
                         count("SELECT count(*) FROM doc_tags t WHERE NOT EXISTS "
                               "(SELECT 1 FROM documents d WHERE d.doc_id = t.doc_id)"));
  if (orphan_tags > 0) {
    report.found.push_back(std::to_string(orphan_tags) + " tags without a document");
  }
  // 4. The full-text index against the chunks.
  Status fts = Execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')");
  if (!fts.ok()) report.found.push_back("full-text index: " + fts.message());
  SIEVE_ASSIGN_OR_RETURN(std::int64_t fts_rows, count("SELECT count(*) FROM chunks_fts_docsize"));
  SIEVE_ASSIGN_OR_RETURN(std::int64_t chunk_rows, count("SELECT count(*) FROM chunks NOT INDEXED"));
  if (fts_rows != chunk_rows) {
    report.found.push_back("full-text index has " + std::to_string(fts_rows) + " rows for " +
                           std::to_string(chunk_rows) + " chunks");
  }
  if (!repair || report.found.empty()) return report;

  if (read_only_) return Status::IoError(database_path_.string() + ": opened read-only");
  SIEVE_ASSIGN_OR_RETURN(auto txn, BeginTransaction());
  if (duplicates > 0) {
    // Keep the newest row of each key (the last write); its chunks are the ones ingested last.
    const char* kDrop = R"sql(
      SELECT doc_id FROM documents d NOT INDEXED WHERE EXISTS (
        SELECT 1 FROM documents e NOT INDEXED WHERE e.key = d.key AND e.doc_id > d.doc_id))sql";
    SIEVE_ASSIGN_OR_RETURN(auto drop, lines(kDrop));
    for (const auto& id : drop) {
      SIEVE_ASSIGN_OR_RETURN(auto chunks,
                             Statement::Prepare(db_.get(), "DELETE FROM chunks WHERE doc_id = ?"));
      SIEVE_RETURN_IF_ERROR(chunks.Bind(1, static_cast<std::int64_t>(std::stoll(id))).Run());
      SIEVE_ASSIGN_OR_RETURN(
          auto doc, Statement::Prepare(db_.get(), "DELETE FROM documents WHERE doc_id = ?"));
      SIEVE_RETURN_IF_ERROR(doc.Bind(1, static_cast<std::int64_t>(std::stoll(id))).Run());
    }
    report.fixed.push_back("deleted " + std::to_string(drop.size()) +
                           " older duplicate document rows (the next ingest re-reads their files)");
  }
  if (orphan_chunks > 0) {
    SIEVE_RETURN_IF_ERROR(
        Execute("DELETE FROM chunks WHERE doc_id NOT IN (SELECT doc_id FROM documents)"));
    report.fixed.push_back("deleted " + std::to_string(orphan_chunks) + " orphan chunks");
  }
  if (orphan_tags > 0) {
    SIEVE_RETURN_IF_ERROR(
        Execute("DELETE FROM doc_tags WHERE doc_id NOT IN (SELECT doc_id FROM documents)"));
    report.fixed.push_back("deleted " + std::to_string(orphan_tags) + " orphan tags");
  }
  SIEVE_RETURN_IF_ERROR(Execute("REINDEX"));
  report.fixed.push_back("rebuilt the table indexes");
  SIEVE_RETURN_IF_ERROR(Execute("INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild')"));
  report.fixed.push_back("rebuilt the full-text index");
  SIEVE_RETURN_IF_ERROR(txn.Commit());
  // What is still wrong after the repair (damaged pages that lose rows cannot be fixed here).
  SIEVE_ASSIGN_OR_RETURN(auto after, lines("PRAGMA integrity_check(100)"));
  for (const auto& line : after) {
    if (line != "ok") {
      report.fixed.push_back("NOT fixed: sqlite: " + line +
                             " (delete the index folder and ingest again)");
    }
  }
  return report;
}

}  // namespace sieve::store
