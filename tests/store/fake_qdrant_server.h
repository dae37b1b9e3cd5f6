// A local stand-in for Qdrant in tests: cpp-httplib on 127.0.0.1 with a port the OS picks,
// serving, in memory, the subset of Qdrant's REST API that the Qdrant backend uses. It follows
// Qdrant v1.16's published OpenAPI description (docs/redoc/v1.16.x/openapi.json in the Qdrant
// repository): each request's method, path, query parameters and body are checked against the
// schema of its operation (CreateCollection, CreateFieldIndex, PointInsertOperations,
// PointsSelector, QueryRequestBatch, ScrollRequest, CountRequest, Filter and its Conditions);
// a request that does not conform is answered 400 (as Qdrant answers a malformed body) and
// recorded in violations(), which tests expect to stay empty.
//
// Endpoints: GET/PUT/DELETE /collections/{name}, PUT /collections/{name}/index,
// PUT /collections/{name}/points, POST /collections/{name}/points/{delete,scroll,count},
// POST /collections/{name}/points/query/batch. Scores are exact cosine similarities (ties: lower
// id first). Faults for tests: FailNext (e.g. 503 with Retry-After), RequireApiKey, DropMetadata
// (as a Qdrant older than 1.16 does).
#pragma once

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sieve::store::testing {

class FakeQdrantServer {
 public:
  using json = nlohmann::json;

  struct Point {
    std::vector<float> vector;  // unit length, as Qdrant stores Cosine vectors
    json payload;
  };
  struct Collection {
    json create_request;  // the body it was created with
    std::size_t size = 0;
    std::map<std::string, std::string> indexes;  // field -> schema
    std::map<std::uint64_t, Point> points;
  };

  FakeQdrantServer() {
    const auto handle = [this](const httplib::Request& req, httplib::Response& res) {
      Handle(req, res);
    };
    server_.Get(".*", handle);
    server_.Put(".*", handle);
    server_.Post(".*", handle);
    server_.Delete(".*", handle);
    server_.set_tcp_nodelay(true);  // else each answer waits ~40 ms for a delayed ACK
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("fake Qdrant: cannot bind 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeQdrantServer() {
    server_.stop();
    thread_.join();
  }
  FakeQdrantServer(const FakeQdrantServer&) = delete;
  FakeQdrantServer& operator=(const FakeQdrantServer&) = delete;

  int port() const { return port_; }
  std::string Uri(const std::string& collection) const {
    return "qdrant://127.0.0.1:" + std::to_string(port_) + "/" + collection;
  }

  // The next `count` requests are answered `status` (with Retry-After when non-empty).
  void FailNext(int count, int status, std::string retry_after = "") {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_count_ = count;
    fail_status_ = status;
    fail_retry_after_ = std::move(retry_after);
  }
  // Requests without header `api-key: key` are answered 401 ("" = no key needed).
  void RequireApiKey(std::string key) {
    std::lock_guard<std::mutex> lock(mutex_);
    api_key_ = std::move(key);
  }
  void DropMetadata(bool drop) {
    std::lock_guard<std::mutex> lock(mutex_);
    drop_metadata_ = drop;
  }
  // A collection made by someone else (no Sieve metadata).
  void AddForeignCollection(const std::string& name, std::size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    Collection c;
    c.size = size;
    c.create_request = {{"vectors", {{"size", size}, {"distance", "Cosine"}}}};
    collections_[name] = std::move(c);
  }
  void DropCollection(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    collections_.erase(name);
  }
  std::optional<Collection> collection(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = collections_.find(name);
    if (it == collections_.end()) return std::nullopt;
    return it->second;
  }
  // "METHOD /path" of every request, in order (query strings left out).
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  std::vector<std::string> violations() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return violations_;
  }
  void ClearLog() {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.clear();
    violations_.clear();
  }
  std::vector<std::string> api_keys_seen() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return api_keys_;
  }

 private:
  // ---- schema checks (Qdrant v1.16 OpenAPI) ----
  static bool IsUint(const json& j) {
    return j.is_number_unsigned() || (j.is_number_integer() && j.get<std::int64_t>() >= 0);
  }
  static bool IsPointId(const json& j) { return IsUint(j) || j.is_string(); }  // ExtendedPointId

  // Keys of `j` must be among `allowed`; `required` must be present. "" when fine.
  static std::string Keys(const json& j, const std::set<std::string>& allowed,
                          const std::set<std::string>& required, const std::string& schema) {
    if (!j.is_object()) return schema + ": expected an object";
    for (const auto& [key, value] : j.items()) {
      if (allowed.count(key) == 0) return schema + ": unknown field \"" + key + "\"";
    }
    for (const auto& key : required) {
      if (!j.contains(key)) return schema + ": missing field \"" + key + "\"";
    }
    return "";
  }

  static std::string CheckMatch(const json& m) {
    if (!m.is_object() || m.size() != 1) return "Match: expected one of value, text, any, except";
    if (m.contains("value")) {
      const json& v = m["value"];
      return v.is_string() || v.is_number_integer() || v.is_boolean() ? ""
                                                                      : "MatchValue: bad value";
    }
    if (m.contains("text")) return m["text"].is_string() ? "" : "MatchText: text is not a string";
    const json* list = m.contains("any")      ? &m["any"]
                       : m.contains("except") ? &m["except"]
                                              : nullptr;
    if (list == nullptr) return "Match: unknown kind";
    if (!list->is_array()) return "MatchAny: expected an array";
    bool strings = true, integers = true;
    for (const json& x : *list) {
      strings = strings && x.is_string();
      integers = integers && x.is_number_integer();
    }
    return strings || integers ? "" : "MatchAny: expected all strings or all integers";
  }

  static std::string CheckFilter(const json& f) {
    if (f.is_null()) return "";
    std::string e = Keys(f, {"should", "min_should", "must", "must_not"}, {}, "Filter");
    if (!e.empty()) return e;
    for (const char* clause : {"should", "must", "must_not"}) {
      if (!f.contains(clause) || f[clause].is_null()) continue;
      const json& list = f[clause];
      if (!list.is_array() && !list.is_object()) return std::string("Filter.") + clause + ": bad";
      const json items = list.is_array() ? list : json::array({list});
      for (const json& c : items) {
        if (c.contains("key")) {
          e = Keys(c,
                   {"key", "match", "range", "geo_bounding_box", "geo_radius", "geo_polygon",
                    "values_count", "is_empty", "is_null"},
                   {"key"}, "FieldCondition");
          if (e.empty() && !c["key"].is_string()) e = "FieldCondition: key is not a string";
          if (e.empty() && c.contains("match")) e = CheckMatch(c["match"]);
        } else if (c.contains("has_id")) {
          e = Keys(c, {"has_id"}, {"has_id"}, "HasIdCondition");
          if (e.empty() && !c["has_id"].is_array()) e = "HasIdCondition: expected an array";
          for (const json& id : c.value("has_id", json::array())) {
            if (e.empty() && !IsPointId(id)) e = "HasIdCondition: bad point id";
          }
        } else {
          e = CheckFilter(c);  // a nested Filter
        }
        if (!e.empty()) return e;
      }
    }
    return "";
  }

  static std::string CheckCreateCollection(const json& b) {
    std::string e = Keys(b,
                         {"vectors", "shard_number", "sharding_method", "replication_factor",
                          "write_consistency_factor", "on_disk_payload", "hnsw_config",
                          "wal_config", "optimizers_config", "quantization_config",
                          "sparse_vectors", "strict_mode_config", "metadata"},
                         {}, "CreateCollection");
    if (!e.empty()) return e;
    if (!b.contains("vectors")) return "CreateCollection: Sieve must send vectors";
    e = Keys(b["vectors"],
             {"size", "distance", "hnsw_config", "quantization_config", "on_disk", "datatype",
              "multivector_config"},
             {"size", "distance"}, "VectorParams");
    if (!e.empty()) return e;
    if (!IsUint(b["vectors"]["size"]) || b["vectors"]["size"].get<std::uint64_t>() == 0) {
      return "VectorParams: size must be >= 1";
    }
    static const std::set<std::string> distances = {"Cosine", "Euclid", "Dot", "Manhattan"};
    if (!b["vectors"]["distance"].is_string() || distances.count(b["vectors"]["distance"]) == 0) {
      return "VectorParams: bad distance";
    }
    for (const char* key : {"shard_number", "replication_factor", "write_consistency_factor"}) {
      if (b.contains(key) && (!IsUint(b[key]) || b[key].get<std::uint64_t>() == 0)) {
        return std::string("CreateCollection: ") + key + " must be an integer >= 1";
      }
    }
    if (b.contains("hnsw_config")) {
      e = Keys(b["hnsw_config"],
               {"m", "ef_construct", "full_scan_threshold", "max_indexing_threads", "on_disk",
                "payload_m", "inline_storage"},
               {}, "HnswConfigDiff");
      if (!e.empty()) return e;
    }
    if (b.contains("quantization_config")) {
      const json& q = b["quantization_config"];
      if (!q.is_object() || q.size() != 1 ||
          !(q.contains("scalar") || q.contains("product") || q.contains("binary"))) {
        return "QuantizationConfig: expected one of scalar, product, binary";
      }
    }
    if (b.contains("metadata") && !b["metadata"].is_object()) return "Payload: expected an object";
    return "";
  }

  // The body's schema check for an operation; "" when it conforms.
  static std::string CheckBody(const std::string& op, const json& b) {
    if (op == "create_collection") return CheckCreateCollection(b);
    if (op == "create_field_index") {
      std::string e = Keys(b, {"field_name", "field_schema"}, {"field_name"}, "CreateFieldIndex");
      if (!e.empty()) return e;
      static const std::set<std::string> kinds = {"keyword", "integer", "float",    "geo",
                                                  "text",    "bool",    "datetime", "uuid"};
      if (!b["field_name"].is_string()) return "CreateFieldIndex: field_name is not a string";
      if (b.contains("field_schema") && !b["field_schema"].is_object() &&
          !(b["field_schema"].is_string() && kinds.count(b["field_schema"]) > 0)) {
        return "PayloadFieldSchema: bad schema";
      }
      return "";
    }
    if (op == "upsert_points") {
      std::string e = Keys(b, {"points", "shard_key", "update_filter"}, {"points"}, "PointsList");
      if (!e.empty()) return e;
      if (!b["points"].is_array()) return "PointsList: points is not an array";
      for (const json& p : b["points"]) {
        e = Keys(p, {"id", "vector", "payload"}, {"id", "vector"}, "PointStruct");
        if (!e.empty()) return e;
        if (!IsPointId(p["id"])) return "PointStruct: bad id";
        if (!p["vector"].is_array()) return "PointStruct: Sieve sends an unnamed dense vector";
        for (const json& x : p["vector"]) {
          if (!x.is_number()) return "VectorStruct: not a number";
        }
        if (p.contains("payload") && !p["payload"].is_object() && !p["payload"].is_null()) {
          return "Payload: expected an object";
        }
      }
      return "";
    }
    if (op == "delete_points") {
      if (b.contains("points")) {
        std::string e = Keys(b, {"points", "shard_key"}, {"points"}, "PointIdsList");
        if (!e.empty()) return e;
        if (!b["points"].is_array()) return "PointIdsList: points is not an array";
        for (const json& id : b["points"]) {
          if (!IsPointId(id)) return "PointIdsList: bad id";
        }
        return "";
      }
      std::string e = Keys(b, {"filter", "shard_key"}, {"filter"}, "FilterSelector");
      return e.empty() ? CheckFilter(b["filter"]) : e;
    }
    if (op == "query_batch_points") {
      std::string e = Keys(b, {"searches"}, {"searches"}, "QueryRequestBatch");
      if (!e.empty()) return e;
      if (!b["searches"].is_array()) return "QueryRequestBatch: searches is not an array";
      for (const json& s : b["searches"]) {
        e = Keys(s,
                 {"shard_key", "prefetch", "query", "using", "filter", "params", "score_threshold",
                  "limit", "offset", "with_vector", "with_payload", "lookup_from"},
                 {}, "QueryRequest");
        if (!e.empty()) return e;
        if (!s.contains("query") || !s["query"].is_array()) {
          return "QueryRequest: Sieve sends a dense vector as query";
        }
        if (s.contains("limit") && !IsUint(s["limit"])) return "QueryRequest: bad limit";
        if (s.contains("filter")) {
          e = CheckFilter(s["filter"]);
          if (!e.empty()) return e;
        }
      }
      return "";
    }
    if (op == "scroll_points") {
      std::string e = Keys(
          b, {"shard_key", "offset", "limit", "filter", "with_payload", "with_vector", "order_by"},
          {}, "ScrollRequest");
      if (!e.empty()) return e;
      if (b.contains("offset") && !b["offset"].is_null() && !IsPointId(b["offset"])) {
        return "ScrollRequest: bad offset";
      }
      if (b.contains("limit") && (!IsUint(b["limit"]) || b["limit"].get<std::uint64_t>() == 0)) {
        return "ScrollRequest: limit must be >= 1";
      }
      return b.contains("filter") ? CheckFilter(b["filter"]) : "";
    }
    if (op == "count_points") {
      std::string e = Keys(b, {"shard_key", "filter", "exact"}, {}, "CountRequest");
      if (!e.empty()) return e;
      if (b.contains("exact") && !b["exact"].is_boolean()) return "CountRequest: exact not a bool";
      return b.contains("filter") ? CheckFilter(b["filter"]) : "";
    }
    return "";
  }

  // ---- filter evaluation ----
  static bool Matches(const json& payload, const json& key_value, const json& match) {
    const json values = key_value.is_array() ? key_value : json::array({key_value});
    for (const json& v : values) {
      if (match.contains("value") && v == match["value"]) return true;
      if (match.contains("any")) {
        for (const json& a : match["any"]) {
          if (v == a) return true;
        }
      }
    }
    (void)payload;
    return false;
  }
  static bool Passes(std::uint64_t id, const json& payload, const json& filter) {
    if (filter.is_null()) return true;
    auto holds = [&](const json& c) {
      if (c.contains("has_id")) {
        for (const json& x : c["has_id"]) {
          if (x.is_number() && x.get<std::uint64_t>() == id) return true;
        }
        return false;
      }
      if (c.contains("key")) {
        const std::string key = c["key"];
        if (!payload.contains(key) || !c.contains("match")) return false;
        return Matches(payload, payload[key], c["match"]);
      }
      return Passes(id, payload, c);
    };
    auto items = [](const json& list) { return list.is_array() ? list : json::array({list}); };
    if (filter.contains("must") && !filter["must"].is_null()) {
      for (const json& c : items(filter["must"])) {
        if (!holds(c)) return false;
      }
    }
    if (filter.contains("must_not") && !filter["must_not"].is_null()) {
      for (const json& c : items(filter["must_not"])) {
        if (holds(c)) return false;
      }
    }
    if (filter.contains("should") && !filter["should"].is_null() && !filter["should"].empty()) {
      bool any = false;
      for (const json& c : items(filter["should"])) any = any || holds(c);
      if (!any) return false;
    }
    return true;
  }

  static json Ok(json result) {
    return {{"result", std::move(result)}, {"status", "ok"}, {"time", 0.0001}};
  }
  static void Error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(json{{"status", {{"error", message}}}, {"time", 0.0}}.dump(),
                    "application/json");
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(req.method + " " + req.path);
    api_keys_.push_back(req.get_header_value("api-key"));
    if (fail_count_ > 0) {
      --fail_count_;
      if (!fail_retry_after_.empty()) res.set_header("Retry-After", fail_retry_after_);
      Error(res, fail_status_, "Service Unavailable (injected)");
      return;
    }
    if (!api_key_.empty() && req.get_header_value("api-key") != api_key_) {
      Error(res, 401, "Must provide an API key or an Authorization bearer token");
      return;
    }
    // Route: /collections/{name}[/rest]
    static const std::string kPrefix = "/collections/";
    if (!req.path.starts_with(kPrefix)) return Violation(res, "unknown path " + req.path);
    std::string rest = req.path.substr(kPrefix.size());
    const std::size_t slash = rest.find('/');
    const std::string name = rest.substr(0, slash);
    const std::string sub = slash == std::string::npos ? "" : rest.substr(slash);
    std::string op;
    std::set<std::string> params;  // query parameters the operation accepts
    if (sub.empty() && req.method == "GET") {
      op = "get_collection";
    } else if (sub.empty() && req.method == "PUT") {
      op = "create_collection";
      params = {"timeout"};
    } else if (sub.empty() && req.method == "DELETE") {
      op = "delete_collection";
      params = {"timeout"};
    } else if (sub == "/index" && req.method == "PUT") {
      op = "create_field_index";
      params = {"wait", "ordering"};
    } else if (sub == "/points" && req.method == "PUT") {
      op = "upsert_points";
      params = {"wait", "ordering"};
    } else if (sub == "/points/delete" && req.method == "POST") {
      op = "delete_points";
      params = {"wait", "ordering"};
    } else if (sub == "/points/query/batch" && req.method == "POST") {
      op = "query_batch_points";
      params = {"consistency", "timeout"};
    } else if (sub == "/points/scroll" && req.method == "POST") {
      op = "scroll_points";
      params = {"consistency", "timeout"};
    } else if (sub == "/points/count" && req.method == "POST") {
      op = "count_points";
      params = {"consistency", "timeout"};
    } else {
      return Violation(res, "no such operation: " + req.method + " " + req.path);
    }
    for (const auto& [key, value] : req.params) {
      if (params.count(key) == 0) return Violation(res, op + ": unknown query parameter " + key);
      if (key == "wait" && value != "true" && value != "false") {
        return Violation(res, op + ": wait must be a boolean");
      }
    }
    json body;
    const bool has_body = op != "get_collection" && op != "delete_collection";
    if (has_body) {
      if (req.get_header_value("Content-Type") != "application/json") {
        return Violation(res, op + ": Content-Type is not application/json");
      }
      try {
        body = json::parse(req.body);
      } catch (const std::exception& e) {
        return Violation(res, op + ": body is not JSON: " + e.what());
      }
      if (std::string e = CheckBody(op, body); !e.empty()) return Violation(res, op + ": " + e);
    } else if (!req.body.empty()) {
      return Violation(res, op + ": takes no body");
    }
    auto it = collections_.find(name);
    if (op == "create_collection") {
      if (it != collections_.end()) {
        Error(res, 409, "Wrong input: Collection `" + name + "` already exists!");
        return;
      }
      Collection c;
      c.size = body["vectors"]["size"].get<std::size_t>();
      c.create_request = body;
      if (drop_metadata_) c.create_request.erase("metadata");
      collections_[name] = std::move(c);
      res.set_content(Ok(true).dump(), "application/json");
      return;
    }
    if (it == collections_.end()) {
      if (op == "delete_collection") {
        res.set_content(Ok(false).dump(), "application/json");
        return;
      }
      Error(res, 404, "Not found: Collection `" + name + "` doesn't exist!");
      return;
    }
    Collection& c = it->second;
    if (op == "get_collection") {
      json params_out = {
          {"vectors", c.create_request["vectors"]},
          {"shard_number", c.create_request.value("shard_number", 1)},
          {"replication_factor", c.create_request.value("replication_factor", 1)},
          {"write_consistency_factor", c.create_request.value("write_consistency_factor", 1)},
          {"on_disk_payload", true}};
      json config = {
          {"params", params_out},
          {"hnsw_config", c.create_request.value("hnsw_config", json::object())},
          {"optimizer_config", json::object()},
          {"wal_config", json::object()},
          {"quantization_config", c.create_request.value("quantization_config", json())}};
      if (c.create_request.contains("metadata")) config["metadata"] = c.create_request["metadata"];
      json schema = json::object();
      for (const auto& [field, kind] : c.indexes)
        schema[field] = {{"data_type", kind}, {"points", c.points.size()}};
      res.set_content(Ok({{"status", "green"},
                          {"optimizer_status", "ok"},
                          {"points_count", c.points.size()},
                          {"segments_count", 1},
                          {"config", config},
                          {"payload_schema", schema}})
                          .dump(),
                      "application/json");
      return;
    }
    if (op == "delete_collection") {
      collections_.erase(it);
      res.set_content(Ok(true).dump(), "application/json");
      return;
    }
    if (op == "create_field_index") {
      c.indexes[body["field_name"]] =
          body.contains("field_schema") ? body["field_schema"].dump() : "null";
      res.set_content(Ok({{"operation_id", ++operation_}, {"status", "completed"}}).dump(),
                      "application/json");
      return;
    }
    if (op == "upsert_points") {
      for (const json& p : body["points"]) {
        if (p["vector"].size() != c.size) {
          Error(res, 400,
                "Wrong input: Vector dimension error: expected dim: " + std::to_string(c.size) +
                    ", got " + std::to_string(p["vector"].size()));
          return;
        }
      }
      for (const json& p : body["points"]) {
        Point point;
        double norm = 0;
        for (const json& x : p["vector"]) {
          point.vector.push_back(x.get<float>());
          norm += static_cast<double>(point.vector.back()) * point.vector.back();
        }
        if (norm > 0) {
          for (float& x : point.vector) x = static_cast<float>(x / std::sqrt(norm));
        }
        point.payload = p.value("payload", json::object());
        c.points[p["id"].get<std::uint64_t>()] = std::move(point);
      }
      res.set_content(Ok({{"operation_id", ++operation_}, {"status", "completed"}}).dump(),
                      "application/json");
      return;
    }
    if (op == "delete_points") {
      if (body.contains("points")) {
        for (const json& id : body["points"]) c.points.erase(id.get<std::uint64_t>());
      } else {
        for (auto p = c.points.begin(); p != c.points.end();) {
          p = Passes(p->first, p->second.payload, body["filter"]) ? c.points.erase(p)
                                                                  : std::next(p);
        }
      }
      res.set_content(Ok({{"operation_id", ++operation_}, {"status", "completed"}}).dump(),
                      "application/json");
      return;
    }
    if (op == "count_points") {
      std::size_t count = 0;
      for (const auto& [id, p] : c.points)
        count += Passes(id, p.payload, body.value("filter", json())) ? 1 : 0;
      res.set_content(Ok({{"count", count}}).dump(), "application/json");
      return;
    }
    if (op == "scroll_points") {
      const std::size_t limit = body.value("limit", std::size_t{10});
      auto p = c.points.begin();
      if (body.contains("offset") && !body["offset"].is_null()) {
        p = c.points.lower_bound(body["offset"].get<std::uint64_t>());
      }
      json points = json::array();
      const json filter = body.value("filter", json());
      for (; p != c.points.end() && points.size() < limit; ++p) {
        if (Passes(p->first, p->second.payload, filter)) points.push_back({{"id", p->first}});
      }
      json next = p == c.points.end() ? json() : json(p->first);
      res.set_content(Ok({{"points", points}, {"next_page_offset", next}}).dump(),
                      "application/json");
      return;
    }
    // query_batch_points
    json lists = json::array();
    for (const json& s : body["searches"]) {
      if (s["query"].size() != c.size) {
        Error(res, 400, "Wrong input: Vector dimension error");
        return;
      }
      std::vector<float> q;
      double norm = 0;
      for (const json& x : s["query"]) {
        q.push_back(x.get<float>());
        norm += static_cast<double>(q.back()) * q.back();
      }
      std::vector<std::pair<float, std::uint64_t>> scored;
      const json filter = s.value("filter", json());
      for (const auto& [id, p] : c.points) {
        if (!Passes(id, p.payload, filter)) continue;
        double dot = 0;
        for (std::size_t i = 0; i < q.size(); ++i) dot += static_cast<double>(q[i]) * p.vector[i];
        scored.emplace_back(static_cast<float>(norm > 0 ? dot / std::sqrt(norm) : 0), id);
      }
      std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      const std::size_t limit = s.value("limit", std::size_t{10});
      json points = json::array();
      for (std::size_t i = 0; i < scored.size() && i < limit; ++i) {
        points.push_back({{"id", scored[i].second}, {"version", 0}, {"score", scored[i].first}});
      }
      lists.push_back({{"points", points}});
    }
    res.set_content(Ok(lists).dump(), "application/json");
  }

  void Violation(httplib::Response& res, const std::string& what) {
    violations_.push_back(what);
    Error(res, 400, "Format error in JSON body: " + what);
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::map<std::string, Collection> collections_;
  std::vector<std::string> requests_;
  std::vector<std::string> violations_;
  std::vector<std::string> api_keys_;
  std::string api_key_;
  int fail_count_ = 0;
  int fail_status_ = 503;
  std::string fail_retry_after_;
  bool drop_metadata_ = false;
  std::uint64_t operation_ = 0;
};

}  // namespace sieve::store::testing
