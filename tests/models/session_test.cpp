// EncoderModel + sessions: sessions on one model agree with each other and with a lone session,
// also when run concurrently on a shared pool; a second session costs (almost) no memory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "models/encoder.h"
#include "models/transformer.h"
#include "nn/thread_pool.h"

namespace sieve::models {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path Fixture(const std::string& name) {
  return fs::path(SIEVE_SOURCE_DIR) / "tests/data/models" / name;
}

const std::vector<std::string> kTexts = {
    "experimental investigation of the aerodynamics of a wing in a slipstream",
    "",
    "boundary layer on a flat plate",
    "heat transfer in supersonic flow over a cone and the shock wave it makes",
    "lift",
};

std::shared_ptr<const EncoderModel> Load(const fs::path& dir) {
  auto model = LoadEncoderModel(dir);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *model : nullptr;
}

std::vector<std::vector<float>> EmbedAll(Embedder& embedder) {
  auto vectors = embedder.Embed(kTexts, false);
  EXPECT_TRUE(vectors.ok()) << vectors.status().ToString();
  return vectors.ok() ? *vectors : std::vector<std::vector<float>>{};
}

std::vector<float> ScoreAll(CrossEncoder& cross) {
  auto scores = cross.Score("lift of a wing", kTexts);
  EXPECT_TRUE(scores.ok()) << scores.status().ToString();
  std::vector<float> logits;
  if (scores.ok()) {
    for (const auto& s : *scores) logits.push_back(s.logit);
  }
  return logits;
}

TEST(EncoderModelTest, KindInfoAndWrongKindSessionsAreRefused) {
  auto bge = Load(Fixture("tiny-bge"));
  auto marco = Load(Fixture("tiny-ms-marco"));
  ASSERT_TRUE(bge && marco);
  EXPECT_EQ(bge->kind(), EncoderKind::kEmbedder);
  EXPECT_EQ(marco->kind(), EncoderKind::kCrossEncoder);
  EXPECT_EQ(bge->info().pooling, "cls");
  EXPECT_EQ(bge->pooling(), Pooling::kCls);
  EXPECT_TRUE(bge->normalize());
  EXPECT_GT(bge->weight_bytes(), 0u);
  EXPECT_GT(bge->CountTokens("boundary layer"), 0u);
  auto wrong = NewEmbedderSession(marco);
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("cross-encoder"));
  auto wrong_cross = NewCrossEncoderSession(bge);
  EXPECT_EQ(wrong_cross.status().code(), StatusCode::kInvalidArgument);
  SessionOptions zero_batch;
  zero_batch.batch_size = 0;
  EXPECT_EQ(NewEmbedderSession(bge, zero_batch).status().code(), StatusCode::kInvalidArgument);
  SessionOptions too_long;
  too_long.max_length = 1000;
  EXPECT_THAT(NewEmbedderSession(bge, too_long).status().message(), HasSubstr("64 positions"));
  EXPECT_EQ(NewEmbedderSession(nullptr).status().code(), StatusCode::kInvalidArgument);
}

TEST(EncoderModelTest, SessionsShareTheModelAndKeepItAlive) {
  auto model = Load(Fixture("tiny-bge"));
  ASSERT_TRUE(model);
  auto a = NewEmbedderSession(model);
  auto b = NewEmbedderSession(model);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->shared_model().get(), model.get());
  EXPECT_EQ(&(*b)->model(), model.get());
  const auto expected = EmbedAll(**a);
  model.reset();  // the sessions hold the model (and its weights' mapping)
  EXPECT_EQ(EmbedAll(**b), expected);
}

TEST(EncoderModelTest, SessionMaxLengthTruncatesAndReportsToItsLogger) {
  auto model = Load(Fixture("tiny-bge"));
  ASSERT_TRUE(model);
  std::vector<std::string> notes;
  SessionOptions options;
  options.max_length = 8;
  options.logger = Logger([&notes](LogLevel level, std::string_view message) {
    if (level == LogLevel::kNote) notes.emplace_back(message);
  });
  auto session = NewEmbedderSession(model, options);
  ASSERT_TRUE(session.ok());
  EXPECT_EQ((*session)->info().max_seq_length, 8u);
  EXPECT_EQ(model->info().max_seq_length, 64u);  // the shared model is unchanged
  std::string long_text;
  for (int i = 0; i < 50; ++i) long_text += "boundary layer ";
  ASSERT_TRUE((*session)->Embed({long_text, "short"}, false).ok());
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_THAT(notes[0], HasSubstr("1 of 2 inputs truncated to 8 tokens"));
}

