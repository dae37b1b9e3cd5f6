// server: the routes of `sieve serve` over sieve::Engine. See server.h for what this layer adds;
// docs/server.md for every endpoint.
#include "server/server.h"

#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/json.h"
#include "server/metrics.h"
#include "server/queues.h"
#include "server/requests.h"
#include "server/site.h"
#include "trace/trace.h"

namespace sieve::server {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- errors ----

namespace {

// An error answered to the client: HTTP status, OpenAI-style type and code.
struct HttpError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string code;
  std::string message;
  int retry_after = 0;  // seconds; 0 = no Retry-After header
};

HttpError BadRequest(std::string message, std::string code = "invalid_request") {
  return {400, "invalid_request_error", std::move(code), std::move(message), 0};
}

// The HTTP answer to an engine error.
HttpError FromStatus(const Status& status) {
  HttpError e;
  e.message = status.message();
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kInvalidInput:
    case StatusCode::kUnsupported:
      e.status = 400;
      e.code = "invalid_request";
      break;
    case StatusCode::kNotFound:
      e.status = 404;
      e.type = "not_found_error";
      e.code = "not_found";
      break;
    case StatusCode::kTimeout:
      e.status = 504;
      e.type = "timeout_error";
      e.code = "timeout";
      break;
    case StatusCode::kBusy:
      e.status = 429;
      e.type = "rate_limit_error";
      e.code = "busy";
      e.retry_after = 1;
      break;
    case StatusCode::kCancelled:
    case StatusCode::kUnavailable:
    case StatusCode::kIoError:
      e.status = 503;
      e.type = "server_error";
      e.code = "unavailable";
      e.retry_after = 1;
      break;
    case StatusCode::kInternal:
    case StatusCode::kOk:
      e.status = 500;
      e.type = "server_error";
      e.code = "internal";
      break;
  }
  return e;
}

json ErrorJson(const HttpError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

void WriteError(httplib::Response& res, const HttpError& e) {
  res.status = e.status;
  if (e.retry_after > 0) res.set_header("Retry-After", std::to_string(e.retry_after));
  res.set_content(engine::Dump(ErrorJson(e)), "application/json");
}

// Thrown inside handlers to answer an error; caught by the route wrapper.
struct ErrorReply {
  HttpError error;
};

[[noreturn]] void Fail(HttpError e) {
  throw ErrorReply{std::move(e)};
}
[[noreturn]] void Fail(const Status& status) {
  throw ErrorReply{FromStatus(status)};
}

template <typename T>
T Unwrap(Result<T> result) {
  if (!result.ok()) Fail(result.status());
  return std::move(result).value();
}

void WriteJson(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_content(engine::Dump(body), "application/json");
}

// ---- request parsing (server/requests.h) ----

// The parsed body, or the handler answers the parser's refusal.
template <typename T>
T Take(Parsed<T> parsed) {
  if (auto* e = std::get_if<RequestError>(&parsed)) {
    Fail(HttpError{e->status, "invalid_request_error", std::move(e->code), std::move(e->message),
                   0});
  }
  return std::move(std::get<T>(parsed));
}

// ---- small helpers ----

std::string Base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// Constant-time comparison of two secrets (their SHA-256, so lengths leak nothing either).
bool SameSecret(std::string_view a, std::string_view b) {
  unsigned char ha[SHA256_DIGEST_LENGTH];
  unsigned char hb[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), ha);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), hb);
  return CRYPTO_memcmp(ha, hb, SHA256_DIGEST_LENGTH) == 0;
}

std::string RandomId(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = prefix;
  std::uint64_t v = rng();
  for (int i = 0; i < 16; ++i) out += kHex[(v >> (i * 4)) & 0xf];
  return out;
}

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json DocumentJson(const DocumentSummary& d) {
  json out = engine::ToJson(d);
  out["object"] = "document";
  return out;
}

}  // namespace

ServerOptions OptionsFromConfig(const config::Config& config) {
  ServerOptions options;
  const config::ServerConfig& c = config.server;
  options.host = c.host.value_or(options.host);
  if (c.port) options.port = static_cast<int>(*c.port);
  options.cors_origin = c.cors_origin.value_or(options.cors_origin);
  if (c.max_body_mb) options.max_body_bytes = *c.max_body_mb << 20;
  options.max_batch_tokens = c.max_batch_tokens.value_or(options.max_batch_tokens);
  if (c.max_wait_ms) options.max_wait = std::chrono::milliseconds(*c.max_wait_ms);
  options.max_queue = c.max_queue.value_or(options.max_queue);
  if (c.timeout_s) {
    options.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*c.timeout_s * 1000));
  }
  options.threads = c.threads.value_or(options.threads);
  options.batch_workers = c.batch_workers.value_or(options.batch_workers);
  if (const char* key = std::getenv("SIEVE_API_KEY"); key != nullptr) options.api_key = key;
  if (const char* key = std::getenv("SIEVE_ADMIN_KEY"); key != nullptr) options.admin_key = key;
  return options;
}

// ---- the server ----

enum class Access { kPublic, kRead, kAdmin };

// cpp-httplib listens with a backlog of 5 (fixed in Debian's compiled library): many clients
// connecting at once overflow it. Listening again on the bound socket raises it.
class HttpServer : public httplib::Server {
 public:
  void RaiseBacklog(int backlog) {
    const auto sock = svr_sock_.load();
    if (sock != INVALID_SOCKET) ::listen(sock, backlog);
  }
};

