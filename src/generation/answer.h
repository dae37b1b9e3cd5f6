// generation: from a question and ranked passages to a grounded, cited answer.
//
// Interface of the stage. GenerateAnswer() asks an OpenAI-compatible chat-completions server
// (llm_client.h) with a prompt that numbers the passages [1]..[n] (prompt.h), and returns the
// answer with only the passages it cites. With no LLM configured, or when the LLM cannot be
// reached or fails, it falls back to an extractive answer (extractive.h): the best sentences of
// the top passages, scored by a cross-encoder or lexically. It never fails silently: the Answer
// says which path produced it and why (`extractive`, `notes`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"
#include "generation/llm_client.h"
#include "retrieval/retriever.h"

namespace sieve::models {
class CrossEncoder;
}

namespace sieve::generation {

// One retrieved chunk with where it came from. Passages are given best first (rank order).
struct Passage {
  std::int64_t chunk_id = 0;
  std::string text;
  std::string source_path;  // document path as ingested
  std::string title;        // document title ("" if none)
  std::string section;      // section the chunk starts in ("" if none)
  int page = 0;             // page the chunk starts on (0 = format has no pages)
  std::size_t line = 0;     // lines of the file the chunk spans (0 = the format has no lines)
  std::size_t line_end = 0;
  std::size_t begin = 0;  // byte offsets of the chunk in the extracted document text: [begin, end)
  std::size_t end = 0;
  retrieval::StageScores scores;
};

// A passage the answer cites. `number` is the n of "[n]" in Answer::text; `rank` is the 1-based
// position of the passage in the list the answer was made from (best first). An LLM cites
// passages by their position in its prompt, so number == rank; an extractive answer numbers the
// passages it cites 1..m in the order it first cites them (no gaps), so number <= rank.
struct Citation {
  std::size_t number = 0;
  std::size_t rank = 0;
  Passage passage;
};

struct Answer {
  std::string text;
  bool extractive = false;          // true: sentences copied from the passages, no LLM involved
  std::vector<Citation> citations;  // the passages cited, in the order the answer first cites them
  std::string model;                // LLM model that answered, or "extractive (<scorer>)"
  // Why this path was taken and anything a user should know, e.g.
  // "LLM unreachable: Timeout: ...; extractive answer", "2 passages dropped to fit 3000 tokens".
  std::vector<std::string> notes;
  Usage usage;                          // token counts reported by the LLM (zeros if unknown)
  std::size_t passages_in_context = 0;  // passages given to the LLM / scanned for sentences
};

// Counts tokens of a piece of text; used for the context budget.
using TokenCounter = std::function<std::size_t(std::string_view)>;
// Approximation for English with WordPiece/BPE vocabularies: one token per piece of up to 6
// letters/digits of a word (so a long word counts as several) and one per punctuation mark; it
// errs on the high side so a budget is not overrun.
std::size_t ApproxTokenCount(std::string_view text);

struct GenerationOptions {
  LlmOptions llm;                           // llm.base_url empty = no LLM configured
  std::size_t context_token_budget = 3000;  // tokens of numbered passages in the prompt
  TokenCounter count_tokens;                // empty = ApproxTokenCount
  std::size_t extractive_sentences = 3;     // sentences in an extractive answer
  std::size_t extractive_passages = 5;      // top passages whose sentences are scored
  // The index's idf of a word, for lexical sentence scoring (empty: idf over the sentences).
  std::function<std::optional<double>(std::string_view word)> term_idf;
  // Shared connection pool for the LLM (thread-safe); null = a client per call.
  std::shared_ptr<const http::Client> http;
};

// Answers `question` from `passages` (best first). Tries the LLM when options.llm.base_url is
// set; when `on_token` is given the answer is streamed through it as it arrives. Falls back to an
// extractive answer, scored with `sentence_scorer` when given (non-owning, may be null) else
// lexically, and records why in Answer::notes. Zero passages give a "no relevant passages found"
// answer, not an error. Fails only on a usage error (empty question).
// If the LLM fails after some tokens were streamed, the returned answer is extractive and a note
// says the streamed text was incomplete.
Result<Answer> GenerateAnswer(std::string_view question, const std::vector<Passage>& passages,
                              const GenerationOptions& options,
                              models::CrossEncoder* sentence_scorer = nullptr,
                              const TokenCallback& on_token = {}, RequestContext* ctx = nullptr);

// The Answer as JSON (what `sieve ask --json` prints):
// {"answer", "extractive", "model", "notes": [...], "passages_in_context",
//  "usage": {"prompt_tokens", "completion_tokens", "total_tokens"},
//  "citations": [{"number", "rank", "chunk_id", "source_path", "title", "section", "page",
//                 "line"? and "line_end"? (when the passage has lines), "begin", "end", "text",
//                 "scores": {only the stages that saw the chunk}}]}
nlohmann::json AnswerToJson(const Answer& answer);
// {"bm25", "bm25_rank", "cosine", "dense_rank", "fused", "rerank"}, each only when set.
nlohmann::json StageScoresToJson(const retrieval::StageScores& scores);

}  // namespace sieve::generation
