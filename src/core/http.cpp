#include "core/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>
#include <stop_token>
#include <thread>

namespace sieve::http {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxQuotedBody = 200;

// curl_global_init, exactly once per process (a function-local static is initialised once, even
// when several threads get here together).
void GlobalInit() {
  static const CURLcode kInit = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)kInit;
}

std::string Lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string Seconds(milliseconds ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%gs", static_cast<double>(ms.count()) / 1000.0);
  return text;
}

std::string Excerpt(std::string_view body) {
  std::string out = Trim(body);
  if (out.size() > kMaxQuotedBody) out = out.substr(0, kMaxQuotedBody) + "...";
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

std::optional<std::string> UrlPart(CURLU* url, CURLUPart part, unsigned flags = 0) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, flags) != CURLUE_OK || value == nullptr) return std::nullopt;
  std::unique_ptr<char, CurlStringDeleter> owned(value);
  return std::string(value);
}

bool IsConnectionError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// What one transport failure means, in words: "cannot connect (...)".
std::string Reason(CURLcode code, const std::string& host) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
      return "cannot resolve host '" + host + "' (DNS)";
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "cannot resolve the proxy (DNS)";
    case CURLE_COULDNT_CONNECT:
      return "cannot connect (connection refused or host unreachable)";
    case CURLE_SSL_CONNECT_ERROR:
      return "TLS handshake failed";
    case CURLE_PEER_FAILED_VERIFICATION:
      return "TLS certificate not trusted";
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return "TLS setup failed";
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      return "connection closed before the answer was complete";
    case CURLE_SEND_ERROR:
      return "connection broke while sending";
    case CURLE_TOO_MANY_REDIRECTS:
      return "too many redirects";
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return "unusable URL";
    default:
      return "transfer failed";
  }
}

