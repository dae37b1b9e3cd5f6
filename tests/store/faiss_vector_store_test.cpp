// The FAISS backend: the conformance suite, plus what is particular to FAISS (URIs, options).
#include "store/faiss_vector_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "core/file.h"
#include "vector_store_conformance.h"

namespace sieve::store {
namespace {

namespace fs = std::filesystem;
using conformance::VectorStoreConformance;
using ::testing::HasSubstr;

conformance::VectorStoreBackend FaissBackend() {
  conformance::VectorStoreBackend backend;
  backend.name = "Faiss";
  backend.create_location = [] {
    static std::atomic<int> counter{0};
    const fs::path dir =
        fs::temp_directory_path() /
        ("sieve_conformance_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir.string();
  };
  backend.destroy_location = [](const std::string& location) { fs::remove_all(location); };
  backend.open = [](const std::string& location, const FilterResolver& resolver) {
    VectorStoreOptions options;
    options.resolve_filter = resolver;
    return OpenVectorStore(FaissUri(location), options);
  };
  backend.durable_on_flush_only = true;
  backend.leave_torn_write = [](const std::string& location) {
    // What a writer killed inside WriteIndexAtomic leaves: half a temporary file.
    std::ofstream(fs::path(location) / "vectors.faiss.tmp.4242", std::ios::binary)
        << std::string("IxM2\x08\x00\x00", 7);
    std::ofstream(fs::path(location) / "vectors.json.tmp.4242") << "{\"format\": 1, \"mo";
  };
  backend.corrupt = [](const std::string& location) {
    std::fstream f(fs::path(location) / kVectorIndexFile,
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f << "junk junk junk junk";
  };
  return backend;
}

INSTANTIATE_TEST_SUITE_P(Faiss, VectorStoreConformance, ::testing::Values(FaissBackend()),
                         conformance::BackendName);

TEST(OpenVectorStoreTest, UnknownSchemesAreUnsupported) {
  auto redis = OpenVectorStore("redis://localhost:6379/docs");
  EXPECT_EQ(redis.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(redis.status().message(), HasSubstr("unsupported vector store scheme \"redis\""));
  EXPECT_THAT(redis.status().message(), HasSubstr("qdrant://HOST:PORT/COLLECTION"));
  EXPECT_EQ(OpenVectorStore("/just/a/path").status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(OpenVectorStore("faiss:").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenVectorStore("faiss:/no/such/folder/here").status().code(), StatusCode::kNotFound);
}

TEST(OpenVectorStoreTest, OpeningWritesNothingAndFiltersNeedAResolver) {
  const fs::path dir = fs::temp_directory_path() / ("sieve_open_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto opened = OpenVectorStore(FaissUri(dir));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ((*opened)->uri(), "faiss:" + dir.string());
  ASSERT_TRUE((*opened)->BindModel(conformance::Model()).ok());
  VectorRecord r;
  r.chunk_id = 1;
  r.vector = std::vector<float>(conformance::kDim, 1.0f);
  ASSERT_TRUE((*opened)->Upsert(std::span<const VectorRecord>(&r, 1)).ok());
  EXPECT_TRUE(fs::is_empty(dir));  // nothing is written before Flush
  Filter filter;
  filter.tags = {"x"};
  auto filtered = (*opened)->Search(r.vector, 1, 3, filter, nullptr);
  EXPECT_EQ(filtered.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(filtered.status().message(), HasSubstr("filter resolver"));
  fs::remove_all(dir);
}

TEST(FaissIndexOptionsTest, OneDefaultThreshold) {
  EXPECT_EQ(FaissIndexOptions{}.exact_threshold, kDefaultExactThreshold);
  EXPECT_EQ(kDefaultExactThreshold, 20000u);
  VectorStoreOptions bad;
  bad.faiss.hnsw_m = 1;
  EXPECT_EQ(FaissVectorStore::Open(fs::temp_directory_path(), bad).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sieve::store
