// The online half of models/hub.h: PullModel over core/http, following huggingface_hub's protocol:
// GET /api/models/{repo}/revision/{rev} for the commit and file list, then for each file a HEAD on
// /{repo}/resolve/{commit}/{file} (ETag, X-Linked-Etag/-Size for LFS files, a redirect to the CDN)
// and a resumable GET into blobs/{etag}.incomplete, checked and renamed into place.
#include <curl/curl.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/file.h"
#include "core/http.h"
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
// HTTP (core/http) and URLs.

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
  std::shared_ptr<const http::Client> client;  // one per pull: connections are reused
  RequestContext* context = nullptr;
};

// Whether a 206 answer starts where the partial file ends ("bytes START-END/TOTAL").
bool RangeStartsAt(const std::string& content_range, std::uint64_t offset) {
  std::string_view s = content_range;
  if (!s.starts_with("bytes ")) return false;
  s.remove_prefix(6);
  auto dash = s.find('-');
  auto start = ParseSize(s.substr(0, dash));
  return start && *start == offset;
}

std::string UserAgent() {
  return std::string("sieve/") + SIEVE_VERSION + "; " + curl_version();
}

// A request with the Hub's settings: no compression (sizes and hashes are of the raw bytes), the
// token where it belongs, "no byte for timeout seconds" as the idle limit (a long download is not
// capped), and retries on transient failures with doubling waits (at most 8 s).
http::Request HubRequest(std::string method, std::string url, const Settings& settings,
                         bool send_token = true) {
  http::Request request;
  request.method = std::move(method);
  request.url = std::move(url);
  request.headers.emplace_back("Accept-Encoding", "identity");
  if (send_token && !settings.token.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + settings.token);
  }
  auto timeout = std::chrono::milliseconds(
      std::max<long long>(1, std::llround(settings.timeout_seconds * 1000)));
  request.timeouts.connect = timeout;
  request.timeouts.total = std::chrono::milliseconds(0);
  request.timeouts.idle = timeout;
  request.max_body_bytes = kMaxBodyBytes;
  http::RetryPolicy& retry = request.retry;
  retry.max_attempts = 1 + settings.max_retries;
  retry.initial_backoff =
      std::chrono::milliseconds(std::llround(settings.retry_base_delay_seconds * 1000));
  retry.multiplier = 2;
  retry.jitter = 0;
  retry.max_backoff = std::chrono::milliseconds(8000);
  retry.retry_connection_errors = true;
  retry.retry_timeouts = true;
  retry.retry_server_errors = false;
  retry.retry_statuses = {408, 429, 500, 502, 503, 504};
  return request;
}

