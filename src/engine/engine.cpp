// engine: sieve::Engine (include/sieve/sieve.h), the library every front end shares.
//
// Shared across threads: the settings (immutable after Open), the vector store (its own
// reader/writer lock), the model states (immutable weights + a pool of sessions), the pool of
// read connections to SQLite. Per request: one read connection, one session per model, the
// request's context. Writes take the in-process write mutex and the index folder's lock.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/http.h"
#include "engine/session_pool.h"
#include "generation/answer.h"
#include "generation/options.h"
#include "generation/query_rewrite.h"
#include "models/encoder.h"
#include "models/hub.h"
#include "nn/thread_pool.h"
#include "retrieval/dense_index.h"
#include "retrieval/model_loading.h"
#include "retrieval/multi_query.h"
#include "retrieval/pipeline.h"
#include "retrieval/vector_sync.h"
#include "sieve/sieve.h"
#include "store/document_store.h"
#include "store/index_lock.h"
#include "store/ingest.h"
#include "store/vector_store.h"
#include "tokenizer/tokenizer.h"

namespace sieve {

namespace fs = std::filesystem;

namespace {

// sieve::Mode is the public face of retrieval::Mode: same values, same names.
retrieval::Mode ToRetrievalMode(Mode mode) {
  switch (mode) {
    case Mode::kLexical:
      return retrieval::Mode::kLexical;
    case Mode::kDense:
      return retrieval::Mode::kDense;
    case Mode::kHybrid:
      return retrieval::Mode::kHybrid;
  }
  return retrieval::Mode::kHybrid;
}

Mode FromRetrievalMode(retrieval::Mode mode) {
  switch (mode) {
    case retrieval::Mode::kLexical:
      return Mode::kLexical;
    case retrieval::Mode::kDense:
      return Mode::kDense;
    case retrieval::Mode::kHybrid:
      return Mode::kHybrid;
  }
  return Mode::kHybrid;
}

}  // namespace

const char* ModeName(Mode mode) {
  return retrieval::ModeName(ToRetrievalMode(mode));
}

Result<Mode> ParseMode(std::string_view name) {
  SIEVE_ASSIGN_OR_RETURN(retrieval::Mode mode, retrieval::ParseMode(name));
  return FromRetrievalMode(mode);
}

namespace {

retrieval::Filter ToRetrievalFilter(const Filter& filter) {
  retrieval::Filter out;
  out.path_prefix = filter.path_prefix;
  out.types = filter.types;
  out.tags = filter.tags;
  return out;
}

Scores FromStages(const retrieval::StageScores& s) {
  Scores out;
  out.bm25 = s.bm25;
  out.bm25_rank = s.bm25_rank;
  out.cosine = s.cosine;
  out.dense_rank = s.dense_rank;
  out.fused = s.fused;
  out.rerank = s.rerank;
  return out;
}

retrieval::StageScores ToStages(const Scores& s) {
  retrieval::StageScores out;
  out.bm25 = s.bm25;
  out.bm25_rank = s.bm25_rank;
  out.cosine = s.cosine;
  out.dense_rank = s.dense_rank;
  out.fused = s.fused;
  out.rerank = s.rerank;
  return out;
}

Passage FromRanked(const retrieval::RankedChunk& ranked) {
  Passage p;
  p.chunk_id = ranked.chunk.chunk_id;
  p.score = ranked.hit.score;
  p.scores = FromStages(ranked.hit.stages);
  p.doc_key = ranked.chunk.doc_key;
  p.source_path = ranked.chunk.source_path;
  p.title = ranked.chunk.title;
  p.section = ranked.chunk.section;
  p.type = ranked.chunk.type;
  p.page = ranked.chunk.page;
  p.line = ranked.chunk.line;
  p.line_end = ranked.chunk.line_end;
  p.begin = ranked.chunk.begin;
  p.end = ranked.chunk.end;
  p.text = ranked.chunk.text;
  p.also_in = ranked.also_in;
  return p;
}

generation::Passage ToGenerationPassage(const Passage& p) {
  generation::Passage out;
  out.chunk_id = p.chunk_id;
  out.text = p.text;
  out.source_path = p.source_path;
  out.title = p.title;
  out.section = p.section;
  out.page = p.page;
  out.line = p.line;
  out.line_end = p.line_end;
  out.begin = p.begin;
  out.end = p.end;
  out.scores = ToStages(p.scores);
  return out;
}

// SQLite's SQLITE_FULL or ENOSPC from a file write.
bool IsDiskFull(const Status& status) {
  const std::string& m = status.message();
  return m.find("database or disk is full") != std::string::npos ||
         m.find("No space left on device") != std::string::npos ||
         m.find("disk full") != std::string::npos;
}

// Longer questions are cut here (at a UTF-8 boundary), with a note: BM25 over thousands of
// terms and an embedding of a whole document as a "question" cost minutes, not milliseconds.
constexpr std::size_t kMaxQueryBytes = 2048;

std::string TruncateUtf8(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Everything the engine reads from the configuration, resolved once at Open.
struct Settings {
  fs::path index_dir;
  std::string embed_model;  // "" = none named: the index's, else the default
  std::string rerank_model;
  bool rerank_named = false;
  Mode mode = Mode::kHybrid;
  bool mode_named = false;
  std::size_t k = 50;
  std::size_t top_n = 5;
  double rrf_k = 60;
  bool rerank = true;
  store::IngestOptions ingest;
  std::string vector_store_uri;  // "faiss:<dir>" unless index.store says otherwise
  store::FaissIndexOptions vectors;
  store::QdrantOptions qdrant;  // used when vector_store_uri is qdrant:// or qdrants://
  std::size_t threads = 1;      // inference threads (the engine's pool)
  // models.precision; nullopt = the index's vectors' precision for the bi-encoder, else fp32.
  std::optional<models::Precision> precision;
  std::size_t sessions = 1;  // sessions per model: requests that run a model at once
  generation::GenerationOptions generation;
};

// The Qdrant settings; the API key from SIEVE_QDRANT_API_KEY, else the variable api_key_env
// names (QDRANT_API_KEY by default).
store::QdrantOptions QdrantOptionsFromConfig(const config::QdrantConfig& in,
                                             const config::EnvLookup& env) {
  store::QdrantOptions out;
  std::optional<std::string> key = env("SIEVE_QDRANT_API_KEY");
  const std::string key_env = in.api_key_env.value_or(store::kDefaultQdrantApiKeyEnv);
  if ((!key || key->empty()) && !key_env.empty()) key = env(key_env);
  out.api_key = key.value_or("");
  out.timeout_s = in.timeout_s.value_or(out.timeout_s);
  out.retries = in.retries.value_or(out.retries);
  out.batch_size = in.batch_size.value_or(out.batch_size);
  out.shard_number = static_cast<int>(in.shard_number.value_or(0));
  out.replication_factor = static_cast<int>(in.replication_factor.value_or(0));
  out.write_consistency_factor = static_cast<int>(in.write_consistency_factor.value_or(0));
  out.hnsw_config_json = in.hnsw_config.value_or("");
  out.quantization_config_json = in.quantization_config.value_or("");
  return out;
}

Result<Settings> SettingsFromConfig(const config::Config& config) {
  Settings s;
  s.index_dir = config::IndexDir(config);
  if (s.index_dir.empty()) return Status::InvalidArgument("index.dir is empty");
  // Named models must load; unset ones fall back to the index's, then to the defaults.
  s.embed_model = config.models.embed.value_or("");
  s.rerank_model = config.models.rerank.value_or(std::string(retrieval::kDefaultRerankModel));
  s.rerank_named = config.models.rerank.has_value();
  const retrieval::PipelineOptions defaults;
  if (config.retrieval.mode) {
    SIEVE_ASSIGN_OR_RETURN(s.mode, ParseMode(*config.retrieval.mode));
    s.mode_named = true;
  } else {
    s.mode = FromRetrievalMode(defaults.mode);
  }
  s.k = config.retrieval.k.value_or(defaults.k);
  s.top_n = config.retrieval.top_n.value_or(defaults.top_n);
  s.rrf_k = config.retrieval.rrf_k ? static_cast<double>(*config.retrieval.rrf_k) : defaults.rrf_k;
  s.rerank = config.retrieval.rerank.value_or(defaults.rerank);
  if (s.k == 0) return Status::InvalidArgument("retrieval.k must be at least 1");
  if (s.top_n == 0) return Status::InvalidArgument("retrieval.top_n must be at least 1");
  text::ChunkOptions& chunking = s.ingest.chunking;
  chunking.max_tokens = config.chunk.max_tokens.value_or(chunking.max_tokens);
  chunking.overlap_tokens = config.chunk.overlap_tokens.value_or(chunking.overlap_tokens);
  if (chunking.max_tokens == 0 || chunking.overlap_tokens >= chunking.max_tokens) {
    return Status::InvalidArgument("chunk.overlap_tokens (--overlap, " +
                                   std::to_string(chunking.overlap_tokens) +
                                   ") must be smaller than chunk.max_tokens (--max-tokens, " +
                                   std::to_string(chunking.max_tokens) + ")");
  }
  if (config.ingest.max_file_mb) {
    s.ingest.max_file_bytes =
        static_cast<std::uint64_t>(*config.ingest.max_file_mb * 1024.0 * 1024.0);
  }
  s.vector_store_uri = config::VectorStoreUri(config);
  s.vectors.exact_threshold = config::ExactSearchBelow(config);
  const config::IndexConfig& index = config.index;
  if (index.hnsw_m) s.vectors.hnsw_m = static_cast<int>(*index.hnsw_m);
  if (index.hnsw_ef_construction) {
    s.vectors.hnsw_ef_construction = static_cast<int>(*index.hnsw_ef_construction);
  }
  if (index.hnsw_ef_search) s.vectors.hnsw_ef_search = static_cast<int>(*index.hnsw_ef_search);
  s.qdrant = QdrantOptionsFromConfig(config.qdrant, config::ProcessEnvironment);
  s.threads = config::EngineThreads(config);
  if (config.models.precision) {
    SIEVE_ASSIGN_OR_RETURN(s.precision, models::ParsePrecision(*config.models.precision));
  }
  s.sessions = config::EngineSessions(config);
  SIEVE_ASSIGN_OR_RETURN(s.generation, generation::MakeGenerationOptions(config));
  // One connection pool for every request's LLM calls.
  s.generation.http = std::make_shared<const http::Client>();
  return s;
}

// Records each span's timing for the response and hands it on to the caller's tracer.
class TimingTracer : public Tracer {
 public:
  explicit TimingTracer(Tracer* next) : next_(next) {}
  void OnEnd(const SpanData& span) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      timings_.push_back({span.name, span.duration_ms});
    }
    if (next_ != nullptr) next_->OnEnd(span);
  }
  bool records_attributes() const override {
    return next_ != nullptr && next_->records_attributes();
  }
  std::vector<StageTiming> timings() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return timings_;
  }

