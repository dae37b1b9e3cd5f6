#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "eval/eval.h"

namespace sieve::eval {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Judged: a (gain 3), b (gain 1), c (gain 2); x and y are not judged.
const Judgements kJudged = {{"a", 3}, {"b", 1}, {"c", 2}};
const std::vector<std::string> kRanking = {"x", "a", "c", "y", "b"};

TEST(MetricsTest, NdcgUsesLinearGainAndIdealFromAllJudged) {
  // DCG = 3/log2(3) + 2/log2(4) + 1/log2(6); IDCG = 3/log2(2) + 2/log2(3) + 1/log2(4).
  EXPECT_NEAR(NdcgAt(kRanking, kJudged, 10), 0.6887313796, 1e-9);
  // Cut at 2: only "a" counts; the ideal is cut at 2 too.
  EXPECT_NEAR(NdcgAt(kRanking, kJudged, 2), (3 / std::log2(3.0)) / (3 + 2 / std::log2(3.0)), 1e-12);
  EXPECT_DOUBLE_EQ(NdcgAt({"a", "c", "b"}, kJudged, 10), 1.0);
  EXPECT_DOUBLE_EQ(NdcgAt({}, kJudged, 10), 0.0);
}

TEST(MetricsTest, RecallReciprocalRankAndAveragePrecision) {
  EXPECT_DOUBLE_EQ(RecallAt(kRanking, kJudged, 100), 1.0);
  EXPECT_DOUBLE_EQ(RecallAt(kRanking, kJudged, 2), 1.0 / 3);
  EXPECT_DOUBLE_EQ(ReciprocalRankAt(kRanking, kJudged, 10), 0.5);
  EXPECT_DOUBLE_EQ(ReciprocalRankAt(kRanking, kJudged, 1), 0.0);
  // Relevant at ranks 2, 3, 5: (1/2 + 2/3 + 3/5) / 3.
  EXPECT_NEAR(AveragePrecision(kRanking, kJudged), 0.5888888889, 1e-9);
  // A relevant document never retrieved still counts in the denominator.
  EXPECT_NEAR(AveragePrecision({"a"}, kJudged), 1.0 / 3, 1e-12);
}

TEST(MetricsTest, GradeZeroIsNotRelevant) {
  Judgements judged = {{"a", 0}, {"b", 2}};
  EXPECT_DOUBLE_EQ(ReciprocalRankAt({"a", "b"}, judged, 10), 0.5);
  EXPECT_DOUBLE_EQ(RecallAt({"a"}, judged, 100), 0.0);
  EXPECT_DOUBLE_EQ(AveragePrecision({"a", "b"}, judged), 0.5);
}

TEST(TrecOrderTest, SortsByScoreThenDocIdDescendingAndDropsRepeats) {
  std::vector<ScoredDoc> docs = {{"1", 1.0}, {"2", 1.0}, {"10", 2.0}, {"2", 5.0}, {"9", 1.0}};
  EXPECT_THAT(TrecOrder(docs), ElementsAre("10", "9", "2", "1"));
}

TEST(EvaluateTest, AveragesJudgedQueriesAndScoresMissingOnesZero) {
  Qrels qrels = {{"q1", {{"a", 1}}}, {"q2", {{"b", 2}}}, {"q3", {{"c", 0}}}};
  eval::Run run = {{"q1", {{"a", 3.0}, {"z", 2.0}}}, {"q9", {{"a", 1.0}}}};
  Evaluation e = Evaluate(qrels, run);
  EXPECT_EQ(e.queries, 2u);  // q3 has no relevant document
  EXPECT_EQ(e.missing_from_run, 1u);
  EXPECT_DOUBLE_EQ(e.mean.ndcg_at_10, 0.5);
  EXPECT_DOUBLE_EQ(e.mean.mrr_at_10, 0.5);
  EXPECT_DOUBLE_EQ(e.mean.recall_at_100, 0.5);
  EXPECT_DOUBLE_EQ(e.mean.map, 0.5);
  ASSERT_EQ(e.per_query.size(), 2u);
  EXPECT_EQ(e.per_query[0].query_id, "q1");
}

TEST(EvaluateTest, RunOrderComesFromScoresNotFromListOrder) {
  Qrels qrels = {{"q", {{"good", 1}}}};
  eval::Run run = {{"q", {{"bad", 1.0}, {"good", 2.0}}}};
  EXPECT_DOUBLE_EQ(Evaluate(qrels, run).mean.mrr_at_10, 1.0);
}

TEST(AggregateTest, DocumentsTakeBestChunkScoreAndFirstPosition) {
  std::vector<retrieval::Hit> hits(5);
  double scores[] = {5, 4, 3, 2, 1};
  for (int i = 0; i < 5; ++i) {
    hits[i].chunk_id = i + 1;
    hits[i].score = scores[i];
  }
  std::vector<std::string> docs = {"d1", "d2", "d1", "d3", "d2"};
  auto merged = AggregateToDocuments(hits, docs, 10);
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].doc_id, "d1");
  EXPECT_DOUBLE_EQ(merged[0].score, 5);
  EXPECT_EQ(merged[1].doc_id, "d2");
  EXPECT_DOUBLE_EQ(merged[1].score, 4);
  EXPECT_EQ(merged[2].doc_id, "d3");
  EXPECT_EQ(AggregateToDocuments(hits, docs, 2).size(), 2u);
}

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "sieve-eval-test-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }
  fs::path dir_;
};

