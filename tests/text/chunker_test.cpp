#include "text/chunker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "text/document.h"
#include "text/normalize.h"

namespace sieve::text {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Sentences(std::string_view text) {
  std::vector<std::string> out;
  for (const TextSpan& s : SplitSentences(text)) {
    out.emplace_back(text.substr(s.begin, s.end - s.begin));
  }
  return out;
}

ExtractedDocument Doc(std::string text) {
  ExtractedDocument doc;
  doc.text = std::move(text);
  return doc;
}

bool IsSpaceByte(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Deterministic prose: sentences of 3..30 words, some paragraph breaks, some abbreviations.
std::string MakeProse(unsigned seed, int sentences) {
  std::mt19937 rng(seed);
  const char* words[] = {"lift",
                         "drag",
                         "wing",
                         "boundary",
                         "layer",
                         "flow",
                         "pressure",
                         "shock",
                         "mach",
                         "heat",
                         "flux",
                         "e.g.",
                         "3.5",
                         "theory",
                         "agrees",
                         "Dr.",
                         "vortex",
                         "caf\xC3\xA9",
                         "\xE6\xBC\xA2\xE5\xAD\x97",
                         "naïve"};
  std::string text;
  for (int s = 0; s < sentences; ++s) {
    const int n = 3 + static_cast<int>(rng() % 28);
    for (int w = 0; w < n; ++w) {
      text += words[rng() % std::size(words)];
      text += (w + 1 < n) ? " " : ".";
    }
    text += (rng() % 5 == 0) ? "\n\n" : " ";
  }
  return text;
}

// Invariants every chunking must keep.
void ExpectValidChunks(const ExtractedDocument& doc, const std::vector<Chunk>& chunks,
                       const ChunkOptions& options, const TokenCounter& count) {
  std::vector<bool> covered(doc.text.size(), false);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    EXPECT_EQ(c.ordinal, i);
    ASSERT_LT(c.begin, c.end);
    ASSERT_LE(c.end, doc.text.size());
    EXPECT_EQ(c.text, doc.text.substr(c.begin, c.end - c.begin));
    EXPECT_TRUE(IsValidUtf8(c.text)) << "chunk " << i;
    EXPECT_FALSE(IsSpaceByte(c.text.front()));
    EXPECT_FALSE(IsSpaceByte(c.text.back()));
    if (i > 0) {
      EXPECT_GT(c.begin, chunks[i - 1].begin) << "chunks advance";
      EXPECT_GT(c.end, chunks[i - 1].end) << "each chunk adds new text";
    }
    EXPECT_LE(count(c.text), std::max<std::size_t>(options.max_tokens, 1)) << c.text;
    for (std::size_t b = c.begin; b < c.end; ++b) covered[b] = true;
  }
  for (std::size_t b = 0; b < doc.text.size(); ++b) {
    if (!IsSpaceByte(doc.text[b])) {
      ASSERT_TRUE(covered[b]) << "byte " << b << " not covered";
    }
  }
}

// ---- sentences ----------------------------------------------------------------------------------

TEST(SentenceTest, SplitsOnSentenceEnds) {
  EXPECT_THAT(Sentences("One two. Three four! Five six? Seven"),
              ElementsAre("One two.", "Three four!", "Five six?", "Seven"));
}

TEST(SentenceTest, KeepsAbbreviationsDecimalsAndInitials) {
  EXPECT_THAT(Sentences("Dr. Smith measured 3.5 mm, e.g. at the tip. J. R. Jones agreed."),
              ElementsAre("Dr. Smith measured 3.5 mm, e.g. at the tip.", "J. R. Jones agreed."));
  EXPECT_THAT(Sentences("See Fig. 3 and Smith et al. for data. Done."),
              ElementsAre("See Fig. 3 and Smith et al. for data.", "Done."));
  EXPECT_THAT(Sentences("Wings, flaps, etc. are parts. Tails etc. Next one."),
              ElementsAre("Wings, flaps, etc. are parts.", "Tails etc.", "Next one."));
}

TEST(SentenceTest, ParagraphBreaksQuotesEllipsesAndLists) {
  EXPECT_THAT(Sentences("A heading\n\nBody text without end\n  \nLast"),
              ElementsAre("A heading", "Body text without end", "Last"));
  EXPECT_THAT(Sentences("He said \"Stop.\" Then left... Gone (really.) Yes"),
              ElementsAre("He said \"Stop.\"", "Then left...", "Gone (really.)", "Yes"));
  EXPECT_THAT(Sentences("1. First item\n2. Second item"),
              ElementsAre("1. First item\n2. Second item"));
  EXPECT_THAT(Sentences("It was 1995. Then 1996."), ElementsAre("It was 1995.", "Then 1996."));
  // Cranfield's spaced punctuation: "word . next".
  EXPECT_THAT(Sentences("the lift rises . the drag falls ."),
              ElementsAre("the lift rises .", "the drag falls ."));
  EXPECT_THAT(Sentences("\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82\xE5\x86\x8D\xE8\xA7\x81"),
              ElementsAre("\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82", "\xE5\x86\x8D\xE8\xA7\x81"));
  EXPECT_TRUE(Sentences(" \n\n ").empty());
}

// ---- token approximation ------------------------------------------------------------------------

TEST(ApproxTokenCountTest, WordsAndPunctuation) {
  EXPECT_EQ(ApproxTokenCount(""), 0u);
  EXPECT_EQ(ApproxTokenCount("  \n\t"), 0u);
  EXPECT_EQ(ApproxTokenCount("hello, world!"), 4u);
  EXPECT_EQ(ApproxTokenCount("3.5"), 3u);                       // 3 . 5, as WordPiece splits it
  EXPECT_EQ(ApproxTokenCount("wing"), 1u);                      // short word: one token
  EXPECT_EQ(ApproxTokenCount("aerodynamics"), 2u);              // 12 letters: 1 + ceil(6/6)
  EXPECT_EQ(ApproxTokenCount("\xE6\xBC\xA2\xE5\xAD\x97"), 2u);  // two CJK ideographs
  EXPECT_EQ(ApproxTokenCount("caf\xC3\xA9"), 1u);               // letters beyond ASCII join words
  EXPECT_EQ(ApproxTokenCount("a\xE2\x80\x94"
                             "b"),
            3u);                                            // em dash is punctuation
  EXPECT_GT(ApproxTokenCount(std::string(600, 'x')), 90u);  // long junk splits into many
}

// ---- chunking -----------------------------------------------------------------------------------

TEST(ChunkerTest, EmptyTextHasNoChunks) {
  EXPECT_TRUE(ChunkDocument(Doc(""), {}).empty());
  EXPECT_TRUE(ChunkDocument(Doc(" \n\n\t"), {}).empty());
}

TEST(ChunkerTest, ShortTextIsOneChunk) {
  const auto chunks = ChunkDocument(Doc("  One sentence. Two.\n"), {});
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text, "One sentence. Two.");
  EXPECT_EQ(chunks[0].begin, 2u);
  EXPECT_EQ(chunks[0].section, "");
  EXPECT_EQ(chunks[0].page, 0);
}

