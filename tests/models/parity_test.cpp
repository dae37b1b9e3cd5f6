// Parity with the PyTorch reference outputs recorded in tests/data/models/*/reference.json:
// (1) our tokenizer gives the reference ids, (2) the engine fed the reference ids gives the
// reference embeddings / logits, (3) the public Embedder / CrossEncoder API on the raw texts
// gives them too. Tolerance 1e-4 (fp32). Hidden states are compared on real tokens only: Encode
// leaves padding out of the forward pass and returns zero rows there.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "models/encoder.h"
#include "models/model_config.h"
#include "models/transformer.h"
#include "nn/arena.h"
#include "nn/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace sieve::models {
namespace {

using Json = nlohmann::json;
constexpr double kTolerance = 1e-4;

std::filesystem::path FixtureRoot() {
  return std::filesystem::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "models";
}

std::vector<std::string> FixtureNames() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(FixtureRoot(), ec)) {
    if (std::filesystem::exists(entry.path() / "reference.json")) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

Json ReadReference(const std::string& name) {
  std::ifstream in(FixtureRoot() / name / "reference.json");
  return Json::parse(in);
}

TokenBatch BatchFromCase(const Json& c) {
  TokenBatch batch;
  batch.batch = c["input_ids"].size();
  batch.seq_len = c["input_ids"][0].size();
  for (std::size_t b = 0; b < batch.batch; ++b) {
    for (std::size_t t = 0; t < batch.seq_len; ++t) {
      batch.input_ids.push_back(c["input_ids"][b][t].get<std::int32_t>());
      batch.token_type_ids.push_back(c["token_type_ids"][b][t].get<std::int32_t>());
      batch.attention_mask.push_back(c["attention_mask"][b][t].get<std::int32_t>());
    }
  }
  return batch;
}

// Unpadded row b of a reference int matrix.
std::vector<std::int32_t> Row(const Json& c, const char* key, std::size_t b) {
  std::vector<std::int32_t> row;
  const Json& mask = c["attention_mask"][b];
  for (std::size_t t = 0; t < mask.size(); ++t) {
    if (mask[t].get<int>() == 1) row.push_back(c[key][b][t].get<std::int32_t>());
  }
  return row;
}

double MaxDiff(const std::vector<float>& ours, const Json& reference) {
  EXPECT_EQ(ours.size(), reference.size());
  double worst = 0;
  for (std::size_t i = 0; i < std::min(ours.size(), reference.size()); ++i) {
    worst = std::max(worst, std::fabs(double(ours[i]) - reference[i].get<double>()));
  }
  return worst;
}

// Max |difference| over the rows of real tokens (mask 1) of Encode()'s output; the rows of
// padding must be exactly zero (PyTorch computes values there, Encode does not run them).
double RealRowsDiff(const float* states, const TokenBatch& batch, std::size_t hidden,
                    const Json& reference, const Json& name) {
  double worst = 0;
  for (std::size_t b = 0; b < batch.batch; ++b) {
    for (std::size_t t = 0; t < batch.seq_len; ++t) {
      const float* row = states + (b * batch.seq_len + t) * hidden;
      if (batch.attention_mask[b * batch.seq_len + t] != 0) {
        worst = std::max(worst, MaxDiff(std::vector<float>(row, row + hidden), reference[b][t]));
      } else {
        EXPECT_TRUE(std::all_of(row, row + hidden, [](float v) { return v == 0.0f; }))
            << name << ": padding row " << b << "," << t << " is not zero";
      }
    }
  }
  return worst;
}

class ParityTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::filesystem::path dir() const { return FixtureRoot() / GetParam(); }
};

