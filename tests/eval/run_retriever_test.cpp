#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "eval/eval.h"
#include "retrieval/lexical_retriever.h"
#include "store/document_store.h"
#include "store/ingest.h"

namespace sieve::eval {
namespace {

namespace fs = std::filesystem;

const fs::path kMiniBeir = fs::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "store" / "mini_beir";

// Returns fixed hits whatever the query, to check how runs are assembled.
class FixedRetriever : public retrieval::Retriever {
 public:
  explicit FixedRetriever(std::vector<retrieval::Hit> hits) : hits_(std::move(hits)) {}
  Result<std::vector<retrieval::Hit>> Search(const retrieval::SearchRequest& request) override {
    last_k = request.k;
    return hits_;
  }
  std::string name() const override { return "fixed"; }
  std::size_t last_k = 0;

 private:
  std::vector<retrieval::Hit> hits_;
};

class RunRetrieverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "sieve-run-test-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    auto opened = store::DocumentStore::Open(dir_);
    ASSERT_TRUE(opened.ok());
    store_ = std::move(*opened);
    auto ingested = store::IngestFile(*store_, kMiniBeir / "corpus.jsonl", {});
    ASSERT_TRUE(ingested.ok()) << ingested.status().ToString();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  std::unique_ptr<store::DocumentStore> store_;
};

TEST_F(RunRetrieverTest, LexicalRunOnMiniCollectionIsPerfect) {
  auto queries = LoadQueries(kMiniBeir / "queries.jsonl");
  auto qrels = LoadQrels(kMiniBeir / "qrels" / "test.tsv");
  ASSERT_TRUE(queries.ok() && qrels.ok());
  retrieval::LexicalRetriever retriever(*store_);
  auto run = RunRetriever(retriever, *store_, *queries, {.k = 3});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->size(), 4u);
  EXPECT_LE(run->at("1").size(), 3u);
  EXPECT_EQ(run->at("1").front().doc_id, "d1");
  Evaluation e = Evaluate(*qrels, *run);
  EXPECT_EQ(e.queries, 3u);
  EXPECT_DOUBLE_EQ(e.mean.ndcg_at_10, 1.0);
  EXPECT_DOUBLE_EQ(e.mean.mrr_at_10, 1.0);
  EXPECT_DOUBLE_EQ(e.mean.recall_at_100, 1.0);
}

TEST_F(RunRetrieverTest, MapsChunksToDocumentKeysAndAsksForMoreChunksThanDocuments) {
  auto ids = *store_->ListChunkIds();
  ASSERT_GE(ids.size(), 3u);
  std::vector<retrieval::Hit> hits(3);
  hits[0] = {ids[2], 9.0, {}};
  hits[1] = {123456789, 8.0, {}};  // unknown chunk (deleted meanwhile): left out
  hits[2] = {ids[0], 7.0, {}};
  FixedRetriever retriever(hits);
  auto run = RunRetriever(retriever, *store_, {{"q", "anything"}}, {.k = 10});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(retriever.last_k, 30u);
  auto chunks = *store_->GetChunks(std::vector<std::int64_t>{ids[2], ids[0]});
  ASSERT_EQ(run->at("q").size(), 2u);
  EXPECT_EQ(run->at("q")[0].doc_id, chunks[0].doc_key);
  EXPECT_DOUBLE_EQ(run->at("q")[0].score, 9.0);
  EXPECT_EQ(run->at("q")[1].doc_id, chunks[1].doc_key);
}

TEST(FormatTableTest, OneRowPerMode) {
  EvalRow lexical;
  lexical.name = "lexical";
  lexical.evaluation.mean = {0.35, 0.5, 0.7, 0.28};
  lexical.seconds = 0.5;
  lexical.queries_run = 100;
  std::string table = FormatTable({lexical});
  EXPECT_THAT(table, ::testing::HasSubstr("nDCG@10"));
  EXPECT_THAT(table, ::testing::HasSubstr("lexical"));
  EXPECT_THAT(table, ::testing::HasSubstr("0.3500"));
  EXPECT_THAT(table, ::testing::HasSubstr("5.00"));  // ms per query
}

}  // namespace
}  // namespace sieve::eval

namespace sieve::eval {
namespace {

TEST(FormatTableTest, LongModeNamesKeepTheColumnsAligned) {
  EvalRow lexical;
  lexical.name = "lexical";
  lexical.evaluation.mean = {0.35, 0.5, 0.7, 0.28};
  EvalRow reranked = lexical;
  reranked.name = "hybrid+rerank";
  std::string table = FormatTable({lexical, reranked});
  std::istringstream lines(table);
  std::string header, first, second;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  // Same metrics, so every row ends at the same column and nothing runs into the next column.
  EXPECT_EQ(first.size(), second.size());
  EXPECT_EQ(header.find("nDCG@10") + 7, first.find("0.3500") + 6);
  EXPECT_THAT(second, ::testing::HasSubstr("hybrid+rerank "));
}

}  // namespace
}  // namespace sieve::eval
