// A damaged key index cannot let duplicate documents in, `Check` finds and repairs what the
// database itself can repair, and readers open read-only (issue 8, item 4 and "readers never
// blocked").
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/file.h"
#include "store/document_store.h"
#include "store/ingest.h"

namespace sieve::store {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

DocumentInput MakeDocument(const std::string& key) {
  DocumentInput input;
  input.key = key;
  input.source_path = key;
  input.type = "text";
  input.title = key;
  input.content_hash = "hash";
  input.chunking = "max=256,overlap=32";
  text::Chunk chunk;
  chunk.text = "text of " + key;
  chunk.end = chunk.text.size();
  input.chunks.push_back(chunk);
  return input;
}

class StoreCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve_check_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<DocumentStore> Open(bool read_only = false) {
    OpenOptions options;
    options.read_only = read_only;
    options.busy_timeout_ms = 200;
    auto db = DocumentStore::Open(dir_, options);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }
  void Put(DocumentStore& db, const std::string& key) {
    auto txn = db.BeginTransaction();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(db.PutDocument(MakeDocument(key)).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }

  // Changes one byte of `key` inside the unique key index's root page (the keys stay in the
  // table): what the flipped bytes of the issue did. Lookups by that key then miss.
  void DamageKeyIndex(const std::string& key) {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / kDatabaseFileName).c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw,
                                 "SELECT rootpage, (SELECT page_size FROM pragma_page_size) "
                                 "FROM sqlite_master WHERE name = 'sqlite_autoindex_documents_1'",
                                 -1, &stmt, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    const auto root = static_cast<std::size_t>(sqlite3_column_int64(stmt, 0));
    const auto page_size = static_cast<std::size_t>(sqlite3_column_int64(stmt, 1));
    sqlite3_finalize(stmt);
    sqlite3_close(raw);
    std::string bytes = ReadFile(dir_ / kDatabaseFileName).value();
    const std::size_t begin = (root - 1) * page_size;
    const std::size_t at = bytes.find(key, begin);
    ASSERT_NE(at, std::string::npos);
    ASSERT_LT(at, begin + page_size);
    bytes[at + key.size() - 5] ^= 0x01;  // "/docs/file107.txt" -> "/docs/file106.txt"
    std::ofstream(dir_ / kDatabaseFileName, std::ios::binary | std::ios::trunc) << bytes;
  }

  fs::path dir_;
};

TEST_F(StoreCheckTest, AHealthyIndexHasNothingToReport) {
  auto db = Open();
  Put(*db, "/a");
  auto report = db->Check(/*repair=*/false);
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(report->found, IsEmpty());
  EXPECT_TRUE(db->CheckDocumentKeys().ok());
}

// Issue 8 item 4: damaged bytes in sieve.db, then a re-ingest of the same documents, made
// duplicate rows. A writer now refuses to write on a damaged key index, and repair fixes it.
TEST_F(StoreCheckTest, ADamagedKeyIndexIsFoundRefusedAndRepaired) {
  {
    auto db = Open();
    for (int i = 0; i < 20; ++i) Put(*db, "/docs/file" + std::to_string(100 + i) + ".txt");
  }
  DamageKeyIndex("/docs/file107.txt");
  auto db = Open();
  // The lookup by key misses: without the check, PutDocument would add a second row.
  EXPECT_FALSE(db->FindDocument("/docs/file107.txt").value().has_value());
  Status keys = db->CheckDocumentKeys();
  EXPECT_EQ(keys.code(), StatusCode::kInvalidInput);
  EXPECT_THAT(keys.message(), HasSubstr("sieve check --repair"));
  auto found = db->Check(/*repair=*/false);
  ASSERT_TRUE(found.ok());
  EXPECT_THAT(found->found, Not(IsEmpty()));
  auto repaired = db->Check(/*repair=*/true);
  ASSERT_TRUE(repaired.ok()) << repaired.status().ToString();
  EXPECT_THAT(repaired->fixed, Not(IsEmpty()));
  EXPECT_TRUE(db->CheckDocumentKeys().ok());
  EXPECT_TRUE(db->FindDocument("/docs/file107.txt").value().has_value());
  EXPECT_THAT(db->Check(false)->found, IsEmpty());
}

// Duplicate rows that got in before the check existed are found and the older ones deleted.
TEST_F(StoreCheckTest, DuplicateDocumentRowsAreRepaired) {
  {
    auto db = Open();
    for (int i = 0; i < 20; ++i) Put(*db, "/docs/file" + std::to_string(100 + i) + ".txt");
  }
  DamageKeyIndex("/docs/file107.txt");
  {
    auto db = Open();
    Put(*db, "/docs/file107.txt");  // what an unchecked re-ingest did
    EXPECT_EQ(db->ListDocuments()->size(), 21u);
    auto report = db->Check(/*repair=*/true);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_THAT(report->found, Contains(HasSubstr("1 duplicate document rows")));
    EXPECT_THAT(report->fixed, Contains(HasSubstr("deleted 1 older duplicate")));
  }
  auto db = Open();
  EXPECT_EQ(db->ListDocuments()->size(), 20u);
  EXPECT_THAT(db->Check(false)->found, IsEmpty());
}

// Readers open read-only: they neither wait for nor take the write lock.
TEST_F(StoreCheckTest, AReaderIsNotBlockedByAWriteTransaction) {
  auto writer = Open();
  Put(*writer, "/a");
  auto txn = writer->BeginTransaction();  // a long ingest holds the write lock
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(writer->PutDocument(MakeDocument("/b")).ok());
  const auto start = std::chrono::steady_clock::now();
  auto reader = Open(/*read_only=*/true);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->Stats()->documents, 1u);  // the committed state
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  // A read-only connection cannot write.
  EXPECT_FALSE(reader->SetMeta("x", "y").ok());
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(reader->Stats()->documents, 2u);
}

// One snapshot per request: reads inside it do not see a commit made meanwhile.
TEST_F(StoreCheckTest, AReadSnapshotSeesOneStateOfTheDatabase) {
  auto writer = Open();
  Put(*writer, "/a");
  auto reader = Open(/*read_only=*/true);
  {
    auto snapshot = reader->BeginReadSnapshot();
    ASSERT_TRUE(snapshot.ok());
    const auto before = reader->ListChunkIds().value();
    Put(*writer, "/b");
    EXPECT_EQ(reader->ListChunkIds().value(), before);
    EXPECT_EQ(reader->GetChunks(before)->size(), before.size());
  }
  EXPECT_EQ(reader->ListChunkIds()->size(), 2u);
}

}  // namespace
}  // namespace sieve::store