// Two sessions (one model, one pool of 2) give exactly what one session alone gives, one after
// the other and concurrently on two threads.
TEST(EncoderModelTest, TwoSessionsMatchOneAloneAlsoConcurrently) {
  nn::ThreadPool pool(2);
  for (const char* name : {"tiny-bge", "tiny-xlmr", "tiny-ms-marco", "tiny-xlmr-reranker"}) {
    auto model = Load(Fixture(name));
    ASSERT_TRUE(model);
    SessionOptions options;
    options.pool = &pool;
    options.batch_size = 2;
    if (model->kind() == EncoderKind::kEmbedder) {
      auto alone = LoadEmbedder(Fixture(name));  // its own model, no pool
      auto a = NewEmbedderSession(model, options);
      auto b = NewEmbedderSession(model, options);
      ASSERT_TRUE(alone.ok() && a.ok() && b.ok());
      const auto expected = EmbedAll(**alone);
      ASSERT_EQ(expected.size(), kTexts.size());
      for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto got = EmbedAll(**a);
        ASSERT_EQ(got.size(), expected.size());
        for (std::size_t d = 0; d < expected[i].size(); ++d) {
          EXPECT_NEAR(got[i][d], expected[i][d], 1e-6) << name;
        }
      }
      std::vector<std::vector<float>> from_a[20], from_b[20];
      std::thread ta([&] {
        for (auto& r : from_a) r = EmbedAll(**a);
      });
      std::thread tb([&] {
        for (auto& r : from_b) r = EmbedAll(**b);
      });
      ta.join();
      tb.join();
      const auto reference = EmbedAll(**a);
      for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(from_a[i], reference) << name << " run " << i;
        EXPECT_EQ(from_b[i], reference) << name << " run " << i;
      }
    } else {
      auto alone = LoadCrossEncoder(Fixture(name));
      auto a = NewCrossEncoderSession(model, options);
      auto b = NewCrossEncoderSession(model, options);
      ASSERT_TRUE(alone.ok() && a.ok() && b.ok());
      const auto expected = ScoreAll(**alone);
      const auto got = ScoreAll(**a);
      ASSERT_EQ(got.size(), expected.size());
      // Batches of 2 against batches of 32: other padded lengths, so other sgemm blockings and
      // summation orders; logits of magnitude ~0.3-3 agree to float rounding amplified by the
      // layers (up to 1.8e-6 seen on tiny-xlmr-reranker with the vectorised GELU), not 1e-6.
      for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-5) << name;
      std::vector<float> from_a[20], from_b[20];
      std::thread ta([&] {
        for (auto& r : from_a) r = ScoreAll(**a);
      });
      std::thread tb([&] {
        for (auto& r : from_b) r = ScoreAll(**b);
      });
      ta.join();
      tb.join();
      const auto reference = ScoreAll(**a);
      for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(from_a[i], reference) << name << " run " << i;
        EXPECT_EQ(from_b[i], reference) << name << " run " << i;
      }
    }
  }
}

