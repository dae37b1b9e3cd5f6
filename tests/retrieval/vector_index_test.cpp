#include "store/faiss_vector_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "core/file.h"

namespace sieve::store {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::size_t kDim = 8;

models::ModelInfo TestModel(std::string id = "test/model") {
  models::ModelInfo m;
  m.id = std::move(id);
  m.dimension = kDim;
  m.pooling = "cls";
  m.normalize = true;
  m.query_prompt = "query: ";
  return m;
}

// A deterministic, id-dependent vector (not unit length: the index normalises).
std::vector<float> VectorFor(std::int64_t id) {
  std::vector<float> v(kDim);
  for (std::size_t i = 0; i < kDim; ++i) {
    v[i] = static_cast<float>(std::sin(static_cast<double>(id) * (i + 1) * 0.37) + 0.1 * i);
  }
  return v;
}

std::vector<float> Unit(std::vector<float> v) {
  double n = 0;
  for (float x : v) n += x * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

EmbedChunks FakeEmbedder(std::size_t* calls = nullptr) {
  return [calls](const std::vector<std::int64_t>& ids) -> Result<std::vector<VectorRecord>> {
    if (calls != nullptr) ++*calls;
    std::vector<VectorRecord> out;
    for (auto id : ids) out.push_back({id, VectorFor(id), {}});
    return out;
  };
}

std::vector<std::int64_t> Range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(to - from));
  std::iota(ids.begin(), ids.end(), from);
  return ids;
}

class VectorIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve_vi_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<FaissVectorStore> OpenBound(const FaissIndexOptions& faiss = {}) {
    VectorStoreOptions options;
    options.faiss = faiss;
    // The filter "allowed" stands for the chunk ids in allowed_ (what the SQLite store would
    // resolve).
    options.resolve_filter = [this](const Filter& filter) -> Result<std::vector<std::int64_t>> {
      if (filter.path_prefix != "allowed") return Status::Internal("unexpected filter");
      return allowed_;
    };
    auto index = FaissVectorStore::Open(dir_, options);
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    EXPECT_TRUE((*index)->BindModel(TestModel()).ok());
    return std::move(index).value();
  }

  // Search with one query through the interface; `allowed` becomes a filter.
  Result<std::vector<VectorMatch>> Find(const VectorStore& index, const std::vector<float>& query,
                                        std::size_t k,
                                        const std::vector<std::int64_t>* allowed = nullptr) {
    Filter filter;
    if (allowed != nullptr) {
      allowed_ = *allowed;
      filter.path_prefix = "allowed";
    }
    SIEVE_ASSIGN_OR_RETURN(auto lists, index.Search(query, 1, k, filter, nullptr));
    if (lists.size() != 1) return Status::Internal("not one result list");
    return lists[0];
  }

  fs::path dir_;
  std::vector<std::int64_t> allowed_;
};

// Upsert through the interface from parallel id and vector lists.
Status Upsert(VectorStore& index, const std::vector<std::int64_t>& ids,
              const std::vector<std::vector<float>>& vectors) {
  if (ids.size() != vectors.size()) return Status::InvalidArgument("ids and vectors differ");
  std::vector<VectorRecord> records(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    records[i].chunk_id = ids[i];
    records[i].vector = vectors[i];
  }
  return index.Upsert(records);
}

// Unit basis vectors make the expected cosines obvious.
std::vector<float> Basis(std::size_t axis, float scale = 1) {
  std::vector<float> v(kDim, 0);
  v[axis] = scale;
  return v;
}

TEST_F(VectorIndexTest, ExactSearchRanksByCosine) {
  auto index = OpenBound();
  ASSERT_TRUE(Upsert(*index, {10, 20, 30}, {Basis(0, 5), Basis(1), {1, 1, 0, 0, 0, 0, 0, 0}}).ok());
  EXPECT_FALSE(index->is_hnsw());
  auto hits = Find(*index, Basis(0, 3), 10);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 3u);
  EXPECT_EQ((*hits)[0].chunk_id, 10);
  EXPECT_NEAR((*hits)[0].score, 1.0, 1e-6);  // normalised: length 5 does not matter
  EXPECT_EQ((*hits)[1].chunk_id, 30);
  EXPECT_NEAR((*hits)[1].score, std::sqrt(0.5), 1e-6);
  EXPECT_EQ((*hits)[2].chunk_id, 20);
  EXPECT_NEAR((*hits)[2].score, 0.0, 1e-6);
}

