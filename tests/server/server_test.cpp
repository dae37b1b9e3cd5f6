// sieve::server::Server in-process on 127.0.0.1 (a free port) with the fixture models and an index
// of samples/: every endpoint's shape and its errors, keys, CORS, limits, the writer queue.
#include "server/server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "../generation/fake_llm_server.h"
#include "server/metrics.h"
#include "server/queues.h"
#include "trace/trace.h"

namespace sieve::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSamples = fs::path(SIEVE_SOURCE_DIR) / "samples";
const fs::path kModels = fs::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "models";

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve-server-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    OpenEngine("");
  }
  // The engine over the index of samples/; answers from the LLM at `llm_url` when not "".
  void OpenEngine(const std::string& llm_url) {
    engine_.reset();
    config::Config config;
    config.index.dir = (dir_ / "idx").string();
    config.models.embed = (kModels / "tiny-bge").string();
    config.models.rerank = (kModels / "tiny-ms-marco").string();
    if (!llm_url.empty()) {
      config.llm.url = llm_url;
      config.llm.model = "scripted";
      config.llm.retries = 0;
    }
    auto engine = Engine::Open(config);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
    RequestContext ctx;
    auto ingested = engine_->Ingest({.paths = {kSamples}}, ctx);
    ASSERT_TRUE(ingested.ok()) << ingested.status().ToString();
  }
  void TearDown() override {
    StopServer();
    engine_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void StartServer(ServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    auto server = Server::Create(*engine_, options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    Status bound = server_->Bind();
    ASSERT_TRUE(bound.ok()) << bound.ToString();
    serving_ = std::async(std::launch::async, [this] { return server_->Serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(30, 0);
    // Serve() starts listening on its own thread: wait until it answers.
    for (int i = 0; i < 100; ++i) {
      if (client_->Get("/healthz")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "the server did not start";
  }

  void StopServer() {
    if (!server_) return;
    server_->Stop();
    ASSERT_EQ(serving_.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    EXPECT_TRUE(serving_.get().ok());
    client_.reset();
    server_.reset();
  }

  // POSTs a JSON text; returns status and parsed body (null when not JSON).
  std::pair<int, json> Post(const std::string& path, const std::string& body,
                            const httplib::Headers& headers = {}) {
    auto res = client_->Post(path.c_str(), headers, body, "application/json");
    if (!res) return {0, nullptr};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  std::pair<int, json> Post(const std::string& path, const json& body,
                            const httplib::Headers& headers = {}) {
    return Post(path, body.dump(), headers);
  }
  std::pair<int, json> Get(const std::string& path, const httplib::Headers& headers = {}) {
    auto res = client_->Get(path.c_str(), headers);
    if (!res) return {0, nullptr};
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  // Every error has the same shape.
  static void ExpectError(const std::pair<int, json>& reply, int status, const std::string& code) {
    EXPECT_EQ(reply.first, status) << reply.second.dump();
    ASSERT_TRUE(reply.second.is_object()) << reply.second.dump();
    ASSERT_TRUE(reply.second.contains("error")) << reply.second.dump();
    const json& e = reply.second["error"];
    EXPECT_TRUE(e["message"].is_string());
    EXPECT_FALSE(e["message"].get<std::string>().empty());
    EXPECT_TRUE(e["type"].is_string());
    if (!code.empty()) {
      EXPECT_EQ(e["code"], code) << reply.second.dump();
    }
  }

  fs::path dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
  std::future<Status> serving_;
  std::unique_ptr<httplib::Client> client_;
};

std::vector<float> DecodeBase64Floats(const std::string& text) {
  std::string bytes(text.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  // EVP_DecodeBlock counts the padding as zero bytes.
  if (!text.empty() && text.back() == '=') --n;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --n;
  std::vector<float> out(static_cast<std::size_t>(n) / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

TEST_F(ServerTest, EmbeddingsInOpenAIShape) {
  StartServer();
  auto [status, body] =
      Post("/v1/embeddings", json{{"input", {"first text", "second one"}}, {"model", "sieve"}});
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["object"], "list");
  ASSERT_EQ(body["data"].size(), 2u);
  EXPECT_EQ(body["data"][1]["index"], 1);
  EXPECT_EQ(body["data"][0]["object"], "embedding");
  const auto full = body["data"][0]["embedding"].get<std::vector<float>>();
  EXPECT_EQ(full.size(), 32u);  // tiny-bge
  EXPECT_GT(body["usage"]["prompt_tokens"].get<int>(), 2);
  EXPECT_NE(body["model"].get<std::string>().find("tiny-bge"), std::string::npos);

  // The same vectors as the engine gives, through the batcher.
  RequestContext ctx;
  auto direct = engine_->Embed({.texts = {"first text"}}, ctx);
  ASSERT_TRUE(direct.ok());
  for (std::size_t i = 0; i < full.size(); ++i) EXPECT_NEAR(full[i], direct->vectors[0][i], 1e-5);

  // base64: the same floats, little-endian.
  auto b64 = Post("/v1/embeddings", json{{"input", "first text"}, {"encoding_format", "base64"}});
  ASSERT_EQ(b64.first, 200);
  const auto decoded = DecodeBase64Floats(b64.second["data"][0]["embedding"].get<std::string>());
  ASSERT_EQ(decoded.size(), full.size());
  // Another request may be batched differently (padding): equal up to rounding.
  for (std::size_t i = 0; i < full.size(); ++i) EXPECT_NEAR(decoded[i], full[i], 1e-5);

  // dimensions: the first d components, renormalised.
  auto cut = Post("/v1/embeddings", json{{"input", "first text"}, {"dimensions", 8}});
  ASSERT_EQ(cut.first, 200);
  const auto small = cut.second["data"][0]["embedding"].get<std::vector<float>>();
  ASSERT_EQ(small.size(), 8u);
  double norm = 0;
  for (float x : small) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-4);
  double scale = 0;
  for (std::size_t i = 0; i < 8; ++i) scale += full[i] * full[i];
  EXPECT_NEAR(small[0], full[0] / std::sqrt(scale), 1e-4);
}

TEST_F(ServerTest, EmbeddingErrors) {
  ServerOptions options;
  options.max_inputs = 4;
  options.max_body_bytes = 64 * 1024;
  StartServer(options);
  ExpectError(Post("/v1/embeddings", std::string("{\"input\": ")), 400, "invalid_json");
  ExpectError(Post("/v1/embeddings", std::string("[1,2]")), 400, "invalid_request");
  ExpectError(Post("/v1/embeddings", std::string("")), 400, "invalid_request");
  ExpectError(Post("/v1/embeddings", json{{"input", 5}}), 400, "invalid_type");
  ExpectError(Post("/v1/embeddings", json{{"input", {1, 2, 3}}}), 400, "invalid_type");
  ExpectError(Post("/v1/embeddings", json{{"input", json::array()}}), 400, "empty_input");
  ExpectError(Post("/v1/embeddings", json{{"input", {"a", "  "}}}), 400, "empty_input");
  ExpectError(Post("/v1/embeddings", json{{"model", "sieve"}}), 400, "invalid_request");
  ExpectError(Post("/v1/embeddings", json{{"input", {"a", "b", "c", "d", "e"}}}), 413,
              "too_many_inputs");
  ExpectError(Post("/v1/embeddings", json{{"input", "a"}, {"model", "text-embedding-3-small"}}),
              404, "model_not_found");
  ExpectError(Post("/v1/embeddings", json{{"input", "a"}, {"dimensions", 33}}), 400,
              "invalid_value");
  ExpectError(Post("/v1/embeddings", json{{"input", "a"}, {"dimensions", "8"}}), 400,
              "invalid_type");
  ExpectError(Post("/v1/embeddings", json{{"input", "a"}, {"encoding_format", "hex"}}), 400,
              "invalid_value");
  // Longer than the model reads: refused, never silently truncated; TEI's truncate allows it.
  std::string long_text;
  for (int i = 0; i < 2000; ++i) long_text += "lift ";
  ExpectError(Post("/v1/embeddings", json{{"input", long_text}}), 400, "input_too_long");
  ExpectError(Post("/embed", json{{"inputs", long_text}}), 413, "input_too_long");
  EXPECT_EQ(Post("/embed", json{{"inputs", long_text}, {"truncate", true}}).first, 200);
  // A body past --max-body-mb.
  ExpectError(Post("/v1/embeddings", json{{"input", std::string(100 * 1024, 'a')}}), 413,
              "body_too_large");
  ExpectError(Get("/no/such/endpoint"), 404, "not_found");
  // Still serving after all that.
  EXPECT_EQ(Post("/v1/embeddings", json{{"input", "ok"}}).first, 200);
}

TEST_F(ServerTest, TeiEmbedTokenizeInfoHealth) {
  StartServer();
  auto embed = Post("/embed", json{{"inputs", {"alpha", "beta"}}});
  ASSERT_EQ(embed.first, 200);
  ASSERT_TRUE(embed.second.is_array());
  ASSERT_EQ(embed.second.size(), 2u);
  EXPECT_EQ(embed.second[0].size(), 32u);
  auto single = Post("/embed", json{{"inputs", "alpha"}});
  ASSERT_EQ(single.first, 200);
  for (std::size_t i = 0; i < 32; ++i) {
    EXPECT_NEAR(single.second[0][i].get<double>(), embed.second[0][i].get<double>(), 1e-5);
  }

  auto tok = Post("/tokenize", json{{"inputs", "lift"}});
  ASSERT_EQ(tok.first, 200);
  ASSERT_EQ(tok.second.size(), 1u);
  EXPECT_EQ(tok.second[0].front()["text"], "[CLS]");
  EXPECT_EQ(tok.second[0].front()["special"], true);
  EXPECT_EQ(tok.second[0].back()["text"], "[SEP]");
  ExpectError(Post("/tokenize", json{{"inputs", json::array()}}), 400, "empty_input");

  auto info = Get("/info");
  ASSERT_EQ(info.first, 200);
  EXPECT_NE(info.second["model_id"].get<std::string>().find("tiny-bge"), std::string::npos);
  EXPECT_EQ(info.second["max_batch_tokens"], 8192);
  EXPECT_EQ(client_->Get("/health")->status, 200);
  EXPECT_EQ(Get("/healthz").second["status"], "ok");
  EXPECT_EQ(Get("/readyz").first, 200);
}

TEST_F(ServerTest, RerankInCohereAndTeiShapes) {
  StartServer();
  const json docs = {"Cats sleep most of the day.",
                     "A cross-encoder reads the query and the passage together.",
                     "Paris is in France."};
  auto cohere = Post(
      "/v1/rerank",
      json{{"query", "what reads query and passage together?"}, {"documents", docs}, {"top_n", 2}});
  ASSERT_EQ(cohere.first, 200) << cohere.second.dump();
  const json& results = cohere.second["results"];
  ASSERT_EQ(results.size(), 2u);
  EXPECT_GE(results[0]["relevance_score"].get<double>(),
            results[1]["relevance_score"].get<double>());
  const auto top = results[0]["index"].get<std::size_t>();
  EXPECT_EQ(results[0]["document"]["text"], docs[top]);
  // The same scores as the engine.
  RequestContext ctx;
  auto direct = engine_->Rerank({.query = "what reads query and passage together?",
                                 .documents = docs.get<std::vector<std::string>>()},
                                ctx);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(direct->results[0].index, top);
  EXPECT_NEAR(direct->results[0].score, results[0]["relevance_score"].get<double>(), 1e-6);

  // Documents as {"text": ...} objects (Jina), on /rerank too.
  auto objects = Post("/rerank", json{{"query", "q"},
                                      {"documents", {{{"text", "one"}}, {{"text", "two"}}}},
                                      {"return_documents", false}});
  ASSERT_EQ(objects.first, 200);
  EXPECT_EQ(objects.second["results"].size(), 2u);
  EXPECT_FALSE(objects.second["results"][0].contains("document"));

  // TEI: "texts" gives a bare array of {index, score}.
  auto tei = Post("/rerank", json{{"query", "what reads query and passage together?"},
                                  {"texts", docs},
                                  {"return_text", true}});
  ASSERT_EQ(tei.first, 200);
  ASSERT_TRUE(tei.second.is_array());
  ASSERT_EQ(tei.second.size(), 3u);
  EXPECT_EQ(tei.second[0]["index"], top);
  EXPECT_EQ(tei.second[0]["text"], docs[top]);

  ExpectError(Post("/v1/rerank", json{{"documents", docs}}), 400, "invalid_request");
  ExpectError(Post("/v1/rerank", json{{"query", ""}, {"documents", docs}}), 400, "empty_input");
  ExpectError(Post("/v1/rerank", json{{"query", "q"}, {"documents", json::array()}}), 400,
              "empty_input");
  ExpectError(Post("/v1/rerank", json{{"query", "q"}, {"documents", "nope"}}), 400, "invalid_type");
  ExpectError(Post("/v1/rerank", json{{"query", "q"}, {"documents", docs}, {"top_n", 0}}), 400,
              "invalid_value");
  ExpectError(Post("/v1/rerank", json{{"query", "q"}, {"documents", docs}, {"model", "x"}}), 404,
              "model_not_found");
}

// Splits a server-sent event stream into (event, data) pairs.
std::vector<std::pair<std::string, std::string>> ParseSse(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> events;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find("\n\n", start);
    if (end == std::string::npos) end = text.size();
    std::string event;
    std::string data;
    std::size_t line_start = start;
    while (line_start < end) {
      std::size_t line_end = text.find('\n', line_start);
      if (line_end == std::string::npos || line_end > end) line_end = end;
      const std::string line = text.substr(line_start, line_end - line_start);
      if (line.rfind("event: ", 0) == 0) event = line.substr(7);
      if (line.rfind("data: ", 0) == 0) data += line.substr(6);
      line_start = line_end + 1;
    }
    if (!data.empty()) events.emplace_back(event, data);
    start = end + 2;
  }
  return events;
}

TEST_F(ServerTest, QueryAnswersWithCitationsAndStreams) {
  StartServer();
  auto [status, body] =
      Post("/v1/query", json{{"query", "what does a cross-encoder read?"}, {"top_n", 3}});
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_FALSE(body["answer"].get<std::string>().empty());
  EXPECT_EQ(body["passages"].size(), 3u);
  ASSERT_FALSE(body["citations"].empty());
  EXPECT_TRUE(body["citations"][0].contains("path"));
  for (const json& c : body["citations"]) {
    // Each [n] maps to its passage through passage_number (and back through cited_as).
    const auto n = c["passage_number"].get<std::size_t>();
    ASSERT_GE(n, 1u);
    ASSERT_LE(n, body["passages"].size());
    EXPECT_EQ(body["passages"][n - 1]["chunk_id"], c["chunk_id"]);
    EXPECT_EQ(body["passages"][n - 1]["cited_as"], c["number"]);
  }
  EXPECT_TRUE(body["passages"][0]["scores"].contains("rerank"));
  EXPECT_FALSE(body["timings"].empty());

  auto res = client_->Post(
      "/v1/query",
      json{{"query", "what does a cross-encoder read?"}, {"top_n", 3}, {"stream", true}}.dump(),
      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  const auto events = ParseSse(res->body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0].first, "token");
  EXPECT_EQ(events[events.size() - 2].first, "citations");
  EXPECT_EQ(events.back().first, "done");
  std::string streamed;
  for (const auto& [event, data] : events) {
    if (event == "token") streamed += json::parse(data)["text"].get<std::string>();
  }
  const json done = json::parse(events.back().second);
  EXPECT_EQ(streamed, done["answer"].get<std::string>());
  EXPECT_EQ(done["answer"], body["answer"]);

  ExpectError(Post("/v1/query", json{{"query", "  "}}), 400, "empty_input");
  ExpectError(Post("/v1/query", json{{"query", "x"}, {"mode", "magic"}}), 400, "invalid_value");
  ExpectError(Post("/v1/query", json{{"query", "x"}, {"k", -1}}), 400, "invalid_value");
  ExpectError(Post("/v1/query", json{{"query", 3}}), 400, "invalid_type");
  // Control characters are just text (a NUL once ended the FTS5 query: a 500).
  EXPECT_EQ(
      Post("/v1/query", json{{"query", std::string("lift\0drag\x01", 10)}, {"mode", "lexical"}})
          .first,
      200);
}

TEST_F(ServerTest, ChatCompletionsLikeOpenAI) {
  StartServer();
  const json request = {{"model", "sieve"},
                        {"messages",
                         {{{"role", "system"}, {"content", "be brief"}},
                          {{"role", "user"}, {"content", "what is reciprocal rank fusion?"}}}}};
  auto [status, body] = Post("/v1/chat/completions", request);
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["model"], "sieve");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  const std::string answer = body["choices"][0]["message"]["content"];
  EXPECT_FALSE(answer.empty());
  EXPECT_FALSE(body["citations"].empty());

  json streaming = request;
  streaming["stream"] = true;
  auto res = client_->Post("/v1/chat/completions", streaming.dump(), "application/json");
  ASSERT_TRUE(res);
  const auto events = ParseSse(res->body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back().second, "[DONE]");
  std::string streamed;
  json last;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    last = json::parse(events[i].second);
    EXPECT_EQ(last["object"], "chat.completion.chunk");
    streamed += last["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(streamed, answer);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(last["citations"].empty());

  // Content as an array of parts.
  auto parts = Post(
      "/v1/chat/completions",
      json{{"messages",
            {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "what is BM25?"}}}}}}}});
  EXPECT_EQ(parts.first, 200);
  ExpectError(
      Post("/v1/chat/completions", json{{"model", "gpt-4o"}, {"messages", request["messages"]}}),
      404, "model_not_found");
  ExpectError(Post("/v1/chat/completions", json{{"messages", json::array()}}), 400, "empty_input");
  ExpectError(Post("/v1/chat/completions",
                   json{{"messages", {{{"role", "assistant"}, {"content", "hi"}}}}}),
              400, "empty_input");
  ExpectError(Post("/v1/chat/completions", json{{"messages", "hi"}}), 400, "invalid_type");
}

// Earlier turns reach the engine as history: the LLM condenses them with the last user message
// into a standalone question, which is retrieved with and answered.
TEST_F(ServerTest, ChatCondensesEarlierTurnsIntoAStandaloneQuestion) {
  generation::testing::FakeLlmServer llm(
      [](int, const httplib::Request& req, httplib::Response& res) {
        const json body = json::parse(req.body);
        const std::string system = body["messages"][0]["content"].get<std::string>();
        const bool condense = system.find("rephrase the follow-up question") != std::string::npos;
        if (body.value("stream", false) && !condense) {
          res.set_content(generation::testing::SseBody(
                              {generation::testing::DeltaChunk("Fusion adds "),
                               generation::testing::DeltaChunk("reciprocal ranks [1]."), "[DONE]"}),
                          "text/event-stream");
          return;
        }
        res.set_content(generation::testing::CompletionBody(
                            condense ? "how does reciprocal rank fusion combine rankings"
                                     : "Fusion adds reciprocal ranks [1]."),
                        "application/json");
      });
  OpenEngine(llm.base_url());
  StartServer();
  const json messages = {{{"role", "system"}, {"content", "be brief"}},
                         {{"role", "user"}, {"content", "what is reciprocal rank fusion?"}},
                         {{"role", "assistant"}, {"content", "A way to merge ranked lists."}},
                         {{"role", "user"}, {"content", "and how does it combine them?"}}};
  auto [status, body] = Post("/v1/chat/completions", json{{"messages", messages}});
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Fusion adds reciprocal ranks [1].");
  EXPECT_FALSE(body["citations"].empty());
  ASSERT_EQ(llm.requests(), 2);  // the condensing, then the answer
  const std::vector<std::string> bodies = llm.bodies();
  // The condenser saw the earlier turns (not the system message) and the follow-up.
  EXPECT_NE(bodies[0].find("what is reciprocal rank fusion?"), std::string::npos);
  EXPECT_NE(bodies[0].find("A way to merge ranked lists."), std::string::npos);
  EXPECT_NE(bodies[0].find("and how does it combine them?"), std::string::npos);
  EXPECT_EQ(bodies[0].find("be brief"), std::string::npos);
  // The answer was asked for the standalone question.
  EXPECT_NE(bodies[1].find("how does reciprocal rank fusion combine rankings"), std::string::npos);

  // Streaming condenses too.
  json streaming = {{"messages", messages}, {"stream", true}};
  auto res = client_->Post("/v1/chat/completions", streaming.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  std::string streamed;
  for (const auto& [event, data] : ParseSse(res->body)) {
    if (data == "[DONE]") continue;
    streamed += json::parse(data)["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(streamed, "Fusion adds reciprocal ranks [1].");
  ASSERT_EQ(llm.requests(), 4);
  EXPECT_NE(llm.bodies()[3].find("how does reciprocal rank fusion combine rankings"),
            std::string::npos);

  // "condense_history": false asks with the last message as it is; one turn has nothing to
  // condense.
  auto plain =
      Post("/v1/chat/completions", json{{"messages", messages}, {"condense_history", false}});
  ASSERT_EQ(plain.first, 200) << plain.second.dump();
  ASSERT_EQ(llm.requests(), 5);
  EXPECT_NE(llm.bodies()[4].find("and how does it combine them?"), std::string::npos);
  auto single = Post("/v1/chat/completions",
                     json{{"messages", {{{"role", "user"}, {"content", "what is BM25?"}}}}});
  ASSERT_EQ(single.first, 200) << single.second.dump();
  EXPECT_EQ(llm.requests(), 6);
  ExpectError(
      Post("/v1/chat/completions", json{{"messages", messages}, {"condense_history", "yes"}}), 400,
      "invalid_type");
  ExpectError(Post("/v1/chat/completions",
                   json{{"messages", {{{"role", "assistant"}, {"content", 3}}, messages.back()}}}),
              400, "invalid_type");
}

// Every request is a trace: a root span "METHOD /route" continuing the caller's traceparent, the
// engine's spans below it (a streamed answer's too), all handed to the configured tracer.
TEST_F(ServerTest, RequestsAreTracedToTheConfiguredTracer) {
  RecordingTracer recorder;
  ServerOptions options;
  options.tracer = &recorder;
  StartServer(options);
  const std::string trace_hex = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string caller_span = "00f067aa0ba902b7";
  auto res = client_->Post(
      "/v1/embeddings",
      httplib::Headers{{"traceparent", "00-" + trace_hex + "-" + caller_span + "-01"}},
      json{{"input", "a traced text"}}.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const auto response_parent = trace::ParseTraceParent(res->get_header_value("traceresponse"));
  ASSERT_TRUE(response_parent.has_value()) << res->get_header_value("traceresponse");
  EXPECT_EQ(trace::TraceIdHex(response_parent->trace_id), trace_hex);

  auto spans = recorder.spans();
  const SpanData* root = nullptr;
  for (const auto& s : spans) {
    if (s.name == "POST /v1/embeddings") root = &s;
  }
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(trace::TraceIdHex(root->trace_id), trace_hex);
  EXPECT_EQ(trace::SpanIdHex(root->parent_span_id), caller_span);
  EXPECT_EQ(root->span_id, response_parent->span_id);
  std::map<std::string, AttributeValue> attributes(root->attributes.begin(),
                                                   root->attributes.end());
  EXPECT_EQ(std::get<std::string>(attributes.at("http.route")), "/v1/embeddings");
  EXPECT_EQ(std::get<std::int64_t>(attributes.at("http.response.status_code")), 200);
  // The tokenizer's span (the batcher embeds in a context of its own) is the root's child.
  bool child = false;
  for (const auto& s : spans) {
    if (s.parent_span_id == root->span_id && s.trace_id == root->trace_id) child = true;
  }
  EXPECT_TRUE(child);

  // A streamed answer's spans join the request's trace.
  recorder.Clear();
  res = client_->Post("/v1/query",
                      json{{"query", "what does a cross-encoder read?"}, {"stream", true}}.dump(),
                      "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  spans = recorder.spans();
  root = nullptr;
  for (const auto& s : spans) {
    if (s.name == "POST /v1/query") root = &s;
  }
  ASSERT_NE(root, nullptr);
  const SpanData* ask = nullptr;
  for (const auto& s : spans) {
    if (s.name == "ask") ask = &s;
  }
  ASSERT_NE(ask, nullptr);
  EXPECT_EQ(ask->trace_id, root->trace_id);
  EXPECT_EQ(ask->parent_span_id, root->span_id);

  // A chat turn's trace carries its conversation as session.id (body, else X-Session-Id).
  for (const bool in_header : {false, true}) {
    recorder.Clear();
    json chat{{"messages", {{{"role", "user"}, {"content", "what does a cross-encoder read?"}}}}};
    httplib::Headers headers;
    if (in_header) {
      headers.emplace("X-Session-Id", "conversation-7");
    } else {
      chat["session_id"] = "conversation-7";
    }
    res = client_->Post("/v1/chat/completions", headers, chat.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    std::string session;
    for (const auto& s : recorder.spans()) {
      if (s.name != "ask") continue;
      for (const auto& [key, value] : s.attributes) {
        if (key == "session.id") session = std::get<std::string>(value);
      }
    }
    EXPECT_EQ(session, "conversation-7") << (in_header ? "header" : "body");
  }

  // Failed requests are marked on their root span.
  recorder.Clear();
  EXPECT_EQ(Post("/v1/embeddings", json{{"input", ""}}).first, 400);
  spans = recorder.spans();
  ASSERT_FALSE(spans.empty());
  attributes = {spans.back().attributes.begin(), spans.back().attributes.end()};
  EXPECT_EQ(spans.back().name, "POST /v1/embeddings");
  EXPECT_EQ(std::get<std::int64_t>(attributes.at("http.response.status_code")), 400);
}

TEST_F(ServerTest, DocumentsAddListGetDelete) {
  StartServer();
  auto listed = Get("/v1/documents?limit=2");
  ASSERT_EQ(listed.first, 200);
  const std::size_t before = listed.second["total"];
  EXPECT_EQ(listed.second["data"].size(), 2u);
  auto page2 = Get("/v1/documents?offset=2&limit=2");
  ASSERT_EQ(page2.first, 200);
  EXPECT_NE(page2.second["data"][0]["id"], listed.second["data"][0]["id"]);
  ExpectError(Get("/v1/documents?limit=abc"), 400, "invalid_value");

  // JSON text; a name that tries to leave the upload folder stays inside it.
  auto added = Post("/v1/documents", json{{"name", "../../outside.md"},
                                          {"text",
                                           "# Zebras\n\nZebras have black and white "
                                           "stripes that confuse flies."},
                                          {"tags", {"animals"}}});
  ASSERT_EQ(added.first, 201) << added.second.dump();
  ASSERT_EQ(added.second["data"].size(), 1u);
  const json doc = added.second["data"][0];
  EXPECT_EQ(doc["title"], "Zebras");
  EXPECT_EQ(doc["tags"], json({"animals"}));
  const fs::path uploads = dir_ / "idx" / "uploads";
  EXPECT_TRUE(fs::exists(uploads / "outside.md"));
  EXPECT_FALSE(fs::exists(dir_ / "outside.md"));
  EXPECT_FALSE(fs::exists(dir_ / "idx" / "outside.md"));
  EXPECT_EQ(fs::path(doc["path"].get<std::string>()).parent_path(), fs::weakly_canonical(uploads));

  // Queries see it at once.
  auto found = Post("/v1/query", json{{"query", "zebra stripes flies"}, {"mode", "lexical"}});
  ASSERT_EQ(found.first, 200);
  EXPECT_EQ(found.second["passages"][0]["title"], "Zebras");

  // Multipart upload with tags.
  httplib::MultipartFormDataItems items = {
      {"file", "Giraffes have long necks and eat leaves from tall trees.", "giraffe notes.txt",
       "text/plain"},
      {"tags", "animals, tall", "", ""}};
  auto multipart = client_->Post("/v1/documents", items);
  ASSERT_TRUE(multipart);
  ASSERT_EQ(multipart->status, 201) << multipart->body;
  const json mp = json::parse(multipart->body);
  ASSERT_EQ(mp["data"].size(), 1u);
  EXPECT_EQ(mp["data"][0]["tags"], json({"animals", "tall"}));
  EXPECT_TRUE(fs::exists(uploads / "giraffe_notes.txt"));

  // Unsupported type: refused, nothing kept.
  httplib::MultipartFormDataItems bad = {{"file", "\x01\x02", "blob.exe", "application/x"}};
  auto refused = client_->Post("/v1/documents", bad);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 415) << refused->body;
  EXPECT_FALSE(fs::exists(uploads / "blob.exe"));
  ExpectError(Post("/v1/documents", json{{"text", ""}}), 400, "empty_input");
  ExpectError(Post("/v1/documents", json{{"name", ".."}, {"text", "x"}}), 400, "invalid_name");

  EXPECT_EQ(Get("/v1/documents").second["total"], before + 2);
  const std::string id = std::to_string(doc["id"].get<std::int64_t>());
  auto one = Get("/v1/documents/" + id);
  ASSERT_EQ(one.first, 200);
  EXPECT_EQ(one.second["key"], doc["key"]);

  auto del = client_->Delete(("/v1/documents/" + id).c_str());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200) << del->body;
  EXPECT_FALSE(fs::exists(uploads / "outside.md"));
  ExpectError(Get("/v1/documents/" + id), 404, "not_found");
  auto again = client_->Delete(("/v1/documents/" + id).c_str());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 404);
  EXPECT_EQ(Get("/v1/documents").second["total"], before + 1);
  ExpectError(Get("/v1/documents/99999999999999999999999"), 404, "not_found");
}

TEST_F(ServerTest, KeysGuardReadsAndWrites) {
  ServerOptions options;
  options.api_key = "read-key";
  options.admin_key = "admin-key";
  StartServer(options);
  const json embed = {{"input", "x"}};
  ExpectError(Post("/v1/embeddings", embed), 401, "invalid_api_key");
  ExpectError(Post("/v1/embeddings", embed, {{"Authorization", "Bearer wrong"}}), 401,
              "invalid_api_key");
  ExpectError(Post("/v1/embeddings", embed, {{"Authorization", "read-key"}}), 401,
              "invalid_api_key");
  EXPECT_EQ(Post("/v1/embeddings", embed, {{"Authorization", "Bearer read-key"}}).first, 200);
  EXPECT_EQ(Post("/v1/embeddings", embed, {{"Authorization", "Bearer admin-key"}}).first, 200);
  const json doc = {{"name", "k.txt"}, {"text", "keys"}};
  ExpectError(Post("/v1/documents", doc, {{"Authorization", "Bearer read-key"}}), 401,
              "invalid_api_key");
  EXPECT_EQ(Post("/v1/documents", doc, {{"Authorization", "Bearer admin-key"}}).first, 201);
  ExpectError(Get("/metrics"), 401, "invalid_api_key");
  // Health, readiness, the page and the API description stay open.
  EXPECT_EQ(Get("/healthz").first, 200);
  EXPECT_EQ(Get("/readyz").first, 200);
  EXPECT_EQ(client_->Get("/")->status, 200);
  EXPECT_EQ(Get("/openapi.json").first, 200);
}

TEST_F(ServerTest, CorsOnlyWhenConfigured) {
  StartServer();
  auto plain = client_->Get("/healthz", {{"Origin", "http://example.test"}});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->has_header("Access-Control-Allow-Origin"));
  StopServer();
  ServerOptions options;
  options.cors_origin = "http://example.test";
  StartServer(options);
  auto with = client_->Get("/healthz", {{"Origin", "http://example.test"}});
  ASSERT_TRUE(with);
  EXPECT_EQ(with->get_header_value("Access-Control-Allow-Origin"), "http://example.test");
  auto preflight = client_->Options("/v1/embeddings");
  ASSERT_TRUE(preflight);
  EXPECT_EQ(preflight->status, 204);
  EXPECT_EQ(preflight->get_header_value("Access-Control-Allow-Origin"), "http://example.test");
}

TEST_F(ServerTest, ConcurrentEmbeddingsAreBatchedAndExact) {
  ServerOptions options;
  options.max_wait = std::chrono::milliseconds(50);
  StartServer(options);
  std::vector<std::string> texts;
  for (int i = 0; i < 16; ++i) texts.push_back("text number " + std::to_string(i) + " about lift");
  std::vector<std::future<json>> replies;
  for (const auto& text : texts) {
    replies.push_back(std::async(std::launch::async, [&, text] {
      httplib::Client client("127.0.0.1", server_->port());
      auto res = client.Post("/v1/embeddings", json{{"input", text}}.dump(), "application/json");
      if (!res) return json("no response: " + httplib::to_string(res.error()));
      return res->status == 200 ? json::parse(res->body) : json(res->body);
    }));
  }
  RequestContext ctx;
  auto direct = engine_->Embed({.texts = texts}, ctx);
  ASSERT_TRUE(direct.ok());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const json reply = replies[i].get();
    ASSERT_TRUE(reply.is_object()) << reply.dump();
    const auto v = reply["data"][0]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(v.size(), direct->vectors[i].size());
    for (std::size_t j = 0; j < v.size(); ++j) EXPECT_NEAR(v[j], direct->vectors[i][j], 1e-5);
  }
  // Some batch held more than one request.
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  const std::string& text = metrics->body;
  const auto pos = text.find("sieve_batch_texts_bucket{le=\"1\"} ");
  const auto count_pos = text.find("sieve_batch_texts_count ");
  ASSERT_NE(pos, std::string::npos);
  ASSERT_NE(count_pos, std::string::npos);
  const int single =
      std::stoi(text.substr(pos + std::strlen("sieve_batch_texts_bucket{le=\"1\"} ")));
  const int batches = std::stoi(text.substr(count_pos + std::strlen("sieve_batch_texts_count ")));
  EXPECT_LT(batches, 1 + 16) << "16 concurrent requests (and the start-up probe) ran one by one";
  EXPECT_LT(single, batches + 0) << text.substr(pos, 200);
}

// The value of an unlabelled sample ("name value") in a /metrics page; -1 when absent.
double MetricValue(const std::string& page, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const auto pos = page.find(key);
  if (pos == std::string::npos) return -1;
  return std::stod(page.substr(pos + key.size()));
}

// Sixteen single-document rerank requests with different queries, sent at once: each gets what
// the engine gives it alone (1e-5: another batch shape's float rounding, see models/encoder.h),
// and they were scored together. Deterministic: the token budget is exactly the sixteen pairs'
// tokens and the wait long, so the worker waits for all of them and takes them as one batch.
TEST_F(ServerTest, ConcurrentRerankRequestsAreMergedAndExact) {
  std::vector<RerankRequest> requests;
  std::size_t total_tokens = 0;
  RequestContext ctx;
  for (int i = 0; i < 16; ++i) {
    RerankRequest request{.query = "question " + std::to_string(i) + " about lift",
                          .documents = {"passage " + std::to_string(i * 7) + " on wings"}};
    auto tokens = engine_->CountRerankTokens(request, ctx);
    ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
    total_tokens += tokens->at(0);
    requests.push_back(request);
  }
  ServerOptions options;
  options.max_batch_tokens = total_tokens;
  options.max_wait = std::chrono::milliseconds(20000);
  StartServer(options);
  std::vector<std::future<json>> replies;
  for (const auto& request : requests) {
    replies.push_back(std::async(std::launch::async, [&, request] {
      httplib::Client client("127.0.0.1", server_->port());
      client.set_read_timeout(60, 0);
      auto res = client.Post(
          "/rerank",
          json{{"query", request.query}, {"texts", request.documents}, {"raw_scores", true}}.dump(),
          "application/json");
      if (!res) return json("no response: " + httplib::to_string(res.error()));
      return res->status == 200 ? json::parse(res->body) : json(res->body);
    }));
  }
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const json reply = replies[i].get();
    ASSERT_TRUE(reply.is_array() && reply.size() == 1u) << reply.dump();
    auto direct = engine_->Rerank(requests[i], ctx);
    ASSERT_TRUE(direct.ok());
    EXPECT_NEAR(reply[0]["score"].get<double>(), direct->results[0].logit, 1e-5) << i;
  }
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(MetricValue(metrics->body, "sieve_rerank_batch_requests_count"), 1) << metrics->body;
  EXPECT_EQ(MetricValue(metrics->body, "sieve_rerank_batch_requests_sum"), 16);
  EXPECT_EQ(MetricValue(metrics->body, "sieve_rerank_batch_pairs_sum"), 16);
  EXPECT_EQ(MetricValue(metrics->body, "sieve_rerank_batch_tokens_sum"),
            static_cast<double>(total_tokens));
  EXPECT_NE(metrics->body.find("sieve_queue_depth{queue=\"rerank\"} 0"), std::string::npos);
}

// A request whose pairs exceed the token budget is scored over several batches and put back
// together: the same ranking and scores as the engine's, top_n applied after reassembly.
TEST_F(ServerTest, RerankOverTheTokenBudgetIsSplit) {
  RerankRequest request{.query = "what reads query and passage together?", .top_n = 4};
  for (int i = 0; i < 9; ++i) {
    request.documents.push_back("document " + std::to_string(i) + std::string(i % 3, '!') +
                                " about a cross-encoder reading pairs");
  }
  RequestContext ctx;
  auto tokens = engine_->CountRerankTokens(request, ctx);
  ASSERT_TRUE(tokens.ok());
  std::size_t total = 0;
  std::size_t longest = 0;
  for (std::size_t t : *tokens) {
    total += t;
    longest = std::max(longest, t);
  }
  ServerOptions options;
  options.max_batch_tokens = 2 * longest;  // two or three pairs a batch
  StartServer(options);
  auto reply = Post(
      "/v1/rerank",
      json{{"query", request.query}, {"documents", request.documents}, {"top_n", request.top_n}});
  ASSERT_EQ(reply.first, 200) << reply.second.dump();
  auto direct = engine_->Rerank(request, ctx);
  ASSERT_TRUE(direct.ok());
  const json& results = reply.second["results"];
  ASSERT_EQ(results.size(), 4u);
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i]["index"], direct->results[i].index) << reply.second.dump();
    EXPECT_NEAR(results[i]["relevance_score"].get<double>(), direct->results[i].score, 1e-5);
  }
  EXPECT_EQ(reply.second["usage"]["total_tokens"].get<std::size_t>(), total);
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  const double batches = MetricValue(metrics->body, "sieve_rerank_batch_pairs_count");
  EXPECT_GE(batches, static_cast<double>((total + 2 * longest - 1) / (2 * longest)));
  EXPECT_LE(batches, 5);  // at least two pairs fit each batch
  EXPECT_EQ(MetricValue(metrics->body, "sieve_rerank_batch_pairs_sum"), 9);
}