// Sends `request`; any HTTP answer is a response, a transport failure a Status naming the URL.
Result<http::Response> Send(const http::Request& request, const Settings& settings) {
  Result<http::Response> response = settings.client->Send(request, settings.context);
  if (!response.ok()) return response.status().WithContext(request.method + " " + request.url);
  return response;
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
std::string HubErrorText(const http::Response& response) {
  std::string text = response.header("x-error-message");
  if (text.empty() && !response.body.empty()) {
    auto json = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (json.is_object() && json.contains("error") && json["error"].is_string()) {
      text = json["error"].get<std::string>();
    }
  }
  return text.empty() ? "" : " (" + text + ")";
}

// Maps an HTTP failure to a Status that says what to do. `what` names the repository or file.
Status HttpFailure(const http::Response& response, const std::string& what,
                   const Settings& settings, StatusCode not_found_code = StatusCode::kNotFound) {
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
  http::Request request = HubRequest("GET",
                                     settings.endpoint + "/api/models/" + repo_id + "/revision/" +
                                         PercentEncode(revision, /*keep_slash=*/false),
                                     settings);
  SIEVE_ASSIGN_OR_RETURN(http::Response response, Send(request, settings));
  if (response.status == 404 && response.header("x-error-code") == "RevisionNotFound") {
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
  http::Request request = HubRequest("HEAD", url, settings);
  request.follow_redirects = false;
  http::Response response;
  for (int hops = 0;; ++hops) {
    SIEVE_ASSIGN_OR_RETURN(response, Send(request, settings));
    std::string location = response.header("location");
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
  std::string etag = response.header("x-linked-etag");
  if (etag.empty()) etag = response.header("etag");
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
  std::string size = response.header("x-linked-size");
  if (size.empty()) size = response.header("content-length");
  auto parsed = ParseSize(size);
  if (!parsed) {
    return Status::InvalidInput(what +
                                ": the server sent no file size (X-Linked-Size or "
                                "Content-Length)");
  }
  meta.size = *parsed;
  std::string location = response.header("location");
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
// bytes. A transfer cut short keeps its bytes for the next try (or the next run): the client
// retries it with a Range from the end of the file.
Status DownloadBlob(const FileMetadata& meta, const fs::path& incomplete, const std::string& name,
                    const std::string& what, const Settings& settings) {
  std::error_code ec;
  std::uint64_t have = fs::exists(incomplete, ec) ? fs::file_size(incomplete, ec) : 0;
  if (ec) return Status::IoError(incomplete.string() + ": " + ec.message());
  if (have > meta.size) {  // not ours to trust: start over
    fs::remove(incomplete, ec);
    have = 0;
  }
  int fd = ::open(incomplete.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError(incomplete.string() + ": cannot open: " + ErrnoText());
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { ::close(*f); });
  if (have == meta.size) return Status::Ok();  // finished by an earlier run (or an empty file)

  http::Request request = HubRequest("GET", meta.download_url, settings,
                                     Origin(meta.download_url) == Origin(settings.endpoint));
  request.range_start = have;
  std::uint64_t offset = have;  // where the current answer's first byte goes
  std::uint64_t written = 0;    // bytes of the current answer
  bool decided = false;         // whether the current answer's first bytes were seen
  request.on_body = [&](const http::Response& head, std::string_view chunk) -> Status {
    if (!decided) {
      decided = true;
      if (head.status == 206) {
        if (!RangeStartsAt(head.header("content-range"), offset)) {
          return Status::InvalidInput("server resumed " + name + " at the wrong offset " +
                                      "(Content-Range: " + head.header("content-range") +
                                      ", wanted byte " + std::to_string(offset) + ")");
        }
      } else if (head.status == 200) {
        // The server ignored our Range header and sent the whole file: start the file over.
        if (offset > 0 && ::ftruncate(fd, 0) != 0) {
          return Status::IoError(name + ": cannot truncate: " + ErrnoText());
        }
        offset = 0;
      }
    }
    if (head.status != 200 && head.status != 206) return Status::Ok();  // checked below
    std::size_t done = 0;
    while (done < chunk.size()) {
      ssize_t n = ::write(fd, chunk.data() + done, chunk.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::IoError(name + ": write failed: " + ErrnoText());
      done += static_cast<std::size_t>(n);
    }
    written += chunk.size();
    if (settings.progress) settings.progress({name, offset + written, meta.size});
    return Status::Ok();
  };
  // A retry after bytes arrived continues from the end of the file.
  request.resume_from = [&]() -> std::optional<std::uint64_t> {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) > meta.size) {
      return std::nullopt;
    }
    offset = static_cast<std::uint64_t>(st.st_size);
    written = 0;
    decided = false;
    return offset;
  };
  if (settings.progress) settings.progress({name, have, meta.size});
  SIEVE_ASSIGN_OR_RETURN(http::Response response, Send(request, settings));
  closer.reset();

  std::uint64_t size = fs::exists(incomplete, ec) ? fs::file_size(incomplete, ec) : 0;
  if (response.status == 416) {
    // Nothing past our offset: the partial file is either complete or not this file.
    if (!ec && size == meta.size) return Status::Ok();
    fs::remove(incomplete, ec);
    return Status::Unavailable(what + ": the server refused to resume at byte " +
                               std::to_string(have) + "; deleted the partial file, run the pull " +
                               "again");
  }
  if (response.status != 200 && response.status != 206) {
    return HttpFailure(response, what, settings);
  }
  if (!ec && size < meta.size) {  // the answer ended early without a transport error
    return Status::Unavailable(what + ": connection closed after " + std::to_string(size) + " of " +
                               std::to_string(meta.size) + " bytes");
  }
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
  settings.client = std::make_shared<http::Client>(http::ClientOptions{UserAgent()});
  settings.context = options.context;
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
