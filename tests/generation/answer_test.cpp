#include "generation/answer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fake_llm_server.h"
#include "generation/extractive.h"
#include "models/encoder.h"

namespace sieve::generation {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FakeLlmServer;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

std::vector<Passage> SamplePassages() {
  std::vector<Passage> passages(3);
  passages[0].chunk_id = 10;
  passages[0].source_path = "docs/flow.md";
  passages[0].section = "Boundary layers";
  passages[0].begin = 0;
  passages[0].end = 80;
  passages[0].text = "The boundary layer separates when the pressure gradient is adverse.";
  passages[1].chunk_id = 11;
  passages[1].source_path = "papers/heat.pdf";
  passages[1].page = 7;
  passages[1].begin = 1200;
  passages[1].end = 1400;
  passages[1].text = "Heat transfer rises sharply at the separation point.";
  passages[2].chunk_id = 12;
  passages[2].source_path = "notes/misc.txt";
  passages[2].text = "Unrelated remarks about the weather.";
  return passages;
}

GenerationOptions OptionsFor(const FakeLlmServer& server) {
  GenerationOptions options;
  options.llm.base_url = server.base_url();
  options.llm.model = "fake-model";
  options.llm.initial_backoff = milliseconds(1);
  options.llm.max_retries = 1;
  options.llm.timeout = milliseconds(5000);
  return options;
}

constexpr std::string_view kQuestion = "When does the boundary layer separate?";

TEST(GenerateAnswerTest, LlmAnswerKeepsOnlyTheCitedPassagesWithTheirSources) {
  FakeLlmServer server([](int, const httplib::Request& req, httplib::Response& res) {
    nlohmann::json body = nlohmann::json::parse(req.body);
    std::string user = body["messages"][1]["content"];
    EXPECT_THAT(user, HasSubstr("[2] papers/heat.pdf, page 7"));
    res.set_content(
        testing::CompletionBody("It separates under an adverse pressure gradient [1], where heat "
                                "transfer peaks [2][1]."),
        "application/json");
  });
  Result<Answer> answer = GenerateAnswer(kQuestion, SamplePassages(), OptionsFor(server));
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_FALSE(answer->extractive);
  EXPECT_EQ(answer->model, "fake-model");
  EXPECT_THAT(answer->text, StartsWith("It separates"));
  ASSERT_EQ(answer->citations.size(), 2u);
  EXPECT_EQ(answer->citations[0].number, 1u);
  EXPECT_EQ(answer->citations[0].passage.source_path, "docs/flow.md");
  EXPECT_EQ(answer->citations[0].passage.section, "Boundary layers");
  EXPECT_EQ(answer->citations[1].number, 2u);
  EXPECT_EQ(answer->citations[1].passage.page, 7);
  EXPECT_EQ(answer->citations[1].passage.begin, 1200u);
  EXPECT_EQ(answer->citations[1].passage.end, 1400u);
  EXPECT_EQ(answer->citations[1].passage.chunk_id, 11);
  // An LLM cites passages by their position in the prompt: number and rank agree.
  EXPECT_EQ(answer->citations[1].rank, 2u);
  EXPECT_EQ(answer->usage.total_tokens, 18u);
  EXPECT_EQ(answer->passages_in_context, 3u);
  EXPECT_THAT(answer->notes, IsEmpty());
}

TEST(GenerateAnswerTest, StreamsThroughTheCallback) {
  FakeLlmServer server([](int, const httplib::Request& req, httplib::Response& res) {
    EXPECT_EQ(nlohmann::json::parse(req.body)["stream"], true);
    res.set_content(testing::SseBody({testing::DeltaChunk("Adverse gradients"),
                                      testing::DeltaChunk(" [1]."), "[DONE]"}),
                    "text/event-stream");
  });
  std::vector<std::string> pieces;
  Result<Answer> answer =
      GenerateAnswer(kQuestion, SamplePassages(), OptionsFor(server), nullptr,
                     [&pieces](std::string_view piece) { pieces.emplace_back(piece); });
  ASSERT_TRUE(answer.ok());
  EXPECT_THAT(pieces, ElementsAre("Adverse gradients", " [1]."));
  EXPECT_EQ(answer->text, "Adverse gradients [1].");
  ASSERT_EQ(answer->citations.size(), 1u);
}

TEST(GenerateAnswerTest, NotesDroppedPassagesUnknownCitationsAndMissingCitations) {
  FakeLlmServer server([](int, const httplib::Request& req, httplib::Response& res) {
    std::string user = nlohmann::json::parse(req.body)["messages"][1]["content"];
    EXPECT_THAT(user, Not(HasSubstr("[3]")));  // dropped for the budget
    res.set_content(testing::CompletionBody("Something [3]."), "application/json");
  });
  GenerationOptions options = OptionsFor(server);
  // Counting words, the passage blocks are 15, 12 and 7 tokens: the first two fit in 30.
  options.count_tokens = [](std::string_view text) {
    std::size_t words = 0;
    bool in_word = false;
    for (char c : text) {
      bool space = c == ' ' || c == '\n';
      if (!space && !in_word) ++words;
      in_word = !space;
    }
    return words;
  };
  options.context_token_budget = 30;
  Result<Answer> answer = GenerateAnswer(kQuestion, SamplePassages(), options);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->passages_in_context, 2u);
  EXPECT_THAT(answer->citations, IsEmpty());
  EXPECT_THAT(answer->notes,
              ElementsAre(HasSubstr("1 lowest-ranked passage(s) left out to fit the 30-token"),
                          HasSubstr("cites [3], which are not among the 2 passages"),
                          HasSubstr("cites no passage")));
}

