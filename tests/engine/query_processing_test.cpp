// Query processing in the engine with a scripted LLM: multi-query expansion fused by RRF and
// condensing a chat history, switchable per request and visible as spans.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "../generation/fake_llm_server.h"
#include "sieve/sieve.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;
using generation::testing::CompletionBody;
using generation::testing::FakeLlmServer;
using nlohmann::json;

const fs::path kCranfield = fs::path(SIEVE_SHARED_DIR) / "data" / "cranfield";
const fs::path kModels = fs::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "models";

// Replies by the system prompt: the expansion asks for phrasings, the condenser for a
// standalone question, anything else is an answer.
void Script(const httplib::Request& req, httplib::Response& res) {
  json body = json::parse(req.body);
  const std::string system = body["messages"][0]["content"].get<std::string>();
  std::string reply = "It depends [1].";
  if (system.find("alternative versions") != std::string::npos) {
    reply = "1. boundary layer transition on cones\n2. supersonic flow past a cylinder";
  } else if (system.find("rephrase the follow-up question") != std::string::npos) {
    reply = "heat transfer in slip flow";
  }
  res.set_content(CompletionBody(reply), "application/json");
}

class QueryProcessingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve-query-processing-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ifstream in(kCranfield / "corpus.jsonl");
    std::ofstream out(dir_ / "corpus.jsonl");
    std::string line;
    for (int i = 0; i < 400 && std::getline(in, line); ++i) out << line << "\n";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::unique_ptr<Engine> Open(const std::string& llm_url) {
    config::Config config;
    config.index.dir = (dir_ / "idx").string();
    config.models.embed = (kModels / "tiny-bge").string();
    config.models.rerank = (kModels / "tiny-ms-marco").string();
    config.retrieval.k = 30;
    config.retrieval.top_n = 30;
    if (!llm_url.empty()) {
      config.llm.url = llm_url;
      config.llm.model = "scripted";
      config.llm.retries = 0;
    }
    auto engine = Engine::Open(config);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    RequestContext ctx;
    IngestRequest ingest;
    ingest.paths = {dir_ / "corpus.jsonl"};
    ingest.embed = false;
    EXPECT_TRUE((*engine)->Ingest(ingest, ctx).ok());
    return std::move(engine).value();
  }
  static std::set<std::int64_t> Ids(const std::vector<Passage>& passages) {
    std::set<std::int64_t> ids;
    for (const auto& p : passages) ids.insert(p.chunk_id);
    return ids;
  }
  fs::path dir_;
};

TEST_F(QueryProcessingTest, ExpansionFusesTheListsOfEveryPhrasing) {
  FakeLlmServer llm(
      [](int, const httplib::Request& req, httplib::Response& res) { Script(req, res); });
  auto engine = Open(llm.base_url());
  SearchRequest plain;
  plain.query = "heat transfer in slip flow";
  plain.mode = Mode::kLexical;
  plain.rerank = false;
  RequestContext ctx;
  auto alone = engine->Search(plain, ctx);
  ASSERT_TRUE(alone.ok()) << alone.status().ToString();
  EXPECT_EQ(alone->retrieval.queries, std::vector<std::string>{plain.query});
  EXPECT_EQ(llm.requests(), 0);  // off unless asked

  SearchRequest other = plain;
  other.query = "boundary layer transition on cones";
  auto second = engine->Search(other, ctx);
  ASSERT_TRUE(second.ok());

  SearchRequest expanded = plain;
  expanded.expand_queries = 2;
  RequestContext traced;
  RecordingTracer tracer;
  traced.set_tracer(&tracer);
  auto fused = engine->Search(expanded, traced);
  ASSERT_TRUE(fused.ok()) << fused.status().ToString();
  EXPECT_EQ(llm.requests(), 1);
  ASSERT_EQ(fused->retrieval.queries.size(), 3u);
  EXPECT_EQ(fused->retrieval.queries[1], "boundary layer transition on cones");
  // The best chunk of each phrasing is in the fused list, and each has an RRF score.
  const auto ids = Ids(fused->passages);
  EXPECT_TRUE(ids.count(alone->passages.front().chunk_id));
  EXPECT_TRUE(ids.count(second->passages.front().chunk_id));
  EXPECT_NE(Ids(fused->passages), Ids(alone->passages));
  for (const auto& p : fused->passages) ASSERT_TRUE(p.scores.fused.has_value());
  EXPECT_TRUE(std::is_sorted(fused->passages.begin(), fused->passages.end(),
                             [](const Passage& a, const Passage& b) { return a.score > b.score; }));
  auto spans = tracer.spans();
  EXPECT_TRUE(std::any_of(spans.begin(), spans.end(),
                          [](const SpanData& s) { return s.name == "query.expand"; }));
  std::vector<std::string> stages;
  for (const auto& t : fused->timings) stages.push_back(t.stage);
  EXPECT_NE(std::find(stages.begin(), stages.end(), "query.expand"), stages.end());
}

