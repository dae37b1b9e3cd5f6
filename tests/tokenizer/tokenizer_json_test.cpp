// tokenizer.json parsing: malformed files get clear errors naming the field; other common
// shapes (Sequence normalizers, Whitespace pre-tokenizers, Bert/Roberta processing) work.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sieve::tokenizer {
namespace {

using nlohmann::json;

// A small, valid WordPiece tokenizer.json to break in different ways.
json SmallTokenizer() {
  return json::parse(R"({
    "version": "1.0",
    "added_tokens": [
      {"id": 0, "content": "[PAD]", "special": true, "normalized": false},
      {"id": 1, "content": "[UNK]", "special": true, "normalized": false},
      {"id": 2, "content": "[CLS]", "special": true, "normalized": false},
      {"id": 3, "content": "[SEP]", "special": true, "normalized": false}
    ],
    "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                   "strip_accents": null, "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {
      "type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
      "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
               {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
               {"Sequence": {"id": "B", "type_id": 1}},
               {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
      "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                         "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}
    },
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 10,
              "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "un": 4, "##aff": 5,
                        "##able": 6, "cafe": 7, ".": 8, "a": 9, "b": 10, "abc": 11, "fine": 12}}
  })");
}

Status ParseError(const std::string& text) {
  auto parsed = ParseTokenizerJson(text);
  EXPECT_FALSE(parsed.ok()) << text.substr(0, 200);
  return parsed.ok() ? Status::Ok() : parsed.status();
}

void ExpectError(const json& doc, StatusCode code, const std::string& fragment) {
  const Status status = ParseError(doc.dump());
  EXPECT_EQ(status.code(), code) << status.ToString();
  EXPECT_NE(status.message().find(fragment), std::string::npos)
      << "message '" << status.message() << "' should mention '" << fragment << "'";
}

std::vector<std::int32_t> Ids(const Tokenizer& tokenizer, const std::string& text) {
  return tokenizer.Encode(text, {}).input_ids;
}

TEST(TokenizerJsonTest, SmallTokenizerWorks) {
  auto tokenizer = ParseTokenizerJson(SmallTokenizer().dump());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  EXPECT_EQ(Ids(**tokenizer, "Unaffable Café."), (std::vector<std::int32_t>{2, 4, 5, 6, 7, 8, 3}));
  // A word without a full decomposition is one [UNK], not a partial match.
  EXPECT_EQ(Ids(**tokenizer, "unaffx"), (std::vector<std::int32_t>{2, 1, 3}));
  // max_input_chars_per_word is 10 here: 11 characters -> [UNK].
  EXPECT_EQ(Ids(**tokenizer, "unaffaffab"), (std::vector<std::int32_t>{2, 1, 3}));  // no "##ab"
  EXPECT_EQ(Ids(**tokenizer, "unaffableab"), (std::vector<std::int32_t>{2, 1, 3}));
  EXPECT_EQ((*tokenizer)->vocab_size(), 13u);
  EXPECT_EQ((*tokenizer)->IdToToken(5), "##aff");
  EXPECT_EQ((*tokenizer)->IdToToken(99), "");
  EXPECT_EQ((*tokenizer)->model_max_length(), 0u);
}

TEST(TokenizerJsonTest, NotJson) {
  const Status status = ParseError("{\"model\": ");
  EXPECT_EQ(status.code(), StatusCode::kInvalidInput);
  EXPECT_NE(status.message().find("not valid JSON"), std::string::npos) << status.message();
  EXPECT_EQ(ParseError("").code(), StatusCode::kInvalidInput);
  EXPECT_EQ(ParseError("\xff\xfe{}").code(), StatusCode::kInvalidInput);
}

TEST(TokenizerJsonTest, TooDeeplyNested) {
  const Status status = ParseError(std::string(10000, '[') + std::string(10000, ']'));
  EXPECT_NE(status.message().find("nested deeper"), std::string::npos) << status.message();
}

