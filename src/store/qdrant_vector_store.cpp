#include "store/qdrant_vector_store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_set>

#include "store/model_json.h"

namespace sieve::store {

namespace {

using nlohmann::json;

constexpr int kMetadataFormat = 1;
constexpr std::size_t kScrollPage = 1000;

bool IsFinite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

// Unit length as JSON numbers; a zero vector stays zero.
json UnitVector(const float* v, std::size_t d) {
  double norm = 0;
  for (std::size_t i = 0; i < d; ++i) norm += static_cast<double>(v[i]) * v[i];
  const double inv = norm > 0 ? 1.0 / std::sqrt(norm) : 1.0;
  json out = json::array();
  for (std::size_t i = 0; i < d; ++i) out.push_back(static_cast<float>(v[i] * inv));
  return out;
}

// Every directory prefix of `path` (each ending in '/') and the path itself: what a path-prefix
// filter ending in '/' matches exactly.
json PathDirs(const std::string& path) {
  json dirs = json::array();
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '/') dirs.push_back(path.substr(0, i + 1));
  }
  if (!path.empty() && path.back() != '/') dirs.push_back(path);
  return dirs;
}

bool ValidCollectionName(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

// Qdrant's error text from an error answer ({"status": {"error": "..."}}), else the body's start.
std::string QdrantError(const std::string& body) {
  try {
    const json j = json::parse(body);
    if (j.contains("status") && j["status"].is_object() && j["status"].contains("error")) {
      return j["status"]["error"].get<std::string>();
    }
  } catch (const std::exception&) {
  }
  return body.substr(0, 200);
}

Result<json> ParseResult(const std::string& body, std::string_view what) {
  try {
    json j = json::parse(body);
    if (!j.is_object() || !j.contains("result")) {
      return Status::Unavailable("Qdrant " + std::string(what) + ": answer has no \"result\"");
    }
    return std::move(j["result"]);
  } catch (const std::exception& e) {
    return Status::Unavailable("Qdrant " + std::string(what) + ": unreadable answer: " + e.what());
  }
}

}  // namespace

Result<QdrantLocation> ParseQdrantUri(const std::string& uri) {
  QdrantLocation location;
  std::string_view rest = uri;
  std::string scheme;
  if (rest.starts_with("qdrant://")) {
    scheme = "http://";
    rest.remove_prefix(9);
  } else if (rest.starts_with("qdrants://")) {
    scheme = "https://";
    rest.remove_prefix(10);
  } else {
    return Status::InvalidArgument("\"" + uri + "\" is not a qdrant:// or qdrants:// URI");
  }
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view collection =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  const std::string usage = " (expected qdrant://HOST[:PORT]/COLLECTION)";
  if (authority.empty())
    return Status::InvalidArgument("vector store URI " + uri + " names no host" + usage);
  if (!ValidCollectionName(collection)) {
    return Status::InvalidArgument("vector store URI " + uri +
                                   " names no valid collection (letters, digits, '_', '-', '.')" +
                                   usage);
  }
  std::string host(authority);
  std::string port;
  if (authority.front() == '[') {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("vector store URI " + uri + ": unclosed '[' in the host");
    }
    host = std::string(authority.substr(0, close + 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        return Status::InvalidArgument("vector store URI " + uri + ": bad port");
      }
      port = std::string(authority.substr(close + 2));
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = std::string(authority.substr(0, colon));
    port = std::string(authority.substr(colon + 1));
  }
  if (host.empty() || host.find('@') != std::string::npos) {
    return Status::InvalidArgument(
        "vector store URI " + uri +
        ": bad host (put the API key in the configuration, not the URI)");
  }
  if (port.empty()) port = "6333";
  if (port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(port) == 0 || std::stoi(port) > 65535) {
    return Status::InvalidArgument("vector store URI " + uri + ": bad port \"" + port + "\"");
  }
  location.base_url = scheme + host + ":" + port;
  location.collection = std::string(collection);
  return location;
}