struct Server::Impl {
  Engine& engine;
  ServerOptions options;
  Metrics metrics;
  StageTracer tracer{metrics, options.tracer};
  EmbedBatcher batcher;
  RerankBatcher rerank_batcher;
  WriteQueue writes;
  HttpServer http;
  std::atomic<int> bound_port{0};
  std::atomic<bool> stopping{false};
  // Names a request's "model" may give (besides none): "sieve", the configured specs, their
  // folder names, the models' ids.
  std::set<std::string> embed_names{"sieve"};
  std::set<std::string> rerank_names{"sieve"};
  std::string embed_model_id;
  std::string rerank_model_id;
  std::size_t embed_dimension = 0;
  std::string embed_pooling;

  Impl(Engine& e, ServerOptions o)
      : engine(e),
        options(std::move(o)),
        batcher(e,
                BatcherOptions{options.max_batch_tokens, options.max_wait, options.max_queue,
                               options.batch_workers},
                metrics),
        rerank_batcher(e,
                       BatcherOptions{options.max_batch_tokens, options.max_wait, options.max_queue,
                                      options.batch_workers},
                       metrics),
        writes(options.max_queue, metrics) {}

  using Handler = std::function<void(const httplib::Request&, httplib::Response&, RequestContext&)>;
  void Route(const char* method, const std::string& pattern, const std::string& name, Access access,
             Handler handler);
  void SetUp();
  bool Authorized(const httplib::Request& req, Access access) const;

  // Endpoints.
  void Embeddings(const httplib::Request& req, httplib::Response& res, RequestContext& ctx);
  void TeiEmbed(const httplib::Request& req, httplib::Response& res, RequestContext& ctx);
  void Rerank(const httplib::Request& req, httplib::Response& res, RequestContext& ctx);
  void Tokenize(const httplib::Request& req, httplib::Response& res, RequestContext& ctx);
  void Info(httplib::Response& res);
  void Query(const httplib::Request& req, httplib::Response& res, RequestContext& ctx);
  void Chat(const httplib::Request& req, httplib::Response& res, RequestContext& ctx);
  void AddDocuments(const httplib::Request& req, httplib::Response& res, RequestContext& ctx);
  void ListDocuments(const httplib::Request& req, httplib::Response& res, RequestContext& ctx);
  void GetDocument(const httplib::Request& req, httplib::Response& res, RequestContext& ctx);
  void DeleteDocument(const httplib::Request& req, httplib::Response& res, RequestContext& ctx);
  void Ready(httplib::Response& res);
  void MetricsPage(httplib::Response& res);

  // Embeds texts through the batcher after checking their length against the model's limit
  // (over-long inputs are an error unless `truncate`).
  EmbedResponse EmbedTexts(const std::vector<std::string>& texts, bool is_query, bool truncate,
                           int too_long_status, RequestContext& ctx);
  RerankResponse RerankTexts(const RerankRequest& request, RequestContext& ctx);
  // What the request parsers check bodies against.
  RequestLimits Limits() const {
    return {options.max_inputs, &embed_names, &rerank_names, embed_dimension};
  }
};

bool Server::Impl::Authorized(const httplib::Request& req, Access access) const {
  if (access == Access::kPublic) return true;
  const bool need_key = access == Access::kAdmin
                            ? !options.admin_key.empty() || !options.api_key.empty()
                            : !options.api_key.empty();
  if (!need_key) return true;
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) {
    return false;
  }
  const std::string_view key = std::string_view(header).substr(kBearer.size());
  if (access == Access::kAdmin) {
    // The admin key when there is one; else the read key guards writes too.
    return SameSecret(key, options.admin_key.empty() ? options.api_key : options.admin_key);
  }
  return SameSecret(key, options.api_key) ||
         (!options.admin_key.empty() && SameSecret(key, options.admin_key));
}

