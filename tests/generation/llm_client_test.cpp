#include "generation/llm_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fake_llm_server.h"

namespace sieve::generation {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using testing::FakeLlmServer;
using ::testing::HasSubstr;

LlmOptions OptionsFor(const FakeLlmServer& server) {
  LlmOptions options;
  options.base_url = server.base_url();
  options.model = "fake-model";
  options.connect_timeout = milliseconds(2000);
  options.timeout = milliseconds(5000);
  options.max_retries = 2;
  options.initial_backoff = milliseconds(5);
  options.max_backoff = milliseconds(2000);
  return options;
}

const std::vector<ChatMessage> kMessages = {{"system", "Be brief."}, {"user", "Question?"}};

// Serves `body` as an event stream, in pieces of `piece_size` bytes (so events straddle writes).
void ServeStream(httplib::Response& res, std::string body, std::size_t piece_size = 7) {
  res.set_chunked_content_provider("text/event-stream", [body = std::move(body), piece_size](
                                                            std::size_t, httplib::DataSink& sink) {
    for (std::size_t i = 0; i < body.size(); i += piece_size) {
      std::string piece = body.substr(i, piece_size);
      if (!sink.write(piece.data(), piece.size())) return false;
    }
    sink.done();
    return true;
  });
}

TEST(LlmClientTest, NonStreamingParsesMessageContentAndUsageAndSendsTheRequest) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(testing::CompletionBody("Paris [1]."), "application/json");
  });
  LlmOptions options = OptionsFor(server);
  options.api_key = "sk-test";
  options.temperature = 0.25;
  options.max_tokens = 77;
  Result<ChatResponse> response = LlmClient(options).Complete(kMessages);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->content, "Paris [1].");
  EXPECT_EQ(response->model, "fake-model");
  EXPECT_EQ(response->finish_reason, "stop");
  EXPECT_EQ(response->usage.prompt_tokens, 11u);
  EXPECT_EQ(response->usage.completion_tokens, 7u);
  EXPECT_EQ(response->usage.total_tokens, 18u);
  EXPECT_EQ(response->attempts, 1);

  ASSERT_EQ(server.bodies().size(), 1u);
  nlohmann::json sent = nlohmann::json::parse(server.bodies()[0]);
  EXPECT_EQ(sent["model"], "fake-model");
  EXPECT_EQ(sent["stream"], false);
  EXPECT_EQ(sent["max_tokens"], 77);
  EXPECT_DOUBLE_EQ(sent["temperature"].get<double>(), 0.25);
  ASSERT_EQ(sent["messages"].size(), 2u);
  EXPECT_EQ(sent["messages"][0]["role"], "system");
  EXPECT_EQ(sent["messages"][1]["content"], "Question?");
  EXPECT_THAT(server.authorization_headers(), ElementsAre("Bearer sk-test"));
}

TEST(LlmClientTest, NoApiKeyMeansNoAuthorizationHeader) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(testing::CompletionBody("ok"), "application/json");
  });
  ASSERT_TRUE(LlmClient(OptionsFor(server)).Complete(kMessages).ok());
  EXPECT_THAT(server.authorization_headers(), ElementsAre(""));
}

TEST(LlmClientTest, StreamedTokensArriveInOrderAndAssembleTheAnswer) {
  FakeLlmServer server([](int, const httplib::Request& req, httplib::Response& res) {
    nlohmann::json role = {{"model", "fake-model"},
                           {"choices", {{{"index", 0}, {"delta", {{"role", "assistant"}}}}}}};
    nlohmann::json finish = {
        {"model", "fake-model"},
        {"choices",
         {{{"index", 0}, {"delta", nlohmann::json::object()}, {"finish_reason", "stop"}}}}};
    nlohmann::json usage = {{"model", "fake-model"},
                            {"choices", nlohmann::json::array()},
                            {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 4}}}};
    std::string body =
        ": keep-alive comment\n\n" +
        testing::SseBody({role.dump(), testing::DeltaChunk("The"), testing::DeltaChunk(" answer"),
                          testing::DeltaChunk(" is"), testing::DeltaChunk(" 42 [1]."),
                          finish.dump(), usage.dump(), "[DONE]"});
    EXPECT_EQ(nlohmann::json::parse(req.body)["stream"], true);
    ServeStream(res, body);
  });
  LlmOptions options = OptionsFor(server);
  options.stream = true;
  std::vector<std::string> pieces;
  Result<ChatResponse> response = LlmClient(options).Complete(
      kMessages, [&pieces](std::string_view piece) { pieces.emplace_back(piece); });
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_THAT(pieces, ElementsAre("The", " answer", " is", " 42 [1]."));
  EXPECT_EQ(response->content, "The answer is 42 [1].");
  EXPECT_EQ(response->finish_reason, "stop");
  EXPECT_EQ(response->usage.prompt_tokens, 5u);
  EXPECT_EQ(response->usage.total_tokens, 9u);
}

