#include "config/config.h"

#include <toml++/toml.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <thread>
#include <variant>

#include "core/file.h"

namespace sieve::config {
namespace {

namespace fs = std::filesystem;

using StringRef = std::optional<std::string>& (*)(Config&);
using SizeRef = std::optional<std::size_t>& (*)(Config&);
using IntRef = std::optional<int>& (*)(Config&);
using DoubleRef = std::optional<double>& (*)(Config&);
using BoolRef = std::optional<bool>& (*)(Config&);
using ValueRef = std::variant<StringRef, SizeRef, IntRef, DoubleRef, BoolRef>;

// One configuration key: where it lives in Config and what values it accepts.
struct KeySpec {
  ConfigKey doc;
  ValueRef ref;
  double min = 0;  // numbers: inclusive range
  double max = 1e12;
  std::string_view allowed;  // strings: "a|b|c" (a leading "|" allows ""), "" = anything
  std::string_view prefix;   // strings: must start with one of these ("a|b", "" = anything)
};

// Config files are small; anything bigger is not a config file.
constexpr std::uint64_t kMaxConfigBytes = 1u << 20;

const std::vector<KeySpec>& Specs() {
  static const std::vector<KeySpec> specs = {
      {{"index.dir", "SIEVE_INDEX", "index directory (SQLite store + vector index)"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.index.dir; }}},
      {{"index.store", "SIEVE_VECTOR_STORE",
        "vector store URI (faiss:DIR, qdrant://HOST:PORT/COLLECTION, qdrants://...)"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.index.store; }},
       0,
       0,
       "",
       "faiss:|qdrant://|qdrants://"},
      {{"index.hnsw_m", "SIEVE_HNSW_M", "HNSW graph degree M"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.index.hnsw_m; }},
       2,
       512},
      {{"index.hnsw_ef_construction", "SIEVE_HNSW_EF_CONSTRUCTION",
        "HNSW candidate list size while building"},
       SizeRef{
           [](Config& c) -> std::optional<std::size_t>& { return c.index.hnsw_ef_construction; }},
       1,
       1e6},
      {{"index.hnsw_ef_search", "SIEVE_HNSW_EF_SEARCH", "HNSW candidate list size while searching"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.index.hnsw_ef_search; }},
       1,
       1e6},
      {{"index.exact_search_below", "SIEVE_EXACT_SEARCH_BELOW",
        "vector count under which search is exact (flat) instead of HNSW"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.index.exact_search_below; }},
       0,
       1e12},
      {{"qdrant.api_key_env", "SIEVE_QDRANT_API_KEY_ENV",
        "environment variable holding the Qdrant API key (SIEVE_QDRANT_API_KEY wins)"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.qdrant.api_key_env; }}},
      {{"qdrant.timeout", "SIEVE_QDRANT_TIMEOUT", "seconds for one Qdrant request"},
       DoubleRef{[](Config& c) -> std::optional<double>& { return c.qdrant.timeout_s; }},
       0.001,
       86400},
      {{"qdrant.retries", "SIEVE_QDRANT_RETRIES", "extra attempts on 429, 5xx, connection failure"},
       IntRef{[](Config& c) -> std::optional<int>& { return c.qdrant.retries; }},
       0,
       10},
      {{"qdrant.batch_size", "SIEVE_QDRANT_BATCH_SIZE", "points per upsert or delete request"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.qdrant.batch_size; }},
       1,
       100000},
      {{"qdrant.shard_number", "SIEVE_QDRANT_SHARD_NUMBER", "shards of a collection Sieve creates"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.qdrant.shard_number; }},
       1,
       1024},
      {{"qdrant.replication_factor", "SIEVE_QDRANT_REPLICATION_FACTOR",
        "copies of each shard of a collection Sieve creates"},
       SizeRef{
           [](Config& c) -> std::optional<std::size_t>& { return c.qdrant.replication_factor; }},
       1,
       1024},
      {{"qdrant.write_consistency_factor", "SIEVE_QDRANT_WRITE_CONSISTENCY_FACTOR",
        "replicas that must apply a write before it succeeds"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& {
         return c.qdrant.write_consistency_factor;
       }},
       1,
       1024},
      {{"qdrant.hnsw_config", "SIEVE_QDRANT_HNSW_CONFIG",
        "JSON object passed as the collection's hnsw_config"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.qdrant.hnsw_config; }}},
      {{"qdrant.quantization_config", "SIEVE_QDRANT_QUANTIZATION_CONFIG",
        "JSON object passed as the collection's quantization_config"},
       StringRef{
           [](Config& c) -> std::optional<std::string>& { return c.qdrant.quantization_config; }}},
      {{"models.embed", "SIEVE_EMBED_MODEL", "bi-encoder: a model folder or a Hub id"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.models.embed; }}},
      {{"models.rerank", "SIEVE_RERANK_MODEL", "cross-encoder: a model folder or a Hub id"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.models.rerank; }}},
      {{"models.precision", "SIEVE_PRECISION",
        "arithmetic of the encoders' linear layers: fp32 or int8"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.models.precision; }},
       0,
       0,
       "fp32|int8"},
      {{"retrieval.mode", "SIEVE_MODE", "hybrid, dense or lexical"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.retrieval.mode; }},
       0,
       0,
       "hybrid|dense|lexical"},
      {{"retrieval.k", "SIEVE_K", "candidates taken from each retriever"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.retrieval.k; }},
       1,
       100000},
      {{"retrieval.top_n", "SIEVE_TOP_N", "passages kept after reranking"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.retrieval.top_n; }},
       1,
       10000},
      {{"retrieval.rrf_k", "SIEVE_RRF_K", "reciprocal rank fusion constant"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.retrieval.rrf_k; }},
       1,
       1e6},
      {{"retrieval.rerank", "SIEVE_RERANK", "cross-encoder reranking on/off"},
       BoolRef{[](Config& c) -> std::optional<bool>& { return c.retrieval.rerank; }}},
      {{"chunk.max_tokens", "SIEVE_CHUNK_MAX_TOKENS", "token budget per chunk"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.chunk.max_tokens; }},
       8,
       8192},
      {{"chunk.overlap_tokens", "SIEVE_CHUNK_OVERLAP", "tokens repeated between chunks"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.chunk.overlap_tokens; }},
       0,
       8192},
      {{"ingest.max_file_mb", "SIEVE_MAX_FILE_MB", "files larger than this many MiB are skipped"},
       DoubleRef{[](Config& c) -> std::optional<double>& { return c.ingest.max_file_mb; }},
       0.000001,
       1e6},
      {{"llm.preset", "SIEVE_LLM_PRESET", "ollama, tgi, vllm, llamacpp or openai"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.llm.preset; }},
       0,
       0,
       "|ollama|tgi|vllm|llamacpp|openai"},
      {{"llm.url", "SIEVE_LLM_URL", "base URL of an OpenAI-compatible server"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.llm.url; }}},
      {{"llm.model", "SIEVE_LLM_MODEL", "model name sent to the server"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.llm.model; }}},
      {{"llm.api_key_env", "SIEVE_LLM_API_KEY_ENV",
        "environment variable holding the API key (SIEVE_LLM_API_KEY wins)"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.llm.api_key_env; }}},
      {{"llm.timeout", "SIEVE_LLM_TIMEOUT", "seconds for one request, connect to last byte"},
       DoubleRef{[](Config& c) -> std::optional<double>& { return c.llm.timeout_s; }},
       0.001,
       86400},
      {{"llm.connect_timeout", "SIEVE_LLM_CONNECT_TIMEOUT", "seconds to connect"},
       DoubleRef{[](Config& c) -> std::optional<double>& { return c.llm.connect_timeout_s; }},
       0.001,
       3600},
      {{"llm.retries", "SIEVE_LLM_RETRIES", "extra attempts on 429, 5xx, connection failure"},
       IntRef{[](Config& c) -> std::optional<int>& { return c.llm.retries; }},
       0,
       10},
      {{"llm.max_tokens", "SIEVE_LLM_MAX_TOKENS", "longest answer, in tokens"},
       IntRef{[](Config& c) -> std::optional<int>& { return c.llm.max_tokens; }},
       1,
       1e6},
      {{"llm.temperature", "SIEVE_LLM_TEMPERATURE", "sampling temperature"},
       DoubleRef{[](Config& c) -> std::optional<double>& { return c.llm.temperature; }},
       0,
       2},
      {{"llm.stream", "SIEVE_LLM_STREAM", "stream the answer as it is generated"},
       BoolRef{[](Config& c) -> std::optional<bool>& { return c.llm.stream; }}},
      {{"generation.context_tokens", "SIEVE_CONTEXT_TOKENS",
        "token budget of the passages in the prompt"},
       SizeRef{
           [](Config& c) -> std::optional<std::size_t>& { return c.generation.context_tokens; }},
       1,
       1e7},
      {{"generation.extractive_sentences", "SIEVE_EXTRACTIVE_SENTENCES",
        "sentences in an extractive answer"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& {
         return c.generation.extractive_sentences;
       }},
       1,
       100},
      {{"engine.threads", "SIEVE_THREADS", "inference threads"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.engine.threads; }},
       1,
       1024},
      {{"engine.sessions", "SIEVE_SESSIONS", "model sessions per model (concurrent requests)"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.engine.sessions; }},
       1,
       1024},
      {{"server.host", "SIEVE_HOST", "address `sieve serve` listens on"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.server.host; }}},
      {{"server.port", "SIEVE_PORT", "port `sieve serve` listens on (0 = any free port)"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.server.port; }},
       0,
       65535},
      {{"server.cors_origin", "SIEVE_CORS_ORIGIN", "origin allowed by CORS (\"\" = CORS off)"},
       StringRef{[](Config& c) -> std::optional<std::string>& { return c.server.cors_origin; }}},
      {{"server.max_body_mb", "SIEVE_MAX_BODY_MB", "largest request body, in MiB"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.server.max_body_mb; }},
       1,
       4096},
      {{"server.max_batch_tokens", "SIEVE_MAX_BATCH_TOKENS", "tokens per embedding batch"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.server.max_batch_tokens; }},
       16,
       1e7},
      {{"server.max_wait_ms", "SIEVE_MAX_WAIT_MS", "milliseconds a batch waits for company"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.server.max_wait_ms; }},
       0,
       10000},
      {{"server.max_queue", "SIEVE_MAX_QUEUE", "queued model requests before 429"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.server.max_queue; }},
       1,
       1e6},
      {{"server.timeout", "SIEVE_TIMEOUT", "seconds a request may take"},
       DoubleRef{[](Config& c) -> std::optional<double>& { return c.server.timeout_s; }},
       0.001,
       86400},
      {{"server.threads", "SIEVE_SERVER_THREADS", "HTTP worker threads (0 = automatic)"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.server.threads; }},
       0,
       1024},
      {{"server.batch_workers", "SIEVE_BATCH_WORKERS", "model batches computed at once"},
       SizeRef{[](Config& c) -> std::optional<std::size_t>& { return c.server.batch_workers; }},
       1,
       64},
  };
  return specs;
}