 private:
  Tracer* next_;
  mutable std::mutex mutex_;
  std::vector<StageTiming> timings_;
};

// Installs a TimingTracer on a context for the life of one engine call.
class TimingScope {
 public:
  explicit TimingScope(RequestContext& ctx) : ctx_(ctx), saved_(ctx.tracer()), tracer_(saved_) {
    ctx_.set_tracer(&tracer_);
  }
  ~TimingScope() { ctx_.set_tracer(saved_); }
  TimingScope(const TimingScope&) = delete;
  TimingScope& operator=(const TimingScope&) = delete;
  std::vector<StageTiming> timings() const { return tracer_.timings(); }

 private:
  RequestContext& ctx_;
  Tracer* saved_;
  TimingTracer tracer_;
};

// A loaded bi-encoder: the identity recorded with vectors, and sessions for requests.
struct EmbedState {
  std::string spec;         // what was asked for
  std::string unavailable;  // non-empty: a default model that is not downloaded
  models::ModelInfo identity;
  std::shared_ptr<const models::EncoderModel> model;  // weights and tokenizer (thread-safe)
  std::unique_ptr<engine::SessionPool<models::Embedder>> sessions;
  bool available() const { return sessions != nullptr; }
};

struct RerankState {
  std::string spec;
  std::string unavailable;
  models::ModelInfo info;
  std::shared_ptr<const models::EncoderModel> model;  // its tokenizer counts pair tokens
  std::unique_ptr<engine::SessionPool<models::CrossEncoder>> sessions;
  bool available() const { return sessions != nullptr; }
};

// A pool whose first session is `first` (already open, handed out once) and whose further
// sessions come from `more` (new sessions on the same shared model: no second copy of weights).
template <typename T>
std::unique_ptr<engine::SessionPool<T>> PoolStartingWith(
    std::unique_ptr<T> first, std::function<Result<std::unique_ptr<T>>()> more,
    std::size_t capacity) {
  auto slot = std::make_shared<std::unique_ptr<T>>(std::move(first));
  auto slot_mutex = std::make_shared<std::mutex>();
  return std::make_unique<engine::SessionPool<T>>(
      [slot, slot_mutex, more = std::move(more)]() -> Result<std::unique_ptr<T>> {
        {
          std::lock_guard<std::mutex> guard(*slot_mutex);
          if (*slot) return std::move(*slot);
        }
        return more();
      },
      capacity);
}

}  // namespace

struct Engine::Impl {
  config::Config config;
  Settings settings;
  EngineOptions options;

  // The inference threads every model session runs its kernels on (settings.threads, the
  // calling thread included). Declared before the models so it outlives their sessions.
  std::unique_ptr<nn::ThreadPool> pool;

  // Read connections to the SQLite store, one per concurrent request.
  engine::SessionPool<store::DocumentStore> readers;

  // Read connections for the vector store's filter resolver.
  engine::SessionPool<store::DocumentStore> filter_readers;

  // Serialises writes inside this process (the folder lock serialises processes).
  std::mutex write_mutex;

  // Lazily opened shared state, replaced (never mutated in place) under state_mutex; requests
  // copy the shared_ptr they need, so a replacement never pulls anything from under them.
  std::mutex state_mutex;
  std::shared_ptr<store::VectorStore> vectors;
  std::shared_ptr<EmbedState> embed;
  std::shared_ptr<RerankState> rerank;

  Impl(config::Config c, Settings s, EngineOptions o)
      : config(std::move(c)),
        settings(std::move(s)),
        options(std::move(o)),
        pool(std::make_unique<nn::ThreadPool>(settings.threads)),
        readers(
            [dir = settings.index_dir]() -> Result<std::unique_ptr<store::DocumentStore>> {
              store::OpenOptions open;
              open.read_only = true;  // never the write lock: a long ingest blocks no reader
              auto opened = store::DocumentStore::Open(dir, open);
              if (!opened.ok()) {
                return opened.status().WithContext("no index at " + dir.string() +
                                                   " (run `sieve ingest` first)");
              }
              return opened;
            },
            std::max<std::size_t>(settings.sessions * 2, 4)),
        filter_readers(
            [dir = settings.index_dir]() -> Result<std::unique_ptr<store::DocumentStore>> {
              store::OpenOptions open;
              open.read_only = true;
              return store::DocumentStore::Open(dir, open);
            },
            std::max<std::size_t>(settings.sessions, 2)) {}

  // `precision`: the models' arithmetic (models.precision when named, see Embedder()).
  models::LoadModelOptions LoadOptions(
      std::optional<models::Precision> precision = std::nullopt) const {
    models::LoadModelOptions load;
    load.precision = precision.value_or(settings.precision.value_or(models::Precision::kFp32));
    load.batch_size = options.batch_size == 0 ? 32 : options.batch_size;
    load.max_length = options.max_length;
    load.pool = pool.get();
    // Truncated inputs are a detail: reported at info level (the CLI shows them with --verbose).
    load.verbose = options.logger.enabled();
    load.logger = Logger(
        [logger = options.logger](LogLevel, std::string_view message) { logger.Info(message); });
    return load;
  }

  models::SessionOptions SessionOptionsFor() const {
    const models::LoadModelOptions load = LoadOptions();
    models::SessionOptions session;
    session.pool = load.pool;
    session.batch_size = load.batch_size;
    session.max_batch_tokens = options.max_batch_tokens;
    session.max_length = load.max_length;
    if (load.verbose) session.logger = load.logger;
    return session;
  }

