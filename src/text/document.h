// text: turning files into clean, citable text.
//
// Interface of the stage: LoadFile() reads one file of a known type (txt, md, html, pdf, BEIR
// corpus.jsonl) and returns the documents it holds, each as valid UTF-8 text with the byte
// offsets where sections and pages begin, so a chunk can later be cited exactly. ChunkDocument()
// (chunker.h) cuts a document into overlapping, sentence-aligned chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace sieve::text {

enum class DocumentType { kText, kMarkdown, kHtml, kPdf, kBeir };

const char* DocumentTypeName(DocumentType type);  // "text", "markdown", "html", "pdf", "beir"

// A section heading and the byte offset (into ExtractedDocument::text) where its text begins.
struct Section {
  std::size_t begin = 0;
  std::string title;
};

// A page number (1-based) and the byte offset where that page's text begins.
struct PageStart {
  std::size_t begin = 0;
  int page = 1;
};

struct ExtractedDocument {
  // Stable key of the document inside an index: the file path for ordinary files; for a BEIR
  // corpus the record's `_id`.
  std::string key;
  std::string source_path;  // file it came from
  std::string title;        // document title if the format has one, else empty
  DocumentType type = DocumentType::kText;
  std::string text;                       // valid UTF-8, NFC not applied (offsets stay byte-exact)
  std::vector<Section> sections;          // sorted by begin
  std::vector<PageStart> pages;           // sorted by begin; empty when the format has no pages
  std::size_t invalid_utf8_replaced = 0;  // bytes replaced by U+FFFD during normalisation
  // What the extractor had to cut or skip to stay within its bounds on hostile input (one line
  // each, without the file name), e.g. markup nested too deep. Empty for ordinary files.
  std::vector<std::string> notes;
};

struct LoadOptions {
  std::uint64_t max_file_bytes = 100ull * 1024 * 1024;
};

// Type from the file name (extension; "corpus.jsonl"/"*.jsonl" is BEIR). nullopt = unknown.
std::optional<DocumentType> DetectType(const std::filesystem::path& path);

// Loads one file. Errors name the file and the reason: missing, unreadable, over the size
// limit, binary junk, corrupt or encrypted PDF, empty document.
// Codes: kNotFound (missing), kIoError (unreadable), kUnsupported (unknown extension, encrypted
// PDF, UTF-16 text), kInvalidInput (everything else). A BEIR corpus gives one document per
// record: text = title + "\n\n" + text; empty records are kept (see text/extract.h).
Result<std::vector<ExtractedDocument>> LoadFile(const std::filesystem::path& path,
                                                const LoadOptions& options = {});

}  // namespace sieve::text
