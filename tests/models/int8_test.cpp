// Precision::kInt8: the fixture models loaded with int8 linear layers stay close to fp32
// (embeddings' cosine, rerank order) and say what they are (info().precision). The int8 kernels
// themselves are tested against float in tests/nn/quant_test.cpp on every dispatch path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "models/encoder.h"
#include "models/transformer.h"
#include "nn/thread_pool.h"

namespace sieve::models {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

fs::path Fixture(const std::string& name) {
  return fs::path(SIEVE_SOURCE_DIR) / "tests/data/models" / name;
}

Json Reference(const std::string& name) {
  std::ifstream in(Fixture(name) / "reference.json");
  return Json::parse(in);
}

// Every text of every embedder fixture's reference cases (long, short, empty, accented, CJK...).
std::vector<std::string> FixtureTexts() {
  std::set<std::string> texts;
  for (const char* name : {"tiny-bge", "tiny-minilm", "tiny-xlmr"}) {
    const Json reference = Reference(name);
    for (const auto& c : reference["cases"]) {
      for (const auto& text : c["texts"]) texts.insert(text.get<std::string>());
    }
  }
  return {texts.begin(), texts.end()};
}

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return dot / std::sqrt(std::max(na * nb, 1e-30));
}

TEST(PrecisionTest, ParsesTheTwoNamesAndRefusesOthers) {
  EXPECT_EQ(*ParsePrecision("fp32"), Precision::kFp32);
  EXPECT_EQ(*ParsePrecision("int8"), Precision::kInt8);
  EXPECT_EQ(PrecisionName(Precision::kInt8), "int8");
  auto bad = ParsePrecision("fp16");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("fp32, int8"), std::string::npos);
}

class Int8EmbedderTest : public testing::TestWithParam<std::string> {};

TEST_P(Int8EmbedderTest, EmbeddingsStayWithinCosineBoundsOfFp32) {
  const auto texts = FixtureTexts();
  ASSERT_GE(texts.size(), 5u);
  nn::ThreadPool pool(2);
  LoadModelOptions fp32_options;
  fp32_options.pool = &pool;
  LoadModelOptions int8_options = fp32_options;
  int8_options.precision = Precision::kInt8;
  auto fp32 = LoadEmbedder(Fixture(GetParam()), fp32_options);
  auto int8 = LoadEmbedder(Fixture(GetParam()), int8_options);
  ASSERT_TRUE(fp32.ok() && int8.ok());
  EXPECT_EQ((*fp32)->info().precision, "fp32");
  EXPECT_EQ((*int8)->info().precision, "int8");
  EXPECT_EQ((*int8)->model().transformer().precision(), Precision::kInt8);
  for (bool is_query : {false, true}) {
    auto a = (*fp32)->Embed(texts, is_query);
    auto b = (*int8)->Embed(texts, is_query);
    ASSERT_TRUE(a.ok() && b.ok());
    double sum = 0, worst = 1, identical = 0;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const double cosine = Cosine((*a)[i], (*b)[i]);
      sum += cosine;
      worst = std::min(worst, cosine);
      if ((*a)[i] == (*b)[i]) ++identical;
    }
    const double mean = sum / static_cast<double>(texts.size());
    RecordProperty("cos_mean_" + std::to_string(is_query), std::to_string(mean));
    RecordProperty("cos_min_" + std::to_string(is_query), std::to_string(worst));
    EXPECT_GE(mean, 0.995) << GetParam() << " worst " << worst;
    EXPECT_GE(worst, 0.99) << GetParam();
    // The int8 path really ran: not a single vector is bit-identical to fp32.
    EXPECT_EQ(identical, 0) << GetParam();
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Int8EmbedderTest,
                         testing::Values("tiny-bge", "tiny-minilm", "tiny-xlmr"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(Int8CrossEncoderTest, LogitsStayCloseAndClearOrdersAreKept) {
  // Every fixture query against every fixture passage (the reranker's and the embedders' texts).
  std::set<std::string> queries;
  std::set<std::string> passage_set;
  for (const char* name : {"tiny-ms-marco", "tiny-xlmr-reranker"}) {
    if (!fs::exists(Fixture(name) / "reference.json")) continue;
    const Json reference = Reference(name);
    for (const auto& c : reference["cases"]) {
      for (const auto& pair : c["pairs"]) {
        queries.insert(pair[0].get<std::string>());
        passage_set.insert(pair[1].get<std::string>());
      }
    }
  }
  for (const auto& text : FixtureTexts()) passage_set.insert(text);
  const std::vector<std::string> passages(passage_set.begin(), passage_set.end());
  ASSERT_GE(passages.size(), 10u);
  ASSERT_FALSE(queries.empty());
  for (const char* name : {"tiny-ms-marco", "tiny-xlmr-reranker"}) {
    LoadModelOptions int8_options;
    int8_options.precision = Precision::kInt8;
    auto fp32 = LoadCrossEncoder(Fixture(name));
    auto int8 = LoadCrossEncoder(Fixture(name), int8_options);
    ASSERT_TRUE(fp32.ok() && int8.ok()) << name;
    for (const auto& query : queries) {
      auto a = (*fp32)->Score(query, passages);
      auto b = (*int8)->Score(query, passages);
      ASSERT_TRUE(a.ok() && b.ok());
      // The fixtures are 32 wide with random weights: their logits crowd together (gaps of
      // 1e-5 between neighbours) and int8 moves them by up to ~0.2 here (hidden size 32: few
      // terms per dot product to average the rounding out), so the order of close neighbours is
      // noise. What must hold: logits within 0.25 of fp32 and any two passages whose fp32 logits
      // are 0.5 apart keep their order. (The top-5-unchanged target is checked
      // on the full-size MiniLM-shaped model by bench/run, W3_top5_same.)
      for (std::size_t i = 0; i < passages.size(); ++i) {
        EXPECT_NEAR((*a)[i].logit, (*b)[i].logit, 0.25) << name << " passage " << passages[i];
        for (std::size_t j = 0; j < passages.size(); ++j) {
          if ((*a)[i].logit > (*a)[j].logit + 0.5f) {
            EXPECT_GT((*b)[i].logit, (*b)[j].logit)
                << name << " " << passages[i] << " | " << passages[j];
          }
        }
      }
      std::size_t identical = 0;
      for (std::size_t i = 0; i < passages.size(); ++i) {
        identical += (*a)[i].logit == (*b)[i].logit ? 1 : 0;
      }
      EXPECT_LT(identical, passages.size()) << name;
    }
  }
}

}  // namespace
}  // namespace sieve::models