  // The vector store as it is on disk now. Filters are resolved through a read connection of
  // the pool, so the store can be searched from any thread. Bound to sieve.db (vectors of
  // another database are never used): through `writer` when given (its Flush raises the
  // database's generation), else through a read connection (never writes).
  Result<std::shared_ptr<store::VectorStore>> OpenVectors(
      std::shared_ptr<store::DocumentStore*> writer = nullptr) {
    std::error_code ec;
    if (!fs::is_directory(settings.index_dir, ec)) {
      return Status::NotFound("no index at " + settings.index_dir.string() +
                              " (run `sieve ingest` first)");
    }
    store::VectorStoreOptions open;
    open.faiss = settings.vectors;
    open.qdrant = settings.qdrant;
    open.resolve_filter = [this](const store::Filter& filter) -> Result<std::vector<std::int64_t>> {
      RequestContext ctx;
      // A pool of its own: a search that already holds a read connection must not wait for
      // another from the same pool (eight such searches would deadlock a pool of four).
      SIEVE_ASSIGN_OR_RETURN(auto reader, filter_readers.Acquire(ctx));
      return reader->ListChunkIds(filter);
    };
    if (writer != nullptr) {
      // The store outlives the write (it is published to readers), the writer's connection
      // does not: the write clears `writer` when it ends, and readers never Flush.
      auto gone = [] { return Status::Internal("vector store: its write has ended"); };
      open.binding.current = [writer, gone]() -> Result<store::IndexIdentity> {
        if (*writer == nullptr) return gone();
        return (*writer)->Identity();
      };
      open.binding.advance = [writer, gone]() -> Result<store::IndexIdentity> {
        if (*writer == nullptr) return gone();
        return (*writer)->AdvanceGeneration();
      };
    } else {
      open.binding.current = [this]() -> Result<store::IndexIdentity> {
        RequestContext ctx;
        SIEVE_ASSIGN_OR_RETURN(auto reader, filter_readers.Acquire(ctx));
        return reader->Identity();
      };
    }
    SIEVE_ASSIGN_OR_RETURN(auto opened, store::OpenVectorStore(settings.vector_store_uri, open));
    if (!opened->damage().empty()) options.logger.Warning("vector index: " + opened->damage());
    return std::shared_ptr<store::VectorStore>(std::move(opened));
  }

  // The shared vector store (opened once; replaced by writes, never written by readers).
  Result<std::shared_ptr<store::VectorStore>> Vectors() {
    std::lock_guard<std::mutex> lock(state_mutex);
    if (vectors) return vectors;
    // Opening the index: what a killed save left is removed when no writer is at work (the lock
    // is taken only if free, and let go at once).
    if (auto idle = store::IndexWriteLock::TryAcquireIfIdle(settings.index_dir)) {
      store::RemoveStaleTemporaries(settings.vector_store_uri, *idle);
    }
    SIEVE_ASSIGN_OR_RETURN(vectors, OpenVectors());
    return vectors;
  }

  // Takes the index folder's writer lock (other processes); callers hold the write mutex. Then
  // removes the temporary files of a killed save: with the lock held none is being written.
  Result<store::IndexWriteLock> LockForWriting() {
    SIEVE_ASSIGN_OR_RETURN(
        auto lock, store::IndexWriteLock::Acquire(settings.index_dir, options.write_lock_wait));
    store::RemoveStaleTemporaries(settings.vector_store_uri, lock);
    return lock;
  }

  // The bi-encoder: the one configured, else the one that made the index's vectors, else the
  // default (which may be unavailable offline; a named one must load).
  Result<std::shared_ptr<EmbedState>> Embedder(const store::VectorStore* index_vectors) {
    std::lock_guard<std::mutex> lock(state_mutex);
    if (embed) return embed;
    retrieval::ModelRequest request;
    if (index_vectors != nullptr) {
      request = retrieval::ChooseEmbedModel(settings.embed_model, index_vectors->model());
    } else if (!settings.embed_model.empty()) {
      request = {settings.embed_model, true};
    } else {
      request = {std::string(retrieval::kDefaultEmbedModel), false};
    }
    // Unless named, the precision is the one the index's vectors were made at.
    std::optional<models::Precision> precision = settings.precision;
    if (!precision && index_vectors != nullptr) {
      if (const auto recorded = index_vectors->model()) {
        if (auto parsed = models::ParsePrecision(recorded->precision); parsed.ok()) {
          precision = *parsed;
        }
      }
    }
    SIEVE_ASSIGN_OR_RETURN(auto loaded,
                           retrieval::LoadEmbedderModel(request, LoadOptions(precision)));
    SIEVE_ASSIGN_OR_RETURN(auto state, MakeEmbedState(request.spec, std::move(loaded)));
    embed = state;
    return embed;
  }

  // Shares one loaded bi-encoder among requests: its first session, then more as needed.
  Result<std::shared_ptr<EmbedState>> MakeEmbedState(const std::string& spec,
                                                     retrieval::LoadedEmbedder loaded) {
    auto state = std::make_shared<EmbedState>();
    state->spec = spec;
    if (!loaded.model) {
      state->unavailable = loaded.unavailable;
      return state;
    }
    state->identity = loaded.identity;
    std::shared_ptr<const models::EncoderModel> model = loaded.model->shared_model();
    if (!model) return Status::Internal("the bi-encoder of " + spec + " has no shared model");
    state->model = model;
    state->sessions = PoolStartingWith<models::Embedder>(
        std::move(loaded.model),
        [model, session = SessionOptionsFor()] {
          return models::NewEmbedderSession(model, session);
        },
        settings.sessions);
    return state;
  }

  Result<std::shared_ptr<RerankState>> Reranker() {
    std::lock_guard<std::mutex> lock(state_mutex);
    if (rerank) return rerank;
    retrieval::ModelRequest request{settings.rerank_model, settings.rerank_named};
    auto state = std::make_shared<RerankState>();
    state->spec = request.spec;
    SIEVE_ASSIGN_OR_RETURN(auto loaded, retrieval::LoadCrossEncoderModel(request, LoadOptions()));
    if (!loaded.model) {
      state->unavailable = loaded.unavailable;
    } else {
      state->info = loaded.model->info();
      std::shared_ptr<const models::EncoderModel> model = loaded.model->shared_model();
      if (!model) return Status::Internal("the cross-encoder of " + request.spec + " has no model");
      state->model = model;
      state->sessions = PoolStartingWith<models::CrossEncoder>(
          std::move(loaded.model),
          [model, session = SessionOptionsFor()] {
            return models::NewCrossEncoderSession(model, session);
          },
          settings.sessions);
    }
    rerank = state;
    return rerank;
  }

  struct SyncOutcome {
    std::string model;  // the model that embedded ("" when none was available)
    std::size_t embedded = 0;
    std::size_t removed = 0;
    std::string unavailable;  // a note when chunks were left without vectors
  };
  Result<std::unique_ptr<store::DocumentStore>> OpenWriter(bool create);
  // An available bi-encoder for requests that need no index, else kNotFound.
  Result<std::shared_ptr<EmbedState>> AvailableEmbedder();
  // Makes `fresh` the vector store later requests search.
  void Publish(std::shared_ptr<store::VectorStore> fresh) {
    std::lock_guard<std::mutex> lock(state_mutex);
    vectors = std::move(fresh);
  }
  // Write: embeds every chunk without a vector and drops vectors of chunks that are gone.
  Result<SyncOutcome> SyncVectors(store::DocumentStore& writer, store::VectorStore& index_vectors,
                                  RequestContext& ctx,
                                  const std::function<void(std::size_t, std::size_t)>& progress);

