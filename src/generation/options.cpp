#include "generation/options.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "generation/llm_client.h"

namespace sieve::generation {

namespace {

std::chrono::milliseconds Milliseconds(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

}  // namespace

Result<GenerationOptions> MakeGenerationOptions(const config::Config& config,
                                                const config::EnvLookup& env_lookup) {
  const config::EnvLookup& env =
      env_lookup ? env_lookup : config::EnvLookup(config::ProcessEnvironment);
  GenerationOptions options;
  const config::GenerationConfig& generation = config.generation;
  options.context_token_budget = generation.context_tokens.value_or(options.context_token_budget);
  options.extractive_sentences =
      generation.extractive_sentences.value_or(options.extractive_sentences);
  if (config.retrieval.top_n) {
    options.extractive_passages = std::max<std::size_t>(1, *config.retrieval.top_n);
  }
  if (!config.llm.configured()) return options;

  const config::LlmConfig& in = config.llm;
  LlmOptions& llm = options.llm;
  llm.base_url = in.url.value_or("");
  llm.model = in.model.value_or("");
  if (in.preset && !in.preset->empty()) {
    const LlmPreset* preset = FindLlmPreset(*in.preset);
    if (preset == nullptr)
      return Status::InvalidArgument("llm.preset: unknown preset \"" + *in.preset + "\"");
    if (llm.base_url.empty()) llm.base_url = preset->base_url;
    if (llm.model.empty()) llm.model = preset->default_model;
  }
  if (llm.model.empty()) {
    return Status::InvalidArgument(
        "an LLM is configured at " + llm.base_url +
        " but no model is named: set llm.model, SIEVE_LLM_MODEL or --llm-model (a server that "
        "hosts one model accepts any name)");
  }
  std::optional<std::string> key = env(kApiKeyOverrideEnv);
  const std::string key_env = in.api_key_env.value_or(std::string(kDefaultApiKeyEnv));
  if ((!key || key->empty()) && !key_env.empty()) key = env(key_env);
  llm.api_key = key.value_or("");
  llm.temperature = in.temperature.value_or(llm.temperature);
  llm.max_tokens = in.max_tokens.value_or(llm.max_tokens);
  llm.stream = in.stream.value_or(llm.stream);
  if (in.timeout_s) llm.timeout = Milliseconds(*in.timeout_s);
  if (in.connect_timeout_s) llm.connect_timeout = Milliseconds(*in.connect_timeout_s);
  llm.max_retries = in.retries.value_or(llm.max_retries);
  return options;
}

}  // namespace sieve::generation