QdrantVectorStore::QdrantVectorStore(std::string uri, QdrantLocation location,
                                     VectorStoreOptions options)
    : uri_(std::move(uri)),
      location_(std::move(location)),
      options_(std::move(options)),
      client_(std::make_shared<const http::Client>()) {}

QdrantVectorStore::~QdrantVectorStore() = default;

Result<std::unique_ptr<QdrantVectorStore>> QdrantVectorStore::Open(
    const std::string& uri, const VectorStoreOptions& options) {
  SIEVE_ASSIGN_OR_RETURN(QdrantLocation location, ParseQdrantUri(uri));
  const QdrantOptions& q = options.qdrant;
  if (q.batch_size == 0) return Status::InvalidArgument("qdrant: batch size must be >= 1");
  if (q.retries < 0 || q.timeout_s <= 0 || q.connect_timeout_s <= 0) {
    return Status::InvalidArgument("qdrant: retries must be >= 0 and timeouts > 0");
  }
  if (q.shard_number < 0 || q.replication_factor < 0 || q.write_consistency_factor < 0) {
    return Status::InvalidArgument(
        "qdrant: shard_number, replication_factor and write_consistency_factor must be >= 0");
  }
  for (const auto& [name, text] :
       {std::pair<const char*, const std::string&>{"hnsw_config", q.hnsw_config_json},
        {"quantization_config", q.quantization_config_json}}) {
    if (text.empty()) continue;
    try {
      if (!json::parse(text).is_object()) throw std::runtime_error("not a JSON object");
    } catch (const std::exception& e) {
      return Status::InvalidArgument(std::string("qdrant.") + name + ": expected a JSON object (" +
                                     e.what() + ")");
    }
  }
  std::unique_ptr<QdrantVectorStore> store(new QdrantVectorStore(uri, location, options));
  SIEVE_RETURN_IF_ERROR(store->LoadCollection());
  return store;
}

Result<std::string> QdrantVectorStore::Call(const std::string& method, const std::string& path,
                                            const std::string& body, std::string_view what,
                                            RequestContext* ctx, long* status_out) const {
  const QdrantOptions& q = options_.qdrant;
  http::Request request;
  request.method = method;
  request.url = location_.base_url + path;
  request.body = body;
  if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  if (!q.api_key.empty()) request.headers.emplace_back("api-key", q.api_key);
  request.timeouts.connect =
      std::chrono::milliseconds(static_cast<long>(q.connect_timeout_s * 1000));
  request.timeouts.total = std::chrono::milliseconds(static_cast<long>(q.timeout_s * 1000));
  request.retry.max_attempts = q.retries + 1;
  request.retry.retry_server_errors = true;
  request.retry.retry_statuses = {408, 429};
  request.follow_redirects = false;
  auto response = client_->Send(request, ctx);
  const std::string where = "Qdrant " + std::string(what) + " (" + location_.collection + " at " +
                            http::HostOf(location_.base_url) + ")";
  if (!response.ok()) return response.status().WithContext(where);
  if (status_out != nullptr) *status_out = response->status;
  const long code = response->status;
  if (code >= 200 && code < 300) return std::move(response->body);
  if (code == 404 && status_out != nullptr) return std::string();  // the caller handles it
  const std::string detail = QdrantError(response->body);
  if (code == 401 || code == 403) {
    return Status::InvalidArgument(
        where + ": HTTP " + std::to_string(code) + (code == 401 ? " Unauthorized" : " Forbidden") +
        ": the API key is missing, wrong or read-only (set SIEVE_QDRANT_API_KEY, or name the "
        "variable that holds it with qdrant.api_key_env)" +
        (detail.empty() ? "" : ": " + detail));
  }
  std::string message = where + ": HTTP " + std::to_string(code);
  if (!detail.empty()) message += ": " + detail;
  if (response->attempts > 1)
    message += " (after " + std::to_string(response->attempts) + " attempts)";
  if (!response->retry_note.empty()) message += " (" + response->retry_note + ")";
  if (code == 404) return Status::NotFound(message);
  if (code >= 400 && code < 500 && code != 408 && code != 429) {
    return Status::InvalidArgument(message);
  }
  return Status::Unavailable(message);
}

