// Configuration for `sieve ingest/ask/eval/serve`: defaults < sieve.toml < environment variables
// < command-line flags. Every key, its environment variable and default is documented in
// docs/configuration.md.
//
// The file is --config PATH when given (it must exist), else ./sieve.toml, else
// $XDG_CONFIG_HOME/sieve/sieve.toml ($HOME/.config when XDG_CONFIG_HOME is unset), else none.
// Unknown keys, wrong types and bad values are errors naming the file, line and key.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "generation/answer.h"

namespace sieve::generation {

struct IndexConfig {
  std::string dir = ".sieve";              // index.dir            SIEVE_INDEX
  std::size_t hnsw_m = 32;                 // index.hnsw_m         SIEVE_HNSW_M
  std::size_t hnsw_ef_construction = 200;  // index.hnsw_ef_construction
  std::size_t hnsw_ef_search = 64;         // index.hnsw_ef_search
  std::size_t exact_search_below = 20000;  // index.exact_search_below: vectors; exact search below
};

struct ModelsConfig {
  std::string embed = "BAAI/bge-small-en-v1.5";                 // SIEVE_EMBED_MODEL
  std::string rerank = "cross-encoder/ms-marco-MiniLM-L-6-v2";  // SIEVE_RERANK_MODEL
};

struct RetrievalConfig {
  std::string mode = "hybrid";  // "hybrid", "dense", "lexical"   SIEVE_MODE
  std::size_t k = 50;           // candidates per retriever         SIEVE_K
  std::size_t top_n = 5;        // passages kept after rerank       SIEVE_TOP_N
  std::size_t rrf_k = 60;       // reciprocal rank fusion constant  SIEVE_RRF_K
  bool rerank = true;           // cross-encoder rerank on/off      SIEVE_RERANK
};

struct ChunkConfig {
  std::size_t max_tokens = 256;     // SIEVE_CHUNK_MAX_TOKENS
  std::size_t overlap_tokens = 32;  // SIEVE_CHUNK_OVERLAP
};

struct LlmConfig {
  std::string preset;                          // "ollama", "tgi", "vllm", "llamacpp", "openai"
  std::string url;                             // base URL; wins over the preset's
  std::string model;                           // wins over the preset's default model
  std::string api_key_env = "OPENAI_API_KEY";  // variable holding the key (SIEVE_LLM_API_KEY wins)
  double timeout_s = 120;
  double connect_timeout_s = 5;
  int retries = 2;
  int max_tokens = 512;
  double temperature = 0.1;
  bool stream = false;
  // True when a URL or a preset is set: the LLM should be tried.
  bool configured() const { return !url.empty() || !preset.empty(); }
};

struct GenerationConfig {
  std::size_t context_tokens = 3000;     // token budget of the passages in the prompt
  std::size_t extractive_sentences = 3;  // sentences in an extractive answer
};

// `sieve serve`. API keys are never read from the file: SIEVE_API_KEY and SIEVE_ADMIN_KEY (or
// --api-key / --admin-key).
struct ServerConfig {
  std::string host = "127.0.0.1";       // server.host          SIEVE_HOST
  std::size_t port = 8080;              // server.port          SIEVE_PORT
  std::string cors_origin;              // server.cors_origin   "" = no CORS headers
  std::size_t max_body_mb = 32;         // server.max_body_mb   request bodies larger are refused
  std::size_t max_batch_tokens = 8192;  // server.max_batch_tokens: tokens per embedding batch
  std::size_t max_wait_ms = 5;          // server.max_wait_ms   a batch waits this long for company
  std::size_t max_queue = 256;          // server.max_queue     queued requests before 503/429
  double timeout_s = 60;                // server.timeout       seconds per request
  std::size_t threads = 0;              // server.threads       HTTP worker threads; 0 = automatic
};

struct Config {
  IndexConfig index;
  ModelsConfig models;
  RetrievalConfig retrieval;
  ChunkConfig chunk;
  LlmConfig llm;
  GenerationConfig generation;
  ServerConfig server;
  std::filesystem::path file;  // the sieve.toml that was read ("" if none)
};

// Reads an environment variable; nullopt when unset. Injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
std::optional<std::string> ProcessEnvironment(std::string_view name);

struct ConfigSources {
  std::filesystem::path config_file;  // --config PATH; empty = search (see top of file)
  std::filesystem::path working_dir;  // where ./sieve.toml is looked for; empty = current dir
  EnvLookup env = ProcessEnvironment;
  // Command-line flags as ("section.key", value), e.g. {"llm.url", "http://..."}; applied last.
  std::vector<std::pair<std::string, std::string>> overrides;
};

// Defaults, then the file, then the environment, then the overrides.
Result<Config> LoadConfig(const ConfigSources& sources);

// The file LoadConfig would read; "" when there is none. Error if --config names a missing file.
Result<std::filesystem::path> FindConfigFile(const ConfigSources& sources);

// Applies a TOML document on top of `config`. `source_name` names it in errors.
Status ApplyConfigToml(Config& config, std::string_view toml_text, std::string_view source_name);
// Sets one key ("llm.url", "retrieval.k", ...) from its text form; error names the key.
Status SetConfigValue(Config& config, std::string_view key, std::string_view value);

// One documented key: its dotted name and environment variable ("" if none).
struct ConfigKey {
  std::string_view key;
  std::string_view env;
  std::string_view description;
};
std::span<const ConfigKey> ConfigKeys();

// The LLM options for `config` (preset resolved, API key read from the environment) and the rest
// of the generation options. options.llm.base_url stays empty when no LLM is configured.
Result<GenerationOptions> MakeGenerationOptions(const Config& config,
                                                const EnvLookup& env = ProcessEnvironment);

}  // namespace sieve::generation
