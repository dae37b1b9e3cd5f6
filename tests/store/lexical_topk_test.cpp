// SearchLexical (phrase at a time with top-k pruning, sieve_bm25_topk) against
// SearchLexicalReference (every matching row scored in SQL, then sorted) on random corpora.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "store/document_store.h"
#include "store/fts_tokenizer.h"
#include "store_fixture.h"

namespace sieve::store {
namespace {

namespace fs = std::filesystem;

// Words of very different frequencies: forms that stem alike (flow, flows, flowing), a word
// that makes a two-token phrase (lift-drag), CJK (indexed as bigrams), digits.
const std::vector<std::string> kCommon = {"the", "of", "flow", "a", "wing", "pressure", "is"};
const std::vector<std::string> kMiddle = {"flows",     "flowing", "boundary", "layer", "shock",
                                          "lift-drag", "mach",    "2",        "cone",  "heat"};
const std::vector<std::string> kRare = {"aeroelastic", "slipstream", "hypersonic", "ablation",
                                        "東京大学",    "wombat",     "vortex"};

std::string Pick(std::mt19937& rng, const std::vector<std::string>& words) {
  return words[std::uniform_int_distribution<std::size_t>(0, words.size() - 1)(rng)];
}

std::string RandomWord(std::mt19937& rng) {
  const int bucket = std::uniform_int_distribution<int>(0, 99)(rng);
  if (bucket < 60) return Pick(rng, kCommon);
  if (bucket < 93) return Pick(rng, kMiddle);
  return Pick(rng, kRare);
}

std::string RandomText(std::mt19937& rng, int min_words, int max_words) {
  const int n = std::uniform_int_distribution<int>(min_words, max_words)(rng);
  std::string text;
  for (int i = 0; i < n; ++i) text += (i ? " " : "") + RandomWord(rng);
  return text;
}

class LexicalTopKTest : public testing_support::OpenStoreTest {
 protected:
  // `documents` documents of 1-4 chunks; some chunks repeat an earlier text (exact ties).
  void BuildCorpus(std::mt19937& rng, int documents) {
    auto txn = store_->BeginTransaction();
    ASSERT_TRUE(txn.ok());
    std::vector<std::string> texts;
    for (int d = 0; d < documents; ++d) {
      DocumentInput input;
      const std::string folder = d % 3 == 0 ? "/docs/" : "/other/";
      input.key = folder + "doc" + std::to_string(d) + ".txt";
      input.source_path = input.key;
      input.type = d % 2 == 0 ? "text" : "markdown";
      input.title = RandomText(rng, 0, 3);
      input.content_hash = "hash" + std::to_string(d);
      input.chunking = "test";
      if (d % 4 == 0) input.tags = {"x"};
      if (d % 5 == 0) input.tags.push_back("y");
      const int chunks = std::uniform_int_distribution<int>(1, 4)(rng);
      for (int c = 0; c < chunks; ++c) {
        text::Chunk chunk;
        chunk.ordinal = static_cast<std::size_t>(c);
        const bool repeat = !texts.empty() && std::uniform_int_distribution<int>(0, 9)(rng) == 0;
        chunk.text =
            repeat ? texts[std::uniform_int_distribution<std::size_t>(0, texts.size() - 1)(rng)]
                   : RandomText(rng, 1, 60);
        texts.push_back(chunk.text);
        chunk.section = std::uniform_int_distribution<int>(0, 2)(rng) == 0 ? RandomText(rng, 1, 3)
                                                                           : std::string();
        chunk.begin = static_cast<std::size_t>(c) * 1000;
        chunk.end = chunk.begin + chunk.text.size();
        input.chunks.push_back(std::move(chunk));
      }
      ASSERT_TRUE(store_->PutDocument(input).ok());
    }
    ASSERT_TRUE(txn->Commit().ok());
  }

  // Both paths give the same chunks in the same order with the same scores.
  void ExpectSame(const LexicalQuery& query) {
    auto fast = store_->SearchLexical(query);
    auto reference = store_->SearchLexicalReference(query);
    ASSERT_TRUE(fast.ok()) << fast.status().ToString();
    ASSERT_TRUE(reference.ok()) << reference.status().ToString();
    const std::string what = "query \"" + query.text + "\" k " + std::to_string(query.k) + " k1 " +
                             std::to_string(query.bm25.k1) + " b " + std::to_string(query.bm25.b);
    ASSERT_EQ(fast->size(), reference->size()) << what;
    for (std::size_t i = 0; i < fast->size(); ++i) {
      EXPECT_EQ((*fast)[i].chunk_id, (*reference)[i].chunk_id) << what << " rank " << i;
      EXPECT_NEAR((*fast)[i].score, (*reference)[i].score,
                  1e-9 * std::max(1.0, std::abs((*reference)[i].score)))
          << what << " rank " << i;
    }
    ++compared_;
    if (!reference->empty()) ++nonempty_;
    for (std::size_t i = 1; i < reference->size(); ++i) {
      if ((*reference)[i].score == (*reference)[i - 1].score) ++ties_;
    }
  }

