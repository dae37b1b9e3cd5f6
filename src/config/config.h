// config: the settings of every `sieve` command, read from command-line flags > SIEVE_*
// environment variables > sieve.toml > defaults. Every key, its environment variable, its default
// and the commands that use it are documented in docs/configuration.md.
//
// Every field is optional: a value is set only when the user named it (file, environment or
// flag), so a caller can tell "the user asked for model X" from "nothing was said". Defaults are
// those of each stage's options struct (e.g. retrieval::PipelineOptions::k), applied by the code
// that builds those options; the few settings no stage owns have their defaults here (IndexDir,
// VectorStoreUri, ExactSearchBelow, EngineThreads, EngineSessions).
//
// The file is --config PATH when given (it must exist), else ./sieve.toml, else
// $XDG_CONFIG_HOME/sieve/sieve.toml ($HOME/.config when XDG_CONFIG_HOME is unset), else none.
// Unknown keys, wrong types and bad values are errors naming the file, line and key.
//
// Thread-safety: everything here is a pure function of its arguments (LoadConfig reads files and
// calls the EnvLookup it is given); a Config is a plain value.
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

namespace sieve::config {

// Defaults of the settings that belong to no single stage.
inline constexpr std::string_view kDefaultIndexDir = ".sieve";
// With fewer vectors than this, vector search is exact (flat); from it on, HNSW. The one
// threshold for every command that opens the vector store.
inline constexpr std::size_t kDefaultExactSearchBelow = 20000;
// Upper bound of the default engine.threads (hardware concurrency, at most this).
inline constexpr std::size_t kMaxDefaultThreads = 8;

struct IndexConfig {
  std::optional<std::string> dir;  // index.dir               SIEVE_INDEX
  std::optional<std::string>
      store;  // index.store (URI: faiss:, qdrant://, qdrants://) SIEVE_VECTOR_STORE
  std::optional<std::size_t> hnsw_m;                // index.hnsw_m            SIEVE_HNSW_M
  std::optional<std::size_t> hnsw_ef_construction;  // SIEVE_HNSW_EF_CONSTRUCTION
  std::optional<std::size_t> hnsw_ef_search;        // SIEVE_HNSW_EF_SEARCH
  std::optional<std::size_t> exact_search_below;    // SIEVE_EXACT_SEARCH_BELOW
};

struct ModelsConfig {
  std::optional<std::string> embed;   // SIEVE_EMBED_MODEL: a folder or a Hub id
  std::optional<std::string> rerank;  // SIEVE_RERANK_MODEL
  // SIEVE_PRECISION: "fp32" or "int8" (dynamic quantisation of the linear layers); recorded
  // with the vectors, so an index is never mixed.
  std::optional<std::string> precision;
};

struct RetrievalConfig {
  std::optional<std::string> mode;   // "hybrid", "dense", "lexical"   SIEVE_MODE
  std::optional<std::size_t> k;      // candidates per retriever         SIEVE_K
  std::optional<std::size_t> top_n;  // passages kept after rerank       SIEVE_TOP_N
  std::optional<std::size_t> rrf_k;  // reciprocal rank fusion constant  SIEVE_RRF_K
  std::optional<bool> rerank;        // cross-encoder rerank on/off      SIEVE_RERANK
};

struct ChunkConfig {
  std::optional<std::size_t> max_tokens;      // SIEVE_CHUNK_MAX_TOKENS
  std::optional<std::size_t> overlap_tokens;  // SIEVE_CHUNK_OVERLAP
};

struct IngestConfig {
  std::optional<double> max_file_mb;  // SIEVE_MAX_FILE_MB: larger files are skipped
};

struct LlmConfig {
  std::optional<std::string> preset;       // "ollama", "tgi", "vllm", "llamacpp", "openai"
  std::optional<std::string> url;          // base URL; wins over the preset's
  std::optional<std::string> model;        // wins over the preset's default model
  std::optional<std::string> api_key_env;  // variable holding the key (SIEVE_LLM_API_KEY wins)
  std::optional<double> timeout_s;
  std::optional<double> connect_timeout_s;
  std::optional<int> retries;
  std::optional<int> max_tokens;
  std::optional<double> temperature;
  std::optional<bool> stream;
  // True when a non-empty URL or preset is set: the LLM should be tried.
  bool configured() const { return (url && !url->empty()) || (preset && !preset->empty()); }
};

struct GenerationConfig {
  std::optional<std::size_t> context_tokens;        // SIEVE_CONTEXT_TOKENS
  std::optional<std::size_t> extractive_sentences;  // SIEVE_EXTRACTIVE_SENTENCES
};

struct EngineConfig {
  std::optional<std::size_t> threads;   // SIEVE_THREADS: inference threads
  std::optional<std::size_t> sessions;  // SIEVE_SESSIONS: model sessions per model
};

// `sieve serve` (defaults in server::ServerOptions). API keys are never read from the file:
// SIEVE_API_KEY and SIEVE_ADMIN_KEY (or --api-key / --admin-key).
struct ServerConfig {
  std::optional<std::string> host;              // server.host              SIEVE_HOST
  std::optional<std::size_t> port;              // server.port              SIEVE_PORT
  std::optional<std::string> cors_origin;       // server.cors_origin       SIEVE_CORS_ORIGIN
  std::optional<std::size_t> max_body_mb;       // server.max_body_mb       SIEVE_MAX_BODY_MB
  std::optional<std::size_t> max_batch_tokens;  // server.max_batch_tokens  SIEVE_MAX_BATCH_TOKENS
  std::optional<std::size_t> max_wait_ms;       // server.max_wait_ms       SIEVE_MAX_WAIT_MS
  std::optional<std::size_t> max_queue;         // server.max_queue         SIEVE_MAX_QUEUE
  std::optional<double> timeout_s;              // server.timeout           SIEVE_TIMEOUT
  std::optional<std::size_t> threads;           // server.threads           SIEVE_SERVER_THREADS
  std::optional<std::size_t> batch_workers;     // server.batch_workers     SIEVE_BATCH_WORKERS
};

// The Qdrant vector store (index.store = "qdrant://HOST:PORT/COLLECTION"). The API key is never
// a key of the file: it comes from SIEVE_QDRANT_API_KEY, else from the variable api_key_env names.
struct QdrantConfig {
  std::optional<std::string> api_key_env;               // SIEVE_QDRANT_API_KEY_ENV
  std::optional<double> timeout_s;                      // SIEVE_QDRANT_TIMEOUT
  std::optional<int> retries;                           // SIEVE_QDRANT_RETRIES
  std::optional<std::size_t> batch_size;                // SIEVE_QDRANT_BATCH_SIZE
  std::optional<std::size_t> shard_number;              // SIEVE_QDRANT_SHARD_NUMBER
  std::optional<std::size_t> replication_factor;        // SIEVE_QDRANT_REPLICATION_FACTOR
  std::optional<std::size_t> write_consistency_factor;  // SIEVE_QDRANT_WRITE_CONSISTENCY_FACTOR
  std::optional<std::string> hnsw_config;               // SIEVE_QDRANT_HNSW_CONFIG (JSON object)
  std::optional<std::string> quantization_config;       // SIEVE_QDRANT_QUANTIZATION_CONFIG (JSON)
};

struct Config {
  IndexConfig index;
  QdrantConfig qdrant;
  ModelsConfig models;
  RetrievalConfig retrieval;
  ChunkConfig chunk;
  IngestConfig ingest;
  LlmConfig llm;
  GenerationConfig generation;
  EngineConfig engine;
  ServerConfig server;
  std::filesystem::path file;  // the sieve.toml that was read ("" if none)
};

// index.dir, else kDefaultIndexDir.
std::filesystem::path IndexDir(const Config& config);
// index.store, else "faiss:" + IndexDir(config).
std::string VectorStoreUri(const Config& config);
// index.exact_search_below, else kDefaultExactSearchBelow.
std::size_t ExactSearchBelow(const Config& config);
// engine.threads, else the hardware concurrency capped at kMaxDefaultThreads (at least 1).
std::size_t EngineThreads(const Config& config);
// engine.sessions, else EngineThreads(config).
std::size_t EngineSessions(const Config& config);

// Reads an environment variable; nullopt when unset. Injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
std::optional<std::string> ProcessEnvironment(std::string_view name);

// Command-line flags as ("section.key", value), e.g. {"llm.url", "http://..."}.
using Overrides = std::vector<std::pair<std::string, std::string>>;

struct ConfigSources {
  std::filesystem::path config_file;   // --config PATH; empty = search (see top of file)
  std::filesystem::path working_dir;   // where ./sieve.toml is looked for; empty = current dir
  EnvLookup env = ProcessEnvironment;  // empty = ProcessEnvironment
  Overrides overrides;                 // applied last, in order
};

// The file, then the environment, then the overrides, each on top of the one before; then the
// checks that involve several keys (chunk.overlap_tokens < chunk.max_tokens when both are set).
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
// Every key, in the order of docs/configuration.md.
std::span<const ConfigKey> ConfigKeys();

}  // namespace sieve::config
