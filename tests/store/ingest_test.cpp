#include "store/ingest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "store/document_store.h"
#include "store_fixture.h"
#include "support/temp_dir.h"

namespace sieve::store {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using testing_support::TempDir;

void WriteText(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string Paragraphs(const std::string& topic, int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    text += "Paragraph " + std::to_string(i) + " is about " + topic +
            ". It has a few sentences of plain text. The measurements were repeated at several "
            "stations along the chord.\n\n";
  }
  return text;
}

class IngestTest : public testing_support::OpenStoreTest {
 protected:
  FileIngestReport Ingest(const fs::path& path, IngestOptions options = {}) {
    auto report = IngestFile(*store_, path, options);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : FileIngestReport{};
  }

  std::size_t Hits(const std::string& text) {
    LexicalQuery query;
    query.text = text;
    query.k = 1000;
    auto matches = store_->SearchLexical(query);
    EXPECT_TRUE(matches.ok());
    return matches.ok() ? matches->size() : 0;
  }
};

TEST_F(IngestTest, UnchangedFileIsANoOpAndChangedFileReplacesChunks) {
  fs::path file = dir_.path() / "docs" / "a.txt";
  WriteText(file, Paragraphs("vortex shedding", 3));
  FileIngestReport first = Ingest(file);
  EXPECT_EQ(first.documents_added, 1u);
  EXPECT_GT(first.chunks_written, 0u);
  auto ids_before = *store_->ListChunkIds();
  auto info_before = *store_->FindDocument(DocumentKeyForPath(file));
  ASSERT_TRUE(info_before.has_value());

  FileIngestReport second = Ingest(file);
  EXPECT_EQ(second.documents_unchanged, 1u);
  EXPECT_EQ(second.chunks_written, 0u);
  EXPECT_EQ(*store_->ListChunkIds(), ids_before);
  EXPECT_EQ((*store_->FindDocument(DocumentKeyForPath(file)))->ingested_at,
            info_before->ingested_at);

  WriteText(file, Paragraphs("laminar separation", 2));
  FileIngestReport third = Ingest(file);
  EXPECT_EQ(third.documents_replaced, 1u);
  auto ids_after = *store_->ListChunkIds();
  ASSERT_FALSE(ids_after.empty());
  EXPECT_GT(ids_after.front(), ids_before.back());
  EXPECT_EQ(Hits("vortex"), 0u);
  EXPECT_GT(Hits("laminar"), 0u);
  EXPECT_EQ(store_->Stats()->documents, 1u);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(IngestTest, DifferentChunkSettingsRechunkAnUnchangedFile) {
  fs::path file = dir_.path() / "a.md";
  WriteText(file, "# Title\n\n" + Paragraphs("flutter", 20));
  IngestOptions small;
  small.chunking.max_tokens = 64;
  small.chunking.overlap_tokens = 8;
  FileIngestReport a = Ingest(file, small);
  FileIngestReport b = Ingest(file);
  EXPECT_EQ(b.documents_replaced, 1u);
  EXPECT_LT(b.chunks_written, a.chunks_written);
}

TEST_F(IngestTest, TagsAreSetAndReplacedWithoutRechunking) {
  fs::path file = dir_.path() / "a.txt";
  WriteText(file, Paragraphs("nozzle", 1));
  IngestOptions tagged;
  tagged.tags = {"wind", "tunnel", "wind"};
  Ingest(file, tagged);
  auto ids = *store_->ListChunkIds();
  EXPECT_THAT((*store_->FindDocument(DocumentKeyForPath(file)))->tags,
              ElementsAre("tunnel", "wind"));
  tagged.tags = {"other"};
  FileIngestReport again = Ingest(file, tagged);
  EXPECT_EQ(again.documents_unchanged, 1u);
  EXPECT_THAT((*store_->FindDocument(DocumentKeyForPath(file)))->tags, ElementsAre("other"));
  EXPECT_EQ(*store_->ListChunkIds(), ids);
  // Without --tag, a re-ingest keeps the tags, also when the file changed.
  Ingest(file);
  EXPECT_THAT((*store_->FindDocument(DocumentKeyForPath(file)))->tags, ElementsAre("other"));
  WriteText(file, Paragraphs("diffuser", 1));
  EXPECT_EQ(Ingest(file).documents_replaced, 1u);
  EXPECT_THAT((*store_->FindDocument(DocumentKeyForPath(file)))->tags, ElementsAre("other"));
}

TEST_F(IngestTest, BeirRecordsAreDocumentsKeyedByIdAndFollowTheFile) {
  fs::path corpus = dir_.path() / "corpus.jsonl";
  WriteText(corpus,
            "{\"_id\": \"d1\", \"title\": \"wing\", \"text\": \"flow over a swept wing\"}\n"
            "{\"_id\": \"d2\", \"title\": \"slab\", \"text\": \"heat conduction in slabs\"}\n"
            "{\"_id\": \"d3\", \"title\": \"cone\", \"text\": \"pressure on a cone\"}\n");
  FileIngestReport first = Ingest(corpus);
  EXPECT_EQ(first.documents_added, 3u);
  auto d1 = *store_->FindDocument("d1");
  ASSERT_TRUE(d1.has_value());
  EXPECT_EQ(d1->type, "beir");
  EXPECT_EQ(d1->title, "wing");
  EXPECT_EQ(d1->source_path, DocumentKeyForPath(corpus));

  // d1 unchanged, d2 changed, d3 gone, d4 new.
  WriteText(corpus,
            "{\"_id\": \"d1\", \"title\": \"wing\", \"text\": \"flow over a swept wing\"}\n"
            "{\"_id\": \"d2\", \"title\": \"slab\", \"text\": \"radiation between plates\"}\n"
            "{\"_id\": \"d4\", \"title\": \"jet\", \"text\": \"jet noise\"}\n");
  FileIngestReport second = Ingest(corpus);
  EXPECT_EQ(second.documents_unchanged, 1u);
  EXPECT_EQ(second.documents_replaced, 1u);
  EXPECT_EQ(second.documents_added, 1u);
  EXPECT_EQ(second.documents_removed, 1u);
  EXPECT_EQ((*store_->FindDocument("d1"))->doc_id, d1->doc_id);
  EXPECT_FALSE(store_->FindDocument("d3")->has_value());
  EXPECT_EQ(Hits("cone"), 0u);
  EXPECT_EQ(Hits("conduction"), 0u);
  EXPECT_EQ(Hits("radiation"), 1u);
  EXPECT_THAT(*store_->KeysFromSource(DocumentKeyForPath(corpus)), ElementsAre("d1", "d2", "d4"));
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(IngestTest, BadFilesFailWithTheFileNameAndLeaveTheIndexAlone) {
  fs::path empty = dir_.path() / "empty.txt";
  WriteText(empty, "   \n");
  fs::path big = dir_.path() / "big.txt";
  WriteText(big, std::string(4096, 'a'));
  fs::path broken = dir_.path() / "broken.jsonl";
  WriteText(broken, "{\"_id\": \"1\", \"text\": \"ok\"}\n{not json\n");

  auto missing = IngestFile(*store_, dir_.path() / "missing.txt", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing.txt"));

  auto empty_result = IngestFile(*store_, empty, {});
  ASSERT_FALSE(empty_result.ok());
  EXPECT_THAT(empty_result.status().message(), HasSubstr("empty.txt"));

  IngestOptions limit;
  limit.max_file_bytes = 1024;
  auto big_result = IngestFile(*store_, big, limit);
  ASSERT_FALSE(big_result.ok());
  EXPECT_THAT(big_result.status().message(), HasSubstr("big.txt"));
  EXPECT_THAT(big_result.status().message(), HasSubstr("limit"));

  auto broken_result = IngestFile(*store_, broken, {});
  ASSERT_FALSE(broken_result.ok());
  EXPECT_THAT(broken_result.status().message(), HasSubstr("broken.jsonl"));

  fs::path image = dir_.path() / "image.png";
  WriteText(image, std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + std::string(100, '\x01'));
  auto unknown = IngestFile(*store_, image, {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("not a document"));

  EXPECT_EQ(store_->Stats()->documents, 0u);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST(PlanIngestTest, WalksFoldersInSortedOrderSkippingHiddenAndNotDocuments) {
  TempDir dir;
  const std::string png =
      std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + std::string(100, '\x01');
  WriteText(dir.path() / "b.txt", "b");
  WriteText(dir.path() / "a" / "z.md", "z");
  WriteText(dir.path() / "a" / "y.html", "y");
  WriteText(dir.path() / ".git" / "config.txt", "hidden");
  WriteText(dir.path() / ".hidden.txt", "hidden");
  WriteText(dir.path() / "picture.png", png);
  WriteText(dir.path() / "notes.unknown", "text whatever the extension");
  WriteText(dir.path() / "zero", "");
  auto planned = PlanIngest(
      {dir.path(), dir.path() / "b.txt", dir.path() / "nope", dir.path() / "picture.png"});
  ASSERT_TRUE(planned.ok());
  IngestPlan plan = std::move(planned).value();
  std::vector<std::string> files;
  for (const auto& f : plan.files) files.push_back(fs::relative(f.path, dir.path()).string());
  // b.txt once; a file without a known extension is text when its content is
  EXPECT_THAT(files, ElementsAre("a/y.html", "a/z.md", "b.txt", "notes.unknown"));
  std::vector<std::string> ignored;
  for (const auto& f : plan.not_documents) {
    ignored.push_back(f.path.filename().string() + ": " + f.reason);
  }
  EXPECT_THAT(ignored, ElementsAre("picture.png: binary (image/png)", "zero: empty file"));
  ASSERT_EQ(plan.errors.size(), 2u);
  EXPECT_EQ(plan.errors[0].code(), StatusCode::kNotFound);
  EXPECT_THAT(plan.errors[0].message(), HasSubstr("nope"));
  EXPECT_THAT(plan.errors[1].message(), HasSubstr("picture.png"));  // named explicitly: an error
  EXPECT_THAT(plan.roots, ElementsAre(DocumentKeyForPath(dir.path()) + "/"));
}

TEST(PlanIngestTest, InAFolderOnlyCorpusJsonlIsABeirCorpus) {
  TempDir dir;
  WriteText(dir.path() / "beir" / "corpus.jsonl", "{}");
  WriteText(dir.path() / "beir" / "queries.jsonl", "{}");
  auto planned = PlanIngest({dir.path(), dir.path() / "beir" / "queries.jsonl"});
  ASSERT_TRUE(planned.ok());
  const IngestPlan& plan = *planned;
  std::vector<std::string> files;
  for (const auto& f : plan.files) files.push_back(fs::relative(f.path, dir.path()).string());
  // queries.jsonl is skipped while walking the folder, but loaded when named explicitly.
  EXPECT_THAT(files, ElementsAre("beir/corpus.jsonl", "beir/queries.jsonl"));
  ASSERT_EQ(plan.not_documents.size(), 1u);
  EXPECT_EQ(plan.not_documents[0].path.filename(), "queries.jsonl");
}

// A child process ingests many files and is killed with SIGKILL part-way; the index must still
// be valid (integrity checks pass, no orphans, every document complete) and a rerun completes.
TEST(CrashConsistencyTest, KilledIngestLeavesAValidIndexThatARerunCompletes) {
  TempDir dir;
  constexpr int kFiles = 120;
  std::vector<fs::path> files;
  for (int i = 0; i < kFiles; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "doc%03d.txt", i);
    files.push_back(dir.path() / "docs" / name);
    WriteText(files.back(), Paragraphs("topic" + std::to_string(i), 60));
  }
  const fs::path index = dir.path() / "index";
  { ASSERT_TRUE(DocumentStore::Open(index).ok()); }

  IngestOptions options;
  options.chunking.max_tokens = 64;  // many chunks per file: long transactions
  options.chunking.overlap_tokens = 8;
  for (int kill_after : {3, 40}) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto store = DocumentStore::Open(index);
      if (!store.ok()) ::_exit(3);
      for (const auto& file : files) {
        if (!IngestFile(**store, file, options).ok()) ::_exit(4);
      }
      ::_exit(0);
    }
    // Kill once the child has committed `kill_after` documents (it is then mid-way through the
    // next file's transaction or between two).
    auto watcher = DocumentStore::Open(index);
    ASSERT_TRUE(watcher.ok());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      auto stats = (*watcher)->Stats();
      if (stats.ok() && stats->documents >= static_cast<std::size_t>(kill_after)) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child finished before it was killed";

    auto store = DocumentStore::Open(index);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->CheckIntegrity().ok()) << (*store)->CheckIntegrity().ToString();
    auto stats = (*store)->Stats();
    EXPECT_LT(stats->documents, static_cast<std::size_t>(kFiles));
    auto documents = (*store)->ListDocuments();
    ASSERT_TRUE(documents.ok());
    for (const auto& doc : *documents) {
      EXPECT_GT(doc.chunk_count, 10u) << doc.key << " is incomplete";
    }
  }
  // The rerun completes the ingest.
  auto store = DocumentStore::Open(index);
  ASSERT_TRUE(store.ok());
  std::size_t unchanged = 0;
  for (const auto& file : files) {
    auto report = IngestFile(**store, file, options);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    unchanged += report->documents_unchanged;
  }
  EXPECT_GT(unchanged, 0u);  // what the killed runs committed is kept
  EXPECT_EQ((*store)->Stats()->documents, static_cast<std::size_t>(kFiles));
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
  LexicalQuery query;
  query.text = "topic119";
  EXPECT_FALSE((*store)->SearchLexical(query)->empty());
}

}  // namespace
}  // namespace sieve::store
