#include "generation/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

namespace sieve::generation {
namespace {

using config::Config;
using config::EnvLookup;
using ::testing::HasSubstr;

EnvLookup FakeEnv(std::map<std::string, std::string> values) {
  return [values](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(GenerationOptionsTest, PresetGivesUrlAndModelAndExplicitValuesWin) {
  Config config;
  config.llm.preset = "ollama";
  Result<GenerationOptions> options = MakeGenerationOptions(config, FakeEnv({}));
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->llm.base_url, "http://localhost:11434/v1");
  EXPECT_FALSE(options->llm.model.empty());

  config.llm.url = "http://gpu-box:11434/v1";
  config.llm.model = "qwen2.5:7b";
  config.llm.timeout_s = 1.5;
  config.llm.retries = 4;
  config.generation.context_tokens = 1234;
  options = MakeGenerationOptions(config, FakeEnv({}));
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->llm.base_url, "http://gpu-box:11434/v1");
  EXPECT_EQ(options->llm.model, "qwen2.5:7b");
  EXPECT_EQ(options->llm.timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(options->llm.max_retries, 4);
  EXPECT_EQ(options->context_token_budget, 1234u);
}

TEST(GenerationOptionsTest, ApiKeyComesFromTheConfiguredVariableAndSieveLlmApiKeyWins) {
  Config config;
  config.llm.preset = "openai";
  config.llm.api_key_env = "MY_KEY";
  Result<GenerationOptions> options = MakeGenerationOptions(config, FakeEnv({{"MY_KEY", "k1"}}));
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->llm.api_key, "k1");
  options = MakeGenerationOptions(config, FakeEnv({{"MY_KEY", "k1"}, {"SIEVE_LLM_API_KEY", "k2"}}));
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->llm.api_key, "k2");
  options = MakeGenerationOptions(config, FakeEnv({}));
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->llm.api_key, "");
}

TEST(GenerationOptionsTest, NoLlmLeavesTheUrlEmptyAndUrlWithoutModelIsAnError) {
  Config config;
  Result<GenerationOptions> options = MakeGenerationOptions(config, FakeEnv({}));
  ASSERT_TRUE(options.ok());
  EXPECT_TRUE(options->llm.base_url.empty());

  config.llm.url = "http://127.0.0.1:9/v1";
  options = MakeGenerationOptions(config, FakeEnv({}));
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(options.status().message(), HasSubstr("no model is named"));
}

TEST(GenerationOptionsTest, UnsetKeysKeepTheOptionsDefaults) {
  Config config;
  config.llm.preset = "ollama";
  Result<GenerationOptions> options = MakeGenerationOptions(config, FakeEnv({}));
  ASSERT_TRUE(options.ok());
  const GenerationOptions defaults;
  EXPECT_EQ(options->context_token_budget, defaults.context_token_budget);
  EXPECT_EQ(options->extractive_sentences, defaults.extractive_sentences);
  EXPECT_EQ(options->extractive_passages, defaults.extractive_passages);
  EXPECT_EQ(options->llm.timeout, defaults.llm.timeout);
  EXPECT_EQ(options->llm.max_retries, defaults.llm.max_retries);
  EXPECT_DOUBLE_EQ(options->llm.temperature, defaults.llm.temperature);
  // The default key variable is read.
  options = MakeGenerationOptions(config, FakeEnv({{std::string(kDefaultApiKeyEnv), "k0"}}));
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->llm.api_key, "k0");
  config.retrieval.top_n = 9;
  config.generation.extractive_sentences = 4;
  options = MakeGenerationOptions(config, FakeEnv({}));
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->extractive_passages, 9u);
  EXPECT_EQ(options->extractive_sentences, 4u);
}

}  // namespace
}  // namespace sieve::generation
