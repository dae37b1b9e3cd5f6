#include "tokenizer/pipeline.h"

#include <algorithm>
#include <utility>

#include "tokenizer/unicode_chars.h"

namespace sieve::tokenizer {

// ---- Normalizer ------------------------------------------------------------------------------

void Normalizer::AddBert(bool clean_text, bool chinese_chars, bool strip_accents, bool lowercase) {
  // The order of BertNormalizer::normalize.
  if (clean_text) AddStep({.kind = Kind::kCleanText});
  if (chinese_chars) AddStep({.kind = Kind::kChineseChars});
  if (strip_accents) AddStep({.kind = Kind::kStripAccentsNfd});
  if (lowercase) AddStep({.kind = Kind::kLowercase});
}

namespace {

void DropNonspacingMarks(std::vector<char32_t>& text) {
  std::erase_if(text, [](char32_t c) { return IsNonspacingMark(c); });
}

void ReplaceLiteral(const std::vector<char32_t>& in, const std::vector<char32_t>& pattern,
                    const std::vector<char32_t>& content, std::vector<char32_t>& out) {
  std::size_t i = 0;
  while (i < in.size()) {
    if (in.size() - i >= pattern.size() &&
        std::equal(pattern.begin(), pattern.end(), in.begin() + static_cast<std::ptrdiff_t>(i))) {
      out.insert(out.end(), content.begin(), content.end());
      i += pattern.size();
    } else {
      out.push_back(in[i++]);
    }
  }
}

}  // namespace

void Normalizer::Apply(std::vector<char32_t>& text, std::vector<char32_t>& scratch) const {
  for (const Step& step : steps_) {
    scratch.clear();
    switch (step.kind) {
      case Kind::kCleanText:
        for (char32_t c : text) {
          const bool kept_control = c == '\t' || c == '\n' || c == '\r';
          if (c == 0 || c == 0xFFFD || (!kept_control && IsOtherCategory(c))) continue;
          scratch.push_back(IsWhitespace(c) ? U' ' : c);
        }
        break;
      case Kind::kChineseChars:
        for (char32_t c : text) {
          if (IsChineseChar(c)) {
            scratch.push_back(' ');
            scratch.push_back(c);
            scratch.push_back(' ');
          } else {
            scratch.push_back(c);
          }
        }
        break;
      case Kind::kStripAccentsNfd:
        Decompose(text, /*compatibility=*/false, scratch);
        DropNonspacingMarks(scratch);
        break;
      case Kind::kStripAccents:
        scratch = text;
        DropNonspacingMarks(scratch);
        break;
      case Kind::kLowercase:
        for (char32_t c : text) AppendLowercase(c, scratch);
        break;
      case Kind::kNfd:
      case Kind::kNfkd:
        Decompose(text, step.kind == Kind::kNfkd, scratch);
        break;
      case Kind::kNfc:
      case Kind::kNfkc:
        Compose(text, step.kind == Kind::kNfkc, scratch);
        break;
      case Kind::kStrip: {
        std::size_t begin = 0;
        std::size_t end = text.size();
        if (step.left) {
          while (begin < end && IsWhitespace(text[begin])) ++begin;
        }
        if (step.right) {
          while (end > begin && IsWhitespace(text[end - 1])) --end;
        }
        scratch.assign(text.begin() + static_cast<std::ptrdiff_t>(begin),
                       text.begin() + static_cast<std::ptrdiff_t>(end));
        break;
      }
      case Kind::kReplace:
        if (step.pattern.empty()) {
          scratch = text;
        } else {
          ReplaceLiteral(text, step.pattern, step.content, scratch);
        }
        break;
    }
    text.swap(scratch);
  }
}

// ---- PreTokenizer ----------------------------------------------------------------------------

namespace {

void SplitOne(PreTokenizer::Kind kind, const std::vector<char32_t>& text, Span span,
              std::vector<Span>& out) {
  auto flush = [&out](std::uint32_t begin, std::uint32_t end) {
    if (begin < end) out.push_back({begin, end});
  };
  std::uint32_t word_start = span.begin;
  switch (kind) {
    case PreTokenizer::Kind::kBert:
    case PreTokenizer::Kind::kWhitespaceSplit: {
      const bool isolate_punctuation = kind == PreTokenizer::Kind::kBert;
      for (std::uint32_t i = span.begin; i < span.end; ++i) {
        const char32_t c = text[i];
        if (IsWhitespace(c)) {
          flush(word_start, i);
          word_start = i + 1;
        } else if (isolate_punctuation && IsBertPunctuation(c)) {
          flush(word_start, i);
          out.push_back({i, i + 1});
          word_start = i + 1;
        }
      }
      flush(word_start, span.end);
      break;
    }
    case PreTokenizer::Kind::kWhitespace: {
      // \w+|[^\w\s]+ : maximal runs of word characters, or of other non-space characters.
      int run_class = 0;  // 0 whitespace, 1 word, 2 other
      for (std::uint32_t i = span.begin; i < span.end; ++i) {
        const char32_t c = text[i];
        const int c_class = IsWhitespace(c) ? 0 : (IsWordChar(c) ? 1 : 2);
        if (c_class != run_class) {
          if (run_class != 0) flush(word_start, i);
          word_start = i;
          run_class = c_class;
        }
      }
      if (run_class != 0) flush(word_start, span.end);
      break;
    }
  }
}

}  // namespace

void PreTokenizer::Split(const std::vector<char32_t>& text, Span span, Scratch& scratch) const {
  scratch.words.clear();
  if (span.begin < span.end) scratch.words.push_back(span);
  for (Kind kind : steps_) {
    scratch.words_step.clear();
    for (const Span& word : scratch.words) SplitOne(kind, text, word, scratch.words_step);
    scratch.words.swap(scratch.words_step);
  }
}

// ---- AddedTokenMatcher -----------------------------------------------------------------------

void AddedTokenMatcher::Add(std::vector<char32_t> pattern, const AddedToken& token) {
  if (pattern.empty()) return;
  const char32_t first = pattern.front();
  patterns_.push_back(
      {std::move(pattern), token.id, token.single_word, token.lstrip, token.rstrip});
  std::stable_sort(patterns_.begin(), patterns_.end(), [](const Pattern& a, const Pattern& b) {
    return a.chars.size() > b.chars.size();
  });
  auto it = std::lower_bound(first_chars_.begin(), first_chars_.end(), first);
  if (it == first_chars_.end() || *it != first) first_chars_.insert(it, first);
}

void AddedTokenMatcher::Split(const std::vector<char32_t>& text, Span span,
                              std::vector<Piece>& out) const {
  std::uint32_t plain_start = span.begin;
  std::uint32_t i = span.begin;
  while (i < span.end) {
    if (!std::binary_search(first_chars_.begin(), first_chars_.end(), text[i])) {
      ++i;
      continue;
    }
    const Pattern* found = nullptr;
    for (const Pattern& pattern : patterns_) {  // longest first: the first match is the longest
      if (pattern.chars.size() <= span.end - i &&
          std::equal(pattern.chars.begin(), pattern.chars.end(),
                     text.begin() + static_cast<std::ptrdiff_t>(i))) {
        found = &pattern;
        break;
      }
    }
    if (found == nullptr) {
      ++i;
      continue;
    }
    std::uint32_t start = i;
    std::uint32_t stop = i + static_cast<std::uint32_t>(found->chars.size());
    if (found->single_word) {
      const bool space_before = start == span.begin || !IsWordChar(text[start - 1]);
      const bool space_after = stop == span.end || !IsWordChar(text[stop]);
      if (!space_before || !space_after) {
        i = stop;  // matches do not overlap: the search goes on after this one
        continue;
      }
    }
    if (found->lstrip) {
      while (start > plain_start && IsWhitespace(text[start - 1])) --start;
    }
    if (found->rstrip) {
      while (stop < span.end && IsWhitespace(text[stop])) ++stop;
    }
    if (plain_start < start) out.push_back({{plain_start, start}, -1});
    out.push_back({{start, stop}, found->id});
    plain_start = stop;
    i = stop;
  }
  if (plain_start < span.end) out.push_back({{plain_start, span.end}, -1});
}

// ---- Vocabulary and WordPiece ----------------------------------------------------------------

void TokenVocab::Reserve(std::size_t tokens) {
  ids_.reserve(tokens);
  tokens_by_id_.reserve(tokens);
  has_token_.reserve(tokens);
}

void TokenVocab::Insert(std::string token, std::int32_t id) {
  max_token_bytes_ = std::max(max_token_bytes_, token.size());
  max_id_ = std::max(max_id_, id);
  // Ids up to a few times the vocabulary's size go in the vector; a stray huge id (a hostile
  // file) must not allocate gigabytes.
  const auto index = static_cast<std::size_t>(id);
  if (id >= 0 && index < 4 * (ids_.size() + 1) + 1024) {
    if (index >= tokens_by_id_.size()) {
      tokens_by_id_.resize(index + 1);
      has_token_.resize(index + 1, false);
    }
    if (!has_token_[index]) {
      tokens_by_id_[index] = token;
      has_token_[index] = true;
    }
  } else {
    sparse_tokens_by_id_.emplace(id, token);
  }
  ids_.insert_or_assign(std::move(token), id);
}

std::optional<std::int32_t> TokenVocab::Find(std::string_view token) const {
  auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::string TokenVocab::IdToToken(std::int32_t id) const {
  const auto index = static_cast<std::size_t>(id);
  if (id >= 0 && index < tokens_by_id_.size() && has_token_[index]) return tokens_by_id_[index];
  auto it = sparse_tokens_by_id_.find(id);
  return it == sparse_tokens_by_id_.end() ? std::string() : it->second;
}

void PrefixTrie::Build(std::span<const Entry> entries) {
  node_ids_.clear();
  edge_begin_.clear();
  edge_bytes_.clear();
  edge_targets_.clear();
  // Breadth first: node k covers the entries [lo, hi) that share their first `depth` bytes, so
  // nodes are numbered in the order their edges are written.
  struct Range {
    std::size_t lo, hi, depth;
  };
  std::vector<Range> nodes;
  nodes.reserve(entries.size() + 1);
  nodes.push_back({0, entries.size(), 0});
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    auto [lo, hi, depth] = nodes[k];
    std::int32_t id = -1;
    // Sorted: the token that ends here (if any) comes first in its range.
    while (lo < hi && entries[lo].token.size() == depth) id = entries[lo++].id;
    node_ids_.push_back(id);
    edge_begin_.push_back(static_cast<std::uint32_t>(edge_bytes_.size()));
    while (lo < hi) {
      const auto byte = static_cast<unsigned char>(entries[lo].token[depth]);
      std::size_t end = lo + 1;
      while (end < hi && static_cast<unsigned char>(entries[end].token[depth]) == byte) ++end;
      edge_bytes_.push_back(byte);
      edge_targets_.push_back(static_cast<std::uint32_t>(nodes.size()));
      nodes.push_back({lo, end, depth + 1});
      lo = end;
    }
  }
  edge_begin_.push_back(static_cast<std::uint32_t>(edge_bytes_.size()));
  root_children_.assign(256, 0);
  for (std::uint32_t e = edge_begin_[0]; e < edge_begin_[1]; ++e) {
    root_children_[edge_bytes_[e]] = edge_targets_[e];
  }
}

std::uint32_t PrefixTrie::Child(std::uint32_t node, unsigned char byte) const {
  if (node == 0) return root_children_[byte];
  const unsigned char* first = edge_bytes_.data() + edge_begin_[node];
  const unsigned char* last = edge_bytes_.data() + edge_begin_[node + 1];
  const unsigned char* it = std::lower_bound(first, last, byte);
  return it != last && *it == byte
             ? edge_targets_[static_cast<std::size_t>(it - edge_bytes_.data())]
             : 0;
}

PrefixTrie::Match PrefixTrie::LongestPrefix(std::string_view text) const {
  Match best;
  if (root_children_.empty()) return best;  // nothing inserted, or not frozen
  std::uint32_t node = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    node = Child(node, static_cast<unsigned char>(text[i]));
    if (node == 0) break;
    const bool at_boundary =
        i + 1 == text.size() || (static_cast<unsigned char>(text[i + 1]) & 0xC0) != 0x80;
    if (node_ids_[node] >= 0 && at_boundary) best = {i + 1, node_ids_[node]};
  }
  return best;
}

