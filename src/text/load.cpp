#include <cctype>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "core/file.h"
#include "text/document.h"
#include "text/extract.h"
#include "text/file_reader.h"
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
    case DocumentType::kMan:
      SIEVE_RETURN_IF_ERROR(CheckLooksLikeText(bytes));
      docs.push_back(ExtractMan(bytes));
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

// The first line of a text file, when it reads like a heading.
std::string HeadingTitle(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size() && (text[pos] == '\n' || text[pos] == ' ' || text[pos] == '\t')) ++pos;
  std::size_t end = text.find('\n', pos);
  if (end == std::string_view::npos) end = text.size();
  std::string_view line = text.substr(pos, end - pos);
  while (line.starts_with("#")) line.remove_prefix(1);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line.size() < 2 || line.size() > 80) return {};
  if (line.find("://") != std::string_view::npos || line.starts_with("#!")) return {};
  const char last = line.back();
  if (last == '.' || last == ',' || last == ';' || last == ':' || last == '{' || last == '(') {
    return {};
  }
  bool letter = false;
  bool lower = false;
  for (unsigned char c : line) {
    letter = letter || std::isalpha(c) || c >= 0x80;
    lower = lower || std::islower(c);
  }
  if (!letter) return {};
  // "Key: value" lines (mail headers, Debian control and copyright files) are not headings.
  const std::size_t colon = line.find(": ");
  if (colon != std::string_view::npos &&
      line.substr(0, colon).find(' ') == std::string_view::npos) {
    return {};
  }
  std::string_view next;
  if (end < text.size()) {
    std::size_t next_end = text.find('\n', end + 1);
    if (next_end == std::string_view::npos) next_end = text.size();
    next = text.substr(end + 1, next_end - end - 1);
  }
  const bool next_blank = next.find_first_not_of(" \t") == std::string_view::npos;
  const bool underline =
      !next.empty() && next.find_first_not_of("=-~*# \t") == std::string_view::npos;
  if (next_blank || underline || !lower) return std::string(line);
  return {};
}

}  // namespace

ExtractedDocument ExtractPlainText(std::string_view bytes) {
  ExtractedDocument doc;
  std::vector<std::size_t> line_starts;
  doc.text = NormalizeText(bytes, &doc.invalid_utf8_replaced, &line_starts);
  doc.lines.reserve(line_starts.size() + 1);
  doc.lines.push_back({0, 1});
  for (std::size_t i = 0; i < line_starts.size(); ++i) doc.lines.push_back({line_starts[i], i + 2});
  doc.title = HeadingTitle(doc.text);
  return doc;
}

Result<std::vector<ExtractedDocument>> LoadFile(const std::filesystem::path& path,
                                                const LoadOptions& options) {
  const std::string name = path.string();
  std::error_code ec;
  const auto file_status = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(file_status) &&
      !std::filesystem::is_regular_file(file_status)) {
    return Status::InvalidInput(name + (std::filesystem::is_directory(file_status)
                                            ? ": is a directory, not a file"
                                            : ": not a regular file"));
  }
  // Missing (kNotFound), no permission (kIoError), over the limit once uncompressed, corrupt
  // compressed data (kInvalidInput).
  Result<std::string> read = ReadDocumentBytes(path, options.max_file_bytes);
  if (!read.ok()) return read.status().WithContext(name);
  const std::string bytes = std::move(read).value();
  std::optional<DocumentType> type = options.type;
  if (!type) type = DetectType(path);
  if (!type) {
    SIEVE_ASSIGN_OR_RETURN(auto detector, TypeDetector::Create());
    Detection detection = detector->DetectBytes(path, bytes);
    if (!detection.type)
      return Status::Unsupported(name + ": not a document: " + detection.not_document);
    type = detection.type;
  }

  Result<std::vector<ExtractedDocument>> docs = Extract(*type, bytes);
  if (!docs.ok()) return docs.status().WithContext(name);
  for (ExtractedDocument& doc : *docs) {
    if (*type != DocumentType::kBeir) doc.key = name;
    doc.source_path = name;
    doc.type = *type;
    if (doc.title.empty() && *type != DocumentType::kBeir) doc.title = FileTitle(path);
  }
  return docs;
}

}  // namespace sieve::text
