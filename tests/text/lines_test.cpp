// Lines of the source file for citations (`path:line`): where each file line begins in the
// extracted text, for plain text (CRLF, form feeds), Markdown and man pages, and the lines each
// chunk spans.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "text/chunker.h"
#include "text/document.h"
#include "text/extract.h"

namespace sieve::text {
namespace {

// The file line of the text at `needle`'s first occurrence (0 when the document has no lines).
std::size_t LineOf(const ExtractedDocument& doc, std::string_view needle) {
  const std::size_t at = doc.text.find(needle);
  EXPECT_NE(at, std::string::npos) << needle << " not in: " << doc.text;
  std::size_t line = 0;
  for (const LineStart& l : doc.lines) {
    if (l.begin > at) break;
    line = l.line;
  }
  return line;
}

TEST(LinesTest, PlainTextLinesAreTheFilesWithCrlfFormFeedsAndLoneCarriageReturns) {
  // File lines: 1 alpha, 2 beta, 3 (form feed) gamma, 4 lone CR inside, 5 delta. A form feed
  // and a lone CR become line breaks in the text but start no line of the file.
  const ExtractedDocument doc =
      ExtractPlainText("alpha\r\nbeta\r\n\fgamma\nlone\rcr\r\ndelta epsilon\n");
  EXPECT_EQ(doc.text, "alpha\nbeta\n\ngamma\nlone\ncr\ndelta epsilon\n");
  EXPECT_EQ(LineOf(doc, "alpha"), 1u);
  EXPECT_EQ(LineOf(doc, "beta"), 2u);
  EXPECT_EQ(LineOf(doc, "gamma"), 3u);
  EXPECT_EQ(LineOf(doc, "lone"), 4u);
  EXPECT_EQ(LineOf(doc, "cr"), 4u);
  EXPECT_EQ(LineOf(doc, "delta"), 5u);
  EXPECT_EQ(LineOf(doc, "epsilon"), 5u);
}

TEST(LinesTest, ChunksCarryTheLinesTheySpan) {
  std::string file;
  for (int i = 1; i <= 200; ++i) {
    file += "Line number " + std::to_string(i) + " says something short.\r\n";
    if (i % 7 == 0) file += "\r\n";  // blank lines too
  }
  const ExtractedDocument doc = ExtractPlainText(file);
  ChunkOptions options;
  options.max_tokens = 40;
  options.overlap_tokens = 8;
  const std::vector<Chunk> chunks = ChunkDocument(doc, options);
  ASSERT_GT(chunks.size(), 10u);
  // The file's line of a byte: one more than the LFs before it (CRLF counted once).
  auto line_at = [&doc](std::size_t offset) {
    return 1 + static_cast<std::size_t>(std::count(
                   doc.text.begin(), doc.text.begin() + static_cast<long>(offset), '\n'));
  };
  for (const Chunk& chunk : chunks) {
    EXPECT_EQ(chunk.line, line_at(chunk.begin)) << chunk.text;
    EXPECT_EQ(chunk.line_end, line_at(chunk.end - 1)) << chunk.text;
    EXPECT_GE(chunk.line_end, chunk.line);
  }
  // "Line number 100" is on the file's line 114 (after 14 blank lines).
  const auto hundred = std::find_if(chunks.begin(), chunks.end(), [](const Chunk& c) {
    return c.text.find("Line number 100 ") != std::string::npos;
  });
  ASSERT_NE(hundred, chunks.end());
  EXPECT_LE(hundred->line, 114u);
  EXPECT_GE(hundred->line_end, 114u);
}

TEST(LinesTest, FormatsWithoutLinesGiveChunksNone) {
  ExtractedDocument doc;
  doc.text = "A sentence. Another one.";
  const std::vector<Chunk> chunks = ChunkDocument(doc, {});
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].line, 0u);
  EXPECT_EQ(chunks[0].line_end, 0u);
  EXPECT_TRUE(ExtractHtml("<p>One.</p>\n<p>Two.</p>").lines.empty());
}

TEST(LinesTest, MarkdownTextPointsAtItsLinesInTheFile) {
  const ExtractedDocument doc = ExtractMarkdown(
      "---\r\n"           // 1
      "title: Notes\r\n"  // 2
      "---\r\n"           // 3
      "# Heading\r\n"     // 4
      "\r\n"              // 5
      "First paragraph\r\n"
      "continues *here*.\r\n"  // 7
      "\r\n"
      "```sh\r\n"  // 9
      "\r\n"
      "code one\r\n"  // 11
      "code two\r\n"  // 12
      "```\r\n"
      "\f\n"             // 14: a form feed line
      "- item text\n");  // 15
  EXPECT_EQ(LineOf(doc, "Heading"), 4u);
  EXPECT_EQ(LineOf(doc, "First paragraph"), 6u);
  EXPECT_EQ(LineOf(doc, "here"), 7u);
  EXPECT_EQ(LineOf(doc, "code one"), 11u);
  EXPECT_EQ(LineOf(doc, "code two"), 12u);
  EXPECT_EQ(LineOf(doc, "item text"), 15u);
  EXPECT_TRUE(
      std::is_sorted(doc.lines.begin(), doc.lines.end(),
                     [](const LineStart& a, const LineStart& b) { return a.begin < b.begin; }));
}

TEST(LinesTest, ManPageLinesAreLinesOfTheRoffSource) {
  const ExtractedDocument doc = ExtractMan(
      ".TH TOOL 1\n"           // 1
      ".SH NAME\n"             // 2
      "tool \\- do a thing\n"  // 3
      ".SH DESCRIPTION\n"      // 4
      ".B tool\n"              // 5
      "reads its input.\n"     // 6
      ".PP\n"                  // 7
      "A second paragraph.\n"  // 8
      ".TP\n"                  // 9
      ".B \\-v\n"              // 10
      "Be verbose.\n");        // 11
  EXPECT_EQ(LineOf(doc, "NAME"), 2u);
  EXPECT_EQ(LineOf(doc, "DESCRIPTION"), 4u);
  EXPECT_EQ(LineOf(doc, "reads its input"), 6u);
  EXPECT_EQ(LineOf(doc, "A second paragraph"), 8u);
  EXPECT_EQ(LineOf(doc, "-v"), 10u);
  EXPECT_EQ(LineOf(doc, "Be verbose"), 11u);
}

}  // namespace
}  // namespace sieve::text