TEST(GenerateAnswerTest, TimeoutFallsBackToAnExtractiveAnswerThatSaysWhy) {
  FakeLlmServer* self = nullptr;
  FakeLlmServer server([&self](int, const httplib::Request&, httplib::Response& res) {
    self->SleepUnlessStopping(milliseconds(3000));
    res.set_content(testing::CompletionBody("late"), "application/json");
  });
  self = &server;
  GenerationOptions options = OptionsFor(server);
  options.llm.timeout = milliseconds(200);
  Result<Answer> answer = GenerateAnswer(kQuestion, SamplePassages(), options);
  ASSERT_TRUE(answer.ok());
  EXPECT_TRUE(answer->extractive);
  EXPECT_THAT(answer->text, StartsWith(kExtractivePrefix));
  EXPECT_THAT(answer->text, HasSubstr("boundary layer separates"));
  EXPECT_THAT(answer->notes, Contains(AllOf(HasSubstr("LLM unavailable: Timeout"),
                                            HasSubstr("extractive answer"))));
  ASSERT_FALSE(answer->citations.empty());
  EXPECT_EQ(answer->citations[0].number, 1u);
  EXPECT_EQ(server.requests(), 1);
}

TEST(GenerateAnswerTest, StreamBreakingMidwayFallsBackAndSaysTheStreamedTextWasIncomplete) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(testing::SseBody({testing::DeltaChunk("Partial"), "not json"}),
                    "text/event-stream");
  });
  std::string streamed;
  Result<Answer> answer = GenerateAnswer(kQuestion, SamplePassages(), OptionsFor(server), nullptr,
                                         [&streamed](std::string_view p) { streamed += p; });
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(streamed, "Partial");
  EXPECT_TRUE(answer->extractive);
  EXPECT_THAT(answer->notes, Contains(HasSubstr("LLM failed: InvalidInput")));
  EXPECT_THAT(answer->notes, Contains(HasSubstr("streamed LLM text was incomplete")));
}

TEST(GenerateAnswerTest, EmptyLlmAnswerFallsBack) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(testing::CompletionBody("  "), "application/json");
  });
  Result<Answer> answer = GenerateAnswer(kQuestion, SamplePassages(), OptionsFor(server));
  ASSERT_TRUE(answer.ok());
  EXPECT_TRUE(answer->extractive);
  EXPECT_THAT(answer->notes, Contains(HasSubstr("empty answer")));
}

TEST(GenerateAnswerTest, NoLlmConfiguredGivesALabelledExtractiveAnswer) {
  Result<Answer> answer = GenerateAnswer(kQuestion, SamplePassages(), GenerationOptions{});
  ASSERT_TRUE(answer.ok());
  EXPECT_TRUE(answer->extractive);
  EXPECT_EQ(answer->model, "extractive (lexical)");
  EXPECT_THAT(answer->text, StartsWith(kExtractivePrefix));
  EXPECT_THAT(answer->notes, ElementsAre(HasSubstr("no LLM configured")));
}

