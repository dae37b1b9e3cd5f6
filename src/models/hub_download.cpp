// The online half of models/hub.h: PullModel over libcurl, following huggingface_hub's protocol:
// GET /api/models/{repo}/revision/{rev} for the commit and file list, then for each file a HEAD on
// /{repo}/resolve/{commit}/{file} (ETag, X-Linked-Etag/-Size for LFS files, a redirect to the CDN)
// and a resumable GET into blobs/{etag}.incomplete, checked and renamed into place.
#include <curl/curl.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/file.h"
#include "models/hub.h"

namespace sieve::models {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultEndpoint = "https://huggingface.co";
constexpr std::size_t kMaxBodyBytes = 64u << 20;  // API answers and error pages, not files
constexpr int kMaxRelativeRedirects = 5;

// ---------------------------------------------------------------------------------------------
// Small helpers.

std::optional<std::string> Env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

bool EnvIsTrue(const char* name) {
  auto value = Env(name);
  if (!value) return false;
  std::string upper;
  for (char c : *value)
    upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

std::string Lower(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

bool IsHex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
  });
}

std::string ErrnoText() {
  return std::strerror(errno);
}

// Percent-encodes all but unreserved characters (and "/" when keep_slash), as
// urllib.parse.quote does for file names (keep_slash) and revisions (not).
std::string PercentEncode(std::string_view s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// huggingface_hub's _normalize_etag: drop a weak-validator "W/" and the quotes.
std::string NormalizeEtag(std::string_view etag) {
  std::string s = Trim(etag);
  if (s.starts_with("W/")) s = Trim(std::string_view(s).substr(2));
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

// A repository file name from the server becomes a path under snapshots/, so it must stay inside.
bool IsSafeRepoPath(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.size() > 4096) return false;
  if (name.find('\\') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view segment = name.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    start = end + 1;
  }
  return true;
}

std::optional<std::uint64_t> ParseSize(std::string_view text) {
  std::uint64_t value = 0;
  text = std::string_view(text).substr(0, text.find_last_not_of(" \t\r\n") + 1);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

struct EvpCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// The git blob id of a file: SHA-1 of "blob {size}\0" followed by the contents. The Hub's ETag of
// a file stored in git (not LFS) is this id.
Result<std::string> GitBlobSha1OfFile(const fs::path& path) {
  std::error_code ec;
  std::uint64_t size = fs::file_size(path, ec);
  if (ec) return Status::IoError(path.string() + ": " + ec.message());
  std::unique_ptr<EVP_MD_CTX, EvpCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr) != 1) {
    return Status::Internal("OpenSSL SHA-1 is not available");
  }
  std::string header = "blob " + std::to_string(size);
  EVP_DigestUpdate(ctx.get(), header.data(), header.size() + 1);  // with the NUL
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(path.string() + ": cannot open: " + ErrnoText());
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status status = Status::IoError(path.string() + ": read failed: " + ErrnoText());
      ::close(fd);
      return status;
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

// An exclusive flock(2) on {cache}/.locks/{repo folder}/{etag}.lock, the lock huggingface_hub's
// filelock takes, so Sieve and Python tools never write the same blob at once.
class BlobLock {
 public:
  static Result<BlobLock> Acquire(const fs::path& lock_path) {
    std::error_code ec;
    fs::create_directories(lock_path.parent_path(), ec);
    if (ec) return Status::IoError(lock_path.parent_path().string() + ": " + ec.message());
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IoError(lock_path.string() + ": cannot open: " + ErrnoText());
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      Status status = Status::IoError(lock_path.string() + ": cannot lock: " + ErrnoText());
      ::close(fd);
      return status;
    }
    return BlobLock(fd);
  }
  BlobLock(BlobLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  BlobLock& operator=(BlobLock&&) = delete;
  ~BlobLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }

 private:
  explicit BlobLock(int fd) : fd_(fd) {}
  int fd_;
};

// ---------------------------------------------------------------------------------------------
// libcurl.

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct CurlListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};

