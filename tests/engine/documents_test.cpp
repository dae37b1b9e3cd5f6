// Engine::ListDocuments, GetDocument and Tokenize with the fixture models and samples/.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <string>

#include "sieve/sieve.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;

const fs::path kSamples = fs::path(SIEVE_SOURCE_DIR) / "samples";
const fs::path kModels = fs::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "models";

class DocumentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve-documents-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    config::Config config;
    config.index.dir = (dir_ / "idx").string();
    config.models.embed = (kModels / "tiny-bge").string();
    config.models.rerank = (kModels / "tiny-ms-marco").string();
    auto engine = Engine::Open(config);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }
  void TearDown() override {
    engine_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(DocumentsTest, ListsPagesAndFindsById) {
  RequestContext ctx;
  // No index yet: an error, not an empty list that hides a wrong folder.
  EXPECT_FALSE(engine_->ListDocuments({}, ctx).ok());

  IngestRequest ingest;
  ingest.paths = {kSamples};
  ingest.tags = {"sample"};
  auto ingested = engine_->Ingest(ingest, ctx);
  ASSERT_TRUE(ingested.ok()) << ingested.status().ToString();
  const std::size_t count = ingested->documents();
  ASSERT_GE(count, 3u);

  auto all = engine_->ListDocuments({.offset = 0, .limit = 0}, ctx);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->total, count);
  ASSERT_EQ(all->documents.size(), count);
  for (std::size_t i = 1; i < count; ++i) {
    EXPECT_LT(all->documents[i - 1].key, all->documents[i].key);
  }
  for (const auto& doc : all->documents) {
    EXPECT_GT(doc.chunks, 0u);
    EXPECT_EQ(doc.tags, std::vector<std::string>{"sample"});
    EXPECT_FALSE(doc.type.empty());
  }

  // Pages join up into the whole list.
  auto first = engine_->ListDocuments({.offset = 0, .limit = 2}, ctx);
  auto rest = engine_->ListDocuments({.offset = 2, .limit = 100}, ctx);
  ASSERT_TRUE(first.ok() && rest.ok());
  ASSERT_EQ(first->documents.size(), 2u);
  EXPECT_EQ(first->total, count);
  ASSERT_EQ(rest->documents.size(), count - 2);
  EXPECT_EQ(first->documents[1].key, all->documents[1].key);
  EXPECT_EQ(rest->documents[0].key, all->documents[2].key);
  auto past = engine_->ListDocuments({.offset = count + 5, .limit = 10}, ctx);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->documents.empty());

  const DocumentSummary& some = all->documents[1];
  auto found = engine_->GetDocument(some.id, ctx);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->key, some.key);
  EXPECT_EQ(found->chunks, some.chunks);
  auto missing = engine_->GetDocument(some.id + 100000, ctx);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  // After a delete the id names nothing.
  auto deleted = engine_->Delete({.targets = {some.key}}, ctx);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(engine_->GetDocument(some.id, ctx).status().code(), StatusCode::kNotFound);
}

TEST_F(DocumentsTest, TokenizesWithTheEmbeddersTokenizer) {
  RequestContext ctx;
  auto out = engine_->Tokenize({.texts = {"hello world", ""}}, ctx);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->texts.size(), 2u);
  // [CLS] ... [SEP] around the word pieces of the BERT vocabulary of tiny-bge.
  ASSERT_GE(out->texts[0].tokens.size(), 4u);
  EXPECT_EQ(out->texts[0].tokens.front(), "[CLS]");
  EXPECT_EQ(out->texts[0].tokens.back(), "[SEP]");
  EXPECT_EQ(out->texts[0].ids.size(), out->texts[0].tokens.size());
  EXPECT_EQ(out->texts[1].ids.size(), 2u);
  EXPECT_GT(out->max_length, 0u);
  EXPECT_NE(out->model.find("tiny-bge"), std::string::npos);

  auto bare = engine_->Tokenize({.texts = {"hello world"}, .add_special_tokens = false}, ctx);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->texts[0].ids.size(), out->texts[0].ids.size() - 2);

  // Inputs are never truncated here: the caller compares with max_length.
  std::string long_text;
  for (std::size_t i = 0; i < out->max_length + 10; ++i) long_text += "word ";
  auto long_out = engine_->Tokenize({.texts = {long_text}}, ctx);
  ASSERT_TRUE(long_out.ok());
  EXPECT_GT(long_out->texts[0].ids.size(), out->max_length);
}

}  // namespace
}  // namespace sieve