class FakeCrossEncoder final : public models::CrossEncoder {
 public:
  Result<std::vector<models::CrossEncoderScore>> Score(
      std::string_view, const std::vector<std::string>& passages) override {
    if (fail) return Status::Unavailable("model file missing");
    std::vector<models::CrossEncoderScore> scores;
    for (const std::string& p : passages)
      scores.push_back({p.find("Heat") != std::string::npos ? 0.95f : 0.05f, 0.0f});
    return scores;
  }
  const models::ModelInfo& info() const override { return info_; }
  bool fail = false;

 private:
  models::ModelInfo info_{"fake/ce"};
};

TEST(GenerateAnswerTest, ExtractiveFallbackUsesTheCrossEncoderWhenGiven) {
  FakeCrossEncoder cross_encoder;
  GenerationOptions options;
  options.extractive_sentences = 1;
  Result<Answer> answer = GenerateAnswer(kQuestion, SamplePassages(), options, &cross_encoder);
  ASSERT_TRUE(answer.ok());
  // The second passage's sentence, cited as [1] (no gaps), with its rank 2.
  EXPECT_EQ(answer->text, std::string(kExtractivePrefix) +
                              "Heat transfer rises sharply at the separation point. [1]");
  ASSERT_EQ(answer->citations.size(), 1u);
  EXPECT_EQ(answer->citations[0].number, 1u);
  EXPECT_EQ(answer->citations[0].rank, 2u);
  EXPECT_EQ(answer->citations[0].passage.chunk_id, 11);
  EXPECT_EQ(answer->model, "extractive (cross-encoder fake/ce)");
}

TEST(GenerateAnswerTest, FailingCrossEncoderFallsBackToLexicalScoringAndSaysSo) {
  FakeCrossEncoder cross_encoder;
  cross_encoder.fail = true;
  GenerationOptions options;
  options.extractive_sentences = 1;
  Result<Answer> answer = GenerateAnswer(kQuestion, SamplePassages(), options, &cross_encoder);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->model, "extractive (lexical)");
  EXPECT_THAT(answer->text, HasSubstr("boundary layer separates"));
  EXPECT_THAT(answer->notes, Contains(HasSubstr("model file missing")));
}

TEST(GenerateAnswerTest, ZeroPassagesIsAnAnswerNotAnErrorAndTheLlmIsNotAsked) {
  FakeLlmServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(testing::CompletionBody("made up"), "application/json");
  });
  Result<Answer> answer = GenerateAnswer(kQuestion, {}, OptionsFor(server));
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->text, kNoPassagesAnswer);
  EXPECT_THAT(answer->citations, IsEmpty());
  EXPECT_THAT(answer->notes, Contains(HasSubstr("LLM not asked")));
  EXPECT_EQ(server.requests(), 0);
}

TEST(AnswerJsonTest, CarriesTextCitationsWithSourcesAndOnlyTheScoresThatWereSet) {
  Answer answer;
  answer.text = "Yes [1].";
  answer.model = "m";
  answer.notes = {"a note"};
  Citation citation;
  citation.number = 1;
  citation.rank = 2;
  citation.passage = SamplePassages()[1];
  citation.passage.line = 12;
  citation.passage.line_end = 14;
  citation.passage.scores.bm25 = 7.5;
  citation.passage.scores.bm25_rank = 2;
  citation.passage.scores.rerank = 0.875;
  answer.citations.push_back(citation);
  nlohmann::json json = AnswerToJson(answer);
  EXPECT_EQ(json["answer"], "Yes [1].");
  EXPECT_EQ(json["extractive"], false);
  EXPECT_EQ(json["notes"], nlohmann::json::array({"a note"}));
  ASSERT_EQ(json["citations"].size(), 1u);
  const nlohmann::json& cited = json["citations"][0];
  EXPECT_EQ(cited["number"], 1);
  EXPECT_EQ(cited["rank"], 2);
  EXPECT_EQ(cited["line"], 12);
  EXPECT_EQ(cited["line_end"], 14);
  EXPECT_EQ(cited["source_path"], "papers/heat.pdf");
  EXPECT_EQ(cited["page"], 7);
  EXPECT_EQ(cited["begin"], 1200);
  EXPECT_EQ(cited["end"], 1400);
  EXPECT_EQ(cited["scores"], nlohmann::json({{"bm25", 7.5}, {"bm25_rank", 2}, {"rerank", 0.875}}));
}

TEST(GenerateAnswerTest, EmptyQuestionIsAUsageError) {
  Result<Answer> answer = GenerateAnswer("  \n", SamplePassages(), GenerationOptions{});
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sieve::generation