  Result<SearchResponse> Retrieve(
      const SearchRequest& request, RequestContext& ctx, bool for_answer,
      engine::SessionPool<models::CrossEncoder>::Lease* keep_reranker,
      std::shared_ptr<RerankState>* keep_rerank_state,
      engine::SessionPool<store::DocumentStore>::Lease* keep_reader = nullptr);
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Open(const config::Config& config,
                                             const EngineOptions& options) {
  SIEVE_ASSIGN_OR_RETURN(Settings settings, SettingsFromConfig(config));
  return std::unique_ptr<Engine>(
      new Engine(std::make_unique<Impl>(config, std::move(settings), options)));
}

const config::Config& Engine::config() const {
  return impl_->config;
}

Result<SearchResponse> Engine::Impl::Retrieve(
    const SearchRequest& request, RequestContext& ctx, bool for_answer,
    engine::SessionPool<models::CrossEncoder>::Lease* keep_reranker,
    std::shared_ptr<RerankState>* keep_rerank_state,
    engine::SessionPool<store::DocumentStore>::Lease* keep_reader) {
  if (request.query.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Status::InvalidArgument(for_answer ? "empty question" : "empty query");
  }
  SearchResponse response;
  response.query = request.query;
  const std::string query = TruncateUtf8(request.query, kMaxQueryBytes);
  if (query.size() < request.query.size()) {
    response.notes.push_back("the query was cut to its first " + std::to_string(query.size()) +
                             " bytes (of " + std::to_string(request.query.size()) + ")");
  }
  Mode mode = request.mode.value_or(settings.mode);
  const bool mode_named = request.mode.has_value() || settings.mode_named;
  bool rerank = request.rerank.value_or(settings.rerank);
  const std::size_t k = request.k.value_or(settings.k);
  const std::size_t top_n = request.top_n.value_or(settings.top_n);
  if (k == 0) return Status::InvalidArgument("k must be at least 1");
  if (top_n == 0) return Status::InvalidArgument("top_n must be at least 1");

  SIEVE_ASSIGN_OR_RETURN(auto reader, readers.Acquire(ctx));
  SIEVE_RETURN_IF_ERROR(ctx.Check());
  // Every read of this request sees one snapshot of the database (ended before the connection
  // goes back to the pool).
  SIEVE_ASSIGN_OR_RETURN(auto snapshot, reader->BeginReadSnapshot());

  std::vector<std::string> missing_defaults;
  std::shared_ptr<store::VectorStore> index_vectors;
  std::shared_ptr<EmbedState> embed_state;
  engine::SessionPool<models::Embedder>::Lease embedder;
  if (mode != Mode::kLexical) {
    SIEVE_ASSIGN_OR_RETURN(index_vectors, Vectors());
    SIEVE_ASSIGN_OR_RETURN(embed_state, Embedder(index_vectors.get()));
    if (!embed_state->available()) {
      if (mode_named) {
        return Status::NotFound(std::string(ModeName(mode)) +
                                " retrieval needs an embedding model: " + embed_state->unavailable);
      }
      missing_defaults.push_back(embed_state->spec);
      mode = Mode::kLexical;
    } else {
      // Vectors made by another model are never searched with this one.
      const auto recorded = index_vectors->model();
      if (recorded && !store::SameEmbeddingModel(*recorded, embed_state->identity)) {
        SIEVE_RETURN_IF_ERROR(index_vectors->BindModel(embed_state->identity));
      }
      SIEVE_ASSIGN_OR_RETURN(embedder, embed_state->sessions->Acquire(ctx));
      auto staleness = retrieval::CheckVectors(*reader, *index_vectors);
      if (staleness.ok() && staleness->missing > 0) {
        response.notes.push_back(std::to_string(staleness->missing) +
                                 " chunks have no vector yet, so dense retrieval cannot find "
                                 "them (`sieve ingest` embeds them)");
      }
    }
  }
  std::shared_ptr<RerankState> rerank_state;
  engine::SessionPool<models::CrossEncoder>::Lease cross_encoder;
  const bool rerank_asked = rerank;
  if (rerank) {
    SIEVE_ASSIGN_OR_RETURN(rerank_state, Reranker());
    if (!rerank_state->available()) {
      missing_defaults.push_back(rerank_state->spec);
      rerank = false;
    } else {
      SIEVE_ASSIGN_OR_RETURN(cross_encoder, rerank_state->sessions->Acquire(ctx));
    }
  }
  if (!missing_defaults.empty()) {
    std::string fallback = "using ";
    fallback += mode == Mode::kLexical && !embed_state ? "lexical retrieval only"
                : mode == Mode::kLexical               ? "lexical retrieval only"
                                                       : ModeName(mode) + std::string(" retrieval");
    if (rerank_asked && !rerank) {
      fallback += ", no reranking";
      if (for_answer && settings.generation.llm.base_url.empty()) {
        fallback += ", extractive answers scored lexically";
      }
    }
    response.notes.push_back(retrieval::MissingModelsNote(missing_defaults, fallback));
  }

  // Multi-query retrieval: alternative phrasings from the LLM, fused by RRF.
  std::vector<std::string> queries{query};
  if (request.expand_queries.value_or(0) > 0) {
    if (settings.generation.llm.base_url.empty()) {
      response.notes.push_back(
          "query expansion needs an LLM ([llm] in the configuration); "
          "retrieved with the query alone");
    } else {
      const generation::LlmClient client(settings.generation.llm, settings.generation.http);
      auto more = generation::ExpandQuery(client, query, *request.expand_queries, &ctx);
      if (more.ok()) {
        queries.insert(queries.end(), more->begin(), more->end());
      } else {
        SIEVE_RETURN_IF_ERROR(ctx.Check());
        response.notes.push_back("query expansion failed (" + more.status().ToString() +
                                 "); retrieved with the query alone");
      }
    }
  }

  retrieval::PipelineOptions options;
  options.mode = ToRetrievalMode(mode);
  options.k = k;
  options.top_n = top_n;
  options.rerank = rerank;
  options.rerank_depth = request.rerank_depth.value_or(0);
  options.rrf_k = settings.rrf_k;
  options.filter = ToRetrievalFilter(request.filter);
  const bool multi_query = queries.size() > 1;
  if (multi_query) {  // each query's list unreranked and k deep; rerank after fusion
    options.rerank = false;
    options.top_n = k;
  }
  SIEVE_ASSIGN_OR_RETURN(auto pipeline, retrieval::Pipeline::Create(
                                            *reader, index_vectors.get(), embedder.get(),
                                            multi_query ? nullptr : cross_encoder.get(), options));
  Span span = ctx.StartSpan("retrieve", SpanKind::kChain);
  if (ctx.recording()) {
    span.SetAttribute("retrieval.mode", std::string(ModeName(mode)));
    span.SetAttribute("retrieval.k", static_cast<std::int64_t>(k));
    span.SetAttribute("retrieval.top_n", static_cast<std::int64_t>(top_n));
    span.SetAttribute("retrieval.rerank", rerank);
  }
  Result<std::vector<retrieval::RankedChunk>> ranked = std::vector<retrieval::RankedChunk>{};
  if (multi_query) {
    span.SetAttribute("queries", queries);
    std::optional<retrieval::Reranker> reranker;
    if (rerank) reranker.emplace(*cross_encoder);
    retrieval::MultiQueryOptions multi;
    multi.k = k;
    multi.top_n = top_n;
    multi.rerank_depth = request.rerank_depth.value_or(0);
    multi.rrf_k = settings.rrf_k;
    ranked = retrieval::RunMultiQuery(*pipeline, reranker ? &*reranker : nullptr, queries, multi);
  } else {
    ranked = pipeline->Run(query, &ctx);
  }
  span.End(ranked.status());
  if (!ranked.ok()) return ranked.status();
  SIEVE_RETURN_IF_ERROR(ctx.Check());
  response.passages.reserve(ranked->size());
  for (const auto& r : *ranked) response.passages.push_back(FromRanked(r));
  response.retrieval.mode = mode;
  response.retrieval.reranked = rerank;
  response.retrieval.k = k;
  response.retrieval.top_n = top_n;
  response.retrieval.rrf_k = settings.rrf_k;
  response.retrieval.queries = std::move(queries);
  if (mode != Mode::kLexical && embed_state) {
    response.retrieval.embed_model = store::DescribeModel(embed_state->identity);
  }
  if (rerank && rerank_state) response.retrieval.rerank_model = rerank_state->spec;
  if (keep_reranker != nullptr) *keep_reranker = std::move(cross_encoder);
  if (keep_rerank_state != nullptr) *keep_rerank_state = rerank_state;
  // The snapshot ends when this function returns; the connection stays leased to the caller.
  if (keep_reader != nullptr) *keep_reader = std::move(reader);
  return response;
}

namespace {

// The OpenInference input of a request's root span (and its chat session, if any).
void SetRootInput(Span& root, const SearchRequest& request, const RequestContext& ctx) {
  if (!ctx.recording()) return;
  root.SetAttribute("input.value", request.query);
  root.SetAttribute("input.mime_type", std::string("text/plain"));
  if (!request.session_id.empty()) root.SetAttribute("session.id", request.session_id);
}

}  // namespace

Result<SearchResponse> Engine::Search(const SearchRequest& request, RequestContext& ctx) {
  TimingScope timing(ctx);
  Span root = ctx.StartSpan("search", SpanKind::kChain);
  SetRootInput(root, request, ctx);
  auto response = impl_->Retrieve(request, ctx, false, nullptr, nullptr);
  if (response.ok() && ctx.recording()) {
    nlohmann::json out = nlohmann::json::array();
    for (const Passage& p : response->passages) {
      out.push_back({{"chunk_id", p.chunk_id}, {"doc_key", p.doc_key}, {"score", p.score}});
    }
    root.SetAttribute("output.value",
                      out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    root.SetAttribute("output.mime_type", std::string("application/json"));
  }
  root.End(response.status());
  if (!response.ok()) return response.status();
  response->timings = timing.timings();
  return response;
}

Result<AskResponse> Engine::Ask(const AskRequest& request, RequestContext& ctx) {
  TimingScope timing(ctx);
  Span root = ctx.StartSpan("ask", SpanKind::kChain);
  SetRootInput(root, request, ctx);
  // The cross-encoder also scores sentences for an extractive answer: keep its session.
  std::shared_ptr<RerankState> rerank_state;
  engine::SessionPool<models::CrossEncoder>::Lease cross_encoder;
  // A follow-up question of a chat is condensed into a standalone one, which is retrieved with
  // and answered.
  SearchRequest search = request;
  std::vector<std::string> condense_notes;
  const bool has_turns = std::any_of(
      request.history.begin(), request.history.end(),
      [](const ChatTurn& turn) { return turn.role == "user" || turn.role == "assistant"; });
  if (has_turns && request.condense_history.value_or(true)) {
    const generation::LlmOptions& llm = impl_->settings.generation.llm;
    if (llm.base_url.empty()) {
      condense_notes.push_back(
          "condensing the chat history needs an LLM ([llm] in the "
          "configuration); the question was used as is");
    } else {
      std::vector<generation::ChatMessage> history;
      history.reserve(request.history.size());
      for (const auto& turn : request.history) history.push_back({turn.role, turn.content});
      const generation::LlmClient client(llm, impl_->settings.generation.http);
      auto condensed = generation::CondenseQuestion(client, history, request.query, &ctx);
      if (condensed.ok()) {
        search.query = std::move(*condensed);
      } else {
        Status stopped = ctx.Check();
        if (!stopped.ok()) {
          root.End(stopped);
          return stopped;
        }
        condense_notes.push_back("condensing the chat history failed (" +
                                 condensed.status().ToString() + "); the question was used as is");
      }
    }
  }
  // The reader Retrieve used stays leased for the answer's IDF lookups: leases are taken in one
  // order (reader, embedder, cross-encoder) and never again after, or 8 threads can deadlock.
  engine::SessionPool<store::DocumentStore>::Lease idf_reader;
  auto retrieved = impl_->Retrieve(search, ctx, true, &cross_encoder, &rerank_state, &idf_reader);
  if (!retrieved.ok()) {
    root.End(retrieved.status());
    return retrieved.status();
  }
  std::vector<generation::Passage> passages;
  passages.reserve(retrieved->passages.size());
  for (const auto& p : retrieved->passages) passages.push_back(ToGenerationPassage(p));

  AskResponse response;
  response.question = request.query;
  response.passages = std::move(retrieved->passages);
  response.retrieval = retrieved->retrieval;
  response.notes = std::move(condense_notes);
  for (auto& note : retrieved->notes) response.notes.push_back(std::move(note));

  generation::TokenCallback on_token;
  bool streamed = false;
  if (request.on_token) {
    on_token = [&streamed, &request](std::string_view piece) {
      streamed = true;
      request.on_token(piece);
    };
  }
  // A CHAIN: an LLM answer opens its own LLM span inside (generation::LlmClient), an extractive
  // one does not.
  Span generate = ctx.StartSpan("generate", SpanKind::kChain);
  // Lexical sentence scoring uses the index's idf (rare question words weigh more).
  generation::GenerationOptions generation_options = impl_->settings.generation;
  if (idf_reader.get() != nullptr) {
    generation_options.term_idf = [&idf_reader](std::string_view word) -> std::optional<double> {
      auto idf = idf_reader->TermIdf(word);
      return idf.ok() ? *idf : std::nullopt;
    };
  }
  auto answer = generation::GenerateAnswer(TruncateUtf8(search.query, kMaxQueryBytes), passages,
                                           generation_options, cross_encoder.get(), on_token, &ctx);
  if (answer.ok()) generate.SetAttribute("answer.extractive", answer->extractive);
  generate.End(answer.status());
  if (!answer.ok()) {
    root.End(answer.status());
    return answer.status();
  }
  response.answer = answer->text;
  response.extractive = answer->extractive;
  response.model = answer->model;
  response.streamed = streamed;
  response.usage = {answer->usage.prompt_tokens, answer->usage.completion_tokens,
                    answer->usage.total_tokens};
  for (const auto& note : answer->notes) response.notes.push_back(note);
  for (const auto& c : answer->citations) {
    // A citation's rank is the cited passage's position in the passages the answer was made from.
    if (c.rank >= 1 && c.rank <= response.passages.size()) {
      response.citations.push_back({c.number, c.rank, response.passages[c.rank - 1]});
    }
  }
  root.SetAttribute("output.value", response.answer);
  root.SetAttribute("output.mime_type", std::string("text/plain"));
  root.End();
  response.timings = timing.timings();
  return response;
}

// The bi-encoder requests without an index use: the configured one, else the index's (when there
// is an index with vectors), else the default.
Result<std::shared_ptr<EmbedState>> Engine::Impl::AvailableEmbedder() {
  std::shared_ptr<store::VectorStore> index_vectors;
  std::error_code ec;
  if (settings.embed_model.empty() && fs::is_directory(settings.index_dir, ec)) {
    auto opened = Vectors();
    if (opened.ok()) index_vectors = *opened;
  }
  SIEVE_ASSIGN_OR_RETURN(auto state, Embedder(index_vectors.get()));
  if (!state->available()) {
    return Status::NotFound("embedding model " + state->spec + ": " + state->unavailable);
  }
  return state;
}

Result<EmbedResponse> Engine::Embed(const EmbedRequest& request, RequestContext& ctx) {
  TimingScope timing(ctx);
  Span span = ctx.StartSpan("embed", SpanKind::kEmbedding);
  SIEVE_ASSIGN_OR_RETURN(auto state, impl_->AvailableEmbedder());
  SIEVE_ASSIGN_OR_RETURN(auto session, state->sessions->Acquire(ctx));
  SIEVE_RETURN_IF_ERROR(ctx.Check());
  EmbedResponse response;
  SIEVE_ASSIGN_OR_RETURN(response.vectors, session->Embed(request.texts, request.is_query));
  response.model = session->info().id;
  response.description = store::DescribeModel(state->identity);
  response.dimension = session->info().dimension;
  response.pooling = session->info().pooling;
  response.normalized = session->info().normalize;
  for (const auto& text : request.texts) response.tokens += session->CountTokens(text);
  span.SetAttribute("embedding.model_name", state->spec);
  if (ctx.recording()) {
    for (std::size_t i = 0; i < request.texts.size(); ++i) {
      span.SetAttribute("embedding.embeddings." + std::to_string(i) + ".embedding.text",
                        request.texts[i]);
    }
  }
  return response;
}

Result<RerankResponse> Engine::Rerank(const RerankRequest& request, RequestContext& ctx) {
  TimingScope timing(ctx);
  Span span = ctx.StartSpan("rerank", SpanKind::kReranker);
  SIEVE_ASSIGN_OR_RETURN(auto state, impl_->Reranker());
  if (!state->available()) {
    return Status::NotFound("rerank model " + state->spec + ": " + state->unavailable);
  }
  SIEVE_ASSIGN_OR_RETURN(auto session, state->sessions->Acquire(ctx));
  SIEVE_RETURN_IF_ERROR(ctx.Check());
  SIEVE_ASSIGN_OR_RETURN(auto scores, session->Score(request.query, request.documents));
  RerankResponse response;
  response.model = state->info.id;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    response.results.push_back({i, scores[i].score, scores[i].logit});
    response.tokens += state->model->CountPairTokens(request.query, request.documents[i]);
  }
  RankRerankResults(response.results, request.top_n);
  span.SetAttribute("reranker.model_name", state->spec);
  if (ctx.recording()) {
    span.SetAttribute("reranker.query", request.query);
    span.SetAttribute("reranker.top_k", static_cast<std::int64_t>(request.top_n));
    for (std::size_t i = 0; i < request.documents.size(); ++i) {
      const std::string prefix = "reranker.input_documents." + std::to_string(i) + ".document.";
      span.SetAttribute(prefix + "id", std::to_string(i));
      span.SetAttribute(prefix + "content", request.documents[i]);
    }
    for (std::size_t i = 0; i < response.results.size(); ++i) {
      const RerankResult& r = response.results[i];
      const std::string prefix = "reranker.output_documents." + std::to_string(i) + ".document.";
      span.SetAttribute(prefix + "id", std::to_string(r.index));
      span.SetAttribute(prefix + "content", request.documents[r.index]);
      span.SetAttribute(prefix + "score", r.score);
    }
  }
  return response;
}

void RankRerankResults(std::vector<RerankResult>& results, std::size_t top_n) {
  std::stable_sort(results.begin(), results.end(),
                   [](const RerankResult& a, const RerankResult& b) {
                     return a.score > b.score || (a.score == b.score && a.index < b.index);
                   });
  if (top_n > 0 && results.size() > top_n) results.resize(top_n);
}

Result<ScorePairsResponse> Engine::ScorePairs(std::span<const RerankPair> pairs,
                                              RequestContext& ctx) {
  Span span = ctx.StartSpan("rerank", SpanKind::kReranker);
  span.SetAttribute("sieve.pairs", static_cast<std::int64_t>(pairs.size()));
  SIEVE_ASSIGN_OR_RETURN(auto state, impl_->Reranker());
  if (!state->available()) {
    return Status::NotFound("rerank model " + state->spec + ": " + state->unavailable);
  }
  span.SetAttribute("reranker.model_name", state->spec);
  SIEVE_ASSIGN_OR_RETURN(auto session, state->sessions->Acquire(ctx));
  SIEVE_RETURN_IF_ERROR(ctx.Check());
  std::vector<models::ScorePair> model_pairs;
  model_pairs.reserve(pairs.size());
  for (const RerankPair& pair : pairs) model_pairs.push_back({pair.query, pair.document});
  SIEVE_ASSIGN_OR_RETURN(auto scores, session->ScorePairs(model_pairs));
  if (scores.size() != pairs.size()) {
    return Status::Internal("the cross-encoder gave " + std::to_string(scores.size()) +
                            " scores for " + std::to_string(pairs.size()) + " pairs");
  }
  ScorePairsResponse response;
  response.model = state->info.id;
  response.scores.reserve(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i) {
    response.scores.push_back({i, scores[i].score, scores[i].logit});
  }
  return response;
}

Result<std::vector<std::size_t>> Engine::CountRerankTokens(const RerankRequest& request,
                                                           RequestContext& ctx) {
  SIEVE_RETURN_IF_ERROR(ctx.Check());
  SIEVE_ASSIGN_OR_RETURN(auto state, impl_->Reranker());
  if (!state->available()) {
    return Status::NotFound("rerank model " + state->spec + ": " + state->unavailable);
  }
  std::vector<std::size_t> tokens;
  tokens.reserve(request.documents.size());
  for (const std::string& document : request.documents) {
    tokens.push_back(state->model->CountPairTokens(request.query, document));
  }
  return tokens;
}

Result<ModelsResponse> Engine::LoadModels(bool embed, bool rerank, RequestContext& ctx) {
  SIEVE_RETURN_IF_ERROR(ctx.Check());
  ModelsResponse response;
  if (embed) {
    std::shared_ptr<store::VectorStore> index_vectors;
    std::error_code ec;
    if (fs::is_directory(impl_->settings.index_dir, ec)) {
      SIEVE_ASSIGN_OR_RETURN(index_vectors, impl_->Vectors());
    }
    SIEVE_ASSIGN_OR_RETURN(auto state, impl_->Embedder(index_vectors.get()));
    response.embed.spec = state->spec;
    response.embed.available = state->available();
    response.embed.unavailable = state->unavailable;
    if (state->available()) response.embed.description = store::DescribeModel(state->identity);
  }
  if (rerank) {
    SIEVE_ASSIGN_OR_RETURN(auto state, impl_->Reranker());
    response.rerank.spec = state->spec;
    response.rerank.available = state->available();
    response.rerank.unavailable = state->unavailable;
    if (state->available()) response.rerank.description = state->spec;
  }
  return response;
}

Result<StatsResponse> Engine::Stats(RequestContext& ctx) {
  SIEVE_ASSIGN_OR_RETURN(auto reader, impl_->readers.Acquire(ctx));
  SIEVE_ASSIGN_OR_RETURN(auto stats, [&]() -> Result<store::StoreStats> {
    SIEVE_ASSIGN_OR_RETURN(auto snapshot, reader->BeginReadSnapshot());
    return reader->Stats();
  }());
  StatsResponse response;
  response.index_dir = impl_->settings.index_dir.string();
  response.database = reader->database_path().string();
  response.documents = stats.documents;
  response.chunks = stats.chunks;
  response.bytes = stats.bytes;
  response.database_bytes = stats.database_bytes;
  response.documents_by_type = stats.documents_by_type;
  response.documents_by_tag = stats.documents_by_tag;
  auto vectors = impl_->Vectors();
  if (vectors.ok()) {
    auto size = (*vectors)->size();
    if (size.ok()) response.vectors = *size;
    if (auto model = (*vectors)->model()) response.vector_model = store::DescribeModel(*model);
  }
  // The vector index's files: everything in the folder that is not the database or a lock.
  std::error_code ec;
  for (fs::directory_iterator it(impl_->settings.index_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(store::kDatabaseFileName) || name.find("lock") != std::string::npos) {
      continue;
    }
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) response.vector_bytes += size;
    }
  }
  return response;
}

