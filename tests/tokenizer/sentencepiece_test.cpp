// XLM-R style SentencePiece folder: ids must equal python3-sentencepiece's (recorded in
// tests/data/tokenizer/spm/spm_golden.json by make_spm_fixture.py) under the fairseq mapping.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "core/file.h"
#include "tokenizer/tokenizer.h"

namespace sieve::tokenizer {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSpmDir = fs::path(SIEVE_SOURCE_DIR) / "tests/data/tokenizer/spm";

// transformers' XLMRobertaTokenizer: <s>=0 <pad>=1 </s>=2 <unk>=3, pieces at spm id + 1.
std::int32_t Fairseq(int spm_id, int spm_unk) {
  return spm_id == spm_unk ? 3 : spm_id + 1;
}

class SentencePieceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto text = ReadFile(kSpmDir / "spm_golden.json");
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    golden_ = json::parse(*text);
    auto loaded = LoadTokenizer(kSpmDir);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    tokenizer_ = std::move(*loaded);
  }
  std::vector<std::int32_t> ExpectedIds(const json& c) const {
    std::vector<std::int32_t> ids;
    for (int id : c["spm_ids"].get<std::vector<int>>()) {
      ids.push_back(Fairseq(id, golden_["spm_unk_id"].get<int>()));
    }
    return ids;
  }
  json golden_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(SentencePieceTest, IdsMatchPythonSentencePiece) {
  ASSERT_GE(golden_["cases"].size(), 10u);
  int unknown_pieces = 0;
  for (const json& c : golden_["cases"]) {
    const std::string text = c["text"].get<std::string>();
    std::vector<std::int32_t> want = ExpectedIds(c);
    for (std::int32_t id : want) unknown_pieces += id == 3 ? 1 : 0;
    EXPECT_EQ(tokenizer_->CountTokens(text), want.size()) << text;
    want.insert(want.begin(), 0);
    want.push_back(2);
    const Encoding encoding = tokenizer_->Encode(text, {});
    EXPECT_EQ(encoding.input_ids, want) << text;
    EXPECT_EQ(encoding.token_type_ids, std::vector<std::int32_t>(want.size(), 0));
    EXPECT_EQ(encoding.attention_mask, std::vector<std::int32_t>(want.size(), 1));
    // Token strings come back through the same mapping.
    const auto pieces = c["pieces"].get<std::vector<std::string>>();
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      if (encoding.input_ids[i + 1] != 3) {
        EXPECT_EQ(tokenizer_->IdToToken(encoding.input_ids[i + 1]), pieces[i]);
      }
    }
  }
  EXPECT_GT(unknown_pieces, 0) << "the fixture should exercise SentencePiece's <unk> -> 3";
}

TEST_F(SentencePieceTest, SpecialIdsAndVocabulary) {
  const auto pieces = golden_["spm_piece_count"].get<std::size_t>();
  EXPECT_EQ(tokenizer_->vocab_size(), pieces + 2);
  EXPECT_EQ(tokenizer_->pad_id(), 1);
  EXPECT_EQ(tokenizer_->IdToToken(0), "<s>");
  EXPECT_EQ(tokenizer_->IdToToken(1), "<pad>");
  EXPECT_EQ(tokenizer_->IdToToken(2), "</s>");
  EXPECT_EQ(tokenizer_->IdToToken(3), "<unk>");
  EXPECT_EQ(tokenizer_->IdToToken(static_cast<std::int32_t>(pieces + 1)), "<mask>");
  EXPECT_EQ(tokenizer_->IdToToken(static_cast<std::int32_t>(pieces + 2)), "");
  EXPECT_EQ(tokenizer_->IdToToken(-1), "");
}

TEST_F(SentencePieceTest, PairTemplateAndTruncation) {
  EncodeOptions no_special;
  no_special.add_special_tokens = false;
  const auto a = tokenizer_->Encode("the boundary layer on a flat plate", no_special).input_ids;
  const auto b =
      tokenizer_->Encode("supersonic hypersonic transonic subsonic", no_special).input_ids;
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  const Encoding pair = tokenizer_->EncodePair("the boundary layer on a flat plate",
                                               "supersonic hypersonic transonic subsonic", {});
  std::vector<std::int32_t> want = {0};
  want.insert(want.end(), a.begin(), a.end());
  want.insert(want.end(), {2, 2});
  want.insert(want.end(), b.begin(), b.end());
  want.push_back(2);
  EXPECT_EQ(pair.input_ids, want);
  EXPECT_EQ(pair.token_type_ids, std::vector<std::int32_t>(want.size(), 0));

  // Pair budget = max_length - 4, shared by longest_first.
  EncodeOptions cut;
  cut.max_length = 10;
  const Encoding truncated = tokenizer_->EncodePair(
      "the boundary layer on a flat plate", "supersonic hypersonic transonic subsonic", cut);
  EXPECT_EQ(truncated.input_ids.size(), 10u);
  EXPECT_EQ(truncated.untruncated_length, want.size());
  EXPECT_EQ(truncated.input_ids.front(), 0);
  EXPECT_EQ(truncated.input_ids.back(), 2);
}

TEST_F(SentencePieceTest, MaskLiteralIsOneTokenAndStripsSpaceOnItsLeft) {
  EncodeOptions no_special;
  no_special.add_special_tokens = false;
  const auto the = tokenizer_->Encode("the", no_special).input_ids;
  const auto layer = tokenizer_->Encode("layer", no_special).input_ids;
  const auto mask = static_cast<std::int32_t>(tokenizer_->vocab_size() - 1);
  std::vector<std::int32_t> want = the;
  want.push_back(mask);
  want.insert(want.end(), layer.begin(), layer.end());
  EXPECT_EQ(tokenizer_->Encode("the <mask> layer", no_special).input_ids, want);
  EXPECT_EQ(tokenizer_->Encode("<s></s>", no_special).input_ids, (std::vector<std::int32_t>{0, 2}));
}

TEST(SentencePieceLoadTest, PrefersSentencePieceModelAndRejectsGarbage) {
  const fs::path dir = fs::temp_directory_path() / "sieve_spm_bad_model";
  fs::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomic(dir / "sentencepiece.bpe.model", "not a protobuf").ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "tokenizer.json", "{}").ok());
  auto loaded = LoadTokenizer(dir);
  fs::remove_all(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(loaded.status().message().find("sentencepiece.bpe.model"), std::string::npos)
      << loaded.status().message();
}

}  // namespace
}  // namespace sieve::tokenizer
