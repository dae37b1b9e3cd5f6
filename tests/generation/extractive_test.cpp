#include "generation/extractive.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "models/encoder.h"

namespace sieve::generation {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

Passage MakePassage(std::string path, std::size_t begin, std::string text) {
  Passage p;
  p.source_path = std::move(path);
  p.begin = begin;
  p.end = begin + text.size();
  p.text = std::move(text);
  return p;
}

std::vector<std::string> Texts(const std::vector<Sentence>& sentences) {
  std::vector<std::string> out;
  for (const Sentence& s : sentences) out.push_back(s.text);
  return out;
}

// Scores a sentence by how many times it contains "KEY", so tests choose the winners.
class KeywordScorer final : public SentenceScorer {
 public:
  Result<std::vector<double>> Score(std::string_view,
                                    const std::vector<std::string>& sentences) override {
    ++calls;
    std::vector<double> scores;
    for (const std::string& s : sentences) {
      double score = 0;
      for (std::size_t pos = s.find("KEY"); pos != std::string::npos; pos = s.find("KEY", pos + 1))
        score += 1;
      scores.push_back(score);
    }
    return scores;
  }
  std::string name() const override { return "keyword"; }
  int calls = 0;
};

TEST(SplitSentencesTest, SplitsAtSentenceEndsButNotAbbreviationsOrDecimals) {
  std::string text =
      "Dr. Smith measured 3.5 m/s. It was fast! Was it?  Yes, e.g. at noon.\n\n"
      "Heading without period\nJ. Doe agreed.";
  std::vector<Sentence> sentences = SplitSentences(text);
  EXPECT_THAT(Texts(sentences),
              ElementsAre("Dr. Smith measured 3.5 m/s.", "It was fast!", "Was it?",
                          "Yes, e.g. at noon.", "Heading without period\nJ. Doe agreed."));
  for (const Sentence& s : sentences) EXPECT_EQ(text.substr(s.begin, s.end - s.begin), s.text);
}

TEST(SplitSentencesTest, KeepsClosingQuotesAndDropsEmptyPieces) {
  EXPECT_THAT(Texts(SplitSentences("He said \"stop.\" Then left.")),
              ElementsAre("He said \"stop.\"", "Then left."));
  EXPECT_THAT(Texts(SplitSentences("  ...  \n\n -- \n\n")), IsEmpty());
  EXPECT_THAT(Texts(SplitSentences("no end mark")), ElementsAre("no end mark"));
}

TEST(LexicalScorerTest, RanksSentencesByOverlapWithTheQuestion) {
  std::unique_ptr<SentenceScorer> scorer = MakeLexicalScorer();
  EXPECT_EQ(scorer->name(), "lexical");
  std::vector<std::string> sentences = {
      "The weather was pleasant in the afternoon.",
      "Dense retrieval uses a bi-encoder to embed passages.",
      "Retrieving passages with BM25 is lexical retrieval.",
      "The of and the is.",
  };
  Result<std::vector<double>> scores =
      scorer->Score("What is lexical retrieval of passages?", sentences);
  ASSERT_TRUE(scores.ok());
  ASSERT_EQ(scores->size(), 4u);
  EXPECT_DOUBLE_EQ((*scores)[0], 0.0);
  EXPECT_DOUBLE_EQ((*scores)[3], 0.0);    // only stop words shared
  EXPECT_GT((*scores)[1], 0.0);           // "retrieval", "passages"
  EXPECT_GT((*scores)[2], (*scores)[1]);  // also "lexical", and "retrieving" ~ "retrieval"
}

TEST(LexicalScorerTest, RareTermsWeighMoreThanCommonOnes) {
  std::unique_ptr<SentenceScorer> scorer = MakeLexicalScorer();
  std::vector<std::string> sentences = {"flow flow", "flow", "flow", "flow", "shock"};
  Result<std::vector<double>> scores = scorer->Score("flow shock", sentences);
  ASSERT_TRUE(scores.ok());
  EXPECT_GT((*scores)[4], (*scores)[1]);
}

TEST(ExtractiveAnswerTest, PicksTheBestSentencesAndListsThemInDocumentOrder) {
  // Passage ranks: [1] b.md (later in its document), [2] a.md, [3] b.md (earlier).
  std::vector<Passage> passages = {
      MakePassage("b.md", 500, "Noise here. Second KEY KEY fact. More noise."),
      MakePassage("a.md", 0, "A KEY sentence from a. Filler."),
      MakePassage("b.md", 100, "First KEY KEY KEY fact. Filler again."),
  };
  KeywordScorer scorer;
  Result<Answer> answer = ExtractiveAnswer("q", passages, {3, 5}, scorer);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_TRUE(answer->extractive);
  EXPECT_EQ(answer->model, "extractive (keyword)");
  EXPECT_EQ(scorer.calls, 1);
  // b.md's best passage is ranked first, so b.md comes first; inside it, byte order. Citations
  // are numbered in the order the answer uses them; each keeps its passage's rank.
  EXPECT_EQ(answer->text,
            std::string(kExtractivePrefix) +
                "First KEY KEY KEY fact. [1] Second KEY KEY fact. [2] A KEY sentence from a. [3]");
  ASSERT_EQ(answer->citations.size(), 3u);
  EXPECT_EQ(answer->citations[0].number, 1u);
  EXPECT_EQ(answer->citations[0].rank, 3u);
  EXPECT_EQ(answer->citations[0].passage.source_path, "b.md");
  EXPECT_EQ(answer->citations[0].passage.begin, 100u);
  EXPECT_EQ(answer->citations[1].number, 2u);
  EXPECT_EQ(answer->citations[1].rank, 1u);
  EXPECT_EQ(answer->citations[1].passage.begin, 500u);
  EXPECT_EQ(answer->citations[2].number, 3u);
  EXPECT_EQ(answer->citations[2].rank, 2u);
  EXPECT_EQ(answer->citations[2].passage.source_path, "a.md");
  EXPECT_EQ(answer->passages_in_context, 3u);
}

TEST(ExtractiveAnswerTest, RespectsSentenceAndPassageLimitsAndCitesOnlyWhatIsUsed) {
  std::vector<Passage> passages = {
      MakePassage("a.md", 0, "KEY one. KEY KEY two. Nothing."),
      MakePassage("a.md", 40, "Nothing at all."),
      MakePassage("c.md", 0, "KEY KEY KEY KEY ignored: beyond max_passages."),
  };
  KeywordScorer scorer;
  Result<Answer> answer = ExtractiveAnswer("q", passages, {1, 2}, scorer);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->text, std::string(kExtractivePrefix) + "KEY KEY two. [1]");
  ASSERT_EQ(answer->citations.size(), 1u);
  EXPECT_EQ(answer->citations[0].number, 1u);
  EXPECT_EQ(answer->passages_in_context, 2u);
}