TEST_F(FileTest, LoadsBeirQueriesAndQrels) {
  auto queries = LoadQueries(Write("q.jsonl",
                                   "{\"_id\": \"1\", \"text\": \"what is lift\"}\n"
                                   "{\"_id\": 2, \"text\": \"drag\"}\n\n"));
  ASSERT_TRUE(queries.ok()) << queries.status().ToString();
  ASSERT_EQ(queries->size(), 2u);
  EXPECT_EQ((*queries)[1].id, "2");
  EXPECT_EQ((*queries)[0].text, "what is lift");
  auto qrels = LoadQrels(Write("qrels.tsv", "query-id\tcorpus-id\tscore\n1\td1\t2\n1\td2\t0\n"));
  ASSERT_TRUE(qrels.ok()) << qrels.status().ToString();
  EXPECT_EQ(qrels->at("1").at("d1"), 2);
  EXPECT_EQ(qrels->at("1").at("d2"), 0);
}

TEST_F(FileTest, MalformedFilesNameFileAndLine) {
  auto queries = LoadQueries(Write("q.jsonl", "{\"_id\": \"1\", \"text\": \"a\"}\n{oops\n"));
  ASSERT_FALSE(queries.ok());
  EXPECT_EQ(queries.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(queries.status().message(), HasSubstr("q.jsonl:2"));
  auto qrels = LoadQrels(Write("r.tsv", "query-id\tcorpus-id\tscore\n1\td1\n"));
  ASSERT_FALSE(qrels.ok());
  EXPECT_THAT(qrels.status().message(), HasSubstr("r.tsv:2"));
  auto bad_score = LoadQrels(Write("s.tsv", "1\td1\tmany\n"));
  ASSERT_FALSE(bad_score.ok());
  EXPECT_THAT(bad_score.status().message(), HasSubstr("not a number"));
  auto missing = LoadQrels(dir_ / "absent.tsv");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(FileTest, TrecRunRoundTrip) {
  eval::Run run = {{"1", {{"d2", 1.5}, {"d1", 2.5}}}, {"2", {{"d3", 0.25}}}};
  ASSERT_TRUE(WriteTrecRun(dir_ / "run.trec", run, "test").ok());
  std::ifstream in(dir_ / "run.trec");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "1 Q0 d1 1 2.50000000 test");
  auto loaded = LoadTrecRun(dir_ / "run.trec");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->at("1").size(), 2u);
  EXPECT_EQ(loaded->at("2")[0].doc_id, "d3");
  EXPECT_DOUBLE_EQ(loaded->at("2")[0].score, 0.25);
}

// The Xapian runs shipped with Cranfield, scored here, must give BASELINE.md's figures (made
// by tools/evaluate.py) to four decimals.
double Round4(double x) {
  return std::round(x * 10000) / 10000;
}

TEST(ParityTest, MatchesEvaluatePyOnXapianRuns) {
  fs::path cranfield = fs::path(SIEVE_SHARED_DIR) / "data" / "cranfield";
  if (!fs::exists(cranfield / "qrels" / "test.tsv")) GTEST_SKIP() << "no shared Cranfield data";
  auto qrels = LoadQrels(cranfield / "qrels" / "test.tsv");
  ASSERT_TRUE(qrels.ok()) << qrels.status().ToString();
  struct Expected {
    const char* run;
    double ndcg, recall, mrr, map;
  };
  for (const Expected& x :
       {Expected{"bm25_xapian_qp.top100.trec", 0.3496, 0.7168, 0.5153, 0.2776},
        Expected{"bm25_xapian_bow.top100.trec", 0.3414, 0.7094, 0.5134, 0.2740}}) {
    auto run = LoadTrecRun(cranfield / "runs" / x.run);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    Evaluation e = Evaluate(*qrels, *run);
    EXPECT_EQ(e.queries, 225u) << x.run;
    EXPECT_EQ(e.missing_from_run, 0u) << x.run;
    EXPECT_DOUBLE_EQ(Round4(e.mean.ndcg_at_10), x.ndcg) << x.run;
    EXPECT_DOUBLE_EQ(Round4(e.mean.recall_at_100), x.recall) << x.run;
    EXPECT_DOUBLE_EQ(Round4(e.mean.mrr_at_10), x.mrr) << x.run;
    EXPECT_DOUBLE_EQ(Round4(e.mean.map), x.map) << x.run;
  }
}

}  // namespace
}  // namespace sieve::eval
