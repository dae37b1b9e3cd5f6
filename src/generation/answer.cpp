#include "generation/answer.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "generation/extractive.h"
#include "generation/prompt.h"

namespace sieve::generation {
namespace {

constexpr std::size_t kLettersPerToken = 6;

bool IsBlank(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
}

std::string JoinNumbers(const std::vector<std::size_t>& numbers) {
  std::string out;
  for (std::size_t n : numbers) {
    if (!out.empty()) out += ", ";
    out += "[" + std::to_string(n) + "]";
  }
  return out;
}

// The extractive answer, preferring the cross-encoder and falling back to lexical scoring.
Result<Answer> Extract(std::string_view question, const std::vector<Passage>& passages,
                       const GenerationOptions& options, models::CrossEncoder* cross_encoder) {
  ExtractiveOptions extractive{options.extractive_sentences, options.extractive_passages};
  if (cross_encoder != nullptr) {
    std::unique_ptr<SentenceScorer> scorer = MakeCrossEncoderScorer(*cross_encoder);
    Result<Answer> answer = ExtractiveAnswer(question, passages, extractive, *scorer);
    if (answer.ok()) return answer;
    std::unique_ptr<SentenceScorer> lexical = MakeLexicalScorer(options.term_idf);
    SIEVE_ASSIGN_OR_RETURN(Answer fallback,
                           ExtractiveAnswer(question, passages, extractive, *lexical));
    fallback.notes.insert(fallback.notes.begin(), "cross-encoder sentence scoring failed (" +
                                                      answer.status().ToString() +
                                                      "); sentences scored lexically");
    return fallback;
  }
  std::unique_ptr<SentenceScorer> lexical = MakeLexicalScorer(options.term_idf);
  return ExtractiveAnswer(question, passages, extractive, *lexical);
}

}  // namespace

std::size_t ApproxTokenCount(std::string_view text) {
  std::size_t tokens = 0;
  std::size_t letters = 0;  // letters/digits (code points) in the current word
  auto end_word = [&] {
    tokens += (letters + kLettersPerToken - 1) / kLettersPerToken;
    letters = 0;
  };
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c >= 0xC0) {
      ++letters;  // ASCII letter/digit or the first byte of a UTF-8 sequence
    } else if (c >= 0x80) {
      // UTF-8 continuation byte: part of the code point already counted
    } else {
      end_word();
      if (!std::isspace(c)) ++tokens;  // punctuation
    }
  }
  end_word();
  return tokens;
}