void Server::Impl::Route(const char* method, const std::string& pattern, const std::string& name,
                         Access access, Handler handler) {
  auto wrapped = [this, name, access, handler = std::move(handler)](const httplib::Request& req,
                                                                    httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    if (!Authorized(req, access)) {
      WriteError(res, {401, "authentication_error", "invalid_api_key",
                       access == Access::kAdmin ? "this endpoint needs the admin key "
                                                  "(Authorization: Bearer <key>)"
                                                : "missing or wrong API key (Authorization: "
                                                  "Bearer <key>)",
                       0});
      res.set_header("WWW-Authenticate", "Bearer");
    } else {
      RequestContext ctx;
      ctx.set_timeout(options.timeout);
      ctx.set_tracer(&tracer);
      if (auto parent = trace::ParseTraceParent(req.get_header_value("traceparent"))) {
        ctx.set_trace_parent(parent->trace_id, parent->span_id);
      }
      // The request's root span; the engine's spans are its children.
      Span span = ctx.StartSpan(std::string(req.method) + " " + name);
      span.SetAttribute("http.request.method", req.method);
      span.SetAttribute("http.route", name);
      if (options.tracer != nullptr) {
        // Lets the client find its trace, and a streamed answer's spans join it (the stream runs
        // after this handler returns, in a context of its own).
        res.set_header("traceresponse", trace::FormatTraceParent(ctx.trace_id(), span.span_id()));
      }
      try {
        handler(req, res, ctx);
      } catch (const ErrorReply& e) {
        WriteError(res, e.error);
      } catch (const json::exception& e) {
        WriteError(res, BadRequest(std::string("malformed request: ") + e.what()));
      } catch (const std::bad_alloc&) {
        WriteError(res, {503, "server_error", "out_of_memory", "out of memory", 1});
      } catch (const std::exception& e) {
        WriteError(
            res, {500, "server_error", "internal", std::string("internal error: ") + e.what(), 0});
      }
      const int status = res.status <= 0 ? 200 : res.status;
      span.SetAttribute("http.response.status_code", static_cast<std::int64_t>(status));
      span.End(status >= 500 ? Status::Internal("HTTP " + std::to_string(status)) : Status::Ok());
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics.ObserveRequest(name, res.status <= 0 ? 200 : res.status, seconds);
    if (res.status >= 500) {
      options.logger.Warning(std::string(req.method) + " " + req.path + " -> " +
                             std::to_string(res.status) + ": " + res.body);
    } else {
      options.logger.Info(std::string(req.method) + " " + req.path + " -> " +
                          std::to_string(res.status <= 0 ? 200 : res.status));
    }
  };
  const std::string m = method;
  if (m == "GET") {
    http.Get(pattern, wrapped);
  } else if (m == "POST") {
    http.Post(pattern, wrapped);
  } else if (m == "DELETE") {
    http.Delete(pattern, wrapped);
  }
}

EmbedResponse Server::Impl::EmbedTexts(const std::vector<std::string>& texts, bool is_query,
                                       bool truncate, int too_long_status, RequestContext& ctx) {
  TokenizeResponse tokens = Unwrap(engine.Tokenize({.texts = texts}, ctx));
  std::vector<std::size_t> counts;
  counts.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::size_t n = tokens.texts[i].ids.size();
    if (!truncate && tokens.max_length > 0 && n > tokens.max_length) {
      Fail(HttpError{too_long_status, "invalid_request_error", "input_too_long",
                     "input " + std::to_string(i) + " is " + std::to_string(n) +
                         " tokens; the model reads at most " + std::to_string(tokens.max_length) +
                         " (shorten it, or send \"truncate\": true)",
                     0});
    }
    counts.push_back(std::min(n, tokens.max_length > 0 ? tokens.max_length : n));
  }
  EmbedResponse response = Unwrap(batcher.Embed(texts, counts, is_query, ctx));
  metrics.AddTokens("embed", response.tokens);
  return response;
}

RerankResponse Server::Impl::RerankTexts(const RerankRequest& request, RequestContext& ctx) {
  // The pairs' tokens (the cross-encoder's tokenizer) size the batches; then the batcher scores
  // them with other requests' pairs.
  auto result = [&]() -> Result<RerankResponse> {
    SIEVE_ASSIGN_OR_RETURN(auto tokens, engine.CountRerankTokens(request, ctx));
    return rerank_batcher.Rerank(request, tokens, ctx);
  }();
  if (!result.ok() && result.status().code() == StatusCode::kNotFound) {
    Fail(HttpError{503, "server_error", "model_unavailable", result.status().message(), 0});
  }
  RerankResponse response = Unwrap(std::move(result));
  metrics.AddTokens("rerank", response.tokens);
  return response;
}

