#include "store/fts_tokenizer.h"

#include <libstemmer.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sieve::store {
namespace {

// ---- Tokenizer: unicode61 + Snowball English ----

struct StemmerDeleter {
  void operator()(sb_stemmer* stemmer) const { sb_stemmer_delete(stemmer); }
};

// The unicode61 tokenizer module, found once per registration.
struct TokenizerModule {
  fts5_tokenizer unicode61{};
  void* unicode61_context = nullptr;
};

// One tokenizer instance (FTS5 makes one per table per connection).
struct SnowballTokenizer {
  fts5_tokenizer unicode61{};
  Fts5Tokenizer* unicode61_instance = nullptr;
  std::unique_ptr<sb_stemmer, StemmerDeleter> stemmer;

  ~SnowballTokenizer() {
    if (unicode61_instance) unicode61.xDelete(unicode61_instance);
  }
};

struct TokenCallback {
  sb_stemmer* stemmer;
  void* fts_context;
  int (*emit)(void*, int, const char*, int, int, int);
};

// Decodes the UTF-8 sequence at s[i] (advancing i); invalid bytes read as U+FFFD.
char32_t NextCodePoint(std::string_view s, std::size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  int length = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
  if (i + static_cast<std::size_t>(length) > s.size()) length = 1;
  char32_t cp = length == 1 ? b : b & (0x7F >> length);
  for (int k = 1; k < length; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += static_cast<std::size_t>(length);
  return cp;
}

struct Piece {
  std::size_t begin;
  std::size_t end;
  bool cjk;
};

// A word's pieces: each CJK bigram (or lone CJK character) and each non-CJK run.
std::vector<Piece> CjkPieces(std::string_view word) {
  std::vector<Piece> pieces;
  std::vector<std::size_t> run;  // start offsets of the CJK characters of the current run
  std::size_t other_begin = std::string_view::npos;
  auto flush_run = [&](std::size_t run_end) {
    if (run.empty()) return;
    if (run.size() == 1) pieces.push_back({run[0], run_end, true});
    for (std::size_t k = 0; k + 1 < run.size(); ++k) {
      pieces.push_back({run[k], k + 2 < run.size() ? run[k + 2] : run_end, true});
    }
    run.clear();
  };
  std::size_t i = 0;
  while (i < word.size()) {
    const std::size_t at = i;
    const char32_t cp = NextCodePoint(word, i);
    if (IsCjk(cp)) {
      if (other_begin != std::string_view::npos) {
        pieces.push_back({other_begin, at, false});
        other_begin = std::string_view::npos;
      }
      run.push_back(at);
    } else {
      flush_run(at);
      if (other_begin == std::string_view::npos) other_begin = at;
    }
  }
  flush_run(word.size());
  if (other_begin != std::string_view::npos) pieces.push_back({other_begin, word.size(), false});
  return pieces;
}

int EmitStemmed(TokenCallback* callback, int flags, const char* token, int size, int start,
                int end) {
  const sb_symbol* stem =
      sb_stemmer_stem(callback->stemmer, reinterpret_cast<const sb_symbol*>(token), size);
  if (stem == nullptr) return SQLITE_NOMEM;
  return callback->emit(callback->fts_context, flags, reinterpret_cast<const char*>(stem),
                        sb_stemmer_length(callback->stemmer), start, end);
}

int StemToken(void* context, int flags, const char* token, int size, int start, int end) {
  auto* callback = static_cast<TokenCallback*>(context);
  const std::string_view word(token, static_cast<std::size_t>(size));
  bool has_cjk = false;
  for (std::size_t i = 0; i < word.size() && !has_cjk;) {
    if (static_cast<unsigned char>(word[i]) < 0x80) {
      ++i;
      continue;
    }
    has_cjk = IsCjk(NextCodePoint(word, i));
  }
  if (!has_cjk) return EmitStemmed(callback, flags, token, size, start, end);
  for (const Piece& piece : CjkPieces(word)) {
    // Offsets into the document: the piece's place in the token, kept inside the token's span.
    const int piece_start = std::min(end, start + static_cast<int>(piece.begin));
    const int piece_end = std::min(end, start + static_cast<int>(piece.end));
    const int piece_size = static_cast<int>(piece.end - piece.begin);
    const int rc = piece.cjk ? callback->emit(callback->fts_context, flags, token + piece.begin,
                                              piece_size, piece_start, piece_end)
                             : EmitStemmed(callback, flags, token + piece.begin, piece_size,
                                           piece_start, piece_end);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

int CreateSnowball(void* module_context, const char** args, int arg_count, Fts5Tokenizer** out) {
  auto* module = static_cast<TokenizerModule*>(module_context);
  auto tokenizer = std::make_unique<SnowballTokenizer>();
  tokenizer->unicode61 = module->unicode61;
  int rc = module->unicode61.xCreate(module->unicode61_context, args, arg_count,
                                     &tokenizer->unicode61_instance);
  if (rc != SQLITE_OK) return rc;
  tokenizer->stemmer.reset(sb_stemmer_new("english", "UTF_8"));
  if (!tokenizer->stemmer) return SQLITE_NOMEM;
  *out = reinterpret_cast<Fts5Tokenizer*>(tokenizer.release());
  return SQLITE_OK;
}

void DeleteSnowball(Fts5Tokenizer* instance) {
  std::unique_ptr<SnowballTokenizer> owned(reinterpret_cast<SnowballTokenizer*>(instance));
}

int TokenizeSnowball(Fts5Tokenizer* instance, void* fts_context, int flags, const char* text,
                     int size, int (*emit)(void*, int, const char*, int, int, int)) {
  auto* tokenizer = reinterpret_cast<SnowballTokenizer*>(instance);
  TokenCallback callback{tokenizer->stemmer.get(), fts_context, emit};
  return tokenizer->unicode61.xTokenize(tokenizer->unicode61_instance, &callback, flags, text, size,
                                        StemToken);
}

}  // namespace

bool IsCjk(char32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) ||  // Hiragana, Katakana
         (cp >= 0x3400 && cp <= 0x4DBF) ||  // CJK Extension A
         (cp >= 0x4E00 && cp <= 0x9FFF) ||  // CJK Unified Ideographs
         (cp >= 0xAC00 && cp <= 0xD7AF) ||  // Hangul syllables
         (cp >= 0xF900 && cp <= 0xFAFF) ||  // CJK Compatibility Ideographs
         (cp >= 0x31F0 && cp <= 0x31FF) ||  // Katakana phonetic extensions
         (cp >= 0xFF66 && cp <= 0xFF9F) ||  // half-width Katakana
         (cp >= 0x20000 && cp <= 0x2FA1F);  // CJK Extensions B-F, compatibility supplement
}

std::vector<std::string> SplitCjkTerms(std::string_view word) {
  std::vector<std::string> terms;
  for (const Piece& piece : CjkPieces(word)) {
    terms.emplace_back(word.substr(piece.begin, piece.end - piece.begin));
  }
  return terms;
}

namespace {

void DestroyModule(void* module_context) {
  std::unique_ptr<TokenizerModule> owned(static_cast<TokenizerModule*>(module_context));
}

// ---- Ranking function: BM25 with k1, b and column weights ----

// Collection statistics for one query, computed on the first row and cached by FTS5.
struct Bm25QueryData {
  double average_length = 1;
  sqlite3_int64 rows = 0;
  std::vector<double> idf;               // per phrase
  std::vector<sqlite3_int64> row_count;  // per phrase: rows holding it
  std::vector<double> phrase_tf;
};

int CountRow(const Fts5ExtensionApi*, Fts5Context*, void* user_data) {
  ++*static_cast<sqlite3_int64*>(user_data);
  return SQLITE_OK;
}

void DeleteQueryData(void* data) {
  std::unique_ptr<Bm25QueryData> owned(static_cast<Bm25QueryData*>(data));
}

Bm25QueryData* QueryData(const Fts5ExtensionApi* api, Fts5Context* fts, int* rc) {
  auto* data = static_cast<Bm25QueryData*>(api->xGetAuxdata(fts, 0));
  if (data) return data;
  auto fresh = std::make_unique<Bm25QueryData>();
  sqlite3_int64 rows = 0;
  sqlite3_int64 tokens = 0;
  *rc = api->xRowCount(fts, &rows);
  if (*rc == SQLITE_OK) *rc = api->xColumnTotalSize(fts, -1, &tokens);
  if (*rc != SQLITE_OK) return nullptr;
  fresh->average_length = rows > 0 ? static_cast<double>(tokens) / static_cast<double>(rows) : 1.0;
  if (fresh->average_length <= 0) fresh->average_length = 1;
  int phrases = api->xPhraseCount(fts);
  fresh->rows = rows;
  fresh->idf.resize(static_cast<size_t>(phrases));
  fresh->row_count.resize(static_cast<size_t>(phrases));
  fresh->phrase_tf.resize(static_cast<size_t>(phrases));
  for (int p = 0; p < phrases; ++p) {
    sqlite3_int64 with_phrase = 0;
    *rc = api->xQueryPhrase(fts, p, &with_phrase, CountRow);
    if (*rc != SQLITE_OK) return nullptr;
    fresh->row_count[static_cast<size_t>(p)] = with_phrase;
    double n = static_cast<double>(with_phrase);
    double total = static_cast<double>(rows);
    fresh->idf[static_cast<size_t>(p)] = std::log(1.0 + (total - n + 0.5) / (n + 0.5));
  }
  // FTS5 owns the data from here on, and frees it itself if xSetAuxdata fails.
  Bm25QueryData* owned_by_fts = fresh.release();
  *rc = api->xSetAuxdata(fts, owned_by_fts, DeleteQueryData);
  return *rc == SQLITE_OK ? owned_by_fts : nullptr;
}

// A row's length normalisation and score. Both ranking functions call these (out of line, so
// the same instructions compute every score): their scores are bit for bit the same.
[[gnu::noinline]] double Bm25Norm(double k1, double b, int length, double average_length) {
  return k1 * (1.0 - b + b * static_cast<double>(length) / average_length);
}

[[gnu::noinline]] double Bm25Score(const double* idf, const double* phrase_tf, std::size_t phrases,
                                   double k1, double norm) {
  double score = 0;
  for (size_t p = 0; p < phrases; ++p) {
    double tf = phrase_tf[p];
    if (tf > 0) score += idf[p] * tf * (k1 + 1.0) / (tf + norm);
  }
  return score;
}

double ColumnWeight(int arg_count, sqlite3_value** args, int first_weight, int column) {
  return arg_count > first_weight + column ? sqlite3_value_double(args[first_weight + column])
                                           : 1.0;
}

void Bm25(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* result, int arg_count,
          sqlite3_value** args) {
  double k1 = arg_count > 0 ? sqlite3_value_double(args[0]) : 1.2;
  double b = arg_count > 1 ? sqlite3_value_double(args[1]) : 0.75;
  int rc = SQLITE_OK;
  Bm25QueryData* data = QueryData(api, fts, &rc);
  if (data == nullptr) {
    sqlite3_result_error_code(result, rc == SQLITE_OK ? SQLITE_ERROR : rc);
    return;
  }
  std::fill(data->phrase_tf.begin(), data->phrase_tf.end(), 0.0);
  int instances = 0;
  rc = api->xInstCount(fts, &instances);
  for (int i = 0; rc == SQLITE_OK && i < instances; ++i) {
    int phrase = 0, column = 0, offset = 0;
    rc = api->xInst(fts, i, &phrase, &column, &offset);
    double weight = ColumnWeight(arg_count, args, 2, column);
    if (rc == SQLITE_OK) data->phrase_tf[static_cast<size_t>(phrase)] += weight;
  }
  int length = 0;
  if (rc == SQLITE_OK) rc = api->xColumnSize(fts, -1, &length);
  if (rc != SQLITE_OK) {
    sqlite3_result_error_code(result, rc);
    return;
  }
  double norm = Bm25Norm(k1, b, length, data->average_length);
  sqlite3_result_double(
      result, Bm25Score(data->idf.data(), data->phrase_tf.data(), data->idf.size(), k1, norm));
}

// ---- Top-k ranking function: the same scores, phrase at a time ----

// Rowid -> slot, open addressing with linear probing (rowids of one query; no deletion).
class RowSlots {
 public:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;

  std::uint32_t Find(std::int64_t rowid) const {
    if (keys_.empty()) return kNone;
    for (std::size_t i = Home(rowid);; i = (i + 1) & mask_) {
      if (slots_[i] == kNone) return kNone;
      if (keys_[i] == rowid) return slots_[i];
    }
  }
  // `rowid` must be absent.
  void Insert(std::int64_t rowid, std::uint32_t slot) {
    if ((size_ + 1) * 2 > keys_.size()) Grow();
    Place(rowid, slot);
    ++size_;
  }

 private:
  // Rows are visited in rowid order and chunk ids are mostly consecutive: keeping neighbours
  // together keeps the probes in cache (a scattering hash misses on almost every row).
  std::size_t Home(std::int64_t rowid) const {
    const auto key = static_cast<std::uint64_t>(rowid);
    return static_cast<std::size_t>(key ^ (key >> shift_)) & mask_;
  }
  void Place(std::int64_t rowid, std::uint32_t slot) {
    std::size_t i = Home(rowid);
    while (slots_[i] != kNone) i = (i + 1) & mask_;
    keys_[i] = rowid;
    slots_[i] = slot;
  }
  void Grow() {
    std::vector<std::int64_t> keys = std::move(keys_);
    std::vector<std::uint32_t> slots = std::move(slots_);
    const std::size_t capacity = keys.empty() ? 1024 : keys.size() * 2;
    keys_.assign(capacity, 0);
    slots_.assign(capacity, kNone);
    mask_ = capacity - 1;
    shift_ = std::countr_zero(capacity);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (slots[i] != kNone) Place(keys[i], slots[i]);
    }
  }

  std::vector<std::int64_t> keys_;
  std::vector<std::uint32_t> slots_;
  std::size_t mask_ = 0;
  int shift_ = 0;
  std::size_t size_ = 0;
};

// The state of one top-k scan: per row (slot) its length norm, the weighted tf of every phrase
// and the partial score of the phrases walked so far.
struct TopKScan {
  const Bm25TopK* request = nullptr;
  const Bm25QueryData* data = nullptr;
  std::vector<double> weights;  // per column
  double k1 = 0;
  double b = 0;
  std::size_t phrases = 0;
  std::size_t phrase = 0;        // the phrase being walked
  bool known_rows_only = false;  // rows not seen yet cannot reach the top k any more
  RowSlots slot_of;
  std::vector<std::int64_t> rowid;
  std::vector<double> norm;
  std::vector<double> partial;
  std::vector<char> alive;
  std::vector<double> tf;  // slot * phrases + phrase
  // Every row's length, once loaded (request->load_lengths).
  bool lengths_loaded = false;
  std::shared_ptr<const FtsRowLengths> lengths;
};

// Loads every row's length at once when the rows still to be read make that cheaper than a
// lookup per row (request->load_lengths reads the whole table; a lookup is a B-tree search),
// or when the caller has them at hand.
int MaybeLoadLengths(TopKScan& scan, sqlite3_int64 rows_ahead) {
  const auto& load = scan.request->load_lengths;
  if (scan.lengths_loaded || !load) return SQLITE_OK;
  if (!scan.request->lengths_at_hand &&
      static_cast<double>(scan.rowid.size() + static_cast<std::size_t>(rows_ahead)) <
          static_cast<double>(scan.data->rows) / 6.0) {
    return SQLITE_OK;
  }
  scan.lengths_loaded = true;
  scan.lengths = load();  // null: lookups per row
  return SQLITE_OK;
}

int ScanRow(const Fts5ExtensionApi* api, Fts5Context* fts, void* user_data) {
  auto& scan = *static_cast<TopKScan*>(user_data);
  const std::int64_t rowid = api->xRowid(fts);
  std::uint32_t slot = scan.slot_of.Find(rowid);
  if (slot == RowSlots::kNone) {
    if (scan.known_rows_only) return SQLITE_OK;
    const auto* allowed = scan.request->allowed;
    if (allowed && !std::binary_search(allowed->begin(), allowed->end(), rowid)) return SQLITE_OK;
    int length = -1;
    if (const FtsRowLengths* lengths = scan.lengths.get();
        lengths && rowid >= lengths->first_rowid &&
        rowid - lengths->first_rowid < static_cast<std::int64_t>(lengths->length.size())) {
      length = lengths->length[static_cast<std::size_t>(rowid - lengths->first_rowid)];
    }
    if (length < 0) {
      const int rc = api->xColumnSize(fts, -1, &length);
      if (rc != SQLITE_OK) return rc;
    }
    slot = static_cast<std::uint32_t>(scan.rowid.size());
    scan.slot_of.Insert(rowid, slot);
    scan.rowid.push_back(rowid);
    scan.norm.push_back(Bm25Norm(scan.k1, scan.b, length, scan.data->average_length));
    scan.partial.push_back(0);
    scan.alive.push_back(1);
    scan.tf.resize(scan.tf.size() + scan.phrases, 0.0);
  } else if (!scan.alive[slot]) {
    return SQLITE_OK;
  }
  // The same sum, in the same order (by column, then offset), as Bm25's over xInst.
  double tf = 0;
  int instances = 0;
  int rc = api->xInstCount(fts, &instances);
  for (int i = 0; rc == SQLITE_OK && i < instances; ++i) {
    int phrase = 0, column = 0, offset = 0;
    rc = api->xInst(fts, i, &phrase, &column, &offset);
    if (rc == SQLITE_OK) {
      tf += column >= 0 && static_cast<std::size_t>(column) < scan.weights.size()
                ? scan.weights[static_cast<std::size_t>(column)]
                : 1.0;
    }
  }
  if (rc != SQLITE_OK) return rc;
  scan.tf[slot * scan.phrases + scan.phrase] = tf;
  if (tf > 0) {
    const double idf = scan.data->idf[scan.phrase];
    scan.partial[slot] += idf * tf * (scan.k1 + 1.0) / (tf + scan.norm[slot]);
  }
  return SQLITE_OK;
}

// After a phrase: when the phrases left cannot lift a row from nothing to the k-th best partial
// score, rows not seen yet are out; rows whose partial score plus that bound stays below it are
// out too. Scores only grow (every term is >= 0) and a term is at most idf * (k1 + 1), so these
// rows' final scores are below the k-th best final score. The margin covers rounding (partial
// sums are not added in the final order).
void Prune(TopKScan& scan, double left_bound, std::vector<double>& scratch) {
  const std::size_t k = scan.request->k;
  scratch.clear();
  for (std::size_t s = 0; s < scan.partial.size(); ++s) {
    if (scan.alive[s]) scratch.push_back(scan.partial[s]);
  }
  if (scratch.size() < k || k == 0) return;
  std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(k - 1),
                   scratch.end(), std::greater<double>());
  const double threshold = scratch[k - 1];
  const double margin = 1e-9 * (threshold + left_bound) + 1e-300;
  if (!scan.known_rows_only) {
    if (!(left_bound + margin < threshold)) return;
    scan.known_rows_only = true;
  }
  for (std::size_t s = 0; s < scan.partial.size(); ++s) {
    if (scan.alive[s] && scan.partial[s] + left_bound + margin < threshold) scan.alive[s] = 0;
  }
}

void Bm25TopKFunction(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* result,
                      int arg_count, sqlite3_value** args) {
  auto* request = arg_count > 0
                      ? static_cast<Bm25TopK*>(sqlite3_value_pointer(args[0], kBm25TopKPointerType))
                      : nullptr;
  if (request == nullptr) {
    sqlite3_result_error(result, "sieve_bm25_topk: no request bound", -1);
    return;
  }
  sqlite3_result_null(result);
  if (api->xGetAuxdata(fts, 0) != nullptr) return;  // a later row of the same query: done
  int rc = SQLITE_OK;
  Bm25QueryData* data = QueryData(api, fts, &rc);
  if (data == nullptr) {
    sqlite3_result_error_code(result, rc == SQLITE_OK ? SQLITE_ERROR : rc);
    return;
  }
  TopKScan scan;
  scan.request = request;
  scan.data = data;
  scan.k1 = arg_count > 1 ? sqlite3_value_double(args[1]) : 1.2;
  scan.b = arg_count > 2 ? sqlite3_value_double(args[2]) : 0.75;
  scan.phrases = data->idf.size();
  const int columns = api->xColumnCount(fts);
  bool finite = std::isfinite(scan.k1) && std::isfinite(scan.b);
  bool nonnegative = true;
  for (int c = 0; c < columns; ++c) {
    scan.weights.push_back(ColumnWeight(arg_count, args, 3, c));
    finite = finite && std::isfinite(scan.weights.back());
    nonnegative = nonnegative && scan.weights.back() >= 0;
  }
  // The bound idf * (k1 + 1) on a term needs a norm >= 0; otherwise every row is scored.
  const bool can_prune = finite && nonnegative && scan.k1 >= 0 && scan.b >= 0 && scan.b <= 1;
  // Rarest phrase first: the best rows show early and the common phrases come last.
  std::vector<std::size_t> order(scan.phrases);
  for (std::size_t p = 0; p < order.size(); ++p) order[p] = p;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return data->idf[x] > data->idf[y]; });
  std::vector<double> left_bound(order.size() + 1, 0.0);  // bound of the phrases after i
  for (std::size_t i = order.size(); i-- > 0;) {
    left_bound[i] = left_bound[i + 1] + data->idf[order[i]] * (scan.k1 + 1.0);
  }
  std::vector<double> scratch;
  for (std::size_t i = 0; i < order.size(); ++i) {
    scan.phrase = order[i];
    if (!scan.known_rows_only) {
      rc = MaybeLoadLengths(scan, data->row_count[scan.phrase]);
      if (rc != SQLITE_OK) {
        sqlite3_result_error_code(result, rc);
        return;
      }
    }
    rc = api->xQueryPhrase(fts, static_cast<int>(scan.phrase), &scan, ScanRow);
    if (rc != SQLITE_OK) {
      sqlite3_result_error_code(result, rc);
      return;
    }
    if (can_prune && i + 1 < order.size()) Prune(scan, left_bound[i + 1], scratch);
  }
  request->rows_read = scan.rowid.size();
  request->pruned = scan.known_rows_only;
  std::vector<std::pair<std::int64_t, double>> scored;
  for (std::size_t s = 0; s < scan.rowid.size(); ++s) {
    if (!scan.alive[s]) continue;
    scored.emplace_back(scan.rowid[s], Bm25Score(data->idf.data(), &scan.tf[s * scan.phrases],
                                                 scan.phrases, scan.k1, scan.norm[s]));
  }
  auto better = [](const std::pair<std::int64_t, double>& x,
                   const std::pair<std::int64_t, double>& y) {
    return x.second != y.second ? x.second > y.second : x.first < y.first;
  };
  const std::size_t keep = std::min(request->k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(keep),
                    scored.end(), better);
  scored.resize(keep);
  request->matches = std::move(scored);
}

