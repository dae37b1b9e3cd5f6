#include "text/file_reader.h"

#include <bzlib.h>
#include <lzma.h>
#include <magic.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <system_error>
#include <utility>

#include "text/normalize.h"

namespace sieve::text {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kBufferBytes = 64 * 1024;
constexpr std::size_t kSniffBytes = 64 * 1024;

std::string OverLimit(std::uint64_t max_bytes) {
  return "decompresses to more than " + std::to_string(max_bytes) +
         " bytes, over the limit (--max-file-mb); refused (a compression bomb?)";
}

// Streams a file through `decode` (which appends what it produced to `out` and says whether the
// compressed stream ended). Stops at max_bytes of output.
class Reader {
 public:
  explicit Reader(std::ifstream& in) : in_(in) {}
  // Next block of input; empty at the end of the file.
  Result<std::string_view> Next() {
    in_.read(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    if (in_.bad()) return Status::IoError("read failed");
    return std::string_view(buffer_.data(), static_cast<std::size_t>(in_.gcount()));
  }

 private:
  std::ifstream& in_;
  std::array<char, kBufferBytes> buffer_{};
};

// Appends up to `room` bytes of `produced` to out; false when the limit was hit.
bool Append(std::string& out, const char* produced, std::size_t n, std::uint64_t max_bytes) {
  const std::uint64_t room = max_bytes - std::min<std::uint64_t>(max_bytes, out.size());
  out.append(produced, static_cast<std::size_t>(std::min<std::uint64_t>(room, n)));
  return n <= room;
}

Result<std::string> ReadGzip(std::ifstream& in, std::uint64_t max_bytes, bool prefix_only) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return Status::Internal("zlib init failed");
  struct End {
    z_stream* zs;
    ~End() { inflateEnd(zs); }
  } end{&zs};
  Reader reader(in);
  std::string out;
  std::array<char, kBufferBytes> chunk{};
  bool stream_ended = false;
  for (;;) {
    SIEVE_ASSIGN_OR_RETURN(std::string_view input, reader.Next());
    if (input.empty()) break;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    zs.avail_in = static_cast<uInt>(input.size());
    while (zs.avail_in > 0) {
      if (stream_ended) {  // another gzip member follows
        if (inflateReset(&zs) != Z_OK) return Status::InvalidInput("corrupt gzip data");
        stream_ended = false;
      }
      zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
      zs.avail_out = static_cast<uInt>(chunk.size());
      const int rc = inflate(&zs, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        return Status::InvalidInput(std::string("corrupt gzip data (") +
                                    (zs.msg ? zs.msg : "inflate failed") + ")");
      }
      const std::size_t produced = chunk.size() - zs.avail_out;
      if (!Append(out, chunk.data(), produced, max_bytes)) {
        if (prefix_only) return out;
        return Status::InvalidInput(OverLimit(max_bytes));
      }
      if (rc == Z_STREAM_END) stream_ended = true;
      if (rc == Z_BUF_ERROR && produced == 0) break;
    }
  }
  if (!stream_ended && !prefix_only) return Status::InvalidInput("truncated gzip data");
  return out;
}

Result<std::string> ReadBzip2(std::ifstream& in, std::uint64_t max_bytes, bool prefix_only) {
  bz_stream bz{};
  if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK) return Status::Internal("bzip2 init failed");
  struct End {
    bz_stream* bz;
    ~End() { BZ2_bzDecompressEnd(bz); }
  } end{&bz};
  Reader reader(in);
  std::string out;
  std::array<char, kBufferBytes> chunk{};
  bool stream_ended = false;
  for (;;) {
    SIEVE_ASSIGN_OR_RETURN(std::string_view input, reader.Next());
    if (input.empty()) break;
    bz.next_in = const_cast<char*>(input.data());
    bz.avail_in = static_cast<unsigned>(input.size());
    while (bz.avail_in > 0) {
      if (stream_ended) {  // concatenated streams (pbzip2)
        BZ2_bzDecompressEnd(&bz);
        char* next = bz.next_in;
        const unsigned avail = bz.avail_in;
        bz = bz_stream{};
        if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK) return Status::Internal("bzip2 init");
        bz.next_in = next;
        bz.avail_in = avail;
        stream_ended = false;
      }
      bz.next_out = chunk.data();
      bz.avail_out = static_cast<unsigned>(chunk.size());
      const int rc = BZ2_bzDecompress(&bz);
      if (rc != BZ_OK && rc != BZ_STREAM_END) return Status::InvalidInput("corrupt bzip2 data");
      const std::size_t produced = chunk.size() - bz.avail_out;
      if (!Append(out, chunk.data(), produced, max_bytes)) {
        if (prefix_only) return out;
        return Status::InvalidInput(OverLimit(max_bytes));
      }
      if (rc == BZ_STREAM_END) stream_ended = true;
    }
  }
  if (!stream_ended && !prefix_only) return Status::InvalidInput("truncated bzip2 data");
  return out;
}