TEST(LlmClientTest, StreamWithCrLfLineEndingsIsParsed) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    ServeStream(res, "data: " + testing::DeltaChunk("a") + "\r\n\r\ndata: " +
                         testing::DeltaChunk("b") + "\r\n\r\ndata: [DONE]\r\n\r\n");
  });
  LlmOptions options = OptionsFor(server);
  options.stream = true;
  Result<ChatResponse> response = LlmClient(options).Complete(kMessages);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->content, "ab");
}

TEST(LlmClientTest, ServerErrorThenSuccessIsRetried) {
  FakeLlmServer server([](int number, const httplib::Request&, httplib::Response& res) {
    if (number == 0) {
      res.status = 500;
      res.set_content(R"({"error":{"message":"model is loading"}})", "application/json");
      return;
    }
    res.set_content(testing::CompletionBody("second time lucky"), "application/json");
  });
  Result<ChatResponse> response = LlmClient(OptionsFor(server)).Complete(kMessages);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->content, "second time lucky");
  EXPECT_EQ(response->attempts, 2);
  EXPECT_EQ(server.requests(), 2);
}

TEST(LlmClientTest, PersistentServerErrorGivesUpAfterTheRetriesWithTheServersMessage) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content(R"({"error":{"message":"overloaded"}})", "application/json");
  });
  Result<ChatResponse> response = LlmClient(OptionsFor(server)).Complete(kMessages);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("HTTP 503"));
  EXPECT_THAT(response.status().message(), HasSubstr("overloaded"));
  EXPECT_THAT(response.status().message(), HasSubstr("after 3 attempts"));
  EXPECT_EQ(server.requests(), 3);  // 1 + max_retries
}

TEST(LlmClientTest, RateLimitHonoursRetryAfter) {
  FakeLlmServer server([](int number, const httplib::Request&, httplib::Response& res) {
    if (number == 0) {
      res.status = 429;
      res.set_header("Retry-After", "1");
      res.set_content(R"({"error":{"message":"slow down"}})", "application/json");
      return;
    }
    res.set_content(testing::CompletionBody("ok"), "application/json");
  });
  auto start = std::chrono::steady_clock::now();
  Result<ChatResponse> response = LlmClient(OptionsFor(server)).Complete(kMessages);
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(server.requests(), 2);
  // The backoff alone would be ~5 ms; the server asked for a second.
  EXPECT_GE(waited, milliseconds(900));
}

TEST(LlmClientTest, RetryAfterBeyondTheLimitGivesUpAndSaysWhy) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "3600");
    res.set_content("rate limited", "text/plain");
  });
  Result<ChatResponse> response = LlmClient(OptionsFor(server)).Complete(kMessages);
  ASSERT_FALSE(response.ok());
  EXPECT_THAT(response.status().message(), HasSubstr("retry after 3600s"));
  EXPECT_EQ(server.requests(), 1);
}

TEST(LlmClientTest, BadApiKeyIsAClearErrorWithoutRetries) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 401;
    res.set_content(R"({"error":{"message":"Incorrect API key provided"}})", "application/json");
  });
  LlmOptions options = OptionsFor(server);
  options.api_key = "wrong";
  Result<ChatResponse> response = LlmClient(options).Complete(kMessages);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("rejected the API key (HTTP 401)"));
  EXPECT_THAT(response.status().message(), HasSubstr("Incorrect API key provided"));
  EXPECT_EQ(server.requests(), 1);
}

TEST(LlmClientTest, NotFoundHintsAtUrlAndModelWithoutRetries) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(R"({"error":"model 'nope' not found"})", "application/json");
  });
  Result<ChatResponse> response = LlmClient(OptionsFor(server)).Complete(kMessages);
  ASSERT_FALSE(response.ok());
  EXPECT_THAT(response.status().message(), HasSubstr("check the base URL and the model name"));
  EXPECT_THAT(response.status().message(), HasSubstr("model 'nope' not found"));
  EXPECT_EQ(server.requests(), 1);
}

