// Internal to the text stage (and its users in store/): reading a document's bytes from disk,
// compressed or not, and deciding what kind of document a file is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "text/document.h"

namespace sieve::text {

// The compression a file's first bytes announce: "gzip", "bzip2", "xz", or "" for none.
std::string_view DetectCompression(std::string_view head);

// Reads a file, decompressing gzip, bzip2 and xz transparently (by their magic bytes, whatever
// the name). `max_bytes` bounds the bytes returned, i.e. the *uncompressed* size: a file (or a
// compression bomb) that would decompress to more fails with kInvalidInput and memory never
// grows past max_bytes plus one buffer. With `prefix_only`, reading stops without error after
// max_bytes (to look at the start of a file). Errors: kNotFound (missing), kIoError
// (unreadable), kInvalidInput (over the limit, corrupt compressed data); they do not name the
// file (the caller does).
Result<std::string> ReadDocumentBytes(const std::filesystem::path& path, std::uint64_t max_bytes,
                                      bool prefix_only = false);

// The file name without a compression suffix (".gz", ".bz2", ".xz"): "ls.1.gz" -> "ls.1".
std::filesystem::path WithoutCompressionSuffix(const std::filesystem::path& path);

// True when the bytes look like a roff (man or mdoc) page: a line starting with .TH, .SH, .Dd or
// .Sh among the first lines.
bool LooksLikeRoff(std::string_view bytes);

// What a file is: a document type, or why it is not a document.
struct Detection {
  std::optional<DocumentType> type;
  std::string not_document;  // when !type: "binary (application/x-sharedlib)", "empty file", ...
};

// Decides a file's type from its name (DetectType, compression suffix removed) and, when the name
// does not say, from its content: the first 64 KiB (decompressed) are sniffed with libmagic;
// text of any kind is text, roff is a man page, HTML and PDF are themselves. A file named like a
// man page (".1" ... ".9") that is not roff is sniffed like any other.
// Owns a libmagic handle (loading it costs milliseconds, so keep one per walk): use from one
// thread at a time.
class TypeDetector {
 public:
  static Result<std::unique_ptr<TypeDetector>> Create();
  ~TypeDetector();
  TypeDetector(const TypeDetector&) = delete;
  TypeDetector& operator=(const TypeDetector&) = delete;

  // Errors only when the file cannot be read (kNotFound, kIoError, corrupt compression).
  Result<Detection> Detect(const std::filesystem::path& path);
  // The same decision for bytes already read (the start of the file, decompressed).
  Detection DetectBytes(const std::filesystem::path& name, std::string_view head);

 private:
  struct Magic;
  explicit TypeDetector(std::unique_ptr<Magic> magic);
  std::unique_ptr<Magic> magic_;
};

}  // namespace sieve::text
