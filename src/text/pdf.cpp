#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <climits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "text/extract.h"
#include "text/text_builder.h"

namespace sieve::text {
namespace {

void IgnorePopplerMessage(const std::string& /*message*/, void* /*closure*/) {}

// Poppler reports every syntax problem on stderr; our errors say what matters instead. The hook
// is process-wide inside poppler, so install it once.
void SilencePopplerOnce() {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function(IgnorePopplerMessage, nullptr); });
}

std::string ToUtf8(const poppler::ustring& text) {
  const poppler::byte_array bytes = text.to_utf8();
  return std::string(bytes.begin(), bytes.end());
}

// Typeset PDFs often carry ligature glyphs (U+FB00..U+FB06); spelled out, "ﬁnd" matches "find".
std::string ExpandLigatures(std::string text) {
  static constexpr std::string_view kLigatures[] = {"ff", "fi", "fl", "ffi", "ffl", "st", "st"};
  if (text.find("\xEF\xAC") == std::string::npos) return text;  // no U+FBxx at all
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i + 2 < text.size() && text[i] == '\xEF' && text[i + 1] == '\xAC' &&
        static_cast<unsigned char>(text[i + 2]) >= 0x80 &&
        static_cast<unsigned char>(text[i + 2]) <= 0x86) {
      out.append(kLigatures[static_cast<unsigned char>(text[i + 2]) - 0x80]);
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace

Result<ExtractedDocument> ExtractPdf(std::string_view bytes) {
  SilencePopplerOnce();
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) {
    return Status::Unsupported("PDF larger than 2 GiB");
  }
  // Without a %PDF header poppler may still "repair" junk into an empty document.
  if (bytes.substr(0, 1024).find("%PDF-") == std::string_view::npos) {
    return Status::InvalidInput("corrupt PDF (no %PDF- header)");
  }
  std::unique_ptr<poppler::document> pdf(
      poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  if (!pdf) return Status::InvalidInput("corrupt PDF (cannot be parsed)");
  if (pdf->is_locked()) return Status::Unsupported("encrypted PDF (password required)");
  const int page_count = pdf->pages();
  if (page_count <= 0) return Status::InvalidInput("corrupt PDF (no pages)");

  ExtractedDocument doc;
  doc.title = ToUtf8(pdf->info_key("Title"));
  TextBuilder out;
  for (int index = 0; index < page_count; ++index) {
    std::unique_ptr<poppler::page> page(pdf->create_page(index));
    out.ParagraphBreak();
    doc.pages.push_back({out.ContentOffset(), index + 1});
    if (!page) continue;
    out.AppendRaw(ExpandLigatures(
        ToUtf8(page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout))));
  }
  doc.invalid_utf8_replaced = out.invalid_utf8_replaced();
  doc.text = out.Finish();
  // The title went through no builder: clean it too.
  TextBuilder title;
  title.AppendCollapsed(doc.title);
  doc.title = title.Finish();
  ClampOffsets(doc);
  return doc;
}

}  // namespace sieve::text
