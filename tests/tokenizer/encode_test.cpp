// Encoding behaviour on bert-base-uncased: empty input, long words, special literals, truncation
// edges, CountTokens, bad bytes, and folder loading errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/file.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/tokenizer.h"

namespace sieve::tokenizer {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<std::int32_t>;

constexpr std::int32_t kCls = 101;
constexpr std::int32_t kSep = 102;
constexpr std::int32_t kUnk = 100;
constexpr std::int32_t kMask = 103;

class BertEncodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = LoadTokenizer(fs::path(SIEVE_SHARED_DIR) / "data/tokenizers/bert-base-uncased");
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    tokenizer_ = std::move(*loaded);
  }
  static void TearDownTestSuite() { tokenizer_.reset(); }
  static Ids Plain(const std::string& text) {
    EncodeOptions options;
    options.add_special_tokens = false;
    return tokenizer_->Encode(text, options).input_ids;
  }
  static std::unique_ptr<Tokenizer> tokenizer_;
};
std::unique_ptr<Tokenizer> BertEncodeTest::tokenizer_;

TEST_F(BertEncodeTest, EmptyString) {
  const Encoding encoding = tokenizer_->Encode("", {});
  EXPECT_EQ(encoding.input_ids, (Ids{kCls, kSep}));
  EXPECT_EQ(encoding.token_type_ids, (Ids{0, 0}));
  EXPECT_EQ(encoding.attention_mask, (Ids{1, 1}));
  EXPECT_EQ(encoding.untruncated_length, 2u);
  EXPECT_FALSE(encoding.truncated());
  EXPECT_EQ(tokenizer_->CountTokens(""), 0u);
  EXPECT_EQ(tokenizer_->CountTokens(" \t\n\u200b"), 0u);  // only whitespace and a removed Cf
}

TEST_F(BertEncodeTest, LongWords) {
  // "a" repeated: 100 characters are still split into pieces, 101 become one [UNK].
  const Ids hundred = Plain(std::string(100, 'a'));
  EXPECT_GT(hundred.size(), 1u);
  EXPECT_EQ(std::count(hundred.begin(), hundred.end(), kUnk), 0);
  EXPECT_EQ(Plain(std::string(101, 'a')), (Ids{kUnk}));
  // The limit counts characters, not bytes: 100 two-byte characters are not too long.
  std::string accented;
  for (int i = 0; i < 100; ++i) accented += "\xc3\xa9";  // é, stripped to e
  EXPECT_EQ(Plain(accented), Plain(std::string(100, 'e')));
  EXPECT_EQ(Plain("x " + std::string(300, 'b') + " y"), (Ids{1060, kUnk, 1061}));
}

TEST_F(BertEncodeTest, SpecialLiteralsMatchBeforeNormalization) {
  EXPECT_EQ(Plain("[MASK]"), (Ids{kMask}));
  EXPECT_EQ(Plain("a[SEP]b"), (Ids{1037, kSep, 1038}));
  // Lowercase is not the special token: "[", "mask", "]".
  EXPECT_EQ(Plain("[mask]"), (Ids{1031, 7308, 1033}));
  EXPECT_EQ(Plain("[MASK][MASK]"), (Ids{kMask, kMask}));
}

TEST_F(BertEncodeTest, InvalidUtf8IsDroppedNotFatal) {
  // Bad bytes decode to U+FFFD, which clean_text removes.
  EXPECT_EQ(Plain("\xff\xfe"
                  "hello \xc3"),
            Plain("hello"));
  EXPECT_EQ(Plain(std::string("a\0b", 3)), Plain("ab"));
}

TEST_F(BertEncodeTest, CountTokensMatchesEncodeWithoutSpecials) {
  const std::string text = "The boundary layer of a flat plate at Mach 2.5, measured in 1957.";
  EXPECT_EQ(tokenizer_->CountTokens(text), Plain(text).size());
  EXPECT_EQ(tokenizer_->CountTokens(text) + 2, tokenizer_->Encode(text, {}).input_ids.size());
  EXPECT_EQ(tokenizer_->CountTokens("hello world"), 2u);
}

TEST_F(BertEncodeTest, SingleTruncationEdges) {
  const std::string text = "one two three four five";  // 5 tokens
  EncodeOptions options;
  options.max_length = 7;  // fits exactly
  Encoding encoding = tokenizer_->Encode(text, options);
  EXPECT_EQ(encoding.input_ids.size(), 7u);
  EXPECT_FALSE(encoding.truncated());
  options.max_length = 6;
  encoding = tokenizer_->Encode(text, options);
  EXPECT_EQ(encoding.input_ids, (Ids{kCls, 2028, 2048, 2093, 2176, kSep}));
  EXPECT_TRUE(encoding.truncated());
  EXPECT_EQ(encoding.untruncated_length, 7u);
  options.max_length = 2;  // only the special tokens fit
  EXPECT_EQ(tokenizer_->Encode(text, options).input_ids, (Ids{kCls, kSep}));
  options.max_length = 1;  // below the special tokens: they are kept, nothing else
  EXPECT_EQ(tokenizer_->Encode(text, options).input_ids, (Ids{kCls, kSep}));
  options.max_length = 3;
  options.add_special_tokens = false;  // then the whole budget is text
  EXPECT_EQ(tokenizer_->Encode(text, options).input_ids, (Ids{2028, 2048, 2093}));
}

