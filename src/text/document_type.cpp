#include <algorithm>
#include <cctype>

#include "text/document.h"
#include "text/file_reader.h"

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
    case DocumentType::kMan:
      return "man";
  }
  return "unknown";
}

std::optional<DocumentType> ParseDocumentType(std::string_view name) {
  for (auto type : {DocumentType::kText, DocumentType::kMarkdown, DocumentType::kHtml,
                    DocumentType::kPdf, DocumentType::kBeir, DocumentType::kMan}) {
    if (name == DocumentTypeName(type)) return type;
  }
  return std::nullopt;
}

std::string FileTitle(const std::filesystem::path& path) {
  const std::filesystem::path plain = WithoutCompressionSuffix(path);
  std::string name = plain.filename().string();
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view generic : {"copyright", "readme", "changelog", "news", "changes", "todo",
                                   "authors", "install", "license", "copying", "index"}) {
    if (lower.starts_with(generic) && plain.has_parent_path()) {
      const std::string parent = plain.parent_path().filename().string();
      if (!parent.empty()) return parent + "/" + name;
    }
  }
  return name;
}

std::optional<DocumentType> DetectType(const std::filesystem::path& raw_path) {
  const std::filesystem::path path = WithoutCompressionSuffix(raw_path);
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
