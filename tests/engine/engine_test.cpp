// sieve::Engine end to end with the fixture models: the API, and many requests at once while
// another thread writes.
#include "sieve/sieve.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/json.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kCranfield = fs::path(SIEVE_SHARED_DIR) / "data" / "cranfield";
const fs::path kModels = fs::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "models";

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve-engine-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "corpus");
    // Documents 1-100 stay; 101-160 come and go.
    std::ifstream in(kCranfield / "corpus.jsonl");
    std::ofstream stable(dir_ / "corpus" / "stable.jsonl");
    std::ofstream churn(dir_ / "corpus" / "churn.jsonl");
    std::string line;
    for (int i = 0; i < 160 && std::getline(in, line); ++i) {
      json record = json::parse(line);
      titles_[record["_id"].get<std::string>()] = record["title"].get<std::string>();
      (i < 100 ? stable : churn) << line << "\n";
    }
    std::ifstream queries(kCranfield / "queries.jsonl");
    for (int i = 0; i < 8 && std::getline(queries, line); ++i) {
      queries_.push_back(json::parse(line)["text"].get<std::string>());
    }
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  config::Config Config() const {
    config::Config config;
    config.index.dir = (dir_ / "idx").string();
    config.models.embed = (kModels / "tiny-bge").string();
    config.models.rerank = (kModels / "tiny-ms-marco").string();
    config.retrieval.k = 20;
    config.retrieval.top_n = 5;
    return config;
  }

  std::unique_ptr<Engine> Open() {
    auto engine = Engine::Open(Config());
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return engine.ok() ? std::move(engine).value() : nullptr;
  }

  fs::path dir_;
  std::map<std::string, std::string> titles_;
  std::vector<std::string> queries_;
};

TEST_F(EngineTest, IngestSearchAskEmbedRerankStats) {
  auto engine = Open();
  ASSERT_TRUE(engine);
  RequestContext ctx;
  // Reads before the first ingest: a clear error, no index created.
  auto early = engine->Search({.query = "lift"}, ctx);
  ASSERT_FALSE(early.ok());
  EXPECT_NE(early.status().message().find("sieve ingest"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "idx" / "sieve.db"));

  IngestRequest ingest;
  ingest.paths = {dir_ / "corpus" / "stable.jsonl"};
  ingest.tags = {"stable"};
  auto ingested = engine->Ingest(ingest, ctx);
  ASSERT_TRUE(ingested.ok()) << ingested.status().ToString();
  EXPECT_EQ(ingested->documents_added, 100u);
  EXPECT_GT(ingested->chunks, 100u);
  EXPECT_EQ(ingested->embedded, ingested->chunks);
  EXPECT_NE(ingested->embed_model.find("tiny-bge"), std::string::npos);

  auto stats = engine->Stats(ctx);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->documents, 100u);
  EXPECT_EQ(stats->vectors, stats->chunks);

  for (Mode mode : {Mode::kLexical, Mode::kDense, Mode::kHybrid}) {
    SearchRequest request;
    request.query = queries_[0];
    request.mode = mode;
    auto found = engine->Search(request, ctx);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_EQ(found->retrieval.mode, mode);
    EXPECT_TRUE(found->retrieval.reranked);
    ASSERT_EQ(found->passages.size(), 5u);
    for (std::size_t i = 1; i < found->passages.size(); ++i) {
      EXPECT_GE(*found->passages[i - 1].scores.rerank, *found->passages[i].scores.rerank);
    }
    // The timings come from the request's spans.
    std::set<std::string> stages;
    for (const auto& t : found->timings) stages.insert(t.stage);
    EXPECT_TRUE(stages.count("search")) << engine::Dump(engine::ToJson(*found));
  }

  AskRequest ask;
  ask.query = queries_[1];
  auto answer = engine->Ask(ask, ctx);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_TRUE(answer->extractive);  // no LLM configured
  EXPECT_FALSE(answer->answer.empty());
  ASSERT_FALSE(answer->citations.empty());
  for (std::size_t i = 0; i < answer->citations.size(); ++i) {
    const Citation& c = answer->citations[i];
    // Extractive: [1]..[m] in the order of first use; passage_number finds the passage.
    EXPECT_EQ(c.number, i + 1);
    ASSERT_GE(c.passage_number, 1u);
    ASSERT_LE(c.passage_number, answer->passages.size());
    EXPECT_EQ(c.passage.chunk_id, answer->passages[c.passage_number - 1].chunk_id);
  }
  json as_json = engine::ToJson(*answer);
  EXPECT_EQ(as_json["retrieval"]["mode"], "hybrid");
  ASSERT_EQ(as_json["citations"].size(), answer->citations.size());
  for (const json& c : as_json["citations"]) {
    const json& p = as_json["passages"][c["passage_number"].get<std::size_t>() - 1];
    EXPECT_EQ(p["chunk_id"], c["chunk_id"]);
    EXPECT_EQ(p["cited_as"], c["number"]);
  }

  auto embedded = engine->Embed({.texts = {"lift of a wing", ""}, .is_query = true}, ctx);
  ASSERT_TRUE(embedded.ok()) << embedded.status().ToString();
  ASSERT_EQ(embedded->vectors.size(), 2u);
  EXPECT_EQ(embedded->vectors[0].size(), embedded->dimension);

  auto reranked = engine->Rerank(
      {.query = "wing lift", .documents = {"the lift of a wing", "boiling water"}, .top_n = 1},
      ctx);
  ASSERT_TRUE(reranked.ok()) << reranked.status().ToString();
  ASSERT_EQ(reranked->results.size(), 1u);

  // Delete by file removes its records and their vectors.
  auto deleted = engine->Delete({.targets = {(dir_ / "corpus" / "stable.jsonl").string()}}, ctx);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(deleted->deleted, 100u);
  auto after = engine->Stats(ctx);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->chunks, 0u);
  EXPECT_EQ(after->vectors, 0u);
}

