// FTS5 extensions of the store (internal): a stemming tokenizer and a BM25 ranking function with
// tunable k1 and b.
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sieve::store {

// Name of the tokenizer: Unicode 6.1 word splitting and case folding (FTS5's unicode61, whose
// arguments it accepts), then the Snowball English (Porter2) stemmer from libstemmer. Scripts
// written without spaces (CJK ideographs, kana, Hangul) come out of unicode61 as one token per
// run; such runs are indexed as overlapping character bigrams (a lone character as itself), the
// usual approach for CJK full-text search, so a query matches any word inside a sentence.
inline constexpr const char* kSnowballTokenizer = "sieve_snowball";

// Name of the ranking function: sieve_bm25(fts_table, k1, b, weight_col0, weight_col1, ...).
// Returns the BM25 score (higher is better) with Robertson-Sparck Jones idf
// log(1 + (N - n + 0.5) / (n + 0.5)), which is never negative.
inline constexpr const char* kBm25Function = "sieve_bm25";

// True for code points of the scripts indexed as bigrams.
bool IsCjk(char32_t code_point);
// The terms the tokenizer makes of one word (before stemming): runs of CJK as bigrams, the
// other pieces as they are. A word without CJK is returned as is.
std::vector<std::string> SplitCjkTerms(std::string_view word);

// Registers both on a connection; needed before the FTS table is used.
Status RegisterFtsExtensions(sqlite3* db);

}  // namespace sieve::store