namespace {

DocumentSummary ToSummary(const store::DocumentInfo& info) {
  DocumentSummary out;
  out.id = info.doc_id;
  out.key = info.key;
  out.source_path = info.source_path;
  out.type = info.type;
  out.title = info.title;
  out.bytes = info.bytes;
  out.tags = info.tags;
  out.ingested_at = info.ingested_at;
  out.chunks = info.chunk_count;
  return out;
}

}  // namespace

Result<ListDocumentsResponse> Engine::ListDocuments(const ListDocumentsRequest& request,
                                                    RequestContext& ctx) {
  SIEVE_ASSIGN_OR_RETURN(auto reader, impl_->readers.Acquire(ctx));
  SIEVE_RETURN_IF_ERROR(ctx.Check());
  SIEVE_ASSIGN_OR_RETURN(auto all, reader->ListDocuments());
  std::sort(all.begin(), all.end(), [](const store::DocumentInfo& a, const store::DocumentInfo& b) {
    return a.key < b.key;
  });
  if (!request.path_prefix.empty() || !request.tags.empty()) {
    std::erase_if(all, [&](const store::DocumentInfo& info) {
      if (!info.source_path.starts_with(request.path_prefix)) return true;
      return !std::all_of(request.tags.begin(), request.tags.end(), [&](const std::string& tag) {
        return std::find(info.tags.begin(), info.tags.end(), tag) != info.tags.end();
      });
    });
  }
  ListDocumentsResponse response;
  response.total = all.size();
  const std::size_t begin = std::min(request.offset, all.size());
  const std::size_t end =
      request.limit == 0 ? all.size() : std::min(all.size(), begin + request.limit);
  for (std::size_t i = begin; i < end; ++i) response.documents.push_back(ToSummary(all[i]));
  return response;
}