TEST(TokenizerJsonTest, WrongTypes) {
  ExpectError(json::array(), StatusCode::kInvalidInput, "top level must be a JSON object");
  json doc = SmallTokenizer();
  doc["model"] = "WordPiece";
  ExpectError(doc, StatusCode::kInvalidInput, "model must be an object");
  doc = SmallTokenizer();
  doc["model"]["vocab"] = json::array({"a", "b"});
  ExpectError(doc, StatusCode::kInvalidInput, "model.vocab must be an object");
  doc = SmallTokenizer();
  doc["model"]["vocab"]["cafe"] = "seven";
  ExpectError(doc, StatusCode::kInvalidInput, "model.vocab[\"cafe\"] must be an integer");
  doc = SmallTokenizer();
  doc["model"]["vocab"]["cafe"] = -7;
  ExpectError(doc, StatusCode::kInvalidInput, "must not be negative");
  doc = SmallTokenizer();
  doc["model"]["vocab"]["cafe"] = 1ULL << 40;
  ExpectError(doc, StatusCode::kInvalidInput, "out of range");
  doc = SmallTokenizer();
  doc["normalizer"]["lowercase"] = "yes";
  ExpectError(doc, StatusCode::kInvalidInput, "normalizer.lowercase must be a boolean");
  doc = SmallTokenizer();
  doc["model"]["max_input_chars_per_word"] = 0;
  ExpectError(doc, StatusCode::kInvalidInput, "max_input_chars_per_word must be a positive");
  doc = SmallTokenizer();
  doc["added_tokens"][1]["id"] = "1";
  ExpectError(doc, StatusCode::kInvalidInput, "added_tokens[1].id must be an integer");
  doc = SmallTokenizer();
  doc["post_processor"]["single"][0] = json::object({{"Special", {{"id", "[CLS]"}}}});
  ExpectError(doc, StatusCode::kInvalidInput, "unknown template piece 'Special'");
  doc = SmallTokenizer();
  doc["post_processor"]["single"][1]["Sequence"]["id"] = "C";
  ExpectError(doc, StatusCode::kInvalidInput, "Sequence.id must be \"A\" or \"B\"");
  doc = SmallTokenizer();
  doc["post_processor"]["pair"][0]["SpecialToken"]["id"] = "[BOS]";
  ExpectError(doc, StatusCode::kInvalidInput, "special token '[BOS]' is not in");
}

TEST(TokenizerJsonTest, MissingParts) {
  json doc = SmallTokenizer();
  doc.erase("model");
  ExpectError(doc, StatusCode::kInvalidInput, "model is missing");
  doc = SmallTokenizer();
  doc["model"].erase("vocab");
  ExpectError(doc, StatusCode::kInvalidInput, "model.vocab is missing");
  doc = SmallTokenizer();
  doc["model"]["vocab"] = json::object();
  ExpectError(doc, StatusCode::kInvalidInput, "model.vocab is empty");
  doc = SmallTokenizer();
  doc["model"].erase("type");
  ExpectError(doc, StatusCode::kInvalidInput, "model.type is missing");
  doc = SmallTokenizer();
  doc["model"]["unk_token"] = "<unk>";
  ExpectError(doc, StatusCode::kInvalidInput, "model.unk_token '<unk>' is not in model.vocab");
}

TEST(TokenizerJsonTest, UnsupportedTypesAreNamed) {
  json doc = SmallTokenizer();
  doc["model"]["type"] = "BPE";
  ExpectError(doc, StatusCode::kUnsupported, "model type 'BPE' is not supported");
  doc["model"]["type"] = "Unigram";
  ExpectError(doc, StatusCode::kUnsupported, "model type 'Unigram' is not supported");
  doc = SmallTokenizer();
  doc["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", "AAAA"}};
  ExpectError(doc, StatusCode::kUnsupported, "normalizer type 'Precompiled'");
  doc = SmallTokenizer();
  doc["pre_tokenizer"] = {{"type", "ByteLevel"}};
  ExpectError(doc, StatusCode::kUnsupported, "pre_tokenizer type 'ByteLevel'");
  doc = SmallTokenizer();
  doc["post_processor"] = {{"type", "Fancy"}};
  ExpectError(doc, StatusCode::kUnsupported, "post_processor type 'Fancy'");
}