TEST_F(VectorIndexTest, AllowedIdsRestrictTheSearch) {
  auto index = OpenBound();
  ASSERT_TRUE(Upsert(*index, {1, 2, 3}, {Basis(0), Basis(1), {1, 1, 0, 0, 0, 0, 0, 0}}).ok());
  const std::vector<std::int64_t> allowed = {2, 3, 99};  // 99 is not in the index
  auto hits = Find(*index, Basis(0), 10, &allowed);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].chunk_id, 3);
  EXPECT_EQ((*hits)[1].chunk_id, 2);
  const std::vector<std::int64_t> none = {42};
  EXPECT_TRUE(Find(*index, Basis(0), 10, &none)->empty());
}

TEST_F(VectorIndexTest, UpsertReplacesAndRemoveDeletes) {
  auto index = OpenBound();
  ASSERT_TRUE(Upsert(*index, {1, 2}, {Basis(0), Basis(1)}).ok());
  ASSERT_TRUE(Upsert(*index, {1}, {Basis(2)}).ok());  // re-ingested chunk: new vector
  EXPECT_EQ(index->size().value(), 2u);
  EXPECT_EQ(*index->Vector(1), Basis(2));
  ASSERT_TRUE(index->Remove(std::vector<std::int64_t>{2, 77}).ok());
  EXPECT_THAT(index->Ids().value(), ElementsAre(1));
  auto hits = Find(*index, Basis(1), 5);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].chunk_id, 1);
}

TEST_F(VectorIndexTest, RejectsBadVectors) {
  auto index = OpenBound();
  EXPECT_EQ(Upsert(*index, {1}, {{1, 2}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Upsert(*index, {1, 2}, {Basis(0)}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Upsert(*index, {1, 1}, {Basis(0), Basis(1)}).code(), StatusCode::kInvalidArgument);
  auto nan = Basis(0);
  nan[3] = std::nanf("");
  EXPECT_EQ(Upsert(*index, {1}, {nan}).code(), StatusCode::kInvalidInput);
  EXPECT_EQ(Find(*index, {1, 2}, 3).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index->size().value(), 0u);
}

TEST_F(VectorIndexTest, SaveAndReopenKeepsVectorsAndModel) {
  {
    auto index = OpenBound();
    ASSERT_TRUE(Upsert(*index, Range(1, 50),
                       [] {
                         std::vector<std::vector<float>> v;
                         for (auto id : Range(1, 50)) v.push_back(VectorFor(id));
                         return v;
                       }())
                    .ok());
    ASSERT_TRUE(index->Flush().ok());
  }
  auto reopened = FaissVectorStore::Open(dir_);
  ASSERT_TRUE(reopened.ok());
  FaissVectorStore& index = **reopened;
  EXPECT_TRUE(index.damage().empty()) << index.damage();
  ASSERT_TRUE(index.model().has_value());
  EXPECT_EQ(index.model()->id, "test/model");
  EXPECT_EQ(index.model()->query_prompt, "query: ");
  EXPECT_EQ(index.Ids().value(), Range(1, 50));
  auto v = index.Vector(17);
  ASSERT_TRUE(v.ok());
  for (std::size_t i = 0; i < kDim; ++i) EXPECT_NEAR((*v)[i], Unit(VectorFor(17))[i], 1e-6);
  auto hits = Find(index, VectorFor(17), 1);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].chunk_id, 17);

  auto manifest = nlohmann::json::parse(*ReadFile(dir_ / kVectorManifestFile));
  EXPECT_EQ(manifest["count"], 49);
  EXPECT_EQ(manifest["ids_sha256"], IdsChecksum(Range(1, 50)));
  EXPECT_EQ(manifest["model"]["dimension"], kDim);
  EXPECT_EQ(manifest["kind"], "flat");
}

TEST_F(VectorIndexTest, ADifferentModelIsRefusedWithTheReembedCommand) {
  {
    auto index = OpenBound();
    ASSERT_TRUE(Upsert(*index, {1}, {Basis(0)}).ok());
    ASSERT_TRUE(index->Flush().ok());
  }
  auto index = FaissVectorStore::Open(dir_);
  ASSERT_TRUE(index.ok());
  EXPECT_TRUE((*index)->BindModel(TestModel()).ok());  // the same model again is fine
  auto other = TestModel("other/model");
  Status refused = (*index)->BindModel(other);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("sieve --index"));
  EXPECT_THAT(refused.message(), HasSubstr("reembed --embed-model other/model"));
  EXPECT_THAT(refused.message(), HasSubstr("test/model"));
  auto other_prompt = TestModel();
  other_prompt.query_prompt = "";
  EXPECT_FALSE((*index)->BindModel(other_prompt).ok());
  // Clear() is how re-embedding starts: files gone, the new model accepted.
  ASSERT_TRUE((*index)->Clear().ok());
  EXPECT_FALSE(fs::exists(dir_ / kVectorIndexFile));
  EXPECT_TRUE((*index)->BindModel(other).ok());
  EXPECT_EQ((*index)->size().value(), 0u);
}