// ScorePairs with the pairs of three queries mixed (one call, length-sorted batches padded to
// their longest) gives each pair what it gets scored alone and what Score gives per query: equal
// up to float rounding of the batch's shape, 1e-5 in the logit as above; also with a token budget
// per forward pass that cuts the batches differently (1 token: every pair alone; 40: a few each).
TEST(EncoderModelTest, ScorePairsMixesQueriesAndMatchesEachPairAlone) {
  nn::ThreadPool pool(2);
  const std::vector<std::string> queries = {"lift of a wing", "heat transfer", "what is a cone"};
  for (const char* name : {"tiny-ms-marco", "tiny-xlmr-reranker"}) {
    auto model = Load(Fixture(name));
    ASSERT_TRUE(model);
    std::vector<ScorePair> pairs;
    for (std::size_t t = 0; t < kTexts.size(); ++t) {
      for (std::size_t q = 0; q < queries.size(); ++q) pairs.push_back({queries[q], kTexts[t]});
    }
    SessionOptions options;
    options.pool = &pool;
    auto session = NewCrossEncoderSession(model, options);
    ASSERT_TRUE(session.ok());
    auto mixed = (*session)->ScorePairs(pairs);
    ASSERT_TRUE(mixed.ok()) << mixed.status().ToString();
    ASSERT_EQ(mixed->size(), pairs.size());
    std::vector<float> spread;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      auto alone = (*session)->Score(pairs[i].query, {std::string(pairs[i].passage)});
      ASSERT_TRUE(alone.ok() && alone->size() == 1u);
      EXPECT_NEAR((*mixed)[i].logit, (*alone)[0].logit, 1e-5) << name << " pair " << i;
      EXPECT_NEAR((*mixed)[i].score, (*alone)[0].score, 1e-5) << name << " pair " << i;
      spread.push_back((*mixed)[i].logit);
    }
    // The pairs do differ (a mix-up of the output order would show).
    EXPECT_GT(*std::max_element(spread.begin(), spread.end()) -
                  *std::min_element(spread.begin(), spread.end()),
              1e-3)
        << name;
    for (std::size_t q = 0; q < queries.size(); ++q) {
      auto per_query = (*session)->Score(queries[q], kTexts);
      ASSERT_TRUE(per_query.ok());
      for (std::size_t t = 0; t < kTexts.size(); ++t) {
        EXPECT_NEAR((*mixed)[t * queries.size() + q].logit, (*per_query)[t].logit, 1e-5) << name;
      }
    }
    for (std::size_t budget : {1u, 40u}) {
      SessionOptions budgeted = options;
      budgeted.max_batch_tokens = budget;
      auto cut = NewCrossEncoderSession(model, budgeted);
      ASSERT_TRUE(cut.ok());
      auto scores = (*cut)->ScorePairs(pairs);
      ASSERT_TRUE(scores.ok());
      ASSERT_EQ(scores->size(), pairs.size());
      for (std::size_t i = 0; i < pairs.size(); ++i) {
        EXPECT_NEAR((*scores)[i].logit, (*mixed)[i].logit, 1e-5) << name << " budget " << budget;
      }
    }
    EXPECT_TRUE((*session)->ScorePairs({}).ok());
  }
}

TEST(EncoderModelTest, CountPairTokensIsWhatTheCrossEncoderReads) {
  auto model = Load(Fixture("tiny-ms-marco"));
  ASSERT_TRUE(model);
  // BERT pairs: [CLS] query [SEP] passage [SEP].
  EXPECT_EQ(model->CountPairTokens("lift of a wing", "boundary layer"),
            model->CountTokens("lift of a wing") + model->CountTokens("boundary layer") + 3);
  std::string long_text;
  for (int i = 0; i < 50; ++i) long_text += "boundary layer ";
  EXPECT_EQ(model->CountPairTokens("lift", long_text), model->info().max_seq_length);
}

// A cross-encoder without a ScorePairs of its own gets the default: Score once per query, the
// scores put back in pair order.
TEST(EncoderModelTest, DefaultScorePairsGroupsByQuery) {
  class LengthScorer final : public CrossEncoder {
   public:
    Result<std::vector<CrossEncoderScore>> Score(
        std::string_view query, const std::vector<std::string>& passages) override {
      ++calls;
      std::vector<CrossEncoderScore> out;
      for (const auto& p : passages) {
        out.push_back({0, static_cast<float>(query.size() * 100 + p.size())});
      }
      return out;
    }
    const ModelInfo& info() const override { return info_; }
    int calls = 0;

   private:
    ModelInfo info_;
  };
  LengthScorer scorer;
  const std::vector<ScorePair> pairs = {{"ab", "x"}, {"abc", "yy"}, {"ab", "zzz"}, {"abc", ""}};
  auto scores = scorer.ScorePairs(pairs);
  ASSERT_TRUE(scores.ok());
  ASSERT_EQ(scores->size(), 4u);
  EXPECT_EQ((*scores)[0].logit, 201);
  EXPECT_EQ((*scores)[1].logit, 302);
  EXPECT_EQ((*scores)[2].logit, 203);
  EXPECT_EQ((*scores)[3].logit, 300);
  EXPECT_EQ(scorer.calls, 2);
}

