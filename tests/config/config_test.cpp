#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <type_traits>

#include "core/file.h"
#include "support/temp_dir.h"

namespace sieve::config {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using sieve::testing_support::TempDir;

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

TEST(ConfigTest, NothingIsSetWithoutFileOrEnvironmentAndHelpersGiveTheDefaults) {
  TempDir dir;
  Result<Config> config = LoadConfig(IsolatedSources(dir));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->file.empty());
  EXPECT_FALSE(config->index.dir.has_value());
  EXPECT_FALSE(config->index.store.has_value());
  EXPECT_FALSE(config->models.embed.has_value());
  EXPECT_FALSE(config->models.rerank.has_value());
  EXPECT_FALSE(config->retrieval.mode.has_value());
  EXPECT_FALSE(config->retrieval.k.has_value());
  EXPECT_FALSE(config->retrieval.rerank.has_value());
  EXPECT_FALSE(config->chunk.max_tokens.has_value());
  EXPECT_FALSE(config->ingest.max_file_mb.has_value());
  EXPECT_FALSE(config->llm.api_key_env.has_value());
  EXPECT_FALSE(config->engine.threads.has_value());
  EXPECT_FALSE(config->llm.configured());
  EXPECT_EQ(IndexDir(*config), fs::path(".sieve"));
  EXPECT_EQ(VectorStoreUri(*config), "faiss:.sieve");
  EXPECT_EQ(ExactSearchBelow(*config), 20000u);
  EXPECT_GE(EngineThreads(*config), 1u);
  EXPECT_LE(EngineThreads(*config), kMaxDefaultThreads);
  EXPECT_EQ(EngineSessions(*config), EngineThreads(*config));
}

TEST(ConfigTest, HelpersFollowTheNamedValues) {
  Config config;
  config.index.dir = "/data/idx";
  EXPECT_EQ(IndexDir(config), fs::path("/data/idx"));
  EXPECT_EQ(VectorStoreUri(config), "faiss:/data/idx");  // the store follows the index dir
  config.index.store = "faiss:/elsewhere";
  EXPECT_EQ(VectorStoreUri(config), "faiss:/elsewhere");
  config.index.exact_search_below = 7;
  EXPECT_EQ(ExactSearchBelow(config), 7u);
  config.engine.threads = 3;
  EXPECT_EQ(EngineThreads(config), 3u);
  EXPECT_EQ(EngineSessions(config), 3u);
  config.engine.sessions = 5;
  EXPECT_EQ(EngineSessions(config), 5u);
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
  EXPECT_FALSE(config->retrieval.rrf_k);           // not named: the stage's default applies
  EXPECT_EQ(config->retrieval.rerank, false);      // flag > default
  EXPECT_EQ(config->llm.url, "http://file:1/v1");  // file
  EXPECT_EQ(config->llm.model, "env-model");       // env > file
  EXPECT_DOUBLE_EQ(*config->llm.timeout_s, 2.5);
}

TEST(ConfigTest, EmptyEnvironmentVariablesAreIgnored) {
  TempDir dir;
  Result<Config> config = LoadConfig(IsolatedSources(dir, {{"SIEVE_K", ""}}));
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->retrieval.k.has_value());
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
  EXPECT_THAT(ApplyConfigToml(config, "[models]\nprecision = \"fp16\"\n", "f").message(),
              HasSubstr("\"fp16\" is not one of fp32, int8"));
  EXPECT_THAT(ApplyConfigToml(config, "[retrieval]\nrerank = 1\n", "f").message(),
              HasSubstr("retrieval.rerank: expected true or false, got an integer"));
  // Whole numbers are fine where fractions are allowed.
  EXPECT_TRUE(ApplyConfigToml(config, "[llm]\ntemperature = 1\n", "f").ok());
  EXPECT_DOUBLE_EQ(*config.llm.temperature, 1.0);
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

// Every key, set through each layer: the file's value, beaten by the environment's, beaten by a
// flag's. Values are (TOML literal, env text, flag text, and how to read the field back as text).
struct KeyCase {
  std::string toml;
  std::string env;
  std::string flag;
  std::function<std::string(const Config&)> read;
};

template <typename T>
std::string Text(const std::optional<T>& value) {
  if (!value) return "<unset>";
  if constexpr (std::is_same_v<T, std::string>) {
    return *value;
  } else if constexpr (std::is_same_v<T, bool>) {
    return *value ? "true" : "false";
  } else if constexpr (std::is_same_v<T, double>) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", *value);
    return text;
  } else {
    return std::to_string(*value);
  }
}

