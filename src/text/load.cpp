#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/file.h"
#include "text/document.h"
#include "text/extract.h"
#include "text/normalize.h"

namespace sieve::text {
namespace {

bool HasVisibleText(std::string_view text) {
  return text.find_first_not_of(" \t\n") != std::string_view::npos;
}

std::string Percent(std::size_t part, std::size_t whole) {
  return std::to_string(whole == 0 ? 0 : (part * 100 + whole / 2) / whole) + "%";
}

// Text formats must look like text: refuse binary files that only carry a text extension.
Status CheckLooksLikeText(std::string_view bytes) {
  if (bytes.starts_with("\xFF\xFE") || bytes.starts_with("\xFE\xFF")) {
    return Status::Unsupported("UTF-16 text is not supported (convert it to UTF-8)");
  }
  const ByteProfile profile = ProfileBytes(bytes);
  if (LooksBinary(profile)) {
    return Status::InvalidInput(
        "looks binary, not text (" + Percent(profile.control, profile.total) + " control bytes, " +
        Percent(profile.invalid_utf8, profile.total) + " invalid UTF-8 bytes)");
  }
  return Status::Ok();
}

Result<std::vector<ExtractedDocument>> Extract(DocumentType type, std::string_view bytes) {
  std::vector<ExtractedDocument> docs;
  switch (type) {
    case DocumentType::kText:
      SIEVE_RETURN_IF_ERROR(CheckLooksLikeText(bytes));
      docs.push_back(ExtractPlainText(bytes));
      break;
    case DocumentType::kMarkdown:
      SIEVE_RETURN_IF_ERROR(CheckLooksLikeText(bytes));
      docs.push_back(ExtractMarkdown(bytes));
      break;
    case DocumentType::kHtml:
      SIEVE_RETURN_IF_ERROR(CheckLooksLikeText(bytes));
      docs.push_back(ExtractHtml(bytes));
      break;
    case DocumentType::kPdf: {
      SIEVE_ASSIGN_OR_RETURN(ExtractedDocument doc, ExtractPdf(bytes));
      if (!HasVisibleText(doc.text)) {
        return Status::InvalidInput(
            "empty document (no text after extraction; a scanned PDF without a text layer?)");
      }
      docs.push_back(std::move(doc));
      break;
    }
    case DocumentType::kBeir: {
      SIEVE_ASSIGN_OR_RETURN(docs, ExtractBeirCorpus(bytes));
      if (docs.empty()) return Status::InvalidInput("empty corpus (no records)");
      return docs;
    }
  }
  if (!HasVisibleText(docs.front().text)) {
    return Status::InvalidInput("empty document (no text after extraction)");
  }
  return docs;
}

}  // namespace

ExtractedDocument ExtractPlainText(std::string_view bytes) {
  ExtractedDocument doc;
  doc.text = NormalizeText(bytes, &doc.invalid_utf8_replaced);
  return doc;
}

Result<std::vector<ExtractedDocument>> LoadFile(const std::filesystem::path& path,
                                                const LoadOptions& options) {
  const std::string name = path.string();
  const std::optional<DocumentType> type = DetectType(path);
  if (!type) {
    const std::string ext = path.extension().string();
    return Status::Unsupported(name + ": unsupported file type" +
                               (ext.empty() ? std::string(" (no extension)") : " \"" + ext + "\""));
  }
  std::error_code ec;
  const auto file_status = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(file_status) &&
      !std::filesystem::is_regular_file(file_status)) {
    return Status::InvalidInput(name + (std::filesystem::is_directory(file_status)
                                            ? ": is a directory, not a file"
                                            : ": not a regular file"));
  }
  // ReadFile reports a missing file (kNotFound), no permission (kIoError) and the size limit.
  SIEVE_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path, options.max_file_bytes));

  Result<std::vector<ExtractedDocument>> docs = Extract(*type, bytes);
  if (!docs.ok()) return docs.status().WithContext(name);
  for (ExtractedDocument& doc : *docs) {
    if (*type != DocumentType::kBeir) doc.key = name;
    doc.source_path = name;
    doc.type = *type;
  }
  return docs;
}

}  // namespace sieve::text