TEST(LlmClientTest, SlowServerGivesATimeoutWithoutRetrying) {
  FakeLlmServer* self = nullptr;
  FakeLlmServer server([&self](int, const httplib::Request&, httplib::Response& res) {
    self->SleepUnlessStopping(milliseconds(3000));
    res.set_content(testing::CompletionBody("too late"), "application/json");
  });
  self = &server;
  LlmOptions options = OptionsFor(server);
  options.timeout = milliseconds(300);
  Result<ChatResponse> response = LlmClient(options).Complete(kMessages);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kTimeout);
  EXPECT_THAT(response.status().message(), HasSubstr("0.3s"));
  EXPECT_EQ(server.requests(), 1);
}

TEST(LlmClientTest, ConnectionRefusedIsRetriedThenUnavailable) {
  int unused_port = 0;
  {
    FakeLlmServer closed([](int, const httplib::Request&, httplib::Response&) {});
    unused_port = closed.port();
  }
  LlmOptions options;
  options.base_url = "http://127.0.0.1:" + std::to_string(unused_port) + "/v1";
  options.model = "m";
  options.initial_backoff = milliseconds(1);
  options.max_retries = 1;
  Result<ChatResponse> response = LlmClient(options).Complete(kMessages);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("cannot reach the server"));
  EXPECT_THAT(response.status().message(), HasSubstr("after 2 attempts"));
}

struct MalformedStreamCase {
  std::string name;
  std::string body;
  std::string expected_message;
};

void PrintTo(const MalformedStreamCase& c, std::ostream* os) {
  *os << c.name;
}

class MalformedStreamTest : public ::testing::TestWithParam<MalformedStreamCase> {};

TEST_P(MalformedStreamTest, IsAClearInvalidInputErrorNotRetried) {
  const MalformedStreamCase& param = GetParam();
  FakeLlmServer server([&param](int, const httplib::Request&, httplib::Response& res) {
    ServeStream(res, param.body);
  });
  LlmOptions options = OptionsFor(server);
  options.stream = true;
  std::string streamed;
  Result<ChatResponse> response = LlmClient(options).Complete(
      kMessages, [&streamed](std::string_view piece) { streamed += piece; });
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kInvalidInput) << response.status().ToString();
  EXPECT_THAT(response.status().message(), HasSubstr(param.expected_message));
  EXPECT_EQ(server.requests(), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Streams, MalformedStreamTest,
    ::testing::Values(
        MalformedStreamCase{"GarbageData", testing::SseBody({"this is not json", "[DONE]"}),
                            "data is not a JSON object"},
        MalformedStreamCase{"GarbageLine", "hello there\n\n", "unexpected line"},
        MalformedStreamCase{
            "MissingDone",
            testing::SseBody({testing::DeltaChunk("partial"), testing::DeltaChunk(" answer")}),
            "ended without \"data: [DONE]\" after 2 chunk(s)"},
        MalformedStreamCase{
            "TruncatedJson",
            "data: " + testing::DeltaChunk("ok") + "\n\ndata: {\"choices\":[{\"delta\"",
            "data is not a JSON object"},
        MalformedStreamCase{"NoChoices", testing::SseBody({R"({"id":"x"})", "[DONE]"}),
                            "chunk has no choices"},
        MalformedStreamCase{"DataAfterDone",
                            testing::SseBody({"[DONE]", testing::DeltaChunk("late")}),
                            "data after [DONE]"}),
    [](const ::testing::TestParamInfo<MalformedStreamCase>& info) { return info.param.name; });

TEST(LlmClientTest, MalformedJsonBodyIsAClearError) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"choices\": [", "application/json");
  });
  Result<ChatResponse> response = LlmClient(OptionsFor(server)).Complete(kMessages);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(response.status().message(), HasSubstr("not valid JSON"));
  EXPECT_EQ(server.requests(), 1);
}

TEST(LlmClientTest, JsonWithoutMessageContentIsAClearError) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"choices":[{"index":0,"text":"legacy"}]})", "application/json");
  });
  Result<ChatResponse> response = LlmClient(OptionsFor(server)).Complete(kMessages);
  ASSERT_FALSE(response.ok());
  EXPECT_THAT(response.status().message(), HasSubstr("choices[0].message.content"));
}

TEST(LlmClientTest, ServerIgnoringStreamStillAnswersThroughTheCallback) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(testing::CompletionBody("whole answer"), "application/json");
  });
  LlmOptions options = OptionsFor(server);
  options.stream = true;
  std::vector<std::string> pieces;
  Result<ChatResponse> response = LlmClient(options).Complete(
      kMessages, [&pieces](std::string_view piece) { pieces.emplace_back(piece); });
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_THAT(pieces, ElementsAre("whole answer"));
}

