#include "text/chunker.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace sieve::text {
namespace {

// ---- token approximation -------------------------------------------------------------------

// Words up to this many code points count as one token; each further kCharsPerPiece (or part)
// adds one. On Cranfield this over-counts bert-base-uncased WordPiece by 19% in total and
// under-counts 2 of 1400 documents by at most 5.4%, a safe side for a budget
// (tests/data/text/calibrate_approx_tokens.py compares other constants).
constexpr std::size_t kWholeWordChars = 6;
constexpr std::size_t kCharsPerPiece = 6;

std::size_t WordTokens(std::size_t code_points) {
  if (code_points == 0) return 0;
  if (code_points <= kWholeWordChars) return 1;
  return 1 + (code_points - kWholeWordChars + kCharsPerPiece - 1) / kCharsPerPiece;
}

bool IsCjkIdeograph(utf8proc_int32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// ---- sentence splitting --------------------------------------------------------------------

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

// Abbreviations that are followed by a period but (almost) never end a sentence.
constexpr std::string_view kAbbreviations[] = {
    "Mr",  "Mrs", "Ms",     "Dr",   "Prof", "Sr",   "Jr",  "St",   "Mt",   "vs",   "cf",
    "Fig", "fig", "Figs",   "figs", "Eq",   "eq",   "Eqs", "eqs",  "No",   "Nos",  "Vol",
    "vol", "pp",  "approx", "ca",   "Inc",  "Ltd",  "Co",  "Corp", "Dept", "al",   "Jan",
    "Feb", "Mar", "Apr",    "Jun",  "Jul",  "Aug",  "Sep", "Sept", "Oct",  "Nov",  "Dec",
    "Gen", "Gov", "Lt",     "Col",  "Capt", "Sgt",  "Rev", "Ref",  "ref",  "Refs", "Sec",
    "sec", "Ch",  "ch",     "ie",   "eg",   "resp", "Ph"};

bool IsUpperAscii(char c) {
  return c >= 'A' && c <= 'Z';
}
bool IsLowerAscii(char c) {
  return c >= 'a' && c <= 'z';
}
bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// Does the period at text[dot] end a sentence? `after` is the first byte after the period and
// any closing quotes/brackets (whitespace or the end of the text).
bool PeriodEndsSentence(std::string_view text, std::size_t dot, std::size_t after) {
  if (dot > 0 && text[dot - 1] == '.') return true;  // an ellipsis
  std::size_t word_begin = dot;
  while (word_begin > 0 && !IsSpace(text[word_begin - 1])) --word_begin;
  while (word_begin < dot && (text[word_begin] == '(' || text[word_begin] == '[' ||
                              text[word_begin] == '"' || text[word_begin] == '\'')) {
    ++word_begin;
  }
  const std::string_view word = text.substr(word_begin, dot - word_begin);
  if (word.empty()) return true;  // "word . next": a spaced period, as in Cranfield
  if (word.find('.') != std::string_view::npos) return false;   // e.g. / U.S. / Ph.D.
  if (word.size() == 1 && IsUpperAscii(word[0])) return false;  // an initial: "J. Smith"
  if (std::find(std::begin(kAbbreviations), std::end(kAbbreviations), word) !=
      std::end(kAbbreviations)) {
    return false;
  }
  std::size_t next = after;
  while (next < text.size() && IsSpace(text[next])) ++next;
  if (word == "etc") return next >= text.size() || !IsLowerAscii(text[next]);
  if (std::all_of(word.begin(), word.end(), IsDigit)) {
    // "1." opening a line is a list item, not a sentence.
    std::size_t line_start = word_begin;
    while (line_start > 0 && (text[line_start - 1] == ' ' || text[line_start - 1] == '\t')) {
      --line_start;
    }
    if (line_start == 0 || text[line_start - 1] == '\n') return false;
  }
  return true;
}

// Length of a closing quote or bracket at text[i] (0 if none).
std::size_t ClosingMarkLength(std::string_view text, std::size_t i) {
  const char c = text[i];
  if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '}') return 1;
  if (c != '\xE2' && c != '\xC2') return 0;  // cheap exit: not the lead byte of ’ ” »
  for (std::string_view mark : {"\xE2\x80\x99", "\xE2\x80\x9D", "\xC2\xBB"}) {  // ’ ” »
    if (text.substr(i, mark.size()) == mark) return mark.size();
  }
  return 0;
}

// Length of an ideographic sentence end (。！？) at text[i], 0 if none.
std::size_t IdeographicEndLength(std::string_view text, std::size_t i) {
  if (text[i] != '\xE3' && text[i] != '\xEF') return 0;  // cheap exit: not 。！？
  for (std::string_view mark : {"\xE3\x80\x82", "\xEF\xBC\x81", "\xEF\xBC\x9F"}) {
    if (text.substr(i, mark.size()) == mark) return mark.size();
  }
  return 0;
}

// ---- packing -------------------------------------------------------------------------------

class Packer {
 public:
  Packer(std::string_view text, const TokenCounter& count, std::size_t max_tokens)
      : text_(text), count_(count), max_tokens_(max_tokens) {}

