#include "store/fts_tokenizer.h"

#include <libstemmer.h>

#include <algorithm>
#include <cmath>
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

int StemToken(void* context, int flags, const char* token, int size, int start, int end) {
  auto* callback = static_cast<TokenCallback*>(context);
  const sb_symbol* stem =
      sb_stemmer_stem(callback->stemmer, reinterpret_cast<const sb_symbol*>(token), size);
  if (stem == nullptr) return SQLITE_NOMEM;
  return callback->emit(callback->fts_context, flags, reinterpret_cast<const char*>(stem),
                        sb_stemmer_length(callback->stemmer), start, end);
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

void DestroyModule(void* module_context) {
  std::unique_ptr<TokenizerModule> owned(static_cast<TokenizerModule*>(module_context));
}

// ---- Ranking function: BM25 with k1, b and column weights ----

// Collection statistics for one query, computed on the first row and cached by FTS5.
struct Bm25QueryData {
  double average_length = 1;
  std::vector<double> idf;  // per phrase
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
  fresh->idf.resize(static_cast<size_t>(phrases));
  fresh->phrase_tf.resize(static_cast<size_t>(phrases));
  for (int p = 0; p < phrases; ++p) {
    sqlite3_int64 with_phrase = 0;
    *rc = api->xQueryPhrase(fts, p, &with_phrase, CountRow);
    if (*rc != SQLITE_OK) return nullptr;
    double n = static_cast<double>(with_phrase);
    double total = static_cast<double>(rows);
    fresh->idf[static_cast<size_t>(p)] = std::log(1.0 + (total - n + 0.5) / (n + 0.5));
  }
  // FTS5 owns the data from here on, and frees it itself if xSetAuxdata fails.
  Bm25QueryData* owned_by_fts = fresh.release();
  *rc = api->xSetAuxdata(fts, owned_by_fts, DeleteQueryData);
  return *rc == SQLITE_OK ? owned_by_fts : nullptr;
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
    double weight = arg_count > 2 + column ? sqlite3_value_double(args[2 + column]) : 1.0;
    if (rc == SQLITE_OK) data->phrase_tf[static_cast<size_t>(phrase)] += weight;
  }
  int length = 0;
  if (rc == SQLITE_OK) rc = api->xColumnSize(fts, -1, &length);
  if (rc != SQLITE_OK) {
    sqlite3_result_error_code(result, rc);
    return;
  }
  double norm = k1 * (1.0 - b + b * static_cast<double>(length) / data->average_length);
  double score = 0;
  for (size_t p = 0; p < data->idf.size(); ++p) {
    double tf = data->phrase_tf[p];
    if (tf > 0) score += data->idf[p] * tf * (k1 + 1.0) / (tf + norm);
  }
  sqlite3_result_double(result, score);
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
  return Status::Ok();
}

}  // namespace sieve::store
