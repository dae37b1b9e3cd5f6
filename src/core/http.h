// core/http.h: the one HTTP client of Sieve (libcurl), used by the LLM client, the Hub download
// and the exporters: requests with headers and a body, responses buffered or streamed through a
// callback (server-sent events, downloads to a file, Range resumes), a retry policy (exponential
// backoff with jitter and a cap, Retry-After on 429/503), timeouts (connect, total, idle), and
// cancellation and deadlines through a RequestContext.
//
// Thread-safety: a Client may be used by many threads at once (Send is const and thread-safe);
// it keeps a small pool of libcurl handles so connections are reused (keep-alive) across
// requests. A Request and its callbacks belong to the one call that uses them. libcurl's global
// initialisation happens once, the first time a Client is built.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/context.h"
#include "core/status.h"

namespace sieve::http {

// Response headers by lower-case name (of the final response; a repeated header keeps its last
// value).
using Headers = std::map<std::string, std::string>;

struct Response {
  long status = 0;         // HTTP status code of the final response (after redirects followed)
  Headers headers;         // of the final response
  std::string body;        // unless Request::on_body received it
  int attempts = 0;        // requests made for this call, retries included
  std::string retry_note;  // why retrying stopped although the status is retryable, e.g.
                           // "server asked to retry after 3600s, more than the 8s limit"

  // The value of header `name` (any case), or "".
  std::string header(std::string_view name) const;
};

// Receives the body of a 2xx response, piece by piece, in order; `head` holds the status and the
// headers. Returning a non-OK Status stops the transfer, and Send returns that Status (no retry).
using BodyCallback = std::function<Status(const Response& head, std::string_view chunk)>;

struct RetryPolicy {
  int max_attempts = 3;  // 1 = no retries
  std::chrono::milliseconds initial_backoff{500};
  double multiplier = 2.0;
  double jitter = 0.25;  // the wait is scaled by a random factor in [1 - jitter, 1 + jitter]
  std::chrono::milliseconds max_backoff{8000};
  // A Retry-After header (seconds or HTTP date) on a 429 or 503 answer sets the wait. A longer
  // wait than this ends the retries (Response::retry_note says so).
  bool honour_retry_after = true;
  std::chrono::milliseconds max_retry_after{60000};
  bool retry_connection_errors = true;           // refused, DNS, TLS handshake, reset, closed early
  bool retry_timeouts = false;                   // a connect / total / idle timeout of one attempt
  bool retry_server_errors = true;               // any 5xx
  std::vector<int> retry_statuses = {408, 429};  // more statuses that are retried
  // Called before each retry's wait (for logs and tests): the attempt that failed (1-based), the
  // wait chosen and why the attempt failed.
  std::function<void(int attempt, std::chrono::milliseconds wait, const Status& why)> on_retry;
};

struct Timeouts {
  std::chrono::milliseconds connect{10000};
  std::chrono::milliseconds total{0};  // one attempt from connect to last byte; 0 = no limit
  std::chrono::milliseconds idle{0};   // fails when no byte arrives for this long; 0 = no limit
};

struct Request {
  std::string method = "GET";  // GET, HEAD, POST, PUT, DELETE, PATCH...
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given
  std::string body;                                          // sent when non-empty (or POST)
  std::optional<std::uint64_t> range_start;                  // sends "Range: bytes=N-"
  bool follow_redirects = true;                              // at most 10, http and https only
  Timeouts timeouts;
  RetryPolicy retry;
  std::size_t max_body_bytes = 64u << 20;  // a larger buffered body fails with kInvalidInput
  BodyCallback on_body;                    // unset: the body is buffered in Response::body
  // Called before retrying an attempt whose body already reached on_body: the byte offset to
  // resume from (sent as Range), or nullopt when the caller cannot resume. Unset: such an attempt
  // is never retried (the caller would see the same bytes twice).
  std::function<std::optional<std::uint64_t>()> resume_from;
};

struct ClientOptions {
  std::string user_agent;            // empty: "sieve/<version>"
  std::size_t max_idle_handles = 8;  // libcurl handles (and their connections) kept for reuse
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Performs `request`, retrying as its policy says. Any HTTP answer is a Response (look at
  // status; after the last retry of a retryable status the last answer is returned). Errors:
  // kUnavailable (DNS, connection refused, TLS, connection closed early: the message names the
  // host and the reason, with "after N attempts" when retried), kTimeout (connect, total or idle
  // timeout of the request, or ctx's deadline, which no attempt or wait outlives), kCancelled
  // (ctx cancelled: the transfer stops within milliseconds), kInvalidInput (body over
  // max_body_bytes, bad URL), or the Status on_body returned. With a ctx, the request is a span
  // "http <METHOD>" with http.method, http.url (no credentials, no query), http.status_code.
  // Thread-safe.
  Result<Response> Send(const Request& request, RequestContext* ctx = nullptr) const;

 private:
  struct Handle;
  std::unique_ptr<Handle> Acquire() const;
  void Release(std::unique_ptr<Handle> handle) const;

  struct Pool;
  ClientOptions options_;
  std::unique_ptr<Pool> pool_;
};

// A Status for an HTTP answer that is an error: "host: HTTP 404 Not Found: <body excerpt>"
// (kNotFound for 404, kInvalidArgument for other 4xx, kUnavailable otherwise).
Status ErrorFromResponse(const Response& response, std::string_view url);

// Seconds or an HTTP date from a Retry-After value, as a wait from now (zero for a past date);
// nullopt when unparseable.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value);

// `url` without user name, password, query and fragment: safe for logs and spans.
std::string RedactUrl(std::string_view url);

// "host:port" of a URL ("" when it does not parse).
std::string HostOf(std::string_view url);

}  // namespace sieve::http