// POST /v1/embeddings (OpenAI).
void Server::Impl::Embeddings(const httplib::Request& req, httplib::Response& res,
                              RequestContext& ctx) {
  const EmbeddingsBody body = Take(ParseEmbeddingsBody(req.body, Limits()));
  const auto& dimensions = body.dimensions;
  EmbedResponse out = EmbedTexts(body.texts, body.is_query, false, 400, ctx);
  json data = json::array();
  for (std::size_t i = 0; i < out.vectors.size(); ++i) {
    std::vector<float> v = std::move(out.vectors[i]);
    if (dimensions && *dimensions < v.size()) {
      // Matryoshka-style: the first d components, renormalised.
      v.resize(*dimensions);
      double norm = 0;
      for (float x : v) norm += static_cast<double>(x) * x;
      norm = std::sqrt(norm);
      if (norm > 0) {
        for (float& x : v) x = static_cast<float>(x / norm);
      }
    }
    json item = {{"object", "embedding"}, {"index", i}};
    if (body.base64) {
      // Little-endian float32, as OpenAI sends it.
      std::string bytes(v.size() * sizeof(float), '\0');
      for (std::size_t j = 0; j < v.size(); ++j) {
        std::uint32_t bits;
        std::memcpy(&bits, &v[j], sizeof(bits));
        for (int b = 0; b < 4; ++b) bytes[j * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
      }
      item["embedding"] = Base64(bytes);
    } else {
      item["embedding"] = std::move(v);
    }
    data.push_back(std::move(item));
  }
  WriteJson(res, {{"object", "list"},
                  {"data", std::move(data)},
                  {"model", out.model},
                  {"usage", {{"prompt_tokens", out.tokens}, {"total_tokens", out.tokens}}}});
}

// POST /embed (TEI): [[floats], ...].
void Server::Impl::TeiEmbed(const httplib::Request& req, httplib::Response& res,
                            RequestContext& ctx) {
  const TeiEmbedBody body = Take(ParseTeiEmbedBody(req.body, Limits()));
  EmbedResponse out = EmbedTexts(body.texts, body.is_query, body.truncate, 413, ctx);
  if (!body.normalize && !out.normalized) {
    // The model's vectors are what they are; nothing to undo.
  }
  WriteJson(res, json(out.vectors));
}

// POST /v1/rerank and /rerank: Cohere/Jina shape with "documents", TEI shape with "texts".
void Server::Impl::Rerank(const httplib::Request& req, httplib::Response& res,
                          RequestContext& ctx) {
  const RerankBody body = Take(ParseRerankBody(req.body, Limits()));
  const RerankRequest& request = body.request;
  const bool tei = body.tei;
  RerankResponse out = RerankTexts(request, ctx);
  if (tei) {
    const bool return_text = body.return_text;
    const bool raw = body.raw_scores;
    json results = json::array();
    for (const auto& r : out.results) {
      json item = {{"index", r.index}, {"score", raw ? r.logit : r.score}};
      if (return_text) item["text"] = request.documents[r.index];
      results.push_back(std::move(item));
    }
    WriteJson(res, results);
    return;
  }
  const bool return_documents = body.return_documents;
  json results = json::array();
  for (const auto& r : out.results) {
    json item = {{"index", r.index}, {"relevance_score", r.score}};
    if (return_documents) item["document"] = {{"text", request.documents[r.index]}};
    results.push_back(std::move(item));
  }
  WriteJson(
      res,
      {{"id", RandomId("rerank-")},
       {"object", "list"},
       {"model", out.model},
       {"results", std::move(results)},
       {"usage", {{"total_tokens", out.tokens}, {"prompt_tokens", out.tokens}}},
       {"meta", {{"api_version", {{"version", "1"}}}, {"billed_units", {{"search_units", 1}}}}}});
}

// POST /tokenize (TEI): [[{"id", "text", "special", "start", "stop"}, ...], ...].
void Server::Impl::Tokenize(const httplib::Request& req, httplib::Response& res,
                            RequestContext& ctx) {
  TokenizeBody body = Take(ParseTokenizeBody(req.body, Limits()));
  const bool special = body.add_special_tokens;
  TokenizeResponse out =
      Unwrap(engine.Tokenize({.texts = std::move(body.texts), .add_special_tokens = special}, ctx));
  json all = json::array();
  for (const auto& t : out.texts) {
    json tokens = json::array();
    for (std::size_t i = 0; i < t.ids.size(); ++i) {
      const bool is_special = special && (i == 0 || i + 1 == t.ids.size());
      tokens.push_back({{"id", t.ids[i]},
                        {"text", t.tokens[i]},
                        {"special", is_special},
                        {"start", nullptr},
                        {"stop", nullptr}});
    }
    all.push_back(std::move(tokens));
  }
  WriteJson(res, all);
}

// GET /info (TEI).
void Server::Impl::Info(httplib::Response& res) {
  WriteJson(res, {{"model_id", embed_model_id},
                  {"model_sha", nullptr},
                  {"model_dtype", "float32"},
                  {"model_type", {{"embedding", {{"pooling", embed_pooling}}}}},
                  {"rerank_model_id", rerank_model_id},
                  {"dimension", embed_dimension},
                  {"max_concurrent_requests", options.max_queue},
                  {"max_input_length", nullptr},
                  {"max_batch_tokens", options.max_batch_tokens},
                  {"max_client_batch_size", options.max_inputs},
                  {"version", SIEVE_VERSION},
                  {"router", "sieve"}});
}

namespace {

std::string SseEvent(const char* event, const json& data) {
  std::string out;
  if (event != nullptr) out += std::string("event: ") + event + "\n";
  out += "data: " + engine::Dump(data) + "\n\n";
  return out;
}

json CitationsJson(const AskResponse& answer) {
  json out = json::array();
  for (const auto& c : answer.citations) out.push_back(engine::CitationToJson(c));
  return out;
}

}  // namespace

// POST /v1/query: Sieve's own RAG endpoint; "stream": true gives SSE tokens, then citations.
void Server::Impl::Query(const httplib::Request& req, httplib::Response& res, RequestContext& ctx) {
  QueryBody body = Take(ParseQueryBody(req.body));
  AskRequest ask = std::move(body.ask);
  if (!body.stream) {
    AskResponse answer = Unwrap(engine.Ask(ask, ctx));
    WriteJson(res, engine::ToJson(answer));
    return;
  }
  const auto timeout = options.timeout;
  const auto parent = trace::ParseTraceParent(res.get_header_value("traceresponse"));
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, ask, timeout, parent](std::size_t, httplib::DataSink& sink) mutable {
        RequestContext stream_ctx;
        stream_ctx.set_timeout(timeout);
        stream_ctx.set_tracer(&tracer);
        if (parent) stream_ctx.set_trace_parent(parent->trace_id, parent->span_id);
        std::stop_source stop;
        stream_ctx.set_stop_token(stop.get_token());
        auto send = [&](const std::string& event) {
          if (!sink.write(event.data(), event.size())) stop.request_stop();
        };
        ask.on_token = [&](std::string_view piece) {
          send(SseEvent("token", {{"text", std::string(piece)}}));
        };
        auto answer = engine.Ask(ask, stream_ctx);
        if (!answer.ok()) {
          send(SseEvent("error", ErrorJson(FromStatus(answer.status()))));
        } else {
          if (!answer->streamed) send(SseEvent("token", {{"text", answer->answer}}));
          send(SseEvent("citations", {{"citations", CitationsJson(*answer)}}));
          send(SseEvent("done", engine::ToJson(*answer)));
        }
        sink.done();
        return true;
      });
}