TEST_F(VectorIndexTest, SameRevisionIsTheSameModelWhateverThePath) {
  auto a = TestModel("/cache/models--x/snapshots/abc");
  a.revision = "abc";
  auto b = TestModel("x/model");
  b.revision = "abc";
  EXPECT_TRUE(SameEmbeddingModel(a, b));
  b.revision = "def";
  EXPECT_FALSE(SameEmbeddingModel(a, b));
}

TEST_F(VectorIndexTest, SwitchesToHnswAboveTheThresholdAndBack) {
  FaissIndexOptions options;
  options.exact_threshold = 40;
  options.hnsw_m = 8;
  options.hnsw_ef_construction = 40;
  options.hnsw_ef_search = 32;
  auto index = OpenBound(options);
  std::vector<std::vector<float>> vectors;
  for (auto id : Range(1, 31)) vectors.push_back(VectorFor(id));
  ASSERT_TRUE(Upsert(*index, Range(1, 31), vectors).ok());
  EXPECT_FALSE(index->is_hnsw());
  vectors.clear();
  for (auto id : Range(31, 61)) vectors.push_back(VectorFor(id));
  ASSERT_TRUE(Upsert(*index, Range(31, 61), vectors).ok());
  EXPECT_TRUE(index->is_hnsw());
  EXPECT_EQ(index->Ids().value(), Range(1, 61));
  for (std::int64_t id : {1, 30, 31, 60}) {
    auto hits = Find(*index, VectorFor(id), 3);
    ASSERT_TRUE(hits.ok());
    ASSERT_FALSE(hits->empty());
    EXPECT_EQ((*hits)[0].chunk_id, id);
  }
  // HNSW cannot delete in place: removal rebuilds, and the kind follows the size.
  ASSERT_TRUE(index->Remove(Range(1, 11)).ok());
  EXPECT_TRUE(index->is_hnsw());
  EXPECT_EQ(index->Ids().value(), Range(11, 61));
  ASSERT_TRUE(Upsert(*index, {20}, {Basis(4)}).ok());  // replace inside HNSW
  EXPECT_EQ((*Find(*index, Basis(4), 1))[0].chunk_id, 20);
  const std::vector<std::int64_t> allowed = {12, 13};
  auto filtered = Find(*index, VectorFor(12), 5, &allowed);
  ASSERT_EQ(filtered->size(), 2u);
  EXPECT_EQ((*filtered)[0].chunk_id, 12);
  ASSERT_TRUE(index->Flush().ok());
  auto manifest = nlohmann::json::parse(*ReadFile(dir_ / kVectorManifestFile));
  EXPECT_EQ(manifest["kind"], "hnsw");
  ASSERT_TRUE(index->Remove(Range(11, 41)).ok());
  EXPECT_FALSE(index->is_hnsw());
  EXPECT_EQ(index->Ids().value(), Range(41, 61));
}

