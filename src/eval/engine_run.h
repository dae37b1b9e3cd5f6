// eval/engine_run.h: runs a judged query set through sieve::Engine, so `sieve eval` measures the
// same code path that `ask`, `search` and the server use.
#pragma once

#include <vector>

#include "eval/eval.h"
#include "sieve/sieve.h"

namespace sieve::eval {

// Every query through engine.Search with `base` (its query replaced; k and top_n set to
// options.chunk_candidates, default 3 * options.k, unless `base` sets them), chunk hits merged
// into documents (AggregateToDocuments). Document ids are the documents' keys (a BEIR _id).
Result<Run> RunEngine(Engine& engine, const SearchRequest& base, const std::vector<Query>& queries,
                      const RunOptions& options);

}  // namespace sieve::eval