TEST(TokenizerJsonTest, SequenceNormalizerAndWhitespacePreTokenizer) {
  json doc = SmallTokenizer();
  doc["normalizer"] = json::parse(R"({"type": "Sequence", "normalizers": [
      {"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip", "strip_left": true,
       "strip_right": true}, {"type": "Replace", "pattern": {"String": "ﬁ"}, "content": "x"}]})");
  doc["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Whitespace"}]})");
  auto tokenizer = ParseTokenizerJson(doc.dump());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  // NFKC folds full-width ＡＢＣ and the ﬁ ligature (before Replace could see it).
  EXPECT_EQ(Ids(**tokenizer, "  ＡＢＣ ﬁne  "), (std::vector<std::int32_t>{2, 11, 12, 3}));
  // Whitespace splits "abc." into "abc" and ".".
  EXPECT_EQ(Ids(**tokenizer, "abc."), (std::vector<std::int32_t>{2, 11, 8, 3}));
}

TEST(TokenizerJsonTest, BertAndRobertaProcessing) {
  json doc = SmallTokenizer();
  doc["post_processor"] = json::parse(R"({"type": "BertProcessing", "sep": ["[SEP]", 3],
                                          "cls": ["[CLS]", 2]})");
  auto bert = ParseTokenizerJson(doc.dump());
  ASSERT_TRUE(bert.ok()) << bert.status().ToString();
  Encoding pair = (*bert)->EncodePair("a", "b", {});
  EXPECT_EQ(pair.input_ids, (std::vector<std::int32_t>{2, 9, 3, 10, 3}));
  EXPECT_EQ(pair.token_type_ids, (std::vector<std::int32_t>{0, 0, 0, 1, 1}));

  doc["post_processor"] = json::parse(R"({"type": "RobertaProcessing", "sep": ["[SEP]", 3],
                                          "cls": ["[CLS]", 2], "trim_offsets": true})");
  auto roberta = ParseTokenizerJson(doc.dump());
  ASSERT_TRUE(roberta.ok()) << roberta.status().ToString();
  pair = (*roberta)->EncodePair("a", "b", {});
  EXPECT_EQ(pair.input_ids, (std::vector<std::int32_t>{2, 9, 3, 3, 10, 3}));
  EXPECT_EQ(pair.token_type_ids, (std::vector<std::int32_t>(6, 0)));

  doc["post_processor"] = nullptr;  // no post-processor: no special tokens, B has type id 1
  auto none = ParseTokenizerJson(doc.dump());
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  pair = (*none)->EncodePair("a", "b", {});
  EXPECT_EQ(pair.input_ids, (std::vector<std::int32_t>{9, 10}));
  EXPECT_EQ(pair.token_type_ids, (std::vector<std::int32_t>{0, 1}));
}

TEST(TokenizerJsonTest, AddedTokenOptions) {
  json doc = SmallTokenizer();
  doc["model"]["vocab"]["<x>"] = 13;
  doc["model"]["vocab"]["##x"] = 14;
  doc["added_tokens"].push_back({{"id", 13},
                                 {"content", "<x>"},
                                 {"special", false},
                                 {"single_word", true},
                                 {"lstrip", true},
                                 {"rstrip", true},
                                 {"normalized", false}});
  auto tokenizer = ParseTokenizerJson(doc.dump());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  // Alone: matched, with the spaces around it taken.
  EXPECT_EQ(Ids(**tokenizer, "a  <x>  b"), (std::vector<std::int32_t>{2, 9, 13, 10, 3}));
  // Inside a word: single_word refuses the match, so normal tokenization sees "<", "x", ">".
  const auto inside = Ids(**tokenizer, "a<x>b");
  EXPECT_EQ(std::count(inside.begin(), inside.end(), 13), 0);
}

}  // namespace
}  // namespace sieve::tokenizer