Status QdrantVectorStore::LoadCollection() {
  long code = 0;
  SIEVE_ASSIGN_OR_RETURN(std::string body, Call("GET", "/collections/" + location_.collection, "",
                                                "get collection", nullptr, &code));
  if (code == 404) {
    collection_exists_ = false;
    return Status::Ok();
  }
  SIEVE_ASSIGN_OR_RETURN(json result, ParseResult(body, "get collection"));
  const std::string name =
      "Qdrant collection " + location_.collection + " at " + http::HostOf(location_.base_url);
  try {
    const json& config = result.at("config");
    const json& vectors = config.at("params").at("vectors");
    if (!vectors.contains("size") || !vectors.contains("distance")) {
      return Status::InvalidArgument(name +
                                     " has named vectors; Sieve needs one unnamed dense vector");
    }
    if (vectors.at("distance").get<std::string>() != "Cosine") {
      return Status::InvalidArgument(name + " uses " + vectors.at("distance").get<std::string>() +
                                     " distance; Sieve needs Cosine");
    }
    const std::size_t size = vectors.at("size").get<std::size_t>();
    if (!config.contains("metadata") || !config["metadata"].is_object() ||
        !config["metadata"].contains("sieve_model")) {
      return Status::InvalidArgument(
          name +
          " has no Sieve model record in its metadata: it was not made by Sieve (or by a Qdrant "
          "older than 1.16, which drops collection metadata); name another collection or delete "
          "this one");
    }
    models::ModelInfo model = ModelFromJson(config["metadata"]["sieve_model"]);
    if (model.dimension != size) {
      return Status::InvalidArgument(name + " holds " + std::to_string(size) +
                                     "-d vectors but records " + DescribeModel(model));
    }
    model_ = std::move(model);
    collection_exists_ = true;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(name + ": unexpected collection description: " + e.what());
  }
  return Status::Ok();
}

std::string QdrantVectorStore::uri() const {
  return uri_;
}

std::optional<models::ModelInfo> QdrantVectorStore::model() const {
  std::shared_lock lock(mutex_);
  return model_;
}

std::string QdrantVectorStore::damage() const {
  return "";  // nothing local to damage; Qdrant keeps its own WAL
}

Status QdrantVectorStore::BindModel(const models::ModelInfo& model) {
  std::unique_lock lock(mutex_);
  if (model.dimension == 0) {
    return Status::InvalidArgument("embedding model " + model.id + " reports dimension 0");
  }
  if (model_) {
    if (SameEmbeddingModel(*model_, model)) return Status::Ok();
    SIEVE_RETURN_IF_ERROR(PrecisionMismatch(*model_, model, uri_, "--store " + uri_));
    return Status::InvalidArgument(
        "the vectors in Qdrant collection " + location_.collection + " at " +
        http::HostOf(location_.base_url) + " were made by " + DescribeModel(*model_) + ", not by " +
        DescribeModel(model) +
        "; vectors of different models cannot be mixed. To re-embed every chunk with the new "
        "model run `sieve --store " +
        uri_ + " reembed --embed-model " + model.id + "`, or use the old model (--embed-model " +
        model_->id + ")");
  }
  model_ = model;
  return Status::Ok();
}