TEST(ExtractiveAnswerTest, IrrelevantSentencesAreLeftOutAndRunsFromOnePassageCiteOnce) {
  std::vector<Passage> passages = {MakePassage("a.md", 0, "KEY one. KEY two. Nothing here."),
                                   MakePassage("b.md", 0, "Nothing either.")};
  KeywordScorer scorer;
  Result<Answer> answer = ExtractiveAnswer("q", passages, {3, 5}, scorer);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->text, std::string(kExtractivePrefix) + "KEY one. KEY two. [1]");
  ASSERT_EQ(answer->citations.size(), 1u);
}

TEST(ExtractiveAnswerTest, CitationNumbersHaveNoGapsAndKeepThePassageRanks) {
  // The answer uses passages 1 and 3 (ranks): it cites them as [1] and [2].
  std::vector<Passage> passages = {MakePassage("a.md", 0, "KEY KEY fact from a."),
                                   MakePassage("b.md", 0, "Nothing here."),
                                   MakePassage("c.md", 0, "KEY fact from c.")};
  KeywordScorer scorer;
  Result<Answer> answer = ExtractiveAnswer("q", passages, {3, 5}, scorer);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->text,
            std::string(kExtractivePrefix) + "KEY KEY fact from a. [1] KEY fact from c. [2]");
  ASSERT_EQ(answer->citations.size(), 2u);
  EXPECT_EQ(answer->citations[0].number, 1u);
  EXPECT_EQ(answer->citations[0].rank, 1u);
  EXPECT_EQ(answer->citations[0].passage.source_path, "a.md");
  EXPECT_EQ(answer->citations[1].number, 2u);
  EXPECT_EQ(answer->citations[1].rank, 3u);
  EXPECT_EQ(answer->citations[1].passage.source_path, "c.md");
}

