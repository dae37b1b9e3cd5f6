// FTS5 extensions of the store (internal): a stemming tokenizer and a BM25 ranking function with
// tunable k1 and b.
#pragma once

#include <sqlite3.h>

#include "core/status.h"

namespace sieve::store {

// Name of the tokenizer: Unicode 6.1 word splitting and case folding (FTS5's unicode61, whose
// arguments it accepts), then the Snowball English (Porter2) stemmer from libstemmer.
inline constexpr const char* kSnowballTokenizer = "sieve_snowball";

// Name of the ranking function: sieve_bm25(fts_table, k1, b, weight_col0, weight_col1, ...).
// Returns the BM25 score (higher is better) with Robertson-Sparck Jones idf
// log(1 + (N - n + 0.5) / (n + 0.5)), which is never negative.
inline constexpr const char* kBm25Function = "sieve_bm25";

// Registers both on a connection; needed before the FTS table is used.
Status RegisterFtsExtensions(sqlite3* db);

}  // namespace sieve::store