TEST(ChunkerTest, BudgetOffsetsAndCoverageOnProse) {
  const ExtractedDocument doc = Doc(MakeProse(7, 300));
  for (std::size_t max_tokens : {16u, 40u, 128u, 256u}) {
    ChunkOptions options;
    options.max_tokens = max_tokens;
    options.overlap_tokens = max_tokens / 4;
    const auto chunks = ChunkDocument(doc, options);
    ASSERT_GT(chunks.size(), 1u);
    ExpectValidChunks(doc, chunks, options, ApproxTokenCount);
  }
}

TEST(ChunkerTest, PacksWholeSentences) {
  // Each sentence is 4 tokens ("wN wN wN ." -> 3 words + period).
  std::string text;
  for (int i = 0; i < 30; ++i) text += "a" + std::to_string(i) + " b c. ";
  ChunkOptions options;
  options.max_tokens = 12;
  options.overlap_tokens = 0;
  const auto chunks = ChunkDocument(Doc(text), options);
  ASSERT_EQ(chunks.size(), 10u);  // three sentences fill exactly 12 tokens
  for (const Chunk& c : chunks) {
    EXPECT_EQ(ApproxTokenCount(c.text), 12u);
    EXPECT_TRUE(c.text.ends_with("b c.")) << c.text;
  }
  for (std::size_t i = 1; i < chunks.size(); ++i) {
    EXPECT_GT(chunks[i].begin, chunks[i - 1].end) << "no overlap asked, none given";
  }
}

TEST(ChunkerTest, OverlapRepeatsTrailingSentencesWithinBudget) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "s" + std::to_string(i) + " x y. ";
  ChunkOptions options;
  options.max_tokens = 20;     // five 4-token sentences
  options.overlap_tokens = 9;  // room for two sentences, not three
  const ExtractedDocument doc = Doc(text);
  const auto chunks = ChunkDocument(doc, options);
  ASSERT_GT(chunks.size(), 3u);
  ExpectValidChunks(doc, chunks, options, ApproxTokenCount);
  for (std::size_t i = 1; i < chunks.size(); ++i) {
    const Chunk& prev = chunks[i - 1];
    const Chunk& next = chunks[i];
    ASSERT_LT(next.begin, prev.end) << "chunk " << i << " has no overlap";
    const std::string repeated = doc.text.substr(next.begin, prev.end - next.begin);
    EXPECT_EQ(ApproxTokenCount(repeated), 8u) << repeated;  // exactly two whole sentences
    EXPECT_TRUE(repeated.ends_with(".")) << repeated;
  }
}

