#include "generation/llm_client.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

namespace sieve::generation {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr std::array<LlmPreset, 5> kPresets = {{
    {"ollama", "http://localhost:11434/v1", "llama3.2"},
    {"tgi", "http://localhost:8080/v1", "tgi"},
    {"vllm", "http://localhost:8000/v1", ""},
    {"llamacpp", "http://localhost:8080/v1", "default"},
    {"openai", "https://api.openai.com/v1", "gpt-4o-mini"},
}};

// Bodies of error responses are quoted in messages; keep them short.
constexpr std::size_t kMaxQuotedBody = 300;
// A response body larger than this is refused (an answer is a few KB).
constexpr std::size_t kMaxBodyBytes = 16u << 20;

std::string Trim(std::string_view text) {
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

std::string Quote(std::string_view text) {
  std::string out = Trim(text);
  if (out.size() > kMaxQuotedBody) out = out.substr(0, kMaxQuotedBody) + "...";
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return "\"" + out + "\"";
}

std::string EndpointUrl(const std::string& base_url) {
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  constexpr std::string_view kPath = "/chat/completions";
  if (url.size() >= kPath.size() &&
      url.compare(url.size() - kPath.size(), kPath.size(), kPath) == 0)
    return url;
  return url + std::string(kPath);
}

// The server's own explanation from an OpenAI-style error body, else the body itself.
std::string ServerErrorText(std::string_view body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.contains("error")) {
    const json& error = parsed["error"];
    if (error.is_object() && error.contains("message") && error["message"].is_string())
      return Quote(error["message"].get<std::string>());
    if (error.is_string()) return Quote(error.get<std::string>());
  }
  return Quote(body);
}

void ReadUsage(const json& object, Usage& usage) {
  if (!object.contains("usage") || !object["usage"].is_object()) return;
  const json& u = object["usage"];
  auto count = [&u](const char* key) -> std::size_t {
    return u.contains(key) && u[key].is_number_unsigned() ? u[key].get<std::size_t>() : 0;
  };
  usage.prompt_tokens = count("prompt_tokens");
  usage.completion_tokens = count("completion_tokens");
  usage.total_tokens = count("total_tokens");
  if (usage.total_tokens == 0) usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
}

// Parses a non-streamed completion body into `response`.
Status ParseCompletionBody(std::string_view body, ChatResponse& response) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    return Status::InvalidInput("response is not valid JSON: " + Quote(body));
  try {
    if (!parsed.is_object() || !parsed.contains("choices") || !parsed["choices"].is_array() ||
        parsed["choices"].empty()) {
      if (parsed.is_object() && parsed.contains("error"))
        return Status::Unavailable("server reported an error: " + ServerErrorText(body));
      return Status::InvalidInput("response has no choices[0]: " + Quote(body));
    }
    const json& choice = parsed["choices"][0];
    if (!choice.contains("message") || !choice["message"].is_object() ||
        !choice["message"].contains("content") || !choice["message"]["content"].is_string()) {
      return Status::InvalidInput("response has no choices[0].message.content string: " +
                                  Quote(body));
    }
    response.content = choice["message"]["content"].get<std::string>();
    if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
      response.finish_reason = choice["finish_reason"].get<std::string>();
    if (parsed.contains("model") && parsed["model"].is_string())
      response.model = parsed["model"].get<std::string>();
    ReadUsage(parsed, response.usage);
  } catch (const std::exception& e) {
    return Status::InvalidInput(std::string("unexpected response shape: ") + e.what());
  }
  return Status::Ok();
}

// Incremental parser for a server-sent event stream of chat-completion chunks.
class EventStreamParser {
 public:
  EventStreamParser(const TokenCallback& on_token, ChatResponse& response)
      : on_token_(on_token), response_(response) {}

