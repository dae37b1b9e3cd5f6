// Query rewriting through a scripted LLM: condensing a chat into a standalone question and
// multi-query expansion, with their spans.
#include "generation/query_rewrite.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fake_llm_server.h"

namespace sieve::generation {
namespace {

using nlohmann::json;
using testing::CompletionBody;
using testing::FakeLlmServer;

LlmOptions Options(const FakeLlmServer& server) {
  LlmOptions options;
  options.base_url = server.base_url();
  options.model = "rewriter";
  options.max_retries = 0;
  return options;
}

TEST(ParseExpansions, StripsMarkersQuotesDuplicatesAndTheQuestion) {
  const std::string reply =
      "Here are some versions:\n1. How do wings lift?\n2) \"What creates lift on a wing?\"\n"
      "- how do wings lift?\n* What is the boundary layer\nWhy do wings lift?\n\nextra one";
  EXPECT_EQ(ParseExpansions(reply, "Why do wings lift?", 3),
            (std::vector<std::string>{"How do wings lift?", "What creates lift on a wing?",
                                      "What is the boundary layer"}));
  EXPECT_TRUE(ParseExpansions("", "q", 3).empty());
}

TEST(ParseCondensed, TakesTheQuestionOnly) {
  EXPECT_EQ(ParseCondensed("  Standalone question: \"What is the license of SQLite?\"\n"),
            "What is the license of SQLite?");
  EXPECT_EQ(ParseCondensed("What is X?\nBecause the user asked about X."), "What is X?");
}

TEST(CondenseQuestion, SendsTheConversationAndReturnsTheRewrite) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(CompletionBody("What is the license of SQLite?"), "application/json");
  });
  LlmClient client(Options(server));
  RequestContext ctx;
  RecordingTracer tracer;
  ctx.set_tracer(&tracer);
  std::vector<ChatMessage> history{{"system", "be brief"},
                                   {"user", "What is SQLite?"},
                                   {"assistant", "An embedded SQL database."}};
  auto condensed = CondenseQuestion(client, history, "and its license?", &ctx);
  ASSERT_TRUE(condensed.ok()) << condensed.status().ToString();
  EXPECT_EQ(*condensed, "What is the license of SQLite?");
  ASSERT_EQ(server.requests(), 1);
  json body = json::parse(server.bodies()[0]);
  const std::string user = body["messages"][1]["content"].get<std::string>();
  EXPECT_NE(user.find("User: What is SQLite?\nAssistant: An embedded SQL database."),
            std::string::npos);
  EXPECT_NE(user.find("Follow-up question: and its license?"), std::string::npos);
  EXPECT_EQ(user.find("be brief"), std::string::npos);  // system turns are not conversation
  auto spans = tracer.spans();
  auto span = std::find_if(spans.begin(), spans.end(),
                           [](const SpanData& s) { return s.name == "query.condense"; });
  ASSERT_NE(span, spans.end());
  EXPECT_EQ(span->kind, SpanKind::kLlm);
  bool has_output = false;
  for (const auto& [key, value] : span->attributes) {
    if (key == "output.value") {
      has_output = std::get<std::string>(value) == "What is the license of SQLite?";
    }
  }
  EXPECT_TRUE(has_output);
}

TEST(CondenseQuestion, NoHistoryMeansNoCall) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(CompletionBody("rewritten"), "application/json");
  });
  LlmClient client(Options(server));
  auto same = CondenseQuestion(client, {{"system", "x"}}, "What is BM25?");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, "What is BM25?");
  EXPECT_EQ(server.requests(), 0);
}

TEST(CondenseQuestion, ServerErrorAndEmptyReplyAreErrors) {
  FakeLlmServer failing(
      [](int, const httplib::Request&, httplib::Response& res) { res.status = 500; });
  LlmClient client(Options(failing));
  auto failed = CondenseQuestion(client, {{"user", "a"}}, "b?");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);

  FakeLlmServer empty([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(CompletionBody("  \"\" "), "application/json");
  });
  LlmClient empty_client(Options(empty));
  auto nothing = CondenseQuestion(empty_client, {{"user", "a"}}, "b?");
  ASSERT_FALSE(nothing.ok());
  EXPECT_EQ(nothing.status().code(), StatusCode::kInvalidInput);
}

TEST(ExpandQuery, AsksForNAndParsesTheLines) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(CompletionBody("1. slip flow heat transfer\n2. heat transfer in rarefied gas\n"
                                   "3. surplus line"),
                    "application/json");
  });
  LlmClient client(Options(server));
  RequestContext ctx;
  RecordingTracer tracer;
  ctx.set_tracer(&tracer);
  auto queries = ExpandQuery(client, "heat transfer at low density", 2, &ctx);
  ASSERT_TRUE(queries.ok()) << queries.status().ToString();
  EXPECT_EQ(*queries,
            (std::vector<std::string>{"slip flow heat transfer", "heat transfer in rarefied gas"}));
  json body = json::parse(server.bodies()[0]);
  EXPECT_NE(body["messages"][1]["content"].get<std::string>().find("Write 2 alternative versions"),
            std::string::npos);
  auto spans = tracer.spans();
  EXPECT_TRUE(std::any_of(spans.begin(), spans.end(), [](const SpanData& s) {
    return s.name == "query.expand" && s.kind == SpanKind::kLlm;
  }));
  auto none = ExpandQuery(client, "q", 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(server.requests(), 1);
}

}  // namespace
}  // namespace sieve::generation
