#include "store/document_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "store/fts_tokenizer.h"
#include "store_fixture.h"

namespace sieve::store {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

text::Chunk MakeChunk(std::size_t ordinal, std::string text, std::string section = "") {
  text::Chunk chunk;
  chunk.ordinal = ordinal;
  chunk.begin = ordinal * 100;
  chunk.end = chunk.begin + text.size();
  chunk.text = std::move(text);
  chunk.section = std::move(section);
  return chunk;
}

DocumentInput MakeDocument(std::string key, std::vector<std::string> texts,
                           std::string type = "text", std::vector<std::string> tags = {}) {
  DocumentInput input;
  input.key = key;
  input.source_path = key;
  input.type = std::move(type);
  input.title = "title of " + key;
  input.content_hash = "hash-" + key;
  input.bytes = 10;
  input.chunking = "max=256,overlap=32";
  input.tags = std::move(tags);
  for (std::size_t i = 0; i < texts.size(); ++i) input.chunks.push_back(MakeChunk(i, texts[i]));
  return input;
}

class DocumentStoreTest : public testing_support::OpenStoreTest {
 protected:
  std::int64_t Put(const DocumentInput& input) {
    auto txn = store_->BeginTransaction();
    EXPECT_TRUE(txn.ok()) << txn.status().ToString();
    auto id = store_->PutDocument(input);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_TRUE(txn->Commit().ok());
    return id.ok() ? *id : -1;
  }

  std::vector<std::int64_t> Search(const std::string& text, ChunkFilter filter = {}) {
    LexicalQuery query;
    query.text = text;
    query.k = 100;
    query.filter = std::move(filter);
    auto matches = store_->SearchLexical(query);
    EXPECT_TRUE(matches.ok()) << matches.status().ToString();
    std::vector<std::int64_t> ids;
    if (matches.ok()) {
      for (const auto& m : *matches) ids.push_back(m.chunk_id);
    }
    return ids;
  }

  std::vector<std::string> SearchKeys(const std::string& text, ChunkFilter filter = {}) {
    auto ids = Search(text, std::move(filter));
    auto chunks = store_->GetChunks(ids);
    EXPECT_TRUE(chunks.ok());
    std::vector<std::string> keys;
    for (const auto& chunk : *chunks) keys.push_back(chunk.doc_key);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
  }
};

TEST_F(DocumentStoreTest, CreatesDatabaseWithSchemaVersionAndWal) {
  EXPECT_TRUE(fs::exists(dir_.path() / "index" / kDatabaseFileName));
  auto version = store_->GetMeta("schema_version");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->value_or(""), std::to_string(kSchemaVersion));
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() / "index" / kDatabaseFileName).c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(raw);
}

TEST_F(DocumentStoreTest, OpenWithoutCreateFailsWithNotFound) {
  OpenOptions options;
  options.create = false;
  auto opened = DocumentStore::Open(dir_.path() / "missing", options);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_.path() / "missing"));
}

TEST_F(DocumentStoreTest, RefusesAFileThatIsNotADatabase) {
  fs::create_directories(dir_.path() / "junk");
  {
    std::FILE* f = std::fopen((dir_.path() / "junk" / kDatabaseFileName).c_str(), "w");
    std::fputs("this is not an sqlite database, just some text that is long enough......", f);
    std::fclose(f);
  }
  auto opened = DocumentStore::Open(dir_.path() / "junk");
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().code(), StatusCode::kOk);
  EXPECT_THAT(opened.status().message(), ::testing::HasSubstr("sieve.db"));
}