WordPieceModel::WordPieceModel(TokenVocab vocab, std::int32_t unk_id, std::string continuing_prefix,
                               std::size_t max_input_chars_per_word)
    : vocab_(std::move(vocab)),
      unk_id_(unk_id),
      prefix_(std::move(continuing_prefix)),
      max_chars_(max_input_chars_per_word) {
  std::vector<PrefixTrie::Entry> entries;
  entries.reserve(vocab_.size());
  vocab_.ForEach([&](const std::string& token, std::int32_t id) {
    entries.push_back({token, id});
  });
  std::sort(
      entries.begin(), entries.end(),
      [](const PrefixTrie::Entry& a, const PrefixTrie::Entry& b) { return a.token < b.token; });
  word_starts_.Build(entries);
  // Tokens that start with the prefix are one run of the sorted list, still sorted without it.
  std::vector<PrefixTrie::Entry> continuations;
  if (!prefix_.empty()) {
    for (const PrefixTrie::Entry& entry : entries) {
      if (entry.token.size() > prefix_.size() && entry.token.starts_with(prefix_)) {
        continuations.push_back({entry.token.substr(prefix_.size()), entry.id});
      }
    }
  }
  continuations_.Build(continuations);
}

void WordPieceModel::EncodeWord(const char32_t* begin, const char32_t* end,
                                std::vector<std::int32_t>& ids, Scratch& scratch) const {
  const auto n = static_cast<std::size_t>(end - begin);
  if (n == 0) return;
  if (n > max_chars_) {
    ids.push_back(unk_id_);
    return;
  }
  std::string& word = scratch.utf8;
  word.clear();
  for (const char32_t* p = begin; p != end; ++p) AppendUtf8(*p, word);

  const std::size_t first_id = ids.size();
  std::size_t start = 0;  // byte offset
  while (start < word.size()) {
    const PrefixTrie& pieces = (start == 0 || prefix_.empty()) ? word_starts_ : continuations_;
    const PrefixTrie::Match match = pieces.LongestPrefix(std::string_view(word).substr(start));
    if (match.bytes == 0) {  // no piece fits here: the whole word is unknown
      ids.resize(first_id);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(match.id);
    start += match.bytes;
  }
}

// ---- PipelineTokenizer -----------------------------------------------------------------------

std::pair<std::size_t, std::size_t> LongestFirstLengths(std::size_t n_a, std::size_t n_b,
                                                        std::size_t budget) {
  if (n_a + n_b <= budget) return {n_a, n_b};
  const bool a_is_longer = n_a > n_b;  // on a tie A counts as the shorter side
  std::size_t n1 = a_is_longer ? n_b : n_a;
  std::size_t n2 = 0;
  n2 = n1 > budget ? n1 : std::max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = budget / 2;
    n2 = n1 + budget % 2;
  }
  if (a_is_longer) std::swap(n1, n2);
  return {std::min(n1, n_a), std::min(n2, n_b)};
}

