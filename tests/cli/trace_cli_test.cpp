// End-to-end tests of tracing in the CLI: `sieve ask` with --trace-file and --otlp-endpoint (a
// cpp-httplib OTLP receiver on 127.0.0.1 decodes the protobuf), the OTEL_* / PHOENIX_* variables,
// and a collector that never answers.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../trace/protobuf_reader.h"
#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sieve::trace::testing::AttributeMap;
using sieve::trace::testing::Message;
using ::testing::HasSubstr;
using namespace sieve::cli::testing_support;

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

class Receiver {
 public:
  Receiver() {
    server_.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mutex_);
      bodies_.push_back(req.body);
      res.status = 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> bodies() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bodies_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> bodies_;
};

// A span as both encodings describe it.
struct SpanView {
  std::string trace_id, span_id, parent, name;
  std::map<std::string, std::string> attributes;  // AnyValueText form
};

std::vector<SpanView> FromProtobuf(const std::vector<std::string>& bodies,
                                   std::map<std::string, std::string>* resource = nullptr) {
  std::vector<SpanView> out;
  for (const std::string& body : bodies) {
    const Message request(body);
    for (const Message& rs : request.Subs(1)) {
      if (resource != nullptr) *resource = AttributeMap(rs.Sub(1), 1);
      for (const Message& ss : rs.Subs(2)) {
        for (const Message& s : ss.Subs(2)) {
          out.push_back({Hex(s.String(1)), Hex(s.String(2)), Hex(s.String(4)), s.String(5),
                         AttributeMap(s, 9)});
        }
      }
    }
  }
  return out;
}

std::vector<SpanView> FromJsonLines(const std::string& text) {
  std::vector<SpanView> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const json request = json::parse(line);
    for (const auto& rs : request.at("resourceSpans")) {
      for (const auto& ss : rs.at("scopeSpans")) {
        for (const auto& s : ss.at("spans")) {
          SpanView v{
              s.at("traceId"), s.at("spanId"), s.value("parentSpanId", ""), s.at("name"), {}};
          for (const auto& kv : s.at("attributes")) {
            const auto& value = kv.at("value");
            if (value.contains("stringValue"))
              v.attributes[kv.at("key")] = "s:" + value.at("stringValue").get<std::string>();
          }
          out.push_back(std::move(v));
        }
      }
    }
  }
  return out;
}

class TraceCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    temp_ = std::make_unique<TempDir>("sieve-trace-cli");
    dir_ = temp_->path();
    const Outcome ingest = Run({"ingest", WriteCranfieldSample(dir_, 40).string(), "--embed-model",
                                (kModels / "tiny-bge").string()});
    ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  }
  static void TearDownTestSuite() { temp_.reset(); }

  // build/sieve with no tracing variables, no SIEVE_LLM_URL or SIEVE_INDEX and no user config.
  static SieveEnv Env() {
    return {.unset = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                      "PHOENIX_COLLECTOR_ENDPOINT", "OTEL_TRACES_SAMPLER", "SIEVE_LLM_URL",
                      "SIEVE_INDEX"},
            .set = {{"HF_HUB_OFFLINE", "1"}, {"XDG_CONFIG_HOME", (dir_ / "no-config").string()}},
            .index = dir_ / "idx"};
  }

  // Env() in the temporary folder, with the `env` settings added.
  static Outcome Run(const std::vector<std::string>& args,
                     const std::vector<std::pair<std::string, std::string>>& env = {}) {
    SieveEnv in_dir = Env();
    in_dir.cwd = dir_;
    return RunSieve(in_dir, args, dir_ / "out", dir_ / "err", env);
  }

  static std::vector<std::string> AskArgs() {
    return {"ask",
            "what is the boundary layer",
            "--embed-model",
            (kModels / "tiny-bge").string(),
            "--rerank-model",
            (kModels / "tiny-ms-marco").string()};
  }

  static std::unique_ptr<TempDir> temp_;
  static fs::path dir_;
};

std::unique_ptr<TempDir> TraceCliTest::temp_;
fs::path TraceCliTest::dir_;