Result<DocumentSummary> Engine::GetDocument(std::int64_t id, RequestContext& ctx) {
  SIEVE_ASSIGN_OR_RETURN(auto reader, impl_->readers.Acquire(ctx));
  SIEVE_RETURN_IF_ERROR(ctx.Check());
  SIEVE_ASSIGN_OR_RETURN(auto all, reader->ListDocuments());
  for (const auto& info : all) {
    if (info.doc_id == id) return ToSummary(info);
  }
  return Status::NotFound("no document with id " + std::to_string(id));
}

Result<DocumentDetail> Engine::ShowDocument(const std::string& document, RequestContext& ctx) {
  SIEVE_ASSIGN_OR_RETURN(auto reader, impl_->readers.Acquire(ctx));
  SIEVE_RETURN_IF_ERROR(ctx.Check());
  SIEVE_ASSIGN_OR_RETURN(auto snapshot, reader->BeginReadSnapshot());
  SIEVE_ASSIGN_OR_RETURN(auto all, reader->ListDocuments());
  const std::string as_path = store::DocumentKeyForPath(document);
  const store::DocumentInfo* found = nullptr;
  for (const auto& info : all) {
    if (info.key == document || info.key == as_path || std::to_string(info.doc_id) == document) {
      found = &info;
      if (info.key == document || info.key == as_path) break;
    }
  }
  if (found == nullptr) return Status::NotFound(document + ": no such document in the index");
  DocumentDetail detail;
  detail.document = ToSummary(*found);
  store::ChunkFilter filter;
  filter.path_prefix = found->source_path;
  SIEVE_ASSIGN_OR_RETURN(auto ids, reader->ListChunkIds(filter));
  SIEVE_ASSIGN_OR_RETURN(auto chunks, reader->GetChunks(ids));
  for (auto& chunk : chunks) {
    if (chunk.doc_id != found->doc_id) continue;
    detail.chunks.push_back({chunk.chunk_id, chunk.ordinal, chunk.begin, chunk.end,
                             std::move(chunk.section), chunk.page, chunk.line, chunk.line_end,
                             std::move(chunk.text)});
  }
  std::sort(detail.chunks.begin(), detail.chunks.end(),
            [](const DocumentChunk& a, const DocumentChunk& b) { return a.ordinal < b.ordinal; });
  return detail;
}

