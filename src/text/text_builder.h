// Internal to the text stage: assembles a document's text from extracted pieces, cleaning each
// piece (normalize.h) and placing line and paragraph breaks, so that offsets recorded while
// building (ContentOffset) stay exact in the final text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "text/document.h"

namespace sieve::text {

class TextBuilder {
 public:
  // Appends a piece keeping its whitespace (code blocks, <pre>, PDF page text). Leading
  // whitespace at the very start of the document is skipped.
  void AppendRaw(std::string_view bytes);
  // Appends a piece with each run of ASCII whitespace and no-break spaces collapsed to one
  // space (HTML text nodes).
  void AppendCollapsed(std::string_view bytes);
  // Asks for a space before the next content (nothing if the text ends in whitespace).
  void Space() { pending_space_ = true; }
  // Ask for the next content to start on a new line / after a blank line. Breaks are placed
  // lazily, so several in a row collapse into one and none is left at the end.
  void LineBreak();
  void ParagraphBreak();
  // Byte offset where the next content will begin (places any pending break now).
  std::size_t ContentOffset();
  // Where the next content will begin, without placing anything (the text stays as it is).
  std::size_t NextContentOffset() const;
  // Records that the next content comes from line `line` of the source file (a LineStart at
  // NextContentOffset()); entries at or past that offset are replaced, so `lines` stays sorted.
  void MarkLine(std::size_t line, std::vector<LineStart>& lines) const;
  const std::string& text() const { return text_; }
  std::size_t invalid_utf8_replaced() const { return invalid_utf8_replaced_; }
  // The finished text, trailing whitespace removed. The builder is left empty.
  std::string Finish();

 private:
  void PlacePendingBreak();
  void AppendClean(std::string_view clean);

  std::string text_;
  std::string scratch_;
  int pending_newlines_ = 0;
  bool pending_space_ = false;
  std::size_t invalid_utf8_replaced_ = 0;
};

// Keeps section, page and line offsets inside the finished text (trailing whitespace was trimmed
// after they were recorded) and drops sections that start at the very end.
void ClampOffsets(ExtractedDocument& doc);

}  // namespace sieve::text
