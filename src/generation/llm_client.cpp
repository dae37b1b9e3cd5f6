#include "generation/llm_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>
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

// State shared with libcurl's callbacks during one attempt.
struct Transfer {
  CURL* handle = nullptr;
  bool stream = false;
  std::string body;  // whole body (non-streamed, or an error / non-SSE response)
  std::optional<EventStreamParser> events;
  Status stream_error;  // set when the parser stopped the transfer
  std::string retry_after;
  bool too_large = false;

  long ResponseCode() const {
    long code = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code);
    return code;
  }
  bool IsEventStream() const {
    char* type = nullptr;
    curl_easy_getinfo(handle, CURLINFO_CONTENT_TYPE, &type);
    // Servers that ignore "stream": true answer with plain JSON; that is parsed as such.
    return type == nullptr || !StartsWithNoCase(type, "application/json");
  }
};

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::size_t bytes = size * count;
  std::string_view chunk(data, bytes);
  if (transfer->stream && transfer->ResponseCode() == 200 && transfer->IsEventStream()) {
    Status status = transfer->events->Feed(chunk);
    if (!status.ok()) {
      transfer->stream_error = status;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    return bytes;
  }
  if (transfer->body.size() + bytes > kMaxBodyBytes) {
    transfer->too_large = true;
    return 0;
  }
  transfer->body.append(chunk);
  return bytes;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (StartsWithNoCase(line, "HTTP/")) transfer->retry_after.clear();  // a new response
  constexpr std::string_view kRetryAfter = "retry-after:";
  if (StartsWithNoCase(line, kRetryAfter))
    transfer->retry_after = Trim(line.substr(kRetryAfter.size()));
  return size * count;
}

struct CurlDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// What one attempt came to, and whether another attempt may help.
struct AttemptResult {
  Status status;
  bool retryable = false;
  std::optional<milliseconds> retry_after;
  bool tokens_delivered = false;
};

bool IsConnectionFailure(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

std::string Seconds(milliseconds ms) {
  double seconds = static_cast<double>(ms.count()) / 1000.0;
  char text[32];
  std::snprintf(text, sizeof text, "%gs", seconds);
  return text;
}

AttemptResult Attempt(const LlmOptions& options, const std::string& url, const std::string& body,
                      const TokenCallback& on_token, ChatResponse& response) {
  AttemptResult result;
  std::unique_ptr<CURL, CurlDeleter> handle(curl_easy_init());
  if (!handle) {
    result.status = Status::Internal("libcurl could not create a handle");
    return result;
  }
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const std::string& header) {
    curl_slist* list = curl_slist_append(headers.get(), header.c_str());
    if (list != nullptr) {
      (void)headers.release();
      headers.reset(list);
    }
  };
  add_header("Content-Type: application/json");
  add_header(options.stream ? "Accept: text/event-stream" : "Accept: application/json");
  if (!options.api_key.empty()) add_header("Authorization: Bearer " + options.api_key);

  response = ChatResponse{};
  Transfer transfer;
  transfer.handle = handle.get();
  transfer.stream = options.stream;
  if (options.stream) transfer.events.emplace(on_token, response);

  CURL* h = handle.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, "sieve/0.1");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
  char curl_error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error);

  CURLcode code = curl_easy_perform(h);
  result.tokens_delivered = transfer.events && transfer.events->tokens_delivered();
  std::string detail = curl_error[0] != '\0' ? curl_error : curl_easy_strerror(code);

  if (code == CURLE_WRITE_ERROR && !transfer.stream_error.ok()) {
    result.status = transfer.stream_error;
    return result;
  }
  if (transfer.too_large) {
    result.status = Status::InvalidInput("response larger than " +
                                         std::to_string(kMaxBodyBytes >> 20) + " MiB");
    return result;
  }
  if (code == CURLE_OPERATION_TIMEDOUT) {
    long http = transfer.ResponseCode();
    result.status = Status::Timeout(
        (http == 0 ? "no response within " : "response not complete within ") +
        Seconds(http == 0 && detail.find("onnect") != std::string::npos ? options.connect_timeout
                                                                        : options.timeout) +
        " (" + detail + ")");
    return result;
  }
  if (code != CURLE_OK && result.tokens_delivered) {
    result.status = Status::Unavailable("the event stream broke off: " + detail);
    return result;
  }
  if (code != CURLE_OK) {
    result.status = Status::Unavailable("cannot reach the server: " + detail);
    result.retryable = IsConnectionFailure(code) && !result.tokens_delivered;
    return result;
  }

  long http = transfer.ResponseCode();
  if (http == 401 || http == 403) {
    result.status =
        Status::Unavailable("the server rejected the API key (HTTP " + std::to_string(http) +
                            "): " + ServerErrorText(transfer.body) +
                            "; set SIEVE_LLM_API_KEY or the configured key variable");
    return result;
  }
  if (http == 429 || (http >= 500 && http <= 599)) {
    result.status =
        Status::Unavailable((http == 429 ? std::string("rate limited (HTTP 429): ")
                                         : "server error (HTTP " + std::to_string(http) + "): ") +
                            ServerErrorText(transfer.body));
    result.retryable = true;
    if (!transfer.retry_after.empty()) result.retry_after = ParseRetryAfter(transfer.retry_after);
    return result;
  }
  if (http != 200) {
    std::string hint = http == 404 ? " (check the base URL and the model name)" : "";
    result.status = Status::Unavailable("HTTP " + std::to_string(http) + hint + ": " +
                                        ServerErrorText(transfer.body));
    return result;
  }
  if (transfer.stream && transfer.IsEventStream()) {
    result.status = transfer.events->Finish();
  } else {
    result.status = ParseCompletionBody(transfer.body, response);
    if (result.status.ok() && options.stream && on_token && !response.content.empty()) {
      on_token(response.content);  // a server that ignored "stream": one piece
      result.tokens_delivered = true;
    }
  }
  if (result.status.ok() && response.model.empty()) response.model = options.model;
  return result;
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
  std::string text = Trim(value);
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (text.size() > 9) return std::nullopt;
    return milliseconds(std::stoll(text) * 1000);
  }
  time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == -1) return std::nullopt;
  time_t now = std::time(nullptr);
  return milliseconds(when > now ? static_cast<long long>(when - now) * 1000 : 0);
}