  int compared_ = 0;
  int nonempty_ = 0;
  int ties_ = 0;
};

// Queries lean on rare words, so that small k prune rows (the common words come last).
std::string RandomQuery(std::mt19937& rng) {
  std::string text;
  const int n = std::uniform_int_distribution<int>(1, 9)(rng);
  for (int i = 0; i < n; ++i) {
    const int kind = std::uniform_int_distribution<int>(0, 19)(rng);
    std::string word = kind == 0   ? "zzabsentword"  // in no chunk
                       : kind == 1 ? "?!"            // dropped: no letter or digit
                       : kind == 2 ? "FLOW"          // case folded: one term with "flow"
                       : kind == 3 ? "\xe2\x80\x99"  // no token at all
                       : kind < 9  ? Pick(rng, kRare)
                                   : RandomWord(rng);
    text += (i ? " " : "") + word;
    if (std::uniform_int_distribution<int>(0, 7)(rng) == 0) text += " " + word;  // repeated
  }
  return text;
}

TEST_F(LexicalTopKTest, SameRankingAndScoresAsTheReferenceOnRandomCorpora) {
  for (unsigned seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    ASSERT_NO_FATAL_FAILURE(BuildCorpus(rng, 120));
    const std::vector<Bm25Parameters> parameters = {
        {},                          // k1 1.2, b 0.75, weights 1
        {1.0, 0.5, 1.0, 1.0, 0.0},   // Xapian's setup: no title column
        {1.5, 0.3, 2.0, 0.5, 3.0},   // weights != 1
        {0.0, 0.75, 1.0, 1.0, 1.0},  // k1 0: tf does not count
        {2.0, 0.0, 1.0, 0.25, 0.7},  // b 0: no length normalisation
        {0.9, 1.0, 0.0, 1.0, 1.0},   // b 1, text weight 0
    };
    const std::vector<ChunkFilter> filters = {{},
                                              {.path_prefix = "/docs/"},
                                              {.types = {"markdown"}},
                                              {.tags = {"x"}},
                                              {.tags = {"x", "y"}},
                                              {.path_prefix = "/nowhere/"}};
    for (int q = 0; q < 60; ++q) {
      LexicalQuery query;
      query.text = RandomQuery(rng);
      query.k = std::vector<std::size_t>{1, 3, 10, 50, 1000}[q % 5];
      query.bm25 = parameters[static_cast<std::size_t>(q) % parameters.size()];
      query.filter = filters[static_cast<std::size_t>(q / 5) % filters.size()];
      ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
    }
  }
  // The comparisons covered matches, ties (broken by chunk id) and k above the match count.
  EXPECT_GT(nonempty_, compared_ / 2);
  EXPECT_GT(ties_, 0);
}

TEST_F(LexicalTopKTest, ParametersOutsideTheUsualRangesGiveTheReferenceResult) {
  std::mt19937 rng(7);
  ASSERT_NO_FATAL_FAILURE(BuildCorpus(rng, 40));
  for (const Bm25Parameters& p : std::vector<Bm25Parameters>{
           {1.2, 1.5, 1, 1, 1}, {-0.5, 0.75, 1, 1, 1}, {1.2, 0.75, -1.0, 1, 1}}) {
    LexicalQuery query;
    query.text = "flow wing shock aeroelastic";
    query.k = 20;
    query.bm25 = p;
    ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
  }
}

// The function itself, on a raw connection: with a small k the common words stop being read
// for rows that cannot reach the top k, and the result is still the reference's.
TEST_F(LexicalTopKTest, PrunesRowsThatCannotReachTheTopK) {
  {
    auto txn = store_->BeginTransaction();
    ASSERT_TRUE(txn.ok());
    for (int d = 0; d < 300; ++d) {
      DocumentInput input;
      input.key = "/d" + std::to_string(d);
      input.source_path = input.key;
      input.type = "text";
      input.content_hash = "h";
      text::Chunk chunk;
      chunk.text = "the flow of the air over the wing";
      if (d % 50 == 0) chunk.text += " hypersonic aeroelastic vortex";
      chunk.end = chunk.text.size();
      input.chunks.push_back(chunk);
      ASSERT_TRUE(store_->PutDocument(input).ok());
    }
    ASSERT_TRUE(txn->Commit().ok());
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() / "index" / kDatabaseFileName).c_str(), &raw), SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, sqlite3_close);
  ASSERT_TRUE(RegisterFtsExtensions(db.get()).ok());
  sqlite3_stmt* stmt = nullptr;
  const std::string sql = std::string("SELECT ") + kBm25TopKFunction +
                          "(chunks_fts, ?, 1.2, 0.75) FROM chunks_fts WHERE chunks_fts MATCH ? "
                          "LIMIT 1";
  ASSERT_EQ(sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
  Bm25TopK request;
  request.k = 3;
  sqlite3_bind_pointer(stmt, 1, &request, kBm25TopKPointerType, nullptr);
  const std::string match = BuildFtsQuery("hypersonic vortex over the wing");
  sqlite3_bind_text(stmt, 2, match.c_str(), -1, SQLITE_TRANSIENT);
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  sqlite3_finalize(stmt);
  EXPECT_TRUE(request.pruned);
  EXPECT_EQ(request.rows_read, 6u);  // the rows of the rare words only, not all 300
  LexicalQuery query;
  query.text = "hypersonic vortex over the wing";
  query.k = 3;
  auto reference = store_->SearchLexicalReference(query);
  ASSERT_TRUE(reference.ok());
  ASSERT_EQ(request.matches.size(), 3u);
  ASSERT_EQ(reference->size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(request.matches[i].first, (*reference)[i].chunk_id);
    EXPECT_EQ(request.matches[i].second, (*reference)[i].score);
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
}

// Row lengths are kept between searches; every change of the file, by this connection or
// another, or inside a transaction not yet committed, must be seen.
TEST_F(LexicalTopKTest, KeptRowLengthsFollowEveryChange) {
  auto document = [](const std::string& key, const std::string& source, const std::string& text) {
    DocumentInput input;
    input.key = key;
    input.source_path = source;
    input.type = "text";
    input.content_hash = "h";
    input.title = "the wing";
    text::Chunk chunk;
    chunk.text = text;
    chunk.end = text.size();
    input.chunks.push_back(chunk);
    return input;
  };
  auto put = [&](const DocumentInput& input) {
    auto txn = store_->BeginTransaction();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(store_->PutDocument(input).ok());
    ASSERT_TRUE(txn->Commit().ok());
  };
  for (int d = 0; d < 30; ++d) {
    const std::string key = "/d" + std::to_string(d);
    ASSERT_NO_FATAL_FAILURE(put(
        document(key, key,
                 d % 3 == 0 ? "the wing of the aircraft" : "the flow over the long slender cone")));
  }
  LexicalQuery query;
  query.text = "the wing cone";
  query.k = 5;
  ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
  // Same chunk ids, other lengths: the title column holds the source path.
  for (int d = 0; d < 30; d += 3) {
    const std::string key = "/d" + std::to_string(d);
    auto moved = store_->MoveDocument(
        key, key + "x", "/a/much/longer/path/with/many/more/words/than/before/" + key);
    ASSERT_TRUE(moved.ok() && *moved);
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
  // Another connection's commit.
  {
    auto other = DocumentStore::Open(dir_.path() / "index");
    ASSERT_TRUE(other.ok());
    auto txn = (*other)->BeginTransaction();
    ASSERT_TRUE(txn.ok());
    for (int d = 1; d < 30; d += 3) {
      const std::string key = "/d" + std::to_string(d);
      auto moved = (*other)->MoveDocument(key, key + "y", "/short/" + key);
      ASSERT_TRUE(moved.ok() && *moved);
    }
    ASSERT_TRUE(txn->Commit().ok());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
  // Inside a transaction that is then rolled back.
  {
    auto txn = store_->BeginTransaction();
    ASSERT_TRUE(txn.ok());
    for (int d = 2; d < 30; d += 3) {
      const std::string key = "/d" + std::to_string(d);
      auto moved = store_->MoveDocument(key, key + "z", "/yet/another/place/for/" + key);
      ASSERT_TRUE(moved.ok() && *moved);
    }
    ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
  ASSERT_NO_FATAL_FAILURE(put(document("/new", "/new", "the wing wing cone")));
  ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
  // A read snapshot sees its own version of the rows while another connection changes them, and
  // the new one once it ends.
  {
    auto snapshot = store_->BeginReadSnapshot();
    ASSERT_TRUE(snapshot.ok());
    ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
    auto other = DocumentStore::Open(dir_.path() / "index");
    ASSERT_TRUE(other.ok());
    auto moved = (*other)->MoveDocument("/new", "/new2", "/new/home/far/away/from/the/old/one");
    ASSERT_TRUE(moved.ok() && *moved);
    ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectSame(query));
}

TEST_F(LexicalTopKTest, WithoutARequestTheFunctionFails) {
  DocumentInput input;
  input.key = "/a";
  input.source_path = "/a";
  input.type = "text";
  input.content_hash = "h";
  text::Chunk chunk;
  chunk.text = "wing";
  chunk.end = 4;
  input.chunks.push_back(chunk);
  ASSERT_TRUE(store_->PutDocument(input).ok());
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() / "index" / kDatabaseFileName).c_str(), &raw), SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, sqlite3_close);
  ASSERT_TRUE(RegisterFtsExtensions(db.get()).ok());
  const std::string sql = std::string("SELECT ") + kBm25TopKFunction +
                          "(chunks_fts, 5) FROM chunks_fts WHERE chunks_fts MATCH 'wing'";
  char* error = nullptr;
  EXPECT_NE(sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, &error), SQLITE_OK);
  sqlite3_free(error);
}

}  // namespace
}  // namespace sieve::store