TEST_P(ParityTest, TokenizerGivesReferenceIds) {
  const Json reference = ReadReference(GetParam());
  auto tok = tokenizer::LoadTokenizer(dir());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  auto st = LoadSentenceTransformersConfig(dir());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  for (const Json& c : reference["cases"]) {
    tokenizer::EncodeOptions options;
    options.max_length = c["max_length"].get<std::size_t>();
    const std::size_t count = c["input_ids"].size();
    for (std::size_t b = 0; b < count; ++b) {
      tokenizer::Encoding encoding;
      if (c.contains("pairs")) {
        encoding = (*tok)->EncodePair(c["pairs"][b][0].get<std::string>(),
                                      c["pairs"][b][1].get<std::string>(), options);
      } else {
        std::string text = c["texts"][b].get<std::string>();
        if (c.value("is_query", false)) text = st->query_prompt + text;
        encoding = (*tok)->Encode(text, options);
      }
      EXPECT_EQ(encoding.input_ids, Row(c, "input_ids", b)) << c["name"] << " #" << b;
      EXPECT_EQ(encoding.token_type_ids, Row(c, "token_type_ids", b)) << c["name"] << " #" << b;
    }
  }
}

TEST_P(ParityTest, EngineOnReferenceIdsMatchesPyTorch) {
  const Json reference = ReadReference(GetParam());
  auto model = TransformerModel::Load(dir());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto st = LoadSentenceTransformersConfig(dir());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  const std::size_t hidden = model->config().hidden_size;
  nn::Arena arena;
  double worst_output = 0, worst_hidden = 0;
  for (const Json& c : reference["cases"]) {
    const TokenBatch batch = BatchFromCase(c);
    arena.Reset();
    auto states = model->Encode(batch, arena);
    ASSERT_TRUE(states.ok()) << states.status().ToString();
    if (c.contains("last_hidden_state")) {
      worst_hidden = std::max(
          worst_hidden, RealRowsDiff(*states, batch, hidden, c["last_hidden_state"], c["name"]));
    }
    double worst_case = 0;
    if (reference["kind"] == "embedder") {
      auto vectors = PoolEmbeddings(*states, batch, hidden, st->pooling, st->normalize);
      for (std::size_t b = 0; b < batch.batch; ++b) {
        worst_case = std::max(worst_case, MaxDiff(vectors[b], c["embeddings"][b]));
      }
    } else {
      const std::vector<float> logits = model->Classify(*states, batch, arena);
      const std::size_t labels = model->config().num_labels;
      for (std::size_t b = 0; b < batch.batch; ++b) {
        const std::vector<float> row(logits.begin() + b * labels,
                                     logits.begin() + (b + 1) * labels);
        worst_case = std::max(worst_case, MaxDiff(row, c["logits"][b]));
        const CrossEncoderScore score = ScoreFromLogits(row.data(), labels);
        worst_case =
            std::max(worst_case, std::fabs(double(score.score) - c["scores"][b].get<double>()));
      }
    }
    EXPECT_LE(worst_case, kTolerance) << GetParam() << " case " << c["name"];
    worst_output = std::max(worst_output, worst_case);
  }
  EXPECT_LE(worst_hidden, kTolerance);
  std::cout << "[parity] " << GetParam() << " engine: max |diff| outputs " << worst_output
            << ", last_hidden_state " << worst_hidden << "\n";
}