Status QdrantVectorStore::EnsureCollectionLocked() {
  if (collection_exists_) return Status::Ok();
  if (!model_) return Status::Internal("qdrant: no model bound");
  const QdrantOptions& q = options_.qdrant;
  json create = {
      {"vectors", {{"size", model_->dimension}, {"distance", "Cosine"}}},
      {"metadata", {{"sieve_model", ModelToJson(*model_)}, {"sieve_format", kMetadataFormat}}}};
  if (q.shard_number > 0) create["shard_number"] = q.shard_number;
  if (q.replication_factor > 0) create["replication_factor"] = q.replication_factor;
  if (q.write_consistency_factor > 0) {
    create["write_consistency_factor"] = q.write_consistency_factor;
  }
  if (!q.hnsw_config_json.empty()) create["hnsw_config"] = json::parse(q.hnsw_config_json);
  if (!q.quantization_config_json.empty()) {
    create["quantization_config"] = json::parse(q.quantization_config_json);
  }
  const std::string collection_path = "/collections/" + location_.collection;
  SIEVE_RETURN_IF_ERROR(Call("PUT", collection_path, create.dump(), "create collection").status());
  // Payload indexes for the fields filters use (Qdrant filters without them scan).
  const std::pair<const char*, const char*> indexes[] = {
      {"doc_id", "integer"}, {"type", "keyword"}, {"tags", "keyword"}, {"path_dirs", "keyword"}};
  for (const auto& [field, schema] : indexes) {
    const json index = {{"field_name", field}, {"field_schema", schema}};
    SIEVE_RETURN_IF_ERROR(
        Call("PUT", collection_path + "/index?wait=true", index.dump(), "create payload index")
            .status());
  }
  // A Qdrant that drops collection metadata could not tell the model on the next open.
  long code = 0;
  SIEVE_ASSIGN_OR_RETURN(std::string body,
                         Call("GET", collection_path, "", "get collection", nullptr, &code));
  bool kept = false;
  if (code == 200) {
    auto result = ParseResult(body, "get collection");
    kept = result.ok() && result->contains("config") && (*result)["config"].contains("metadata") &&
           (*result)["config"]["metadata"].is_object() &&
           (*result)["config"]["metadata"].contains("sieve_model");
  }
  if (!kept) {
    (void)Call("DELETE", collection_path, "", "delete collection");
    return Status::Unsupported("Qdrant at " + http::HostOf(location_.base_url) +
                               " did not keep the collection's metadata, where Sieve records the "
                               "embedding model: Sieve needs Qdrant 1.16 or later");
  }
  collection_exists_ = true;
  return Status::Ok();
}

Status QdrantVectorStore::Upsert(std::span<const VectorRecord> records) {
  std::unique_lock lock(mutex_);
  if (!model_) return Status::Internal("vector index: Upsert before a model was bound");
  if (records.empty()) return Status::Ok();
  const std::size_t d = model_->dimension;
  std::unordered_set<std::int64_t> seen;
  for (const VectorRecord& r : records) {
    const std::string chunk = "vector index: vector for chunk " + std::to_string(r.chunk_id);
    if (!seen.insert(r.chunk_id).second) {
      return Status::InvalidArgument("vector index: chunk " + std::to_string(r.chunk_id) +
                                     " given twice");
    }
    if (r.chunk_id < 0) {
      return Status::InvalidArgument("vector index: chunk id " + std::to_string(r.chunk_id) +
                                     " is negative (Qdrant point ids are unsigned)");
    }
    if (r.vector.size() != d) {
      return Status::InvalidArgument(chunk + " has " + std::to_string(r.vector.size()) +
                                     " dimensions, the index " + std::to_string(d));
    }
    if (!IsFinite(r.vector)) return Status::InvalidInput(chunk + " has NaN or infinite values");
  }
  SIEVE_RETURN_IF_ERROR(EnsureCollectionLocked());
  const std::string path = "/collections/" + location_.collection + "/points?wait=true";
  for (std::size_t begin = 0; begin < records.size(); begin += options_.qdrant.batch_size) {
    const std::size_t end = std::min(records.size(), begin + options_.qdrant.batch_size);
    json points = json::array();
    for (std::size_t i = begin; i < end; ++i) {
      const VectorRecord& r = records[i];
      const VectorPayload& p = r.payload;
      points.push_back({{"id", static_cast<std::uint64_t>(r.chunk_id)},
                        {"vector", UnitVector(r.vector.data(), d)},
                        {"payload",
                         {{"chunk_id", r.chunk_id},
                          {"doc_id", p.doc_id},
                          {"doc_key", p.doc_key},
                          {"path", p.source_path},
                          {"path_dirs", PathDirs(p.source_path)},
                          {"type", p.type},
                          {"tags", p.tags},
                          {"content_hash", p.content_hash}}}});
    }
    const json body = {{"points", std::move(points)}};
    SIEVE_RETURN_IF_ERROR(Call("PUT", path, body.dump(), "upsert points").status());
  }
  return Status::Ok();
}

