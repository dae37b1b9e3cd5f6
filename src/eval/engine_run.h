// eval/engine_run.h: runs a judged query set through sieve::Engine, so `sieve eval` measures the
// same code path that `ask`, `search` and the server use.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "eval/eval.h"
#include "eval/rag.h"
#include "sieve/sieve.h"

namespace sieve::eval {

// How one query of an engine run went, for the report.
struct QueryDetail {
  std::string query_id;
  std::vector<Scores> scores;        // every passage's stage scores, best first
  std::vector<Passage> top;          // the first passages, with their text
  std::vector<StageTiming> timings;  // the response's per-stage timings
  double ms = 0;                     // wall time of the call
};

// Every query through engine.Search with `base` (its query replaced; k and top_n set to
// options.chunk_candidates, default 3 * options.k, unless `base` sets them), chunk hits merged
// into documents (AggregateToDocuments). Document ids are the documents' keys (a BEIR _id).
// With `details`, one QueryDetail per query is appended (the first `keep_passages` passages with
// their text).
Result<Run> RunEngine(Engine& engine, const SearchRequest& base, const std::vector<Query>& queries,
                      const RunOptions& options, std::vector<QueryDetail>* details = nullptr,
                      std::size_t keep_passages = 3);

// Answers every sample that is not `answered` with engine.Ask (`base` with the question):
// answer, contexts (the passages' text, best first) and context_ids (their documents' keys).
// Answered samples are returned as they are. With `details`, one QueryDetail per engine call.
// `progress` is called after each sample with (done, total).
Result<std::vector<RagSample>> AnswerWithEngine(
    Engine& engine, const AskRequest& base, std::vector<RagSample> samples,
    std::vector<QueryDetail>* details = nullptr,
    const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace sieve::eval
