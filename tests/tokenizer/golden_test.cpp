// Every case of ../shared/data/tokenizers/golden_dev.jsonl (bert-base-uncased), through the
// tokenizer.json path and through the vocab.txt + tokenizer_config.json fallback.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/file.h"
#include "tokenizer/tokenizer.h"

namespace sieve::tokenizer {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kBertDir = fs::path(SIEVE_SHARED_DIR) / "data/tokenizers/bert-base-uncased";
const fs::path kGoldenPath = fs::path(SIEVE_SHARED_DIR) / "data/tokenizers/golden_dev.jsonl";

std::vector<json> ReadGoldenCases() {
  std::vector<json> cases;
  std::ifstream in(kGoldenPath);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) cases.push_back(json::parse(line));
  }
  return cases;
}

std::vector<std::int32_t> Ints(const json& array) {
  return array.get<std::vector<std::int32_t>>();
}

// Runs every case; returns how many matched exactly and reports each mismatch.
int CountMatching(const Tokenizer& tokenizer, const std::vector<json>& cases,
                  const std::string& path_name) {
  int matching = 0;
  for (const json& c : cases) {
    EncodeOptions options;
    if (c.contains("max_length")) options.max_length = c["max_length"].get<std::size_t>();
    const std::string text = c["text"].get<std::string>();
    const Encoding encoding =
        c.contains("text_pair")
            ? tokenizer.EncodePair(text, c["text_pair"].get<std::string>(), options)
            : tokenizer.Encode(text, options);
    const bool equal = encoding.input_ids == Ints(c["input_ids"]) &&
                       encoding.token_type_ids == Ints(c["token_type_ids"]) &&
                       encoding.attention_mask == Ints(c["attention_mask"]) &&
                       encoding.untruncated_length == c["untruncated_length"].get<std::size_t>();
    EXPECT_TRUE(equal) << path_name << " " << c["id"].get<std::string>() << " ("
                       << c["category"].get<std::string>() << "): " << text;
    if (!equal) {
      std::string got;
      for (std::int32_t id : encoding.input_ids) got += tokenizer.IdToToken(id) + " ";
      ADD_FAILURE() << "  got tokens: " << got << "\n  want: " << c["tokens"].dump();
    }
    matching += equal ? 1 : 0;
  }
  return matching;
}

class GoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = ReadGoldenCases();
    ASSERT_EQ(cases_.size(), 145u) << kGoldenPath;
  }
  std::vector<json> cases_;
};

TEST_F(GoldenTest, TokenizerJsonReproducesEveryCase) {
  auto tokenizer = LoadTokenizer(kBertDir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  const int matching = CountMatching(**tokenizer, cases_, "tokenizer.json");
  std::cout << "golden (tokenizer.json): " << matching << "/" << cases_.size() << "\n";
  EXPECT_EQ(matching, static_cast<int>(cases_.size()));
  EXPECT_EQ((*tokenizer)->model_max_length(), 512u);
  EXPECT_EQ((*tokenizer)->vocab_size(), 30522u);
  EXPECT_EQ((*tokenizer)->pad_id(), 0);
}

TEST_F(GoldenTest, VocabTxtFallbackReproducesEveryCase) {
  // A folder with only vocab.txt + tokenizer_config.json.
  const fs::path dir =
      fs::temp_directory_path() / ("sieve_vocab_txt_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(kBertDir / "vocab.txt", dir / "vocab.txt", fs::copy_options::overwrite_existing);
  fs::copy_file(kBertDir / "tokenizer_config.json", dir / "tokenizer_config.json",
                fs::copy_options::overwrite_existing);
  auto tokenizer = LoadTokenizer(dir);
  fs::remove_all(dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  const int matching = CountMatching(**tokenizer, cases_, "vocab.txt");
  std::cout << "golden (vocab.txt fallback): " << matching << "/" << cases_.size() << "\n";
  EXPECT_EQ(matching, static_cast<int>(cases_.size()));
  EXPECT_EQ((*tokenizer)->model_max_length(), 512u);
  EXPECT_EQ((*tokenizer)->vocab_size(), 30522u);
}

}  // namespace
}  // namespace sieve::tokenizer
