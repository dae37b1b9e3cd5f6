// The Qdrant backend: the conformance suite against a local fake Qdrant (fake_qdrant_server.h,
// which checks every request against Qdrant v1.16's OpenAPI description), the same suite against
// a real Qdrant when QDRANT_URL is set, and what is particular to Qdrant (URIs, collection
// creation, payloads, retries, auth, refusals).
#include "store/qdrant_vector_store.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>

#include "core/http.h"
#include "fake_qdrant_server.h"
#include "vector_store_conformance.h"

namespace sieve::store {
namespace {

using conformance::VectorStoreConformance;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FakeQdrantServer;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// One fake server for the whole executable (started on first use, stopped at exit).
FakeQdrantServer& Fake() {
  static FakeQdrantServer server;
  return server;
}

std::string NewCollectionName() {
  static std::atomic<int> counter{0};
  return "sieve_conformance_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

conformance::VectorStoreBackend FakeQdrantBackend() {
  conformance::VectorStoreBackend backend;
  backend.name = "QdrantFake";
  backend.create_location = [] {
    Fake().ClearLog();
    return NewCollectionName();
  };
  backend.destroy_location = [](const std::string& collection) {
    // Every request the backend made conformed to Qdrant's API description.
    EXPECT_THAT(Fake().violations(), IsEmpty());
    Fake().DropCollection(collection);
  };
  backend.open = [](const std::string& collection, const FilterResolver& resolver) {
    VectorStoreOptions options;
    options.resolve_filter = resolver;
    options.qdrant.batch_size = 16;  // the 40- and 64-record tests go out in several batches
    return OpenVectorStore(Fake().Uri(collection), options);
  };
  backend.durable_on_flush_only = false;  // each write waits for Qdrant to apply it
  return backend;
}

INSTANTIATE_TEST_SUITE_P(Qdrant, VectorStoreConformance, ::testing::Values(FakeQdrantBackend()),
                         conformance::BackendName);

// ---- the same suite against a real Qdrant, when QDRANT_URL names one ----

std::string RealUrl() {
  const char* url = std::getenv("QDRANT_URL");
  return url == nullptr ? "" : url;
}

std::string RealApiKey() {
  const char* key = std::getenv("QDRANT_API_KEY");
  return key == nullptr ? "" : key;
}

// "http://host:6333" -> "qdrant://host:6333/<collection>" (https -> qdrants).
std::string RealUri(const std::string& collection) {
  std::string url = RealUrl();
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.starts_with("https://")) return "qdrants://" + url.substr(8) + "/" + collection;
  if (url.starts_with("http://")) return "qdrant://" + url.substr(7) + "/" + collection;
  return "qdrant://" + url + "/" + collection;
}

std::vector<conformance::VectorStoreBackend> RealQdrantBackends() {
  if (RealUrl().empty()) return {};
  conformance::VectorStoreBackend backend;
  backend.name = "QdrantReal";
  backend.create_location = [] { return NewCollectionName(); };
  backend.destroy_location = [](const std::string& collection) {
    VectorStoreOptions options;
    options.qdrant.api_key = RealApiKey();
    auto store = OpenVectorStore(RealUri(collection), options);
    if (store.ok()) (void)(*store)->Clear();
  };
  backend.open = [](const std::string& collection, const FilterResolver& resolver) {
    VectorStoreOptions options;
    options.resolve_filter = resolver;
    options.qdrant.api_key = RealApiKey();
    options.qdrant.batch_size = 16;
    return OpenVectorStore(RealUri(collection), options);
  };
  backend.durable_on_flush_only = false;
  return {backend};
}

INSTANTIATE_TEST_SUITE_P(QdrantServer, VectorStoreConformance,
                         ::testing::ValuesIn(RealQdrantBackends()), conformance::BackendName);

TEST(QdrantRealServerTest, ConformanceRunsWhenQdrantUrlIsSet) {
  if (RealUrl().empty()) {
    GTEST_SKIP() << "QDRANT_URL is not set: the conformance suite ran against the fake Qdrant "
                    "only (set QDRANT_URL=http://host:6333, and QDRANT_API_KEY if needed, to run "
                    "it against a real server)";
  }
  EXPECT_EQ(RealQdrantBackends().size(), 1u);
}

// ---- Qdrant specifics, against the fake ----

class QdrantStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Fake().ClearLog();
    Fake().RequireApiKey("");
    Fake().DropMetadata(false);
    collection_ = NewCollectionName();
  }
  void TearDown() override {
    Fake().RequireApiKey("");
    Fake().DropMetadata(false);
    Fake().DropCollection(collection_);
  }
  Result<std::unique_ptr<VectorStore>> OpenStore(VectorStoreOptions options = {}) {
    return OpenVectorStore(Fake().Uri(collection_), options);
  }
  static VectorRecord Record(std::int64_t id, std::vector<float> v, std::string path,
                             std::vector<std::string> tags = {}) {
    VectorRecord r;
    r.chunk_id = id;
    r.vector = std::move(v);
    r.payload.doc_id = id / 10;
    r.payload.doc_key = path;
    r.payload.source_path = std::move(path);
    r.payload.type = "markdown";
    r.payload.tags = std::move(tags);
    r.payload.content_hash = "sha" + std::to_string(id);
    return r;
  }
  static std::vector<float> Axis(std::size_t axis) {
    std::vector<float> v(conformance::kDim, 0);
    v[axis] = 1;
    return v;
  }
  std::string collection_;
};

