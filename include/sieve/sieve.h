// sieve/sieve.h: Sieve as a library.
//
// One object, sieve::Engine, owns an index (the SQLite document store and the vector store), the
// models (bi-encoder, cross-encoder) and the inference threads. The CLI, the HTTP server, the
// evaluator and any C++ program are thin layers over it:
//
//   sieve::config::Config config;                 // or config::LoadConfig(sources)
//   config.index.dir = "/srv/index";
//   auto engine = sieve::Engine::Open(config);    // cheap: models and index open on first use
//   if (!engine.ok()) ...
//   sieve::RequestContext ctx;                    // deadline, cancellation, tracing
//   ctx.set_timeout(std::chrono::seconds(30));
//   sieve::AskRequest ask{.query = "what is BM25?"};
//   auto answer = (*engine)->Ask(ask, ctx);
//
// Thread-safety: every method of Engine may be called from many threads at once. Search, Ask,
// Embed, Rerank, ScorePairs, CountRerankTokens, Tokenize, Stats, ListDocuments and GetDocument run
// concurrently with each other and with one write (Ingest, Delete, Reembed); writes are serialised
// among themselves, and across processes by an exclusive lock on the index folder (a second writer
// waits up to EngineOptions::write_lock_wait, then fails with kBusy). A request's RequestContext is
// used by that request only.
//
// Errors are values: every call returns Result<Response>. Things a user should know that are not
// errors (a default model is not downloaded so retrieval fell back to lexical, vectors were
// repaired) come back as `notes` in the response; side remarks (truncated inputs) go to the
// Logger given to Open. The library never prints.
//
// The JSON form of every response (shared by `sieve --json` and the server) is in
// engine/json.h and documented in docs/json.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/context.h"
#include "core/log.h"
#include "core/status.h"

