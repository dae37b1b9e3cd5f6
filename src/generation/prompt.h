// The grounded prompt: numbered passages [1]..[n] that fit a token budget, an instruction to
// answer only from them and cite them as [n]; and parsing of those citations in the answer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "generation/answer.h"
#include "generation/llm_client.h"

namespace sieve::generation {

struct Prompt {
  std::vector<ChatMessage> messages;  // system, user
  std::size_t passages_used = 0;  // passages [1]..[passages_used] are in the prompt, in rank order
  std::size_t passages_dropped = 0;      // lowest-ranked passages left out to fit the budget
  bool first_passage_truncated = false;  // the best passage alone exceeded the budget
  std::size_t context_tokens = 0;        // tokens of the numbered-passage block
};

// Passages come best first; the lowest-ranked are dropped until the numbered block (headers
// included) fits `token_budget` under `count_tokens` (empty = ApproxTokenCount). If even the best
// passage is too long, it is cut to fit rather than leaving the model no context.
Prompt BuildPrompt(std::string_view question, const std::vector<Passage>& passages,
                   std::size_t token_budget, const TokenCounter& count_tokens = {});

// "[1] docs/guide.md, section "Install", page 3" — how a passage is labelled in the prompt.
std::string PassageLabel(std::size_t number, const Passage& passage);

// Citation numbers in `text` in order of first appearance, each once: "[1]", "[2][3]", "[1, 2]",
// "[1,2; 4]" and ranges "[1-3]" are understood; other brackets ("[a]", "[2024 report]") are not.
std::vector<std::size_t> ParseCitationNumbers(std::string_view text);

// The cited passages, by number (1-based into `passages`), in order of first citation. Numbers
// outside 1..passages.size() are skipped and returned in `out_of_range` when given.
std::vector<Citation> CitedPassages(std::string_view text, const std::vector<Passage>& passages,
                                    std::vector<std::size_t>* out_of_range = nullptr);

}  // namespace sieve::generation
