// eval/rag: RAG metrics over a question set, defined as Ragas (0.4.3) defines them.
//
// A RagSample is Ragas's SingleTurnSample: the question, the answer a system gave, the contexts
// it retrieved (and their document ids), and optionally a reference answer, reference contexts
// and the ids of the relevant documents. EvaluateRag scores each sample:
//
//   judged (an LLM judge with Ragas's own prompts, text for text; see ragas_prompts.h)
//     faithfulness        statements of the answer inferable from the contexts / statements
//     answer_relevancy    mean cosine between the question and `strictness` questions the judge
//                         writes for the answer, 0 when every one is noncommittal
//     context_precision   average precision of the contexts the judge finds useful for the
//                         reference (Ragas's LLMContextPrecisionWithReference)
//     context_recall      reference sentences attributable to the contexts / sentences
//     answer_correctness  0.75 * F1 of answer vs reference statements (TP/FP/FN by the judge)
//                         + 0.25 * cosine of answer and reference embeddings
//   deterministic (no LLM)
//     id_based_context_precision  distinct retrieved ids that are relevant / distinct retrieved
//     id_based_context_recall     distinct relevant ids retrieved / distinct relevant ids
//     non_llm_context_recall      reference contexts whose best Levenshtein similarity to a
//                                 retrieved context exceeds 0.5 / reference contexts
//
// Where Ragas returns NaN (no statements, no verdict, a reply it cannot parse) a sample gets no
// score for that metric and the reason is kept and counted: unparseable verdicts, failed judge
// calls and undefined scores are reported, never averaged in as NaN. Means are over the samples
// that have a score.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/http.h"
#include "core/status.h"
#include "generation/llm_client.h"

namespace sieve {
class Engine;
}