// Past max_queue waiting rerank requests the server answers 429 with Retry-After; the rerank
// span records the request's time in the batcher.
TEST_F(ServerTest, RerankQueueFullAnswers429WithRetryAfter) {
  RecordingTracer recorder;
  ServerOptions options;
  options.max_queue = 1;
  options.max_wait = std::chrono::milliseconds(1500);  // holds the first request in the queue
  options.tracer = &recorder;
  StartServer(options);
  const int port = server_->port();
  auto first = std::async(std::launch::async, [port] {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(30, 0);
    auto res = client.Post("/v1/rerank", json{{"query", "q"}, {"documents", {"a", "b"}}}.dump(),
                           "application/json");
    return res ? res->status : 0;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto busy = client_->Post("/v1/rerank", json{{"query", "q2"}, {"documents", {"c"}}}.dump(),
                            "application/json");
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 429) << busy->body;
  EXPECT_EQ(busy->get_header_value("Retry-After"), "1");
  EXPECT_EQ(json::parse(busy->body)["error"]["code"], "busy");
  EXPECT_EQ(first.get(), 200);
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("sieve_queue_rejected_total{queue=\"rerank\"} 1"),
            std::string::npos);
  // The served request's "rerank.batched" span is a child of its root span.
  const SpanData* root = nullptr;
  const auto spans = recorder.spans();
  for (const auto& s : spans) {
    if (s.name == "POST /v1/rerank" && s.status.ok()) {
      std::map<std::string, AttributeValue> attributes(s.attributes.begin(), s.attributes.end());
      if (std::get<std::int64_t>(attributes.at("http.response.status_code")) == 200) root = &s;
    }
  }
  ASSERT_NE(root, nullptr);
  bool batched = false;
  for (const auto& s : spans) {
    if (s.name == "rerank.batched" && s.parent_span_id == root->span_id) batched = true;
  }
  EXPECT_TRUE(batched);
}

