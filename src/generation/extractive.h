// Extractive answers: the best sentences of the top passages, in document order, with [n]
// citations. Used when no LLM is configured or reachable.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "generation/answer.h"

namespace sieve::models {
class CrossEncoder;
}

namespace sieve::generation {

// Scores (question, sentence) pairs; higher is more relevant. Scores are compared only within one
// call.
class SentenceScorer {
 public:
  virtual ~SentenceScorer() = default;
  virtual Result<std::vector<double>> Score(std::string_view question,
                                            const std::vector<std::string>& sentences) = 0;
  virtual std::string name() const = 0;  // shown in Answer::model, e.g. "lexical"
};

// Uses a cross-encoder (not owned; must outlive the scorer).
std::unique_ptr<SentenceScorer> MakeCrossEncoderScorer(models::CrossEncoder& cross_encoder);

// The inverse document frequency of a question word in the index (nullopt: unknown).
using TermIdf = std::function<std::optional<double>(std::string_view word)>;

// BM25-like term overlap: each question term (lowercased, letters/digits, stop words removed)
// found in the sentence adds idf * tf*(k1+1) / (tf + k1*(1 - b + b*len/avglen)), with k1 = 1.2,
// b = 0.75. The idf is the index's (`index_idf`, so a sentence carrying the question's rare
// terms beats one carrying its common ones) when given and known, else
// ln(1 + (N - df + 0.5) / (df + 0.5)) over the N candidate sentences. Terms are compared after
// dropping a plural "s" and cutting to 6 characters (cheap stemming: "retrieval" ~ "retrieve" ~
// "retrieved").
std::unique_ptr<SentenceScorer> MakeLexicalScorer(TermIdf index_idf = nullptr);

// Sentences that do not answer anything, left out of extractive answers: questions, headings
// (a few capitalised words without a final stop), table fragments (tab-separated cells, pipes,
// mostly numbers and symbols) and boilerplate (copyright and licence notices, "all rights
// reserved", navigation labels), unless the question asks about that very thing.
bool IsNonAnswerSentence(std::string_view sentence, std::string_view question);

// A sentence of a passage: text and byte offsets within Passage::text.
struct Sentence {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string text;
};
// Splits at . ! ? (followed by space/newline and not after a common abbreviation or a single
// capital letter) and at blank lines; keeps sentences with at least one letter or digit,
// whitespace trimmed.
std::vector<Sentence> SplitSentences(std::string_view text);

struct ExtractiveOptions {
  std::size_t max_sentences = 3;  // sentences in the answer
  std::size_t max_passages = 5;   // top passages whose sentences are scored
};

// The answer's text starts with "Extractive answer (no LLM): " and lists the chosen sentences in
// document order (documents by their best passage's rank; within a document by byte offset),
// each followed by its [n]: the passages cited are numbered 1..m in the order the answer first
// cites them (no gaps); Answer::citations holds them in that order, each with its passage's rank
// (position in `passages`). Non-answer sentences
// (IsNonAnswerSentence) are skipped while others are left. Zero passages give
// "No relevant passages found." with no citations. Fails only when the scorer fails.
Result<Answer> ExtractiveAnswer(std::string_view question, const std::vector<Passage>& passages,
                                const ExtractiveOptions& options, SentenceScorer& scorer);

inline constexpr std::string_view kExtractivePrefix = "Extractive answer (no LLM): ";
inline constexpr std::string_view kNoPassagesAnswer = "No relevant passages found.";

}  // namespace sieve::generation