std::string Attempts(int attempts) {
  return attempts > 1 ? " (after " + std::to_string(attempts) + " attempts)" : "";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Free functions.

std::string Response::header(std::string_view name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? std::string() : it->second;
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

std::string RedactUrl(std::string_view url) {
  std::unique_ptr<CURLU, CurlUrlDeleter> handle(curl_url());
  std::string text(url);
  if (!handle || curl_url_set(handle.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    // Not a URL curl reads: drop anything that might be a credential.
    auto cut = text.find_first_of("?#@");
    return cut == std::string::npos ? text : text.substr(0, cut) + "...";
  }
  for (CURLUPart part :
       {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS, CURLUPART_QUERY, CURLUPART_FRAGMENT})
    curl_url_set(handle.get(), part, nullptr, 0);
  return UrlPart(handle.get(), CURLUPART_URL).value_or(std::string());
}

std::string HostOf(std::string_view url) {
  std::unique_ptr<CURLU, CurlUrlDeleter> handle(curl_url());
  std::string text(url);
  if (!handle || curl_url_set(handle.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) return "";
  auto host = UrlPart(handle.get(), CURLUPART_HOST);
  auto port = UrlPart(handle.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!host) return "";
  return port ? *host + ":" + *port : *host;
}

Status ErrorFromResponse(const Response& response, std::string_view url) {
  std::string text = HostOf(url) + ": HTTP " + std::to_string(response.status);
  std::string excerpt = Excerpt(response.body);
  if (!excerpt.empty()) text += ": " + excerpt;
  text += Attempts(response.attempts);
  if (!response.retry_note.empty()) text += " (" + response.retry_note + ")";
  if (response.status == 404) return Status::NotFound(text);
  if (response.status >= 400 && response.status < 500 && response.status != 401 &&
      response.status != 403 && response.status != 408 && response.status != 429) {
    return Status::InvalidArgument(text);
  }
  return Status::Unavailable(text);
}

// ---------------------------------------------------------------------------------------------
// The handle pool.

struct Client::Handle {
  CURLM* multi = nullptr;  // owns the connection cache the easy handle uses
  CURL* easy = nullptr;
  ~Handle() {
    if (multi != nullptr) curl_multi_cleanup(multi);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

struct Client::Pool {
  std::mutex mutex;
  std::vector<std::unique_ptr<Handle>> idle;
};

Client::Client(ClientOptions options) : options_(std::move(options)), pool_(new Pool) {
  GlobalInit();
  if (options_.user_agent.empty()) options_.user_agent = std::string("sieve/") + SIEVE_VERSION;
}

Client::~Client() = default;

std::unique_ptr<Client::Handle> Client::Acquire() const {
  {
    std::lock_guard<std::mutex> lock(pool_->mutex);
    if (!pool_->idle.empty()) {
      std::unique_ptr<Handle> handle = std::move(pool_->idle.back());
      pool_->idle.pop_back();
      curl_easy_reset(handle->easy);  // keeps the connections, DNS and TLS session caches
      return handle;
    }
  }
  auto handle = std::make_unique<Handle>();
  handle->easy = curl_easy_init();
  handle->multi = curl_multi_init();
  if (handle->easy == nullptr || handle->multi == nullptr) return nullptr;
  return handle;
}

void Client::Release(std::unique_ptr<Handle> handle) const {
  std::lock_guard<std::mutex> lock(pool_->mutex);
  if (pool_->idle.size() < options_.max_idle_handles) pool_->idle.push_back(std::move(handle));
}

// ---------------------------------------------------------------------------------------------
// One attempt.

namespace {

struct Transfer {
  CURL* easy = nullptr;
  const Request* request = nullptr;
  RequestContext* ctx = nullptr;
  Response* response = nullptr;
  bool delivered = false;  // body bytes reached on_body
  Status body_error;       // set when the body could not be taken
};

std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();  // a new response: after a redirect or a 100 Continue
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    t->response->headers[Lower(Trim(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
  }
  return size * count;
}

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t bytes = size * count;
  long code = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  t->response->status = code;
  if (t->request->on_body && code >= 200 && code < 300) {
    if (bytes == 0) return 0;
    t->delivered = true;
    Status status = t->request->on_body(*t->response, std::string_view(data, bytes));
    if (!status.ok()) {
      t->body_error = std::move(status);
      return 0;  // CURLE_WRITE_ERROR
    }
    return bytes;
  }
  if (t->response->body.size() + bytes > t->request->max_body_bytes) {
    t->body_error = Status::InvalidInput("response larger than " +
                                         std::to_string(t->request->max_body_bytes >> 20) + " MiB");
    return 0;
  }
  t->response->body.append(data, bytes);
  return bytes;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->ctx != nullptr && t->ctx->stopped() ? 1 : 0;
}

// What one attempt came to.
struct Outcome {
  Status status;  // not OK: no usable HTTP answer
  bool retryable = false;
  bool delivered = false;
};

}  // namespace

Result<Response> Client::Send(const Request& request, RequestContext* ctx) const {
  Span span;
  if (ctx != nullptr) {
    span = ctx->StartSpan("http " + request.method);
    span.SetAttribute("http.method", request.method);
    span.SetAttribute("http.url", RedactUrl(request.url));
  }
  auto finish = [&span](Result<Response> result) {
    if (result.ok()) {
      span.SetAttribute("http.status_code", static_cast<std::int64_t>(result->status));
      span.SetAttribute("http.attempts", static_cast<std::int64_t>(result->attempts));
    }
    span.End(result.status());
    return result;
  };

  const std::string host = HostOf(request.url);
  const std::string where = host.empty() ? request.url : host;
  const RetryPolicy& policy = request.retry;
  const int max_attempts = std::max(1, policy.max_attempts);
  std::optional<std::uint64_t> range_start = request.range_start;
  std::optional<std::mt19937_64> random;

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const std::string& line) {
    curl_slist* list = curl_slist_append(headers.get(), line.c_str());
    if (list != nullptr) {
      (void)headers.release();
      headers.reset(list);
    }
  };
  for (const auto& [name, value] : request.headers) add_header(name + ": " + value);
  const bool has_body = !request.body.empty() || request.method == "POST";
  if (has_body) add_header("Expect:");  // no 100-continue round trip

  for (int attempt = 1;; ++attempt) {
    if (ctx != nullptr) {
      if (Status stop = ctx->Check(); !stop.ok()) {
        return finish(stop.WithContext(request.method + " " + where));
      }
    }
    Response response;
    response.attempts = attempt;
    Outcome outcome;
    {
      std::unique_ptr<Handle> handle = Acquire();
      if (!handle) return finish(Status::Internal("libcurl could not create a handle"));
      CURL* h = handle->easy;
      Transfer transfer;
      transfer.easy = h;
      transfer.request = &request;
      transfer.ctx = ctx;
      transfer.response = &response;
      char error[CURL_ERROR_SIZE] = {};
      curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
      curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
      curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
      curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
      curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
      curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
      curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
      if (request.method == "GET") {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
      } else if (request.method == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
      } else if (request.method != "POST") {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      }
      if (has_body) {
        if (request.method == "POST") curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
      }
      std::string range;
      if (range_start && *range_start > 0) {
        range = std::to_string(*range_start) + "-";
        curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
      }
      // Timeouts: the request's own, and never past the context's deadline.
      const Timeouts& t = request.timeouts;
      milliseconds total = t.total;
      bool deadline_bound = false;
      if (ctx != nullptr) {
        if (auto left = ctx->remaining()) {
          milliseconds rest = std::max(*left, milliseconds(1));
          if (total.count() <= 0 || rest < total) {
            total = rest;
            deadline_bound = true;
          }
        }
      }
      milliseconds connect = t.connect;
      if (total.count() > 0 && (connect.count() <= 0 || connect > total)) connect = total;
      if (connect.count() > 0) {
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect.count()));
      }
      if (total.count() > 0) {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(total.count()));
      }
      if (t.idle.count() > 0) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                         std::max(1L, static_cast<long>((t.idle.count() + 999) / 1000)));
      }
      curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
      curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
      curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
      if (ctx != nullptr) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, OnProgress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
      }

      // The multi interface, so a cancellation wakes the wait at once.
      CURLcode code = CURLE_OK;
      bool stopped = false;
      curl_multi_add_handle(handle->multi, h);
      {
        std::optional<std::stop_callback<std::function<void()>>> wake;
        if (ctx != nullptr && ctx->stop_token().stop_possible()) {
          CURLM* multi = handle->multi;
          wake.emplace(ctx->stop_token(),
                       std::function<void()>([multi] { curl_multi_wakeup(multi); }));
        }
        for (;;) {
          int running = 0;
          CURLMcode mc = curl_multi_perform(handle->multi, &running);
          if (mc != CURLM_OK) {
            code = CURLE_FAILED_INIT;
            break;
          }
          if (running == 0) {
            int queued = 0;
            CURLMsg* msg = nullptr;
            while ((msg = curl_multi_info_read(handle->multi, &queued)) != nullptr) {
              if (msg->msg == CURLMSG_DONE) code = msg->data.result;
            }
            break;
          }
          if (ctx != nullptr && ctx->stopped()) {
            stopped = true;
            break;
          }
          int wait_ms = 1000;
          if (ctx != nullptr) {
            if (auto left = ctx->remaining()) {
              wait_ms = static_cast<int>(std::clamp<long long>(left->count() + 1, 1, 1000));
            }
          }
          curl_multi_poll(handle->multi, nullptr, 0, wait_ms, nullptr);
        }
      }
      curl_multi_remove_handle(handle->multi, h);
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
      outcome.delivered = transfer.delivered;
      std::string detail = error[0] != '\0' ? error : curl_easy_strerror(code);
      Release(std::move(handle));

      if (ctx != nullptr && (stopped || code == CURLE_ABORTED_BY_CALLBACK ||
                             (code == CURLE_OPERATION_TIMEDOUT && deadline_bound))) {
        Status stop = ctx->Check();
        if (stop.ok()) stop = Status::Timeout("request deadline passed");
        return finish(stop.WithContext(request.method + " " + where));
      }
      if (!transfer.body_error.ok()) return finish(transfer.body_error);
      if (code == CURLE_OPERATION_TIMEDOUT) {
        std::string kind = "total timeout";
        milliseconds limit = total;
        if (detail.find("onnect") != std::string::npos ||
            detail.find("esolv") != std::string::npos) {
          kind = "connect timeout";
          limit = connect;
        } else if (detail.find("too slow") != std::string::npos) {
          kind = "idle timeout";
          limit = t.idle;
        }
        outcome.status = Status::Timeout(
            where +
            (response.status == 0 ? ": no response within " : ": response not complete within ") +
            Seconds(limit) + " (" + kind + "; " + detail + ")");
        outcome.retryable = policy.retry_timeouts;
      } else if (code != CURLE_OK) {
        outcome.status =
            Status::Unavailable(where + ": " + Reason(code, host) + " (" + detail + ")");
        outcome.retryable = policy.retry_connection_errors && IsConnectionError(code);
      } else {
        long s = response.status;
        outcome.retryable = (policy.retry_server_errors && s >= 500 && s <= 599) ||
                            std::find(policy.retry_statuses.begin(), policy.retry_statuses.end(),
                                      s) != policy.retry_statuses.end();
      }
    }

    // Another attempt?
    bool again = outcome.retryable && attempt < max_attempts;
    if (again && outcome.delivered) {
      std::optional<std::uint64_t> from;
      if (request.resume_from) from = request.resume_from();
      if (from) {
        range_start = *from;
      } else {
        again = false;
      }
    }
    milliseconds wait(0);
    if (again) {
      if (!random) random.emplace(std::random_device{}());
      double factor = 1.0;
      if (policy.jitter > 0) {
        factor = std::uniform_real_distribution<double>(1.0 - policy.jitter,
                                                        1.0 + policy.jitter)(*random);
      }
      double backoff = static_cast<double>(policy.initial_backoff.count()) *
                       std::pow(policy.multiplier, attempt - 1) * factor;
      wait = milliseconds(static_cast<long long>(
          std::min(backoff, static_cast<double>(policy.max_backoff.count()))));
      if (outcome.status.ok() && policy.honour_retry_after &&
          (response.status == 429 || response.status == 503)) {
        if (auto after = ParseRetryAfter(response.header("retry-after"))) {
          if (*after > policy.max_retry_after) {
            response.retry_note = "server asked to retry after " + Seconds(*after) +
                                  ", more than the " + Seconds(policy.max_retry_after) + " limit";
            again = false;
          } else {
            wait = *after;
          }
        }
      }
    }
    if (!again) {
      if (!outcome.status.ok()) {
        return finish(Status(outcome.status.code(), outcome.status.message() + Attempts(attempt)));
      }
      return finish(std::move(response));
    }
    Status why = outcome.status.ok()
                     ? Status::Unavailable(where + ": HTTP " + std::to_string(response.status))
                     : outcome.status;
    if (policy.on_retry) policy.on_retry(attempt, wait, why);
    if (ctx != nullptr) {
      if (auto left = ctx->remaining(); left && *left < wait) {
        return finish(Status::Timeout(request.method + " " + where + ": the request deadline " +
                                      "comes before the next retry (in " + Seconds(wait) +
                                      "); last attempt: " + why.message()));
      }
      // Sleeps, waking at once on cancellation.
      std::mutex mutex;
      std::condition_variable_any cv;
      std::unique_lock<std::mutex> lock(mutex);
      std::stop_token token = ctx->stop_token();
      cv.wait_for(lock, token, wait, [] { return false; });
    } else {
      std::this_thread::sleep_for(wait);
    }
  }
}

}  // namespace sieve::http