// The pairs of several rerank requests scored in one ScorePairs call get what each request's
// Rerank gives them (1e-5: float rounding of another batch shape; see models/encoder.h), and the
// token counts are the ones Rerank reports.
TEST_F(EngineTest, ScorePairsOfSeveralRequestsMatchRerank) {
  auto engine = Open();
  ASSERT_TRUE(engine);
  RequestContext ctx;
  std::vector<std::string> docs;
  for (const auto& [id, title] : titles_) {
    docs.push_back(title);
    if (docs.size() == 12) break;
  }
  std::vector<RerankRequest> requests;
  for (std::size_t r = 0; r < 3; ++r) {
    RerankRequest request{.query = queries_[r]};
    for (std::size_t d = r; d < docs.size(); d += 2) request.documents.push_back(docs[d]);
    requests.push_back(request);
  }
  std::vector<RerankPair> pairs;
  std::vector<std::pair<std::size_t, std::size_t>> origin;  // (request, document)
  for (std::size_t d = 0; d < docs.size(); ++d) {  // interleaved, as a batcher would mix them
    for (std::size_t r = 0; r < requests.size(); ++r) {
      if (d < requests[r].documents.size()) {
        pairs.push_back({requests[r].query, requests[r].documents[d]});
        origin.emplace_back(r, d);
      }
    }
  }
  auto scored = engine->ScorePairs(pairs, ctx);
  ASSERT_TRUE(scored.ok()) << scored.status().ToString();
  ASSERT_EQ(scored->scores.size(), pairs.size());
  EXPECT_NE(scored->model.find("tiny-ms-marco"), std::string::npos);
  for (std::size_t r = 0; r < requests.size(); ++r) {
    auto alone = engine->Rerank(requests[r], ctx);
    ASSERT_TRUE(alone.ok()) << alone.status().ToString();
    std::map<std::size_t, RerankResult> by_document;
    for (const auto& result : alone->results) by_document[result.index] = result;
    ASSERT_EQ(by_document.size(), requests[r].documents.size());
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      if (origin[i].first != r) continue;
      EXPECT_EQ(scored->scores[i].index, i);
      EXPECT_NEAR(scored->scores[i].logit, by_document[origin[i].second].logit, 1e-5);
      EXPECT_NEAR(scored->scores[i].score, by_document[origin[i].second].score, 1e-5);
    }
    auto tokens = engine->CountRerankTokens(requests[r], ctx);
    ASSERT_TRUE(tokens.ok());
    ASSERT_EQ(tokens->size(), requests[r].documents.size());
    std::size_t sum = 0;
    for (std::size_t t : *tokens) {
      EXPECT_GT(t, 3u);
      sum += t;
    }
    EXPECT_EQ(alone->tokens, sum);
  }
  // Ranking: best first, ties in input order, top_n.
  std::vector<RerankResult> results = {{0, 0.5, 0}, {1, 0.9, 0}, {2, 0.5, 0}, {3, 0.1, 0}};
  RankRerankResults(results, 3);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].index, 1u);
  EXPECT_EQ(results[1].index, 0u);
  EXPECT_EQ(results[2].index, 2u);
}