TEST_F(ServerTest, MetricsAndOpenApi) {
  StartServer();
  ASSERT_EQ(Post("/v1/embeddings", json{{"input", "x"}}).first, 200);
  ASSERT_EQ(Post("/v1/query", json{{"query", "what is bm25"}}).first, 200);
  ASSERT_EQ(Post("/v1/embeddings", json{{"input", 1}}).first, 400);
  auto res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const std::string& m = res->body;
  EXPECT_NE(m.find("sieve_http_requests_total{endpoint=\"/v1/embeddings\",status=\"200\"} 1"),
            std::string::npos);
  EXPECT_NE(m.find("sieve_http_requests_total{endpoint=\"/v1/embeddings\",status=\"400\"} 1"),
            std::string::npos);
  EXPECT_NE(m.find("sieve_http_request_duration_seconds_count{endpoint=\"/v1/query\"} 1"),
            std::string::npos);
  EXPECT_NE(m.find("sieve_stage_duration_seconds_count{stage=\"retrieve\"}"), std::string::npos);
  EXPECT_NE(m.find("sieve_stage_duration_seconds_count{stage=\"generate\"}"), std::string::npos);
  EXPECT_NE(m.find("sieve_index_documents 4"), std::string::npos);
  EXPECT_NE(m.find("sieve_tokens_total{endpoint=\"embed\"}"), std::string::npos);

  auto spec = Get("/openapi.json");
  ASSERT_EQ(spec.first, 200);
  EXPECT_EQ(spec.second["openapi"], "3.0.3");
  for (const char* path :
       {"/v1/embeddings", "/embed", "/v1/rerank", "/rerank", "/tokenize", "/info", "/v1/query",
        "/v1/chat/completions", "/v1/documents", "/v1/documents/{id}", "/health", "/healthz",
        "/readyz", "/metrics", "/openapi.json", "/"}) {
    EXPECT_TRUE(spec.second["paths"].contains(path)) << path;
  }
  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("<title>Sieve</title>"), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos) << "the page loads nothing external";
  EXPECT_EQ(page->body.find("https://"), std::string::npos);
}