TEST_F(BertEncodeTest, PairTruncationIsLongestFirst) {
  const std::string query = "one two three";                              // 3 tokens
  const std::string passage = "a b c d e f g h i j k l m n o p q r s t";  // 20 tokens
  EncodeOptions options;
  options.max_length = 13;  // budget 10: the query keeps 3, the passage 7
  Encoding encoding = tokenizer_->EncodePair(query, passage, options);
  ASSERT_EQ(encoding.input_ids.size(), 13u);
  EXPECT_EQ(encoding.untruncated_length, 26u);
  EXPECT_EQ(Ids(encoding.input_ids.begin(), encoding.input_ids.begin() + 5),
            (Ids{kCls, 2028, 2048, 2093, kSep}));
  EXPECT_EQ(encoding.input_ids.back(), kSep);
  EXPECT_EQ(encoding.token_type_ids, (Ids{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}));
  // Passage first: the same cut, from the other side.
  encoding = tokenizer_->EncodePair(passage, query, options);
  EXPECT_EQ(Ids(encoding.input_ids.end() - 4, encoding.input_ids.end()),
            (Ids{2028, 2048, 2093, kSep}));
}

TEST(LongestFirstTest, MatchesTokenizersRule) {
  using Lengths = std::pair<std::size_t, std::size_t>;
  EXPECT_EQ(LongestFirstLengths(3, 4, 10), Lengths(3, 4));
  EXPECT_EQ(LongestFirstLengths(10, 100, 50), Lengths(10, 40));
  EXPECT_EQ(LongestFirstLengths(100, 10, 50), Lengths(40, 10));
  // Both long: halves, the odd token to the longer side.
  EXPECT_EQ(LongestFirstLengths(30, 40, 51), Lengths(25, 26));
  EXPECT_EQ(LongestFirstLengths(40, 30, 51), Lengths(26, 25));
  // A tie: A counts as the shorter side.
  EXPECT_EQ(LongestFirstLengths(30, 30, 51), Lengths(25, 26));
  // The shorter side alone exceeds the budget.
  EXPECT_EQ(LongestFirstLengths(100, 200, 50), Lengths(25, 25));
  EXPECT_EQ(LongestFirstLengths(5, 9, 0), Lengths(0, 0));
  EXPECT_EQ(LongestFirstLengths(0, 9, 4), Lengths(0, 4));
}

TEST(LoadTokenizerTest, FolderErrors) {
  auto missing = LoadTokenizer("/nonexistent/model/folder");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/model/folder"), std::string::npos);

  const fs::path dir = fs::temp_directory_path() / "sieve_tokenizer_load_errors";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto empty = LoadTokenizer(dir);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kNotFound);
  EXPECT_NE(empty.status().message().find("no tokenizer found"), std::string::npos);

  ASSERT_TRUE(WriteFileAtomic(dir / "vocab.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n").ok());
  auto no_unk = LoadTokenizer(dir);
  ASSERT_FALSE(no_unk.ok());
  EXPECT_NE(no_unk.status().message().find("unk_token '[UNK]'"), std::string::npos)
      << no_unk.status().message();

  ASSERT_TRUE(WriteFileAtomic(dir / "tokenizer.json", "{\"model\": [}").ok());
  auto bad_json = LoadTokenizer(dir);
  ASSERT_FALSE(bad_json.ok());
  EXPECT_EQ(bad_json.status().code(), StatusCode::kInvalidInput);
  // The message names the file.
  EXPECT_NE(bad_json.status().message().find((dir / "tokenizer.json").string()), std::string::npos)
      << bad_json.status().message();

  auto not_folder = LoadTokenizer(dir / "vocab.txt");
  ASSERT_FALSE(not_folder.ok());
  EXPECT_NE(not_folder.status().message().find("not a folder"), std::string::npos);
  fs::remove_all(dir);
}

TEST(LoadTokenizerTest, VocabTxtWithConfigOptions) {
  const fs::path dir = fs::temp_directory_path() / "sieve_tokenizer_cased_vocab";
  fs::remove_all(dir);
  fs::create_directories(dir);
  // CRLF line ends are tolerated; a cased model keeps case and accents.
  ASSERT_TRUE(WriteFileAtomic(dir / "vocab.txt",
                              "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nCafé\r\ncafe\r\n")
                  .ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "tokenizer_config.json",
                              R"({"do_lower_case": false, "model_max_length": 128,
                                  "unk_token": {"content": "[UNK]", "__type": "AddedToken"}})")
                  .ok());
  auto tokenizer = LoadTokenizer(dir);
  fs::remove_all(dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  EXPECT_EQ((*tokenizer)->Encode("Café cafe CAFE", {}).input_ids, (Ids{2, 5, 6, 1, 3}));
  EXPECT_EQ((*tokenizer)->model_max_length(), 128u);
  EXPECT_EQ((*tokenizer)->pad_id(), 0);
}

}  // namespace
}  // namespace sieve::tokenizer