// The padded batch with masks that are not a prefix (holes, a masked first token, a sequence
// with nothing real): real rows match PyTorch's masked attention, padding rows are zero, and the
// heads stay finite on the all-padding sequence.
TEST_P(ParityTest, EngineOnNonPrefixMasksMatchesPyTorch) {
  const Json reference = ReadReference(GetParam());
  ASSERT_TRUE(reference.contains("masked")) << "regenerate with tools/make_fixtures.py";
  const Json& masked = reference["masked"];
  auto model = TransformerModel::Load(dir());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::size_t hidden = model->config().hidden_size;
  const TokenBatch batch = BatchFromCase(masked);
  ASSERT_EQ(batch.batch, 4u);
  nn::Arena arena;
  nn::ThreadPool pool(2);
  auto states = model->Encode(batch, arena, &pool);
  ASSERT_TRUE(states.ok()) << states.status().ToString();
  const double worst =
      RealRowsDiff(*states, batch, hidden, masked["last_hidden_state"], Json("masked"));
  EXPECT_LE(worst, kTolerance);
  std::cout << "[parity] " << GetParam() << " non-prefix masks: max |diff| " << worst << "\n";
  if (reference["kind"] == "embedder") {
    auto st = LoadSentenceTransformersConfig(dir());
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    const auto vectors = PoolEmbeddings(*states, batch, hidden, st->pooling, st->normalize);
    for (float v : vectors[3]) EXPECT_EQ(v, 0.0f);  // nothing to pool
  } else {
    const std::vector<float> logits = model->Classify(*states, batch, arena);
    for (float v : logits) EXPECT_TRUE(std::isfinite(v));
  }
}

TEST_P(ParityTest, PublicApiOnRawTextsMatchesPyTorch) {
  const Json reference = ReadReference(GetParam());
  double worst = 0;
  for (const Json& c : reference["cases"]) {
    LoadModelOptions options;
    options.max_length = c["max_length"].get<std::size_t>();
    options.batch_size = 3;  // forces several batches and re-ordering on the 4-input cases
    double worst_case = 0;
    if (reference["kind"] == "embedder") {
      auto embedder = LoadEmbedder(dir(), options);
      ASSERT_TRUE(embedder.ok()) << embedder.status().ToString();
      auto vectors = (*embedder)->Embed(c["texts"].get<std::vector<std::string>>(),
                                        c.value("is_query", false));
      ASSERT_TRUE(vectors.ok()) << vectors.status().ToString();
      ASSERT_EQ(vectors->size(), c["embeddings"].size());
      for (std::size_t i = 0; i < vectors->size(); ++i) {
        worst_case = std::max(worst_case, MaxDiff((*vectors)[i], c["embeddings"][i]));
      }
    } else {
      auto cross = LoadCrossEncoder(dir(), options);
      ASSERT_TRUE(cross.ok()) << cross.status().ToString();
      // Group passages by query, as a caller reranking one query's candidates does.
      std::map<std::string, std::vector<std::size_t>> by_query;
      for (std::size_t i = 0; i < c["pairs"].size(); ++i) {
        by_query[c["pairs"][i][0].get<std::string>()].push_back(i);
      }
      const std::size_t labels = (*cross)->info().dimension;
      for (const auto& [query, indices] : by_query) {
        std::vector<std::string> passages;
        for (std::size_t i : indices) passages.push_back(c["pairs"][i][1].get<std::string>());
        auto scores = (*cross)->Score(query, passages);
        ASSERT_TRUE(scores.ok()) << scores.status().ToString();
        for (std::size_t j = 0; j < indices.size(); ++j) {
          const std::size_t i = indices[j];
          worst_case = std::max(
              worst_case, std::fabs(double((*scores)[j].score) - c["scores"][i].get<double>()));
          worst_case = std::max(worst_case, std::fabs(double((*scores)[j].logit) -
                                                      c["logits"][i][labels - 1].get<double>()));
        }
      }
    }
    EXPECT_LE(worst_case, kTolerance) << GetParam() << " case " << c["name"];
    worst = std::max(worst, worst_case);
  }
  std::cout << "[parity] " << GetParam() << " api: max |diff| " << worst << "\n";
}

TEST(ParityFixtures, AllSixModelsPresent) {
  const std::vector<std::string> expected = {"tiny-bge",      "tiny-minilm",
                                             "tiny-ms-marco", "tiny-ms-marco-2label",
                                             "tiny-xlmr",     "tiny-xlmr-reranker"};
  const auto names = FixtureNames();
  for (const auto& name : expected) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ParityTest, ::testing::ValuesIn(FixtureNames()),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace sieve::models