namespace sieve {

// ---- shared value types ----

enum class Mode { kLexical, kDense, kHybrid };
const char* ModeName(Mode mode);                // "lexical", "dense", "hybrid"
Result<Mode> ParseMode(std::string_view name);  // the inverse; kInvalidArgument otherwise

// Which documents a request may see; an empty field means "no constraint".
struct Filter {
  std::string path_prefix;         // document source path starts with this (absolute paths)
  std::vector<std::string> types;  // document type: any of these ("pdf", "markdown", ...)
  std::vector<std::string> tags;   // the document carries all of these tags
  bool empty() const { return path_prefix.empty() && types.empty() && tags.empty(); }
};

// The score each stage gave a chunk; unset when that stage did not see it.
struct Scores {
  std::optional<double> bm25;
  std::optional<std::size_t> bm25_rank;  // 1-based rank in the lexical list
  std::optional<double> cosine;
  std::optional<std::size_t> dense_rank;  // 1-based rank in the dense list
  std::optional<double> fused;            // reciprocal rank fusion
  std::optional<double> rerank;           // cross-encoder, in [0,1]
};

// A retrieved chunk with everything needed to show and cite it.
struct Passage {
  std::int64_t chunk_id = 0;
  double score = 0;  // the last stage's score (the order of the list)
  Scores scores;
  std::string doc_key;  // the document's unique key (absolute path, or a BEIR _id)
  std::string source_path;
  std::string title;
  std::string section;
  std::string type;
  int page = 0;  // 0 = the format has no pages
  // Lines of the source file the passage starts and ends on (1-based; 0 = the format has no
  // lines, e.g. HTML and PDF, or the index was made before lines were recorded). A man page's
  // are lines of its roff source; a compressed file's, of its uncompressed content.
  std::size_t line = 0;
  std::size_t line_end = 0;
  std::size_t begin = 0;  // byte offsets in the document's extracted text: [begin, end)
  std::size_t end = 0;
  std::string text;
  // Other files holding this very text (identical chunks are collapsed at retrieval: the best
  // copy is kept, the others are listed here).
  std::vector<std::string> also_in;
};

// Wall time of one stage of a request, in the order the stages ended (from the request's spans).
struct StageTiming {
  std::string stage;  // "retrieve.lexical", "rerank", ...
  double ms = 0;
};

// ---- requests and responses ----

struct IngestProgress {
  std::size_t files_done = 0;
  std::size_t files_total = 0;
  std::string current;  // file being read ("" when embedding)
  std::size_t chunks_embedded = 0;
  std::size_t chunks_to_embed = 0;  // 0 until embedding starts
};

struct IngestRequest {
  std::vector<std::filesystem::path> paths;  // files and folders (folders recurse)
  std::vector<std::string> tags;  // replace the documents' tags; empty = keep existing tags
  // Read every file as this type ("text", "markdown", "html", "pdf", "man", "beir"); "" = the
  // type the name, else the content, gives.
  std::string type;
  // Bring the index to the state of each folder in `paths`: documents under it whose files are
  // gone are deleted, and a file that was renamed or moved (same content) moves its document
  // (no second copy, no re-embedding). Files named one by one are never deleted.
  bool sync = true;
  // Embed the chunks that have no vector (when an embedding model is available). False leaves
  // them for a later write. With empty `paths`, Ingest only brings the vectors in line with the
  // store.
  bool embed = true;
  // Files under the folders to leave alone this time (a file still being written, sieve::Watch):
  // not read, their documents kept as they are (not deleted, not a rename's source).
  std::vector<std::filesystem::path> defer;
  // Called on the calling thread after each file and each embedding batch.
  std::function<void(const IngestProgress&)> progress;
};

struct SkippedFile {
  std::string path;
  std::string reason;
};

struct IngestResponse {
  std::size_t files = 0;
  std::size_t documents_added = 0;
  std::size_t documents_replaced = 0;
  std::size_t documents_unchanged = 0;
  std::size_t documents_removed = 0;  // BEIR records no longer in their file
  std::size_t documents_moved = 0;    // files renamed or moved (sync): their documents followed
  std::size_t documents_deleted = 0;  // files gone from the folders (sync): documents deleted
  std::size_t chunks = 0;
  std::uint64_t bytes = 0;
  std::size_t invalid_utf8_replaced = 0;
  std::vector<SkippedFile> skipped;  // documents that could not be ingested (the rest were)
  // Files found in folders that are not documents (binary, empty, unsupported, a link loop),
  // with why; not an error.
  std::vector<SkippedFile> not_documents;
  std::size_t embedded = 0;         // chunks given vectors
  std::size_t vectors_removed = 0;  // vectors of chunks that no longer exist
  std::string embed_model;          // "" when nothing could be embedded
  std::vector<std::string> notes;
  double seconds = 0;
  std::size_t documents() const {
    return documents_added + documents_replaced + documents_unchanged + documents_moved;
  }
};

struct DeleteRequest {
  // Each target is a document key, a file path (its document), a BEIR file (all its records), or
  // a folder (every document whose source path is under it).
  std::vector<std::string> targets;
};

struct DeleteResponse {
  std::size_t deleted = 0;
  std::vector<std::string> not_found;
  std::size_t vectors_removed = 0;
};

// Retrieval (and reranking) without an answer. Unset fields take the configuration's values.
struct SearchRequest {
  std::string query;
  std::optional<Mode> mode;
  std::optional<std::size_t> k;      // candidates from each retriever
  std::optional<std::size_t> top_n;  // results kept
  std::optional<bool> rerank;
  std::optional<std::size_t> rerank_depth;  // candidates the cross-encoder scores (0 = all)
  Filter filter;
  // The conversation this request belongs to (e.g. a chat's id); traces carry it as the
  // OpenInference attribute session.id, so Phoenix groups the turns. "" = none.
  std::string session_id;
  // Multi-query retrieval: the configured LLM writes this many alternative phrasings of the
  // query; each is retrieved, the lists are fused by reciprocal rank fusion and the fused
  // candidates reranked against the query (a "query.expand" span). Unset or 0: off. Without an
  // LLM, or when it fails, the query alone is retrieved and a note says why.
  std::optional<std::size_t> expand_queries;
};

struct RetrievalInfo {
  Mode mode = Mode::kHybrid;  // what actually ran (a default may have degraded to lexical)
  bool reranked = false;
  std::size_t k = 0;
  std::size_t top_n = 0;
  double rrf_k = 0;
  std::string embed_model;   // "" when no bi-encoder was used
  std::string rerank_model;  // "" when no cross-encoder was used
  // The queries retrieved with: the question (or its standalone form after condensing), then
  // the alternative phrasings of multi-query retrieval.
  std::vector<std::string> queries;
};

struct SearchResponse {
  std::string query;
  std::vector<Passage> passages;  // best first
  RetrievalInfo retrieval;
  std::vector<std::string> notes;
  std::vector<StageTiming> timings;
};

// One earlier turn of a chat.
struct ChatTurn {
  std::string role;  // "user" or "assistant" (others are ignored)
  std::string content;
};

struct AskRequest : SearchRequest {
  // Earlier turns of the chat, oldest first. When it holds a user or assistant turn and
  // condense_history is not false, the configured LLM rewrites `query` into a standalone
  // question (a "query.condense" span) that is retrieved with and answered; without an LLM, or
  // when it fails, `query` is used as is and a note says why.
  std::vector<ChatTurn> history;
  std::optional<bool> condense_history;  // unset = true
  // Streams the LLM's answer as it arrives (only when an LLM answers). Called on the calling
  // thread.
  std::function<void(std::string_view piece)> on_token;
};

// A passage the answer cites. `number` is the n of "[n]" in the answer; `passage_number` is the
// cited passage's position in AskResponse::passages (1-based, best first). An LLM answer cites
// passages by that position (number == passage_number); an extractive answer numbers the
// passages it cites 1..m in the order it first cites them, without gaps.
struct Citation {
  std::size_t number = 0;
  std::size_t passage_number = 0;
  Passage passage;
};

struct Usage {
  std::size_t prompt_tokens = 0;
  std::size_t completion_tokens = 0;
  std::size_t total_tokens = 0;
};

struct AskResponse {
  std::string question;
  std::string answer;
  bool extractive = false;          // true: sentences from the passages, no LLM involved
  std::string model;                // the LLM, or "extractive (<scorer>)"
  std::vector<Citation> citations;  // in the order the answer first cites them
  std::vector<Passage> passages;    // what the answer was made from, best first
  RetrievalInfo retrieval;
  Usage usage;
  bool streamed = false;  // on_token received the answer
  std::vector<std::string> notes;
  std::vector<StageTiming> timings;
};

struct EmbedRequest {
  std::vector<std::string> texts;
  bool is_query = false;  // apply the model's query prompt
};

struct EmbedResponse {
  std::vector<std::vector<float>> vectors;  // one per text, in order
  std::string model;                        // the model's id (Hub id or folder)
  std::string description;                  // "BAAI/bge-small-en-v1.5 @abc (384-d, cls)"
  std::size_t dimension = 0;
  std::string pooling;  // "cls" or "mean"
  bool normalized = false;
  std::size_t tokens = 0;  // tokens read (after truncation, without special tokens)
};

struct RerankRequest {
  std::string query;
  std::vector<std::string> documents;
  std::size_t top_n = 0;  // 0 = all
};

struct RerankResult {
  std::size_t index = 0;  // into RerankRequest::documents
  double score = 0;       // in [0,1] (sigmoid of a one-logit model)
  double logit = 0;       // the raw logit
};

struct RerankResponse {
  std::vector<RerankResult> results;  // best first (ties keep input order)
  std::string model;
  std::size_t tokens = 0;  // tokens the cross-encoder read (special tokens included)
};

// Orders results as Rerank does: best first, ties in input order (of `index`), then keeps the
// first top_n (0 = all).
void RankRerankResults(std::vector<RerankResult>& results, std::size_t top_n);

// One (query, document) pair for Engine::ScorePairs; the views must outlive the call.
struct RerankPair {
  std::string_view query;
  std::string_view document;
};

struct ScorePairsResponse {
  std::vector<RerankResult> scores;  // one per pair, in input order; index = the pair's position
  std::string model;
};

struct StatsResponse {
  std::string index_dir;
  std::string database;
  std::size_t documents = 0;
  std::size_t chunks = 0;
  std::uint64_t bytes = 0;
  std::uint64_t database_bytes = 0;
  std::vector<std::pair<std::string, std::size_t>> documents_by_type;
  std::vector<std::pair<std::string, std::size_t>> documents_by_tag;
  std::size_t vectors = 0;
  std::string vector_model;        // "" when the index has no vectors
  std::uint64_t vector_bytes = 0;  // the vector index's files in the index folder (0: remote)
};

struct ReembedRequest {
  std::string embed_model;  // folder or Hub id (required)
  std::function<void(const IngestProgress&)> progress;
};

struct ReembedResponse {
  std::string model;
  std::size_t chunks = 0;
  double seconds = 0;
};

struct CheckRequest {
  bool repair = false;  // fix what can be fixed (a write); false: only look
};

struct CheckResponse {
  std::vector<std::string> found;  // one line per problem; empty = healthy
  std::vector<std::string> fixed;  // what repair did ("NOT fixed: ..." for what it could not)
};

struct ModelStatus {
  std::string spec;         // folder or Hub id the engine uses
  bool available = false;   // loaded
  std::string unavailable;  // why not (a default model that is not downloaded)
  std::string description;  // "BAAI/bge-small-en-v1.5 @abc (384-d, cls)" when available
};

struct ModelsResponse {
  ModelStatus embed;
  ModelStatus rerank;
};

// A document in the index (without its text).
struct DocumentSummary {
  std::int64_t id = 0;  // stable while the document exists (a replaced document keeps it)
  std::string key;      // the unique key (absolute path, or a BEIR _id)
  std::string source_path;
  std::string type;
  std::string title;
  std::uint64_t bytes = 0;
  std::vector<std::string> tags;  // sorted
  std::int64_t ingested_at = 0;   // unix seconds
  std::size_t chunks = 0;
};

struct ListDocumentsRequest {
  std::size_t offset = 0;         // documents to skip, in key order
  std::size_t limit = 100;        // at most this many (0 = all)
  std::string path_prefix;        // only documents whose source path starts with this
  std::vector<std::string> tags;  // only documents carrying all of these
};

struct ListDocumentsResponse {
  std::vector<DocumentSummary> documents;  // sorted by key
  std::size_t total = 0;                   // documents that pass the filter
};

// A chunk of a document, as stored.
struct DocumentChunk {
  std::int64_t chunk_id = 0;
  std::size_t ordinal = 0;
  std::size_t begin = 0;  // byte offsets in the document's extracted text
  std::size_t end = 0;
  std::string section;
  int page = 0;
  std::size_t line = 0;  // as Passage::line, line_end
  std::size_t line_end = 0;
  std::string text;
};

struct DocumentDetail {
  DocumentSummary document;
  std::vector<DocumentChunk> chunks;  // in document order
};

struct TokenizeRequest {
  std::vector<std::string> texts;
  bool add_special_tokens = true;
};

struct TokenizedText {
  std::vector<std::int32_t> ids;
  std::vector<std::string> tokens;  // the token string of each id
};

struct TokenizeResponse {
  std::vector<TokenizedText> texts;  // one per request text, untruncated
  std::string model;                 // the bi-encoder whose tokenizer was used
  std::size_t max_length = 0;        // the longest input the model reads (special tokens included)
};

struct EngineOptions {
  Logger logger;                // side remarks (truncation, repairs); default: dropped
  std::size_t batch_size = 32;  // sequences per forward pass
  // Padded tokens (sequences x the longest) per forward pass, besides batch_size; a longer
  // sequence runs alone. 0 = batch_size alone bounds a pass.
  std::size_t max_batch_tokens = 0;
  std::size_t max_length = 0;  // truncate model inputs to this many tokens; 0 = the model's limit
  // How long a write waits for another process writing the same index before failing (kBusy).
  std::chrono::milliseconds write_lock_wait{std::chrono::minutes(10)};
};

class Engine {
 public:
  // Opens an engine on config.index.dir. Nothing is loaded yet: the index is opened on the first
  // request that needs it (a missing index is created by Ingest, an error for reads), models on
  // the first request that needs them. Fails only on an invalid configuration.
  static Result<std::unique_ptr<Engine>> Open(const config::Config& config,
                                              const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Adds files and folders: new and changed files are chunked into the store (one transaction
  // per file), then every chunk without a vector is embedded when an embedding model is
  // available. A file that fails is reported in `skipped` and the others go on. Write.
  Result<IngestResponse> Ingest(const IngestRequest& request, RequestContext& ctx);
  // Removes documents and their vectors. Write.
  Result<DeleteResponse> Delete(const DeleteRequest& request, RequestContext& ctx);
  // Checks the index: SQLite's integrity check, duplicate document keys, orphan rows, the
  // full-text index, and the vectors against the chunks (damage, missing, stale). With repair,
  // fixes what it can: duplicate rows (the newest kept), orphans, indexes, the full-text index,
  // stale and missing vectors. Takes the writer lock (also without repair). Write.
  Result<CheckResponse> Check(const CheckRequest& request, RequestContext& ctx);
  // Embeds every chunk with another model into a staging area and swaps the new vectors in at
  // once: until then (also after a crash) the old vectors and model serve; a rerun resumes. Write.
  Result<ReembedResponse> Reembed(const ReembedRequest& request, RequestContext& ctx);

  // Retrieves (lexical, dense or hybrid) and reranks. A mode or model the request or the
  // configuration names must be available; the defaults degrade (hybrid -> lexical when the
  // default bi-encoder is not downloaded, no rerank when the default cross-encoder is not), with
  // a note. Read.
  Result<SearchResponse> Search(const SearchRequest& request, RequestContext& ctx);
  // Search, then an answer with citations: the configured LLM, else (or when it fails) an
  // extractive answer. Read.
  Result<AskResponse> Ask(const AskRequest& request, RequestContext& ctx);
  // Vectors from the engine's bi-encoder (config.models.embed, or the index's). No index needed.
  Result<EmbedResponse> Embed(const EmbedRequest& request, RequestContext& ctx);
  // Cross-encoder scores for (query, document) pairs. No index needed.
  Result<RerankResponse> Rerank(const RerankRequest& request, RequestContext& ctx);
  // Cross-encoder scores for pairs whose queries may differ (e.g. the pairs of several rerank
  // requests), computed together: all pairs sorted by token length, in forward passes padded to
  // their longest pair and bounded by EngineOptions::batch_size and max_batch_tokens. A pair's
  // score equals what Rerank gives it up to float rounding of the batch's shape (~1e-6 in the
  // logit). kNotFound when no cross-encoder is available. No index needed.
  Result<ScorePairsResponse> ScorePairs(std::span<const RerankPair> pairs, RequestContext& ctx);
  // Tokens the cross-encoder reads for each (query, document) pair of the request, in document
  // order (special tokens included, after truncation): for token budgets and usage. kNotFound
  // when no cross-encoder is available. No index needed.
  Result<std::vector<std::size_t>> CountRerankTokens(const RerankRequest& request,
                                                     RequestContext& ctx);
  // Loads the bi-encoder and/or the cross-encoder now and says which are available. A model the
  // configuration names must load (its error is returned); a default one may be unavailable.
  Result<ModelsResponse> LoadModels(bool embed, bool rerank, RequestContext& ctx);
  // Counts of the index. Read.
  Result<StatsResponse> Stats(RequestContext& ctx);
  // The documents of the index, a page at a time, sorted by key. Read.
  Result<ListDocumentsResponse> ListDocuments(const ListDocumentsRequest& request,
                                              RequestContext& ctx);
  // One document by id; kNotFound when there is none. Read.
  Result<DocumentSummary> GetDocument(std::int64_t id, RequestContext& ctx);
  // One document with its chunks, named by id ("42"), key, or file path; kNotFound when there is
  // none. Read.
  Result<DocumentDetail> ShowDocument(const std::string& document, RequestContext& ctx);
  // The bi-encoder's tokenizer applied to each text (no truncation), and the model's input limit,
  // so a caller can refuse over-long inputs before embedding. No index needed.
  Result<TokenizeResponse> Tokenize(const TokenizeRequest& request, RequestContext& ctx);

  const config::Config& config() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sieve