// Resident memory of this process in bytes (VmRSS of /proc/self/status).
std::size_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// A BERT of a few tens of MB with random F32 weights, in the Hub layout, with tiny-bge's
// tokenizer and sentence-transformers files.
class LargeModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sieve_session_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::copy(Fixture("tiny-bge"), dir_, fs::copy_options::recursive);
    fs::remove(dir_ / "model.safetensors");
    nlohmann::json config = nlohmann::json::parse(std::ifstream(dir_ / "config.json"));
    config["vocab_size"] = kVocab;
    config["hidden_size"] = kHidden;
    config["num_attention_heads"] = 4;
    config["num_hidden_layers"] = kLayers;
    config["intermediate_size"] = kIntermediate;
    std::ofstream(dir_ / "config.json") << config.dump(2);
    WriteWeights(dir_ / "model.safetensors");
  }
  void TearDown() override { fs::remove_all(dir_); }

  static constexpr std::size_t kVocab = 30000, kHidden = 256, kLayers = 4, kIntermediate = 1024;

  static void WriteWeights(const fs::path& path) {
    std::vector<std::pair<std::string, std::vector<std::size_t>>> tensors = {
        {"embeddings.word_embeddings.weight", {kVocab, kHidden}},
        {"embeddings.position_embeddings.weight", {64, kHidden}},
        {"embeddings.token_type_embeddings.weight", {2, kHidden}},
        {"embeddings.LayerNorm.weight", {kHidden}},
        {"embeddings.LayerNorm.bias", {kHidden}}};
    for (std::size_t i = 0; i < kLayers; ++i) {
      const std::string p = "encoder.layer." + std::to_string(i) + ".";
      for (const char* part : {"attention.self.query", "attention.self.key", "attention.self.value",
                               "attention.output.dense"}) {
        tensors.push_back({p + part + ".weight", {kHidden, kHidden}});
        tensors.push_back({p + part + ".bias", {kHidden}});
      }
      tensors.push_back({p + "intermediate.dense.weight", {kIntermediate, kHidden}});
      tensors.push_back({p + "intermediate.dense.bias", {kIntermediate}});
      tensors.push_back({p + "output.dense.weight", {kHidden, kIntermediate}});
      tensors.push_back({p + "output.dense.bias", {kHidden}});
      for (const char* norm : {"attention.output.LayerNorm", "output.LayerNorm"}) {
        tensors.push_back({p + norm + ".weight", {kHidden}});
        tensors.push_back({p + norm + ".bias", {kHidden}});
      }
    }
    nlohmann::json header = nlohmann::json::object();
    std::size_t offset = 0;
    for (const auto& [name, shape] : tensors) {
      std::size_t count = 1;
      for (std::size_t d : shape) count *= d;
      header[name] = {{"dtype", "F32"},
                      {"shape", shape},
                      {"data_offsets", {offset, offset + count * sizeof(float)}}};
      offset += count * sizeof(float);
    }
    std::string text = header.dump();
    while ((8 + text.size()) % 8 != 0) text += ' ';
    std::ofstream out(path, std::ios::binary);
    std::uint64_t length = text.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xff));
    out << text;
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (const auto& [name, shape] : tensors) {
      std::size_t count = 1;
      for (std::size_t d : shape) count *= d;
      std::vector<float> values(count);
      for (float& v : values) v = name.ends_with("LayerNorm.weight") ? 1.0f : normal(rng);
      out.write(reinterpret_cast<const char*>(values.data()),
                static_cast<std::streamsize>(count * sizeof(float)));
    }
  }

  fs::path dir_;
};

TEST_F(LargeModelTest, SecondSessionAddsLessThanFivePercentOfTheWeights) {
  const std::size_t before_load = ResidentBytes();
  auto model = Load(dir_);
  ASSERT_TRUE(model);
  const std::size_t weights = model->weight_bytes();
  ASSERT_GT(weights, 40'000'000u);
  // F32 tensors are used in place from the mapping; the model owns only the linear layers packed
  // for the GEMM (their mapped sources are released), less than the whole.
  EXPECT_LT(model->transformer().owned_bytes(), weights);
  auto first = NewEmbedderSession(model);
  ASSERT_TRUE(first.ok());
  const auto expected = EmbedAll(**first);
  const std::size_t one_session = ResidentBytes();
  auto second = NewEmbedderSession(model);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(EmbedAll(**second), expected);
  const std::size_t two_sessions = ResidentBytes();
  const double added = two_sessions > one_session ? double(two_sessions - one_session) : 0.0;
  std::cout << "[rss] weights " << weights / 1e6 << " MB; load + first session + embed: +"
            << (one_session - before_load) / 1e6 << " MB; second session + embed: +" << added / 1e6
            << " MB (" << 100.0 * added / double(weights) << "% of weights)\n";
  EXPECT_LT(added, 0.05 * double(weights));
}

}  // namespace
}  // namespace sieve::models
