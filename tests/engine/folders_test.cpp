// Real folders: sync with disk (delete, rename, edit), symbolic links, files that are not
// documents, CJK search, list/show/delete by folder.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "sieve/sieve.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kModels = fs::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "models";

class FoldersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve-folders-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(docs());
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
  fs::path docs() const { return dir_ / "docs"; }
  fs::path Write(const std::string& name, const std::string& text) const {
    fs::path path = docs() / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  IngestResponse Ingest(std::vector<fs::path> paths = {}) {
    IngestRequest request;
    request.paths = paths.empty() ? std::vector<fs::path>{docs()} : paths;
    RequestContext ctx;
    auto response = engine_->Ingest(request, ctx);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    return response.ok() ? *response : IngestResponse{};
  }
  std::vector<std::string> Keys() {
    RequestContext ctx;
    auto list = engine_->ListDocuments({.offset = 0, .limit = 0}, ctx);
    EXPECT_TRUE(list.ok());
    std::vector<std::string> keys;
    if (list.ok()) {
      for (const auto& d : list->documents) keys.push_back(fs::relative(d.key, docs()).string());
    }
    return keys;
  }
  std::vector<std::string> SearchPaths(const std::string& query) {
    SearchRequest request;
    request.query = query;
    request.mode = Mode::kLexical;
    request.rerank = false;
    RequestContext ctx;
    auto response = engine_->Search(request, ctx);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    std::vector<std::string> paths;
    if (response.ok()) {
      for (const auto& p : response->passages) {
        paths.push_back(fs::relative(p.source_path, docs()).string());
      }
    }
    return paths;
  }

  fs::path dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(FoldersTest, SyncFollowsDeleteRenameAndEditWithoutReembeddingMovedFiles) {
  Write("alpha.txt", "Alpha notes about the aardvark enclosure.\n");
  Write("beta.txt", "Beta notes about the bumblebee hives and their keepers.\n");
  Write("gamma.txt", "Gamma notes about the gazelle paddock.\n");
  IngestResponse first = Ingest();
  EXPECT_EQ(first.documents_added, 3u);
  EXPECT_GT(first.embedded, 0u);

  fs::remove(docs() / "alpha.txt");
  fs::create_directories(docs() / "moved");
  fs::rename(docs() / "beta.txt", docs() / "moved" / "bees.txt");
  Write("gamma.txt", "Gamma notes, edited: the gazelle paddock has a new gate.\n");
  Write("delta.txt", "Delta notes about the dingo den.\n");
  IngestResponse second = Ingest();
  EXPECT_EQ(second.documents_added, 1u);
  EXPECT_EQ(second.documents_replaced, 1u);
  EXPECT_EQ(second.documents_moved, 1u);
  EXPECT_EQ(second.documents_deleted, 1u);
  EXPECT_EQ(second.documents_unchanged, 0u);
  EXPECT_EQ(second.embedded, 2u);  // gamma and delta; the moved file keeps its vector
  EXPECT_THAT(Keys(), ::testing::ElementsAre("delta.txt", "gamma.txt", "moved/bees.txt"));
  EXPECT_THAT(SearchPaths("bumblebee"), ::testing::ElementsAre("moved/bees.txt"));
  EXPECT_TRUE(SearchPaths("aardvark").empty());
  // The new path's words are searchable (the full-text index followed the move).
  EXPECT_THAT(SearchPaths("moved"), ::testing::ElementsAre("moved/bees.txt"));

  RequestContext ctx;
  auto stats = engine_->Stats(ctx);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->vectors, stats->chunks);
  EXPECT_GT(stats->vector_bytes, 0u);
  auto check = engine_->Check({}, ctx);
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->found.empty()) << check->found.front();

  IngestResponse third = Ingest();
  EXPECT_EQ(third.documents_unchanged, 3u);
  EXPECT_EQ(third.documents_deleted + third.documents_moved + third.documents_added, 0u);

  // Files named one by one never delete anything; --no-sync keeps vanished documents.
  fs::remove(docs() / "delta.txt");
  IngestResponse named = Ingest({docs() / "gamma.txt"});
  EXPECT_EQ(named.documents_deleted, 0u);
  IngestRequest no_sync;
  no_sync.paths = {docs()};
  no_sync.sync = false;
  auto kept = engine_->Ingest(no_sync, ctx);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->documents_deleted, 0u);
  EXPECT_EQ(Keys().size(), 3u);
}

TEST_F(FoldersTest, SymlinksAreFollowedOnceAndAFileReachedTwiceIsIndexedOnce) {
  Write("real/notes.txt", "The okapi is a giraffid.\n");
  fs::create_directory_symlink(docs(), docs() / "real" / "loop");  // back to the top: a loop
  fs::create_symlink(docs() / "real" / "notes.txt", docs() / "alias.txt");
  fs::create_directory_symlink(docs() / "real", docs() / "again");  // a second way in
  IngestResponse r = Ingest();
  EXPECT_TRUE(r.skipped.empty()) << r.skipped.front().reason;
  EXPECT_EQ(r.documents_added, 1u);
  EXPECT_EQ(Keys().size(), 1u);
  bool loop_noted = false;
  bool twice_noted = false;
  for (const auto& n : r.not_documents) {
    loop_noted = loop_noted || n.reason.find("already walked") != std::string::npos;
    twice_noted = twice_noted || n.reason.find("same file") != std::string::npos;
  }
  EXPECT_TRUE(loop_noted);
  EXPECT_TRUE(twice_noted);
}