TEST(ExtractiveAnswerTest, QuestionsHeadingsTablesAndBoilerplateAreNotAnswers) {
  EXPECT_TRUE(IsNonAnswerSentence("How do I ignore case with grep?", "ignore case"));
  EXPECT_TRUE(IsNonAnswerSentence("Matching Control Options", "matching"));
  EXPECT_TRUE(IsNonAnswerSentence("-i\t--ignore-case\tyes", "ignore case"));
  EXPECT_TRUE(IsNonAnswerSentence("| 1.2 | 3.4 | 5.6 |", "numbers"));
  EXPECT_TRUE(IsNonAnswerSentence("12 34 56 78 -- 90", "numbers"));
  EXPECT_TRUE(IsNonAnswerSentence("Copyright 2020 Foo Inc. All rights reserved.", "foo"));
  EXPECT_FALSE(IsNonAnswerSentence("Copyright 2020 Foo Inc. All rights reserved.",
                                   "who reserved the rights?"));
  EXPECT_FALSE(
      IsNonAnswerSentence("Ignore case distinctions in patterns and input data.", "ignore case"));
  EXPECT_FALSE(IsNonAnswerSentence("sort by time, newest first", "sort by time"));

  // In an answer: the question and the heading that repeat the question's words lose to the
  // sentence that answers.
  std::vector<Passage> passages = {MakePassage(
      "faq.md", 0,
      "How does grep ignore case?\n\nIgnore Case Options\n\nUse -i to ignore case when grep "
      "matches.\n\nThanks for reading.")};
  auto lexical = MakeLexicalScorer();
  Result<Answer> answer = ExtractiveAnswer("how does grep ignore case", passages, {1, 5}, *lexical);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->text,
            std::string(kExtractivePrefix) + "Use -i to ignore case when grep matches. [1]");
}

TEST(LexicalScorerTest, TheIndexIdfPrefersTheQuestionsRareTerms) {
  // Among the candidates "manual" looks as rare as "frobnicate"; in the index it is common.
  const std::vector<std::string> sentences = {"The manual covers the manual pages.",
                                              "To frobnicate a widget, run frob."};
  auto local = MakeLexicalScorer();
  auto local_scores = local->Score("manual frobnicate", sentences);
  ASSERT_TRUE(local_scores.ok());
  EXPECT_GT((*local_scores)[0], (*local_scores)[1]);  // tf wins without the index's view
  auto indexed = MakeLexicalScorer([](std::string_view word) -> std::optional<double> {
    if (word == "manual") return 0.1;
    if (word == "frobnicate") return 6.0;
    return std::nullopt;
  });
  auto indexed_scores = indexed->Score("manual frobnicate", sentences);
  ASSERT_TRUE(indexed_scores.ok());
  EXPECT_GT((*indexed_scores)[1], (*indexed_scores)[0]);
}

TEST(ExtractiveAnswerTest, RepeatedSentencesFromOverlappingChunksAppearOnce) {
  std::vector<Passage> passages = {
      MakePassage("a.md", 0, "Intro. The KEY point."),
      MakePassage("a.md", 7, "The KEY point. Outro."),
  };
  KeywordScorer scorer;
  Result<Answer> answer = ExtractiveAnswer("q", passages, {3, 5}, scorer);
  ASSERT_TRUE(answer.ok());
  std::size_t first = answer->text.find("The KEY point.");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(answer->text.find("The KEY point.", first + 1), std::string::npos);
}

TEST(ExtractiveAnswerTest, LexicalScorerAnswersFromTheRelevantSentence) {
  std::vector<Passage> passages = {
      MakePassage("guide.md", 0,
                  "Sieve stores chunks in SQLite. The index directory defaults to .sieve in the "
                  "working directory. Rerank uses a cross-encoder."),
  };
  std::unique_ptr<SentenceScorer> scorer = MakeLexicalScorer();
  Result<Answer> answer =
      ExtractiveAnswer("Where is the index directory by default?", passages, {1, 5}, *scorer);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->text,
            std::string(kExtractivePrefix) +
                "The index directory defaults to .sieve in the working directory. [1]");
  EXPECT_EQ(answer->model, "extractive (lexical)");
}