struct Settings {
  fs::path cache_dir;
  std::string endpoint;
  std::string token;
  double timeout_seconds = 10;
  int max_retries = 4;
  double retry_base_delay_seconds = 0.5;
  PullProgressCallback progress;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, of the last response only
  std::string body;                            // unless the body went to a file

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Where a GET writes its body: appended to an open file that already holds `offset` bytes.
struct FileSink {
  int fd = -1;
  std::uint64_t offset = 0;
  std::uint64_t total = 0;
  std::string name;  // for progress
};

struct Request {
  bool head = false;
  std::string url;
  bool follow_redirects = true;
  bool send_token = true;
  FileSink* sink = nullptr;
};

// One attempt's outcome: an HTTP answer (any status), or a transport failure that may be worth
// retrying.
struct Attempt {
  Status status;  // not OK: no HTTP answer
  bool transient = false;
  HttpResponse response;
};

struct TransferState {
  CURL* curl = nullptr;
  HttpResponse* response = nullptr;
  FileSink* sink = nullptr;
  const Settings* settings = nullptr;
  bool decided = false;  // whether the first body bytes were seen
  bool to_file = false;  // body goes to sink->fd
  std::uint64_t written = 0;
  Status write_error;
};

std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    state->response->headers.clear();  // a new response (after a redirect or a 100 Continue)
    auto space = line.find(' ');
    if (space != std::string_view::npos) {
      state->response->status =
          std::strtol(std::string(line.substr(space + 1, 3)).c_str(), nullptr, 10);
    }
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    state->response->headers[Lower(Trim(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
  }
  return size * count;
}

// Whether a 206 answer starts where the partial file ends ("bytes START-END/TOTAL").
bool RangeStartsAt(const std::string& content_range, std::uint64_t offset) {
  std::string_view s = content_range;
  if (!s.starts_with("bytes ")) return false;
  s.remove_prefix(6);
  auto dash = s.find('-');
  auto start = ParseSize(s.substr(0, dash));
  return start && *start == offset;
}

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  std::size_t bytes = size * count;
  if (!state->decided) {
    state->decided = true;
    long code = 0;
    curl_easy_getinfo(state->curl, CURLINFO_RESPONSE_CODE, &code);
    FileSink* sink = state->sink;
    if (sink != nullptr && code == 206) {
      if (!RangeStartsAt(state->response->Header("content-range"), sink->offset)) {
        state->write_error = Status::InvalidInput(
            "server resumed " + sink->name +
            " at the wrong offset (Content-Range: " + state->response->Header("content-range") +
            ", wanted byte " + std::to_string(sink->offset) + ")");
        return 0;
      }
      state->to_file = true;
    } else if (sink != nullptr && code == 200) {
      // The server ignored our Range header and sent the whole file: start the file over.
      if (sink->offset > 0 && ::ftruncate(sink->fd, 0) != 0) {
        state->write_error = Status::IoError(sink->name + ": cannot truncate: " + ErrnoText());
        return 0;
      }
      sink->offset = 0;
      state->to_file = true;
    }
  }
  if (!state->to_file) {
    if (state->response->body.size() + bytes > kMaxBodyBytes) {
      state->write_error =
          Status::InvalidInput("answer is over " + std::to_string(kMaxBodyBytes >> 20) + " MiB");
      return 0;
    }
    state->response->body.append(data, bytes);
    return bytes;
  }
  FileSink* sink = state->sink;
  std::size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::write(sink->fd, data + done, bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      state->write_error = Status::IoError(sink->name + ": write failed: " + ErrnoText());
      return 0;
    }
    done += static_cast<std::size_t>(n);
  }
  state->written += bytes;
  if (state->settings->progress) {
    state->settings->progress({sink->name, sink->offset + state->written, sink->total});
  }
  return bytes;
}

bool IsTransientCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

