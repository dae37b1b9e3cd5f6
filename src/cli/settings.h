// cli/settings: the stage options a command builds from its configuration. Keys the user did not
// set keep the stage's defaults (its options struct's); see docs/configuration.md.
#pragma once

#include "config/config.h"
#include "core/status.h"
#include "retrieval/dense_index.h"
#include "store/ingest.h"
#include "store/vector_index.h"

namespace sieve::cli {

// index.exact_search_below (config::ExactSearchBelow) and index.hnsw_*.
store::VectorIndexOptions VectorIndexOptionsFrom(const config::Config& config);

// The vector-index options above, and models.embed as the named model ("" = none named).
retrieval::DenseIndexOptions DenseIndexOptionsFrom(const config::Config& config, bool verbose);

// chunk.max_tokens, chunk.overlap_tokens and ingest.max_file_mb over IngestOptions' defaults.
// Fails (kInvalidArgument) when the overlap is not smaller than the chunk size.
Result<store::IngestOptions> IngestOptionsFrom(const config::Config& config);

}  // namespace sieve::cli