Result<std::string> ReadXz(std::ifstream& in, std::uint64_t max_bytes, bool prefix_only) {
  lzma_stream xz = LZMA_STREAM_INIT;
  // The decoder's own memory is bounded too (256 MiB covers every preset, -9e included).
  if (lzma_stream_decoder(&xz, 256ull << 20, LZMA_CONCATENATED) != LZMA_OK) {
    return Status::Internal("xz init failed");
  }
  struct End {
    lzma_stream* xz;
    ~End() { lzma_end(xz); }
  } end{&xz};
  Reader reader(in);
  std::string out;
  std::array<char, kBufferBytes> chunk{};
  bool at_end = false;
  while (!at_end) {
    SIEVE_ASSIGN_OR_RETURN(std::string_view input, reader.Next());
    const lzma_action action = input.empty() ? LZMA_FINISH : LZMA_RUN;
    xz.next_in = reinterpret_cast<const std::uint8_t*>(input.data());
    xz.avail_in = input.size();
    for (;;) {
      xz.next_out = reinterpret_cast<std::uint8_t*>(chunk.data());
      xz.avail_out = chunk.size();
      const lzma_ret rc = lzma_code(&xz, action);
      const std::size_t produced = chunk.size() - xz.avail_out;
      if (!Append(out, chunk.data(), produced, max_bytes)) {
        if (prefix_only) return out;
        return Status::InvalidInput(OverLimit(max_bytes));
      }
      if (rc == LZMA_STREAM_END) {
        at_end = true;
        break;
      }
      if (rc != LZMA_OK) {
        if (prefix_only && !out.empty()) return out;
        return Status::InvalidInput(rc == LZMA_MEMLIMIT_ERROR ? "xz data needs too much memory"
                                                              : "corrupt xz data");
      }
      if (xz.avail_in == 0 && xz.avail_out != 0) break;
    }
  }
  return out;
}

bool IsCompressionSuffix(std::string ext) {
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".gz" || ext == ".bz2" || ext == ".xz";
}

// Section-number extensions of man pages: ".1", ".8", ".3pm", ".1ssl".
bool HasManExtension(const fs::path& name) {
  const std::string ext = name.extension().string();
  return ext.size() >= 2 && ext[1] >= '1' && ext[1] <= '9' &&
         std::all_of(ext.begin() + 2, ext.end(),
                     [](unsigned char c) { return std::isalpha(c) != 0; });
}

}  // namespace

std::string_view DetectCompression(std::string_view head) {
  if (head.starts_with("\x1f\x8b")) return "gzip";
  if (head.size() >= 4 && head.starts_with("BZh") && head[3] >= '1' && head[3] <= '9') {
    return "bzip2";
  }
  if (head.starts_with(std::string_view("\xFD"
                                        "7zXZ\0",
                                        6)))
    return "xz";
  return "";
}

fs::path WithoutCompressionSuffix(const fs::path& path) {
  if (IsCompressionSuffix(path.extension().string())) return path.parent_path() / path.stem();
  return path;
}