TEST_F(VectorIndexTest, ReconcileRemovesStaleAndEmbedsMissing) {
  auto index = OpenBound();
  ASSERT_TRUE(Upsert(*index, {1, 2, 3}, {VectorFor(1), VectorFor(2), VectorFor(3)}).ok());
  // Store now holds 2, 3 (1 was deleted) and 4..9 (ingested, vectors not yet made).
  std::vector<std::int64_t> store_ids = {2, 3, 4, 5, 6, 7, 8, 9};
  std::size_t calls = 0;
  std::vector<std::pair<std::size_t, std::size_t>> progress;
  ReconcileOptions options;
  options.batch_size = 4;
  options.progress = [&](std::size_t done, std::size_t total) {
    progress.emplace_back(done, total);
  };
  auto report = Reconcile(*index, store_ids, FakeEmbedder(&calls), options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->stale_removed, 1u);
  EXPECT_EQ(report->missing_embedded, 6u);
  EXPECT_TRUE(report->saved);
  EXPECT_EQ(calls, 2u);
  EXPECT_THAT(progress, ElementsAre(std::pair<std::size_t, std::size_t>{4, 6},
                                    std::pair<std::size_t, std::size_t>{6, 6}));
  EXPECT_EQ(index->Ids().value(), store_ids);
  // Nothing to do the second time: no embedding, no save.
  calls = 0;
  auto again = Reconcile(*index, store_ids, FakeEmbedder(&calls));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(calls, 0u);
  EXPECT_FALSE(again->saved);
}

TEST_F(VectorIndexTest, EmbedFailureKeepsWhatWasDone) {
  auto index = OpenBound();
  std::size_t calls = 0;
  EmbedChunks failing =
      [&](const std::vector<std::int64_t>& ids) -> Result<std::vector<VectorRecord>> {
    if (++calls == 2) return Status::Internal("engine exploded");
    return FakeEmbedder()(ids);
  };
  ReconcileOptions options;
  options.batch_size = 2;
  auto report = Reconcile(*index, Range(1, 7), failing, options);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("engine exploded"));
  auto reopened = FaissVectorStore::Open(dir_);
  EXPECT_EQ((*reopened)->Ids().value(), Range(1, 3));
}

TEST_F(VectorIndexTest, CorruptIndexFileIsRepairedByReembedding) {
  {
    auto index = OpenBound();
    ASSERT_TRUE(Reconcile(*index, Range(1, 21), FakeEmbedder()).ok());
  }
  ASSERT_TRUE(WriteFileAtomic(dir_ / kVectorIndexFile, "this is not a FAISS index").ok());
  auto index = FaissVectorStore::Open(dir_);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_THAT((*index)->damage(), HasSubstr("damaged"));
  EXPECT_EQ((*index)->size().value(), 0u);
  ASSERT_TRUE((*index)->BindModel(TestModel()).ok());  // the manifest still names the model
  auto report = Reconcile(**index, Range(1, 21), FakeEmbedder());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->missing_embedded, 20u);
  auto reopened = FaissVectorStore::Open(dir_);
  EXPECT_TRUE((*reopened)->damage().empty());
  EXPECT_EQ((*reopened)->Ids().value(), Range(1, 21));
}

TEST_F(VectorIndexTest, MissingOrCorruptManifestDiscardsTheVectors) {
  {
    auto index = OpenBound();
    ASSERT_TRUE(Reconcile(*index, Range(1, 5), FakeEmbedder()).ok());
  }
  ASSERT_TRUE(WriteFileAtomic(dir_ / kVectorManifestFile, "{\"format\": 1, \"model\": ").ok());
  auto corrupt = FaissVectorStore::Open(dir_);
  ASSERT_TRUE(corrupt.ok());
  EXPECT_THAT((*corrupt)->damage(), HasSubstr("vector manifest"));
  EXPECT_FALSE((*corrupt)->model().has_value());
  EXPECT_EQ((*corrupt)->size().value(), 0u);

  fs::remove(dir_ / kVectorManifestFile);
  auto missing = FaissVectorStore::Open(dir_);
  ASSERT_TRUE(missing.ok());
  EXPECT_THAT((*missing)->damage(), HasSubstr("has no vectors.json"));
  ASSERT_TRUE((*missing)->BindModel(TestModel("another/model")).ok());
  EXPECT_EQ(Reconcile(**missing, Range(1, 5), FakeEmbedder())->missing_embedded, 4u);
}

TEST_F(VectorIndexTest, ManifestOlderThanIndexIsRewritten) {
  {
    auto index = OpenBound();
    ASSERT_TRUE(Reconcile(*index, Range(1, 5), FakeEmbedder()).ok());
  }
  const std::string old_manifest = *ReadFile(dir_ / kVectorManifestFile);
  {
    auto index = OpenBound();
    ASSERT_TRUE(Reconcile(*index, Range(1, 8), FakeEmbedder()).ok());
  }
  // As if killed between writing vectors.faiss and vectors.json.
  ASSERT_TRUE(WriteFileAtomic(dir_ / kVectorManifestFile, old_manifest).ok());
  auto index = FaissVectorStore::Open(dir_);
  EXPECT_THAT((*index)->damage(), HasSubstr("does not match"));
  EXPECT_EQ((*index)->Ids().value(), Range(1, 8));  // same model: the vectors are kept
  ASSERT_TRUE((*index)->BindModel(TestModel()).ok());
  auto report = Reconcile(**index, Range(1, 8), FakeEmbedder());
  EXPECT_EQ(report->missing_embedded, 0u);
  EXPECT_TRUE(report->saved);
  EXPECT_TRUE((*FaissVectorStore::Open(dir_))->damage().empty());
}

