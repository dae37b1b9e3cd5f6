// An OpenAI-compatible chat-completions client over core/http: POST {base_url}/chat/completions,
// with streaming over server-sent events, connect and total timeouts, and bounded retries with
// exponential backoff and jitter on 429, 5xx and connection failures (Retry-After honoured).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/context.h"
#include "core/http.h"
#include "core/status.h"

namespace sieve::generation {

// Servers that speak the protocol, by name: base URL and a model name to try when none is given.
struct LlmPreset {
  std::string_view name;           // "ollama", "tgi", "vllm", "llamacpp", "openai"
  std::string_view base_url;       // e.g. "http://localhost:11434/v1"
  std::string_view default_model;  // a hint; servers that host one model ignore it
};
std::span<const LlmPreset> LlmPresets();
const LlmPreset* FindLlmPreset(std::string_view name);  // nullptr if unknown

// Environment variable that overrides the configured API key variable.
inline constexpr std::string_view kApiKeyOverrideEnv = "SIEVE_LLM_API_KEY";
// The API key: $SIEVE_LLM_API_KEY if set and non-empty, else $<env_name>, else "" (no key; local
// servers need none).
std::string ApiKeyFromEnvironment(std::string_view env_name = "OPENAI_API_KEY");

struct LlmOptions {
  std::string base_url;  // e.g. "http://localhost:11434/v1" (no trailing /chat/completions)
  std::string model;
  std::string api_key;  // sent as "Authorization: Bearer <key>" when non-empty
  double temperature = 0.1;
  int max_tokens = 512;
  bool stream = false;  // server-sent events; tokens go to the callback as they arrive
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{120000};       // one attempt, from connect to last byte
  int max_retries = 2;                             // extra attempts after the first
  std::chrono::milliseconds initial_backoff{500};  // doubled per retry, with +-25% jitter
  std::chrono::milliseconds max_backoff{8000};     // cap for backoff and Retry-After
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct Usage {
  std::size_t prompt_tokens = 0;
  std::size_t completion_tokens = 0;
  std::size_t total_tokens = 0;
};

// Receives each piece of streamed text, in order.
using TokenCallback = std::function<void(std::string_view)>;

struct ChatResponse {
  std::string content;        // the whole answer (also when streamed)
  std::string model;          // as reported by the server (the requested model if absent)
  std::string finish_reason;  // "stop", "length", ... ("" if not reported)
  Usage usage;                // zeros when the server reports none
  int attempts = 0;           // HTTP requests made, retries included
};

// Thread-safety: Complete is const and may be called from many threads at once; copies share
// one http::Client (and its kept-alive connections).
class LlmClient {
 public:
  explicit LlmClient(LlmOptions options);  // with an http::Client of its own
  // Shares `http` (e.g. one Client per engine, so connections are reused across clients).
  LlmClient(LlmOptions options, std::shared_ptr<const http::Client> http);

  // One chat completion. Errors: kInvalidArgument (no URL/model), kTimeout, kUnavailable
  // (connection refused, 5xx/429 after retries, 401/403 bad key — not retried), kInvalidInput
  // (malformed JSON or event stream: garbage lines, truncated JSON, missing [DONE]). Once a
  // streamed byte has reached the event parser the request is not retried (the text would
  // repeat). With `ctx`: kCancelled / kTimeout when it is cancelled or its deadline passes (no
  // attempt or retry wait outlives the deadline), and an OpenInference LLM span "llm" (model,
  // provider, invocation parameters, input and output messages, token counts) around the
  // "http POST" span.
  Result<ChatResponse> Complete(const std::vector<ChatMessage>& messages,
                                const TokenCallback& on_token = {},
                                RequestContext* ctx = nullptr) const;

  const LlmOptions& options() const { return options_; }

 private:
  Result<ChatResponse> Send(const std::vector<ChatMessage>& messages, const TokenCallback& on_token,
                            RequestContext* ctx) const;

  LlmOptions options_;
  std::shared_ptr<const http::Client> http_;
};

// Helpers exposed for tests. The JSON body sent for `messages`.
std::string ChatRequestBody(const LlmOptions& options, const std::vector<ChatMessage>& messages);
// Seconds (or an HTTP date) from a Retry-After header value; nullopt if unparseable
// (http::ParseRetryAfter).
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value);

}  // namespace sieve::generation
