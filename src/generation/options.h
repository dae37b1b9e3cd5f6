// generation/options: the answer options of a configuration (docs/configuration.md, [llm] and
// [generation]). Defaults are GenerationOptions' and LlmOptions'; kDefaultApiKeyEnv is the one
// default no options struct holds.
#pragma once

#include <string_view>

#include "config/config.h"
#include "core/status.h"
#include "generation/answer.h"

namespace sieve::generation {

// The environment variable that holds the LLM's API key when llm.api_key_env is not set.
inline constexpr std::string_view kDefaultApiKeyEnv = "OPENAI_API_KEY";

// The LLM options for `config` (preset resolved, API key read through `env`: SIEVE_LLM_API_KEY,
// else the variable llm.api_key_env names) and the rest of the generation options; unset keys
// keep GenerationOptions' defaults, and extractive_passages follows retrieval.top_n when set.
// options.llm.base_url stays empty when no LLM is configured. Fails (kInvalidArgument) for an
// unknown preset, or an LLM URL without a model. Thread-safe (pure, apart from calling `env`).
Result<GenerationOptions> MakeGenerationOptions(
    const config::Config& config, const config::EnvLookup& env = config::ProcessEnvironment);

}  // namespace sieve::generation
