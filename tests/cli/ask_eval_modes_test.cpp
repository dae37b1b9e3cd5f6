// End-to-end: `sieve ingest` embeds with the fixture bi-encoder (and survives a SIGKILL while
// embedding), and `sieve eval` compares every mode on Cranfield with the fixture models.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;
using namespace sieve::cli::testing_support;
using nlohmann::json;
using ::testing::HasSubstr;

class EvalModesTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(dir_ / "empty-hf-cache"); }

  // The shell command that runs build/sieve in the temporary folder (exec: its pid is sieve's),
  // with an empty Hugging Face cache, writing to dir_/out and dir_/err.
  std::string Command(const std::vector<std::string>& args) {
    return SieveCommand(Env(), args) + " >" + Quote((dir_ / "out").string()) + " 2>" +
           Quote((dir_ / "err").string());
  }
  Outcome Sieve(const std::vector<std::string>& args) {
    return RunSieve(Env(), args, dir_ / "out", dir_ / "err");
  }
  json Json(const Outcome& run) { return ParseJson(run); }
  std::string Model(const std::string& name) { return (kModels / name).string(); }

  // The first `n` Cranfield queries (queries.jsonl) and their judgements (qrels.tsv).
  void SomeQueries(std::size_t n) {
    std::ifstream in(kCranfield / "queries.jsonl");
    std::ofstream out(dir_ / "queries.jsonl");
    std::set<std::string> ids;
    std::string line;
    for (std::size_t i = 0; i < n && std::getline(in, line); ++i) {
      out << line << "\n";
      ids.insert(json::parse(line)["_id"].get<std::string>());
    }
    std::ifstream qrels_in(kCranfield / "qrels" / "test.tsv");
    std::ofstream qrels_out(dir_ / "qrels.tsv");
    std::getline(qrels_in, line);
    qrels_out << line << "\n";  // header
    while (std::getline(qrels_in, line)) {
      if (ids.count(line.substr(0, line.find('\t'))) > 0) qrels_out << line << "\n";
    }
  }

  SieveEnv Env() const {
    return {.cwd = dir_,
            .unset = {"SIEVE_INDEX", "SIEVE_EMBED_MODEL", "HF_HOME"},
            .set = {{"HF_HUB_CACHE", (dir_ / "empty-hf-cache").string()}},
            .index = index_,
            .exec = true};
  }

  TempDir temp_{"sieve-eval-modes"};
  const fs::path dir_ = temp_.path();
  const fs::path index_ = dir_ / "idx";
};

TEST_F(EvalModesTest, OfflineEvalRunsTheLexicalRowAndSkipsTheOthersWithANote) {
  Outcome run = Sieve({"eval", "--json", "--corpus", (kCranfield / "corpus.jsonl").string(),
                       "--queries", (kCranfield / "queries.jsonl").string(), "--qrels",
                       (kCranfield / "qrels" / "test.tsv").string()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json out = Json(run);
  ASSERT_EQ(out["rows"].size(), 1u);
  EXPECT_EQ(out["rows"][0]["mode"], "lexical");
  // The issue-2 figure (src/store/README.md): BM25 through the same retriever.
  EXPECT_NEAR(out["rows"][0]["ndcg@10"].get<double>(), 0.3664, 5e-5);
  EXPECT_NEAR(out["rows"][0]["recall@100"].get<double>(), 0.7309, 5e-5);
  EXPECT_EQ(out["skipped_rows"].size(), 5u);
  EXPECT_THAT(run.err, HasSubstr("sieve models pull BAAI/bge-small-en-v1.5"));
  EXPECT_THAT(run.err, HasSubstr("skipping the rows dense, hybrid"));
}

TEST_F(EvalModesTest, EveryModeWithTheFixtureModelsIsSane) {
  SomeQueries(30);
  Outcome run = Sieve({"eval", "--json", "--corpus", (kCranfield / "corpus.jsonl").string(),
                       "--queries", (dir_ / "queries.jsonl").string(), "--qrels",
                       (dir_ / "qrels.tsv").string(), "--embed-model", Model("tiny-bge"),
                       "--rerank-model", Model("tiny-ms-marco"), "--rerank-depth", "10"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json out = Json(run);
  EXPECT_THAT(out["embed_model"].get<std::string>(), HasSubstr("tiny-bge"));
  EXPECT_THAT(out["rerank_model"].get<std::string>(), HasSubstr("tiny-ms-marco"));
  ASSERT_EQ(out["rows"].size(), 6u);
  std::map<std::string, json> rows;
  for (const json& row : out["rows"]) {
    rows[row["mode"].get<std::string>()] = row;
    for (const char* metric : {"ndcg@10", "mrr@10", "recall@100", "map"}) {
      EXPECT_GE(row[metric].get<double>(), 0) << row["mode"] << " " << metric;
      EXPECT_LE(row[metric].get<double>(), 1) << row["mode"] << " " << metric;
    }
    EXPECT_EQ(row["queries"], 30);
  }
  // BM25 on real words finds relevant documents even here.
  EXPECT_GT(rows["lexical"]["ndcg@10"].get<double>(), 0.2);
  // Reranking the first candidates reorders them; it cannot change what is in the top 100.
  for (const std::string mode : {"lexical", "dense", "hybrid"}) {
    EXPECT_DOUBLE_EQ(rows[mode]["recall@100"].get<double>(),
                     rows[mode + "+rerank"]["recall@100"].get<double>())
        << mode;
  }
  // Every chunk was embedded once, by the named model.
  EXPECT_TRUE(out["skipped_rows"].empty());
}

TEST_F(EvalModesTest, IngestEmbedsAndAKilledIngestIsCompletedByTheNextRun) {
  const std::string corpus = (kCranfield / "corpus.jsonl").string();
  // Kill the ingest once it has saved some vectors, while it is still embedding.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string command = Command({"ingest", corpus, "--embed-model", Model("tiny-bge")});
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool killed_mid_embedding = false;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) break;  // finished before we caught it
    const std::string manifest = Slurp(index_ / "vectors.json");
    if (!manifest.empty()) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      killed_mid_embedding = WIFSIGNALED(status);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!killed_mid_embedding) GTEST_SKIP() << "the ingest finished before it could be killed";
  const json partial = json::parse(Slurp(index_ / "vectors.json"), nullptr, false);
  // The store is valid and complete (each file is one transaction); the vectors lag behind.
  Outcome stats = Sieve({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const int chunks = Json(stats)["chunks"].get<int>();
  ASSERT_FALSE(partial.is_discarded());
  EXPECT_LT(partial["count"].get<int>(), chunks);

  // Rerunning the ingest (an unchanged file: no new chunks) embeds what is missing.
  Outcome rerun = Sieve({"ingest", corpus, "--embed-model", Model("tiny-bge"), "--json"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  const json report = Json(rerun);
  EXPECT_EQ(report["embedded"].get<int>(), chunks - partial["count"].get<int>());
  const json manifest = json::parse(Slurp(index_ / "vectors.json"));
  EXPECT_EQ(manifest["count"], chunks);

  // Ask finds nothing to repair and answers from the vectors.
  Outcome ask = Sieve(
      {"ask", "supersonic flow over a flat plate", "--mode", "dense", "--no-rerank", "--json"});
  ASSERT_EQ(ask.exit_code, 0) << ask.err;
  EXPECT_THAT(Json(ask)["notes"].dump(), ::testing::Not(HasSubstr("brought in line")));
  EXPECT_EQ(Json(ask)["passages"].size(), 5u);
}

}  // namespace
