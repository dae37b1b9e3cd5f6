// Internal to the tokenizer stage: UTF-8 decoding and the character classes Hugging Face
// `tokenizers` uses (Rust `char` semantics, Unicode categories through utf8proc).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sieve::tokenizer {

// Appends the code points of `text`. Invalid UTF-8 (bad bytes, overlongs, surrogates, truncated
// sequences) decodes to U+FFFD per bad byte, so any byte string is accepted.
void DecodeUtf8(std::string_view text, std::vector<char32_t>& out);
void AppendUtf8(char32_t c, std::string& out);
std::string EncodeUtf8(const char32_t* begin, const char32_t* end);

// Rust char::is_whitespace (Unicode White_Space property).
bool IsWhitespace(char32_t c);
// Unicode general category C* (Cc, Cf, Cs, Co, Cn): what BertNormalizer's clean_text removes,
// except for \t \n \r.
bool IsOtherCategory(char32_t c);
// Category Mn (nonspacing mark): what accent stripping drops after NFD.
bool IsNonspacingMark(char32_t c);
// BertPreTokenizer's punctuation: ASCII 33-47, 58-64, 91-96, 123-126, or category P*.
bool IsBertPunctuation(char32_t c);
// The CJK ideograph blocks BertNormalizer puts spaces around.
bool IsChineseChar(char32_t c);
// Regex \w (letters, marks, decimal digits, connector punctuation, join controls).
bool IsWordChar(char32_t c);

// Rust char::to_lowercase, appended (U+0130 lowercases to two code points).
void AppendLowercase(char32_t c, std::vector<char32_t>& out);
// Canonical (NFD) or compatibility (NFKD) decomposition of `in`, canonically ordered.
void Decompose(const std::vector<char32_t>& in, bool compatibility, std::vector<char32_t>& out);
// NFC / NFKC of `in`.
void Compose(const std::vector<char32_t>& in, bool compatibility, std::vector<char32_t>& out);

}  // namespace sieve::tokenizer