Result<Answer> GenerateAnswer(std::string_view question, const std::vector<Passage>& passages,
                              const GenerationOptions& options,
                              models::CrossEncoder* sentence_scorer, const TokenCallback& on_token,
                              RequestContext* ctx) {
  if (IsBlank(question)) return Status::InvalidArgument("the question is empty");

  std::vector<std::string> notes;
  if (passages.empty()) {
    if (!options.llm.base_url.empty())
      notes.push_back("LLM not asked: no passages to ground an answer in");
  } else if (options.llm.base_url.empty()) {
    notes.push_back(
        "no LLM configured (set llm.url or llm.preset, see docs/configuration.md); extractive "
        "answer");
  } else {
    Prompt prompt =
        BuildPrompt(question, passages, options.context_token_budget, options.count_tokens);
    LlmOptions llm = options.llm;
    llm.stream = llm.stream || static_cast<bool>(on_token);
    bool streamed_something = false;
    TokenCallback forward;
    if (on_token) {
      forward = [&](std::string_view piece) {
        streamed_something = true;
        on_token(piece);
      };
    }
    const LlmClient client = options.http ? LlmClient(llm, options.http) : LlmClient(llm);
    Result<ChatResponse> response = client.Complete(prompt.messages, forward, ctx);
    if (response.ok() && !IsBlank(response->content)) {
      Answer answer;
      answer.text = response->content;
      answer.model = response->model;
      answer.usage = response->usage;
      answer.passages_in_context = prompt.passages_used;
      const std::vector<Passage> in_context(
          passages.begin(), passages.begin() + static_cast<std::ptrdiff_t>(prompt.passages_used));
      std::vector<std::size_t> out_of_range;
      answer.citations = CitedPassages(answer.text, in_context, &out_of_range);
      if (prompt.passages_dropped > 0) {
        answer.notes.push_back(std::to_string(prompt.passages_dropped) +
                               " lowest-ranked passage(s) left out to fit the " +
                               std::to_string(options.context_token_budget) +
                               "-token context budget");
      }
      if (prompt.first_passage_truncated) {
        answer.notes.push_back("passage [1] was cut to fit the " +
                               std::to_string(options.context_token_budget) +
                               "-token context budget");
      }
      if (!out_of_range.empty()) {
        answer.notes.push_back("the answer cites " + JoinNumbers(out_of_range) +
                               ", which are not among the " + std::to_string(prompt.passages_used) +
                               " passages given");
      }
      if (answer.citations.empty()) answer.notes.push_back("the answer cites no passage");
      if (response->finish_reason == "length") {
        answer.notes.push_back("the answer was cut at the " + std::to_string(llm.max_tokens) +
                               "-token limit (llm.max_tokens)");
      }
      return answer;
    }
    const std::string why = response.ok() ? std::string("the LLM returned an empty answer")
                                          : response.status().ToString();
    const bool unreachable =
        !response.ok() && (response.status().code() == StatusCode::kTimeout ||
                           response.status().code() == StatusCode::kUnavailable);
    notes.push_back(std::string(unreachable ? "LLM unavailable: " : "LLM failed: ") + why +
                    "; extractive answer");
    if (streamed_something) {
      notes.push_back("the streamed LLM text was incomplete; this extractive answer replaces it");
    }
  }

  SIEVE_ASSIGN_OR_RETURN(Answer answer, Extract(question, passages, options, sentence_scorer));
  answer.notes.insert(answer.notes.begin(), notes.begin(), notes.end());
  return answer;
}

nlohmann::json StageScoresToJson(const retrieval::StageScores& scores) {
  nlohmann::json out = nlohmann::json::object();
  if (scores.bm25) out["bm25"] = *scores.bm25;
  if (scores.bm25_rank) out["bm25_rank"] = *scores.bm25_rank;
  if (scores.cosine) out["cosine"] = *scores.cosine;
  if (scores.dense_rank) out["dense_rank"] = *scores.dense_rank;
  if (scores.fused) out["fused"] = *scores.fused;
  if (scores.rerank) out["rerank"] = *scores.rerank;
  return out;
}

nlohmann::json AnswerToJson(const Answer& answer) {
  nlohmann::json citations = nlohmann::json::array();
  for (const Citation& citation : answer.citations) {
    const Passage& p = citation.passage;
    citations.push_back({{"number", citation.number},
                         {"rank", citation.rank},
                         {"chunk_id", p.chunk_id},
                         {"source_path", p.source_path},
                         {"title", p.title},
                         {"section", p.section},
                         {"page", p.page},
                         {"begin", p.begin},
                         {"end", p.end},
                         {"text", p.text},
                         {"scores", StageScoresToJson(p.scores)}});
    if (p.line > 0) {
      citations.back()["line"] = p.line;
      citations.back()["line_end"] = p.line_end;
    }
  }
  return {{"answer", answer.text},
          {"extractive", answer.extractive},
          {"model", answer.model},
          {"notes", answer.notes},
          {"passages_in_context", answer.passages_in_context},
          {"usage",
           {{"prompt_tokens", answer.usage.prompt_tokens},
            {"completion_tokens", answer.usage.completion_tokens},
            {"total_tokens", answer.usage.total_tokens}}},
          {"citations", std::move(citations)}};
}

}  // namespace sieve::generation