TEST_F(DocumentStoreTest, PutSearchAndFetchChunksWithMetadata) {
  Put(MakeDocument("/docs/a.txt", {"the wing of an aircraft in a slipstream", "boundary layers"}));
  Put(MakeDocument("/docs/b.txt", {"heat conduction in composite slabs"}));
  auto ids = Search("slipstream wing");
  ASSERT_EQ(ids.size(), 1u);
  auto chunks = store_->GetChunks(ids);
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ(chunks->size(), 1u);
  const ChunkRecord& chunk = chunks->front();
  EXPECT_EQ(chunk.doc_key, "/docs/a.txt");
  EXPECT_EQ(chunk.source_path, "/docs/a.txt");
  EXPECT_EQ(chunk.title, "title of /docs/a.txt");
  EXPECT_EQ(chunk.type, "text");
  EXPECT_EQ(chunk.ordinal, 0u);
  EXPECT_EQ(chunk.text, "the wing of an aircraft in a slipstream");
  EXPECT_EQ(chunk.end - chunk.begin, chunk.text.size());
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(DocumentStoreTest, StemmingMatchesOtherWordForms) {
  Put(MakeDocument("/a", {"conducting experiments on heated wings"}));
  EXPECT_EQ(Search("wing").size(), 1u);
  EXPECT_EQ(Search("conduction experiment heat").size(), 1u);
  EXPECT_THAT(Search("slab"), IsEmpty());
}

TEST_F(DocumentStoreTest, RanksMoreRelevantChunkFirst) {
  Put(MakeDocument("/a", {"pressure pressure pressure distribution on a cone"}));
  Put(MakeDocument("/b", {"a note on pressure, with many other words about other topics"}));
  LexicalQuery query;
  query.text = "pressure cone";
  auto matches = store_->SearchLexical(query);
  ASSERT_TRUE(matches.ok());
  ASSERT_EQ(matches->size(), 2u);
  EXPECT_GT((*matches)[0].score, (*matches)[1].score);
  auto first = store_->GetChunks(std::vector<std::int64_t>{(*matches)[0].chunk_id});
  EXPECT_EQ(first->front().doc_key, "/a");
}

TEST_F(DocumentStoreTest, UserTextNeverRaisesFtsSyntaxErrors) {
  Put(MakeDocument("/a", {"lift-drag ratio of a delta wing at mach 2"}));
  for (const char* text :
       {"\"unbalanced quote", "AND OR NOT", "NEAR(lift drag)", "wing*", "^start", "col:wing", "(((",
        "-", "lift-drag", "a \"\" b", "{x y}", "mach 2.0 + 3", "'single'", "\xff\xfe bad"}) {
    LexicalQuery query;
    query.text = text;
    auto matches = store_->SearchLexical(query);
    EXPECT_TRUE(matches.ok()) << text << ": " << matches.status().ToString();
  }
  EXPECT_EQ(Search("lift-drag").size(), 1u);
  EXPECT_EQ(Search("NEAR(lift drag)").size(), 1u);
}

TEST(BuildFtsQueryTest, QuotesWordsJoinsWithOrAndDropsPunctuation) {
  EXPECT_EQ(BuildFtsQuery("what is lift ?"), "\"what\" OR \"is\" OR \"lift\"");
  EXPECT_EQ(BuildFtsQuery("say \"hi\""), "\"say\" OR \"\"\"hi\"\"\"");
  EXPECT_EQ(BuildFtsQuery("Wing wing WING"), "\"Wing\"");
  EXPECT_EQ(BuildFtsQuery(" . , ? "), "");
  // A NUL or another control character inside a word splits it (FTS5 stops reading at a NUL).
  EXPECT_EQ(BuildFtsQuery(std::string("lift\0drag\x01wing", 14)),
            "\"lift\" OR \"drag\" OR \"wing\"");
  EXPECT_EQ(BuildFtsQuery(""), "");
}

TEST_F(DocumentStoreTest, ReplacingADocumentGivesNewChunkIdsAndDropsOldText) {
  std::int64_t doc = Put(MakeDocument("/a", {"old words about turbulence", "more old text"}));
  auto old_ids = store_->ListChunkIds();
  ASSERT_TRUE(old_ids.ok());
  ASSERT_EQ(old_ids->size(), 2u);
  std::int64_t replaced = Put(MakeDocument("/a", {"new words about hypersonic flow"}));
  EXPECT_EQ(replaced, doc);  // same document, new chunks
  auto new_ids = store_->ListChunkIds();
  ASSERT_EQ(new_ids->size(), 1u);
  EXPECT_GT(new_ids->front(), old_ids->back());
  EXPECT_THAT(Search("turbulence"), IsEmpty());
  EXPECT_THAT(Search("hypersonic"), ElementsAre(new_ids->front()));
  auto old_chunks = store_->GetChunks(*old_ids);
  EXPECT_THAT(*old_chunks, IsEmpty());
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(DocumentStoreTest, ReplacingChangesTitleInTheFullTextIndex) {
  DocumentInput input = MakeDocument("/a", {"body text"});
  input.title = "supersonic";
  Put(input);
  EXPECT_EQ(Search("supersonic").size(), 1u);
  input.title = "subsonic";
  Put(input);
  EXPECT_THAT(Search("supersonic"), IsEmpty());
  EXPECT_EQ(Search("subsonic").size(), 1u);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(DocumentStoreTest, ChunkIdsAreNeverReusedAfterDelete) {
  Put(MakeDocument("/a", {"alpha", "beta"}));
  auto before = store_->ListChunkIds();
  {
    auto txn = store_->BeginTransaction();
    ASSERT_TRUE(store_->DeleteDocument("/a").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  Put(MakeDocument("/a", {"alpha", "beta"}));
  auto after = store_->ListChunkIds();
  ASSERT_EQ(after->size(), 2u);
  EXPECT_GT(after->front(), before->back());
}

TEST_F(DocumentStoreTest, DeleteRemovesDocumentChunksTagsAndFtsRows) {
  Put(MakeDocument("/a", {"shock wave interaction"}, "text", {"physics"}));
  Put(MakeDocument("/b", {"shock absorbers"}));
  auto txn = store_->BeginTransaction();
  auto deleted = store_->DeleteDocument("/a");
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(*deleted);
  auto again = store_->DeleteDocument("/a");
  EXPECT_FALSE(*again);
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_THAT(SearchKeys("shock"), ElementsAre("/b"));
  EXPECT_THAT(Search("interaction"), IsEmpty());
  auto found = store_->FindDocument("/a");
  EXPECT_FALSE(found->has_value());
  auto stats = store_->Stats();
  EXPECT_EQ(stats->documents, 1u);
  EXPECT_EQ(stats->chunks, 1u);
  EXPECT_THAT(stats->documents_by_tag, IsEmpty());
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(DocumentStoreTest, RolledBackTransactionLeavesNothing) {
  {
    auto txn = store_->BeginTransaction();
    ASSERT_TRUE(store_->PutDocument(MakeDocument("/a", {"vanishing text"})).ok());
    // no Commit: the destructor rolls back
  }
  EXPECT_THAT(Search("vanishing"), IsEmpty());
  EXPECT_EQ(store_->Stats()->documents, 0u);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(DocumentStoreTest, FiltersByPathPrefixTypeAndTags) {
  Put(MakeDocument("/docs/guide/a.md", {"rotor blade flutter"}, "markdown", {"x", "y"}));
  Put(MakeDocument("/docs/notes/b.txt", {"rotor noise"}, "text", {"x"}));
  Put(MakeDocument("/other/c.pdf", {"rotor wake"}, "pdf", {"y"}));
  EXPECT_THAT(SearchKeys("rotor"),
              ElementsAre("/docs/guide/a.md", "/docs/notes/b.txt", "/other/c.pdf"));
  EXPECT_THAT(SearchKeys("rotor", {.path_prefix = "/docs/"}),
              ElementsAre("/docs/guide/a.md", "/docs/notes/b.txt"));
  EXPECT_THAT(SearchKeys("rotor", {.path_prefix = "/docs/guide"}), ElementsAre("/docs/guide/a.md"));
  EXPECT_THAT(SearchKeys("rotor", {.types = {"pdf", "text"}}),
              ElementsAre("/docs/notes/b.txt", "/other/c.pdf"));
  EXPECT_THAT(SearchKeys("rotor", {.tags = {"x"}}),
              ElementsAre("/docs/guide/a.md", "/docs/notes/b.txt"));
  EXPECT_THAT(SearchKeys("rotor", {.tags = {"x", "y"}}), ElementsAre("/docs/guide/a.md"));
  EXPECT_THAT(SearchKeys("rotor", {.tags = {"nope"}}), IsEmpty());
  EXPECT_THAT(SearchKeys("rotor", {.path_prefix = "/docs/", .types = {"markdown"}, .tags = {"y"}}),
              ElementsAre("/docs/guide/a.md"));
  // A prefix with LIKE wildcards is taken literally.
  EXPECT_THAT(SearchKeys("rotor", {.path_prefix = "/docs/%"}), IsEmpty());
  auto ids = store_->ListChunkIds({.types = {"pdf"}});
  ASSERT_EQ(ids->size(), 1u);
}

TEST_F(DocumentStoreTest, RespectsK) {
  for (int i = 0; i < 20; ++i) Put(MakeDocument("/d" + std::to_string(i), {"common term"}));
  LexicalQuery query;
  query.text = "common";
  query.k = 7;
  auto matches = store_->SearchLexical(query);
  EXPECT_EQ(matches->size(), 7u);
}

TEST_F(DocumentStoreTest, GetChunksKeepsRequestedOrderAndSkipsUnknownIds) {
  Put(MakeDocument("/a", {"one", "two", "three"}));
  auto ids = *store_->ListChunkIds();
  std::vector<std::int64_t> request{ids[2], 999999, ids[0]};
  auto chunks = store_->GetChunks(request);
  ASSERT_EQ(chunks->size(), 2u);
  EXPECT_EQ((*chunks)[0].text, "three");
  EXPECT_EQ((*chunks)[1].text, "one");
}

TEST_F(DocumentStoreTest, TagsAndMetaRoundTrip) {
  std::int64_t doc = Put(MakeDocument("/a", {"x"}, "text", {"b", "a"}));
  auto info = store_->FindDocument("/a");
  ASSERT_TRUE(info->has_value());
  EXPECT_THAT((*info)->tags, ElementsAre("a", "b"));
  EXPECT_EQ((*info)->chunk_count, 1u);
  {
    auto txn = store_->BeginTransaction();
    ASSERT_TRUE(store_->SetTags(doc, {"c"}).ok());
    ASSERT_TRUE(store_->SetMeta("model", "bge-small").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  EXPECT_THAT((*store_->FindDocument("/a"))->tags, ElementsAre("c"));
  EXPECT_EQ(store_->GetMeta("model")->value_or(""), "bge-small");
  EXPECT_FALSE(store_->GetMeta("absent")->has_value());
}

TEST_F(DocumentStoreTest, SecondConnectionSeesCommittedData) {
  Put(MakeDocument("/a", {"shared between connections"}));
  auto other = DocumentStore::Open(dir_.path() / "index");
  ASSERT_TRUE(other.ok());
  LexicalQuery query;
  query.text = "connections";
  EXPECT_EQ((*other)->SearchLexical(query)->size(), 1u);
}

TEST_F(DocumentStoreTest, MoveDocumentKeepsChunkIdsAndReindexesThePath) {
  DocumentInput input = MakeDocument("/data/old/notes.txt", {"the wombat burrow"});
  input.title = "Notes";  // the path only in the source path
  const std::int64_t id = Put(input);
  auto before = store_->ListChunkIds();
  ASSERT_TRUE(before.ok());
  EXPECT_THAT(SearchKeys("old"), ::testing::ElementsAre("/data/old/notes.txt"));
  {
    auto txn = store_->BeginTransaction();
    ASSERT_TRUE(txn.ok());
    auto moved =
        store_->MoveDocument("/data/old/notes.txt", "/data/new/notes.txt", "/data/new/notes.txt");
    ASSERT_TRUE(moved.ok()) << moved.status().ToString();
    EXPECT_TRUE(*moved);
    ASSERT_TRUE(txn->Commit().ok());
  }
  auto after = store_->ListChunkIds();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *before);  // same chunk ids: vectors stay valid
  auto doc = store_->FindDocument("/data/new/notes.txt");
  ASSERT_TRUE(doc.ok() && doc->has_value());
  EXPECT_EQ((*doc)->doc_id, id);
  EXPECT_TRUE(SearchKeys("old").empty());
  EXPECT_THAT(SearchKeys("new"), ::testing::ElementsAre("/data/new/notes.txt"));
  EXPECT_THAT(SearchKeys("wombat"), ::testing::ElementsAre("/data/new/notes.txt"));
  EXPECT_TRUE(store_->CheckIntegrity().ok());
  auto missing = store_->MoveDocument("/nope", "/x", "/x");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(*missing);
}

TEST_F(DocumentStoreTest, AnIndexFromBeforeTheSourcePathColumnIsMigrated) {
  DocumentInput input = MakeDocument("/data/pkg/README", {"the numbat eats termites"});
  input.title = "Animals";
  Put(input);
  const fs::path index = store_->database_path().parent_path();
  store_.reset();
  {
    // The view and triggers of older indexes: the title column without the path.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((index / "sieve.db").c_str(), &db), SQLITE_OK);
    const char* old_schema = R"sql(
      DROP TRIGGER chunks_fts_insert; DROP TRIGGER chunks_fts_delete; DROP VIEW chunk_fts_source;
      CREATE VIEW chunk_fts_source AS
        SELECT c.chunk_id AS chunk_id, c.text AS text, c.section AS section, d.title AS title
        FROM chunks c JOIN documents d ON d.doc_id = c.doc_id;
      CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, text, section, title) VALUES (new.chunk_id, new.text,
          new.section, (SELECT title FROM documents WHERE doc_id = new.doc_id));
      END;
      CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, text, section, title) VALUES ('delete',
          old.chunk_id, old.text, old.section,
          (SELECT title FROM documents WHERE doc_id = old.doc_id));
      END;
    )sql";
    ASSERT_EQ(sqlite3_exec(db, old_schema, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto reopened = DocumentStore::Open(index);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  store_ = std::move(*reopened);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((index / "sieve.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name='chunk_fts_source'",
                                 -1, &stmt, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    const std::string view = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    EXPECT_NE(view.find("source_path"), std::string::npos) << view;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }
  EXPECT_TRUE(store_->CheckIntegrity().ok());
  EXPECT_THAT(SearchKeys("readme"), ::testing::ElementsAre("/data/pkg/README"));
  EXPECT_THAT(SearchKeys("numbat"), ::testing::ElementsAre("/data/pkg/README"));
  input.chunks = {MakeChunk(0, "replaced text about quolls")};
  input.content_hash = "changed";
  Put(input);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
  EXPECT_TRUE(SearchKeys("numbat").empty());
}

TEST_F(DocumentStoreTest, ChunksKeepTheirLinesAndOlderIndexesGainTheColumns) {
  DocumentInput input = MakeDocument("/docs/a.txt", {"first chunk", "second chunk"});
  input.chunks[0].line = 3;
  input.chunks[0].line_end = 9;
  input.chunks[1].line = 9;
  input.chunks[1].line_end = 9;
  Put(input);
  auto ids = store_->ListChunkIds({});
  ASSERT_TRUE(ids.ok());
  auto chunks = store_->GetChunks(*ids);
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ(chunks->size(), 2u);
  EXPECT_EQ((*chunks)[0].line, 3u);
  EXPECT_EQ((*chunks)[0].line_end, 9u);
  EXPECT_EQ((*chunks)[1].line, 9u);

  // An index from before the line columns.
  const fs::path index = store_->database_path().parent_path();
  store_.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((index / "sieve.db").c_str(), &db), SQLITE_OK);
    ASSERT_TRUE(RegisterFtsExtensions(db).ok());  // the triggers name the FTS tokenizer
    ASSERT_EQ(sqlite3_exec(db,
                           "ALTER TABLE chunks DROP COLUMN line; "
                           "ALTER TABLE chunks DROP COLUMN line_end;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  // A reader reads it as it is: no lines.
  {
    OpenOptions read_only;
    read_only.read_only = true;
    auto reader = DocumentStore::Open(index, read_only);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    auto old = (*reader)->GetChunks(*ids);
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    ASSERT_EQ(old->size(), 2u);
    EXPECT_EQ((*old)[0].line, 0u);
    EXPECT_EQ((*old)[0].line_end, 0u);
    EXPECT_EQ((*old)[0].text, "first chunk");
  }
  // A writer adds the columns: old chunks have no line, new ones do.
  auto reopened = DocumentStore::Open(index);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  store_ = std::move(*reopened);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
  DocumentInput other = MakeDocument("/docs/b.txt", {"third chunk"});
  other.chunks[0].line = 40;
  other.chunks[0].line_end = 42;
  Put(other);
  auto all_ids = store_->ListChunkIds({});
  ASSERT_TRUE(all_ids.ok());
  auto all = store_->GetChunks(*all_ids);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].line, 0u);
  EXPECT_EQ((*all)[2].line, 40u);
  EXPECT_EQ((*all)[2].line_end, 42u);
  EXPECT_THAT(SearchKeys("third"), ::testing::ElementsAre("/docs/b.txt"));
}

TEST_F(DocumentStoreTest, TermIdfComesFromTheIndex) {
  Put(MakeDocument("/a", {"common rare"}));
  Put(MakeDocument("/b", {"common"}));
  Put(MakeDocument("/c", {"common"}));
  auto rare = store_->TermIdf("rare");
  auto common = store_->TermIdf("common");
  ASSERT_TRUE(rare.ok() && common.ok());
  ASSERT_TRUE(rare->has_value() && common->has_value());
  EXPECT_GT(**rare, **common);
  auto absent = store_->TermIdf("absent");
  ASSERT_TRUE(absent.ok() && absent->has_value());
  EXPECT_GT(**absent, **rare);
  auto nothing = store_->TermIdf("...");
  ASSERT_TRUE(nothing.ok());
  EXPECT_FALSE(nothing->has_value());
}

}  // namespace
}  // namespace sieve::store
