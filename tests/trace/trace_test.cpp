// Tests for trace/trace.h: traceparent, sampling, configuration from the environment, the OTLP
// protobuf and JSON encodings (decoded by an independent reader), the batch exporter's queue
// bound, drop counting, flush and bounded shutdown, and a collector that never answers.
#include "trace/trace.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "protobuf_reader.h"

namespace sieve::trace {
namespace {

using std::chrono::milliseconds;
using testing::AnyValueText;
using testing::AttributeMap;
using ::testing::HasSubstr;
using testing::Message;

std::array<std::uint8_t, 16> Id(std::uint8_t seed) {
  std::array<std::uint8_t, 16> id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(seed + i * 17);
  return id;
}

// ---- traceparent ----

TEST(TraceParent, ParsesTheW3CExample) {
  auto p = ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(TraceIdHex(p->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(p->span_id, 0x00f067aa0ba902b7ULL);
  EXPECT_TRUE(p->sampled);
  EXPECT_EQ(FormatTraceParent(p->trace_id, p->span_id, true),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  auto unsampled = ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_FALSE(unsampled->sampled);
}

TEST(TraceParent, RejectsInvalidHeaders) {
  for (const char* bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // v00 with more
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // separator
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
       }) {
    EXPECT_FALSE(ParseTraceParent(bad).has_value()) << bad;
  }
  // A later version may carry more fields after a '-'.
  EXPECT_TRUE(ParseTraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
                  .has_value());
}

TEST(TraceParent, ContinuesTheCallersTraceInARequestContext) {
  auto p = ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(p.has_value());
  RecordingTracer recorder;
  RequestContext ctx;
  ctx.set_tracer(&recorder);
  ctx.set_trace_parent(p->trace_id, p->span_id);
  { Span root = ctx.StartSpan("root"); }
  ASSERT_EQ(recorder.spans().size(), 1u);
  EXPECT_EQ(recorder.spans()[0].parent_span_id, 0x00f067aa0ba902b7ULL);
  EXPECT_EQ(TraceIdHex(recorder.spans()[0].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
}

// ---- sampling ----

TEST(Sampler, RatioKeepsThatShareOfTracesAndDecidesByTraceId) {
  Sampler half{Sampler::Kind::kTraceIdRatio, 0.25};
  std::uint64_t state = 12345;
  int kept = 0;
  for (int i = 0; i < 4000; ++i) {
    std::array<std::uint8_t, 16> id{};
    for (auto& b : id) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      b = static_cast<std::uint8_t>(state >> 56);
    }
    const bool sampled = half.Sampled(id);
    EXPECT_EQ(sampled, half.Sampled(id));  // the same trace, the same answer
    kept += sampled ? 1 : 0;
  }
  EXPECT_GT(kept, 800);  // 1000 expected; binomial sd ~27
  EXPECT_LT(kept, 1200);
  EXPECT_FALSE((Sampler{Sampler::Kind::kTraceIdRatio, 0.0}).Sampled(Id(1)));
  EXPECT_TRUE((Sampler{Sampler::Kind::kTraceIdRatio, 1.0}).Sampled(Id(1)));
  EXPECT_FALSE((Sampler{Sampler::Kind::kAlwaysOff, 1.0}).Sampled(Id(1)));
}

// ---- configuration ----

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string ResourceValue(const TraceConfig& c, const std::string& key) {
  for (const auto& [k, v] : c.resource.attributes) {
    if (k == key) return std::get<std::string>(v);
  }
  return "<absent>";
}

TEST(Config, NothingConfiguredMeansNoExport) {
  auto c = ConfigFromEnvironment(Env({}));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->enabled());
  EXPECT_EQ(ResourceValue(*c, "service.name"), "sieve");
  EXPECT_EQ(ResourceValue(*c, "openinference.project.name"), "<absent>");
}

TEST(Config, EndpointPrecedenceAndPaths) {
  auto base = ConfigFromEnvironment(Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"}}));
  EXPECT_EQ(base->otlp_endpoint, "http://c:4318/v1/traces");
  auto traces = ConfigFromEnvironment(Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
                                           {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t/x"}}));
  EXPECT_EQ(traces->otlp_endpoint, "http://t/x");  // used as is
  auto phoenix = ConfigFromEnvironment(Env({{"PHOENIX_COLLECTOR_ENDPOINT", "http://p:6006"},
                                            {"PHOENIX_PROJECT_NAME", "rag"},
                                            {"PHOENIX_API_KEY", "k1"}}));
  EXPECT_EQ(phoenix->otlp_endpoint, "http://p:6006/v1/traces");
  EXPECT_EQ(ResourceValue(*phoenix, "openinference.project.name"), "rag");
  ASSERT_EQ(phoenix->otlp_headers.size(), 1u);
  EXPECT_EQ(phoenix->otlp_headers[0].second, "Bearer k1");
  TraceFlags flags;
  flags.otlp_endpoint = "http://flag:1/v1/traces";
  auto flagged = ConfigFromEnvironment(
      Env({{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t/x"}, {"OTEL_SDK_DISABLED", "true"}}),
      flags);
  EXPECT_EQ(flagged->otlp_endpoint, "http://flag:1/v1/traces");
  auto disabled = ConfigFromEnvironment(
      Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}, {"OTEL_TRACES_EXPORTER", "none"}}));
  EXPECT_EQ(disabled->otlp_endpoint, "");
}

TEST(Config, HeadersServiceSamplerAndQueue) {
  auto c = ConfigFromEnvironment(Env({{"OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b, x=1"},
                                      {"OTEL_RESOURCE_ATTRIBUTES", "service.name=r,env=prod"},
                                      {"OTEL_SERVICE_NAME", "svc"},
                                      {"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"},
                                      {"OTEL_TRACES_SAMPLER_ARG", "0.1"},
                                      {"OTEL_BSP_MAX_QUEUE_SIZE", "10"},
                                      {"OTEL_BSP_SCHEDULE_DELAY", "50"}}));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->otlp_headers.size(), 2u);
  EXPECT_EQ(c->otlp_headers[0], std::make_pair(std::string("api-key"), std::string("a b")));
  EXPECT_EQ(ResourceValue(*c, "service.name"), "svc");
  EXPECT_EQ(ResourceValue(*c, "env"), "prod");
  EXPECT_EQ(c->batch.sampler.kind, Sampler::Kind::kTraceIdRatio);
  EXPECT_DOUBLE_EQ(c->batch.sampler.ratio, 0.1);
  EXPECT_EQ(c->batch.max_queue, 10u);
  EXPECT_EQ(c->batch.delay, milliseconds(50));
  auto off = ConfigFromEnvironment(Env({{"OTEL_TRACES_SAMPLER", "always_off"}}));
  EXPECT_EQ(off->batch.sampler.kind, Sampler::Kind::kAlwaysOff);
}

TEST(Config, BadValuesNameTheVariable) {
  auto sampler = ConfigFromEnvironment(Env({{"OTEL_TRACES_SAMPLER", "sometimes"}}));
  ASSERT_FALSE(sampler.ok());
  EXPECT_THAT(sampler.status().message(), HasSubstr("OTEL_TRACES_SAMPLER"));
  auto ratio = ConfigFromEnvironment(
      Env({{"OTEL_TRACES_SAMPLER", "traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "2"}}));
  ASSERT_FALSE(ratio.ok());
  EXPECT_THAT(ratio.status().message(), HasSubstr("OTEL_TRACES_SAMPLER_ARG"));
  auto headers = ConfigFromEnvironment(Env({{"OTEL_EXPORTER_OTLP_HEADERS", "novalue"}}));
  ASSERT_FALSE(headers.ok());
  EXPECT_THAT(headers.status().message(), HasSubstr("OTEL_EXPORTER_OTLP_HEADERS"));
  auto queue = ConfigFromEnvironment(Env({{"OTEL_BSP_MAX_QUEUE_SIZE", "-3"}}));
  EXPECT_FALSE(queue.ok());
}

// ---- a request's spans ----

Resource TestResource() {
  Resource r;
  r.attributes = {{"service.name", std::string("sieve-test")},
                  {"openinference.project.name", std::string("proj")}};
  r.scope_name = "sieve";
  r.scope_version = "9.9";
  return r;
}

// A root CHAIN span with a RETRIEVER child (typed attributes) and a failed LLM child.
std::vector<SpanData> RequestSpans() {
  RecordingTracer recorder;
  RequestContext ctx;
  ctx.set_tracer(&recorder);
  {
    Span root = ctx.StartSpan("ask", SpanKind::kChain);
    root.SetAttribute("input.value", std::string("what is bm25?"));
    {
      Span retrieve = ctx.StartSpan("retrieve.lexical", SpanKind::kRetriever);
      retrieve.SetAttribute("retrieval.documents.0.document.id", std::string("d1"));
      retrieve.SetAttribute("retrieval.documents.0.document.score", 12.5);
      retrieve.SetAttribute("k", std::int64_t{-7});
      retrieve.SetAttribute("reranked", true);
      retrieve.SetAttribute("tags", std::vector<std::string>{"a", "b"});
      std::this_thread::sleep_for(milliseconds(2));
    }
    Span llm = ctx.StartSpan("generate", SpanKind::kLlm);
    llm.End(Status::Unavailable("server down"));
    Span internal = ctx.StartSpan("http POST");
  }
  return recorder.spans();
}

SpanData OneSpanForEncoding() {
  SpanData s;
  s.trace_id = Id(3);
  s.span_id = 42;
  s.name = "x";
  s.start = std::chrono::system_clock::now();
  return s;
}

std::string Hex(const std::string& bytes) {
  std::string out;
  char buf[3];
  for (unsigned char c : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

std::uint64_t Nanos(std::chrono::system_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// Checks a decoded ExportTraceServiceRequest against the spans it was made from.
void CheckRequest(const Message& request, const std::vector<SpanData>& spans) {
  const auto resource_spans = request.Subs(1);
  ASSERT_EQ(resource_spans.size(), 1u);
  const auto resource = AttributeMap(resource_spans[0].Sub(1), 1);
  EXPECT_EQ(resource.at("service.name"), "s:sieve-test");
  EXPECT_EQ(resource.at("openinference.project.name"), "s:proj");
  const auto scope_spans = resource_spans[0].Subs(2);
  ASSERT_EQ(scope_spans.size(), 1u);
  const Message scope = scope_spans[0].Sub(1);
  EXPECT_EQ(scope.String(1), "sieve");
  EXPECT_EQ(scope.String(2), "9.9");
  const auto decoded = scope_spans[0].Subs(2);
  ASSERT_EQ(decoded.size(), spans.size());
  std::map<std::string, const Message*> by_id;
  for (const Message& s : decoded) by_id[Hex(s.String(2))] = &s;
  for (const SpanData& want : spans) {
    ASSERT_TRUE(by_id.count(SpanIdHex(want.span_id))) << want.name;
    const Message& got = *by_id[SpanIdHex(want.span_id)];
    EXPECT_EQ(Hex(got.String(1)), TraceIdHex(want.trace_id));
    EXPECT_EQ(got.String(5), want.name);
    EXPECT_EQ(got.Number(6), 1u);  // SPAN_KIND_INTERNAL
    if (want.parent_span_id == 0) {
      EXPECT_FALSE(got.Has(4)) << want.name;
    } else {
      EXPECT_EQ(Hex(got.String(4)), SpanIdHex(want.parent_span_id));
      EXPECT_TRUE(by_id.count(Hex(got.String(4)))) << "parent in the same batch";
    }
    ASSERT_EQ(got.One(7)->wire, 1);  // fixed64
    EXPECT_EQ(got.Number(7), Nanos(want.start));
    EXPECT_NEAR(static_cast<double>(got.Number(8) - got.Number(7)), want.duration_ms * 1e6, 1.0);
    const auto attributes = AttributeMap(got, 9);
    if (want.kind == SpanKind::kInternal) {
      EXPECT_EQ(attributes.count("openinference.span.kind"), 0u);
    } else {
      EXPECT_EQ(attributes.at("openinference.span.kind"),
                std::string("s:") + SpanKindName(want.kind));
    }
    const Message status = got.Sub(15);
    EXPECT_EQ(status.Number(3), want.status.ok() ? 1u : 2u);
  }
  // The typed attributes and the links of this particular request.
  const Message* retrieve = nullptr;
  const Message* root = nullptr;
  const Message* llm = nullptr;
  for (const Message& s : decoded) {
    if (s.String(5) == "retrieve.lexical") retrieve = &s;
    if (s.String(5) == "ask") root = &s;
    if (s.String(5) == "generate") llm = &s;
  }
  ASSERT_TRUE(retrieve && root && llm);
  EXPECT_EQ(retrieve->String(4), root->String(2));
  EXPECT_EQ(llm->String(4), root->String(2));
  EXPECT_GE(retrieve->Number(8) - retrieve->Number(7), 2'000'000u);  // slept 2 ms
  EXPECT_LE(root->Number(7), retrieve->Number(7));
  EXPECT_GE(root->Number(8), retrieve->Number(8) - 1000);  // the steady clock rounds
  const auto a = AttributeMap(*retrieve, 9);
  EXPECT_EQ(a.at("retrieval.documents.0.document.id"), "s:d1");
  EXPECT_EQ(a.at("retrieval.documents.0.document.score"), "d:12.500000");
  EXPECT_EQ(a.at("k"), "i:-7");
  EXPECT_EQ(a.at("reranked"), "b:1");
  EXPECT_EQ(a.at("tags"), "a:[s:a,s:b]");
  EXPECT_EQ(AttributeMap(*root, 9).at("input.value"), "s:what is bm25?");
  EXPECT_EQ(llm->Sub(15).String(2), "Unavailable: server down");
}

TEST(Encoding, ProtobufCarriesResourceScopeIdsLinksTimesAndAttributes) {
  const auto spans = RequestSpans();
  ASSERT_EQ(spans.size(), 4u);
  CheckRequest(Message(EncodeProtobuf(TestResource(), spans)), spans);
}

TEST(Encoding, JsonHasTheSameContent) {
  const auto spans = RequestSpans();
  const std::string line = EncodeJson(TestResource(), spans);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto j = nlohmann::json::parse(line);
  const auto& rs = j.at("resourceSpans").at(0);
  EXPECT_EQ(rs.at("resource").at("attributes").at(0).at("value").at("stringValue"), "sieve-test");
  const auto& ss = rs.at("scopeSpans").at(0);
  EXPECT_EQ(ss.at("scope").at("name"), "sieve");
  ASSERT_EQ(ss.at("spans").size(), spans.size());
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const auto& s = ss.at("spans").at(i);
    EXPECT_EQ(s.at("traceId"), TraceIdHex(spans[i].trace_id));
    EXPECT_EQ(s.at("spanId"), SpanIdHex(spans[i].span_id));
    EXPECT_EQ(s.contains("parentSpanId"), spans[i].parent_span_id != 0);
    EXPECT_EQ(s.at("startTimeUnixNano"), std::to_string(Nanos(spans[i].start)));
    EXPECT_EQ(s.at("status").at("code"), spans[i].status.ok() ? 1 : 2);
  }
  const auto& retrieve = ss.at("spans").at(0);  // the first to end
  EXPECT_EQ(retrieve.at("name"), "retrieve.lexical");
  std::map<std::string, nlohmann::json> a;
  for (const auto& kv : retrieve.at("attributes")) a[kv.at("key")] = kv.at("value");
  EXPECT_EQ(a.at("openinference.span.kind").at("stringValue"), "RETRIEVER");
  EXPECT_EQ(a.at("k").at("intValue"), "-7");
  EXPECT_EQ(a.at("retrieval.documents.0.document.score").at("doubleValue"), 12.5);
  EXPECT_EQ(a.at("tags").at("arrayValue").at("values").at(1).at("stringValue"), "b");
}

TEST(Encoding, InvalidUtf8BecomesReplacementCharactersInProtobufStrings) {
  SpanData span = OneSpanForEncoding();
  span.name = "bad\xff name";
  span.attributes = {{"input.value", std::string("caf\xc3\xa9 \xc3(")},
                     {"ok", std::string("\xf0\x9f\x98\x80")}};
  const Message request(EncodeProtobuf(TestResource(), {span}));
  const Message decoded = request.Sub(1).Sub(2).Sub(2);
  EXPECT_EQ(decoded.String(5), "bad\xef\xbf\xbd name");
  const auto a = AttributeMap(decoded, 9);
  EXPECT_EQ(a.at("input.value"), "s:caf\xc3\xa9 \xef\xbf\xbd(");
  EXPECT_EQ(a.at("ok"), "s:\xf0\x9f\x98\x80");  // valid 4-byte sequences are kept
}

// ---- the exporter over HTTP ----

class Receiver {
 public:
  explicit Receiver(int status = 200) {
    server_.Post("/v1/traces", [this, status](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        bodies_.push_back(req.body);
        content_types_.push_back(req.get_header_value("Content-Type"));
        auth_.push_back(req.get_header_value("authorization"));
      }
      res.status = status;
      res.set_content("", "application/x-protobuf");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces"; }
  std::vector<std::string> bodies() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bodies_;
  }
  std::vector<std::string> content_types() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return content_types_;
  }
  std::vector<std::string> auth() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return auth_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> bodies_;
  std::vector<std::string> content_types_;
  std::vector<std::string> auth_;
};

TEST(OtlpExporter, PostsProtobufThatDecodesToTheRequestsSpans) {
  Receiver receiver;
  TraceConfig config;
  config.otlp_endpoint = receiver.url();
  config.otlp_headers = {{"authorization", "Bearer t0ken"}};
  config.resource = TestResource();
  config.batch.delay = milliseconds(20);
  auto tracing = Tracing::Create(config);
  ASSERT_TRUE(tracing.ok());
  const auto spans = RequestSpans();
  for (const SpanData& s : spans) (*tracing)->tracer()->OnEnd(s);
  ASSERT_TRUE((*tracing)->Flush(milliseconds(10000)).ok());
  const auto bodies = receiver.bodies();
  ASSERT_EQ(bodies.size(), 1u);  // one batch
  EXPECT_EQ(receiver.content_types()[0], "application/x-protobuf");
  EXPECT_EQ(receiver.auth()[0], "Bearer t0ken");
  CheckRequest(Message(bodies[0]), spans);
  const ExporterStats stats = (*tracing)->stats();
  EXPECT_EQ(stats.spans_queued, 4u);
  EXPECT_EQ(stats.spans_exported, 4u);
  EXPECT_EQ(stats.batches_exported, 1u);
  EXPECT_EQ(stats.spans_dropped + stats.spans_failed, 0u);
  // When SIEVE_TRACE_DUMP names a folder, keep the body and its JSON twin for
  // tests/trace/check_otlp.py (the official opentelemetry-proto definitions; scripts/test-phoenix).
  if (const char* dump = std::getenv("SIEVE_TRACE_DUMP")) {
    std::ofstream(std::filesystem::path(dump) / "request.pb", std::ios::binary) << bodies[0];
    std::ofstream(std::filesystem::path(dump) / "request.json")
        << EncodeJson(TestResource(), spans) << "\n";
  }
}

TEST(OtlpExporter, ARejectingCollectorFailsTheBatchAndCountsIt) {
  Receiver receiver(415);
  TraceConfig config;
  config.otlp_endpoint = receiver.url();
  config.batch.delay = milliseconds(10);
  auto tracing = Tracing::Create(config);
  ASSERT_TRUE(tracing.ok());
  for (const SpanData& s : RequestSpans()) (*tracing)->tracer()->OnEnd(s);
  ASSERT_TRUE((*tracing)->Flush(milliseconds(10000)).ok());
  const ExporterStats stats = (*tracing)->stats();
  EXPECT_EQ(stats.spans_failed, 4u);
  EXPECT_EQ(stats.batches_failed, 1u);
  EXPECT_EQ(stats.spans_exported, 0u);
  EXPECT_THAT(stats.last_error, HasSubstr("415"));
  EXPECT_EQ(receiver.bodies().size(), 1u);  // 415 is not retried
}

TEST(OtlpExporter, RetriesServerErrorsWithThePolicy) {
  std::atomic<int> calls{0};
  httplib::Server server;
  server.Post("/v1/traces", [&calls](const httplib::Request&, httplib::Response& res) {
    res.status = calls.fetch_add(1) == 0 ? 503 : 200;
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&server] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(milliseconds(1));
  TraceConfig config;
  config.otlp_endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v1/traces";
  config.batch.delay = milliseconds(10);
  config.retry.initial_backoff = milliseconds(10);
  auto tracing = Tracing::Create(config);
  ASSERT_TRUE(tracing.ok());
  for (const SpanData& s : RequestSpans()) (*tracing)->tracer()->OnEnd(s);
  ASSERT_TRUE((*tracing)->Flush(milliseconds(10000)).ok());
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ((*tracing)->stats().spans_exported, 4u);
  tracing->reset();  // closes the kept-alive connection, so the server stops at once
  server.stop();
  thread.join();
}

// ---- queue bound, drops, flush, shutdown ----

// A sink whose Export blocks until released (or cancelled), counting what it received.
class GateSink : public SpanSink {
 public:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    bool open = false;
    int entered = 0;
    std::size_t spans = 0;
  };
  explicit GateSink(std::shared_ptr<State> state) : state_(std::move(state)) {}
  Status Export(const std::vector<SpanData>& spans, RequestContext& ctx) override {
    std::unique_lock<std::mutex> lock(state_->mutex);
    ++state_->entered;
    state_->cv.notify_all();
    while (!state_->open) {
      if (!ctx.Check().ok()) return ctx.Check();
      state_->cv.wait_for(lock, milliseconds(5));
    }
    state_->spans += spans.size();
    return Status::Ok();
  }

 private:
  std::shared_ptr<State> state_;
};

SpanData OneSpan(std::uint8_t seed) {
  SpanData s;
  s.trace_id = Id(seed);
  s.span_id = 100 + seed;
  s.name = "s" + std::to_string(seed);
  s.start = std::chrono::system_clock::now();
  return s;
}

TEST(BatchTracer, BoundsTheQueueAndCountsDropsWhileTheSinkIsStuck) {
  auto gate = std::make_shared<GateSink::State>();
  BatchOptions options;
  options.max_queue = 4;
  options.max_batch = 2;
  options.delay = milliseconds(1);
  BatchTracer tracer(std::make_unique<GateSink>(gate), options);
  tracer.OnEnd(OneSpan(0));
  {
    std::unique_lock<std::mutex> lock(gate->mutex);
    gate->cv.wait(lock, [&] { return gate->entered == 1; });  // span 0 is in flight
  }
  // The sink is stuck: OnEnd still returns at once, keeps 4 and drops the rest.
  for (std::uint8_t i = 1; i <= 10; ++i) tracer.OnEnd(OneSpan(i));
  ExporterStats stats = tracer.stats();
  EXPECT_EQ(stats.spans_queued, 5u);
  EXPECT_EQ(stats.spans_dropped, 6u);
  EXPECT_EQ(stats.queue_size, 4u);
  EXPECT_EQ(tracer.Flush(milliseconds(30)).code(), StatusCode::kTimeout);
  {
    std::lock_guard<std::mutex> lock(gate->mutex);
    gate->open = true;
  }
  gate->cv.notify_all();
  ASSERT_TRUE(tracer.Flush(milliseconds(10000)).ok());
  stats = tracer.stats();
  EXPECT_EQ(stats.spans_exported, 5u);
  EXPECT_EQ(stats.batches_exported, 3u);  // 1, then 2 + 2 (max_batch)
  EXPECT_EQ(stats.queue_size, 0u);
  EXPECT_EQ(gate->spans, 5u);
}

TEST(BatchTracer, ShutdownFlushesWhatIsQueuedThenDropsLaterSpans) {
  auto gate = std::make_shared<GateSink::State>();
  gate->open = true;
  BatchOptions options;
  options.delay = std::chrono::hours(1);  // only shutdown sends this partial batch
  BatchTracer tracer(std::make_unique<GateSink>(gate), options);
  for (std::uint8_t i = 0; i < 3; ++i) tracer.OnEnd(OneSpan(i));
  ASSERT_TRUE(tracer.Shutdown(milliseconds(10000)).ok());
  EXPECT_EQ(gate->spans, 3u);
  tracer.OnEnd(OneSpan(9));
  EXPECT_EQ(tracer.stats().spans_dropped, 1u);
  EXPECT_TRUE(tracer.Shutdown(milliseconds(0)).ok());  // idempotent
}

TEST(BatchTracer, ShutdownIsBoundedWhenTheSinkHangs) {
  auto gate = std::make_shared<GateSink::State>();  // never opens
  BatchOptions options;
  options.delay = milliseconds(1);
  BatchTracer tracer(std::make_unique<GateSink>(gate), options);
  for (std::uint8_t i = 0; i < 3; ++i) tracer.OnEnd(OneSpan(i));
  {
    // The export must be under way (hanging in the sink) before the shutdown: on a loaded
    // machine the exporter thread may not have run yet, and a shutdown then has nothing to wait
    // for (it drops the queue and succeeds).
    std::unique_lock<std::mutex> lock(gate->mutex);
    ASSERT_TRUE(
        gate->cv.wait_for(lock, std::chrono::seconds(10), [&] { return gate->entered > 0; }));
  }
  const Status status = tracer.Shutdown(milliseconds(50));  // returns: the export is cancelled
  EXPECT_EQ(status.code(), StatusCode::kTimeout);
  const ExporterStats stats = tracer.stats();
  EXPECT_EQ(stats.spans_exported, 0u);
  EXPECT_EQ(stats.spans_failed + stats.spans_dropped, 3u);
  EXPECT_EQ(stats.queue_size, 0u);
}

TEST(BatchTracer, SamplerDecidesBeforeTheQueue) {
  auto gate = std::make_shared<GateSink::State>();
  gate->open = true;
  BatchOptions options;
  options.sampler.kind = Sampler::Kind::kAlwaysOff;
  BatchTracer tracer(std::make_unique<GateSink>(gate), options);
  tracer.OnEnd(OneSpan(1));
  ASSERT_TRUE(tracer.Flush(milliseconds(1000)).ok());
  EXPECT_EQ(tracer.stats().spans_sampled_out, 1u);
  EXPECT_EQ(tracer.stats().spans_queued, 0u);
  EXPECT_EQ(gate->spans, 0u);
}

// A TCP port that accepts connections (the kernel's backlog) and never answers: a collector
// that hangs.
class SilentPort {
 public:
  SilentPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentPort() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces"; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Runs a request of `n` spans through `tracer` (may be null) and returns how many exports had
// finished when the request was done.
void RunRequest(Tracer* tracer, int n) {
  RequestContext ctx;
  ctx.set_tracer(tracer);
  Span root = ctx.StartSpan("ask", SpanKind::kChain);
  for (int i = 0; i < n; ++i) {
    Span child = ctx.StartSpan("step", SpanKind::kRetriever);
    child.SetAttribute("retrieval.documents.0.document.content", std::string(200, 'x'));
  }
}

TEST(OtlpExporter, AHangingCollectorAddsNoWaitToRequests) {
  SilentPort silent;
  TraceConfig config;
  config.otlp_endpoint = silent.url();
  config.batch.delay = milliseconds(1);
  config.batch.max_batch = 8;
  config.batch.max_queue = 64;
  auto tracing = Tracing::Create(config);
  ASSERT_TRUE(tracing.ok());
  // A first request: its batch goes out and hangs (no answer within the 10 s attempt timeout).
  RunRequest((*tracing)->tracer(), 3);
  EXPECT_EQ((*tracing)->Flush(milliseconds(100)).code(), StatusCode::kTimeout);
  // Requests while that export hangs finish without waiting for it: no export has finished when
  // they are done, and the queue overflows into counted drops instead of blocking.
  for (int r = 0; r < 20; ++r) RunRequest((*tracing)->tracer(), 9);
  ExporterStats stats = (*tracing)->stats();
  EXPECT_EQ(stats.batches_exported + stats.batches_failed, 0u);
  EXPECT_EQ(stats.queue_size, 64u);
  EXPECT_EQ(stats.spans_queued, 4u + 64u);
  EXPECT_EQ(stats.spans_dropped, 20u * 10u - 64u);
  // Shutdown is bounded: it cancels the hanging export.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ((*tracing)->Shutdown(milliseconds(200)).code(), StatusCode::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  stats = (*tracing)->stats();
  EXPECT_EQ(stats.spans_exported, 0u);
  EXPECT_EQ(stats.spans_failed + stats.spans_dropped, 4u + 200u);
}

// ---- the trace file ----

TEST(TraceFile, WritesOneOtlpJsonLinePerBatch) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("sieve-trace-" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(path);
  TraceConfig config;
  config.trace_file = path.string();
  config.resource = TestResource();
  config.batch.delay = std::chrono::hours(1);
  {
    auto tracing = Tracing::Create(config);
    ASSERT_TRUE(tracing.ok());
    for (const SpanData& s : RequestSpans()) (*tracing)->tracer()->OnEnd(s);
    ASSERT_TRUE((*tracing)->Flush(milliseconds(10000)).ok());
    for (const SpanData& s : RequestSpans()) (*tracing)->tracer()->OnEnd(s);
    ASSERT_TRUE((*tracing)->Shutdown(milliseconds(10000)).ok());
    EXPECT_EQ((*tracing)->stats().spans_exported, 8u);
  }
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").size(), 4u);
    ++lines;
  }
  EXPECT_EQ(lines, 2);
  std::filesystem::remove(path);
  config.trace_file = "/nonexistent-dir/x.jsonl";
  EXPECT_FALSE(Tracing::Create(config).ok());
}

}  // namespace
}  // namespace sieve::trace