std::map<std::string, KeyCase> EveryKeyCase() {
  return {
      {"index.dir", {"\"/f\"", "/e", "/c", [](const Config& c) { return Text(c.index.dir); }}},
      {"index.store",
       {"\"faiss:/f\"", "faiss:/e", "faiss:/c",
        [](const Config& c) { return Text(c.index.store); }}},
      {"index.hnsw_m", {"10", "11", "12", [](const Config& c) { return Text(c.index.hnsw_m); }}},
      {"index.hnsw_ef_construction",
       {"10", "11", "12", [](const Config& c) { return Text(c.index.hnsw_ef_construction); }}},
      {"index.hnsw_ef_search",
       {"10", "11", "12", [](const Config& c) { return Text(c.index.hnsw_ef_search); }}},
      {"index.exact_search_below",
       {"10", "11", "12", [](const Config& c) { return Text(c.index.exact_search_below); }}},
      {"qdrant.api_key_env",
       {"\"F\"", "E", "C", [](const Config& c) { return Text(c.qdrant.api_key_env); }}},
      {"qdrant.timeout",
       {"10", "11", "12", [](const Config& c) { return Text(c.qdrant.timeout_s); }}},
      {"qdrant.retries", {"1", "2", "3", [](const Config& c) { return Text(c.qdrant.retries); }}},
      {"qdrant.batch_size",
       {"10", "11", "12", [](const Config& c) { return Text(c.qdrant.batch_size); }}},
      {"qdrant.shard_number",
       {"1", "2", "3", [](const Config& c) { return Text(c.qdrant.shard_number); }}},
      {"qdrant.replication_factor",
       {"1", "2", "3", [](const Config& c) { return Text(c.qdrant.replication_factor); }}},
      {"qdrant.write_consistency_factor",
       {"1", "2", "3", [](const Config& c) { return Text(c.qdrant.write_consistency_factor); }}},
      {"qdrant.hnsw_config",
       {"\"{}\"", "{\"m\": 16}", "{\"m\": 32}",
        [](const Config& c) { return Text(c.qdrant.hnsw_config); }}},
      {"qdrant.quantization_config",
       {"\"{}\"", "{\"binary\": {}}", "{\"scalar\": {}}",
        [](const Config& c) { return Text(c.qdrant.quantization_config); }}},
      {"models.embed",
       {"\"f/m\"", "e/m", "c/m", [](const Config& c) { return Text(c.models.embed); }}},
      {"models.rerank",
       {"\"f/m\"", "e/m", "c/m", [](const Config& c) { return Text(c.models.rerank); }}},
      {"models.precision",
       {"\"int8\"", "fp32", "int8", [](const Config& c) { return Text(c.models.precision); }}},
      {"retrieval.mode",
       {"\"dense\"", "lexical", "hybrid", [](const Config& c) { return Text(c.retrieval.mode); }}},
      {"retrieval.k", {"10", "11", "12", [](const Config& c) { return Text(c.retrieval.k); }}},
      {"retrieval.top_n",
       {"10", "11", "12", [](const Config& c) { return Text(c.retrieval.top_n); }}},
      {"retrieval.rrf_k",
       {"10", "11", "12", [](const Config& c) { return Text(c.retrieval.rrf_k); }}},
      {"retrieval.rerank",
       {"false", "true", "false", [](const Config& c) { return Text(c.retrieval.rerank); }}},
      {"chunk.max_tokens",
       {"100", "110", "120", [](const Config& c) { return Text(c.chunk.max_tokens); }}},
      {"chunk.overlap_tokens",
       {"10", "11", "12", [](const Config& c) { return Text(c.chunk.overlap_tokens); }}},
      {"ingest.max_file_mb",
       {"1.5", "2.5", "3.5", [](const Config& c) { return Text(c.ingest.max_file_mb); }}},
      {"llm.preset",
       {"\"ollama\"", "vllm", "openai", [](const Config& c) { return Text(c.llm.preset); }}},
      {"llm.url",
       {"\"http://f\"", "http://e", "http://c", [](const Config& c) { return Text(c.llm.url); }}},
      {"llm.model", {"\"f\"", "e", "c", [](const Config& c) { return Text(c.llm.model); }}},
      {"llm.api_key_env",
       {"\"F\"", "E", "C", [](const Config& c) { return Text(c.llm.api_key_env); }}},
      {"llm.timeout", {"10", "11", "12", [](const Config& c) { return Text(c.llm.timeout_s); }}},
      {"llm.connect_timeout",
       {"1", "2", "3", [](const Config& c) { return Text(c.llm.connect_timeout_s); }}},
      {"llm.retries", {"1", "2", "3", [](const Config& c) { return Text(c.llm.retries); }}},
      {"llm.max_tokens",
       {"10", "11", "12", [](const Config& c) { return Text(c.llm.max_tokens); }}},
      {"llm.temperature",
       {"0.5", "0.25", "1.5", [](const Config& c) { return Text(c.llm.temperature); }}},
      {"llm.stream", {"true", "false", "true", [](const Config& c) { return Text(c.llm.stream); }}},
      {"generation.context_tokens",
       {"10", "11", "12", [](const Config& c) { return Text(c.generation.context_tokens); }}},
      {"generation.extractive_sentences",
       {"1", "2", "3", [](const Config& c) { return Text(c.generation.extractive_sentences); }}},
      {"engine.threads", {"1", "2", "3", [](const Config& c) { return Text(c.engine.threads); }}},
      {"engine.sessions", {"4", "5", "6", [](const Config& c) { return Text(c.engine.sessions); }}},
      {"server.host",
       {"\"127.0.0.2\"", "127.0.0.3", "::1", [](const Config& c) { return Text(c.server.host); }}},
      {"server.port",
       {"8001", "8002", "8003", [](const Config& c) { return Text(c.server.port); }}},
      {"server.cors_origin",
       {"\"http://f\"", "http://e", "http://c",
        [](const Config& c) { return Text(c.server.cors_origin); }}},
      {"server.max_body_mb",
       {"10", "11", "12", [](const Config& c) { return Text(c.server.max_body_mb); }}},
      {"server.max_batch_tokens",
       {"100", "110", "120", [](const Config& c) { return Text(c.server.max_batch_tokens); }}},
      {"server.max_wait_ms",
       {"1", "2", "3", [](const Config& c) { return Text(c.server.max_wait_ms); }}},
      {"server.max_queue",
       {"10", "11", "12", [](const Config& c) { return Text(c.server.max_queue); }}},
      {"server.timeout",
       {"10", "11", "12", [](const Config& c) { return Text(c.server.timeout_s); }}},
      {"server.threads",
       {"10", "11", "12", [](const Config& c) { return Text(c.server.threads); }}},
      {"server.batch_workers",
       {"1", "2", "3", [](const Config& c) { return Text(c.server.batch_workers); }}},
  };
}