Result<TokenizeResponse> Engine::Tokenize(const TokenizeRequest& request, RequestContext& ctx) {
  SIEVE_RETURN_IF_ERROR(ctx.Check());
  SIEVE_ASSIGN_OR_RETURN(auto state, impl_->AvailableEmbedder());
  TokenizeResponse response;
  response.model = state->identity.id;
  response.max_length = state->identity.max_seq_length;
  if (impl_->options.max_length > 0) {
    response.max_length = std::min(response.max_length, impl_->options.max_length);
  }
  tokenizer::EncodeOptions encode;
  encode.add_special_tokens = request.add_special_tokens;
  response.texts.reserve(request.texts.size());
  for (const auto& text : request.texts) {
    tokenizer::Encoding encoding = state->model->tokenizer().Encode(text, encode);
    TokenizedText out;
    out.tokens.reserve(encoding.input_ids.size());
    for (std::int32_t id : encoding.input_ids)
      out.tokens.push_back(state->model->tokenizer().IdToToken(id));
    out.ids = std::move(encoding.input_ids);
    response.texts.push_back(std::move(out));
  }
  return response;
}

// ---- writes ----

namespace {

// Keys a delete target names: the key itself, the document of that file, or every record of that
// BEIR file.
Result<std::vector<std::string>> ResolveTargets(store::DocumentStore& index,
                                                const std::string& target) {
  SIEVE_ASSIGN_OR_RETURN(auto as_key, index.FindDocument(target));
  if (as_key) return std::vector<std::string>{target};
  std::string path_key = store::DocumentKeyForPath(target);
  SIEVE_ASSIGN_OR_RETURN(auto as_path, index.FindDocument(path_key));
  if (as_path) return std::vector<std::string>{path_key};
  SIEVE_ASSIGN_OR_RETURN(auto from_source, index.KeysFromSource(path_key));
  if (!from_source.empty()) return from_source;
  // A folder: every document under it.
  std::string folder = path_key;
  if (folder.back() != '/') folder += '/';
  std::vector<std::string> keys;
  SIEVE_ASSIGN_OR_RETURN(auto all, index.ListDocuments());
  for (const auto& doc : all) {
    if (doc.source_path.starts_with(folder)) keys.push_back(doc.key);
  }
  return keys;
}

}  // namespace

Result<std::unique_ptr<store::DocumentStore>> Engine::Impl::OpenWriter(bool create) {
  store::OpenOptions open;
  open.create = create;
  auto opened = store::DocumentStore::Open(settings.index_dir, open);
  if (!opened.ok() && !create) {
    return opened.status().WithContext("no index at " + settings.index_dir.string());
  }
  if (!opened.ok()) return opened;
  // A damaged key index would let duplicate documents in: refuse to write on it.
  SIEVE_RETURN_IF_ERROR((*opened)->CheckDocumentKeys());
  return opened;
}

Result<Engine::Impl::SyncOutcome> Engine::Impl::SyncVectors(
    store::DocumentStore& writer, store::VectorStore& index_vectors, RequestContext& ctx,
    const std::function<void(std::size_t, std::size_t)>& progress) {
  SyncOutcome outcome;
  SIEVE_ASSIGN_OR_RETURN(auto state, Embedder(&index_vectors));
  if (!state->available()) {
    // Without a model only stale vectors can go.
    SIEVE_ASSIGN_OR_RETURN(outcome.removed, retrieval::RemoveStaleVectors(writer, index_vectors));
    SIEVE_ASSIGN_OR_RETURN(auto staleness, retrieval::CheckVectors(writer, index_vectors));
    if (staleness.missing > 0) {
      outcome.unavailable = retrieval::MissingModelsNote(
          {state->spec},
          "chunks were not embedded (lexical search works; ingest embeds them once the model "
          "is available)");
    }
    return outcome;
  }
  SIEVE_RETURN_IF_ERROR(index_vectors.BindModel(state->identity));
  SIEVE_ASSIGN_OR_RETURN(auto session, state->sessions->Acquire(ctx));
  retrieval::VectorSyncOptions sync;
  sync.progress = progress;
  Span span = ctx.StartSpan("embed.chunks", SpanKind::kEmbedding);
  auto report = retrieval::SyncVectors(writer, index_vectors, *session, sync);
  span.End(report.status());
  if (!report.ok()) return report.status();
  outcome.model = store::DescribeModel(state->identity);
  outcome.embedded = report->missing_embedded;
  outcome.removed = report->stale_removed;
  return outcome;
}

// Every write: the write mutex (this process), the folder lock (other processes), then the vector
// store as it is on disk now (another process may have changed it); once the write is done, later
// requests use that store.
Result<IngestResponse> Engine::Ingest(const IngestRequest& request, RequestContext& ctx) {
  const auto start = std::chrono::steady_clock::now();
  TimingScope timing(ctx);
  Span root = ctx.StartSpan("ingest", SpanKind::kChain);
  for (const auto& tag : request.tags) {
    if (tag.empty()) return Status::InvalidArgument("a tag must not be empty");
  }
  std::lock_guard<std::mutex> write(impl_->write_mutex);
  SIEVE_ASSIGN_OR_RETURN(auto writer, impl_->OpenWriter(/*create=*/true));
  SIEVE_ASSIGN_OR_RETURN(auto lock, impl_->LockForWriting());
  store::IngestOptions options = impl_->settings.ingest;
  options.tags = request.tags;

  IngestResponse response;
  std::optional<text::DocumentType> type;
  if (!request.type.empty()) {
    type = text::ParseDocumentType(request.type);
    if (!type) {
      return Status::InvalidArgument("type " + request.type +
                                     ": unknown (text, markdown, html, pdf, man, beir)");
    }
  }
  SIEVE_ASSIGN_OR_RETURN(store::IngestPlan plan, store::PlanIngest(request.paths, type));
  // Deferred files: out of the plan, and their documents out of `vanished` below.
  std::set<std::string> deferred;
  for (const auto& path : request.defer) deferred.insert(store::DocumentKeyForPath(path));
  if (!deferred.empty()) {
    std::erase_if(plan.files, [&](const store::PlannedFile& file) {
      return deferred.contains(store::DocumentKeyForPath(file.path));
    });
    std::erase_if(plan.not_documents, [&](const auto& file) {
      return deferred.contains(store::DocumentKeyForPath(file.path));
    });
  }
  for (const auto& error : plan.errors) response.skipped.push_back({"", error.message()});
  for (const auto& file : plan.not_documents) {
    response.not_documents.push_back({file.path.string(), file.reason});
  }
  // Sync: what the folders no longer hold. Moves are recognised before anything is deleted, and
  // deletions come last, so a crash at any point leaves documents that a rerun finishes.
  std::vector<store::DocumentInfo> vanished;
  if (request.sync) {
    SIEVE_ASSIGN_OR_RETURN(vanished, store::VanishedDocuments(*writer, plan));
    std::erase_if(vanished,
                  [&](const store::DocumentInfo& doc) { return deferred.contains(doc.key); });
  }
  IngestProgress progress;
  progress.files_total = plan.files.size();
  bool disk_full = false;
  for (const store::PlannedFile& planned : plan.files) {
    const fs::path& file = planned.path;
    SIEVE_RETURN_IF_ERROR(ctx.Check());
    progress.current = file.string();
    if (request.progress) request.progress(progress);
    auto moved = store::MoveIfRenamed(*writer, file, options, vanished);
    if (moved.ok() && *moved) {
      ++progress.files_done;
      ++response.files;
      ++response.documents_moved;
      continue;
    }
    auto report = store::IngestFile(*writer, file, options, planned.type);
    ++progress.files_done;
    if (!report.ok()) {
      response.skipped.push_back({file.string(), report.status().message()});
      if (IsDiskFull(report.status())) {
        // Every further file would fail the same way: one message, not thousands.
        const std::size_t left = plan.files.size() - progress.files_done;
        if (left > 0) {
          response.skipped.push_back(
              {"", "disk full: stopped; " + std::to_string(left) + " more files not ingested"});
        }
        disk_full = true;
        break;
      }
      continue;
    }
    ++response.files;
    response.documents_added += report->documents_added;
    response.documents_replaced += report->documents_replaced;
    response.documents_unchanged += report->documents_unchanged;
    response.documents_removed += report->documents_removed;
    response.chunks += report->chunks_written;
    response.invalid_utf8_replaced += report->invalid_utf8_replaced;
    response.bytes += report->bytes;
    if (report->invalid_utf8_replaced > 0) {
      impl_->options.logger.Note(file.string() + ": " +
                                 std::to_string(report->invalid_utf8_replaced) +
                                 " invalid UTF-8 bytes replaced");
    }
    for (const auto& note : report->notes) impl_->options.logger.Note(file.string() + ": " + note);
  }
  if (!disk_full && !vanished.empty()) {
    SIEVE_RETURN_IF_ERROR(ctx.Check());
    SIEVE_ASSIGN_OR_RETURN(auto txn, writer->BeginTransaction());
    for (const auto& doc : vanished) {
      SIEVE_ASSIGN_OR_RETURN(bool deleted, writer->DeleteDocument(doc.key));
      response.documents_deleted += deleted ? 1 : 0;
    }
    SIEVE_RETURN_IF_ERROR(txn.Commit());
  }
  progress.current.clear();
  if (request.progress) request.progress(progress);
  if (!request.embed) {
    response.seconds = SecondsSince(start);
    return response;
  }
  auto bound = std::make_shared<store::DocumentStore*>(writer.get());
  struct Unbind {
    std::shared_ptr<store::DocumentStore*> bound;
    ~Unbind() { *bound = nullptr; }
  } unbind{bound};
  SIEVE_ASSIGN_OR_RETURN(auto fresh, impl_->OpenVectors(bound));
  SIEVE_ASSIGN_OR_RETURN(auto synced, impl_->SyncVectors(*writer, *fresh, ctx,
                                                         [&](std::size_t done, std::size_t total) {
                                                           progress.chunks_embedded = done;
                                                           progress.chunks_to_embed = total;
                                                           if (request.progress)
                                                             request.progress(progress);
                                                         }));
  impl_->Publish(std::move(fresh));
  // The missing model matters to this command only when it stored chunks to embed (an unchanged
  // re-ingest says nothing; searching says it again when dense retrieval is asked for).
  if (!synced.unavailable.empty() && response.chunks > 0) {
    response.notes.push_back(synced.unavailable);
  }
  response.embedded = synced.embedded;
  response.vectors_removed = synced.removed;
  response.embed_model = synced.model;
  response.seconds = SecondsSince(start);
  root.SetAttribute("files", static_cast<std::int64_t>(response.files));
  return response;
}