TEST_F(VectorIndexTest, MissingDirectoryIsNotFound) {
  auto index = FaissVectorStore::Open(dir_ / "nope");
  EXPECT_EQ(index.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(index.status().message(), HasSubstr("nope"));
}

// The writer half of the crash test: runs only in the child process the test starts.
constexpr const char* kCrashDirEnv = "SIEVE_TEST_VECTOR_CRASH_DIR";
constexpr std::int64_t kCrashChunks = 3000;

TEST(VectorIndexCrashChild, SlowReconcile) {
  const char* dir = std::getenv(kCrashDirEnv);
  if (dir == nullptr) GTEST_SKIP() << "runs only as the child of KilledWhileEmbedding";
  auto index = FaissVectorStore::Open(dir);
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE((*index)->BindModel(TestModel()).ok());
  ReconcileOptions options;
  options.batch_size = 16;
  options.save_every = 64;
  EmbedChunks slow = [](const std::vector<std::int64_t>& ids) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    return FakeEmbedder()(ids);
  };
  ASSERT_TRUE(Reconcile(**index, Range(1, kCrashChunks + 1), slow, options).ok());
}

TEST_F(VectorIndexTest, KilledWhileEmbeddingLeavesARepairableIndex) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A fresh process image: FAISS's OpenMP runtime is not safe to use after a bare fork.
    ::setenv(kCrashDirEnv, dir_.c_str(), 1);
    const char* args[] = {"test_retrieval", "--gtest_filter=VectorIndexCrashChild.SlowReconcile",
                          nullptr};
    ::execv("/proc/self/exe", const_cast<char* const*>(args));
    ::_exit(127);
  }
  // Kill it once some vectors are saved and more are being embedded.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::size_t saved_count = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto text = ReadFile(dir_ / kVectorManifestFile);
    if (text.ok()) {
      try {
        saved_count = nlohmann::json::parse(*text)["count"].get<std::size_t>();
      } catch (...) {
      }
    }
    if (saved_count >= 256) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(child, SIGKILL);
  int wait_status = 0;
  ::waitpid(child, &wait_status, 0);
  ASSERT_TRUE(WIFSIGNALED(wait_status)) << "the child finished before it was killed";
  ASSERT_GE(saved_count, 256u);

  auto index = FaissVectorStore::Open(dir_);
  ASSERT_TRUE(index.ok());
  const auto partial = (*index)->Ids().value();
  EXPECT_GE(partial.size(), 256u);
  EXPECT_LT(partial.size(), static_cast<std::size_t>(kCrashChunks));
  // Whatever survived is right: each id holds its own vector.
  for (std::int64_t id : partial) {
    auto v = (*index)->Vector(id);
    ASSERT_TRUE(v.ok());
    for (std::size_t i = 0; i < kDim; ++i) ASSERT_NEAR((*v)[i], Unit(VectorFor(id))[i], 1e-6);
  }
  ASSERT_TRUE((*index)->BindModel(TestModel()).ok());
  auto report = Reconcile(**index, Range(1, kCrashChunks + 1), FakeEmbedder());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->missing_embedded, kCrashChunks - partial.size());
  auto reopened = FaissVectorStore::Open(dir_);
  EXPECT_TRUE((*reopened)->damage().empty());
  EXPECT_EQ((*reopened)->Ids().value(), Range(1, kCrashChunks + 1));
  for (const auto& entry : fs::directory_iterator(dir_)) {
    // A temporary file may be left by the kill; it is never read.
    EXPECT_TRUE(entry.path().filename() == kVectorIndexFile ||
                entry.path().filename() == kVectorManifestFile ||
                entry.path().filename().string().find(".tmp") != std::string::npos)
        << entry.path();
  }
}

}  // namespace
}  // namespace sieve::store