const KeySpec* FindSpec(std::string_view key) {
  for (const KeySpec& spec : Specs()) {
    if (spec.doc.key == key) return &spec;
  }
  return nullptr;
}

std::string KnownKeys(std::string_view section) {
  std::string out;
  for (const KeySpec& spec : Specs()) {
    std::string_view key = spec.doc.key;
    if (!section.empty() && key.substr(0, key.find('.')) != section) continue;
    if (!out.empty()) out += ", ";
    out += section.empty() ? key : key.substr(key.find('.') + 1);
  }
  return out;
}

std::string KnownSections() {
  std::string out;
  std::string_view last;
  for (const KeySpec& spec : Specs()) {
    std::string_view section = spec.doc.key.substr(0, spec.doc.key.find('.'));
    if (section == last) continue;
    if (!out.empty()) out += ", ";
    out += '[';
    out += section;
    out += ']';
    last = section;
  }
  return out;
}

std::string FormatNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

Status CheckRange(const KeySpec& spec, double value) {
  if (value < spec.min || value > spec.max) {
    return Status::InvalidArgument(std::string(spec.doc.key) + ": " + FormatNumber(value) +
                                   " is out of range [" + FormatNumber(spec.min) + ", " +
                                   FormatNumber(spec.max) + "]");
  }
  return Status::Ok();
}

