// Two `sieve ingest` processes writing one index at once are serialised by the index's writer
// lock: the index they leave is the one running them one after the other leaves.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "cli_runner.h"
#include "store/document_store.h"
#include "store/faiss_vector_store.h"

namespace {

namespace fs = std::filesystem;
using namespace sieve;
using namespace sieve::cli::testing_support;

// Everything an index holds, keyed so that two indexes built in different orders compare equal:
// per document key, its hash and chunk count; per (document key, ordinal), the chunk text and
// its vector.
struct Snapshot {
  std::map<std::string, std::tuple<std::string, std::size_t>> documents;
  std::map<std::pair<std::string, std::size_t>, std::string> chunks;
  std::map<std::pair<std::string, std::size_t>, std::vector<float>> vectors;
  std::size_t chunk_ids = 0;
  bool vector_ids_are_chunk_ids = false;
};

Snapshot Read(const fs::path& index) {
  Snapshot snap;
  store::OpenOptions options;
  options.create = false;
  auto db = store::DocumentStore::Open(index, options);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return snap;
  auto documents = (*db)->ListDocuments();
  EXPECT_TRUE(documents.ok());
  for (const auto& d : *documents) snap.documents[d.key] = {d.content_hash, d.chunk_count};
  auto ids = (*db)->ListChunkIds();
  EXPECT_TRUE(ids.ok());
  snap.chunk_ids = ids->size();
  auto chunks = (*db)->GetChunks(*ids);
  EXPECT_TRUE(chunks.ok());
  auto vectors = store::FaissVectorStore::Open(index);
  EXPECT_TRUE(vectors.ok()) << vectors.status().ToString();
  if (!vectors.ok()) return snap;
  EXPECT_EQ((*vectors)->damage(), "");
  auto vector_ids = (*vectors)->Ids();
  EXPECT_TRUE(vector_ids.ok());
  snap.vector_ids_are_chunk_ids = vector_ids.ok() && *vector_ids == *ids;
  for (const auto& c : *chunks) {
    const auto key = std::make_pair(c.doc_key, c.ordinal);
    snap.chunks[key] = c.text;
    auto v = (*vectors)->Vector(c.chunk_id);
    if (v.ok()) snap.vectors[key] = *v;
  }
  return snap;
}

class ConcurrentIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Two folders of one-document text files from Cranfield: one SQLite transaction per file,
    // so two unserialised ingests would interleave.
    std::ifstream in(kCranfield / "corpus.jsonl");
    std::string line;
    for (int i = 0; i < 240 && std::getline(in, line); ++i) {
      const auto doc = nlohmann::json::parse(line);
      const fs::path folder = dir_ / (i % 2 == 0 ? "a" : "b");
      fs::create_directories(folder);
      std::ofstream(folder / ("doc" + std::to_string(i) + ".txt"))
          << doc.value("title", "") << "\n\n"
          << doc.value("text", "") << "\n";
    }
  }

  std::string IngestCommand(const fs::path& index, const std::string& folder) {
    const SieveEnv env{.unset = {"SIEVE_INDEX", "SIEVE_EMBED_MODEL"},
                       .set = {{"HF_HUB_OFFLINE", "1"}},
                       .index = index};
    return SieveCommand(env, {"ingest", (dir_ / folder).string(), "--embed-model",
                              (kModels / "tiny-bge").string()});
  }
  int Shell(const std::string& command) {
    return ExitCode(
        std::system(("cd " + Quote(dir_.string()) + " && { " + command + "; }").c_str()));
  }

  TempDir temp_{"sieve-concurrent"};
  const fs::path dir_ = temp_.path();
};

TEST_F(ConcurrentIngestTest, TwoIngestsAtOnceEqualOneAfterTheOther) {
  const fs::path sequential = dir_ / "sequential";
  ASSERT_EQ(Shell(IngestCommand(sequential, "a") + " >/dev/null 2>seq_a.err"), 0);
  ASSERT_EQ(Shell(IngestCommand(sequential, "b") + " >/dev/null 2>seq_b.err"), 0);

  const fs::path concurrent = dir_ / "concurrent";
  // Both start at once; each exits with its own status (0 expected from both).
  ASSERT_EQ(
      Shell("(" + IngestCommand(concurrent, "a") + " >/dev/null 2>con_a.err; echo $? >a.rc) & (" +
            IngestCommand(concurrent, "b") + " >/dev/null 2>con_b.err; echo $? >b.rc) & wait"),
      0);
  for (const char* rc : {"a.rc", "b.rc"}) {
    std::ifstream in(dir_ / rc);
    int code = -1;
    in >> code;
    EXPECT_EQ(code, 0) << rc;
  }

  const Snapshot expected = Read(sequential);
  const Snapshot actual = Read(concurrent);
  EXPECT_EQ(expected.documents.size(), 240u);
  EXPECT_GT(expected.chunk_ids, 0u);
  EXPECT_TRUE(expected.vector_ids_are_chunk_ids);
  EXPECT_TRUE(actual.vector_ids_are_chunk_ids);  // every chunk has a vector, none is stale
  EXPECT_EQ(actual.documents, expected.documents);
  EXPECT_EQ(actual.chunk_ids, expected.chunk_ids);
  EXPECT_EQ(actual.chunks, expected.chunks);
  ASSERT_EQ(actual.vectors.size(), expected.vectors.size());
  for (const auto& [key, v] : expected.vectors) {
    auto it = actual.vectors.find(key);
    ASSERT_NE(it, actual.vectors.end()) << key.first;
    ASSERT_EQ(it->second.size(), v.size());
    for (std::size_t i = 0; i < v.size(); ++i) ASSERT_NEAR(it->second[i], v[i], 1e-5) << key.first;
  }
}

}  // namespace