TEST_F(QueryProcessingTest, ExpansionThenRerankScoresAgainstTheQuestion) {
  FakeLlmServer llm(
      [](int, const httplib::Request& req, httplib::Response& res) { Script(req, res); });
  auto engine = Open(llm.base_url());
  SearchRequest request;
  request.query = "heat transfer in slip flow";
  request.mode = Mode::kLexical;
  request.rerank = true;
  request.top_n = 5;
  request.expand_queries = 2;
  RequestContext ctx;
  auto response = engine->Search(request, ctx);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  ASSERT_EQ(response->passages.size(), 5u);
  EXPECT_TRUE(response->retrieval.reranked);
  for (const auto& p : response->passages) {
    EXPECT_TRUE(p.scores.rerank.has_value());
    EXPECT_TRUE(p.scores.fused.has_value());
  }
}

TEST_F(QueryProcessingTest, AskCondensesTheHistoryUnlessSwitchedOff) {
  FakeLlmServer llm(
      [](int, const httplib::Request& req, httplib::Response& res) { Script(req, res); });
  auto engine = Open(llm.base_url());
  AskRequest ask;
  ask.query = "and in slip flow?";
  ask.mode = Mode::kLexical;
  ask.rerank = false;
  ask.history = {{"user", "How is heat transfer measured?"}, {"assistant", "With gauges."}};
  RequestContext ctx;
  RecordingTracer tracer;
  ctx.set_tracer(&tracer);
  auto answer = engine->Ask(ask, ctx);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->question, "and in slip flow?");
  ASSERT_FALSE(answer->retrieval.queries.empty());
  EXPECT_EQ(answer->retrieval.queries[0], "heat transfer in slip flow");
  auto spans = tracer.spans();
  EXPECT_TRUE(std::any_of(spans.begin(), spans.end(),
                          [](const SpanData& s) { return s.name == "query.condense"; }));
  // The answer was asked for the standalone question.
  const std::string last = llm.bodies().back();
  EXPECT_NE(last.find("heat transfer in slip flow"), std::string::npos);

  const int before = llm.requests();
  ask.condense_history = false;
  RequestContext plain;
  auto as_is = engine->Ask(ask, plain);
  ASSERT_TRUE(as_is.ok());
  EXPECT_EQ(as_is->retrieval.queries[0], "and in slip flow?");
  EXPECT_EQ(llm.requests(), before + 1);  // the answer only
}

TEST_F(QueryProcessingTest, WithoutAnLlmTheQueryIsUsedAsIsWithANote) {
  auto engine = Open("");
  SearchRequest request;
  request.query = "heat transfer in slip flow";
  request.mode = Mode::kLexical;
  request.rerank = false;
  request.expand_queries = 3;
  RequestContext ctx;
  auto response = engine->Search(request, ctx);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->retrieval.queries.size(), 1u);
  ASSERT_FALSE(response->notes.empty());
  EXPECT_NE(response->notes.back().find("query expansion needs an LLM"), std::string::npos);

  AskRequest ask;
  ask.query = "and in slip flow?";
  ask.mode = Mode::kLexical;
  ask.rerank = false;
  ask.history = {{"user", "How is heat transfer measured?"}};
  auto answer = engine->Ask(ask, ctx);
  ASSERT_TRUE(answer.ok());
  ASSERT_FALSE(answer->notes.empty());
  EXPECT_NE(answer->notes.front().find("condensing the chat history needs an LLM"),
            std::string::npos);
}

}  // namespace
}  // namespace sieve