std::string Expected(const std::string& toml_literal) {
  std::string out = toml_literal;
  if (out.size() >= 2 && out.front() == '"') out = out.substr(1, out.size() - 2);
  return out;
}

TEST(ConfigTest, EveryKeyIsReadFromFileThenEnvironmentThenFlag) {
  const std::map<std::string, KeyCase> cases = EveryKeyCase();
  ASSERT_EQ(cases.size(), ConfigKeys().size());
  for (const ConfigKey& key : ConfigKeys()) {
    const std::string name(key.key);
    SCOPED_TRACE(name);
    auto found = cases.find(name);
    ASSERT_NE(found, cases.end()) << "no test case for " << name;
    const KeyCase& c = found->second;
    ASSERT_FALSE(key.env.empty());
    TempDir dir;
    const std::string section = name.substr(0, name.find('.'));
    dir.Write("sieve.toml",
              "[" + section + "]\n" + name.substr(name.find('.') + 1) + " = " + c.toml + "\n");
    Result<Config> config = LoadConfig(IsolatedSources(dir));
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    EXPECT_EQ(c.read(*config), Expected(c.toml)) << "file";

    ConfigSources sources = IsolatedSources(dir, {{std::string(key.env), c.env}});
    config = LoadConfig(sources);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    EXPECT_EQ(c.read(*config), c.env) << "environment beats file";

    sources.overrides = {{name, c.flag}};
    config = LoadConfig(sources);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    EXPECT_EQ(c.read(*config), c.flag) << "flag beats environment";
  }
}

TEST(ConfigTest, NewKeysRejectBadValues) {
  Config config;
  EXPECT_THAT(ApplyConfigToml(config, "[index]\nstore = \"redis://x\"\n", "f").message(),
              HasSubstr("f:2: index.store: \"redis://x\" is not supported (expected faiss:..., "
                        "qdrant://..., qdrants://...)"));
  EXPECT_TRUE(ApplyConfigToml(config, "[index]\nstore = \"qdrant://q:6333/docs\"\n", "f").ok());
  EXPECT_THAT(ApplyConfigToml(config, "[qdrant]\nretries = 11\n", "f").message(),
              HasSubstr("f:2: qdrant.retries: 11 is out of range"));
  EXPECT_THAT(ApplyConfigToml(config, "[engine]\nthreads = 0\n", "f").message(),
              HasSubstr("f:2: engine.threads: 0 is out of range"));
  EXPECT_THAT(ApplyConfigToml(config, "[engine]\nsessions = \"two\"\n", "f").message(),
              HasSubstr("f:2: engine.sessions: expected a whole number, got a string"));
  EXPECT_THAT(ApplyConfigToml(config, "[ingest]\nmax_file_mb = 0\n", "f").message(),
              HasSubstr("f:2: ingest.max_file_mb: 0 is out of range"));
  EXPECT_THAT(ApplyConfigToml(config, "[ingest]\nmax_mb = 3\n", "f").message(),
              HasSubstr("f:2: unknown key \"ingest.max_mb\" (known in [ingest]: max_file_mb)"));
  EXPECT_THAT(SetConfigValue(config, "engine.threads", "-2").message(),
              HasSubstr("engine.threads: -2 is out of range"));
}

TEST(ConfigTest, OverlapIsCheckedAgainstAChunkSizeSetInAnotherLayer) {
  TempDir dir;
  dir.Write("sieve.toml", "[chunk]\nmax_tokens = 64\n");
  Result<Config> config = LoadConfig(IsolatedSources(dir, {{"SIEVE_CHUNK_OVERLAP", "80"}}));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("chunk.overlap_tokens (80) must be smaller"));
  // One of the two alone is left to the chunker's options (whose default is the other side).
  config = LoadConfig(IsolatedSources(dir, {}));
  ASSERT_TRUE(config.ok());
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
}  // namespace sieve::config
