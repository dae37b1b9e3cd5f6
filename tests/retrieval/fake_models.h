// Deterministic stand-ins for the bi-encoder and cross-encoder, so retrieval can be tested with
// hand-computed scores.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "models/encoder.h"

namespace sieve::retrieval::testing {

inline std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

// One axis per keyword, counting occurrences, plus a small constant axis so no vector is zero.
class KeywordEmbedder : public models::Embedder {
 public:
  static inline const std::vector<std::string> kKeywords = {
      "wing", "heat", "shock", "flow", "boundary", "layer", "plates", "pressure"};
  KeywordEmbedder() {
    info_.id = "test/keyword-embedder";
    info_.dimension = kKeywords.size() + 1;
    info_.pooling = "mean";
    info_.normalize = true;
    info_.query_prompt = "query: ";
  }
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts,
                                                bool is_query) override {
    if (fail) return Status::Internal("keyword embedder told to fail");
    ++calls;
    std::vector<std::vector<float>> out;
    for (const auto& text : texts) {
      (is_query ? queries : passages).push_back(text);
      std::vector<float> v(info_.dimension, 0);
      for (const auto& w : Words(text)) {
        auto it = std::find(kKeywords.begin(), kKeywords.end(), w);
        if (it != kKeywords.end()) v[static_cast<std::size_t>(it - kKeywords.begin())] += 1;
      }
      v.back() = 0.01f;
      out.push_back(v);
    }
    return out;
  }
  const models::ModelInfo& info() const override { return info_; }
  std::size_t CountTokens(std::string_view text) const override { return Words(text).size(); }

  models::ModelInfo info_;
  std::vector<std::string> queries;
  std::vector<std::string> passages;
  std::size_t calls = 0;
  bool fail = false;
};

// Score = share of the query's words found in the passage, squeezed into [0,1]; logit = count.
class OverlapCrossEncoder : public models::CrossEncoder {
 public:
  OverlapCrossEncoder() {
    info_.id = "test/overlap-cross-encoder";
    info_.architecture = "BertForSequenceClassification";
  }
  Result<std::vector<models::CrossEncoderScore>> Score(
      std::string_view query, const std::vector<std::string>& passages) override {
    ++calls;
    scored += passages.size();
    const auto q = Words(query);
    std::vector<models::CrossEncoderScore> out;
    for (const auto& passage : passages) {
      const auto p = Words(passage);
      float found = 0;
      for (const auto& w : q) found += std::count(p.begin(), p.end(), w) > 0 ? 1.0f : 0.0f;
      out.push_back({q.empty() ? 0.0f : found / static_cast<float>(q.size()), found});
    }
    return out;
  }
  const models::ModelInfo& info() const override { return info_; }

  models::ModelInfo info_;
  std::size_t calls = 0;
  std::size_t scored = 0;
};

}  // namespace sieve::retrieval::testing
