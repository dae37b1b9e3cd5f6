// text: turning files into clean, citable text.
//
// Interface of the stage: LoadFile() reads one file (txt, md, html, pdf, man page, BEIR
// corpus.jsonl; gzip, bzip2 or xz compressed or not; the type from the name, else from the
// content, see file_reader.h) and returns the documents it holds, each as valid UTF-8 text with the
// byte offsets where sections and pages begin, so a chunk can later be cited exactly.
// ChunkDocument() (chunker.h) cuts a document into overlapping, sentence-aligned chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sieve::text {

enum class DocumentType { kText, kMarkdown, kHtml, kPdf, kBeir, kMan };

const char* DocumentTypeName(
    DocumentType type);  // "text", "markdown", "html", "pdf", "beir", "man"
// The inverse of DocumentTypeName; nullopt for an unknown name.
std::optional<DocumentType> ParseDocumentType(std::string_view name);

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

// Where a line of the source file begins in ExtractedDocument::text: `line` (1-based) of the file
// (decompressed; CRLF is one line end, a lone CR none) starts at byte `begin` of the text, or its
// text does (markup and blank lines leave no text of their own).
struct LineStart {
  std::size_t begin = 0;
  std::size_t line = 1;
};

struct ExtractedDocument {
  // Stable key of the document inside an index: the file path for ordinary files; for a BEIR
  // corpus the record's `_id`.
  std::string key;
  std::string source_path;  // file it came from
  std::string title;        // document title if the format has one, else empty
  DocumentType type = DocumentType::kText;
  std::string text;               // valid UTF-8, NFC not applied (offsets stay byte-exact)
  std::vector<Section> sections;  // sorted by begin
  std::vector<PageStart> pages;   // sorted by begin; empty when the format has no pages
  // Sorted by begin: the file's lines, for text-like formats (plain text, Markdown, man
  // page source); empty when the text does not follow the file's lines (HTML, PDF, BEIR).
  std::vector<LineStart> lines;
  std::size_t invalid_utf8_replaced = 0;  // bytes replaced by U+FFFD during normalisation
  // What the extractor had to cut or skip to stay within its bounds on hostile input (one line
  // each, without the file name), e.g. markup nested too deep. Empty for ordinary files.
  std::vector<std::string> notes;
};

struct LoadOptions {
  // Limit on the document's bytes; for a compressed file, on the uncompressed bytes.
  std::uint64_t max_file_bytes = 100ull * 1024 * 1024;
  // The type to read the file as, whatever its name and content say (`--type`).
  std::optional<DocumentType> type;
};

// Type from the file name (extension; "corpus.jsonl"/"*.jsonl" is BEIR), a compression suffix
// (.gz, .bz2, .xz) looked through. nullopt = the name does not say (see TypeDetector in
// file_reader.h for the decision from content).
std::optional<DocumentType> DetectType(const std::filesystem::path& path);

// The title a text file gets when its content has none: its file name without compression
// suffix, with the parent folder in front for generic names ("zlib1g/copyright").
std::string FileTitle(const std::filesystem::path& path);

// Loads one file. Errors name the file and the reason: missing, unreadable, over the size
// limit (uncompressed), corrupt compressed data, binary junk, corrupt or encrypted PDF, empty
// document, not a document (a type neither the name nor the content gives).
// Codes: kNotFound (missing), kIoError (unreadable), kUnsupported (not a document, encrypted
// PDF, UTF-16 text), kInvalidInput (everything else). Text and man pages without a title of
// their own get FileTitle(). A BEIR corpus gives one document per
// record: text = title + "\n\n" + text; empty records are kept (see text/extract.h).
Result<std::vector<ExtractedDocument>> LoadFile(const std::filesystem::path& path,
                                                const LoadOptions& options = {});

}  // namespace sieve::text