// POST /v1/chat/completions: OpenAI's chat shape over Ask; citations in an extra field.
void Server::Impl::Chat(const httplib::Request& req, httplib::Response& res, RequestContext& ctx) {
  std::optional<std::string> session_header;
  if (req.has_header("X-Session-Id")) session_header = req.get_header_value("X-Session-Id");
  ChatBody body = Take(ParseChatBody(req.body, session_header));
  AskRequest ask = std::move(body.ask);
  const std::string id = RandomId("chatcmpl-");
  const std::int64_t created = UnixNow();
  if (!body.stream) {
    AskResponse answer = Unwrap(engine.Ask(ask, ctx));
    WriteJson(res, {{"id", id},
                    {"object", "chat.completion"},
                    {"created", created},
                    {"model", "sieve"},
                    {"choices",
                     {{{"index", 0},
                       {"message", {{"role", "assistant"}, {"content", answer.answer}}},
                       {"finish_reason", "stop"},
                       {"logprobs", nullptr}}}},
                    {"usage",
                     {{"prompt_tokens", answer.usage.prompt_tokens},
                      {"completion_tokens", answer.usage.completion_tokens},
                      {"total_tokens", answer.usage.total_tokens}}},
                    {"citations", CitationsJson(answer)},
                    {"sieve", engine::ToJson(answer)}});
    return;
  }
  const auto timeout = options.timeout;
  const auto parent = trace::ParseTraceParent(res.get_header_value("traceresponse"));
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [this, ask, timeout, id, created, parent](
                                                            std::size_t,
                                                            httplib::DataSink& sink) mutable {
    RequestContext stream_ctx;
    stream_ctx.set_timeout(timeout);
    stream_ctx.set_tracer(&tracer);
    if (parent) stream_ctx.set_trace_parent(parent->trace_id, parent->span_id);
    std::stop_source stop;
    stream_ctx.set_stop_token(stop.get_token());
    auto chunk = [&](const json& delta, const json& finish) {
      return json{
          {"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", "sieve"},
          {"choices",
           {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}, {"logprobs", nullptr}}}}};
    };
    auto send = [&](const std::string& event) {
      if (!sink.write(event.data(), event.size())) stop.request_stop();
    };
    send(SseEvent(nullptr, chunk({{"role", "assistant"}, {"content", ""}}, nullptr)));
    ask.on_token = [&](std::string_view piece) {
      send(SseEvent(nullptr, chunk({{"content", std::string(piece)}}, nullptr)));
    };
    auto answer = engine.Ask(ask, stream_ctx);
    if (!answer.ok()) {
      send(SseEvent(nullptr, ErrorJson(FromStatus(answer.status()))));
    } else {
      if (!answer->streamed) {
        send(SseEvent(nullptr, chunk({{"content", answer->answer}}, nullptr)));
      }
      json last = chunk(json::object(), "stop");
      last["citations"] = CitationsJson(*answer);
      last["usage"] = {{"prompt_tokens", answer->usage.prompt_tokens},
                       {"completion_tokens", answer->usage.completion_tokens},
                       {"total_tokens", answer->usage.total_tokens}};
      send(SseEvent(nullptr, last));
    }
    const std::string done = "data: [DONE]\n\n";
    sink.write(done.data(), done.size());
    sink.done();
    return true;
  });
}

