// Vectors are never used for a database they do not belong to, damaged vector files are never
// handed to FAISS, and a re-embedding swaps the new vectors in atomically (issue 8, items 1-3, 7).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <xxhash.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "core/file.h"
#include "store/document_store.h"
#include "store/faiss_vector_store.h"

namespace sieve::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr std::size_t kDim = 8;

models::ModelInfo TestModel(std::string id = "test/model") {
  models::ModelInfo m;
  m.id = std::move(id);
  m.dimension = kDim;
  m.pooling = "cls";
  m.normalize = true;
  return m;
}

std::vector<float> VectorFor(std::int64_t id) {
  std::vector<float> v(kDim);
  for (std::size_t i = 0; i < kDim; ++i) {
    v[i] = static_cast<float>(std::sin(static_cast<double>(id) * (i + 1) * 0.37) + 0.1 * i);
  }
  return v;
}

EmbedChunks FakeEmbedder(std::size_t* embedded = nullptr) {
  return [embedded](const std::vector<std::int64_t>& ids) -> Result<std::vector<VectorRecord>> {
    if (embedded != nullptr) *embedded += ids.size();
    std::vector<VectorRecord> out;
    for (auto id : ids) out.push_back({id, VectorFor(id), {}});
    return out;
  };
}

DocumentInput MakeDocument(const std::string& key, std::size_t chunks) {
  DocumentInput input;
  input.key = key;
  input.source_path = key;
  input.type = "text";
  input.title = key;
  input.content_hash = "hash-" + key;
  input.chunking = "max=256,overlap=32";
  for (std::size_t i = 0; i < chunks; ++i) {
    text::Chunk chunk;
    chunk.ordinal = i;
    chunk.text = key + " chunk " + std::to_string(i);
    chunk.end = chunk.text.size();
    input.chunks.push_back(chunk);
  }
  return input;
}

class VectorIntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve_rel_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<DocumentStore> OpenDb() {
    auto db = DocumentStore::Open(dir_);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return std::move(db).value();
  }
  void Ingest(DocumentStore& db, const std::string& key, std::size_t chunks) {
    auto txn = db.BeginTransaction();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(db.PutDocument(MakeDocument(key, chunks)).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  std::unique_ptr<FaissVectorStore> OpenVectors(DocumentStore& db, bool writer = true) {
    VectorStoreOptions options;
    options.binding = db.Binding(/*read_only=*/!writer);
    auto vectors = FaissVectorStore::Open(dir_, options);
    EXPECT_TRUE(vectors.ok()) << vectors.status().ToString();
    return std::move(vectors).value();
  }
  // Embeds every chunk of `db` and saves.
  void Sync(DocumentStore& db, std::size_t* embedded = nullptr) {
    auto vectors = OpenVectors(db);
    ASSERT_TRUE(vectors->BindModel(TestModel()).ok());
    auto report = Reconcile(*vectors, db.ListChunkIds().value(), FakeEmbedder(embedded));
    ASSERT_TRUE(report.ok()) << report.status().ToString();
  }
  std::string Bytes(const fs::path& p) { return ReadFile(p).value(); }
  void Write(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  }

  fs::path dir_;
};

// Issue 8 item 1: delete sieve.db, keep the vector files, ingest other documents: chunk ids start
// again at 1, and the old vectors must not be taken for the new chunks.
TEST_F(VectorIntegrityTest, VectorsOfADeletedDatabaseAreNeverReused) {
  {
    auto db = OpenDb();
    Ingest(*db, "/old/a", 20);
    Sync(*db);
  }
  for (const char* f : {"sieve.db", "sieve.db-wal", "sieve.db-shm"}) fs::remove(dir_ / f);
  auto db = OpenDb();
  Ingest(*db, "/new/b", 20);
  EXPECT_EQ(db->ListChunkIds().value().front(), 1);  // ids restart in a new database
  auto vectors = OpenVectors(*db);
  EXPECT_THAT(vectors->damage(), HasSubstr("belongs to another index"));
  EXPECT_EQ(vectors->size().value(), 0u);
  ASSERT_TRUE(vectors->BindModel(TestModel()).ok());
  std::size_t embedded = 0;
  ASSERT_TRUE(Reconcile(*vectors, db->ListChunkIds().value(), FakeEmbedder(&embedded)).ok());
  EXPECT_EQ(embedded, 20u);  // every new chunk embedded, none reused
  EXPECT_EQ(OpenVectors(*db)->damage(), "");
}

// A sieve.db restored from an older copy could hand out chunk ids the vectors already have: the
// vectors' generation is above the database's, so they are rebuilt.
TEST_F(VectorIntegrityTest, VectorsNewerThanTheDatabaseAreRebuilt) {
  {
    auto db = OpenDb();
    Ingest(*db, "/a", 5);
    Sync(*db);
  }
  fs::copy_file(dir_ / "sieve.db", dir_ / "backup.db");
  {
    auto db = OpenDb();
    Ingest(*db, "/b", 5);
    Sync(*db);
    EXPECT_GE(db->Identity()->generation, 2u);
  }
  fs::remove(dir_ / "sieve.db-wal");
  fs::remove(dir_ / "sieve.db-shm");
  fs::copy_file(dir_ / "backup.db", dir_ / "sieve.db", fs::copy_options::overwrite_existing);
  auto db = OpenDb();
  auto vectors = OpenVectors(*db);
  EXPECT_THAT(vectors->damage(), HasSubstr("newer than sieve.db"));
  EXPECT_EQ(vectors->size().value(), 0u);
}

// Chunk ids are never handed out twice in one database, even after every document is deleted.
TEST_F(VectorIntegrityTest, ChunkIdsAreNeverReused) {
  auto db = OpenDb();
  Ingest(*db, "/a", 3);
  const auto first = db->ListChunkIds().value();
  {
    auto txn = db->BeginTransaction();
    ASSERT_TRUE(db->DeleteDocument("/a").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  Ingest(*db, "/a", 3);
  EXPECT_GT(db->ListChunkIds().value().front(), first.back());
}

// Issue 8 item 2: 64 KB of junk in the middle of vectors.faiss.
TEST_F(VectorIntegrityTest, JunkInTheVectorPayloadIsDetectedAndRebuilt) {
  auto db = OpenDb();
  Ingest(*db, "/a", 3000);  // ~ 3000 * 40 bytes: the junk lands among the vectors
  Sync(*db);
  std::string bytes = Bytes(dir_ / kVectorIndexFile);
  ASSERT_GT(bytes.size(), 70000u);
  for (std::size_t i = 0; i < 65536; ++i) bytes[1000 + i] = static_cast<char>(0x7f);
  Write(dir_ / kVectorIndexFile, bytes);
  auto vectors = OpenVectors(*db);
  EXPECT_THAT(vectors->damage(), HasSubstr("checksum"));
  EXPECT_EQ(vectors->size().value(), 0u);
  ASSERT_TRUE(vectors->BindModel(TestModel()).ok());
  std::size_t embedded = 0;
  ASSERT_TRUE(Reconcile(*vectors, db->ListChunkIds().value(), FakeEmbedder(&embedded)).ok());
  EXPECT_EQ(embedded, 3000u);
  auto reopened = OpenVectors(*db);
  EXPECT_EQ(reopened->damage(), "");
  // Scores are cosines again: at most 1.
  auto hits = reopened->Search(VectorFor(7), 1, 3, {}, nullptr);
  ASSERT_TRUE(hits.ok());
  for (const auto& h : (*hits)[0]) EXPECT_LE(h.score, 1.0001f);
}

// Issue 8 item 3: a header that claims 2^40 vectors. Even with a checksum that matches (a forged
// file), the count is checked against the file size before FAISS allocates anything.
TEST_F(VectorIntegrityTest, AHeaderCountTheFileCannotHoldIsRefusedBeforeFaissReads) {
  auto db = OpenDb();
  Ingest(*db, "/a", 10);
  Sync(*db);
  std::string bytes = Bytes(dir_ / kVectorIndexFile);
  ASSERT_EQ(bytes.substr(0, 4), "IxM2");
  const std::uint64_t huge = std::uint64_t{1} << 40;
  for (std::size_t at : {std::size_t{8}, std::size_t{45}}) std::memcpy(&bytes[at], &huge, 8);
  // Recompute the trailer's checksum (payload + 56 trailer bytes), as a forger would.
  const std::size_t payload = bytes.size() - 64;
  const std::uint64_t hash = XXH3_64bits(bytes.data(), payload + 56);
  std::memcpy(&bytes[payload + 56], &hash, 8);
  Write(dir_ / kVectorIndexFile, bytes);
  const auto start = std::chrono::steady_clock::now();
  auto vectors = OpenVectors(*db);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_THAT(vectors->damage(), HasSubstr("more than its"));
  EXPECT_EQ(vectors->size().value(), 0u);
}

TEST_F(VectorIntegrityTest, AVectorFileWithoutChecksumIsNotTrusted) {
  auto db = OpenDb();
  Ingest(*db, "/a", 4);
  Sync(*db);
  std::string bytes = Bytes(dir_ / kVectorIndexFile);
  Write(dir_ / kVectorIndexFile, bytes.substr(0, bytes.size() - 64));  // as an older sieve wrote
  EXPECT_THAT(OpenVectors(*db)->damage(), HasSubstr("no checksum trailer"));
}

TEST_F(VectorIntegrityTest, ADamagedManifestIsNamedAsSuch) {
  auto db = OpenDb();
  Ingest(*db, "/a", 4);
  Sync(*db);
  Write(dir_ / kVectorManifestFile, "{\"format\": 2, \"model\": {\"id\": 3");
  auto vectors = OpenVectors(*db);
  EXPECT_THAT(vectors->damage(), HasSubstr("vector manifest"));
  EXPECT_THAT(vectors->damage(), HasSubstr("is damaged"));
  EXPECT_FALSE(vectors->model().has_value());
}

// Temporary files of a killed save are removed by the next writer.
TEST_F(VectorIntegrityTest, StaleTemporaryFilesAreRemovedOnTheNextSave) {
  auto db = OpenDb();
  Ingest(*db, "/a", 4);
  Write(dir_ / "vectors.faiss.tmp.999999", "half");
  Write(dir_ / "vectors.json.tmp.999999", "{");
  Sync(*db);
  EXPECT_FALSE(fs::exists(dir_ / "vectors.faiss.tmp.999999"));
  EXPECT_FALSE(fs::exists(dir_ / "vectors.json.tmp.999999"));
}

// Issue 8 item 7: a re-embedding killed before it finished leaves the old vectors and model in
// place; finishing it swaps the new ones in at once; a rerun resumes what was staged.
TEST_F(VectorIntegrityTest, ReembeddingIsStagedAndSwappedInAtomically) {
  auto db = OpenDb();
  Ingest(*db, "/a", 50);
  Sync(*db);
  const auto ids = db->ListChunkIds().value();
  {
    auto live = OpenVectors(*db);
    auto staged = live->OpenStaging();
    ASSERT_TRUE(staged.ok()) << staged.status().ToString();
    ASSERT_TRUE((*staged)->BindModel(TestModel("new/model")).ok());
    // Half of it staged and saved, then "killed".
    std::vector<std::int64_t> half(ids.begin(), ids.begin() + 25);
    ASSERT_TRUE(Reconcile(**staged, half, FakeEmbedder()).ok());
  }
  {
    auto live = OpenVectors(*db);
    EXPECT_EQ(live->model()->id, "test/model");  // the old model is not forgotten
    EXPECT_EQ(live->size().value(), 50u);
    EXPECT_EQ(live->damage(), "");
    auto staged = live->OpenStaging();
    ASSERT_TRUE(staged.ok());
    EXPECT_EQ((*staged)->model()->id, "new/model");
    EXPECT_EQ((*staged)->size().value(), 25u);  // the rerun resumes
    std::size_t embedded = 0;
    ASSERT_TRUE(Reconcile(**staged, ids, FakeEmbedder(&embedded)).ok());
    EXPECT_EQ(embedded, 25u);
    ASSERT_TRUE(live->CommitStaging(**staged).ok());
    EXPECT_EQ(live->model()->id, "new/model");
  }
  EXPECT_FALSE(fs::exists(dir_ / kVectorStagingDir));
  auto reopened = OpenVectors(*db);
  EXPECT_EQ(reopened->damage(), "");
  EXPECT_EQ(reopened->model()->id, "new/model");
  EXPECT_EQ(reopened->size().value(), 50u);
  // The next save goes back to vectors.faiss.
  ASSERT_TRUE(reopened->Flush().ok());
  EXPECT_FALSE(fs::exists(dir_ / kVectorStagedFile));
  EXPECT_EQ(OpenVectors(*db)->size().value(), 50u);
}

}  // namespace
}  // namespace sieve::store