TEST_F(TraceCliTest, AskSendsOneTraceToTheCollectorAndTheSameSpansToTheFile) {
  Receiver receiver;
  const fs::path file = dir_ / "trace.jsonl";
  fs::remove(file);
  auto args = AskArgs();
  args.insert(args.begin(), {"--otlp-endpoint", receiver.base(), "--trace-file", file.string()});
  const Outcome run = Run(args);
  ASSERT_EQ(run.exit_code, 0) << run.err;

  const auto bodies = receiver.bodies();
  ASSERT_FALSE(bodies.empty());
  std::map<std::string, std::string> resource;
  const auto spans = FromProtobuf(bodies, &resource);
  EXPECT_EQ(resource.at("service.name"), "s:sieve");
  ASSERT_FALSE(spans.empty());
  std::set<std::string> ids;
  for (const auto& s : spans) ids.insert(s.span_id);
  int roots = 0;
  for (const auto& s : spans) {
    EXPECT_EQ(s.trace_id, spans[0].trace_id) << "one trace";
    if (s.parent.empty()) {
      ++roots;
      EXPECT_EQ(s.name, "ask");
      EXPECT_EQ(s.attributes.at("openinference.span.kind"), "s:CHAIN");
      EXPECT_EQ(s.attributes.at("input.value"), "s:what is the boundary layer");
    } else {
      EXPECT_TRUE(ids.count(s.parent)) << s.name << " has its parent in the trace";
    }
  }
  EXPECT_EQ(roots, 1);

  // The OpenInference spans of a hybrid ask with a reranker (no LLM: an extractive answer).
  std::map<std::string, const SpanView*> by_name;
  for (const auto& s : spans) by_name[s.name] = &s;
  const std::map<std::string, std::string> kinds = {{"retrieve.lexical", "s:RETRIEVER"},
                                                    {"retrieve.dense", "s:RETRIEVER"},
                                                    {"embed.query", "s:EMBEDDING"},
                                                    {"fuse.rrf", "s:CHAIN"},
                                                    {"rerank", "s:RERANKER"},
                                                    {"generate", "s:CHAIN"}};
  for (const auto& [name, kind] : kinds) {
    ASSERT_TRUE(by_name.count(name)) << name;
    EXPECT_EQ(by_name[name]->attributes.at("openinference.span.kind"), kind) << name;
  }
  EXPECT_EQ(by_name["embed.query"]->parent, by_name["retrieve.dense"]->span_id);
  EXPECT_EQ(by_name["embed.query"]->attributes.at("embedding.embeddings.0.embedding.text"),
            "s:what is the boundary layer");
  for (const char* name : {"retrieve.lexical", "retrieve.dense"}) {
    const auto& a = by_name[name]->attributes;
    ASSERT_TRUE(a.count("retrieval.documents.0.document.content")) << name;
    EXPECT_GT(a.at("retrieval.documents.0.document.content").size(), 10u);
    EXPECT_EQ(a.at("retrieval.documents.0.document.score").rfind("d:", 0), 0u);
    const json metadata = json::parse(a.at("retrieval.documents.0.document.metadata").substr(2));
    EXPECT_TRUE(metadata.contains("doc_key"));
  }
  const auto& rerank = by_name["rerank"]->attributes;
  EXPECT_EQ(rerank.at("reranker.query"), "s:what is the boundary layer");
  EXPECT_EQ(rerank.at("reranker.top_k"), "i:5");
  EXPECT_TRUE(rerank.count("reranker.input_documents.0.document.content"));
  EXPECT_TRUE(rerank.count("reranker.output_documents.4.document.content"));
  EXPECT_FALSE(rerank.count("reranker.output_documents.5.document.id"));
  // The answer's passages are the reranker's output, in order.
  const std::string first_out = rerank.at("reranker.output_documents.0.document.id");
  EXPECT_EQ(first_out.substr(0, 2), "s:");
  EXPECT_EQ(by_name["ask"]->attributes.count("output.value"), 1u);
  EXPECT_EQ(by_name["generate"]->attributes.at("answer.extractive"), "b:1");

  // The file holds the same spans (ids, names, parents).
  const auto from_file = FromJsonLines(Slurp(file));
  ASSERT_EQ(from_file.size(), spans.size());
  std::map<std::string, SpanView> by_id;
  for (const auto& s : from_file) by_id[s.span_id] = s;
  for (const auto& s : spans) {
    ASSERT_TRUE(by_id.count(s.span_id)) << s.name;
    EXPECT_EQ(by_id[s.span_id].name, s.name);
    EXPECT_EQ(by_id[s.span_id].parent, s.parent);
    EXPECT_EQ(by_id[s.span_id].trace_id, s.trace_id);
  }
}

TEST_F(TraceCliTest, PhoenixVariablesChooseTheCollectorAndTheProject) {
  Receiver receiver;
  const Outcome run = Run(AskArgs(), {{"PHOENIX_COLLECTOR_ENDPOINT", receiver.base()},
                                      {"PHOENIX_PROJECT_NAME", "cranfield"},
                                      {"OTEL_SERVICE_NAME", "rag"}});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::map<std::string, std::string> resource;
  const auto spans = FromProtobuf(receiver.bodies(), &resource);
  EXPECT_FALSE(spans.empty());
  EXPECT_EQ(resource.at("openinference.project.name"), "s:cranfield");
  EXPECT_EQ(resource.at("service.name"), "s:rag");
}