TEST(QdrantUriTest, ParsesHostPortCollectionAndTls) {
  auto plain = ParseQdrantUri("qdrant://qdrant.internal:6334/docs");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->base_url, "http://qdrant.internal:6334");
  EXPECT_EQ(plain->collection, "docs");
  auto tls = ParseQdrantUri("qdrants://cloud.example.com/my-docs_1");
  ASSERT_TRUE(tls.ok());
  EXPECT_EQ(tls->base_url, "https://cloud.example.com:6333");  // the default port
  auto v6 = ParseQdrantUri("qdrant://[::1]:7000/c");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->base_url, "http://[::1]:7000");
  for (const char* bad :
       {"qdrant://host:6333", "qdrant://host:6333/", "qdrant:///docs", "qdrant://host:abc/docs",
        "qdrant://host:70000/docs", "qdrant://host/a/b", "qdrant://key@host/docs"}) {
    EXPECT_EQ(ParseQdrantUri(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(QdrantStoreTest, OpeningAMissingCollectionWritesNothing) {
  auto store = OpenStore();
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_FALSE((*store)->model().has_value());
  ASSERT_TRUE((*store)->BindModel(conformance::Model()).ok());
  EXPECT_FALSE(Fake().collection(collection_).has_value());  // BindModel is in memory
  EXPECT_THAT(Fake().requests(), ElementsAre("GET /collections/" + collection_));
  ASSERT_TRUE((*store)->Flush().ok());  // Flush records the model: the collection now exists
  EXPECT_TRUE(Fake().collection(collection_).has_value());
}

TEST_F(QdrantStoreTest, CreatesTheCollectionWithOptionsIndexesAndPayloads) {
  VectorStoreOptions options;
  options.qdrant.shard_number = 6;
  options.qdrant.replication_factor = 2;
  options.qdrant.write_consistency_factor = 2;
  options.qdrant.hnsw_config_json = R"({"m": 32, "ef_construct": 256})";
  options.qdrant.quantization_config_json = R"({"scalar": {"type": "int8", "always_ram": true}})";
  auto store = OpenStore(options);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->BindModel(conformance::Model()).ok());
  std::vector<VectorRecord> records = {Record(11, Axis(0), "/docs/guide/a.md", {"x", "y"}),
                                       Record(12, Axis(1), "/docs/b.md")};
  ASSERT_TRUE((*store)->Upsert(records).ok());
  EXPECT_THAT(Fake().violations(), IsEmpty());
  auto c = Fake().collection(collection_);
  ASSERT_TRUE(c.has_value());
  const auto& create = c->create_request;
  EXPECT_EQ(create["vectors"]["size"], conformance::kDim);
  EXPECT_EQ(create["vectors"]["distance"], "Cosine");
  EXPECT_EQ(create["shard_number"], 6);
  EXPECT_EQ(create["replication_factor"], 2);
  EXPECT_EQ(create["write_consistency_factor"], 2);
  EXPECT_EQ(create["hnsw_config"]["ef_construct"], 256);
  EXPECT_EQ(create["quantization_config"]["scalar"]["type"], "int8");
  EXPECT_EQ(create["metadata"]["sieve_model"]["id"], "conformance/model");
  EXPECT_EQ(create["metadata"]["sieve_model"]["query_prompt"], "query: ");
  EXPECT_EQ(c->indexes.at("doc_id"), "\"integer\"");
  EXPECT_EQ(c->indexes.at("tags"), "\"keyword\"");
  EXPECT_EQ(c->indexes.at("type"), "\"keyword\"");
  EXPECT_EQ(c->indexes.at("path_dirs"), "\"keyword\"");
  ASSERT_EQ(c->points.count(11), 1u);  // the point id is the chunk id
  const auto& payload = c->points.at(11).payload;
  EXPECT_EQ(payload["chunk_id"], 11);
  EXPECT_EQ(payload["doc_id"], 1);
  EXPECT_EQ(payload["path"], "/docs/guide/a.md");
  EXPECT_EQ(payload["tags"], nlohmann::json({"x", "y"}));
  EXPECT_EQ(payload["content_hash"], "sha11");
  EXPECT_EQ(payload["path_dirs"],
            nlohmann::json({"/", "/docs/", "/docs/guide/", "/docs/guide/a.md"}));
  // A repeated ingest of the same chunks replaces them: ids are deterministic.
  ASSERT_TRUE((*store)->Upsert(records).ok());
  EXPECT_EQ(*(*store)->size(), 2u);
}

TEST_F(QdrantStoreTest, BadPassThroughOptionsAreRefusedAtOpen) {
  VectorStoreOptions options;
  options.qdrant.hnsw_config_json = "{not json";
  auto store = OpenStore(options);
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(store.status().message(), HasSubstr("qdrant.hnsw_config"));
}

TEST_F(QdrantStoreTest, QdrantRejectionsAreClearErrors) {
  VectorStoreOptions options;
  options.qdrant.quantization_config_json = R"({"bogus": {}})";  // JSON, but not Qdrant's schema
  auto store = OpenStore(options);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->BindModel(conformance::Model()).ok());
  Status status = (*store)->Flush();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("create collection"));
  EXPECT_THAT(status.message(), HasSubstr("HTTP 400"));
  EXPECT_THAT(status.message(), HasSubstr("QuantizationConfig"));  // Qdrant's own error text
  Fake().ClearLog();                                               // the violation was wanted
}