Status CheckAllowed(const KeySpec& spec, const std::string& value) {
  if (!spec.prefix.empty()) {
    bool matched = false;
    std::string expected;
    std::string_view prefixes = spec.prefix;
    while (!prefixes.empty()) {
      const std::size_t bar = prefixes.find('|');
      const std::string_view prefix = prefixes.substr(0, bar);
      matched = matched || value.starts_with(prefix);
      if (!expected.empty()) expected += ", ";
      expected += prefix;
      expected += "...";
      prefixes = bar == std::string_view::npos ? std::string_view() : prefixes.substr(bar + 1);
    }
    if (!matched) {
      std::string message(spec.doc.key);
      message += ": \"";
      message += value;
      message += "\" is not supported (expected ";
      message += expected;
      message += ")";
      return Status::InvalidArgument(message);
    }
  }
  if (spec.allowed.empty()) return Status::Ok();
  std::string_view rest = spec.allowed;
  std::string listed;
  while (true) {
    std::size_t bar = rest.find('|');
    std::string_view option = rest.substr(0, bar);
    if (option == value) return Status::Ok();
    if (!option.empty()) {
      if (!listed.empty()) listed += ", ";
      listed += option;
    }
    if (bar == std::string_view::npos) break;
    rest.remove_prefix(bar + 1);
  }
  return Status::InvalidArgument(std::string(spec.doc.key) + ": \"" + value + "\" is not one of " +
                                 listed);
}

