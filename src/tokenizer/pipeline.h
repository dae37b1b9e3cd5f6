// Internal to the tokenizer stage: the Hugging Face `tokenizers` pipeline, built from parts.
//
//   raw text -> split out added tokens matched in the raw text (special tokens)
//            -> normalizer -> split out added tokens matched in normalized text
//            -> pre-tokenizer (words) -> model (ids per word)
//            -> truncation -> post-processor template (special tokens, type ids)
//
// tokenizer.json, vocab.txt + tokenizer_config.json and SentencePiece folders each build one
// PipelineTokenizer from these parts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sieve::tokenizer {

// A half-open range of code point indices.
struct Span {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};

// Reused buffers of one Encode call (no allocation per character or per word).
struct Scratch {
  std::vector<char32_t> text;
  std::vector<char32_t> normalized;
  std::vector<char32_t> step;
  std::vector<Span> words;
  std::vector<Span> words_step;
  std::string utf8;
  std::vector<int> model_ids;
};

class Normalizer {
 public:
  enum class Kind {
    kCleanText,        // BertNormalizer clean_text: drop NUL, U+FFFD, C* (but \t\n\r); spaces
    kChineseChars,     // BertNormalizer handle_chinese_chars: spaces around CJK ideographs
    kStripAccentsNfd,  // BertNormalizer strip_accents: NFD, then drop Mn
    kStripAccents,     // StripAccents normalizer: drop Mn
    kLowercase,
    kNfd,
    kNfkd,
    kNfc,
    kNfkc,
    kStrip,    // strip whitespace (left and/or right)
    kReplace,  // replace a literal string
  };
  struct Step {
    Kind kind = Kind::kLowercase;
    bool left = true;               // kStrip
    bool right = true;              // kStrip
    std::vector<char32_t> pattern;  // kReplace
    std::vector<char32_t> content;  // kReplace
  };

  void AddStep(Step step) { steps_.push_back(std::move(step)); }
  void AddBert(bool clean_text, bool chinese_chars, bool strip_accents, bool lowercase);
  bool empty() const { return steps_.empty(); }
  // Normalizes text in place; `scratch` is reused storage.
  void Apply(std::vector<char32_t>& text, std::vector<char32_t>& scratch) const;

 private:
  std::vector<Step> steps_;
};

class PreTokenizer {
 public:
  enum class Kind {
    kBert,             // split on whitespace, isolate each punctuation character
    kWhitespaceSplit,  // split on whitespace
    kWhitespace,       // regex \w+|[^\w\s]+
  };
  void AddStep(Kind kind) { steps_.push_back(kind); }
  // Splits text[span] into words. With no steps the span is one word (when not empty).
  void Split(const std::vector<char32_t>& text, Span span, Scratch& scratch) const;

 private:
  std::vector<Kind> steps_;
};

struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = true;
};

// Finds added tokens in text, leftmost-longest, as `tokenizers`' AddedVocabulary does.
class AddedTokenMatcher {
 public:
  struct Piece {
    Span span;
    std::int32_t id = -1;  // -1: plain text
  };
  void Add(std::vector<char32_t> pattern, const AddedToken& token);
  bool empty() const { return patterns_.empty(); }
  // Splits text[span] into plain pieces and added tokens (appended to `out`).
  void Split(const std::vector<char32_t>& text, Span span, std::vector<Piece>& out) const;

 private:
  struct Pattern {
    std::vector<char32_t> chars;
    std::int32_t id;
    bool single_word, lstrip, rstrip;
  };
  std::vector<Pattern> patterns_;      // longest first
  std::vector<char32_t> first_chars_;  // sorted
};

// The model: ids for one word.
class WordModel {
 public:
  virtual ~WordModel() = default;
  virtual void EncodeWord(const char32_t* begin, const char32_t* end,
                          std::vector<std::int32_t>& ids, Scratch& scratch) const = 0;
  virtual std::optional<std::int32_t> TokenToId(std::string_view token) const = 0;
  virtual std::string IdToToken(std::int32_t id) const = 0;
  virtual std::size_t vocab_size() const = 0;
};