TEST(LlmClientTest, MissingUrlOrModelIsAUsageError) {
  LlmOptions options;
  EXPECT_EQ(LlmClient(options).Complete(kMessages).status().code(), StatusCode::kInvalidArgument);
  options.base_url = "http://127.0.0.1:1/v1";
  Result<ChatResponse> response = LlmClient(options).Complete(kMessages);
  EXPECT_EQ(response.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(response.status().message(), HasSubstr("no LLM model"));
}

TEST(LlmClientTest, ParseRetryAfterReadsSecondsAndHttpDates) {
  EXPECT_EQ(ParseRetryAfter("2"), milliseconds(2000));
  EXPECT_EQ(ParseRetryAfter(" 0 "), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), milliseconds(0));  // in the past
  std::optional<milliseconds> future = ParseRetryAfter("Fri, 01 Jan 2100 00:00:00 GMT");
  ASSERT_TRUE(future.has_value());
  EXPECT_GT(*future, milliseconds(0));
  EXPECT_FALSE(ParseRetryAfter("soon").has_value());
  EXPECT_FALSE(ParseRetryAfter("").has_value());
}

TEST(LlmClientTest, PresetsCoverTheKnownServers) {
  ASSERT_NE(FindLlmPreset("ollama"), nullptr);
  EXPECT_EQ(FindLlmPreset("ollama")->base_url, "http://localhost:11434/v1");
  EXPECT_EQ(FindLlmPreset("tgi")->base_url, "http://localhost:8080/v1");
  EXPECT_EQ(FindLlmPreset("vllm")->base_url, "http://localhost:8000/v1");
  EXPECT_EQ(FindLlmPreset("llamacpp")->base_url, "http://localhost:8080/v1");
  EXPECT_EQ(FindLlmPreset("openai")->base_url, "https://api.openai.com/v1");
  EXPECT_EQ(FindLlmPreset("nonsense"), nullptr);
  EXPECT_EQ(LlmPresets().size(), 5u);
}

}  // namespace
}  // namespace sieve::generation

namespace sieve::generation {
namespace {

std::map<std::string, AttributeValue> Attributes(const SpanData& span) {
  return {span.attributes.begin(), span.attributes.end()};
}

TEST(LlmClientTest, ACompletionIsAnOpenInferenceLlmSpanAroundTheHttpSpan) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(testing::CompletionBody("Paris [1]."), "application/json");
  });
  RecordingTracer tracer;
  RequestContext ctx;
  ctx.set_tracer(&tracer);
  ASSERT_TRUE(LlmClient(OptionsFor(server)).Complete(kMessages, {}, &ctx).ok());
  const auto spans = tracer.spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].name, "http POST");
  const SpanData& llm = spans[1];
  EXPECT_EQ(llm.kind, SpanKind::kLlm);
  EXPECT_EQ(spans[0].parent_span_id, llm.span_id);
  auto a = Attributes(llm);
  EXPECT_EQ(std::get<std::string>(a.at("llm.model_name")), "fake-model");
  EXPECT_EQ(std::get<std::string>(a.at("llm.provider")), "openai");
  EXPECT_EQ(std::get<std::string>(a.at("llm.input_messages.0.message.role")), "system");
  EXPECT_EQ(std::get<std::string>(a.at("llm.input_messages.1.message.content")), "Question?");
  EXPECT_EQ(std::get<std::string>(a.at("llm.output_messages.0.message.content")), "Paris [1].");
  EXPECT_EQ(std::get<std::string>(a.at("output.value")), "Paris [1].");
  EXPECT_EQ(std::get<std::int64_t>(a.at("llm.token_count.prompt")), 11);
  EXPECT_EQ(std::get<std::int64_t>(a.at("llm.token_count.completion")), 7);
  EXPECT_EQ(std::get<std::int64_t>(a.at("llm.token_count.total")), 18);
  const auto params =
      nlohmann::json::parse(std::get<std::string>(a.at("llm.invocation_parameters")));
  EXPECT_EQ(params.at("max_tokens"), OptionsFor(server).max_tokens);
}

// A tracer that keeps names and timings only: no LLM span attributes are built.
class TimingOnly : public RecordingTracer {
 public:
  bool records_attributes() const override { return false; }
};

TEST(LlmClientTest, ATimingOnlyTracerGetsNoLlmSpan) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(testing::CompletionBody("Paris [1]."), "application/json");
  });
  TimingOnly tracer;
  RequestContext ctx;
  ctx.set_tracer(&tracer);
  EXPECT_FALSE(ctx.recording());
  ASSERT_TRUE(LlmClient(OptionsFor(server)).Complete(kMessages, {}, &ctx).ok());
  const auto spans = tracer.spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "http POST");
  EXPECT_TRUE(spans[0].attributes.empty());  // SetAttribute drops them
}

}  // namespace
}  // namespace sieve::generation
