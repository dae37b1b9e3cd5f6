// UTF-8 clean-up used by every loader (and usable on its own).
//
// Rules: invalid byte sequences (bad lead/continuation bytes, overlongs, surrogates, code points
// past U+10FFFF) become U+FFFD, one per run of consecutive invalid bytes, and every such byte is
// counted; CRLF and lone CR become LF; form feed and vertical tab become LF (they separate pages
// and lines in plain text); NUL, the other C0 controls except TAB/LF, DEL and the C1 controls
// (U+0080..U+009F, mostly mis-decoded cp1252) and the soft hyphen U+00AD are removed; a leading
// byte-order mark is dropped.
// The output is always valid UTF-8, whatever the input bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sieve::text {

// True when `bytes` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool IsValidUtf8(std::string_view bytes);

// Appends the UTF-8 encoding of code point `cp` (at most U+10FFFF) to `out`.
void AppendUtf8(char32_t cp, std::string& out);

// Appends the cleaned form of `bytes` to `out`; returns how many input bytes were invalid UTF-8
// (and so replaced by U+FFFD). With `file_line_starts`, appends the offset in `out` where each
// line of `bytes` after the first begins (just after each LF of the input, CRLF included): the
// LFs that lone CR, form feed and vertical tab become start no line of the input.
std::size_t AppendNormalized(std::string_view bytes, std::string& out,
                             std::vector<std::size_t>* file_line_starts = nullptr);

// Convenience form of AppendNormalized.
std::string NormalizeText(std::string_view bytes, std::size_t* invalid_bytes_replaced = nullptr,
                          std::vector<std::size_t>* file_line_starts = nullptr);

// What share of a raw file looks like binary data rather than text.
struct ByteProfile {
  std::size_t total = 0;
  std::size_t control = 0;       // NUL and C0 controls other than TAB, LF, CR, FF, VT; DEL
  std::size_t invalid_utf8 = 0;  // bytes that are not part of a well-formed UTF-8 sequence
};
ByteProfile ProfileBytes(std::string_view bytes);

// The rule LoadFile applies to text formats: more than 10% control bytes, or more than 30% of
// bytes that are control or invalid UTF-8 together, means "looks binary".
bool LooksBinary(const ByteProfile& profile);

}  // namespace sieve::text