Result<fts5_api*> FindFts5(sqlite3* db) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &raw, nullptr) != SQLITE_OK) {
    return Status::Unsupported(std::string("SQLite has no FTS5: ") + sqlite3_errmsg(db));
  }
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, sqlite3_finalize);
  fts5_api* api = nullptr;
  sqlite3_bind_pointer(stmt.get(), 1, &api, "fts5_api_ptr", nullptr);
  sqlite3_step(stmt.get());
  if (api == nullptr) return Status::Unsupported("SQLite has no FTS5 API");
  return api;
}

}  // namespace

Status RegisterFtsExtensions(sqlite3* db) {
  SIEVE_ASSIGN_OR_RETURN(fts5_api * api, FindFts5(db));
  auto module = std::make_unique<TokenizerModule>();
  if (api->xFindTokenizer(api, "unicode61", &module->unicode61_context, &module->unicode61) !=
      SQLITE_OK) {
    return Status::Unsupported("FTS5 has no unicode61 tokenizer");
  }
  fts5_tokenizer snowball{CreateSnowball, DeleteSnowball, TokenizeSnowball};
  // On success FTS5 owns the module and frees it with DestroyModule.
  if (api->xCreateTokenizer(api, kSnowballTokenizer, module.get(), &snowball, DestroyModule) !=
      SQLITE_OK) {
    return Status::Internal("cannot register FTS5 tokenizer " + std::string(kSnowballTokenizer));
  }
  module.release();
  if (api->xCreateFunction(api, kBm25Function, nullptr, Bm25, nullptr) != SQLITE_OK) {
    return Status::Internal("cannot register FTS5 function " + std::string(kBm25Function));
  }
  if (api->xCreateFunction(api, kBm25TopKFunction, nullptr, Bm25TopKFunction, nullptr) !=
      SQLITE_OK) {
    return Status::Internal("cannot register FTS5 function " + std::string(kBm25TopKFunction));
  }
  return Status::Ok();
}

}  // namespace sieve::store