  // Feeds raw bytes; an error stops the transfer.
  Status Feed(std::string_view bytes) {
    pending_.append(bytes);
    std::size_t start = 0;
    while (true) {
      std::size_t newline = pending_.find('\n', start);
      if (newline == std::string::npos) break;
      std::string_view line(pending_.data() + start, newline - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      Status status = Line(line);
      start = newline + 1;
      if (!status.ok()) return status;
    }
    pending_.erase(0, start);
    if (pending_.size() > kMaxBodyBytes) {
      return Status::InvalidInput("malformed event stream: a line longer than " +
                                  std::to_string(kMaxBodyBytes >> 20) + " MiB");
    }
    return Status::Ok();
  }

  // Called when the transfer has ended normally.
  Status Finish() {
    if (!pending_.empty()) {
      std::string last = std::move(pending_);
      pending_.clear();
      SIEVE_RETURN_IF_ERROR(Line(last));
    }
    SIEVE_RETURN_IF_ERROR(Dispatch());
    if (!done_) {
      return Status::InvalidInput("event stream ended without \"data: [DONE]\" after " +
                                  std::to_string(chunks_) +
                                  " chunk(s) (connection closed early or truncated)");
    }
    return Status::Ok();
  }

  bool tokens_delivered() const { return tokens_delivered_; }

 private:
  Status Line(std::string_view line) {
    if (line.empty()) return Dispatch();           // blank line ends an event
    if (line.front() == ':') return Status::Ok();  // comment / keep-alive
    std::size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "data") {
      if (!data_.empty()) data_ += '\n';
      data_.append(value);
      has_data_ = true;
      return Status::Ok();
    }
    if (field == "event" || field == "id" || field == "retry") return Status::Ok();
    return Status::InvalidInput("malformed event stream: unexpected line " + Quote(line));
  }

  Status Dispatch() {
    if (!has_data_) return Status::Ok();
    std::string data = std::move(data_);
    data_.clear();
    has_data_ = false;
    if (done_) {
      return Status::InvalidInput("malformed event stream: data after [DONE]: " + Quote(data));
    }
    if (Trim(data) == "[DONE]") {
      done_ = true;
      return Status::Ok();
    }
    json chunk = json::parse(data, nullptr, /*allow_exceptions=*/false);
    if (chunk.is_discarded() || !chunk.is_object()) {
      return Status::InvalidInput("malformed event stream: data is not a JSON object: " +
                                  Quote(data));
    }
    ++chunks_;
    try {
      if (chunk.contains("error")) {
        return Status::Unavailable("server reported an error mid-stream: " + ServerErrorText(data));
      }
      if (chunk.contains("model") && chunk["model"].is_string())
        response_.model = chunk["model"].get<std::string>();
      ReadUsage(chunk, response_.usage);
      if (!chunk.contains("choices")) {
        return Status::InvalidInput("malformed event stream: chunk has no choices: " + Quote(data));
      }
      const json& choices = chunk["choices"];
      if (!choices.is_array()) {
        return Status::InvalidInput("malformed event stream: choices is not an array: " +
                                    Quote(data));
      }
      if (choices.empty()) return Status::Ok();  // e.g. the final usage-only chunk
      const json& choice = choices[0];
      if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
        response_.finish_reason = choice["finish_reason"].get<std::string>();
      if (!choice.contains("delta") || !choice["delta"].is_object()) {
        return Status::InvalidInput("malformed event stream: choices[0] has no delta: " +
                                    Quote(data));
      }
      const json& delta = choice["delta"];
      if (delta.contains("content") && delta["content"].is_string()) {
        std::string piece = delta["content"].get<std::string>();
        if (!piece.empty()) {
          response_.content += piece;
          if (on_token_) on_token_(piece);
          tokens_delivered_ = true;
        }
      }
    } catch (const std::exception& e) {
      return Status::InvalidInput(std::string("malformed event stream: ") + e.what());
    }
    return Status::Ok();
  }

  const TokenCallback& on_token_;
  ChatResponse& response_;
  std::string pending_;  // bytes after the last newline
  std::string data_;     // data lines of the event being read
  bool has_data_ = false;
  bool done_ = false;
  bool tokens_delivered_ = false;
  std::size_t chunks_ = 0;
};

bool IsEventStream(const std::string& content_type) {
  // Servers that ignore "stream": true answer with plain JSON; that is parsed as such.
  return content_type.empty() || !StartsWithNoCase(content_type, "application/json");
}

}  // namespace

std::span<const LlmPreset> LlmPresets() {
  return kPresets;
}

const LlmPreset* FindLlmPreset(std::string_view name) {
  for (const LlmPreset& preset : kPresets) {
    if (preset.name == name) return &preset;
  }
  return nullptr;
}