TEST_F(TraceCliTest, SamplerOffExportsNothingAndBadSettingsAreUsageErrors) {
  Receiver receiver;
  const Outcome off = Run(AskArgs(), {{"OTEL_TRACES_SAMPLER", "always_off"},
                                      {"OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base()}});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_TRUE(receiver.bodies().empty());
  const Outcome bad = Run(AskArgs(), {{"OTEL_TRACES_SAMPLER", "sometimes"}});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("OTEL_TRACES_SAMPLER"));
}

TEST_F(TraceCliTest, AnUnreachableCollectorDoesNotFailTheCommand) {
  // A port nobody listens on (bound, then closed): the export fails, the answer does not.
  int port = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    ::close(fd);  // never listened: connections are refused
  }
  const fs::path file = dir_ / "trace-dead.jsonl";
  fs::remove(file);
  auto args = AskArgs();
  args.insert(args.begin(), {"--otlp-endpoint", "http://127.0.0.1:" + std::to_string(port),
                             "--trace-file", file.string(), "--json"});
  const Outcome run = Run(args);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_FALSE(json::parse(run.out).at("answer").get<std::string>().empty());
  EXPECT_THAT(run.err, HasSubstr("trace export failed"));
  EXPECT_FALSE(FromJsonLines(Slurp(file)).empty());  // the file exporter is independent
}

// `sieve serve` exports each request as a trace: the root span "POST /v1/query" continues the
// caller's traceparent, and the engine's spans hang below it.
TEST_F(TraceCliTest, ServeExportsEachRequestAsATrace) {
  Receiver receiver;
  const fs::path err = dir_ / "serve-err";
  const fs::path pid_file = dir_ / "serve-pid";
  fs::remove(err);
  fs::remove(pid_file);
  const std::string command =
      "cd " + Quote(dir_.string()) + " && (" +
      SieveCommand(
          Env(), {"--otlp-endpoint", receiver.base(), "serve", "--host", "127.0.0.1", "--port", "0",
                  "--timeout-s", "30", "--embed-model", (kModels / "tiny-bge").string(),
                  "--rerank-model", (kModels / "tiny-ms-marco").string()}) +
      " >/dev/null 2>" + Quote(err.string()) + " & echo $! >" + Quote(pid_file.string()) + ")";
  ASSERT_EQ(std::system(command.c_str()), 0);
  const pid_t pid = std::stoi(Slurp(pid_file));
  struct Stopper {
    pid_t pid;
    ~Stopper() { ::kill(pid, SIGTERM); }
  } stopper{pid};
  // "sieve: serving http://127.0.0.1:PORT/ ..." once it listens.
  const std::string kServing = "serving http://127.0.0.1:";
  int port = 0;
  for (int i = 0; i < 600 && port == 0; ++i) {
    const std::string text = Slurp(err);
    const auto at = text.find(kServing);
    if (at != std::string::npos) {
      port = std::atoi(text.c_str() + at + kServing.size());
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_GT(port, 0) << Slurp(err);
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string caller = "00f067aa0ba902b7";
  auto res = client.Post("/v1/query", {{"traceparent", "00-" + trace_id + "-" + caller + "-01"}},
                         json{{"query", "what is the boundary layer"}}.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("traceresponse").substr(0, 36), "00-" + trace_id + "-");

  // The exporter sends in the background (and flushes on SIGTERM): wait for the request's spans.
  std::vector<SpanView> spans;
  auto find = [&](const std::string& name) -> const SpanView* {
    for (const auto& s : spans) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  for (int i = 0; i < 300; ++i) {
    spans = FromProtobuf(receiver.bodies());
    if (find("POST /v1/query") != nullptr && find("ask") != nullptr) break;
    if (i == 20) ::kill(pid, SIGTERM);  // flush now
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const SpanView* root = find("POST /v1/query");
  ASSERT_NE(root, nullptr) << Slurp(err);
  EXPECT_EQ(root->trace_id, trace_id);
  EXPECT_EQ(root->parent, caller);
  EXPECT_EQ(root->attributes.at("http.route"), "s:/v1/query");
  EXPECT_EQ(root->attributes.at("http.response.status_code"), "i:200");
  const SpanView* ask = find("ask");
  ASSERT_NE(ask, nullptr);
  EXPECT_EQ(ask->trace_id, trace_id);
  EXPECT_EQ(ask->parent, root->span_id);
  EXPECT_EQ(ask->attributes.at("openinference.span.kind"), "s:CHAIN");
  ASSERT_NE(find("retrieve.dense"), nullptr);
  EXPECT_EQ(find("retrieve.dense")->trace_id, trace_id);
}

}  // namespace
