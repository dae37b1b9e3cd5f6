#include "text/normalize.h"

#include <utf8proc.h>

namespace sieve::text {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

// Decodes one non-ASCII sequence at `p`; returns its length, or a value <= 0 when invalid.
utf8proc_ssize_t DecodeOne(const char* p, std::size_t remaining, utf8proc_int32_t* code_point) {
  return utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(p),
                          static_cast<utf8proc_ssize_t>(remaining), code_point);
}

}  // namespace

bool IsValidUtf8(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = DecodeOne(bytes.data() + i, bytes.size() - i, &cp);
    if (n <= 0) return false;
    i += static_cast<std::size_t>(n);
  }
  return true;
}

std::size_t AppendNormalized(std::string_view bytes, std::string& out,
                             std::vector<std::size_t>* file_line_starts) {
  if (bytes.substr(0, kByteOrderMark.size()) == kByteOrderMark) {
    bytes.remove_prefix(kByteOrderMark.size());
  }
  out.reserve(out.size() + bytes.size());
  std::size_t invalid = 0;
  bool in_invalid_run = false;  // one U+FFFD stands for a whole run of bad bytes
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  while (i < n) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    if (byte >= 0x20 && byte < 0x7F) {
      // Plain ASCII: copy the whole run at once.
      std::size_t j = i + 1;
      while (j < n && static_cast<unsigned char>(bytes[j]) >= 0x20 &&
             static_cast<unsigned char>(bytes[j]) < 0x7F) {
        ++j;
      }
      out.append(bytes.data() + i, j - i);
      i = j;
      in_invalid_run = false;
      continue;
    }
    if (byte < 0x80) {
      in_invalid_run = false;
      if (byte == '\n' || byte == '\t') {
        out.push_back(static_cast<char>(byte));
        if (byte == '\n' && file_line_starts != nullptr) file_line_starts->push_back(out.size());
      } else if (byte == '\r') {
        const bool crlf = i + 1 < n && bytes[i + 1] == '\n';
        if (crlf) ++i;  // CRLF -> LF
        out.push_back('\n');
        if (crlf && file_line_starts != nullptr) file_line_starts->push_back(out.size());
      } else if (byte == '\f' || byte == '\v') {
        out.push_back('\n');
      }
      // Other C0 controls and DEL are dropped.
      ++i;
      continue;
    }
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t len = DecodeOne(bytes.data() + i, n - i, &cp);
    if (len <= 0) {
      ++invalid;
      if (!in_invalid_run) out.append(kReplacement);
      in_invalid_run = true;
      ++i;
      continue;
    }
    in_invalid_run = false;
    // Drop C1 controls and the soft hyphen (an invisible break hint that splits words).
    if (cp > 0x9F && cp != 0xAD) out.append(bytes.data() + i, static_cast<std::size_t>(len));
    i += static_cast<std::size_t>(len);
  }
  return invalid;
}

std::string NormalizeText(std::string_view bytes, std::size_t* invalid_bytes_replaced,
                          std::vector<std::size_t>* file_line_starts) {
  std::string out;
  std::size_t invalid = AppendNormalized(bytes, out, file_line_starts);
  if (invalid_bytes_replaced != nullptr) *invalid_bytes_replaced = invalid;
  return out;
}

ByteProfile ProfileBytes(std::string_view bytes) {
  ByteProfile profile;
  profile.total = bytes.size();
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    if (byte < 0x80) {
      if ((byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r' && byte != '\f' &&
           byte != '\v') ||
          byte == 0x7F) {
        ++profile.control;
      }
      ++i;
      continue;
    }
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t len = DecodeOne(bytes.data() + i, bytes.size() - i, &cp);
    if (len <= 0) {
      ++profile.invalid_utf8;
      ++i;
    } else {
      i += static_cast<std::size_t>(len);
    }
  }
  return profile;
}

bool LooksBinary(const ByteProfile& profile) {
  if (profile.total == 0) return false;
  // Integer arithmetic: control/total > 10%, (control+invalid)/total > 30%.
  return profile.control * 10 > profile.total ||
         (profile.control + profile.invalid_utf8) * 10 > profile.total * 3;
}

void AppendUtf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace sieve::text
