// libFuzzer target: the text stage's extractors and chunker on arbitrary bytes. The first byte
// picks the format; the rest is the file. Nothing may crash, text must be valid UTF-8 with
// in-range offsets, and chunks must keep their promises (exact offsets, budget, coverage).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "text/chunker.h"
#include "text/extract.h"
#include "text/normalize.h"

namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

void Check(const sieve::text::ExtractedDocument& doc, std::size_t max_tokens) {
  using namespace sieve::text;
  if (!IsValidUtf8(doc.text) || !IsValidUtf8(doc.title)) std::abort();
  for (const Section& s : doc.sections) {
    if (s.begin > doc.text.size()) std::abort();
  }
  for (const PageStart& p : doc.pages) {
    if (p.begin > doc.text.size()) std::abort();
  }
  ChunkOptions options;
  options.max_tokens = max_tokens;
  options.overlap_tokens = max_tokens / 3;
  std::vector<bool> covered(doc.text.size(), false);
  for (const Chunk& c : ChunkDocument(doc, options)) {
    if (c.begin >= c.end || c.end > doc.text.size()) std::abort();
    if (c.text != std::string_view(doc.text).substr(c.begin, c.end - c.begin)) std::abort();
    if (!IsValidUtf8(c.text) || ApproxTokenCount(c.text) > max_tokens) std::abort();
    for (std::size_t b = c.begin; b < c.end; ++b) covered[b] = true;
  }
  for (std::size_t b = 0; b < doc.text.size(); ++b) {
    if (!IsSpace(doc.text[b]) && !covered[b]) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sieve::text;
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t max_tokens = 1 + (selector >> 3);
  switch (selector % 5) {
    case 0:
      Check(ExtractPlainText(bytes), max_tokens);
      break;
    case 1:
      Check(ExtractMarkdown(bytes), max_tokens);
      break;
    case 2:
      Check(ExtractHtml(bytes), max_tokens);
      break;
    case 3: {
      auto doc = ExtractPdf(bytes);
      if (doc.ok()) Check(*doc, max_tokens);
      break;
    }
    default: {
      auto docs = ExtractBeirCorpus(bytes);
      if (docs.ok()) {
        for (const auto& doc : *docs) Check(doc, max_tokens);
      }
      break;
    }
  }
  return 0;
}