// POST /v1/documents: JSON {"name"?, "text", "tags"?} or a multipart upload ("file" parts, and
// "tags" as comma-separated text). The file is written into the upload folder (atomically: a
// temporary file renamed), then ingested through the writer queue.
void Server::Impl::AddDocuments(const httplib::Request& req, httplib::Response& res,
                                RequestContext& ctx) {
  DocumentsBody body;
  if (req.is_multipart_form_data()) {
    std::vector<FormPart> parts;
    for (const auto& [field, part] : req.files)
      parts.push_back({field, part.filename, part.content});
    body = Take(ParseDocumentsForm(std::move(parts)));
  } else {
    body = Take(ParseDocumentsJson(req.body));
  }
  std::error_code ec;
  fs::create_directories(options.upload_dir, ec);
  if (ec) Fail(Status::IoError("cannot create " + options.upload_dir.string()));
  const fs::path root = fs::weakly_canonical(options.upload_dir, ec);
  // The writer thread owns everything it needs: the request may time out before it runs.
  struct Work {
    std::vector<std::pair<fs::path, std::string>> files;  // final path, content
    std::vector<std::string> tags;
    std::optional<Result<IngestResponse>> result;
    std::vector<DocumentSummary> documents;
  };
  auto work = std::make_shared<Work>();
  work->tags = std::move(body.tags);
  for (auto& upload : body.uploads) {
    const fs::path target = root / upload.name;  // made safe by the parser
    if (target.parent_path() != root) Fail(BadRequest("unusable file name", "invalid_name"));
    work->files.emplace_back(target, std::move(upload.content));
  }
  Engine& eng = engine;
  Status queued = writes.Run(
      [work, &eng] {
        RequestContext write_ctx;
        IngestRequest ingest;
        ingest.tags = work->tags;
        for (const auto& [path, content] : work->files) {
          const fs::path temp = path.parent_path() / (".upload-" + path.filename().string());
          {
            std::ofstream out(temp, std::ios::binary | std::ios::trunc);
            out.write(content.data(), static_cast<std::streamsize>(content.size()));
            out.close();
            if (!out) {
              work->result = Status::IoError("cannot write " + temp.string());
              return;
            }
          }
          std::error_code rename_ec;
          fs::rename(temp, path, rename_ec);
          if (rename_ec) {
            work->result = Status::IoError("cannot write " + path.string());
            return;
          }
          ingest.paths.push_back(path);
        }
        work->result = eng.Ingest(ingest, write_ctx);
        if (!work->result->ok()) return;
        // The documents the upload made, for the answer.
        auto all = eng.ListDocuments({.offset = 0, .limit = 0}, write_ctx);
        if (!all.ok()) return;
        for (const auto& [path, content] : work->files) {
          bool found = false;
          for (const auto& d : all->documents) {
            if (d.source_path == path.string()) {
              work->documents.push_back(d);
              found = true;
            }
          }
          // A file the engine refused is not kept.
          std::error_code remove_ec;
          if (!found) fs::remove(path, remove_ec);
        }
      },
      ctx);
  if (!queued.ok()) Fail(queued);
  if (!work->result) Fail(Status::Internal("the upload did not run"));
  IngestResponse ingested = Unwrap(std::move(*work->result));
  if (!ingested.skipped.empty() && work->documents.empty()) {
    Fail(HttpError{415, "invalid_request_error", "unsupported_document",
                   "no document could be read: " + ingested.skipped.front().reason, 0});
  }
  json docs = json::array();
  for (const auto& d : work->documents) docs.push_back(DocumentJson(d));
  WriteJson(res,
            {{"object", "list"}, {"data", std::move(docs)}, {"ingest", engine::ToJson(ingested)}},
            201);
}

// GET /v1/documents?offset=&limit=
void Server::Impl::ListDocuments(const httplib::Request& req, httplib::Response& res,
                                 RequestContext& ctx) {
  auto param = [&](const char* name, std::size_t fallback, std::size_t max) -> std::size_t {
    if (!req.has_param(name)) return fallback;
    const std::string value = req.get_param_value(name);
    if (value.empty() || value.size() > 9 ||
        value.find_first_not_of("0123456789") != std::string::npos) {
      Fail(BadRequest(std::string("\"") + name + "\" must be a whole number", "invalid_value"));
    }
    const std::size_t n = std::stoul(value);
    if (n > max)
      Fail(BadRequest(std::string("\"") + name + "\" is at most " + std::to_string(max),
                      "invalid_value"));
    return n;
  };
  const std::size_t offset = param("offset", 0, 1000000000);
  const std::size_t limit = std::max<std::size_t>(1, param("limit", 100, 1000));
  auto listed = engine.ListDocuments({.offset = offset, .limit = limit}, ctx);
  json data = json::array();
  std::size_t total = 0;
  if (listed.ok()) {
    for (const auto& d : listed->documents) data.push_back(DocumentJson(d));
    total = listed->total;
  } else {
    // No index yet is an empty list, not an error.
    std::error_code ec;
    if (fs::exists(config::IndexDir(engine.config()) / "sieve.db", ec)) Fail(listed.status());
  }
  WriteJson(res, {{"object", "list"},
                  {"data", std::move(data)},
                  {"total", total},
                  {"offset", offset},
                  {"limit", limit}});
}

namespace {

std::int64_t DocumentId(const httplib::Request& req) {
  const std::string text = req.matches[1];
  if (text.size() > 18) Fail(HttpError{404, "not_found_error", "not_found", "no such document", 0});
  return std::stoll(text);
}

}  // namespace

void Server::Impl::GetDocument(const httplib::Request& req, httplib::Response& res,
                               RequestContext& ctx) {
  WriteJson(res, DocumentJson(Unwrap(engine.GetDocument(DocumentId(req), ctx))));
}

void Server::Impl::DeleteDocument(const httplib::Request& req, httplib::Response& res,
                                  RequestContext& ctx) {
  const DocumentSummary doc = Unwrap(engine.GetDocument(DocumentId(req), ctx));
  struct Work {
    std::string key;
    fs::path file;  // the uploaded file to remove ("" for documents not uploaded)
    std::optional<Result<DeleteResponse>> result;
  };
  auto work = std::make_shared<Work>();
  work->key = doc.key;
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(options.upload_dir, ec);
  const fs::path source = fs::path(doc.source_path);
  if (!ec && source.parent_path() == root) work->file = source;
  Engine& eng = engine;
  Status queued = writes.Run(
      [work, &eng] {
        RequestContext write_ctx;
        work->result = eng.Delete({.targets = {work->key}}, write_ctx);
        if (work->result->ok() && !work->file.empty()) {
          std::error_code remove_ec;
          fs::remove(work->file, remove_ec);
        }
      },
      ctx);
  if (!queued.ok()) Fail(queued);
  if (!work->result) Fail(Status::Internal("the delete did not run"));
  DeleteResponse deleted = Unwrap(std::move(*work->result));
  if (deleted.deleted == 0) Fail(Status::NotFound("no document with id " + std::to_string(doc.id)));
  WriteJson(res, {{"object", "document"}, {"id", doc.id}, {"deleted", true}});
}

