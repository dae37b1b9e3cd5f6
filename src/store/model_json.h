// store (internal): the JSON form of an embedding model's identity, shared by the backends that
// record it beside their vectors (the FAISS manifest, the Qdrant collection's metadata).
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include "models/encoder.h"

namespace sieve::store {

// {"id", "revision", "architecture", "dimension", "pooling", "normalize", "query_prompt",
// "max_seq_length", "precision"} ("precision" absent = "fp32").
nlohmann::json ModelToJson(const models::ModelInfo& m);
// The inverse; throws nlohmann::json::exception when a required field is missing or mistyped.
models::ModelInfo ModelFromJson(const nlohmann::json& j);

}  // namespace sieve::store