// A vocabulary keyed by token text, looked up by string_view without copies.
class TokenVocab {
 public:
  // Room for `tokens` entries without rehashing (a hint).
  void Reserve(std::size_t tokens);
  // A token given twice keeps the last id; an id given twice keeps its first token.
  void Insert(std::string token, std::int32_t id);
  std::optional<std::int32_t> Find(std::string_view token) const;
  std::string IdToToken(std::int32_t id) const;
  std::size_t size() const { return ids_.size(); }
  std::size_t max_token_bytes() const { return max_token_bytes_; }
  std::int32_t max_id() const { return max_id_; }
  template <typename Visit>
  void ForEach(Visit visit) const {
    for (const auto& [token, id] : ids_) visit(token, id);
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::int32_t, Hash, std::equal_to<>> ids_;
  // First token of each id: dense ids (the usual case) in a vector, any far-out id in a map.
  std::vector<std::string> tokens_by_id_;
  std::vector<bool> has_token_;
  std::unordered_map<std::int32_t, std::string> sparse_tokens_by_id_;
  std::size_t max_token_bytes_ = 0;
  std::int32_t max_id_ = -1;
};

// A byte trie over token texts: the longest token that is a prefix of a text, in one walk
// (what WordPiece's "try the longest substring first" loop finds, without a lookup per length).
class PrefixTrie {
 public:
  struct Entry {
    std::string_view token;
    std::int32_t id = -1;
  };
  // Builds the trie from `entries` sorted by token bytes (std::string_view's order); a token
  // given twice keeps the id of its last entry. Replaces any earlier contents.
  void Build(std::span<const Entry> entries);
  struct Match {
    std::size_t bytes = 0;  // 0: no token is a prefix
    std::int32_t id = -1;
  };
  // Only matches that end on a UTF-8 character boundary of `text` count.
  Match LongestPrefix(std::string_view text) const;

 private:
  std::uint32_t Child(std::uint32_t node, unsigned char byte) const;

  // Node k's edges are edge_bytes_/edge_targets_[edge_begin_[k], edge_begin_[k+1]), by byte.
  std::vector<std::int32_t> node_ids_;
  std::vector<std::uint32_t> edge_begin_;
  std::vector<unsigned char> edge_bytes_;
  std::vector<std::uint32_t> edge_targets_;
  std::vector<std::uint32_t> root_children_;  // 256 entries, 0 = none
};

// Greedy longest-match-first WordPiece (models/wordpiece in `tokenizers`).
class WordPieceModel final : public WordModel {
 public:
  WordPieceModel(TokenVocab vocab, std::int32_t unk_id, std::string continuing_prefix,
                 std::size_t max_input_chars_per_word);
  void EncodeWord(const char32_t* begin, const char32_t* end, std::vector<std::int32_t>& ids,
                  Scratch& scratch) const override;
  std::optional<std::int32_t> TokenToId(std::string_view token) const override {
    return vocab_.Find(token);
  }
  std::string IdToToken(std::int32_t id) const override { return vocab_.IdToToken(id); }
  std::size_t vocab_size() const override { return vocab_.size(); }

 private:
  TokenVocab vocab_;
  PrefixTrie word_starts_;    // every token
  PrefixTrie continuations_;  // tokens that start with the prefix, keyed without it
  std::int32_t unk_id_;
  std::string prefix_;
  std::size_t max_chars_;
};

struct TemplatePiece {
  int sequence = -1;  // 0 = A, 1 = B, -1 = special token(s)
  std::vector<std::int32_t> special_ids;
  std::int32_t type_id = 0;
};

struct PostProcessor {
  std::vector<TemplatePiece> single;  // empty: the sequence alone, type id 0
  std::vector<TemplatePiece> pair;    // empty: A (type 0) then B (type 1)
};

struct PipelineParts {
  std::vector<AddedToken> added_tokens;
  Normalizer normalizer;
  std::optional<PreTokenizer> pre_tokenizer;  // none: each text segment is one word
  std::unique_ptr<WordModel> model;
  PostProcessor post_processor;
  std::optional<std::int32_t> pad_id;
  std::size_t model_max_length = 0;
};

class PipelineTokenizer final : public Tokenizer {
 public:
  explicit PipelineTokenizer(PipelineParts parts);

  Encoding Encode(std::string_view text, const EncodeOptions& options) const override;
  Encoding EncodePair(std::string_view first, std::string_view second,
                      const EncodeOptions& options) const override;
  std::size_t CountTokens(std::string_view text) const override;
  std::int32_t pad_id() const override { return pad_id_; }
  std::size_t vocab_size() const override { return vocab_size_; }
  std::size_t model_max_length() const override { return model_max_length_; }
  std::string IdToToken(std::int32_t id) const override;

  void set_model_max_length(std::size_t n) { model_max_length_ = n; }

 private:
  // Ids of `text` without special tokens of the template.
  void EncodeText(std::string_view text, std::vector<std::int32_t>& ids, Scratch& scratch) const;
  Encoding Assemble(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>* b,
                    bool add_special_tokens) const;

  std::vector<AddedToken> added_tokens_;
  AddedTokenMatcher raw_matcher_;
  AddedTokenMatcher normalized_matcher_;
  Normalizer normalizer_;
  std::optional<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<WordModel> model_;
  PostProcessor post_;
  std::size_t added_single_ = 0;
  std::size_t added_pair_ = 0;
  std::int32_t pad_id_ = 0;
  std::size_t vocab_size_ = 0;
  std::size_t model_max_length_ = 0;
};

// The longest_first rule of `tokenizers` (utils/truncation.rs, stride 0, cut from the right):
// new lengths of A and B so that they fit `budget` tokens.
std::pair<std::size_t, std::size_t> LongestFirstLengths(std::size_t n_a, std::size_t n_b,
                                                        std::size_t budget);

}  // namespace sieve::tokenizer