void Server::Impl::Ready(httplib::Response& res) {
  RequestContext ctx;
  ctx.set_timeout(std::chrono::seconds(5));
  auto models = engine.LoadModels(true, true, ctx);
  if (!models.ok() || !models->embed.available) {
    WriteError(res, {503, "server_error", "not_ready",
                     models.ok() ? "embedding model unavailable: " + models->embed.unavailable
                                 : models.status().message(),
                     1});
    return;
  }
  WriteJson(res, {{"status", "ready"}});
}

void Server::Impl::MetricsPage(httplib::Response& res) {
  IndexGauges gauges;
  RequestContext ctx;
  ctx.set_timeout(std::chrono::seconds(5));
  auto stats = engine.Stats(ctx);
  if (stats.ok()) {
    gauges.known = true;
    gauges.documents = stats->documents;
    gauges.chunks = stats->chunks;
    gauges.vectors = stats->vectors;
    gauges.bytes = stats->bytes;
  }
  std::string page = metrics.Render(gauges);
  if (options.trace_stats) {
    const trace::ExporterStats t = options.trace_stats();
    const auto counter = [&page](const char* name, const char* help, std::uint64_t value) {
      page += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" +
              name + " " + std::to_string(value) + "\n";
    };
    counter("sieve_trace_spans_exported_total", "Spans the trace exporters delivered.",
            t.spans_exported);
    counter("sieve_trace_spans_failed_total", "Spans in batches an exporter failed to deliver.",
            t.spans_failed);
    counter("sieve_trace_spans_dropped_total",
            "Spans dropped because an exporter's queue was full (or at shutdown).",
            t.spans_dropped);
    page +=
        "# HELP sieve_trace_queue_spans Spans waiting in the exporters' queues.\n"
        "# TYPE sieve_trace_queue_spans gauge\nsieve_trace_queue_spans " +
        std::to_string(t.queue_size) + "\n";
  }
  res.set_content(page, "text/plain; version=0.0.4");
}

void Server::Impl::SetUp() {
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  Route("POST", "/v1/embeddings", "/v1/embeddings", Access::kRead,
        [this](Req q, Res r, RequestContext& c) { Embeddings(q, r, c); });
  Route("POST", "/embed", "/embed", Access::kRead,
        [this](Req q, Res r, RequestContext& c) { TeiEmbed(q, r, c); });
  Route("POST", "/v1/rerank", "/v1/rerank", Access::kRead,
        [this](Req q, Res r, RequestContext& c) { Rerank(q, r, c); });
  Route("POST", "/rerank", "/rerank", Access::kRead,
        [this](Req q, Res r, RequestContext& c) { Rerank(q, r, c); });
  Route("POST", "/tokenize", "/tokenize", Access::kRead,
        [this](Req q, Res r, RequestContext& c) { Tokenize(q, r, c); });
  Route("GET", "/info", "/info", Access::kRead, [this](Req, Res r, RequestContext&) { Info(r); });
  Route("POST", "/v1/query", "/v1/query", Access::kRead,
        [this](Req q, Res r, RequestContext& c) { Query(q, r, c); });
  Route("POST", "/v1/chat/completions", "/v1/chat/completions", Access::kRead,
        [this](Req q, Res r, RequestContext& c) { Chat(q, r, c); });
  Route("GET", "/v1/models", "/v1/models", Access::kRead, [](Req, Res r, RequestContext&) {
    WriteJson(r,
              {{"object", "list"},
               {"data",
                {{{"id", "sieve"}, {"object", "model"}, {"created", 0}, {"owned_by", "sieve"}}}}});
  });
  Route("POST", "/v1/documents", "/v1/documents", Access::kAdmin,
        [this](Req q, Res r, RequestContext& c) { AddDocuments(q, r, c); });
  Route("GET", "/v1/documents", "/v1/documents", Access::kRead,
        [this](Req q, Res r, RequestContext& c) { ListDocuments(q, r, c); });
  Route("GET", R"(/v1/documents/(\d+))", "/v1/documents/{id}", Access::kRead,
        [this](Req q, Res r, RequestContext& c) { GetDocument(q, r, c); });
  Route("DELETE", R"(/v1/documents/(\d+))", "/v1/documents/{id}", Access::kAdmin,
        [this](Req q, Res r, RequestContext& c) { DeleteDocument(q, r, c); });
  Route("GET", "/health", "/health", Access::kPublic,
        [](Req, Res r, RequestContext&) { r.status = 200; });
  Route("GET", "/healthz", "/healthz", Access::kPublic, [](Req, Res r, RequestContext&) {
    WriteJson(r, {{"status", "ok"}});
  });
  Route("GET", "/readyz", "/readyz", Access::kPublic,
        [this](Req, Res r, RequestContext&) { Ready(r); });
  Route("GET", "/metrics", "/metrics", Access::kRead,
        [this](Req, Res r, RequestContext&) { MetricsPage(r); });
  Route("GET", "/openapi.json", "/openapi.json", Access::kPublic,
        [](Req, Res r, RequestContext&) { r.set_content(OpenApiJson(), "application/json"); });
  Route("GET", "/", "/", Access::kPublic,
        [](Req, Res r, RequestContext&) { r.set_content(WebPage(), "text/html; charset=utf-8"); });

  // Bodies past the limit, unknown paths and methods: JSON errors too.
  http.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty() || res.content_length_ > 0 || res.is_chunked_content_provider_) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        HttpError e;
        e.status = res.status;
        if (res.status == 413) {
          e.code = "body_too_large";
          e.message = "the request body is too large";
        } else if (res.status == 404) {
          e.type = "not_found_error";
          e.code = "not_found";
          e.message = "no endpoint " + req.method + " " + req.path + " (see /openapi.json)";
        } else if (res.status == 405) {
          e.code = "method_not_allowed";
          e.message = "method not allowed";
        } else {
          e.type = res.status >= 500 ? "server_error" : "invalid_request_error";
          e.message = "HTTP " + std::to_string(res.status);
        }
        res.set_content(engine::Dump(ErrorJson(e)), "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        WriteError(res, {500, "server_error", "internal", "internal error", 0});
      });
  const std::string cors = options.cors_origin;
  if (!cors.empty()) {
    http.Options(R"(.*)",
                 [cors](const httplib::Request&, httplib::Response& res) { res.status = 204; });
    http.set_post_routing_handler([cors](const httplib::Request&, httplib::Response& res) {
      res.set_header("Access-Control-Allow-Origin", cors);
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
      res.set_header("Vary", "Origin");
    });
  }
  http.set_payload_max_length(options.max_body_bytes);
  const auto seconds = std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options.timeout).count());
  http.set_read_timeout(static_cast<time_t>(std::min<std::int64_t>(seconds, 60)));
  http.set_write_timeout(static_cast<time_t>(std::min<std::int64_t>(seconds, 60)));
  http.set_keep_alive_timeout(2);
  http.set_tcp_nodelay(true);
  const std::size_t threads =
      options.threads > 0 ? options.threads
                          : std::max<std::size_t>(64, 4 * std::thread::hardware_concurrency());
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  Stop();
  impl_->batcher.Stop();
  impl_->rerank_batcher.Stop();
  impl_->writes.Stop();
}

