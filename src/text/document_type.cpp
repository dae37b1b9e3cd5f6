#include <algorithm>
#include <cctype>

#include "text/document.h"

namespace sieve::text {

const char* DocumentTypeName(DocumentType type) {
  switch (type) {
    case DocumentType::kText:
      return "text";
    case DocumentType::kMarkdown:
      return "markdown";
    case DocumentType::kHtml:
      return "html";
    case DocumentType::kPdf:
      return "pdf";
    case DocumentType::kBeir:
      return "beir";
  }
  return "unknown";
}

std::optional<DocumentType> DetectType(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".txt" || ext == ".text" || ext == ".rst") return DocumentType::kText;
  if (ext == ".md" || ext == ".markdown") return DocumentType::kMarkdown;
  if (ext == ".html" || ext == ".htm" || ext == ".xhtml") return DocumentType::kHtml;
  if (ext == ".pdf") return DocumentType::kPdf;
  if (ext == ".jsonl") return DocumentType::kBeir;
  return std::nullopt;
}

}  // namespace sieve::text