TEST_F(QdrantStoreTest, ServiceUnavailableIsRetried) {
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->BindModel(conformance::Model()).ok());
  ASSERT_TRUE((*store)->Flush().ok());
  Fake().ClearLog();
  Fake().FailNext(2, 503, "0");  // two 503s asking to retry at once, then served
  std::vector<VectorRecord> records = {Record(1, Axis(0), "/a.md")};
  Status status = (*store)->Upsert(records);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_THAT(Fake().requests(), ElementsAre("PUT /collections/" + collection_ + "/points",
                                             "PUT /collections/" + collection_ + "/points",
                                             "PUT /collections/" + collection_ + "/points"));
  EXPECT_THAT(*(*store)->Ids(), ElementsAre(1));
  // When the server keeps failing, the error says so (after the retries).
  VectorStoreOptions one_retry;
  one_retry.qdrant.retries = 1;
  auto impatient = OpenStore(one_retry);
  ASSERT_TRUE(impatient.ok());
  Fake().FailNext(5, 503, "0");
  auto ids = (*impatient)->size();
  EXPECT_EQ(ids.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(ids.status().message(), HasSubstr("503"));
  EXPECT_THAT(ids.status().message(), HasSubstr("after 2 attempts"));
  Fake().FailNext(0, 503);
}

TEST_F(QdrantStoreTest, AMissingOrWrongApiKeyIsAClearError) {
  Fake().RequireApiKey("s3cret");
  auto anonymous = OpenStore();
  EXPECT_EQ(anonymous.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(anonymous.status().message(), HasSubstr("HTTP 401"));
  EXPECT_THAT(anonymous.status().message(), HasSubstr("API key"));
  EXPECT_THAT(anonymous.status().message(), HasSubstr("SIEVE_QDRANT_API_KEY"));
  EXPECT_THAT(Fake().requests(), ::testing::SizeIs(1));  // 401 is not retried
  VectorStoreOptions options;
  options.qdrant.api_key = "s3cret";
  auto store = OpenStore(options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->BindModel(conformance::Model()).ok());
  ASSERT_TRUE((*store)->Flush().ok());
  EXPECT_THAT(Fake().api_keys_seen(), Contains("s3cret"));
}

TEST_F(QdrantStoreTest, AModelMismatchIsRefusedAsByFaiss) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->BindModel(conformance::Model("first/model")).ok());
    std::vector<VectorRecord> records = {Record(1, Axis(0), "/a.md")};
    ASSERT_TRUE((*store)->Upsert(records).ok());
  }
  auto store = OpenStore();  // another process, later
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->model().has_value());
  EXPECT_EQ((*store)->model()->id, "first/model");
  Status refused = (*store)->BindModel(conformance::Model("second/model"));
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("first/model"));
  EXPECT_THAT(refused.message(), HasSubstr("second/model"));
  EXPECT_THAT(refused.message(), HasSubstr("vectors of different models cannot be mixed"));
  EXPECT_THAT(refused.message(), HasSubstr("reembed --embed-model second/model"));
  EXPECT_THAT(refused.message(), HasSubstr("--store " + Fake().Uri(collection_)));
}

