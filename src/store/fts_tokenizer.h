// FTS5 extensions of the store (internal): a stemming tokenizer and a BM25 ranking function with
// tunable k1 and b.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
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

// Name of the top-k ranking function: sieve_bm25_topk(fts_table, request, k1, b, weight_col0,
// ...), `request` a Bm25TopK bound with sqlite3_bind_pointer(..., kBm25TopKPointerType). Meant
// for `SELECT sieve_bm25_topk(...) FROM t WHERE t MATCH ? LIMIT 1`: its one call (on the first
// matching row; none when nothing matches) scores the whole query phrase by phrase (each
// phrase's rows walked once with xQueryPhrase, rarest phrase first) and fills request.matches
// with the best request.k rows of the MATCH, exactly as
// `SELECT rowid, sieve_bm25(t, k1, b, weights...) AS s ... ORDER BY s DESC, rowid ASC LIMIT k`
// would: the same rows, order and scores (both compute a row's score with the same code, from
// the same per-phrase weighted tf, length and idf). Rows that provably cannot reach the top k
// (their score's upper bound is below the k-th best lower bound) stop being scored early.
// Returns NULL; errors are SQLite errors of the statement.
inline constexpr const char* kBm25TopKFunction = "sieve_bm25_topk";
inline constexpr const char* kBm25TopKPointerType = "sieve_bm25_topk_request";

// Every full-text row's length in tokens (all columns, as FTS5's xColumnSize(-1) reads it), by
// rowid - first_rowid; -1 where there is no row.
struct FtsRowLengths {
  std::int64_t first_rowid = 0;
  std::vector<int> length;
};

struct Bm25TopK {
  std::size_t k = 0;
  // Rowids the result may hold, ascending; null: every row. Collection statistics (idf, average
  // length) stay those of the whole table, as with a WHERE clause on the reference query.
  const std::vector<std::int64_t>* allowed = nullptr;
  // Optional: every row's length, read in one pass (null when it cannot be). Called at most
  // once, when so many rows are to be read that one pass over all lengths is cheaper than a
  // lookup per row, or at once when `lengths_at_hand` (the caller keeps them).
  std::function<std::shared_ptr<const FtsRowLengths>()> load_lengths;
  bool lengths_at_hand = false;
  // Out: (rowid, score), best first (score descending, rowid ascending), at most k.
  std::vector<std::pair<std::int64_t, double>> matches;
  // Out, for tests and benchmarks: rows whose tf and length were read, and whether the scan
  // stopped adding rows before its last phrase.
  std::size_t rows_read = 0;
  bool pruned = false;
};

// True for code points of the scripts indexed as bigrams.
bool IsCjk(char32_t code_point);
// The terms the tokenizer makes of one word (before stemming): runs of CJK as bigrams, the
// other pieces as they are. A word without CJK is returned as is.
std::vector<std::string> SplitCjkTerms(std::string_view word);

// Registers both on a connection; needed before the FTS table is used.
Status RegisterFtsExtensions(sqlite3* db);

}  // namespace sieve::store
