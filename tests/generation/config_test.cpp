#include "generation/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "core/file.h"

namespace sieve::generation {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A fresh directory under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = fs::temp_directory_path() / ("sieve_config_test_" + std::to_string(random()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }
  fs::path Write(const fs::path& relative, const std::string& text) const {
    fs::path file = path_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }

 private:
  fs::path path_;
};

// Sources that see only `env` and look for ./sieve.toml in `dir` (never the real environment).
ConfigSources IsolatedSources(const TempDir& dir, std::map<std::string, std::string> env = {}) {
  ConfigSources sources;
  sources.working_dir = dir.path();
  env.emplace("XDG_CONFIG_HOME", (dir.path() / "xdg").string());
  sources.env = [env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  return sources;
}

TEST(ConfigTest, DefaultsWithoutFileOrEnvironment) {
  TempDir dir;
  Result<Config> config = LoadConfig(IsolatedSources(dir));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->file.empty());
  EXPECT_EQ(config->index.dir, ".sieve");
  EXPECT_EQ(config->models.embed, "BAAI/bge-small-en-v1.5");
  EXPECT_EQ(config->models.rerank, "cross-encoder/ms-marco-MiniLM-L-6-v2");
  EXPECT_EQ(config->retrieval.mode, "hybrid");
  EXPECT_EQ(config->retrieval.k, 50u);
  EXPECT_EQ(config->retrieval.top_n, 5u);
  EXPECT_EQ(config->retrieval.rrf_k, 60u);
  EXPECT_TRUE(config->retrieval.rerank);
  EXPECT_EQ(config->generation.context_tokens, 3000u);
  EXPECT_EQ(config->generation.extractive_sentences, 3u);
  EXPECT_EQ(config->llm.api_key_env, "OPENAI_API_KEY");
  EXPECT_FALSE(config->llm.configured());
}

TEST(ConfigTest, FlagsBeatEnvironmentBeatFileBeatDefaults) {
  TempDir dir;
  dir.Write("sieve.toml", R"(
[retrieval]
k = 10
top_n = 7
mode = "lexical"

[llm]
url = "http://file:1/v1"
model = "file-model"
timeout = 2.5
)");
  ConfigSources sources = IsolatedSources(
      dir, {{"SIEVE_K", "20"}, {"SIEVE_MODE", "dense"}, {"SIEVE_LLM_MODEL", "env-model"}});
  sources.overrides = {{"retrieval.k", "30"}, {"retrieval.rerank", "false"}};
  Result<Config> config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->file, dir.path() / "sieve.toml");
  EXPECT_EQ(config->retrieval.k, 30u);             // flag > env > file
  EXPECT_EQ(config->retrieval.mode, "dense");      // env > file
  EXPECT_EQ(config->retrieval.top_n, 7u);          // file > default
  EXPECT_EQ(config->retrieval.rrf_k, 60u);         // default
  EXPECT_FALSE(config->retrieval.rerank);          // flag > default
  EXPECT_EQ(config->llm.url, "http://file:1/v1");  // file
  EXPECT_EQ(config->llm.model, "env-model");       // env > file
  EXPECT_DOUBLE_EQ(config->llm.timeout_s, 2.5);
}

TEST(ConfigTest, EmptyEnvironmentVariablesAreIgnored) {
  TempDir dir;
  Result<Config> config = LoadConfig(IsolatedSources(dir, {{"SIEVE_K", ""}}));
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->retrieval.k, 50u);
}

TEST(ConfigTest, UnknownKeyIsAnErrorNamingKeyAndLine) {
  TempDir dir;
  dir.Write("sieve.toml", "[retrieval]\nk = 5\nbogus = 1\n");
  Result<Config> config = LoadConfig(IsolatedSources(dir));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("sieve.toml:3"));
  EXPECT_THAT(config.status().message(), HasSubstr("unknown key \"retrieval.bogus\""));
  EXPECT_THAT(config.status().message(), HasSubstr("top_n"));  // lists the known keys
}

TEST(ConfigTest, UnknownSectionAndTopLevelKeysAreErrors) {
  Config config;
  Status status = ApplyConfigToml(config, "\n[retreival]\nk = 5\n", "my.toml");
  EXPECT_THAT(status.message(), HasSubstr("my.toml:2: unknown section [retreival]"));
  status = ApplyConfigToml(config, "k = 5\n", "my.toml");
  EXPECT_THAT(status.message(), HasSubstr("my.toml:1: unknown key \"k\" at the top level"));
}