Result<std::string> ReadDocumentBytes(const fs::path& path, std::uint64_t max_bytes,
                                      bool prefix_only) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return Status::NotFound("no such file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(std::string("cannot open: ") + std::strerror(errno));
  std::array<char, 6> magic{};
  in.read(magic.data(), magic.size());
  if (in.bad()) return Status::IoError("read failed");
  const std::string_view head(magic.data(), static_cast<std::size_t>(in.gcount()));
  const std::string_view compression = DetectCompression(head);
  in.clear();
  in.seekg(0);
  if (compression == "gzip") return ReadGzip(in, max_bytes, prefix_only);
  if (compression == "bzip2") return ReadBzip2(in, max_bytes, prefix_only);
  if (compression == "xz") return ReadXz(in, max_bytes, prefix_only);
  const std::uint64_t size = fs::file_size(path, ec);
  if (ec) return Status::IoError("cannot read size: " + ec.message());
  if (size > max_bytes && !prefix_only) {
    return Status::InvalidInput("file is " + std::to_string(size) + " bytes, over the limit of " +
                                std::to_string(max_bytes) + " (--max-file-mb)");
  }
  std::string out(static_cast<std::size_t>(std::min(size, max_bytes)), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  if (in.bad()) return Status::IoError("read failed");
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

bool LooksLikeRoff(std::string_view bytes) {
  std::size_t pos = 0;
  for (int line = 0; line < 200 && pos < bytes.size(); ++line) {
    std::size_t end = bytes.find('\n', pos);
    if (end == std::string_view::npos) end = bytes.size();
    const std::string_view text = bytes.substr(pos, end - pos);
    for (std::string_view macro : {".TH ", ".SH ", ".Dd ", ".Sh ", ".TH\t", ".Dd\t"}) {
      if (text.starts_with(macro)) return true;
    }
    pos = end + 1;
  }
  return false;
}

struct TypeDetector::Magic {
  magic_t handle = nullptr;
  ~Magic() {
    if (handle) magic_close(handle);
  }
};

TypeDetector::TypeDetector(std::unique_ptr<Magic> magic) : magic_(std::move(magic)) {}
TypeDetector::~TypeDetector() = default;

Result<std::unique_ptr<TypeDetector>> TypeDetector::Create() {
  auto magic = std::make_unique<Magic>();
  magic->handle = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
  if (!magic->handle) return Status::Internal("libmagic: cannot open");
  if (magic_load(magic->handle, nullptr) != 0) {
    return Status::Internal(std::string("libmagic: cannot load its database: ") +
                            magic_error(magic->handle));
  }
  return std::unique_ptr<TypeDetector>(new TypeDetector(std::move(magic)));
}

Detection TypeDetector::DetectBytes(const fs::path& name, std::string_view head) {
  const fs::path plain = WithoutCompressionSuffix(name);
  if (auto by_name = DetectType(plain)) return {by_name, ""};
  if (head.empty()) return {std::nullopt, "empty file"};
  if (head.starts_with("%PDF-")) return {DocumentType::kPdf, ""};
  if (LooksLikeRoff(head)) return {DocumentType::kMan, ""};
  const std::string_view sample = head.substr(0, 16 * 1024);
  const char* mime = magic_buffer(magic_->handle, sample.data(), sample.size());
  const std::string type = mime ? mime : "application/octet-stream";
  if (type == "text/html" || type == "application/xhtml+xml") return {DocumentType::kHtml, ""};
  if (type == "application/pdf") return {DocumentType::kPdf, ""};
  if (type == "text/troff") return {DocumentType::kMan, ""};
  if (type.starts_with("text/") || type == "application/json" || type == "application/x-ndjson" ||
      type == "application/javascript") {
    if (type == "text/rtf") return {std::nullopt, "unsupported type (" + type + ")"};
    return {DocumentType::kText, ""};
  }
  if (type == "inode/x-empty" || type == "application/x-empty") {
    return {std::nullopt, "empty file"};
  }
  if (type == "application/octet-stream" && !LooksBinary(ProfileBytes(sample))) {
    return {DocumentType::kText, ""};  // text libmagic could not name (odd but readable bytes)
  }
  const bool binary = LooksBinary(ProfileBytes(sample));
  return {std::nullopt, (binary ? "binary (" : "unsupported type (") + type + ")"};
}

Result<Detection> TypeDetector::Detect(const fs::path& path) {
  const fs::path plain = WithoutCompressionSuffix(path);
  const std::optional<DocumentType> by_name = DetectType(plain);
  if (by_name) return Detection{by_name, ""};
  SIEVE_ASSIGN_OR_RETURN(std::string head, ReadDocumentBytes(path, kSniffBytes, true));
  if (HasManExtension(plain) && LooksLikeRoff(head)) return Detection{DocumentType::kMan, ""};
  return DetectBytes(path, head);
}

}  // namespace sieve::text