namespace sieve::eval {

struct RagSample {
  std::string id;
  std::string question;                  // user_input
  std::string answer;                    // response
  std::vector<std::string> contexts;     // retrieved_contexts, best first
  std::vector<std::string> context_ids;  // retrieved_context_ids (a document per context)
  std::optional<std::string> reference;  // reference answer
  std::vector<std::string> reference_contexts;
  std::vector<std::string> reference_ids;  // reference_context_ids: the relevant documents
  bool answered = false;  // answer and contexts come with the sample (not made by Sieve)
};

// A question set, JSONL, one object per line:
//   {"id": "q1", "question": "...", "reference": "...", "relevant_ids": ["d1", "d2"],
//    "reference_contexts": ["..."], "answer": "...", "contexts": ["..."], "context_ids": [...]}
// Only "question" is required ("user_input" is accepted too, and Ragas's names
// "response", "retrieved_contexts", "retrieved_context_ids", "reference_context_ids"). A line
// with "answer" or "contexts" is scored as given (answered = true); the others are answered by
// the engine. A missing id is the line number. Errors: kIoError, kInvalidInput naming the line.
Result<std::vector<RagSample>> LoadQuestionSet(const std::filesystem::path& path);

enum class RagMetric {
  kFaithfulness,
  kAnswerRelevancy,
  kContextPrecision,
  kContextRecall,
  kAnswerCorrectness,
  kIdContextPrecision,
  kIdContextRecall,
  kNonLlmContextRecall,
};
inline constexpr std::array<RagMetric, 8> kAllRagMetrics = {
    RagMetric::kFaithfulness,    RagMetric::kAnswerRelevancy,    RagMetric::kContextPrecision,
    RagMetric::kContextRecall,   RagMetric::kAnswerCorrectness,  RagMetric::kIdContextPrecision,
    RagMetric::kIdContextRecall, RagMetric::kNonLlmContextRecall};
const char* RagMetricName(RagMetric metric);  // Ragas's name: "faithfulness", ...
bool IsJudged(RagMetric metric);              // needs the LLM judge
bool NeedsEmbeddings(RagMetric metric);       // answer_relevancy, answer_correctness

// Sends one prompt to the judge (as one user message) and returns its reply. Called from several
// threads at once: must be thread-safe.
using JudgeFn = std::function<Result<std::string>(const std::string& prompt)>;
// Embeds texts, one vector per text in order. Thread-safe.
using EmbedFn =
    std::function<Result<std::vector<std::vector<float>>>(const std::vector<std::string>& texts)>;

// A judge through Sieve's OpenAI-compatible client (its retries and timeouts apply); a null
// `http` gets a client of its own.
JudgeFn MakeLlmJudge(const generation::LlmOptions& options,
                     std::shared_ptr<const http::Client> http);
// Embeddings from the engine's bi-encoder (Engine::Embed, documents side: no query prompt).
// `engine` must outlive the function.
EmbedFn MakeEngineEmbedder(Engine& engine);
// Embeddings from an OpenAI-compatible POST {base_url}/embeddings (e.g. the embeddings a Ragas
// setup uses, so both see the same vectors).
EmbedFn MakeOpenAiEmbedder(std::string base_url, std::string model, std::string api_key,
                           std::shared_ptr<const http::Client> http);

struct RagOptions {
  JudgeFn judge;  // empty: the judged metrics are skipped (with a note)
  EmbedFn embed;  // empty: answer_relevancy and answer_correctness are skipped (with a note)
  std::vector<RagMetric> metrics;  // empty = all
  std::size_t concurrency = 4;     // judge calls in flight at most
  int strictness = 3;              // questions generated per answer (answer_relevancy)
  // Times an unparseable reply is asked again before the verdict counts as unparseable.
  int parse_retries = 1;
  double string_similarity_threshold = 0.5;                  // non_llm_context_recall
  std::array<double, 2> correctness_weights = {0.75, 0.25};  // factuality, similarity
  // Called after each sample/metric task with (done, total); from worker threads, one at a time.
  std::function<void(std::size_t, std::size_t)> progress;
};

struct RagSampleResult {
  std::string id;
  std::map<std::string, double> scores;       // metric -> score (only metrics with a score)
  std::map<std::string, std::string> errors;  // metric -> why it has no score
};

struct RagMetricSummary {
  std::string name;
  std::optional<double> mean;  // over the samples with a score; unset when none has one
  std::size_t scored = 0;
  std::size_t not_applicable = 0;  // samples without the fields it needs (e.g. no reference)
  std::size_t undefined = 0;       // Ragas would give NaN: no statements, nothing retrieved
  std::size_t unparseable = 0;     // the judge's reply could not be read (after retries)
  std::size_t failed = 0;          // the judge or the embedder returned an error
  std::string skipped;             // non-empty: not computed at all, and why
};

struct RagEvaluation {
  std::vector<RagSampleResult> samples;   // in input order
  std::vector<RagMetricSummary> metrics;  // in RagOptions::metrics order
  std::size_t judge_calls = 0;
  std::size_t unparseable_replies = 0;  // every unparseable reply, retried ones included
  std::vector<std::string> notes;
  const RagMetricSummary* Find(std::string_view name) const;
};

// Scores every sample. Fails only on a usage error (kInvalidArgument); a judge that fails or
// cannot be parsed is counted per metric. Thread-safe; runs up to options.concurrency threads.
Result<RagEvaluation> EvaluateRag(const std::vector<RagSample>& samples, const RagOptions& options);

// ---- the arithmetic, as Ragas computes it (exposed for tests) ----

// Ragas's extract_json: from a "```json" marker if any, the first balanced {...} or [...];
// the text itself when there is none.
std::string ExtractJson(std::string_view text);
// The full prompt: `prefix` (ragas_prompts.h) + "input: " + input as 4-space JSON + "\nOutput: ".
std::string RagasPrompt(const char* prefix, const nlohmann::ordered_json& input);
// sum_k (precision@k * v_k) / (sum v + 1e-10), v_k in {0, 1}.
double AveragePrecisionOfVerdicts(const std::vector<int>& verdicts);
// F-beta of statement counts (0 when precision and recall are both 0).
double FBetaScore(std::size_t tp, std::size_t fp, std::size_t fn, double beta = 1.0);
// a.b / (|a| |b|).
double CosineSimilarity(const std::vector<float>& a, const std::vector<float>& b);
// 1 - Levenshtein distance / max length, over Unicode code points (rapidfuzz's
// Levenshtein.normalized_distance); 1 for two empty strings.
double StringSimilarity(std::string_view a, std::string_view b);
// Unset where Ragas gives NaN (no ids / contexts).
std::optional<double> IdContextPrecision(const std::vector<std::string>& retrieved,
                                         const std::vector<std::string>& relevant);
std::optional<double> IdContextRecall(const std::vector<std::string>& retrieved,
                                      const std::vector<std::string>& relevant);
std::optional<double> NonLlmContextRecall(const std::vector<std::string>& retrieved,
                                          const std::vector<std::string>& reference,
                                          double threshold = 0.5);

// The evaluation as JSON: {"metrics": [{name, mean, scored, ...}], "samples": [...], ...}.
nlohmann::json RagEvaluationToJson(const RagEvaluation& evaluation);

}  // namespace sieve::eval
