// server: the request bodies of `sieve serve`, parsed into what the handlers need. Pure
// functions of the bytes received (and the server's limits): no engine, no I/O, no state, so each
// can be fuzzed on its own (fuzz/server_requests_fuzz.cpp). A body the client got wrong gives the
// RequestError the handler answers with (its HTTP status, error code and message), exactly as
// docs/server.md lists them. Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sieve/sieve.h"

namespace sieve::server {

// A 4xx answer: {"error": {"message", "type": "invalid_request_error", "code"}}.
struct RequestError {
  int status = 400;
  std::string code;
  std::string message;
};

// The parsed request, or why it is refused.
template <typename T>
using Parsed = std::variant<RequestError, T>;

struct RequestLimits {
  std::size_t max_inputs = 2048;  // texts per embedding request, documents per rerank
  // The names a request's "model" may give (none, "" and these); null = any.
  const std::set<std::string>* embed_models = nullptr;
  const std::set<std::string>* rerank_models = nullptr;
  std::size_t embed_dimension = 0;  // 0 = unknown ("dimensions" not checked against it)
};

// POST /v1/embeddings (OpenAI).
struct EmbeddingsBody {
  std::vector<std::string> texts;
  bool base64 = false;                    // "encoding_format": "base64"
  std::optional<std::size_t> dimensions;  // keep the first n components, renormalised
  bool is_query = false;                  // "input_type": "query"
};
Parsed<EmbeddingsBody> ParseEmbeddingsBody(std::string_view body, const RequestLimits& limits);

// POST /embed (TEI).
struct TeiEmbedBody {
  std::vector<std::string> texts;
  bool truncate = false;
  bool is_query = false;  // "prompt_name": "query"
  bool normalize = true;
};
Parsed<TeiEmbedBody> ParseTeiEmbedBody(std::string_view body, const RequestLimits& limits);

// POST /v1/rerank and /rerank: Cohere/Jina ("documents", strings or {"text"} objects) or TEI
// ("texts" without "documents").
struct RerankBody {
  RerankRequest request;
  bool tei = false;
  bool return_documents = true;  // Cohere/Jina
  bool return_text = false;      // TEI
  bool raw_scores = false;       // TEI
};
Parsed<RerankBody> ParseRerankBody(std::string_view body, const RequestLimits& limits);

// POST /tokenize (TEI).
struct TokenizeBody {
  std::vector<std::string> texts;
  bool add_special_tokens = true;
};
Parsed<TokenizeBody> ParseTokenizeBody(std::string_view body, const RequestLimits& limits);

// POST /v1/query.
struct QueryBody {
  AskRequest ask;
  bool stream = false;
};
Parsed<QueryBody> ParseQueryBody(std::string_view body);

// POST /v1/chat/completions. `session_header`: the X-Session-Id header, when sent (used when the
// body has no "session_id"; then OpenAI's "user").
struct ChatBody {
  AskRequest ask;
  bool stream = false;
};
Parsed<ChatBody> ParseChatBody(std::string_view body,
                               const std::optional<std::string>& session_header);

// POST /v1/documents: the files to write into the upload folder (names made safe) and the tags.
struct DocumentUpload {
  std::string name;  // safe: see SafeFileName
  std::string content;
};
struct DocumentsBody {
  std::vector<DocumentUpload> uploads;
  std::vector<std::string> tags;
};
// The JSON shape {"name"?, "text", "tags"?}.
Parsed<DocumentsBody> ParseDocumentsJson(std::string_view body);
// The multipart shape, from the parts cpp-httplib decoded: "file" parts (any field with a file
// name) and "tags" (comma-separated text).
struct FormPart {
  std::string field;
  std::string filename;
  std::string content;
};
Parsed<DocumentsBody> ParseDocumentsForm(std::vector<FormPart> parts);

// A file name safe to create inside the upload folder: the last path component, with anything
// but letters, digits, '.', '-' and '_' replaced by '_', no leading dots, at most 120 bytes.
// Empty when nothing usable is left.
std::string SafeFileName(std::string_view name);

}  // namespace sieve::server