TEST_F(FoldersTest, NotDocumentsAreSummarisedAndFailedDocumentsSkipped) {
  Write("README", "Readme without an extension, about the quokka.\n");
  std::string elf(
      "\x7f"
      "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x3e\0",
      20);
  Write("tool", elf + std::string(2000, '\0'));
  Write("empty", "");
  Write("broken.pdf", "not really a PDF");
  IngestResponse r = Ingest();
  EXPECT_EQ(r.documents_added, 1u);
  ASSERT_EQ(r.not_documents.size(), 2u);
  ASSERT_EQ(r.skipped.size(), 1u);  // the corrupt PDF: a document that failed
  EXPECT_THAT(r.skipped[0].path, HasSubstr("broken.pdf"));
  EXPECT_THAT(SearchPaths("quokka"), ::testing::ElementsAre("README"));
  // The file name is searchable.
  EXPECT_THAT(SearchPaths("readme"), ::testing::ElementsAre("README"));
}

TEST_F(FoldersTest, ChineseAndJapaneseAreSearchable) {
  Write("zh.txt", "全文搜索是一种在大量文本中查找信息的技术。\n");
  Write("ja.txt", "東京の天気は明日晴れるでしょう。\n");
  Write("en.txt", "Full-text search finds words in documents.\n");
  Ingest();
  EXPECT_THAT(SearchPaths("全文搜索"), ::testing::ElementsAre("zh.txt"));
  EXPECT_THAT(SearchPaths("什么是全文搜索？"), ::testing::ElementsAre("zh.txt"));
  EXPECT_THAT(SearchPaths("東京"), ::testing::ElementsAre("ja.txt"));
  EXPECT_THAT(SearchPaths("明日の天気"), ::testing::ElementsAre("ja.txt"));
  EXPECT_THAT(SearchPaths("search"), ::testing::ElementsAre("en.txt"));
}

TEST_F(FoldersTest, ListShowAndDeleteByFolder) {
  Write("a/one.txt", "One about the ocelot.\n");
  Write("a/two.txt", "Two about the oryx.\n");
  Write("b/three.txt", "Three about the otter.\n");
  Ingest();
  RequestContext ctx;
  auto under_a = engine_->ListDocuments(
      {.offset = 0, .limit = 0, .path_prefix = (docs() / "a").string() + "/"}, ctx);
  ASSERT_TRUE(under_a.ok());
  EXPECT_EQ(under_a->total, 2u);

  auto shown = engine_->ShowDocument((docs() / "b" / "three.txt").string(), ctx);
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  ASSERT_EQ(shown->chunks.size(), 1u);
  EXPECT_THAT(shown->chunks[0].text, HasSubstr("otter"));
  auto by_id = engine_->ShowDocument(std::to_string(shown->document.id), ctx);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id->document.key, shown->document.key);
  EXPECT_FALSE(engine_->ShowDocument("/no/such/doc", ctx).ok());

  auto deleted = engine_->Delete({.targets = {(docs() / "a").string()}}, ctx);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->deleted, 2u);
  EXPECT_THAT(Keys(), ::testing::ElementsAre("b/three.txt"));
}

TEST_F(FoldersTest, IdenticalChunksAreCollapsedIntoOneWithAlsoIn) {
  const std::string clause =
      "THE SOFTWARE IS PROVIDED AS IS, WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.";
  Write("pkg1/copyright", clause + "\n");
  Write("pkg2/copyright", clause + "\n");
  Write("pkg3/copyright", std::string(clause) + "\n");
  Write("other.txt", "A warranty of fitness is implied by nothing here; see the software list.\n");
  Ingest();
  SearchRequest request;
  request.query = "software provided without warranty";
  request.mode = Mode::kLexical;
  request.rerank = false;
  request.top_n = 3;
  RequestContext ctx;
  auto response = engine_->Search(request, ctx);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  ASSERT_EQ(response->passages.size(), 2u);  // one copy of the clause, then other.txt
  const Passage& best = response->passages[0];
  EXPECT_THAT(best.text, HasSubstr("WITHOUT WARRANTY"));
  EXPECT_EQ(best.also_in.size(), 2u);
  for (const auto& path : best.also_in) {
    EXPECT_THAT(path, HasSubstr("copyright"));
    EXPECT_NE(path, best.source_path);
  }
  EXPECT_THAT(response->passages[1].source_path, HasSubstr("other.txt"));
}

}  // namespace
}  // namespace sieve