  std::size_t Count(std::size_t begin, std::size_t end) const {
    return count_(text_.substr(begin, end - begin));
  }
  bool Fits(std::size_t begin, std::size_t end, std::size_t budget) const {
    return Count(begin, end) <= budget;
  }

  // The largest k <= last - first such that [begin, ends[first + k - 1]) fits the budget,
  // found with a galloping then binary search (counts grow with the range).
  std::size_t FitPrefix(std::size_t begin, const std::vector<std::size_t>& ends, std::size_t first,
                        std::size_t last, std::size_t budget) const {
    const std::size_t available = last - first;
    auto fits = [&](std::size_t k) { return Fits(begin, ends[first + k - 1], budget); };
    std::size_t lo = 0;              // known to fit
    std::size_t hi = available + 1;  // known not to fit (or out of range)
    std::size_t probe = 1;
    while (probe <= available) {
      if (!fits(probe)) {
        hi = probe;
        break;
      }
      lo = probe;
      probe *= 2;
    }
    if (hi == available + 1 && lo < available) {
      if (fits(available)) return available;
      hi = available;
    }
    while (hi - lo > 1) {
      const std::size_t mid = lo + (hi - lo) / 2;
      (fits(mid) ? lo : hi) = mid;
    }
    return lo;
  }

  // Appends `span` to `units`, cut into pieces of at most max_tokens: at word boundaries, and
  // a word that alone is too long at code point boundaries.
  // `tokens` gets the count of each piece. Works through the span in windows of words (code
  // points), widened while everything in them fits: memory stays in proportion to a chunk, not
  // to the span (one sentence or word may be the whole of a hostile document).
  void AddUnit(TextSpan span, std::vector<TextSpan>& units,
               std::vector<std::size_t>& tokens) const {
    if (const std::size_t count = Count(span.begin, span.end); count <= max_tokens_) {
      units.push_back(span);
      tokens.push_back(count);
      return;
    }
    std::vector<TextSpan> words;
    std::vector<std::size_t> word_ends;
    std::size_t window = InitialWindow();
    std::size_t next = span.begin;  // where the words not yet in `words` start
    while (true) {
      // The next `window` words from `next` (fewer at the end of the span).
      words.clear();
      word_ends.clear();
      std::size_t i = next;
      while (words.size() < window) {
        while (i < span.end && IsSpace(text_[i])) ++i;
        const std::size_t word_begin = i;
        while (i < span.end && !IsSpace(text_[i])) ++i;
        if (i == word_begin) break;
        words.push_back({word_begin, i});
        word_ends.push_back(i);
      }
      if (words.empty()) return;
      const bool more = HasWord(i, span.end);
      const std::size_t n = FitPrefix(words[0].begin, word_ends, 0, words.size(), max_tokens_);
      if (n == words.size() && more) {
        window *= 2;  // all of them fit: there may be room for more
        continue;
      }
      if (n > 0) {
        units.push_back({words[0].begin, words[n - 1].end});
        tokens.push_back(Count(units.back().begin, units.back().end));
        next = words[n - 1].end;
      } else {
        SplitWord(words[0], units, tokens);
        next = words[0].end;
      }
      if (n == words.size() && !more) return;
    }
  }