TEST_F(EngineTest, DeadlineAndCancellationStopARequest) {
  auto engine = Open();
  ASSERT_TRUE(engine);
  RequestContext ctx;
  ASSERT_TRUE(engine->Ingest({.paths = {dir_ / "corpus" / "stable.jsonl"}}, ctx).ok());
  RequestContext late;
  late.set_deadline(RequestContext::Clock::now() - std::chrono::milliseconds(1));
  auto timed_out = engine->Ask({{.query = queries_[0]}}, late);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.status().code(), StatusCode::kTimeout);
  std::stop_source stop;
  stop.request_stop();
  RequestContext cancelled;
  cancelled.set_stop_token(stop.get_token());
  auto stopped = engine->Search({.query = queries_[0]}, cancelled);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().code(), StatusCode::kCancelled);
}

// Eight threads ask and search while a ninth ingests and deletes documents. Dense + rerank
// results over the documents that never change must equal the results of a quiet engine exactly;
// every passage must belong to the document it names.
TEST_F(EngineTest, EightReadersWhileOneThreadWrites) {
  auto engine = Open();
  ASSERT_TRUE(engine);
  RequestContext setup;
  ASSERT_TRUE(
      engine->Ingest({.paths = {dir_ / "corpus" / "stable.jsonl"}, .tags = {"stable"}}, setup)
          .ok());

  auto stable_request = [&](const std::string& query) {
    SearchRequest request;
    request.query = query;
    request.mode = Mode::kDense;
    request.rerank = true;
    request.filter.tags = {"stable"};
    return request;
  };
  std::map<std::string, std::vector<std::pair<std::int64_t, double>>> baseline;
  std::map<std::int64_t, std::string> stable_text;
  for (const auto& query : queries_) {
    auto found = engine->Search(stable_request(query), setup);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    for (const auto& p : found->passages) {
      baseline[query].emplace_back(p.chunk_id, p.score);
      stable_text[p.chunk_id] = p.text;
    }
  }

  std::atomic<bool> writing{true};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(failures_mutex);
    failures.push_back(what);
  };
  std::atomic<int> requests{0};

  std::thread writer([&] {
    for (int round = 0; round < 4; ++round) {
      RequestContext ctx;
      auto added =
          engine->Ingest({.paths = {dir_ / "corpus" / "churn.jsonl"}, .tags = {"churn"}}, ctx);
      if (!added.ok()) fail("ingest: " + added.status().ToString());
      auto removed = engine->Delete({.targets = {(dir_ / "corpus" / "churn.jsonl").string()}}, ctx);
      if (!removed.ok()) fail("delete: " + removed.status().ToString());
    }
    writing = false;
  });

  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      for (int i = 0; writing || i < 6; ++i) {
        const std::string& query = queries_[(t + i) % queries_.size()];
        RequestContext ctx;
        ++requests;
        switch ((t + i) % 3) {
          case 0: {
            auto answer = engine->Ask({{.query = query}}, ctx);
            if (!answer.ok()) {
              fail("ask: " + answer.status().ToString());
              break;
            }
            if (answer->answer.empty()) fail("ask: empty answer");
            for (const auto& p : answer->passages) {
              auto title = titles_.find(p.doc_key);
              if (title == titles_.end() || title->second != p.title) {
                fail("ask: passage of " + p.doc_key + " has title " + p.title);
              }
            }
            break;
          }
          case 1: {
            auto found = engine->Search(stable_request(query), ctx);
            if (!found.ok()) {
              fail("dense search: " + found.status().ToString());
              break;
            }
            std::vector<std::pair<std::int64_t, double>> got;
            for (const auto& p : found->passages) {
              got.emplace_back(p.chunk_id, p.score);
              if (stable_text.count(p.chunk_id) && stable_text[p.chunk_id] != p.text) {
                fail("dense search: chunk " + std::to_string(p.chunk_id) + " text changed");
              }
            }
            if (got != baseline[query]) fail("dense search: results differ from the quiet run");
            break;
          }
          default: {
            SearchRequest request;
            request.query = query;
            request.mode = Mode::kLexical;
            request.rerank = false;
            auto found = engine->Search(request, ctx);
            if (!found.ok()) {
              fail("lexical search: " + found.status().ToString());
              break;
            }
            for (const auto& p : found->passages) {
              auto title = titles_.find(p.doc_key);
              if (title == titles_.end() || title->second != p.title) {
                fail("lexical search: passage of " + p.doc_key + " has title " + p.title);
              }
            }
          }
        }
      }
    });
  }
  writer.join();
  for (auto& r : readers) r.join();
  for (const auto& f : failures) ADD_FAILURE() << f;
  EXPECT_GE(requests.load(), 48);

  RequestContext ctx;
  auto stats = engine->Stats(ctx);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->documents, 100u);
  EXPECT_EQ(stats->vectors, stats->chunks);
}

}  // namespace
}  // namespace sieve