namespace {

std::size_t CountSpecialIds(const std::vector<TemplatePiece>& pieces) {
  std::size_t count = 0;
  for (const TemplatePiece& piece : pieces) {
    if (piece.sequence < 0) count += piece.special_ids.size();
  }
  return count;
}

}  // namespace

PipelineTokenizer::PipelineTokenizer(PipelineParts parts)
    : added_tokens_(std::move(parts.added_tokens)),
      normalizer_(std::move(parts.normalizer)),
      pre_tokenizer_(std::move(parts.pre_tokenizer)),
      model_(std::move(parts.model)),
      post_(std::move(parts.post_processor)),
      model_max_length_(parts.model_max_length) {
  std::vector<char32_t> scratch;
  std::int32_t max_added_id = -1;
  for (const AddedToken& token : added_tokens_) {
    std::vector<char32_t> pattern;
    DecodeUtf8(token.content, pattern);
    if (token.normalized) {
      normalizer_.Apply(pattern, scratch);
      normalized_matcher_.Add(std::move(pattern), token);
    } else {
      raw_matcher_.Add(std::move(pattern), token);
    }
    max_added_id = std::max(max_added_id, token.id);
  }
  added_single_ = CountSpecialIds(post_.single);
  added_pair_ = CountSpecialIds(post_.pair);
  vocab_size_ = std::max(model_->vocab_size(), static_cast<std::size_t>(max_added_id + 1));
  if (parts.pad_id) {
    pad_id_ = *parts.pad_id;
  } else {
    pad_id_ = 0;
    for (const char* pad : {"[PAD]", "<pad>"}) {
      auto it = std::find_if(added_tokens_.begin(), added_tokens_.end(),
                             [pad](const AddedToken& t) { return t.content == pad; });
      if (it != added_tokens_.end()) {
        pad_id_ = it->id;
        break;
      }
      if (auto id = model_->TokenToId(pad)) {
        pad_id_ = *id;
        break;
      }
    }
  }
}