LlmClient::LlmClient(LlmOptions options) : options_(std::move(options)) {}

Result<ChatResponse> LlmClient::Complete(const std::vector<ChatMessage>& messages,
                                         const TokenCallback& on_token) const {
  if (options_.base_url.empty())
    return Status::InvalidArgument("no LLM base URL configured (set llm.url or llm.preset)");
  if (options_.model.empty())
    return Status::InvalidArgument("no LLM model configured for " + options_.base_url +
                                   " (set llm.model or SIEVE_LLM_MODEL)");
  const std::string url = EndpointUrl(options_.base_url);
  const std::string body = ChatRequestBody(options_, messages);
  std::mt19937_64 random(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.75, 1.25);
  const int max_attempts = 1 + std::max(0, options_.max_retries);

  ChatResponse response;
  for (int attempt = 1;; ++attempt) {
    AttemptResult result = Attempt(options_, url, body, on_token, response);
    response.attempts = attempt;
    if (result.status.ok()) return response;
    auto fail = [&](const std::string& why) {
      return result.status.WithContext("LLM at " + url + why);
    };
    if (!result.retryable || result.tokens_delivered) return fail("");
    if (attempt >= max_attempts) {
      return fail(" (after " + std::to_string(attempt) + " attempt" + (attempt > 1 ? "s" : "") +
                  ")");
    }
    double backoff_ms = static_cast<double>(options_.initial_backoff.count()) *
                        std::pow(2.0, attempt - 1) * jitter(random);
    milliseconds wait(static_cast<long long>(
        std::min(backoff_ms, static_cast<double>(options_.max_backoff.count()))));
    if (result.retry_after) {
      if (*result.retry_after > options_.max_backoff) {
        return fail(" (server asked to retry after " + Seconds(*result.retry_after) +
                    ", more than the " + Seconds(options_.max_backoff) + " limit)");
      }
      wait = *result.retry_after;
    }
    std::this_thread::sleep_for(wait);
  }
}

}  // namespace sieve::generation