// The trace exporters' counters (what they delivered, failed and dropped) are in /metrics.
TEST_F(ServerTest, MetricsShowTheTraceExportersCounters) {
  ServerOptions options;
  options.trace_stats = [] {
    trace::ExporterStats stats;
    stats.spans_exported = 40;
    stats.spans_failed = 3;
    stats.spans_dropped = 7;
    stats.queue_size = 2;
    return stats;
  };
  StartServer(options);
  auto res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("\nsieve_trace_spans_exported_total 40\n"), std::string::npos);
  EXPECT_NE(res->body.find("\nsieve_trace_spans_failed_total 3\n"), std::string::npos);
  EXPECT_NE(res->body.find("\nsieve_trace_spans_dropped_total 7\n"), std::string::npos);
  EXPECT_NE(res->body.find("\nsieve_trace_queue_spans 2\n"), std::string::npos);
  StopServer();
  StartServer(ServerOptions{});  // no exporter: no trace counters
  res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body.find("sieve_trace_spans"), std::string::npos);
}

TEST_F(ServerTest, StopLetsRequestsInFlightFinish) {
  // A long wait for company holds an embedding request inside the server for 1.5 s.
  ServerOptions options;
  options.max_wait = std::chrono::milliseconds(1500);
  StartServer(options);
  const int port = server_->port();
  const auto start = std::chrono::steady_clock::now();
  auto in_flight = std::async(std::launch::async, [port] {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(30, 0);
    auto res = client.Post("/v1/embeddings", json{{"input", "held"}}.dump(), "application/json");
    return res ? res->status : 0;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  StopServer();  // returns once the request in flight is answered
  EXPECT_EQ(in_flight.get(), 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1400));
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(1, 0);
  EXPECT_FALSE(after.Get("/healthz"));
}

TEST(EmbedBatcherTest, FullQueueAnswersBusy) {
  const fs::path dir = fs::temp_directory_path() / ("sieve-batcher-" + std::to_string(::getpid()));
  config::Config config;
  config.index.dir = (dir / "idx").string();
  config.models.embed = (kModels / "tiny-bge").string();
  auto engine = Engine::Open(config);
  ASSERT_TRUE(engine.ok());
  Metrics metrics;
  // A long wait for company keeps the first request queued while the second arrives.
  EmbedBatcher batcher(**engine,
                       BatcherOptions{.max_batch_tokens = 100000,
                                      .max_wait = std::chrono::milliseconds(1500),
                                      .max_queue = 1,
                                      .workers = 1},
                       metrics);
  auto first = std::async(std::launch::async, [&] {
    RequestContext ctx;
    return batcher.Embed({"one"}, {3}, false, ctx).ok();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  RequestContext ctx;
  auto second = batcher.Embed({"two"}, {3}, false, ctx);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kBusy);
  EXPECT_TRUE(first.get());
  // With the queue free again it is served; a passed deadline gives kTimeout.
  EXPECT_TRUE(batcher.Embed({"three"}, {3}, false, ctx).ok());
  RequestContext late;
  late.set_timeout(std::chrono::milliseconds(100));
  auto timed_out = batcher.Embed({"four"}, {3}, false, late);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.status().code(), StatusCode::kTimeout);
  batcher.Stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// A request whose deadline passes while its pairs wait gets kTimeout and its pairs are skipped;
// the next request is served with the engine's scores; an engine error reaches every request of
// the batch.
TEST(RerankBatcherTest, DeadlinePassedAndEngineErrors) {
  const fs::path dir =
      fs::temp_directory_path() / ("sieve-rerank-batcher-" + std::to_string(::getpid()));
  config::Config config;
  config.index.dir = (dir / "idx").string();
  config.models.rerank = (kModels / "tiny-ms-marco").string();
  auto engine = Engine::Open(config);
  ASSERT_TRUE(engine.ok());
  Metrics metrics;
  RerankBatcher batcher(**engine,
                        BatcherOptions{.max_batch_tokens = 100000,
                                       .max_wait = std::chrono::milliseconds(600),
                                       .max_queue = 4,
                                       .workers = 1},
                        metrics);
  RequestContext late;
  late.set_timeout(std::chrono::milliseconds(100));
  auto timed_out = batcher.Rerank({.query = "q", .documents = {"a", "b"}}, {4, 4}, late);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.status().code(), StatusCode::kTimeout);
  RequestContext ctx;
  const RerankRequest request{.query = "wing lift",
                              .documents = {"boiling water", "the lift of a wing", "snow"},
                              .top_n = 2};
  auto served = batcher.Rerank(request, {6, 9, 5}, ctx);
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  auto direct = (*engine)->Rerank(request, ctx);
  ASSERT_TRUE(direct.ok());
  ASSERT_EQ(served->results.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(served->results[i].index, direct->results[i].index);
    EXPECT_NEAR(served->results[i].logit, direct->results[i].logit, 1e-5);
  }
  EXPECT_EQ(served->tokens, 20u);
  // Only the served pairs were scored: the abandoned ones were dropped from the queue.
  const std::string page = metrics.Render({});
  EXPECT_NE(page.find("\nsieve_rerank_batch_pairs_sum 3\n"), std::string::npos) << page;
  batcher.Stop();

  config.models.rerank = (dir / "no-such-model").string();
  auto broken = Engine::Open(config);
  ASSERT_TRUE(broken.ok());
  RerankBatcher failing(**broken, BatcherOptions{}, metrics);
  auto failed = failing.Rerank({.query = "q", .documents = {"a"}}, {4}, ctx);
  EXPECT_FALSE(failed.ok());
  failing.Stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace sieve::server