TEST(ExtractiveAnswerTest, SectionAndTitleHeadingsAreNotAnswers) {
  Passage passage =
      MakePassage("rerank.html", 0, "Why rerank only a few candidates\n\nThe KEY cost is speed.");
  passage.section = "Why rerank only a few candidates";
  passage.title = "Reranking";
  Passage titled = MakePassage("rerank.html", 40, "Reranking\n\nScores stay visible.");
  titled.title = "Reranking";
  std::unique_ptr<SentenceScorer> scorer = MakeLexicalScorer();
  Result<Answer> answer =
      ExtractiveAnswer("Why rerank only a few candidates?", {passage, titled}, {2, 5}, *scorer);
  ASSERT_TRUE(answer.ok());
  // The heading shares every word with the question, yet only body sentences can answer it.
  EXPECT_THAT(answer->text, Not(HasSubstr("Why rerank only")));
  EXPECT_THAT(answer->text, Not(HasSubstr("Reranking")));
  EXPECT_THAT(answer->text, HasSubstr("The KEY cost is speed. [1]"));
}

TEST(ExtractiveAnswerTest, NoSharedWordsFallsBackToTheTopPassageOpeningAndSaysSo) {
  std::vector<Passage> passages = {MakePassage("a.md", 0, "Alpha. Beta."),
                                   MakePassage("b.md", 0, "Gamma.")};
  std::unique_ptr<SentenceScorer> scorer = MakeLexicalScorer();
  Result<Answer> answer = ExtractiveAnswer("zebra?", passages, {1, 5}, *scorer);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->text, std::string(kExtractivePrefix) + "Alpha. [1]");
  EXPECT_THAT(answer->notes, ElementsAre(HasSubstr("no sentence shares a word")));
}

TEST(ExtractiveAnswerTest, ZeroPassagesGiveANoPassagesAnswerNotAnError) {
  KeywordScorer scorer;
  Result<Answer> answer = ExtractiveAnswer("q", {}, {3, 5}, scorer);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->text, kNoPassagesAnswer);
  EXPECT_TRUE(answer->extractive);
  EXPECT_THAT(answer->citations, IsEmpty());
  EXPECT_THAT(answer->notes, ElementsAre(HasSubstr("no passages")));
  EXPECT_EQ(scorer.calls, 0);
}

class FakeCrossEncoder final : public models::CrossEncoder {
 public:
  Result<std::vector<models::CrossEncoderScore>> Score(
      std::string_view, const std::vector<std::string>& passages) override {
    if (fail) return Status::Internal("fake cross-encoder broke");
    std::vector<models::CrossEncoderScore> scores;
    for (const std::string& p : passages) {
      float score = p.find("relevant") != std::string::npos ? 0.9f : 0.1f;
      scores.push_back({score, 0.0f});
    }
    return scores;
  }
  const models::ModelInfo& info() const override { return info_; }
  bool fail = false;

 private:
  models::ModelInfo info_{"fake/cross-encoder"};
};

TEST(ExtractiveAnswerTest, CrossEncoderScorerUsesTheModelsScores) {
  FakeCrossEncoder cross_encoder;
  std::unique_ptr<SentenceScorer> scorer = MakeCrossEncoderScorer(cross_encoder);
  EXPECT_EQ(scorer->name(), "cross-encoder fake/cross-encoder");
  std::vector<Passage> passages = {MakePassage("a.md", 0, "Unrelated. The relevant one. Other.")};
  Result<Answer> answer = ExtractiveAnswer("q", passages, {1, 5}, *scorer);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->text, std::string(kExtractivePrefix) + "The relevant one. [1]");
  EXPECT_THAT(answer->model, HasSubstr("cross-encoder"));

  cross_encoder.fail = true;
  Result<Answer> failed = ExtractiveAnswer("q", passages, {1, 5}, *scorer);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("fake cross-encoder broke"));
}

}  // namespace
}  // namespace sieve::generation