TEST(ConfigTest, WrongTypesAndBadValuesAreErrorsNamingTheKey) {
  Config config;
  EXPECT_THAT(ApplyConfigToml(config, "[retrieval]\nk = \"five\"\n", "f").message(),
              HasSubstr("f:2: retrieval.k: expected a whole number, got a string"));
  EXPECT_THAT(ApplyConfigToml(config, "[retrieval]\nk = 0\n", "f").message(),
              HasSubstr("f:2: retrieval.k: 0 is out of range [1, 100000]"));
  EXPECT_THAT(ApplyConfigToml(config, "[retrieval]\nmode = \"fast\"\n", "f").message(),
              HasSubstr("\"fast\" is not one of hybrid, dense, lexical"));
  EXPECT_THAT(ApplyConfigToml(config, "[llm]\npreset = \"gpt\"\n", "f").message(),
              HasSubstr("is not one of ollama, tgi, vllm, llamacpp, openai"));
  EXPECT_THAT(ApplyConfigToml(config, "[retrieval]\nrerank = 1\n", "f").message(),
              HasSubstr("retrieval.rerank: expected true or false, got an integer"));
  // Whole numbers are fine where fractions are allowed.
  EXPECT_TRUE(ApplyConfigToml(config, "[llm]\ntemperature = 1\n", "f").ok());
  EXPECT_DOUBLE_EQ(config.llm.temperature, 1.0);
}

TEST(ConfigTest, SyntaxErrorsGiveLineAndColumn) {
  Config config;
  Status status = ApplyConfigToml(config, "[llm]\nurl = \"unterminated\n", "bad.toml");
  EXPECT_EQ(status.code(), StatusCode::kInvalidInput);
  EXPECT_THAT(status.message(), HasSubstr("bad.toml:2:"));
}

TEST(ConfigTest, BadEnvironmentValuesNameTheVariable) {
  TempDir dir;
  Result<Config> config = LoadConfig(IsolatedSources(dir, {{"SIEVE_K", "many"}}));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(
      config.status().message(),
      HasSubstr("environment variable SIEVE_K: retrieval.k: \"many\" is not a whole number"));
  config = LoadConfig(IsolatedSources(dir, {{"SIEVE_RERANK", "maybe"}}));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("SIEVE_RERANK"));
}

TEST(ConfigTest, BadOverridesAndUnknownOverrideKeysAreErrors) {
  TempDir dir;
  ConfigSources sources = IsolatedSources(dir);
  sources.overrides = {{"retrieval.kk", "3"}};
  Result<Config> config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("unknown configuration key \"retrieval.kk\""));
  sources.overrides = {{"llm.temperature", "hot"}};
  EXPECT_THAT(LoadConfig(sources).status().message(), HasSubstr("\"hot\" is not a number"));
}

TEST(ConfigTest, OverlapMustBeSmallerThanChunkSize) {
  TempDir dir;
  dir.Write("sieve.toml", "[chunk]\nmax_tokens = 64\noverlap_tokens = 64\n");
  Result<Config> config = LoadConfig(IsolatedSources(dir));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("chunk.overlap_tokens (64) must be smaller"));
}

TEST(ConfigTest, FileSearchOrderIsFlagThenWorkingDirThenXdg) {
  TempDir dir;
  dir.Write("xdg/sieve/sieve.toml", "[retrieval]\nk = 3\n");
  Result<Config> config = LoadConfig(IsolatedSources(dir));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->retrieval.k, 3u);
  EXPECT_EQ(config->file, dir.path() / "xdg" / "sieve" / "sieve.toml");

  dir.Write("sieve.toml", "[retrieval]\nk = 4\n");
  config = LoadConfig(IsolatedSources(dir));
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->retrieval.k, 4u);

  ConfigSources sources = IsolatedSources(dir);
  sources.config_file = dir.Write("elsewhere.toml", "[retrieval]\nk = 5\n");
  config = LoadConfig(sources);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->retrieval.k, 5u);

  sources.config_file = dir.path() / "missing.toml";
  config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr("missing.toml: no such file"));
}

TEST(ConfigTest, HomeConfigIsUsedWhenXdgIsUnset) {
  TempDir dir;
  dir.Write("home/.config/sieve/sieve.toml", "[retrieval]\ntop_n = 9\n");
  ConfigSources sources;
  sources.working_dir = dir.path();
  std::string home = (dir.path() / "home").string();
  sources.env = [home](std::string_view name) -> std::optional<std::string> {
    if (name == "HOME") return home;
    return std::nullopt;
  };
  Result<Config> config = LoadConfig(sources);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->retrieval.top_n, 9u);
}

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

TEST(ConfigDocsTest, EveryKeyAndVariableIsDocumented) {
  Result<std::string> docs = ReadFile(fs::path(SIEVE_SOURCE_DIR) / "docs" / "configuration.md");
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  for (const ConfigKey& key : ConfigKeys()) {
    std::string name(key.key);
    std::string leaf = name.substr(name.find('.') + 1);
    EXPECT_THAT(*docs, HasSubstr("`" + leaf + "`")) << name;
    if (!key.env.empty()) {
      EXPECT_THAT(*docs, HasSubstr("`" + std::string(key.env) + "`")) << name;
    }
  }
  EXPECT_THAT(*docs, HasSubstr("`SIEVE_LLM_API_KEY`"));
}

}  // namespace
}  // namespace sieve::generation