 private:
  // Words or code points first looked at for one piece (enough for a piece of ordinary text).
  std::size_t InitialWindow() const {
    return std::min<std::size_t>(max_tokens_, 1u << 16) * 8 + 16;
  }

  bool HasWord(std::size_t i, std::size_t end) const {
    while (i < end && IsSpace(text_[i])) ++i;
    return i < end;
  }

  void SplitWord(TextSpan word, std::vector<TextSpan>& units,
                 std::vector<std::size_t>& tokens) const {
    std::vector<std::size_t> boundaries;  // end of each code point in the window
    std::size_t window = InitialWindow();
    std::size_t begin = word.begin;
    while (begin < word.end) {
      boundaries.clear();
      for (std::size_t i = begin + 1; i <= word.end && boundaries.size() < window; ++i) {
        if (i == word.end || (static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) {
          boundaries.push_back(i);
        }
      }
      std::size_t n = FitPrefix(begin, boundaries, 0, boundaries.size(), max_tokens_);
      if (n == boundaries.size() && boundaries.back() < word.end) {
        window *= 2;  // all of them fit: there may be room for more
        continue;
      }
      n = std::max<std::size_t>(n, 1);  // a code point that alone is over budget still goes
      units.push_back({begin, boundaries[n - 1]});
      tokens.push_back(Count(units.back().begin, units.back().end));
      begin = boundaries[n - 1];
    }
  }

  std::string_view text_;
  const TokenCounter& count_;
  std::size_t max_tokens_;
};

// Index of the last entry with begin <= offset, or -1.
template <typename Entries>
long LastStartingAtOrBefore(const Entries& entries, std::size_t offset) {
  auto it = std::upper_bound(entries.begin(), entries.end(), offset,
                             [](std::size_t value, const auto& e) { return value < e.begin; });
  return static_cast<long>(it - entries.begin()) - 1;
}

}  // namespace

std::size_t ApproxTokenCount(std::string_view text) {
  std::size_t tokens = 0;
  std::size_t word_length = 0;  // code points in the current word
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      ++i;
      if ((byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'z') ||
          (byte >= 'A' && byte <= 'Z')) {
        ++word_length;
        continue;
      }
      tokens += WordTokens(word_length);
      word_length = 0;
      if (byte > 0x20 && byte < 0x7F) ++tokens;  // punctuation or symbol
      continue;
    }
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t len =
        utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                         static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (len <= 0) {  // not UTF-8: one unknown token
      tokens += WordTokens(word_length) + 1;
      word_length = 0;
      ++i;
      continue;
    }
    i += static_cast<std::size_t>(len);
    if (IsCjkIdeograph(cp)) {
      tokens += WordTokens(word_length) + 1;
      word_length = 0;
      continue;
    }
    switch (utf8proc_category(cp)) {
      case UTF8PROC_CATEGORY_LU:
      case UTF8PROC_CATEGORY_LL:
      case UTF8PROC_CATEGORY_LT:
      case UTF8PROC_CATEGORY_LM:
      case UTF8PROC_CATEGORY_LO:
      case UTF8PROC_CATEGORY_ND:
      case UTF8PROC_CATEGORY_NL:
      case UTF8PROC_CATEGORY_NO:
        ++word_length;
        break;
      case UTF8PROC_CATEGORY_MN:
      case UTF8PROC_CATEGORY_MC:
      case UTF8PROC_CATEGORY_ME:
      case UTF8PROC_CATEGORY_CF:
        break;  // accents and format characters vanish (BERT strips them)
      case UTF8PROC_CATEGORY_ZS:
      case UTF8PROC_CATEGORY_ZL:
      case UTF8PROC_CATEGORY_ZP:
      case UTF8PROC_CATEGORY_CC:
        tokens += WordTokens(word_length);
        word_length = 0;
        break;
      default:  // punctuation, symbols, unassigned: one token each
        tokens += WordTokens(word_length) + 1;
        word_length = 0;
        break;
    }
  }
  return tokens + WordTokens(word_length);
}

