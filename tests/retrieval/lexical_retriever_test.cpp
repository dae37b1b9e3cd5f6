#include "retrieval/lexical_retriever.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace sieve::retrieval {
namespace {

namespace fs = std::filesystem;

class LexicalRetrieverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "sieve-lexical-test-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    auto opened = store::DocumentStore::Open(dir_);
    ASSERT_TRUE(opened.ok());
    store_ = std::move(*opened);
    Add("/docs/a.md", "markdown", {"guide"}, "shock shock shock wave on a wedge");
    Add("/docs/b.txt", "text", {}, "a shock wave and many unrelated words in a long sentence");
    Add("/other/c.txt", "text", {"guide"}, "expansion fan");
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Add(const std::string& key, const std::string& type, std::vector<std::string> tags,
           const std::string& text) {
    store::DocumentInput input;
    input.key = input.source_path = key;
    input.type = type;
    input.content_hash = "h";
    input.tags = std::move(tags);
    text::Chunk chunk;
    chunk.text = text;
    chunk.end = text.size();
    input.chunks = {chunk};
    auto txn = store_->BeginTransaction();
    ASSERT_TRUE(store_->PutDocument(input).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  fs::path dir_;
  std::unique_ptr<store::DocumentStore> store_;
};

TEST_F(LexicalRetrieverTest, HitsAreRankedWithBm25StageScores) {
  LexicalRetriever retriever(*store_);
  EXPECT_EQ(retriever.name(), "lexical");
  auto hits = retriever.Search({.query = "shock wave", .k = 10});
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 2u);
  for (std::size_t i = 0; i < hits->size(); ++i) {
    const Hit& hit = (*hits)[i];
    ASSERT_TRUE(hit.stages.bm25.has_value());
    EXPECT_DOUBLE_EQ(*hit.stages.bm25, hit.score);
    EXPECT_EQ(hit.stages.bm25_rank.value_or(0), i + 1);
    EXPECT_FALSE(hit.stages.cosine.has_value());
    EXPECT_GT(hit.score, 0);
  }
  EXPECT_GT((*hits)[0].score, (*hits)[1].score);
  auto first = store_->GetChunks(std::vector<std::int64_t>{(*hits)[0].chunk_id});
  EXPECT_EQ(first->front().doc_key, "/docs/a.md");
  EXPECT_EQ(retriever.Search({.query = "shock", .k = 1})->size(), 1u);
}

TEST_F(LexicalRetrieverTest, AppliesFilters) {
  LexicalRetriever retriever(*store_);
  Filter filter;
  filter.types = {"text"};
  auto hits = retriever.Search({.query = "shock expansion", .k = 10, .filter = filter});
  ASSERT_EQ(hits->size(), 2u);
  filter.tags = {"guide"};
  hits = retriever.Search({.query = "shock expansion", .k = 10, .filter = filter});
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ(store_->GetChunks(std::vector<std::int64_t>{hits->front().chunk_id})->front().doc_key,
            "/other/c.txt");
  filter = {};
  filter.path_prefix = "/docs";
  EXPECT_EQ(retriever.Search({.query = "shock expansion", .k = 10, .filter = filter})->size(), 2u);
}

TEST_F(LexicalRetrieverTest, QueryWithoutWordsGivesNoHits) {
  LexicalRetriever retriever(*store_);
  auto hits = retriever.Search({.query = " ?! ", .k = 10});
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
}

}  // namespace
}  // namespace sieve::retrieval