std::string ApiKeyFromEnvironment(std::string_view env_name) {
  const char* override_key = std::getenv(std::string(kApiKeyOverrideEnv).c_str());
  if (override_key != nullptr && override_key[0] != '\0') return override_key;
  if (env_name.empty()) return "";
  const char* key = std::getenv(std::string(env_name).c_str());
  return key != nullptr ? key : "";
}

std::string ChatRequestBody(const LlmOptions& options, const std::vector<ChatMessage>& messages) {
  json body;
  body["model"] = options.model;
  json list = json::array();
  for (const ChatMessage& message : messages) {
    list.push_back({{"role", message.role}, {"content", message.content}});
  }
  body["messages"] = std::move(list);
  body["temperature"] = options.temperature;
  body["max_tokens"] = options.max_tokens;
  body["stream"] = options.stream;
  // Invalid UTF-8 in a passage must not abort the request: replace it.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<milliseconds> ParseRetryAfter(std::string_view value) {
  return http::ParseRetryAfter(value);
}

LlmClient::LlmClient(LlmOptions options)
    : LlmClient(std::move(options), std::make_shared<http::Client>()) {}

LlmClient::LlmClient(LlmOptions options, std::shared_ptr<const http::Client> http)
    : options_(std::move(options)), http_(std::move(http)) {}

Result<ChatResponse> LlmClient::Complete(const std::vector<ChatMessage>& messages,
                                         const TokenCallback& on_token, RequestContext* ctx) const {
  if (ctx == nullptr || !ctx->recording()) return Send(messages, on_token, ctx);
  // An OpenInference LLM span: what Phoenix shows as the model's input and output.
  Span span = ctx->StartSpan("llm", SpanKind::kLlm);
  span.SetAttribute("llm.model_name", options_.model);
  span.SetAttribute("llm.provider", std::string("openai"));
  span.SetAttribute("llm.system", std::string("openai"));
  span.SetAttribute("llm.invocation_parameters",
                    nlohmann::json{{"temperature", options_.temperature},
                                   {"max_tokens", options_.max_tokens},
                                   {"stream", options_.stream}}
                        .dump());
  nlohmann::json input = nlohmann::json::array();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string prefix = "llm.input_messages." + std::to_string(i) + ".message.";
    span.SetAttribute(prefix + "role", messages[i].role);
    span.SetAttribute(prefix + "content", messages[i].content);
    input.push_back({{"role", messages[i].role}, {"content", messages[i].content}});
  }
  span.SetAttribute("input.value",
                    input.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  span.SetAttribute("input.mime_type", std::string("application/json"));
  Result<ChatResponse> response = Send(messages, on_token, ctx);
  if (response.ok()) {
    if (!response->model.empty() && response->model != options_.model) {
      span.SetAttribute("llm.response.model", response->model);
    }
    span.SetAttribute("llm.output_messages.0.message.role", std::string("assistant"));
    span.SetAttribute("llm.output_messages.0.message.content", response->content);
    span.SetAttribute("output.value", response->content);
    span.SetAttribute("output.mime_type", std::string("text/plain"));
    span.SetAttribute("llm.token_count.prompt",
                      static_cast<std::int64_t>(response->usage.prompt_tokens));
    span.SetAttribute("llm.token_count.completion",
                      static_cast<std::int64_t>(response->usage.completion_tokens));
    span.SetAttribute("llm.token_count.total",
                      static_cast<std::int64_t>(response->usage.total_tokens));
    if (!response->finish_reason.empty()) {
      span.SetAttribute("llm.finish_reason", response->finish_reason);
    }
  }
  span.End(response.status());
  return response;
}