// Typed setters shared by the file, environment and command-line layers.
Status SetString(Config& config, const KeySpec& spec, std::string value) {
  SIEVE_RETURN_IF_ERROR(CheckAllowed(spec, value));
  std::get<StringRef>(spec.ref)(config) = std::move(value);
  return Status::Ok();
}

Status SetNumber(Config& config, const KeySpec& spec, double value, bool is_integer) {
  std::string key(spec.doc.key);
  if (std::holds_alternative<SizeRef>(spec.ref) || std::holds_alternative<IntRef>(spec.ref)) {
    if (!is_integer) {
      return Status::InvalidArgument(key + ": expected a whole number, got " + FormatNumber(value));
    }
  }
  SIEVE_RETURN_IF_ERROR(CheckRange(spec, value));
  if (auto* ref = std::get_if<SizeRef>(&spec.ref)) {
    (*ref)(config) = static_cast<std::size_t>(value);
  } else if (auto* ref = std::get_if<IntRef>(&spec.ref)) {
    (*ref)(config) = static_cast<int>(value);
  } else if (auto* ref = std::get_if<DoubleRef>(&spec.ref)) {
    (*ref)(config) = value;
  } else {
    return Status::Internal(key + ": not a number key");
  }
  return Status::Ok();
}

const char* KindName(const ValueRef& ref) {
  if (std::holds_alternative<StringRef>(ref)) return "a string";
  if (std::holds_alternative<BoolRef>(ref)) return "true or false";
  if (std::holds_alternative<DoubleRef>(ref)) return "a number";
  return "a whole number";
}

const char* TomlTypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a fractional number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date/time";
  }
}

Status SetFromToml(Config& config, const KeySpec& spec, const toml::node& node) {
  const std::string key(spec.doc.key);
  if (std::holds_alternative<StringRef>(spec.ref)) {
    if (const auto* value = node.as_string()) return SetString(config, spec, value->get());
  } else if (auto* ref = std::get_if<BoolRef>(&spec.ref)) {
    if (const auto* value = node.as_boolean()) {
      (*ref)(config) = value->get();
      return Status::Ok();
    }
  } else if (const auto* integer = node.as_integer()) {
    return SetNumber(config, spec, static_cast<double>(integer->get()), true);
  } else if (const auto* floating = node.as_floating_point();
             floating != nullptr && std::holds_alternative<DoubleRef>(spec.ref)) {
    return SetNumber(config, spec, floating->get(), false);
  }
  return Status::InvalidArgument(key + ": expected " + KindName(spec.ref) + ", got " +
                                 TomlTypeName(node));
}

