// Sentence-aware chunking with a token budget and overlap.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "text/document.h"

namespace sieve::text {

struct ChunkOptions {
  std::size_t max_tokens = 256;     // budget per chunk
  std::size_t overlap_tokens = 32;  // tokens repeated from the end of the previous chunk
};

struct Chunk {
  std::size_t ordinal = 0;  // position of the chunk in its document, from 0
  std::size_t begin = 0;    // byte offsets into ExtractedDocument::text: [begin, end)
  std::size_t end = 0;
  std::string text;     // == document.text.substr(begin, end - begin)
  std::string section;  // title of the section the chunk starts in ("" if none)
  int page = 0;         // page the chunk starts on (0 = format has no pages)
  // Lines of the source file the chunk starts and ends on (ExtractedDocument::lines; 0 = the
  // format has no lines).
  std::size_t line = 0;
  std::size_t line_end = 0;
};

// Counts tokens in a piece of text. The default approximates a WordPiece tokenizer (words and
// punctuation marks); a model's own tokenizer can be passed for an exact budget. A counter
// should count the text alone, without special tokens such as [CLS]/[SEP] (leave room for those
// in max_tokens), and a longer piece should never count fewer tokens than a piece it contains.
using TokenCounter = std::function<std::size_t(std::string_view)>;

// Approximates bert-base-uncased WordPiece: every punctuation mark or symbol is one token, every
// CJK ideograph is one token, and a word (a run of letters, digits and marks) is one token plus
// one per further 6 code points (or part) beyond its first 6. Whitespace, controls and accents
// count nothing. On Cranfield it over-counts real WordPiece by ~19%, rarely under-counts.
std::size_t ApproxTokenCount(std::string_view text);

// A byte range [begin, end) of a text.
struct TextSpan {
  std::size_t begin = 0;
  std::size_t end = 0;
};

// The sentences of `text` as the chunker sees them: trimmed of surrounding whitespace, in order,
// together covering every non-whitespace byte. A sentence ends at . ! ? (and 。！？), optionally
// followed by closing quotes or brackets, when whitespace or the end follows; and at every
// paragraph break (a blank line). A period does not end a sentence after a known abbreviation
// ("Dr.", "Fig.", "et al.", "vs."), a word with an inner period ("e.g.", "U.S."), a single
// capital letter (an initial), "etc." followed by a lowercase word, or a number that opens a
// line (a list item "1."). Decimals such as 3.5 are never split (no whitespace follows).
std::vector<TextSpan> SplitSentences(std::string_view text);

// Deterministic: the chunks depend only on the document and the options, never on what else was
// ingested or in which order.
//
// Whole sentences are packed greedily while count_tokens(chunk.text) <= max_tokens; the next
// chunk starts with as many trailing sentences of the previous one as fit in overlap_tokens
// (never the whole previous chunk, never more than the budget, and only if the next new
// sentence still fits after them). A sentence over max_tokens is cut at word boundaries, and a
// word over max_tokens at code point boundaries. A chunk never spans the start of a section,
// and overlap is not carried into a new section. Every non-whitespace byte of the text is in
// at least one chunk; chunk offsets never split a UTF-8 sequence. max_tokens 0 is taken as 1.
std::vector<Chunk> ChunkDocument(const ExtractedDocument& doc, const ChunkOptions& options,
                                 const TokenCounter& count_tokens = ApproxTokenCount);

}  // namespace sieve::text
