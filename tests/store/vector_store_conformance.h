// The VectorStore conformance suite: what every vector store backend must do, as a
// value-parameterised GoogleTest suite. The tests live in vector_store_conformance_test.cpp; a
// backend joins by instantiating them with a factory, in its own *_test.cpp:
//
//   INSTANTIATE_TEST_SUITE_P(Faiss, VectorStoreConformance,
//                            ::testing::Values(FaissBackend()), BackendName);
//
// The suite gives every record a payload (document id, key, path, type, tags, content hash) and
// hands `open` a FilterResolver computed from those same payloads, so a backend that resolves
// filters through it (FAISS) and one that evaluates them on stored payloads (Qdrant) must return
// the same results.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>

#include "store/vector_store.h"

namespace sieve::store::conformance {

struct VectorStoreBackend {
  std::string name;  // a GoogleTest name: letters and digits
  // A fresh, empty place for one store (a folder, a collection); `destroy_location` removes it.
  std::function<std::string()> create_location;
  std::function<void(const std::string& location)> destroy_location;
  // Opens (or reopens) the store at `location`.
  std::function<Result<std::unique_ptr<VectorStore>>(const std::string& location,
                                                     const FilterResolver& resolver)>
      open;
  // True when writes become durable only at Flush (a reopen without Flush sees the last Flush).
  bool durable_on_flush_only = true;
  // Optional crash hooks; the tests that need one are skipped without it.
  // Leaves what a writer killed during Flush leaves behind (e.g. a torn temporary file).
  std::function<void(const std::string& location)> leave_torn_write;
  // Damages the durable vectors (e.g. junk in the index file).
  std::function<void(const std::string& location)> corrupt;
};

inline void PrintTo(const VectorStoreBackend& backend, std::ostream* os) {
  *os << backend.name;
}

inline std::string BackendName(const ::testing::TestParamInfo<VectorStoreBackend>& info) {
  return info.param.name;
}

inline constexpr std::size_t kDim = 8;

inline models::ModelInfo Model(std::string id = "conformance/model") {
  models::ModelInfo m;
  m.id = std::move(id);
  m.revision = "";
  m.dimension = kDim;
  m.pooling = "mean";
  m.normalize = true;
  m.query_prompt = "query: ";
  return m;
}

// The fixture: one backend's location, the payloads of what was upserted, and a resolver
// answering filters from those payloads.
class VectorStoreConformance : public ::testing::TestWithParam<VectorStoreBackend> {
 protected:
  void SetUp() override { location_ = GetParam().create_location(); }
  void TearDown() override {
    store_.reset();
    GetParam().destroy_location(location_);
  }

  FilterResolver Resolver() {
    return [this](const Filter& filter) -> Result<std::vector<std::int64_t>> {
      std::vector<std::int64_t> ids;
      for (const auto& [id, p] : payloads_) {
        if (!p.source_path.starts_with(filter.path_prefix)) continue;
        if (!filter.types.empty() &&
            std::find(filter.types.begin(), filter.types.end(), p.type) == filter.types.end()) {
          continue;
        }
        bool tags = true;
        for (const auto& t : filter.tags) {
          tags = tags && std::find(p.tags.begin(), p.tags.end(), t) != p.tags.end();
        }
        if (tags) ids.push_back(id);
      }
      return ids;
    };
  }

  VectorStore& Open() {
    store_.reset();
    auto opened = GetParam().open(location_, Resolver());
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (!opened.ok()) throw std::runtime_error("open failed");
    store_ = std::move(opened).value();
    return *store_;
  }
  VectorStore& OpenBound() {
    VectorStore& s = Open();
    EXPECT_TRUE(s.BindModel(Model()).ok());
    return s;
  }

  VectorRecord Record(std::int64_t id, std::vector<float> v, std::string path = "/docs/a.md",
                      std::string type = "markdown", std::vector<std::string> tags = {}) {
    VectorRecord r;
    r.chunk_id = id;
    r.vector = std::move(v);
    r.payload.doc_id = id * 10;
    r.payload.doc_key = path;
    r.payload.source_path = std::move(path);
    r.payload.type = std::move(type);
    r.payload.tags = std::move(tags);
    r.payload.content_hash = "hash" + std::to_string(id);
    return r;
  }
  Status Put(VectorStore& s, std::vector<VectorRecord> records) {
    Status status = s.Upsert(records);
    if (status.ok()) {
      for (const auto& r : records) payloads_[r.chunk_id] = r.payload;
    }
    return status;
  }

  std::vector<VectorMatch> One(const VectorStore& s, const std::vector<float>& q, std::size_t k,
                               const Filter& filter = {}) {
    auto lists = s.Search(q, 1, k, filter, nullptr);
    EXPECT_TRUE(lists.ok()) << lists.status().ToString();
    if (!lists.ok() || lists->size() != 1) return {};
    return (*lists)[0];
  }
  static std::vector<std::int64_t> IdsOf(const std::vector<VectorMatch>& matches) {
    std::vector<std::int64_t> ids;
    for (const auto& m : matches) ids.push_back(m.chunk_id);
    return ids;
  }

  std::string location_;
  std::unique_ptr<VectorStore> store_;
  std::map<std::int64_t, VectorPayload> payloads_;
};

}  // namespace sieve::store::conformance
