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
};

// Counts tokens in a piece of text. The default approximates a WordPiece tokenizer (words and
// punctuation marks); a model's own tokenizer can be passed for an exact budget.
using TokenCounter = std::function<std::size_t(std::string_view)>;
std::size_t ApproxTokenCount(std::string_view text);

// Deterministic: the chunks depend only on the document and the options, never on what else was
// ingested or in which order.
std::vector<Chunk> ChunkDocument(const ExtractedDocument& doc, const ChunkOptions& options,
                                 const TokenCounter& count_tokens = ApproxTokenCount);

}  // namespace sieve::text