TEST_F(QdrantStoreTest, ACollectionSieveDidNotMakeIsRefused) {
  Fake().AddForeignCollection(collection_, conformance::kDim);
  auto store = OpenStore();
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(store.status().message(), HasSubstr("no Sieve model record"));
}

TEST_F(QdrantStoreTest, AQdrantThatDropsMetadataIsUnsupported) {
  Fake().DropMetadata(true);
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->BindModel(conformance::Model()).ok());
  Status status = (*store)->Flush();
  EXPECT_EQ(status.code(), StatusCode::kUnsupported);
  EXPECT_THAT(status.message(), HasSubstr("1.16"));
  EXPECT_FALSE(Fake().collection(collection_).has_value());  // not left half made
}

TEST_F(QdrantStoreTest, FiltersArePushedDownAndOddPrefixesUseTheResolver) {
  std::vector<Filter> resolved;
  VectorStoreOptions options;
  options.resolve_filter = [&](const Filter& f) -> Result<std::vector<std::int64_t>> {
    resolved.push_back(f);
    return std::vector<std::int64_t>{2};  // "/docs/ab" matches chunk 2's "/docs/abc.md" only
  };
  auto store = OpenStore(options);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->BindModel(conformance::Model()).ok());
  std::vector<VectorRecord> records = {Record(1, Axis(0), "/docs/a.md", {"t"}),
                                       Record(2, Axis(1), "/docs/abc.md", {"t"}),
                                       Record(3, Axis(2), "/else/a.md", {"t"})};
  ASSERT_TRUE((*store)->Upsert(records).ok());
  std::vector<float> q(conformance::kDim, 1.0f);
  Filter dir;
  dir.path_prefix = "/docs/";
  dir.tags = {"t"};
  auto in_dir = (*store)->Search(q, 1, 10, dir, nullptr);
  ASSERT_TRUE(in_dir.ok());
  ASSERT_EQ((*in_dir)[0].size(), 2u);
  EXPECT_THAT(resolved, IsEmpty());  // evaluated by Qdrant alone
  Filter partial;
  partial.path_prefix = "/docs/ab";
  partial.tags = {"t"};
  auto in_partial = (*store)->Search(q, 1, 10, partial, nullptr);
  ASSERT_TRUE(in_partial.ok());
  ASSERT_EQ((*in_partial)[0].size(), 1u);
  EXPECT_EQ((*in_partial)[0][0].chunk_id, 2);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].path_prefix, "/docs/ab");
  EXPECT_THAT(resolved[0].tags, IsEmpty());  // only the prefix is resolved; tags stay in Qdrant
  EXPECT_THAT(Fake().violations(), IsEmpty());
}

TEST_F(QdrantStoreTest, RemoveDocumentsDeletesByPayloadFilter) {
  auto opened = QdrantVectorStore::Open(Fake().Uri(collection_));
  ASSERT_TRUE(opened.ok());
  QdrantVectorStore& store = **opened;
  ASSERT_TRUE(store.BindModel(conformance::Model()).ok());
  std::vector<VectorRecord> records = {Record(10, Axis(0), "/a"), Record(11, Axis(1), "/a"),
                                       Record(20, Axis(2), "/b"), Record(30, Axis(3), "/c")};
  ASSERT_TRUE(store.Upsert(records).ok());
  const std::vector<std::int64_t> docs = {1, 3};  // doc ids are chunk id / 10 here
  ASSERT_TRUE(store.RemoveDocuments(docs).ok());
  EXPECT_THAT(*store.Ids(), ElementsAre(20));
  EXPECT_THAT(Fake().violations(), IsEmpty());
}

TEST_F(QdrantStoreTest, AnUnreachableServerIsUnavailable) {
  // A port nothing listens on: bind one, note it, close it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t length = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length), 0);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  VectorStoreOptions options;
  options.qdrant.retries = 0;
  auto store = OpenVectorStore("qdrant://127.0.0.1:" + std::to_string(port) + "/c", options);
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(store.status().message(), HasSubstr("Qdrant get collection"));
}

}  // namespace
}  // namespace sieve::store
