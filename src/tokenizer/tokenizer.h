// tokenizer: text -> model input ids, with Hugging Face semantics.
//
// Interface of the stage: LoadTokenizer(model_dir) reads tokenizer.json (or vocab.txt +
// tokenizer_config.json, or sentencepiece.bpe.model for XLM-R) and returns a Tokenizer whose
// Encode/EncodePair reproduce Hugging Face `tokenizers` exactly: same ids, type ids, mask,
// truncation (longest_first for pairs).
//
// Which file a folder is read from, first match wins:
//   sentencepiece.bpe.model  XLM-RoBERTa (bge-m3, bge-reranker-*) through libsentencepiece, with
//                            transformers' ids: <s>=0 <pad>=1 </s>=2 <unk>=3, piece = spm id + 1,
//                            <mask> last; `<s> A </s>` and `<s> A </s> </s> B </s>`, type ids 0.
//                            Preferred over the folder's tokenizer.json (Unigram + Precompiled
//                            normalizer), which this stage does not interpret.
//   tokenizer.json           WordPiece with BertNormalizer / BertPreTokenizer (also Sequence,
//                            Lowercase, NF*, StripAccents, Strip, Replace(String), Whitespace,
//                            WhitespaceSplit; TemplateProcessing, BertProcessing,
//                            RobertaProcessing). Other model types are refused by name.
//   vocab.txt                plus tokenizer_config.json: what BertTokenizerFast builds from them.
// Special tokens written in the text ("[MASK]") are matched before normalization. Invalid UTF-8
// in a text is read as U+FFFD. Encode is const and safe to call from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sieve::tokenizer {

struct Encoding {
  std::vector<std::int32_t> input_ids;
  std::vector<std::int32_t> token_type_ids;
  std::vector<std::int32_t> attention_mask;
  std::size_t untruncated_length = 0;  // length with special tokens before truncation
  bool truncated() const { return untruncated_length > input_ids.size(); }
};

struct EncodeOptions {
  // Maximum length including special tokens; 0 = no truncation. A value below the number of
  // special tokens keeps the special tokens only (HF `tokenizers` would refuse it).
  std::size_t max_length = 0;
  bool add_special_tokens = true;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual Encoding Encode(std::string_view text, const EncodeOptions& options) const = 0;
  // Pair encoding (cross-encoders): truncation is longest_first, as in HF `tokenizers`.
  virtual Encoding EncodePair(std::string_view first, std::string_view second,
                              const EncodeOptions& options) const = 0;
  // Number of tokens `text` yields without special tokens (for chunk budgets).
  virtual std::size_t CountTokens(std::string_view text) const = 0;

  virtual std::int32_t pad_id() const = 0;
  virtual std::size_t vocab_size() const = 0;
  // model_max_length from tokenizer_config.json, 0 when unknown.
  virtual std::size_t model_max_length() const = 0;
  // Token string of an id ("" when out of range); for debugging and --json output.
  virtual std::string IdToToken(std::int32_t id) const = 0;
};

// Loads the tokenizer of a model folder in Hub layout.
Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::filesystem::path& model_dir);

// Parses a tokenizer.json document given as text (also the libFuzzer entry point).
Result<std::unique_ptr<Tokenizer>> ParseTokenizerJson(std::string_view json_text);

}  // namespace sieve::tokenizer
