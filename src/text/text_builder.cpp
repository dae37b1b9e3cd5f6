#include "text/text_builder.h"

#include <algorithm>

#include "text/normalize.h"

namespace sieve::text {
namespace {

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

}  // namespace

void TextBuilder::LineBreak() {
  pending_newlines_ = std::max(pending_newlines_, 1);
}

void TextBuilder::ParagraphBreak() {
  pending_newlines_ = 2;
}

void TextBuilder::PlacePendingBreak() {
  if (pending_newlines_ == 0) return;
  if (!text_.empty()) {
    // Exactly the asked-for break, whatever whitespace the last piece ended with.
    while (!text_.empty() && IsAsciiSpace(text_.back())) text_.pop_back();
    if (!text_.empty()) text_.append(static_cast<std::size_t>(pending_newlines_), '\n');
  }
  pending_newlines_ = 0;
  pending_space_ = false;
}

std::size_t TextBuilder::ContentOffset() {
  PlacePendingBreak();
  return text_.size();
}

std::size_t TextBuilder::NextContentOffset() const {
  std::size_t size = text_.size();
  if (pending_newlines_ > 0) {
    while (size > 0 && IsAsciiSpace(text_[size - 1])) --size;
    return size == 0 ? 0 : size + static_cast<std::size_t>(pending_newlines_);
  }
  if (pending_space_ && size > 0 && !IsAsciiSpace(text_[size - 1])) return size + 1;
  return size;
}

void TextBuilder::MarkLine(std::size_t line, std::vector<LineStart>& lines) const {
  const std::size_t begin = NextContentOffset();
  while (!lines.empty() && lines.back().begin >= begin) lines.pop_back();
  if (!lines.empty() && lines.back().line == line) return;
  lines.push_back({begin, line});
}

void TextBuilder::AppendClean(std::string_view clean) {
  if (clean.empty()) return;
  PlacePendingBreak();
  if (pending_space_ && !text_.empty() && !IsAsciiSpace(text_.back())) text_.push_back(' ');
  pending_space_ = false;
  text_.append(clean);
}

void TextBuilder::AppendRaw(std::string_view bytes) {
  scratch_.clear();
  invalid_utf8_replaced_ += AppendNormalized(bytes, scratch_);
  std::string_view clean = scratch_;
  if (text_.empty() || (pending_newlines_ > 0)) {
    // Whitespace right after a break (or at the start) would only push content away from it.
    std::size_t first = 0;
    while (first < clean.size() && IsAsciiSpace(clean[first])) ++first;
    clean.remove_prefix(first);
  }
  AppendClean(clean);
}

void TextBuilder::AppendCollapsed(std::string_view bytes) {
  scratch_.clear();
  invalid_utf8_replaced_ += AppendNormalized(bytes, scratch_);
  std::string_view clean = scratch_;
  // A no-break space (&nbsp;) counts as whitespace here: "end.&nbsp; Next" must read as two
  // sentences, and "5&nbsp;kW" reads the same with a plain space.
  auto space_length = [&clean](std::size_t i) -> std::size_t {
    if (IsAsciiSpace(clean[i])) return 1;
    return clean.substr(i, 2) == "\xC2\xA0" ? 2 : 0;
  };
  std::size_t i = 0;
  while (i < clean.size()) {
    if (const std::size_t n = space_length(i)) {
      pending_space_ = true;
      i += n;
      continue;
    }
    std::size_t j = i;
    while (j < clean.size() && space_length(j) == 0) ++j;
    AppendClean(clean.substr(i, j - i));
    i = j;
  }
}

std::string TextBuilder::Finish() {
  while (!text_.empty() && IsAsciiSpace(text_.back())) text_.pop_back();
  pending_newlines_ = 0;
  pending_space_ = false;
  std::string out = std::move(text_);
  text_.clear();
  return out;
}

void ClampOffsets(ExtractedDocument& doc) {
  const std::size_t size = doc.text.size();
  std::erase_if(doc.sections, [size](const Section& s) { return s.begin >= size && size > 0; });
  for (Section& section : doc.sections) section.begin = std::min(section.begin, size);
  for (PageStart& page : doc.pages) page.begin = std::min(page.begin, size);
  for (LineStart& line : doc.lines) line.begin = std::min(line.begin, size);
}

}  // namespace sieve::text