std::vector<TextSpan> SplitSentences(std::string_view text) {
  std::vector<TextSpan> sentences;
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t begin = kNone;  // first byte of the open sentence
  std::size_t last_end = 0;   // end of its last non-whitespace byte
  auto close = [&](std::size_t end) {
    if (begin != kNone && end > begin) sentences.push_back({begin, end});
    begin = kNone;
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (IsSpace(c)) {
      if (c == '\n' && begin != kNone) {
        std::size_t j = i + 1;
        while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r')) ++j;
        if (j < text.size() && text[j] == '\n') close(last_end);  // paragraph break
      }
      ++i;
      continue;
    }
    if (begin == kNone) begin = i;
    if (c == '.' || c == '!' || c == '?') {
      std::size_t after = i + 1;
      while (after < text.size()) {
        const std::size_t mark = ClosingMarkLength(text, after);
        if (mark == 0) break;
        after += mark;
      }
      if ((after == text.size() || IsSpace(text[after])) &&
          (c != '.' || PeriodEndsSentence(text, i, after))) {
        close(after);
        last_end = after;
        i = after;
        continue;
      }
    } else if (const std::size_t ideographic = IdeographicEndLength(text, i)) {
      close(i + ideographic);
      last_end = i + ideographic;
      i += ideographic;
      continue;
    }
    ++i;
    last_end = i;
  }
  close(last_end);
  return sentences;
}