TEST(ChunkerTest, LongSentenceIsCutAtWordBoundaries) {
  std::string text;
  for (int i = 0; i < 500; ++i) text += "word" + std::to_string(i % 10) + " ";
  text += "end.";
  ChunkOptions options;
  options.max_tokens = 50;
  options.overlap_tokens = 0;
  const ExtractedDocument doc = Doc(text);
  const auto chunks = ChunkDocument(doc, options);
  ExpectValidChunks(doc, chunks, options, ApproxTokenCount);
  ASSERT_EQ(chunks.size(), 11u);  // 501 one-token words in pieces of 50
  for (const Chunk& c : chunks) {
    EXPECT_TRUE(c.begin == 0 || doc.text[c.begin - 1] == ' ');
    EXPECT_TRUE(c.end == doc.text.size() || doc.text[c.end] == ' ');
  }
}

TEST(ChunkerTest, HugeWordIsCutAtCodePoints) {
  std::string word;
  for (int i = 0; i < 400; ++i)
    word += (i % 3 == 0) ? "\xC3\xA9" : (i % 3 == 1 ? "\xE6\xBC\xA2" : "q");
  ChunkOptions options;
  options.max_tokens = 7;
  options.overlap_tokens = 2;
  const ExtractedDocument doc = Doc("Before. " + word + " after.");
  const auto chunks = ChunkDocument(doc, options);
  ExpectValidChunks(doc, chunks, options, ApproxTokenCount);
  EXPECT_GT(chunks.size(), 10u);
}

// A hostile document may be one word: it is cut into pieces as long as the budget allows, found
// in windows of code points that widen while all of them fit (here: marks that count nothing).
TEST(ChunkerTest, PiecesOfAHugeWordAreAsLongAsTheBudgetAllows) {
  ChunkOptions options;
  options.max_tokens = 256;
  options.overlap_tokens = 0;
  const ExtractedDocument doc = Doc(std::string(100000, 'x'));
  const auto chunks = ChunkDocument(doc, options);
  ExpectValidChunks(doc, chunks, options, ApproxTokenCount);
  ASSERT_EQ(chunks.size(), 66u);  // 6 + 255 * 6 = 1536 letters make 256 tokens
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) EXPECT_EQ(chunks[i].text.size(), 1536u);

  std::string marked = "a";
  for (int i = 0; i < 3000; ++i) marked += "\xCC\x81";  // U+0301, a combining accent: 0 tokens
  marked += std::string(100, 'b');
  options.max_tokens = 7;
  const ExtractedDocument accents = Doc(marked);
  const auto pieces = ChunkDocument(accents, options);
  ExpectValidChunks(accents, pieces, options, ApproxTokenCount);
  ASSERT_FALSE(pieces.empty());
  EXPECT_GE(pieces[0].end, 1u + 2 * 3000);  // every accent fits in the first piece
}

TEST(ChunkerTest, UnicodeTextNeverSplitsSequences) {
  std::mt19937 rng(5);
  const char* pieces[] = {"\xF0\x9F\x9A\x80",
                          "\xC3\xA9t\xC3\xA9",
                          "\xE6\xBC\xA2",
                          "word",
                          ". ",
                          "\xE3\x80\x82",
                          " ",
                          "\n\n",
                          "\xE2\x80\x94"};
  std::string text;
  for (int i = 0; i < 3000; ++i) text += pieces[rng() % std::size(pieces)];
  ChunkOptions options;
  options.max_tokens = 13;
  options.overlap_tokens = 4;
  const ExtractedDocument doc = Doc(text);
  ExpectValidChunks(doc, ChunkDocument(doc, options), options, ApproxTokenCount);
}

TEST(ChunkerTest, SectionAndPageAttribution) {
  ExtractedDocument doc;
  doc.text = "Intro\n\nFirst page text. More here.\n\nMethods\n\nSecond page starts. It goes on.";
  const std::size_t methods = doc.text.find("Methods");
  const std::size_t page2 = doc.text.find("Second");
  doc.sections = {{0, "Intro"}, {methods, "Methods"}};
  doc.pages = {{0, 1}, {page2, 2}};
  ChunkOptions options;
  options.max_tokens = 6;
  options.overlap_tokens = 4;
  const auto chunks = ChunkDocument(doc, options);
  ExpectValidChunks(doc, chunks, options, ApproxTokenCount);
  for (const Chunk& c : chunks) {
    EXPECT_EQ(c.section, c.begin < methods ? "Intro" : "Methods") << c.text;
    EXPECT_EQ(c.page, c.begin < page2 ? 1 : 2) << c.text;
    // A chunk never spans the start of a section.
    EXPECT_FALSE(c.begin < methods && c.end > methods) << c.text;
  }
  EXPECT_EQ(chunks.back().text, "It goes on.");
}

