// The engine with its vectors in Qdrant (index.store = qdrant://..., the fake Qdrant of
// tests/store): ingest, dense and hybrid search with filters, and delete give what the same
// engine gives with FAISS.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../store/fake_qdrant_server.h"
#include "sieve/sieve.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;

const fs::path kCranfield = fs::path(SIEVE_SHARED_DIR) / "data" / "cranfield";
const fs::path kModels = fs::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "models";

class EngineQdrantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sieve-engine-qdrant-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "corpus");
    std::ifstream in(kCranfield / "corpus.jsonl");
    std::ofstream out(dir_ / "corpus" / "part.jsonl");
    std::string line;
    for (int i = 0; i < 60 && std::getline(in, line); ++i) out << line << "\n";
    std::ifstream queries(kCranfield / "queries.jsonl");
    for (int i = 0; i < 4 && std::getline(queries, line); ++i) {
      queries_.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
    }
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<Engine> Open(const std::string& name, const std::string& store) {
    config::Config config;
    config.index.dir = (dir_ / name).string();
    if (!store.empty()) config.index.store = store;
    config.models.embed = (kModels / "tiny-bge").string();
    config.models.rerank = (kModels / "tiny-ms-marco").string();
    config.retrieval.k = 10;
    config.retrieval.top_n = 5;
    auto engine = Engine::Open(config);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return engine.ok() ? std::move(engine).value() : nullptr;
  }

  fs::path dir_;
  std::vector<std::string> queries_;
};

std::vector<std::int64_t> ChunkIds(const SearchResponse& found) {
  std::vector<std::int64_t> ids;
  for (const auto& p : found.passages) ids.push_back(p.chunk_id);
  return ids;
}

TEST_F(EngineQdrantTest, IngestSearchDeleteMatchFaiss) {
  store::testing::FakeQdrantServer qdrant;
  auto with_qdrant = Open("qdrant-idx", qdrant.Uri("cranfield"));
  auto with_faiss = Open("faiss-idx", "");
  ASSERT_TRUE(with_qdrant && with_faiss);
  RequestContext ctx;
  IngestRequest ingest;
  ingest.paths = {dir_ / "corpus" / "part.jsonl"};
  ingest.tags = {"aero"};
  auto ingested = with_qdrant->Ingest(ingest, ctx);
  ASSERT_TRUE(ingested.ok()) << ingested.status().ToString();
  ASSERT_TRUE(with_faiss->Ingest(ingest, ctx).ok());
  EXPECT_EQ(ingested->embedded, ingested->chunks);
  auto collection = qdrant.collection("cranfield");
  ASSERT_TRUE(collection.has_value());
  EXPECT_EQ(collection->points.size(), ingested->chunks);  // the vectors live in Qdrant
  EXPECT_NE(collection->create_request["metadata"]["sieve_model"]["id"].get<std::string>().find(
                "tiny-bge"),
            std::string::npos);
  auto stats = with_qdrant->Stats(ctx);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->vectors, stats->chunks);

  for (Mode mode : {Mode::kDense, Mode::kHybrid}) {
    for (bool filtered : {false, true}) {
      SCOPED_TRACE(std::string(mode == Mode::kDense ? "dense" : "hybrid") +
                   (filtered ? " filtered" : ""));
      SearchRequest request;
      request.query = queries_[0];
      request.mode = mode;
      request.rerank = false;
      if (filtered) {
        request.filter.tags = {"aero"};
        request.filter.path_prefix = (dir_ / "corpus").string() + "/";
      }
      auto a = with_qdrant->Search(request, ctx);
      auto b = with_faiss->Search(request, ctx);
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      ASSERT_TRUE(b.ok()) << b.status().ToString();
      ASSERT_EQ(a->passages.size(), 5u);
      EXPECT_EQ(ChunkIds(*a), ChunkIds(*b));
    }
  }
  SearchRequest none;
  none.query = queries_[1];
  none.mode = Mode::kDense;
  none.filter.tags = {"no-such-tag"};
  auto empty = with_qdrant->Search(none, ctx);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->passages.empty());

  auto deleted = with_qdrant->Delete({.targets = {(dir_ / "corpus" / "part.jsonl").string()}}, ctx);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  auto after = with_qdrant->Stats(ctx);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->vectors, 0u);
  EXPECT_TRUE(qdrant.collection("cranfield")->points.empty());
  EXPECT_TRUE(qdrant.violations().empty()) << qdrant.violations().front();
}

}  // namespace
}  // namespace sieve