std::vector<Chunk> ChunkDocument(const ExtractedDocument& doc, const ChunkOptions& options,
                                 const TokenCounter& count_tokens) {
  const std::string_view text = doc.text;
  const std::size_t max_tokens = std::max<std::size_t>(1, options.max_tokens);
  const Packer packer(text, count_tokens, max_tokens);

  // Sentences, cut where a section starts inside one, then cut to fit the budget.
  std::vector<TextSpan> units;
  std::vector<std::size_t> unit_tokens;
  for (TextSpan sentence : SplitSentences(text)) {
    // Sections that start strictly inside the sentence (sections are sorted by begin).
    auto section =
        std::upper_bound(doc.sections.begin(), doc.sections.end(), sentence.begin,
                         [](std::size_t offset, const Section& s) { return offset < s.begin; });
    for (; section != doc.sections.end() && section->begin < sentence.end; ++section) {
      std::size_t cut = section->begin;
      while (cut < sentence.end && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) ++cut;
      if (cut <= sentence.begin || cut >= sentence.end) continue;
      std::size_t head_end = cut;
      while (head_end > sentence.begin && IsSpace(text[head_end - 1])) --head_end;
      if (head_end > sentence.begin) packer.AddUnit({sentence.begin, head_end}, units, unit_tokens);
      sentence.begin = cut;
      while (sentence.begin < sentence.end && IsSpace(text[sentence.begin])) ++sentence.begin;
    }
    if (sentence.end > sentence.begin) packer.AddUnit(sentence, units, unit_tokens);
  }
  const std::size_t n = units.size();
  if (n == 0) return {};

  // Units of one section form a group that no chunk crosses.
  std::vector<long> section_of(n);
  for (std::size_t u = 0; u < n; ++u) {
    section_of[u] = LastStartingAtOrBefore(doc.sections, units[u].begin);
  }
  std::vector<std::size_t> group_end(n);
  for (std::size_t u = n; u-- > 0;) {
    group_end[u] = (u + 1 < n && section_of[u + 1] == section_of[u]) ? group_end[u + 1] : u + 1;
  }
  std::vector<std::size_t> unit_ends(n);
  for (std::size_t u = 0; u < n; ++u) unit_ends[u] = units[u].end;
  // Sums of unit counts estimate a range's count (exact for counters that add up across
  // whitespace, as WordPiece does); every chunk is then checked with one exact count.
  std::vector<std::size_t> prefix(n + 1, 0);
  for (std::size_t u = 0; u < n; ++u) prefix[u + 1] = prefix[u] + unit_tokens[u];
  auto sum = [&prefix](std::size_t first, std::size_t last) {
    return prefix[last] - prefix[first];
  };

  std::vector<Chunk> chunks;
  std::size_t start = 0;    // first unit of the next chunk
  std::size_t carried = 0;  // how many of those repeat the previous chunk (already fit)
  while (start < n) {
    const std::size_t limit = group_end[start];
    const std::size_t most = prefix[start] > SIZE_MAX - max_tokens ? SIZE_MAX  // no overflow
                                                                   : prefix[start] + max_tokens;
    std::size_t count = static_cast<std::size_t>(
        std::upper_bound(prefix.begin() + static_cast<long>(start) + 1,
                         prefix.begin() + static_cast<long>(limit) + 1, most) -
        prefix.begin() - 1 - static_cast<long>(start));
    if (count > 1 && !packer.Fits(units[start].begin, units[start + count - 1].end, max_tokens)) {
      // The counter does not add up over this range: search with exact counts.
      count = packer.FitPrefix(units[start].begin, unit_ends, start, start + count, max_tokens);
    }
    count = std::max(count, carried + 1);  // progress even with an erratic counter
    const std::size_t end = start + count;

    Chunk chunk;
    chunk.ordinal = chunks.size();
    chunk.begin = units[start].begin;
    chunk.end = units[end - 1].end;
    chunk.text = std::string(text.substr(chunk.begin, chunk.end - chunk.begin));
    if (const long s = LastStartingAtOrBefore(doc.sections, chunk.begin); s >= 0) {
      chunk.section = doc.sections[static_cast<std::size_t>(s)].title;
    }
    if (const long p = LastStartingAtOrBefore(doc.pages, chunk.begin); p >= 0) {
      chunk.page = doc.pages[static_cast<std::size_t>(p)].page;
    }
    if (const long l = LastStartingAtOrBefore(doc.lines, chunk.begin); l >= 0) {
      chunk.line = doc.lines[static_cast<std::size_t>(l)].line;
      // The line of the chunk's last byte.
      const long e =
          LastStartingAtOrBefore(doc.lines, chunk.end > chunk.begin ? chunk.end - 1 : chunk.begin);
      chunk.line_end = std::max(chunk.line, doc.lines[static_cast<std::size_t>(e)].line);
    }
    chunks.push_back(std::move(chunk));
    if (end >= n) break;

    // Overlap: trailing units of this chunk, within the budget, same section as what follows,
    // never the whole chunk, and leaving room for the next new unit.
    std::size_t overlap = 0;
    while (overlap + 1 < count && section_of[end - overlap - 1] == section_of[end] &&
           sum(end - overlap - 1, end) <= options.overlap_tokens) {
      ++overlap;
    }
    while (overlap > 0 &&
           !packer.Fits(units[end - overlap].begin, units[end - 1].end, options.overlap_tokens)) {
      --overlap;
    }
    while (overlap > 0 && !packer.Fits(units[end - overlap].begin, units[end].end, max_tokens)) {
      --overlap;
    }
    start = end - overlap;
    carried = overlap;
  }
  return chunks;
}

}  // namespace sieve::text
