// The request parsers of the server (server/requests.h), without a server: the refusals the
// handlers answer with, and the upload names they make safe.
#include "server/requests.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace sieve::server {
namespace {

using ::testing::HasSubstr;

template <typename T>
RequestError ErrorOf(const Parsed<T>& parsed) {
  const auto* e = std::get_if<RequestError>(&parsed);
  return e == nullptr ? RequestError{0, "", "accepted"} : *e;
}

TEST(RequestsTest, RefusalsCarryTheHandlersStatusAndCode) {
  RequestLimits limits;
  limits.max_inputs = 2;
  const std::set<std::string> models{"sieve"};
  limits.embed_models = &models;
  EXPECT_EQ(ErrorOf(ParseEmbeddingsBody("", limits)).status, 400);
  EXPECT_EQ(ErrorOf(ParseEmbeddingsBody("{", limits)).code, "invalid_json");
  EXPECT_EQ(ErrorOf(ParseEmbeddingsBody("[1]", limits)).code, "invalid_request");
  const RequestError model = ErrorOf(ParseEmbeddingsBody(R"({"model":"x","input":"a"})", limits));
  EXPECT_EQ(model.status, 404);
  EXPECT_EQ(model.code, "model_not_found");
  const RequestError many = ErrorOf(ParseEmbeddingsBody(R"({"input":["a","b","c"]})", limits));
  EXPECT_EQ(many.status, 413);
  EXPECT_EQ(many.code, "too_many_inputs");
  EXPECT_EQ(ErrorOf(ParseEmbeddingsBody(R"({"input":[1,2]})", limits)).code, "invalid_type");
  EXPECT_EQ(ErrorOf(ParseEmbeddingsBody(R"({"input":" "})", limits)).code, "empty_input");
  // A part of an unexpected shape deep inside is a 400, not an exception.
  const RequestError chat = ErrorOf(ParseChatBody(
      R"({"messages":[{"role":"user","content":[{"type":3,"text":"x"}]}]})", std::nullopt));
  EXPECT_EQ(chat.status, 400);
  EXPECT_THAT(chat.message, HasSubstr("malformed request"));
}

TEST(RequestsTest, RerankReadsBothShapes) {
  RequestLimits limits;
  auto cohere =
      ParseRerankBody(R"({"query":"q","documents":["a",{"text":"b"}],"top_n":1})", limits);
  ASSERT_TRUE(std::holds_alternative<RerankBody>(cohere));
  EXPECT_FALSE(std::get<RerankBody>(cohere).tei);
  EXPECT_EQ(std::get<RerankBody>(cohere).request.documents, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(std::get<RerankBody>(cohere).request.top_n, 1u);
  auto tei = ParseRerankBody(R"({"query":"q","texts":["a"],"raw_scores":true})", limits);
  ASSERT_TRUE(std::holds_alternative<RerankBody>(tei));
  EXPECT_TRUE(std::get<RerankBody>(tei).tei);
  EXPECT_TRUE(std::get<RerankBody>(tei).raw_scores);
}

TEST(RequestsTest, ChatTakesTheSessionFromTheBodyThenTheHeaderThenTheUser) {
  const std::string messages = R"("messages":[{"role":"user","content":"q"}])";
  auto header = ParseChatBody("{" + messages + R"(,"user":"u"})", std::string("h"));
  EXPECT_EQ(std::get<ChatBody>(header).ask.session_id, "h");
  auto user = ParseChatBody("{" + messages + R"(,"user":"u"})", std::nullopt);
  EXPECT_EQ(std::get<ChatBody>(user).ask.session_id, "u");
  auto body = ParseChatBody("{" + messages + R"(,"session_id":"b"})", std::string("h"));
  EXPECT_EQ(std::get<ChatBody>(body).ask.session_id, "b");
  EXPECT_EQ(ErrorOf(ParseChatBody("{" + messages + "}", std::string(300, 's'))).code,
            "invalid_value");
}

TEST(RequestsTest, UploadNamesAreMadeSafe) {
  EXPECT_EQ(SafeFileName("../../etc/passwd"), "passwd");
  EXPECT_EQ(SafeFileName("..."), "");
  EXPECT_EQ(SafeFileName("a b?.txt"), "a_b_.txt");
  // Cut to the last 120 bytes, which must not start a hidden file either.
  const std::string name = std::string(100, 'a') + "." + std::string(119, 'b');
  EXPECT_EQ(SafeFileName(name), std::string(119, 'b'));
  auto form = ParseDocumentsForm({{"file", "../x.txt", "text"}, {"tags", "", " a, ,b "}});
  ASSERT_TRUE(std::holds_alternative<DocumentsBody>(form));
  EXPECT_EQ(std::get<DocumentsBody>(form).uploads[0].name, "x.txt");
  EXPECT_EQ(std::get<DocumentsBody>(form).tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ErrorOf(ParseDocumentsForm({{"file", "..", "text"}})).code, "invalid_name");
  EXPECT_EQ(ErrorOf(ParseDocumentsForm({})).code, "invalid_request");
}

}  // namespace
}  // namespace sieve::server
