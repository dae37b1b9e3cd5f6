// A large ingest does not hold one unbounded write transaction, and a chunk deleted while the
// vectors are being computed does not stop the ingest (issue 8, "readers never blocked").
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "models/encoder.h"
#include "retrieval/vector_sync.h"
#include "store/document_store.h"
#include "store/faiss_vector_store.h"
#include "store/ingest.h"

namespace sieve::store {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

class IngestBoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve_bounds_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "idx");
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path WriteCorpus(std::size_t records, const std::string& tag = "") {
    const fs::path path = dir_ / "corpus.jsonl";
    std::ofstream out(path, std::ios::trunc);
    for (std::size_t i = 0; i < records; ++i) {
      out << R"({"_id": "d)" << i << R"(", "text": "record )" << i << " about turbines" << tag
          << "\"}\n";
    }
    return path;
  }
  std::unique_ptr<DocumentStore> Open(bool read_only = false) {
    OpenOptions options;
    options.read_only = read_only;
    auto db = DocumentStore::Open(dir_ / "idx", options);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }

  fs::path dir_;
};

TEST_F(IngestBoundsTest, ACorpusCommitsInBoundedTransactionsThatReadersSee) {
  const fs::path corpus = WriteCorpus(2500);
  auto writer = Open();
  IngestOptions options;
  options.documents_per_transaction = 1000;
  std::vector<std::size_t> seen_by_reader, done_at_commit, totals;
  options.committed = [&](std::size_t done, std::size_t total) {
    // Another connection sees each batch as soon as it is committed.
    auto reader = Open(/*read_only=*/true);
    seen_by_reader.push_back(reader->Stats().value().documents);
    done_at_commit.push_back(done);
    totals.push_back(total);
  };
  auto report = IngestFile(*writer, corpus, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->documents_added, 2500u);
  EXPECT_THAT(done_at_commit, ElementsAre(1000u, 2000u, 2500u));
  EXPECT_THAT(totals, ElementsAre(2500u, 2500u, 2500u));
  EXPECT_THAT(seen_by_reader, ElementsAre(1000u, 2000u, 2500u));

  // A changed corpus with fewer records: the removed ones go in the last transaction.
  WriteCorpus(1500, " (changed)");
  seen_by_reader.clear();
  done_at_commit.clear();
  report = IngestFile(*writer, corpus, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->documents_replaced, 1500u);
  EXPECT_EQ(report->documents_removed, 1000u);
  EXPECT_THAT(done_at_commit, ElementsAre(1000u, 1500u));
  EXPECT_THAT(seen_by_reader, ElementsAre(2500u, 1500u));
}

TEST_F(IngestBoundsTest, AnInterruptedCorpusIngestIsCompletedByTheNextOne) {
  const fs::path corpus = WriteCorpus(2500);
  {
    auto writer = Open();
    IngestOptions options;
    options.documents_per_transaction = 1000;
    // Stands for a crash after the first transaction: the exception leaves the second one
    // uncommitted (rolled back).
    options.committed = [](std::size_t done, std::size_t) {
      if (done == 1000) throw std::runtime_error("killed");
    };
    EXPECT_THROW((void)IngestFile(*writer, corpus, options), std::runtime_error);
  }
  auto writer = Open();
  EXPECT_EQ(writer->Stats().value().documents, 1000u);
  auto report = IngestFile(*writer, corpus, IngestOptions{});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->documents_unchanged, 1000u);
  EXPECT_EQ(report->documents_added, 1500u);
  EXPECT_EQ(writer->Stats().value().documents, 2500u);
}

// An embedder that deletes a document through another connection the first time it is called,
// as a writer that does not take the index lock would.
class DeletingEmbedder : public models::Embedder {
 public:
  DeletingEmbedder(fs::path index, std::string victim)
      : index_(std::move(index)), victim_(std::move(victim)) {
    info_.id = "test/deleting";
    info_.dimension = 4;
    info_.pooling = "cls";
    info_.normalize = true;
  }
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts,
                                                bool) override {
    if (!deleted_) {
      deleted_ = true;
      auto other = DocumentStore::Open(index_);
      if (!other.ok()) return other.status();
      SIEVE_ASSIGN_OR_RETURN(auto txn, (*other)->BeginTransaction());
      SIEVE_RETURN_IF_ERROR((*other)->DeleteDocument(victim_).status());
      SIEVE_RETURN_IF_ERROR(txn.Commit());
    }
    std::vector<std::vector<float>> out;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      out.push_back({1.0f, static_cast<float>(texts[i].size()), 0.5f, 0.25f});
    }
    embedded_ += texts.size();
    return out;
  }
  const models::ModelInfo& info() const override { return info_; }
  std::size_t CountTokens(std::string_view text) const override { return text.size(); }
  std::size_t embedded() const { return embedded_; }

 private:
  fs::path index_;
  std::string victim_;
  models::ModelInfo info_;
  bool deleted_ = false;
  std::size_t embedded_ = 0;
};

TEST_F(IngestBoundsTest, AChunkDeletedWhileEmbeddingIsSkippedAndTheRestEmbedded) {
  const fs::path corpus = WriteCorpus(40);
  auto writer = Open();
  ASSERT_TRUE(IngestFile(*writer, corpus, IngestOptions{}).ok());
  VectorStoreOptions vector_options;
  vector_options.binding = writer->Binding(/*read_only=*/false);
  auto vectors = FaissVectorStore::Open(dir_ / "idx", vector_options);
  ASSERT_TRUE(vectors.ok()) << vectors.status().ToString();
  DeletingEmbedder embedder(dir_ / "idx", "d39");  // its chunk is in the last batch
  ASSERT_TRUE((*vectors)->BindModel(embedder.info()).ok());
  retrieval::VectorSyncOptions sync;
  sync.batch_size = 8;
  auto report = retrieval::SyncVectors(*writer, **vectors, embedder, sync);
  ASSERT_TRUE(report.ok()) << report.status().ToString();  // was "chunks disappeared", exit 3
  EXPECT_EQ(report->missing_embedded, 39u);
  EXPECT_EQ(report->vanished, 1u);
  EXPECT_EQ(embedder.embedded(), 39u);
  auto staleness = retrieval::CheckVectors(*writer, **vectors);
  ASSERT_TRUE(staleness.ok());
  EXPECT_EQ(staleness->missing, 0u);
  EXPECT_EQ(staleness->stale, 0u);
}

}  // namespace
}  // namespace sieve::store