Result<bool> ParseBool(std::string_view text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  std::string message = "\"";
  message += text;
  message += "\" is not a boolean (true/false, 1/0, yes/no, on/off)";
  return Status::InvalidArgument(message);
}

std::string TrimSpaces(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return std::string(text);
}

Status SetFromText(Config& config, const KeySpec& spec, std::string_view text) {
  const std::string key(spec.doc.key);
  if (std::holds_alternative<StringRef>(spec.ref))
    return SetString(config, spec, std::string(text));
  const std::string trimmed = TrimSpaces(text);
  if (auto* ref = std::get_if<BoolRef>(&spec.ref)) {
    Result<bool> value = ParseBool(trimmed);
    if (!value.ok()) return value.status().WithContext(key);
    (*ref)(config) = *value;
    return Status::Ok();
  }
  if (std::holds_alternative<DoubleRef>(spec.ref)) {
    const char* begin = trimmed.c_str();
    char* end = nullptr;
    errno = 0;
    double value = std::strtod(begin, &end);
    if (trimmed.empty() || end != begin + trimmed.size() || errno != 0 || !std::isfinite(value))
      return Status::InvalidArgument(key + ": \"" + trimmed + "\" is not a number");
    return SetNumber(config, spec, value, false);
  }
  long long value = 0;
  auto [end, error] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  if (trimmed.empty() || error != std::errc() || end != trimmed.data() + trimmed.size())
    return Status::InvalidArgument(key + ": \"" + trimmed + "\" is not a whole number");
  return SetNumber(config, spec, static_cast<double>(value), true);
}

// Checks that involve more than one key, after every layer is applied.
// (A key set alone is checked against the stage's default where the stage's options are built.)
Status CheckConsistency(const Config& config) {
  const ChunkConfig& chunk = config.chunk;
  if (chunk.overlap_tokens && chunk.max_tokens && *chunk.overlap_tokens >= *chunk.max_tokens) {
    return Status::InvalidArgument(
        "chunk.overlap_tokens (" + std::to_string(*chunk.overlap_tokens) +
        ") must be smaller than chunk.max_tokens (" + std::to_string(*chunk.max_tokens) + ")");
  }
  return Status::Ok();
}

}  // namespace

fs::path IndexDir(const Config& config) {
  return config.index.dir ? fs::path(*config.index.dir) : fs::path(kDefaultIndexDir);
}

std::string VectorStoreUri(const Config& config) {
  if (config.index.store) return *config.index.store;
  std::string uri = "faiss:";
  uri += IndexDir(config).string();
  return uri;
}

std::size_t ExactSearchBelow(const Config& config) {
  return config.index.exact_search_below.value_or(kDefaultExactSearchBelow);
}

std::size_t EngineThreads(const Config& config) {
  if (config.engine.threads) return *config.engine.threads;
  const std::size_t hardware = std::thread::hardware_concurrency();
  return std::clamp<std::size_t>(hardware, 1, kMaxDefaultThreads);
}

std::size_t EngineSessions(const Config& config) {
  return config.engine.sessions.value_or(EngineThreads(config));
}

std::optional<std::string> ProcessEnvironment(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::span<const ConfigKey> ConfigKeys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> out;
    for (const KeySpec& spec : Specs()) out.push_back(spec.doc);
    return out;
  }();
  return keys;
}

Status SetConfigValue(Config& config, std::string_view key, std::string_view value) {
  const KeySpec* spec = FindSpec(key);
  if (spec == nullptr) {
    std::string message = "unknown configuration key \"";
    message += key;
    message += "\" (known keys: ";
    message += KnownKeys("");
    message += ')';
    return Status::InvalidArgument(message);
  }
  return SetFromText(config, *spec, value);
}