Result<std::unique_ptr<Server>> Server::Create(Engine& engine, ServerOptions options) {
  if (options.host.empty()) return Status::InvalidArgument("server.host is empty");
  if (options.port < 0 || options.port > 65535) {
    return Status::InvalidArgument("server.port must be 0-65535");
  }
  if (options.max_body_bytes == 0) return Status::InvalidArgument("max body size is 0");
  if (options.upload_dir.empty()) {
    options.upload_dir = fs::absolute(config::IndexDir(engine.config())) / "uploads";
  }
  auto impl = std::make_unique<Impl>(engine, std::move(options));
  impl->SetUp();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Status Server::Bind() {
  Impl& s = *impl_;
  RequestContext ctx;
  SIEVE_ASSIGN_OR_RETURN(ModelsResponse models, s.engine.LoadModels(true, true, ctx));
  auto add_names = [](std::set<std::string>& names, const std::string& spec) {
    if (spec.empty()) return;
    names.insert(spec);
    names.insert(fs::path(spec).filename().string());
    const auto at = spec.find('@');
    if (at != std::string::npos) names.insert(spec.substr(0, at));
  };
  add_names(s.embed_names, models.embed.spec);
  add_names(s.rerank_names, models.rerank.spec);
  if (models.embed.available) {
    auto probe = s.engine.Embed({.texts = {"probe"}}, ctx);
    if (probe.ok()) {
      s.embed_model_id = probe->model;
      s.embed_dimension = probe->dimension;
      s.embed_pooling = probe->pooling;
      add_names(s.embed_names, probe->model);
    }
  }
  if (models.rerank.available) {
    auto probe = s.engine.Rerank({.query = "probe", .documents = {"probe"}}, ctx);
    if (probe.ok()) {
      s.rerank_model_id = probe->model;
      add_names(s.rerank_names, probe->model);
    }
  }
  if (s.options.port == 0) {
    const int port = s.http.bind_to_any_port(s.options.host);
    if (port <= 0) return Status::IoError("cannot listen on " + s.options.host);
    s.bound_port = port;
  } else {
    if (!s.http.bind_to_port(s.options.host, s.options.port)) {
      return Status::IoError("cannot listen on " + s.options.host + ":" +
                             std::to_string(s.options.port) + " (in use?)");
    }
    s.bound_port = s.options.port;
  }
  s.http.RaiseBacklog(1024);
  return Status::Ok();
}

int Server::port() const {
  return impl_->bound_port.load();
}

Status Server::Serve() {
  if (impl_->bound_port.load() == 0) return Status::InvalidArgument("Serve() before Bind()");
  if (impl_->stopping.load()) return Status::Ok();
  const bool ok = impl_->http.listen_after_bind();
  impl_->batcher.Stop();
  impl_->rerank_batcher.Stop();
  impl_->writes.Stop();
  if (!ok && !impl_->stopping.load()) return Status::IoError("the HTTP server stopped");
  return Status::Ok();
}

void Server::Stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

}  // namespace sieve::server