std::string PipelineTokenizer::IdToToken(std::int32_t id) const {
  for (const AddedToken& token : added_tokens_) {
    if (token.id == id) return token.content;
  }
  return model_->IdToToken(id);
}

void PipelineTokenizer::EncodeText(std::string_view text, std::vector<std::int32_t>& ids,
                                   Scratch& scratch) const {
  scratch.text.clear();
  DecodeUtf8(text, scratch.text);
  const Span whole{0, static_cast<std::uint32_t>(scratch.text.size())};
  std::vector<AddedTokenMatcher::Piece> raw_pieces;
  if (raw_matcher_.empty()) {
    raw_pieces.push_back({whole, -1});
  } else {
    raw_matcher_.Split(scratch.text, whole, raw_pieces);
  }
  std::vector<AddedTokenMatcher::Piece> pieces;
  for (const auto& raw_piece : raw_pieces) {
    if (raw_piece.id >= 0) {
      ids.push_back(raw_piece.id);
      continue;
    }
    std::vector<char32_t>& normalized = scratch.normalized;
    normalized.assign(scratch.text.begin() + raw_piece.span.begin,
                      scratch.text.begin() + raw_piece.span.end);
    normalizer_.Apply(normalized, scratch.step);
    const Span normalized_span{0, static_cast<std::uint32_t>(normalized.size())};
    pieces.clear();
    if (normalized_matcher_.empty()) {
      pieces.push_back({normalized_span, -1});
    } else {
      normalized_matcher_.Split(normalized, normalized_span, pieces);
    }
    for (const auto& piece : pieces) {
      if (piece.id >= 0) {
        ids.push_back(piece.id);
        continue;
      }
      if (!pre_tokenizer_) {
        model_->EncodeWord(normalized.data() + piece.span.begin, normalized.data() + piece.span.end,
                           ids, scratch);
        continue;
      }
      pre_tokenizer_->Split(normalized, piece.span, scratch);
      for (const Span& word : scratch.words) {
        model_->EncodeWord(normalized.data() + word.begin, normalized.data() + word.end, ids,
                           scratch);
      }
    }
  }
}