Status QdrantVectorStore::DeleteBySelector(const std::string& selector_json) {
  return Call("POST", "/collections/" + location_.collection + "/points/delete?wait=true",
              selector_json, "delete points")
      .status();
}

Status QdrantVectorStore::Remove(std::span<const std::int64_t> ids) {
  std::unique_lock lock(mutex_);
  if (!collection_exists_) return Status::Ok();
  for (std::size_t begin = 0; begin < ids.size(); begin += options_.qdrant.batch_size) {
    const std::size_t end = std::min(ids.size(), begin + options_.qdrant.batch_size);
    json points = json::array();
    for (std::size_t i = begin; i < end; ++i) {
      if (ids[i] >= 0) points.push_back(static_cast<std::uint64_t>(ids[i]));
    }
    if (points.empty()) continue;
    SIEVE_RETURN_IF_ERROR(DeleteBySelector(json{{"points", std::move(points)}}.dump()));
  }
  return Status::Ok();
}

Status QdrantVectorStore::RemoveDocuments(std::span<const std::int64_t> doc_ids) {
  std::unique_lock lock(mutex_);
  if (!collection_exists_) return Status::Ok();
  for (std::size_t begin = 0; begin < doc_ids.size(); begin += options_.qdrant.batch_size) {
    const std::size_t end = std::min(doc_ids.size(), begin + options_.qdrant.batch_size);
    json any = json::array();
    for (std::size_t i = begin; i < end; ++i) any.push_back(doc_ids[i]);
    const json selector = {
        {"filter", {{"must", json::array({{{"key", "doc_id"}, {"match", {{"any", any}}}}})}}}};
    SIEVE_RETURN_IF_ERROR(DeleteBySelector(selector.dump()));
  }
  return Status::Ok();
}

Status QdrantVectorStore::Clear() {
  std::unique_lock lock(mutex_);
  long code = 0;
  SIEVE_RETURN_IF_ERROR(Call("DELETE", "/collections/" + location_.collection, "",
                             "delete collection", nullptr, &code)
                            .status());
  model_.reset();
  collection_exists_ = false;
  return Status::Ok();
}

Status QdrantVectorStore::Flush() {
  std::unique_lock lock(mutex_);
  if (!model_) return Status::Ok();
  return EnsureCollectionLocked();  // writes were applied (wait=true) as they were made
}