TEST(ChunkerTest, SectionStartingMidSentenceStillCuts) {
  ExtractedDocument doc = Doc("alpha beta gamma delta epsilon");
  doc.sections = {{doc.text.find("gamma"), "Later"}};
  const auto chunks = ChunkDocument(doc, {});
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].text, "alpha beta");
  EXPECT_EQ(chunks[0].section, "");
  EXPECT_EQ(chunks[1].text, "gamma delta epsilon");
  EXPECT_EQ(chunks[1].section, "Later");
}

TEST(ChunkerTest, CustomCounterBudgetIsExact) {
  // Counts whitespace-separated words: the budget is in words.
  const TokenCounter words = [](std::string_view s) {
    std::size_t n = 0;
    bool in_word = false;
    for (char c : s) {
      const bool space = c == ' ' || c == '\n' || c == '\t';
      if (!space && !in_word) ++n;
      in_word = !space;
    }
    return n;
  };
  const ExtractedDocument doc = Doc(MakeProse(11, 200));
  ChunkOptions options;
  options.max_tokens = 25;
  options.overlap_tokens = 8;
  const auto chunks = ChunkDocument(doc, options, words);
  ExpectValidChunks(doc, chunks, options, words);
  for (std::size_t i = 1; i < chunks.size(); ++i) {
    if (chunks[i].begin < chunks[i - 1].end) {
      EXPECT_LE(words(doc.text.substr(chunks[i].begin, chunks[i - 1].end - chunks[i].begin)), 8u);
    }
  }
}

TEST(ChunkerTest, OverlapLargerThanBudgetStillTerminates) {
  const ExtractedDocument doc = Doc(MakeProse(3, 50));
  ChunkOptions options;
  options.max_tokens = 10;
  options.overlap_tokens = 100;
  ExpectValidChunks(doc, ChunkDocument(doc, options), options, ApproxTokenCount);
  options.max_tokens = SIZE_MAX;  // no limit: one chunk
  options.overlap_tokens = 5;
  EXPECT_EQ(ChunkDocument(doc, options).size(), 1u);
  options.max_tokens = 0;  // taken as 1
  options.overlap_tokens = 0;
  ExpectValidChunks(doc, ChunkDocument(doc, options), options, ApproxTokenCount);
}

TEST(ChunkerTest, Deterministic) {
  const ExtractedDocument doc = Doc(MakeProse(21, 150));
  ChunkOptions options;
  options.max_tokens = 30;
  options.overlap_tokens = 10;
  const auto first = ChunkDocument(doc, options);
  ChunkDocument(Doc(MakeProse(22, 40)), options);  // unrelated work in between
  const auto second = ChunkDocument(doc, options);
  ASSERT_EQ(first.size(), second.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].begin, second[i].begin);
    EXPECT_EQ(first[i].end, second[i].end);
    EXPECT_EQ(first[i].text, second[i].text);
  }
}

// ---- the Cranfield corpus -----------------------------------------------------------------------

TEST(CranfieldTest, LoadsAndChunksTheWholeCorpus) {
  const std::filesystem::path corpus =
      std::filesystem::path(SIEVE_SHARED_DIR) / "data/cranfield/corpus.jsonl";
  if (!std::filesystem::exists(corpus)) GTEST_SKIP() << corpus << " not present";
  auto docs = LoadFile(corpus);
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 1400u);
  EXPECT_EQ((*docs)[0].key, "1");
  EXPECT_EQ((*docs)[1399].key, "1400");
  EXPECT_TRUE((*docs)[0].text.starts_with(
      "experimental investigation of the aerodynamics of a wing in a slipstream .\n\n"));
  EXPECT_EQ((*docs)[470].key, "471");
  EXPECT_EQ((*docs)[470].text, "");  // damaged, empty in the collection
  const ChunkOptions options;        // defaults: 256 tokens, 32 overlap
  std::size_t chunks = 0;
  std::size_t approx_tokens = 0;
  for (const ExtractedDocument& doc : *docs) {
    const auto doc_chunks = ChunkDocument(doc, options);
    ExpectValidChunks(doc, doc_chunks, options, ApproxTokenCount);
    chunks += doc_chunks.size();
    approx_tokens += ApproxTokenCount(doc.text);
  }
  EXPECT_GE(chunks, 1398u);  // every non-empty document has at least one chunk
  // tests/data/text/calibrate_approx_tokens.py: 296,563 real bert-base-uncased WordPiece tokens;
  // the approximation should over-count modestly, never under-count the corpus.
  EXPECT_GT(approx_tokens, 296563u);
  EXPECT_LT(approx_tokens, 296563u * 13 / 10);
}

}  // namespace
}  // namespace sieve::text