Result<DeleteResponse> Engine::Delete(const DeleteRequest& request, RequestContext& ctx) {
  TimingScope timing(ctx);
  Span root = ctx.StartSpan("delete", SpanKind::kChain);
  std::lock_guard<std::mutex> write(impl_->write_mutex);
  SIEVE_ASSIGN_OR_RETURN(auto writer, impl_->OpenWriter(/*create=*/false));
  SIEVE_ASSIGN_OR_RETURN(auto lock, impl_->LockForWriting());
  DeleteResponse response;
  for (const auto& target : request.targets) {
    SIEVE_RETURN_IF_ERROR(ctx.Check());
    SIEVE_ASSIGN_OR_RETURN(auto keys, ResolveTargets(*writer, target));
    if (keys.empty()) {
      response.not_found.push_back(target);
      continue;
    }
    SIEVE_ASSIGN_OR_RETURN(auto txn, writer->BeginTransaction());
    for (const auto& key : keys) {
      SIEVE_ASSIGN_OR_RETURN(bool removed, writer->DeleteDocument(key));
      response.deleted += removed ? 1 : 0;
    }
    SIEVE_RETURN_IF_ERROR(txn.Commit());
  }
  // The vectors of the deleted chunks go too (a crash before this is repaired by the next write).
  auto bound = std::make_shared<store::DocumentStore*>(writer.get());
  struct Unbind {
    std::shared_ptr<store::DocumentStore*> bound;
    ~Unbind() { *bound = nullptr; }
  } unbind{bound};
  SIEVE_ASSIGN_OR_RETURN(auto fresh, impl_->OpenVectors(bound));
  SIEVE_ASSIGN_OR_RETURN(response.vectors_removed, retrieval::RemoveStaleVectors(*writer, *fresh));
  impl_->Publish(std::move(fresh));
  return response;
}

Result<ReembedResponse> Engine::Reembed(const ReembedRequest& request, RequestContext& ctx) {
  const auto start = std::chrono::steady_clock::now();
  TimingScope timing(ctx);
  Span root = ctx.StartSpan("reembed", SpanKind::kChain);
  if (request.embed_model.empty()) {
    return Status::InvalidArgument("re-embedding needs the model to use (--embed-model)");
  }
  std::lock_guard<std::mutex> write(impl_->write_mutex);
  SIEVE_ASSIGN_OR_RETURN(auto writer, impl_->OpenWriter(/*create=*/false));
  SIEVE_ASSIGN_OR_RETURN(auto lock, impl_->LockForWriting());
  retrieval::DenseIndexOptions options;
  options.embed_model = request.embed_model;
  options.vector_store_uri = impl_->settings.vector_store_uri;
  options.index = impl_->settings.vectors;
  options.qdrant = impl_->settings.qdrant;
  options.load = impl_->LoadOptions();
  options.sync.progress = [&request](std::size_t done, std::size_t total) {
    if (!request.progress) return;
    IngestProgress progress;
    progress.chunks_embedded = done;
    progress.chunks_to_embed = total;
    request.progress(progress);
  };
  SIEVE_ASSIGN_OR_RETURN(auto dense,
                         retrieval::ReembedIndex(*writer, impl_->settings.index_dir, options));
  ReembedResponse response;
  response.model = store::DescribeModel(dense.embedder.identity);
  response.chunks = dense.repaired.missing_embedded;
  // Later requests use the new vectors and the new model: reopened with the engine's filter
  // resolver.
  SIEVE_ASSIGN_OR_RETURN(auto state,
                         impl_->MakeEmbedState(request.embed_model, std::move(dense.embedder)));
  SIEVE_ASSIGN_OR_RETURN(auto fresh, impl_->OpenVectors());
  {
    std::lock_guard<std::mutex> guard(impl_->state_mutex);
    impl_->vectors = std::move(fresh);
    impl_->embed = std::move(state);
  }
  response.seconds = SecondsSince(start);
  return response;
}

Result<CheckResponse> Engine::Check(const CheckRequest& request, RequestContext& ctx) {
  TimingScope timing(ctx);
  Span root = ctx.StartSpan("check", SpanKind::kChain);
  std::lock_guard<std::mutex> write(impl_->write_mutex);
  // Not OpenWriter: that refuses a damaged key index, which is what this is for.
  store::OpenOptions open;
  open.create = false;
  auto opened = store::DocumentStore::Open(impl_->settings.index_dir, open);
  if (!opened.ok()) {
    return opened.status().WithContext("no index at " + impl_->settings.index_dir.string());
  }
  std::unique_ptr<store::DocumentStore> writer = std::move(opened).value();
  SIEVE_ASSIGN_OR_RETURN(auto lock, impl_->LockForWriting());
  CheckResponse response;
  SIEVE_ASSIGN_OR_RETURN(auto report, writer->Check(request.repair));
  response.found = std::move(report.found);
  response.fixed = std::move(report.fixed);
  // The vectors against the chunks.
  auto bound = std::make_shared<store::DocumentStore*>(writer.get());
  struct Unbind {
    std::shared_ptr<store::DocumentStore*> bound;
    ~Unbind() { *bound = nullptr; }
  } unbind{bound};
  SIEVE_ASSIGN_OR_RETURN(auto fresh, impl_->OpenVectors(bound));
  if (!fresh->damage().empty()) response.found.push_back("vectors: " + fresh->damage());
  if (fresh->model()) {
    SIEVE_ASSIGN_OR_RETURN(auto staleness, retrieval::CheckVectors(*writer, *fresh));
    if (staleness.missing > 0) {
      response.found.push_back("vectors: " + std::to_string(staleness.missing) +
                               " chunks have no vector");
    }
    if (staleness.stale > 0) {
      response.found.push_back("vectors: " + std::to_string(staleness.stale) +
                               " vectors of chunks that no longer exist");
    }
    if (request.repair && !staleness.in_sync()) {
      SIEVE_ASSIGN_OR_RETURN(auto synced, impl_->SyncVectors(*writer, *fresh, ctx, nullptr));
      if (synced.removed > 0) {
        response.fixed.push_back("vectors: removed " + std::to_string(synced.removed) +
                                 " stale vectors");
      }
      if (synced.embedded > 0) {
        response.fixed.push_back("vectors: embedded " + std::to_string(synced.embedded) +
                                 " chunks with " + synced.model);
      }
      if (!synced.unavailable.empty()) response.fixed.push_back("NOT fixed: " + synced.unavailable);
      if (synced.removed == 0 && synced.embedded == 0 && !fresh->damage().empty()) {
        SIEVE_RETURN_IF_ERROR(fresh->Flush());
        response.fixed.push_back("vectors: saved again without the damaged data");
      }
      impl_->Publish(std::move(fresh));
    }
  }
  return response;
}

}  // namespace sieve