bool IsTransientHttpStatus(long status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

std::string UserAgent() {
  return std::string("sieve/") + SIEVE_VERSION + "; " + curl_version();
}

Attempt PerformOnce(const Request& request, const Settings& settings) {
  Attempt attempt;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) {
    attempt.status = Status::Internal("curl_easy_init failed");
    return attempt;
  }
  TransferState state;
  state.curl = curl.get();
  state.response = &attempt.response;
  state.sink = request.sink;
  state.settings = &settings;

  std::unique_ptr<curl_slist, CurlListDeleter> headers;
  auto add_header = [&headers](const std::string& header) {
    headers.reset(curl_slist_append(headers.release(), header.c_str()));
  };
  add_header("Accept-Encoding: identity");  // sizes and hashes are of the raw bytes
  if (request.send_token && !settings.token.empty()) {
    add_header("Authorization: Bearer " + settings.token);
  }
  std::string range;
  if (request.sink != nullptr && request.sink->offset > 0) {
    range = std::to_string(request.sink->offset) + "-";
  }
  char error_buffer[CURL_ERROR_SIZE] = {};
  auto timeout_ms = static_cast<long>(settings.timeout_seconds * 1000);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, UserAgent().c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOBODY, request.head ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  // "No byte for timeout seconds" ends a stalled transfer without capping a long download.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                   std::max(1L, static_cast<long>(std::ceil(settings.timeout_seconds))));
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &state);
  if (!range.empty()) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());

  CURLcode code = curl_easy_perform(c);
  std::string method = request.head ? "HEAD " : "GET ";
  if (!state.write_error.ok()) {
    attempt.status = state.write_error.WithContext(method + request.url);
    return attempt;
  }
  if (code != CURLE_OK) {
    std::string message = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    std::string text = method + request.url + ": " + message;
    attempt.status =
        code == CURLE_OPERATION_TIMEDOUT ? Status::Timeout(text) : Status::Unavailable(text);
    attempt.transient = IsTransientCurlError(code);
    return attempt;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &attempt.response.status);
  attempt.transient = IsTransientHttpStatus(attempt.response.status);
  return attempt;
}

// Runs `once` until it gives a final answer, waiting longer after each transient failure.
// A transient HTTP status that is still there after the last retry is returned as an answer.
template <typename Once>
Attempt WithRetries(const Settings& settings, Once once) {
  double delay = settings.retry_base_delay_seconds;
  for (int tries = 0;; ++tries) {
    Attempt attempt = once();
    if (!attempt.transient || tries >= settings.max_retries) return attempt;
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    delay = std::min(delay * 2, 8.0);
  }
}

Result<HttpResponse> Send(const Request& request, const Settings& settings) {
  Attempt attempt = WithRetries(settings, [&] { return PerformOnce(request, settings); });
  if (!attempt.status.ok()) return attempt.status;
  return std::move(attempt.response);
}