Result<std::vector<std::int64_t>> QdrantVectorStore::Ids() const {
  {
    std::shared_lock lock(mutex_);
    if (!collection_exists_) return std::vector<std::int64_t>{};
  }
  std::vector<std::int64_t> ids;
  json offset;  // null: from the start
  const std::string path = "/collections/" + location_.collection + "/points/scroll";
  while (true) {
    json request = {{"limit", kScrollPage}, {"with_payload", false}, {"with_vector", false}};
    if (!offset.is_null()) request["offset"] = offset;
    SIEVE_ASSIGN_OR_RETURN(std::string body, Call("POST", path, request.dump(), "scroll points"));
    SIEVE_ASSIGN_OR_RETURN(json result, ParseResult(body, "scroll points"));
    try {
      for (const json& point : result.at("points")) {
        ids.push_back(static_cast<std::int64_t>(point.at("id").get<std::uint64_t>()));
      }
      offset = result.value("next_page_offset", json());
    } catch (const std::exception& e) {
      return Status::Unavailable(std::string("Qdrant scroll points: unexpected answer: ") +
                                 e.what());
    }
    if (offset.is_null()) break;
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<std::size_t> QdrantVectorStore::size() const {
  {
    std::shared_lock lock(mutex_);
    if (!collection_exists_) return std::size_t{0};
  }
  SIEVE_ASSIGN_OR_RETURN(std::string body,
                         Call("POST", "/collections/" + location_.collection + "/points/count",
                              json{{"exact", true}}.dump(), "count points"));
  SIEVE_ASSIGN_OR_RETURN(json result, ParseResult(body, "count points"));
  try {
    return result.at("count").get<std::size_t>();
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("Qdrant count points: unexpected answer: ") + e.what());
  }
}

Result<std::vector<std::vector<VectorMatch>>> QdrantVectorStore::Search(
    std::span<const float> queries, std::size_t n, std::size_t k, const Filter& filter,
    RequestContext* ctx) const {
  Span span;
  if (ctx != nullptr) {
    SIEVE_RETURN_IF_ERROR(ctx->Check());
    span = ctx->StartSpan("vector_store.search", SpanKind::kInternal);
    span.SetAttribute("vector_store.backend", std::string("qdrant"));
    span.SetAttribute("vector_store.n", static_cast<std::int64_t>(n));
    span.SetAttribute("vector_store.k", static_cast<std::int64_t>(k));
  }
  std::vector<std::vector<VectorMatch>> results(n);
  std::optional<models::ModelInfo> model;
  bool exists = false;
  {
    std::shared_lock lock(mutex_);
    model = model_;
    exists = collection_exists_;
  }
  if (!model) return results;
  const std::size_t d = model->dimension;
  if (queries.size() != n * d) {
    return Status::InvalidArgument("vector index: " + std::to_string(queries.size()) +
                                   " query floats for " + std::to_string(n) + " queries of " +
                                   std::to_string(d) + " dimensions");
  }
  if (!exists || k == 0 || n == 0) return results;
  if (!std::all_of(queries.begin(), queries.end(), [](float x) { return std::isfinite(x); })) {
    return Status::InvalidInput("vector index: query vector is not finite");
  }
  // The filter as Qdrant conditions, all of which must hold.
  json must = json::array();
  if (!filter.types.empty()) {
    must.push_back({{"key", "type"}, {"match", {{"any", filter.types}}}});
  }
  for (const std::string& tag : filter.tags) {
    must.push_back({{"key", "tags"}, {"match", {{"value", tag}}}});
  }
  if (!filter.path_prefix.empty()) {
    if (filter.path_prefix.back() == '/') {
      must.push_back({{"key", "path_dirs"}, {"match", {{"value", filter.path_prefix}}}});
    } else {
      // A byte prefix inside a name: Qdrant has no prefix match on keywords, so the source of
      // truth names the chunks.
      if (!options_.resolve_filter) {
        return Status::InvalidArgument(
            "vector index: a path prefix that does not end in \"/\" needs a filter resolver (none "
            "given at open)");
      }
      Filter by_path;
      by_path.path_prefix = filter.path_prefix;
      SIEVE_ASSIGN_OR_RETURN(std::vector<std::int64_t> allowed, options_.resolve_filter(by_path));
      if (allowed.empty()) return results;
      must.push_back({{"has_id", allowed}});
    }
  }
  json searches = json::array();
  for (std::size_t i = 0; i < n; ++i) {
    json search = {{"query", UnitVector(queries.data() + i * d, d)},
                   {"limit", k},
                   {"with_payload", false},
                   {"with_vector", false}};
    if (!must.empty()) search["filter"] = {{"must", must}};
    searches.push_back(std::move(search));
  }
  const json request = {{"searches", std::move(searches)}};
  auto body = Call("POST", "/collections/" + location_.collection + "/points/query/batch",
                   request.dump(), "query points", ctx);
  if (!body.ok()) {
    span.End(body.status());
    return body.status();
  }
  SIEVE_ASSIGN_OR_RETURN(json result, ParseResult(*body, "query points"));
  try {
    if (!result.is_array() || result.size() != n) {
      return Status::Unavailable("Qdrant query points: expected " + std::to_string(n) +
                                 " result lists");
    }
    for (std::size_t i = 0; i < n; ++i) {
      for (const json& point : result[i].at("points")) {
        results[i].push_back({static_cast<std::int64_t>(point.at("id").get<std::uint64_t>()),
                              point.at("score").get<float>()});
      }
    }
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("Qdrant query points: unexpected answer: ") + e.what());
  }
  return results;
}

}  // namespace sieve::store