Encoding PipelineTokenizer::Assemble(const std::vector<std::int32_t>& a,
                                     const std::vector<std::int32_t>* b,
                                     bool add_special_tokens) const {
  static const std::vector<TemplatePiece> kDefaultSingle = {{.sequence = 0}};
  static const std::vector<TemplatePiece> kDefaultPair = {{.sequence = 0},
                                                          {.sequence = 1, .type_id = 1}};
  const std::vector<TemplatePiece>* pieces = b ? &post_.pair : &post_.single;
  if (pieces->empty()) pieces = b ? &kDefaultPair : &kDefaultSingle;
  Encoding encoding;
  auto append = [&encoding](const std::vector<std::int32_t>& ids, std::int32_t type_id) {
    encoding.input_ids.insert(encoding.input_ids.end(), ids.begin(), ids.end());
    encoding.token_type_ids.insert(encoding.token_type_ids.end(), ids.size(), type_id);
  };
  for (const TemplatePiece& piece : *pieces) {
    if (piece.sequence < 0) {
      if (add_special_tokens) append(piece.special_ids, piece.type_id);
    } else if (piece.sequence == 0) {
      append(a, piece.type_id);
    } else if (b != nullptr) {
      append(*b, piece.type_id);
    }
  }
  encoding.attention_mask.assign(encoding.input_ids.size(), 1);
  return encoding;
}

Encoding PipelineTokenizer::Encode(std::string_view text, const EncodeOptions& options) const {
  Scratch scratch;
  std::vector<std::int32_t> ids;
  EncodeText(text, ids, scratch);
  const std::size_t added = options.add_special_tokens ? added_single_ : 0;
  const std::size_t untruncated = ids.size() + added;
  if (options.max_length > 0) {
    // HF refuses a max_length below the number of special tokens; we keep the specials only.
    const std::size_t budget = options.max_length > added ? options.max_length - added : 0;
    if (ids.size() > budget) ids.resize(budget);
  }
  Encoding encoding = Assemble(ids, nullptr, options.add_special_tokens);
  encoding.untruncated_length = untruncated;
  return encoding;
}

Encoding PipelineTokenizer::EncodePair(std::string_view first, std::string_view second,
                                       const EncodeOptions& options) const {
  Scratch scratch;
  std::vector<std::int32_t> a;
  std::vector<std::int32_t> b;
  EncodeText(first, a, scratch);
  EncodeText(second, b, scratch);
  const std::size_t added = options.add_special_tokens ? added_pair_ : 0;
  const std::size_t untruncated = a.size() + b.size() + added;
  if (options.max_length > 0) {
    const std::size_t budget = options.max_length > added ? options.max_length - added : 0;
    const auto [keep_a, keep_b] = LongestFirstLengths(a.size(), b.size(), budget);
    a.resize(keep_a);
    b.resize(keep_b);
  }
  Encoding encoding = Assemble(a, &b, options.add_special_tokens);
  encoding.untruncated_length = untruncated;
  return encoding;
}

std::size_t PipelineTokenizer::CountTokens(std::string_view text) const {
  Scratch scratch;
  std::vector<std::int32_t> ids;
  EncodeText(text, ids, scratch);
  return ids.size();
}

}  // namespace sieve::tokenizer