// "scheme://host:port" of a URL, to tell whether a redirect leaves the endpoint's site.
std::string Origin(const std::string& url) {
  std::unique_ptr<CURLU, CurlUrlDeleter> handle(curl_url());
  if (!handle || curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return "";
  std::string origin;
  for (CURLUPart part : {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT}) {
    char* value = nullptr;
    CURLUcode rc =
        curl_url_get(handle.get(), part, &value, part == CURLUPART_PORT ? CURLU_DEFAULT_PORT : 0);
    std::unique_ptr<char, CurlStringDeleter> owned(value);
    if (rc != CURLUE_OK || value == nullptr) return "";
    origin += Lower(value);
    origin += part == CURLUPART_SCHEME ? "://" : part == CURLUPART_HOST ? ":" : "";
  }
  return origin;
}

// `location` (absolute, or relative to `base`) as an absolute URL.
Result<std::string> ResolveUrl(const std::string& base, const std::string& location) {
  std::unique_ptr<CURLU, CurlUrlDeleter> handle(curl_url());
  if (!handle || curl_url_set(handle.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      curl_url_set(handle.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) {
    return Status::InvalidInput(base + ": redirect to an invalid URL '" + location + "'");
  }
  char* value = nullptr;
  if (curl_url_get(handle.get(), CURLUPART_URL, &value, 0) != CURLUE_OK || value == nullptr) {
    return Status::InvalidInput(base + ": redirect to an invalid URL '" + location + "'");
  }
  std::unique_ptr<char, CurlStringDeleter> owned(value);
  return std::string(value);
}

bool IsAbsoluteUrl(std::string_view location) {
  auto colon = location.find("://");
  return colon != std::string_view::npos && colon > 0 &&
         std::all_of(location.begin(), location.begin() + static_cast<std::ptrdiff_t>(colon),
                     [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
}

// The Hub's explanation of an error answer: X-Error-Message, or a JSON body's "error".
std::string HubErrorText(const HttpResponse& response) {
  std::string text = response.Header("x-error-message");
  if (text.empty() && !response.body.empty()) {
    auto json = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (json.is_object() && json.contains("error") && json["error"].is_string()) {
      text = json["error"].get<std::string>();
    }
  }
  return text.empty() ? "" : " (" + text + ")";
}

// Maps an HTTP failure to a Status that says what to do. `what` names the repository or file.
Status HttpFailure(const HttpResponse& response, const std::string& what, const Settings& settings,
                   StatusCode not_found_code = StatusCode::kNotFound) {
  std::string http = "HTTP " + std::to_string(response.status) + HubErrorText(response);
  if (response.status == 401) {
    return Status::Unavailable(what + ": " + settings.endpoint + " refused access (" + http +
                               "): the repository is "
                               "private, gated or does not exist" +
                               (settings.token.empty()
                                    ? "; set HF_TOKEN to an access token that can read it"
                                    : "; the token in use (HF_TOKEN) was not accepted for it"));
  }
  if (response.status == 403) {
    return Status::Unavailable(what + ": " + settings.endpoint + " forbids access (" + http +
                               "); for a gated model accept its conditions on the model page, "
                               "and set HF_TOKEN to a token with read access");
  }
  if (response.status == 404) {
    return Status(not_found_code, what + ": not found on " + settings.endpoint + " (" + http + ")");
  }
  return Status::Unavailable(what + ": " + settings.endpoint + " answered " + http);
}

// ---------------------------------------------------------------------------------------------
// The pull.

struct RepoListing {
  std::string commit;
  std::vector<std::string> files;
};

Result<RepoListing> FetchListing(const std::string& repo_id, const std::string& revision,
                                 const Settings& settings) {
  Request request;
  request.url = settings.endpoint + "/api/models/" + repo_id + "/revision/" +
                PercentEncode(revision, /*keep_slash=*/false);
  SIEVE_ASSIGN_OR_RETURN(HttpResponse response, Send(request, settings));
  if (response.status == 404 && response.Header("x-error-code") == "RevisionNotFound") {
    return Status::NotFound(repo_id + ": revision '" + revision + "' not found on " +
                            settings.endpoint + HubErrorText(response));
  }
  if (response.status != 200) return HttpFailure(response, "model " + repo_id, settings);
  auto json = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  std::string where = request.url + ": ";
  if (!json.is_object()) return Status::InvalidInput(where + "answer is not a JSON object");
  RepoListing listing;
  if (!json.contains("sha") || !json["sha"].is_string()) {
    return Status::InvalidInput(where + "answer has no commit hash (\"sha\")");
  }
  listing.commit = Lower(json["sha"].get<std::string>());
  if (listing.commit.size() != 40 || !IsHex(listing.commit)) {
    return Status::InvalidInput(where + "\"sha\" is not a 40-hex commit hash: " + listing.commit);
  }
  if (!json.contains("siblings") || !json["siblings"].is_array()) {
    return Status::InvalidInput(where + "answer has no file list (\"siblings\")");
  }
  for (const auto& sibling : json["siblings"]) {
    if (!sibling.is_object() || !sibling.contains("rfilename") ||
        !sibling["rfilename"].is_string()) {
      return Status::InvalidInput(where + "a \"siblings\" entry has no \"rfilename\" string");
    }
    listing.files.push_back(sibling["rfilename"].get<std::string>());
  }
  return listing;
}

struct FileMetadata {
  std::string etag;
  std::uint64_t size = 0;
  std::string download_url;  // the CDN location for LFS files
};

// HEAD on the file's resolve URL, following only same-site (relative) redirects such as a renamed
// repository's; an absolute redirect is the CDN, whose URL is kept for the download.
Result<FileMetadata> FetchFileMetadata(const std::string& url, const std::string& what,
                                       const Settings& settings) {
  Request request;
  request.head = true;
  request.url = url;
  request.follow_redirects = false;
  HttpResponse response;
  for (int hops = 0;; ++hops) {
    SIEVE_ASSIGN_OR_RETURN(response, Send(request, settings));
    std::string location = response.Header("location");
    bool redirect = response.status >= 300 && response.status < 400 && !location.empty();
    if (!redirect || IsAbsoluteUrl(location)) break;
    if (hops >= kMaxRelativeRedirects) {
      return Status::Unavailable(what + ": too many redirects from " + url);
    }
    SIEVE_ASSIGN_OR_RETURN(request.url, ResolveUrl(request.url, location));
  }
  if (response.status >= 400 || response.status < 200) {
    return HttpFailure(response, what, settings);
  }
  FileMetadata meta;
  std::string etag = response.Header("x-linked-etag");
  if (etag.empty()) etag = response.Header("etag");
  meta.etag = NormalizeEtag(etag);
  if (meta.etag.empty()) {
    return Status::InvalidInput(what + ": the server sent no ETag, so the file cannot be cached");
  }
  // The ETag names a file in blobs/: keep it to plain characters.
  bool plain = std::all_of(meta.etag.begin(), meta.etag.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  if (!plain || meta.etag.size() > 255 || meta.etag.front() == '.') {
    return Status::InvalidInput(what + ": unusable ETag from the server: " + meta.etag);
  }
  std::string size = response.Header("x-linked-size");
  if (size.empty()) size = response.Header("content-length");
  auto parsed = ParseSize(size);
  if (!parsed) {
    return Status::InvalidInput(what +
                                ": the server sent no file size (X-Linked-Size or "
                                "Content-Length)");
  }
  meta.size = *parsed;
  std::string location = response.Header("location");
  meta.download_url = response.status >= 300 && !location.empty() ? location : request.url;
  return meta;
}

// Checks a downloaded file against its ETag: SHA-256 for LFS files (64 hex), the git blob SHA-1
// for others (40 hex). Other ETag forms (some mirrors) are checked by size only.
Status VerifyContent(const fs::path& path, const FileMetadata& meta, const std::string& what) {
  std::string expected = Lower(meta.etag);
  Result<std::string> actual = Status::Internal("unset");
  std::string kind;
  if (expected.size() == 64 && IsHex(expected)) {
    kind = "sha256";
    actual = Sha256HexOfFile(path);
  } else if (expected.size() == 40 && IsHex(expected)) {
    kind = "git blob sha1";
    actual = GitBlobSha1OfFile(path);
  } else {
    return Status::Ok();
  }
  if (!actual.ok()) return actual.status();
  if (*actual != expected) {
    return Status::InvalidInput(what + ": downloaded bytes do not match the " + kind + " " +
                                expected + " (got " + *actual +
                                "); the partial download was deleted, run the pull again");
  }
  return Status::Ok();
}

// Downloads into `incomplete`, resuming from what it already holds, until it has `meta.size`
// bytes. A transfer cut short keeps its bytes for the next try (or the next run).
Status DownloadBlob(const FileMetadata& meta, const fs::path& incomplete, const std::string& name,
                    const std::string& what, const Settings& settings) {
  Request request;
  request.url = meta.download_url;
  request.send_token = Origin(meta.download_url) == Origin(settings.endpoint);
  FileSink sink;
  sink.name = name;
  sink.total = meta.size;
  request.sink = &sink;
  Attempt outcome = WithRetries(settings, [&]() -> Attempt {
    Attempt attempt;
    std::error_code ec;
    std::uint64_t have = fs::exists(incomplete, ec) ? fs::file_size(incomplete, ec) : 0;
    if (ec) {
      attempt.status = Status::IoError(incomplete.string() + ": " + ec.message());
      return attempt;
    }
    if (have > meta.size) {  // not ours to trust: start over
      fs::remove(incomplete, ec);
      have = 0;
    }
    int fd = ::open(incomplete.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      attempt.status = Status::IoError(incomplete.string() + ": cannot open: " + ErrnoText());
      return attempt;
    }
    if (have == meta.size) {  // finished by an earlier run (or an empty file)
      ::close(fd);
      return attempt;
    }
    sink.fd = fd;
    sink.offset = have;
    if (settings.progress) settings.progress({name, have, meta.size});
    attempt = PerformOnce(request, settings);
    ::close(fd);
    if (!attempt.status.ok()) return attempt;
    long status = attempt.response.status;
    if (status == 416) {
      // Nothing past our offset: the partial file is either complete or not this file.
      std::uint64_t now = fs::file_size(incomplete, ec);
      if (!ec && now == meta.size) return Attempt{};
      fs::remove(incomplete, ec);
      attempt.transient = true;
      attempt.status = Status::Unavailable(what + ": the server refused to resume at byte " +
                                           std::to_string(have));
      return attempt;
    }
    if (status != 200 && status != 206) {
      if (!attempt.transient) attempt.status = HttpFailure(attempt.response, what, settings);
      return attempt;
    }
    std::uint64_t now = fs::file_size(incomplete, ec);
    if (!ec && now < meta.size) {
      attempt.transient = true;
      attempt.status =
          Status::Unavailable(what + ": connection closed after " + std::to_string(now) + " of " +
                              std::to_string(meta.size) + " bytes");
    }
    return attempt;
  });
  if (!outcome.status.ok()) return outcome.status;
  if (outcome.transient) return HttpFailure(outcome.response, what, settings);
  std::error_code ec;
  std::uint64_t size = fs::exists(incomplete, ec) ? fs::file_size(incomplete, ec) : 0;
  if (size != meta.size) {
    fs::remove(incomplete, ec);
    return Status::InvalidInput(what + ": downloaded " + std::to_string(size) +
                                " bytes, expected " + std::to_string(meta.size) +
                                "; deleted it, run the pull again");
  }
  return Status::Ok();
}

// Points snapshots/{commit}/{name} at blobs/{etag} with a relative symlink, as huggingface_hub
// does, replacing whatever was there.
Status LinkIntoSnapshot(const fs::path& blob, const fs::path& pointer) {
  std::error_code ec;
  fs::create_directories(pointer.parent_path(), ec);
  if (ec) return Status::IoError(pointer.parent_path().string() + ": " + ec.message());
  fs::path target = blob.lexically_relative(pointer.parent_path());
  fs::path tmp = pointer;
  tmp += ".tmp-link." + std::to_string(::getpid());
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (ec) return Status::IoError(pointer.string() + ": cannot create symlink: " + ec.message());
  fs::rename(tmp, pointer, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::IoError(pointer.string() + ": cannot place symlink: " + ec.message());
  }
  return Status::Ok();
}

Result<PulledFile> EnsureFile(const std::string& repo_id, const std::string& commit,
                              const std::string& name, const fs::path& repo_dir,
                              const Settings& settings) {
  std::string what = repo_id + ": " + name;
  PulledFile file;
  file.name = name;
  fs::path pointer = repo_dir / "snapshots" / commit / name;
  std::error_code ec;
  if (fs::exists(pointer, ec)) {  // follows the symlink: a dangling one is fetched again
    file.size = fs::file_size(pointer, ec);
    if (fs::is_symlink(fs::symlink_status(pointer, ec))) {
      file.etag = fs::read_symlink(pointer, ec).filename().string();
    }
    return file;
  }
  std::string url = settings.endpoint + "/" + repo_id + "/resolve/" + commit + "/" +
                    PercentEncode(name, /*keep_slash=*/true);
  SIEVE_ASSIGN_OR_RETURN(FileMetadata meta, FetchFileMetadata(url, what, settings));
  file.etag = meta.etag;
  file.size = meta.size;
  fs::path blob = repo_dir / "blobs" / meta.etag;
  fs::create_directories(blob.parent_path(), ec);
  if (ec) return Status::IoError(blob.parent_path().string() + ": " + ec.message());
  SIEVE_ASSIGN_OR_RETURN(BlobLock lock,
                         BlobLock::Acquire(settings.cache_dir / ".locks" / repo_dir.filename() /
                                           (meta.etag + ".lock")));
  bool have_blob = fs::is_regular_file(blob, ec) && fs::file_size(blob, ec) == meta.size;
  if (!have_blob) {
    fs::path incomplete = blob;
    incomplete += ".incomplete";
    SIEVE_RETURN_IF_ERROR(DownloadBlob(meta, incomplete, name, what, settings));
    if (Status verified = VerifyContent(incomplete, meta, what); !verified.ok()) {
      fs::remove(incomplete, ec);
      return verified;
    }
    fs::rename(incomplete, blob, ec);
    if (ec) return Status::IoError(blob.string() + ": cannot rename into place: " + ec.message());
    file.downloaded = true;
  }
  SIEVE_RETURN_IF_ERROR(LinkIntoSnapshot(blob, pointer));
  return file;
}

Result<Settings> ResolveSettings(const PullOptions& options) {
  Settings settings;
  settings.cache_dir = options.cache_dir.empty() ? HubCacheDir() : options.cache_dir;
  settings.endpoint = options.endpoint;
  if (settings.endpoint.empty()) settings.endpoint = Env("HF_ENDPOINT").value_or(kDefaultEndpoint);
  while (settings.endpoint.ends_with('/')) settings.endpoint.pop_back();
  if (!IsAbsoluteUrl(settings.endpoint)) {
    return Status::InvalidArgument("Hub endpoint '" + settings.endpoint +
                                   "' is not a URL like https://huggingface.co");
  }
  if (options.token) {
    settings.token = *options.token;
  } else if (auto token = Env("HF_TOKEN"); token && !token->empty()) {
    settings.token = *token;
  } else {
    // The file `huggingface-cli login` writes: $HF_TOKEN_PATH, else $HF_HOME/token.
    fs::path token_file = HfHomeDir() / "token";
    if (auto path = Env("HF_TOKEN_PATH")) token_file = *path;
    if (auto text = ReadFile(token_file, 4096); text.ok()) settings.token = Trim(*text);
  }
  settings.timeout_seconds = options.timeout_seconds;
  if (settings.timeout_seconds <= 0) {
    auto env = Env("HF_HUB_DOWNLOAD_TIMEOUT");
    settings.timeout_seconds = env ? std::atof(env->c_str()) : 0;
    if (settings.timeout_seconds <= 0) settings.timeout_seconds = 10;
  }
  settings.max_retries = std::max(0, options.max_retries);
  settings.retry_base_delay_seconds = std::max(0.0, options.retry_base_delay_seconds);
  settings.progress = options.progress;
  return settings;
}

bool MatchesAny(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
  });
}

Result<PullResult> Pull(const HubModelId& id, const PullOptions& options) {
  SIEVE_ASSIGN_OR_RETURN(Settings settings, ResolveSettings(options));
  SIEVE_ASSIGN_OR_RETURN(RepoListing listing, FetchListing(id.repo_id, id.revision, settings));
  PullResult result;
  result.repo_id = id.repo_id;
  result.revision = id.revision;
  result.commit = listing.commit;
  fs::path repo_dir = settings.cache_dir / HubRepoFolderName(id.repo_id);
  result.snapshot_dir = repo_dir / "snapshots" / listing.commit;

  std::vector<std::string> selected;
  for (const std::string& name : listing.files) {
    if (!IsDefaultModelFile(name) && !MatchesAny(options.include, name)) continue;
    if (!IsSafeRepoPath(name)) {
      return Status::InvalidInput(id.repo_id + ": the server lists an unsafe file name '" + name +
                                  "' (absolute, or with '..')");
    }
    selected.push_back(name);
  }
  if (selected.empty()) {
    return Status::NotFound(id.repo_id + "@" + id.revision +
                            ": none of the files Sieve loads (config.json, tokenizer.json, "
                            "model.safetensors, ...) is in the repository");
  }
  auto has = [&](std::string_view name) {
    return std::find(listing.files.begin(), listing.files.end(), name) != listing.files.end();
  };
  if (!has("model.safetensors")) {
    result.warnings.push_back(id.repo_id + " has no model.safetensors" +
                              (has("pytorch_model.bin")
                                   ? " (only pytorch_model.bin, which Sieve does not load: convert "
                                     "it to safetensors with the transformers library)"
                                   : "") +
                              "; Sieve loads weights only from model.safetensors");
  }

  std::error_code ec;
  fs::create_directories(result.snapshot_dir, ec);
  if (ec) return Status::IoError(result.snapshot_dir.string() + ": cannot create: " + ec.message());
  for (const std::string& name : selected) {
    SIEVE_ASSIGN_OR_RETURN(PulledFile file,
                           EnsureFile(id.repo_id, listing.commit, name, repo_dir, settings));
    result.files.push_back(std::move(file));
  }
  // Written last, so a ref never points at a half-downloaded snapshot.
  if (Lower(id.revision) != listing.commit) {
    fs::path ref = repo_dir / "refs" / id.revision;
    fs::create_directories(ref.parent_path(), ec);
    if (ec) return Status::IoError(ref.parent_path().string() + ": cannot create: " + ec.message());
    SIEVE_RETURN_IF_ERROR(WriteFileAtomic(ref, listing.commit));
  }
  return result;
}

}  // namespace

Result<PullResult> PullModel(std::string_view repo_id, std::string_view revision,
                             const PullOptions& options) {
  if (repo_id.find('@') != std::string_view::npos) {
    return Status::InvalidArgument("'" + std::string(repo_id) +
                                   "': give the revision separately, not as part of the id");
  }
  SIEVE_ASSIGN_OR_RETURN(HubModelId id,
                         ParseHubModelId(std::string(repo_id) + "@" + std::string(revision)));
  if (EnvIsTrue("HF_HUB_OFFLINE")) {
    return Status::Unavailable("HF_HUB_OFFLINE is set, so " + id.repo_id +
                               " is not downloaded; unset it to pull, or use a cached model");
  }
  try {
    return Pull(id, options);
  } catch (const std::exception& e) {  // std::filesystem or allocation failures
    return Status::IoError(id.repo_id + ": " + e.what());
  }
}

}  // namespace sieve::models