Status ApplyConfigToml(Config& config, std::string_view toml_text, std::string_view source_name) {
  const std::string source(source_name);
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    return Status::InvalidInput(source + ":" + std::to_string(e.source().begin.line) + ":" +
                                std::to_string(e.source().begin.column) + ": " +
                                std::string(e.description()));
  }
  auto where = [&source](const toml::node& node) {
    return source + ":" + std::to_string(node.source().begin.line);
  };
  for (const auto& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    const toml::table* table = section_node.as_table();
    if (table == nullptr) {
      return Status::InvalidArgument(where(section_node) + ": unknown key \"" + section +
                                     "\" at the top level (settings go in the sections " +
                                     KnownSections() + ")");
    }
    if (KnownKeys(section).empty()) {
      return Status::InvalidArgument(where(section_node) + ": unknown section [" + section +
                                     "] (known: " + KnownSections() + ")");
    }
    for (const auto& [name_key, node] : *table) {
      std::string key = section;
      key += '.';
      key += name_key.str();
      const KeySpec* spec = FindSpec(key);
      if (spec == nullptr) {
        return Status::InvalidArgument(where(node) + ": unknown key \"" + key + "\" (known in [" +
                                       section + "]: " + KnownKeys(section) + ")");
      }
      Status status = SetFromToml(config, *spec, node);
      if (!status.ok()) return Status(status.code(), where(node) + ": " + status.message());
    }
  }
  return Status::Ok();
}

Result<fs::path> FindConfigFile(const ConfigSources& sources) {
  std::error_code error;
  if (!sources.config_file.empty()) {
    if (!fs::is_regular_file(sources.config_file, error)) {
      return Status::NotFound(
          "config file " + sources.config_file.string() +
          (fs::exists(sources.config_file, error) ? ": not a regular file" : ": no such file"));
    }
    return sources.config_file;
  }
  const fs::path here =
      (sources.working_dir.empty() ? fs::path(".") : sources.working_dir) / "sieve.toml";
  if (fs::is_regular_file(here, error)) return sources.working_dir.empty() ? "sieve.toml" : here;
  fs::path config_home;
  const EnvLookup& env = sources.env ? sources.env : EnvLookup(ProcessEnvironment);
  if (auto xdg = env("XDG_CONFIG_HOME"); xdg && !xdg->empty()) {
    config_home = *xdg;
  } else if (auto home = env("HOME"); home && !home->empty()) {
    config_home = fs::path(*home) / ".config";
  }
  if (!config_home.empty()) {
    fs::path user_file = config_home / "sieve" / "sieve.toml";
    if (fs::is_regular_file(user_file, error)) return user_file;
  }
  return fs::path();
}

Result<Config> LoadConfig(const ConfigSources& sources) {
  Config config;
  SIEVE_ASSIGN_OR_RETURN(config.file, FindConfigFile(sources));
  if (!config.file.empty()) {
    SIEVE_ASSIGN_OR_RETURN(std::string text, ReadFile(config.file, kMaxConfigBytes));
    SIEVE_RETURN_IF_ERROR(ApplyConfigToml(config, text, config.file.string()));
  }
  const EnvLookup& env = sources.env ? sources.env : EnvLookup(ProcessEnvironment);
  for (const KeySpec& spec : Specs()) {
    if (spec.doc.env.empty()) continue;
    std::optional<std::string> value = env(spec.doc.env);
    if (!value || value->empty()) continue;  // unset or empty: the lower layers stand
    Status status = SetFromText(config, spec, *value);
    if (!status.ok()) {
      std::string message = "environment variable ";
      message += spec.doc.env;
      message += ": ";
      message += status.message();
      return Status(status.code(), message);
    }
  }
  for (const auto& [key, value] : sources.overrides) {
    Status status = SetConfigValue(config, key, value);
    if (!status.ok()) return status.WithContext("command line");
  }
  SIEVE_RETURN_IF_ERROR(CheckConsistency(config));
  return config;
}

}  // namespace sieve::config