Result<ChatResponse> LlmClient::Send(const std::vector<ChatMessage>& messages,
                                     const TokenCallback& on_token, RequestContext* ctx) const {
  if (options_.base_url.empty())
    return Status::InvalidArgument("no LLM base URL configured (set llm.url or llm.preset)");
  if (options_.model.empty())
    return Status::InvalidArgument("no LLM model configured for " + options_.base_url +
                                   " (set llm.model or SIEVE_LLM_MODEL)");
  const std::string url = EndpointUrl(options_.base_url);
  auto fail = [&url](const Status& status, const std::string& why = "") {
    return Status(status.code(), "LLM at " + url + ": " + status.message() + why);
  };

  http::Request request;
  request.method = "POST";
  request.url = url;
  request.headers = {{"Content-Type", "application/json"},
                     {"Accept", options_.stream ? "text/event-stream" : "application/json"}};
  if (!options_.api_key.empty())
    request.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
  request.body = ChatRequestBody(options_, messages);
  request.timeouts.connect = options_.connect_timeout;
  request.timeouts.total = options_.timeout;
  request.max_body_bytes = kMaxBodyBytes;
  http::RetryPolicy& retry = request.retry;
  retry.max_attempts = 1 + std::max(0, options_.max_retries);
  retry.initial_backoff = options_.initial_backoff;
  retry.max_backoff = options_.max_backoff;
  retry.max_retry_after = options_.max_backoff;
  retry.jitter = 0.25;
  retry.retry_connection_errors = true;
  retry.retry_timeouts = false;
  retry.retry_server_errors = true;
  retry.retry_statuses = {429};

  // A streamed answer goes through the event parser as it arrives; once a byte of it has reached
  // the parser the request is not retried (the client never repeats delivered bytes).
  ChatResponse response;
  std::optional<EventStreamParser> events;
  std::string streamed_body;  // a 2xx answer that is not an event stream
  bool delivered = false;
  bool body_failed = false;  // the parser (not the network) stopped the transfer
  if (options_.stream) {
    request.on_body = [&](const http::Response& head, std::string_view chunk) -> Status {
      delivered = true;
      if (head.status == 200 && IsEventStream(head.header("content-type"))) {
        if (!events) events.emplace(on_token, response);
        Status status = events->Feed(chunk);
        body_failed = !status.ok();
        return status;
      }
      if (streamed_body.size() + chunk.size() > kMaxBodyBytes) {
        body_failed = true;
        return Status::InvalidInput("response larger than " + std::to_string(kMaxBodyBytes >> 20) +
                                    " MiB");
      }
      streamed_body.append(chunk);
      return Status::Ok();
    };
  }

  Result<http::Response> sent = http_->Send(request, ctx);
  if (!sent.ok()) {
    const Status& status = sent.status();
    if (body_failed || status.code() != StatusCode::kUnavailable) {
      return fail(status);  // a parser error, a timeout, a cancellation, a body too large
    }
    return fail(Status(status.code(),
                       (delivered ? "the event stream broke off: " : "cannot reach the server: ") +
                           status.message()));
  }
  http::Response& answer = *sent;
  response.attempts = answer.attempts;
  const std::string& body = answer.body.empty() ? streamed_body : answer.body;
  long code = answer.status;
  if (code == 401 || code == 403) {
    return fail(Status::Unavailable("the server rejected the API key (HTTP " +
                                    std::to_string(code) + "): " + ServerErrorText(body) +
                                    "; set SIEVE_LLM_API_KEY or the configured key variable"));
  }
  if (code == 429 || (code >= 500 && code <= 599)) {
    Status status =
        Status::Unavailable((code == 429 ? std::string("rate limited (HTTP 429): ")
                                         : "server error (HTTP " + std::to_string(code) + "): ") +
                            ServerErrorText(body));
    if (!answer.retry_note.empty()) return fail(status, " (" + answer.retry_note + ")");
    return fail(status, " (after " + std::to_string(answer.attempts) + " attempt" +
                            (answer.attempts > 1 ? "s" : "") + ")");
  }
  if (code != 200) {
    std::string hint = code == 404 ? " (check the base URL and the model name)" : "";
    return fail(
        Status::Unavailable("HTTP " + std::to_string(code) + hint + ": " + ServerErrorText(body)));
  }
  Status status;
  if (options_.stream && IsEventStream(answer.header("content-type"))) {
    if (!events) events.emplace(on_token, response);
    status = events->Finish();
  } else {
    status = ParseCompletionBody(body, response);
    if (status.ok() && options_.stream && on_token && !response.content.empty()) {
      on_token(response.content);  // a server that ignored "stream": one piece
    }
  }
  if (!status.ok()) return fail(status);
  if (response.model.empty()) response.model = options_.model;
  return response;
}

}  // namespace sieve::generation
