#include "generation/prompt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sieve::generation {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

Passage MakePassage(std::string path, std::string section, int page, std::string text) {
  Passage p;
  p.source_path = std::move(path);
  p.section = std::move(section);
  p.page = page;
  p.text = std::move(text);
  return p;
}

// One token per whitespace-separated word: easy to reason about in budget tests.
std::size_t CountWords(std::string_view text) {
  std::size_t words = 0;
  bool in_word = false;
  for (char c : text) {
    bool space = c == ' ' || c == '\n';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

TEST(PromptTest, NumbersPassagesWithTheirSourcesAndAsksForCitations) {
  std::vector<Passage> passages = {
      MakePassage("docs/install.md", "Install", 0, "Run scripts/setup first."),
      MakePassage("papers/flow.pdf", "", 3, "Boundary layers separate."),
  };
  passages[1].title = "Flow Notes";
  Prompt prompt = BuildPrompt("How do I install?", passages, 3000);
  ASSERT_EQ(prompt.messages.size(), 2u);
  EXPECT_EQ(prompt.messages[0].role, "system");
  EXPECT_THAT(prompt.messages[0].content, HasSubstr("only the numbered passages"));
  EXPECT_THAT(prompt.messages[0].content, HasSubstr("[1]"));
  EXPECT_EQ(prompt.messages[1].role, "user");
  const std::string& user = prompt.messages[1].content;
  EXPECT_THAT(user,
              HasSubstr("[1] docs/install.md, section \"Install\"\nRun scripts/setup first."));
  EXPECT_THAT(user, HasSubstr("[2] papers/flow.pdf, title \"Flow Notes\", page 3\nBoundary"));
  EXPECT_THAT(user, HasSubstr("Question: How do I install?"));
  EXPECT_LT(user.find("[1] docs"), user.find("[2] papers"));
  EXPECT_EQ(prompt.passages_used, 2u);
  EXPECT_EQ(prompt.passages_dropped, 0u);
  EXPECT_FALSE(prompt.first_passage_truncated);
}

TEST(PromptTest, BudgetDropsTheLowestRankedPassagesFirst) {
  // Each block is "[n] a.md" (2 words) + 4 words of text = 6 tokens.
  std::vector<Passage> passages = {
      MakePassage("a.md", "", 0, "alpha alpha alpha alpha"),
      MakePassage("a.md", "", 0, "bravo bravo bravo bravo"),
      MakePassage("a.md", "", 0, "charlie charlie charlie charlie"),
      MakePassage("a.md", "", 0, "delta delta delta delta"),
  };
  Prompt prompt = BuildPrompt("q", passages, 13, CountWords);
  EXPECT_EQ(prompt.passages_used, 2u);
  EXPECT_EQ(prompt.passages_dropped, 2u);
  EXPECT_EQ(prompt.context_tokens, 12u);
  const std::string& user = prompt.messages[1].content;
  EXPECT_THAT(user, HasSubstr("alpha"));
  EXPECT_THAT(user, HasSubstr("bravo"));
  EXPECT_THAT(user, Not(HasSubstr("charlie")));
  EXPECT_THAT(user, Not(HasSubstr("delta")));

  // A later, shorter passage does not jump the queue: the kept set is a prefix of the ranking.
  passages[2].text = "long long long long long long long long long long";
  passages[3].text = "x";
  prompt = BuildPrompt("q", passages, 20, CountWords);
  EXPECT_EQ(prompt.passages_used, 2u);
  EXPECT_THAT(prompt.messages[1].content, Not(HasSubstr("[4]")));
}

TEST(PromptTest, TooLongBestPassageIsCutRatherThanDropped) {
  std::vector<Passage> passages = {
      MakePassage("big.txt", "", 0, "one two three four five six seven eight nine ten"),
      MakePassage("small.txt", "", 0, "tiny"),
  };
  Prompt prompt = BuildPrompt("q", passages, 7, CountWords);
  EXPECT_EQ(prompt.passages_used, 1u);
  EXPECT_EQ(prompt.passages_dropped, 1u);
  EXPECT_TRUE(prompt.first_passage_truncated);
  EXPECT_LE(prompt.context_tokens, 7u);
  EXPECT_THAT(prompt.messages[1].content, HasSubstr("one two three four ..."));
  EXPECT_THAT(prompt.messages[1].content, Not(HasSubstr("five")));
}

TEST(PromptTest, DefaultCounterIsUsedWhenNoneIsGiven) {
  std::vector<Passage> passages = {MakePassage("a.md", "", 0, std::string(4000, 'x') + " end")};
  passages.push_back(MakePassage("b.md", "", 0, "short"));
  Prompt prompt = BuildPrompt("q", passages, 100);
  EXPECT_EQ(prompt.passages_used, 1u);
  EXPECT_TRUE(prompt.first_passage_truncated);
  EXPECT_LE(prompt.context_tokens, 100u);
}

TEST(ApproxTokenCountTest, CountsWordPiecesAndPunctuation) {
  EXPECT_EQ(ApproxTokenCount(""), 0u);
  EXPECT_EQ(ApproxTokenCount("the cat sat"), 3u);
  EXPECT_EQ(ApproxTokenCount("Hello, world!"), 4u);
  EXPECT_EQ(ApproxTokenCount("internationalization"), 4u);  // 20 letters, 6 per piece
  EXPECT_EQ(ApproxTokenCount("caf\xc3\xa9"), 1u);           // é is one letter
}

TEST(CitationParsingTest, UnderstandsTheUsualForms) {
  EXPECT_THAT(ParseCitationNumbers("Paris [1]."), ElementsAre(1u));
  EXPECT_THAT(ParseCitationNumbers("A [2][3] and B [1, 2]."), ElementsAre(2u, 3u, 1u));
  EXPECT_THAT(ParseCitationNumbers("See [1,2; 4] and [5-7]."), ElementsAre(1u, 2u, 4u, 5u, 6u, 7u));
  EXPECT_THAT(ParseCitationNumbers("[[3]]"), ElementsAre(3u));
}

TEST(CitationParsingTest, IgnoresBracketsThatAreNotCitations) {
  EXPECT_THAT(ParseCitationNumbers("an array a[i] and [x] and [2024 report] [] [ ]"), IsEmpty());
  EXPECT_THAT(ParseCitationNumbers("unclosed [1"), IsEmpty());
  EXPECT_THAT(ParseCitationNumbers("[9-2] backwards range, [1-1000] huge range"), IsEmpty());
  EXPECT_THAT(ParseCitationNumbers("[12345678] too many digits"), IsEmpty());
}

TEST(CitationParsingTest, CitedPassagesKeepSourcesAndReportUnknownNumbers) {
  std::vector<Passage> passages = {MakePassage("a.md", "Intro", 0, "A"),
                                   MakePassage("b.pdf", "Results", 4, "B")};
  passages[1].begin = 100;
  passages[1].end = 250;
  passages[1].chunk_id = 42;
  std::vector<std::size_t> unknown;
  std::vector<Citation> cited =
      CitedPassages("B says so [2], also [7] and [0].", passages, &unknown);
  ASSERT_EQ(cited.size(), 1u);
  EXPECT_EQ(cited[0].number, 2u);
  EXPECT_EQ(cited[0].passage.source_path, "b.pdf");
  EXPECT_EQ(cited[0].passage.section, "Results");
  EXPECT_EQ(cited[0].passage.page, 4);
  EXPECT_EQ(cited[0].passage.begin, 100u);
  EXPECT_EQ(cited[0].passage.end, 250u);
  EXPECT_EQ(cited[0].passage.chunk_id, 42);
  EXPECT_THAT(unknown, ElementsAre(7u, 0u));
}

}  // namespace
}  // namespace sieve::generation
