// Tests for models/hub.h against a fake Hub: a cpp-httplib server on 127.0.0.1 that serves the
// Hub's URL layout (API listing, resolve URLs with ETag / X-Repo-Commit / X-Linked-* headers, a
// 302 to a CDN-like /blobs/ URL for LFS files, Range requests) and can misbehave on purpose.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/file.h"
#include "models/hub.h"

namespace sieve::models {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 15]);
  }
  return hex;
}

std::string GitBlobSha1(std::string_view content) {
  std::string blob = "blob " + std::to_string(content.size());
  blob.push_back('\0');
  blob.append(content);
  return Digest(EVP_sha1(), blob);
}

// Deterministic bytes that are not all alike, so a resume at the wrong offset changes the hash.
std::string PseudoRandomBytes(std::size_t n, unsigned seed) {
  std::string out(n, '\0');
  unsigned state = seed;
  for (auto& c : out) {
    state = state * 1103515245u + 12345u;
    c = static_cast<char>(state >> 16);
  }
  return out;
}

// Sets (or with nullptr unsets) environment variables and puts the old values back, so tests
// run in one process do not leak settings into each other.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name);
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      if (value) {
        ::setenv(name, value, 1);
      } else {
        ::unsetenv(name);
      }
    }
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) {
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      } else {
        ::unsetenv(it->first.c_str());
      }
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

struct FakeFile {
  std::string content;
  bool lfs = false;
};

struct LoggedRequest {
  std::string method;
  std::string path;
  std::string range;
  std::string authorization;
};

class FakeHub {
 public:
  FakeHub() {
    server_.Get(R"(/api/models/([^/]+)/([^/]+)/revision/(.+))",
                [this](const httplib::Request& req, httplib::Response& res) { Api(req, res); });
    server_.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))",
                [this](const httplib::Request& req, httplib::Response& res) { Resolve(req, res); });
    server_.Get(R"(/blobs/([0-9a-f]+))",
                [this](const httplib::Request& req, httplib::Response& res) { Blob(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is a no-op until the accept loop runs, so wait for it.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeHub() {
    server_.stop();
    thread_.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Adds a commit of `repo` with `files`, reachable as `revision` and by its hash.
  void AddCommit(const std::string& repo, const std::string& revision, const std::string& commit,
                 std::map<std::string, FakeFile> files) {
    std::lock_guard lock(mu_);
    for (auto& [name, file] : files) {
      if (file.lfs) blobs_[Digest(EVP_sha256(), file.content)] = file.content;
    }
    revisions_[repo][revision] = commit;
    revisions_[repo][commit] = commit;
    commits_[commit] = std::move(files);
  }

  std::vector<LoggedRequest> log() {
    std::lock_guard lock(mu_);
    return log_;
  }
  void ClearLog() {
    std::lock_guard lock(mu_);
    log_.clear();
  }
  int CountPaths(const std::string& prefix) {
    int n = 0;
    for (const auto& r : log()) n += r.path.starts_with(prefix) ? 1 : 0;
    return n;
  }

  // Fault injection, each for the next request(s) of its kind.
  std::atomic<int> drop_blob_after_bytes{-1};  // close the connection after this many bytes, once
  std::atomic<bool> corrupt_blobs{false};      // flip a byte of every blob served
  std::atomic<int> fail_api_with_503{0};       // answer this many API calls with 503
  std::atomic<int> api_delay_ms{0};
  std::string required_token;           // set before requests start
  std::set<std::string> missing_files;  // listed but 404 on resolve

 private:
  void Log(const httplib::Request& req) {
    std::lock_guard lock(mu_);
    log_.push_back({req.method, req.path, req.get_header_value("Range"),
                    req.get_header_value("Authorization")});
  }

  bool Authorized(const httplib::Request& req, httplib::Response& res) {
    if (required_token.empty() ||
        req.get_header_value("Authorization") == "Bearer " + required_token) {
      return true;
    }
    res.status = 401;
    res.set_header("X-Error-Message", "Invalid credentials in Authorization header");
    return false;
  }

  void Api(const httplib::Request& req, httplib::Response& res) {
    Log(req);
    if (api_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(api_delay_ms));
    if (fail_api_with_503 > 0) {
      --fail_api_with_503;
      res.status = 503;
      return;
    }
    if (!Authorized(req, res)) return;
    std::lock_guard lock(mu_);
    std::string repo = req.matches[1].str() + "/" + req.matches[2].str();
    auto repo_it = revisions_.find(repo);
    if (repo_it == revisions_.end()) {
      res.status = 404;
      res.set_header("X-Error-Code", "RepoNotFound");
      res.set_content(R"({"error":"Repository not found"})", "application/json");
      return;
    }
    auto rev_it = repo_it->second.find(req.matches[3].str());
    if (rev_it == repo_it->second.end()) {
      res.status = 404;
      res.set_header("X-Error-Code", "RevisionNotFound");
      res.set_content(R"({"error":"Invalid rev id"})", "application/json");
      return;
    }
    nlohmann::json listing = {{"id", repo}, {"sha", rev_it->second}};
    listing["siblings"] = nlohmann::json::array();
    for (const auto& [name, file] : commits_.at(rev_it->second)) {
      listing["siblings"].push_back({{"rfilename", name}});
    }
    res.set_content(listing.dump(), "application/json");
  }

  void Resolve(const httplib::Request& req, httplib::Response& res) {
    Log(req);
    if (!Authorized(req, res)) return;
    std::lock_guard lock(mu_);
    std::string repo = req.matches[1].str() + "/" + req.matches[2].str();
    std::string name = req.matches[4].str();
    auto repo_it = revisions_.find(repo);
    if (repo_it == revisions_.end()) {
      res.status = 404;
      res.set_header("X-Error-Code", "RepoNotFound");
      return;
    }
    auto rev_it = repo_it->second.find(req.matches[3].str());
    if (rev_it == repo_it->second.end()) {
      res.status = 404;
      res.set_header("X-Error-Code", "RevisionNotFound");
      return;
    }
    const auto& files = commits_.at(rev_it->second);
    auto file_it = files.find(name);
    if (file_it == files.end() || missing_files.count(name) > 0) {
      res.status = 404;
      res.set_header("X-Error-Code", "EntryNotFound");
      res.set_header("X-Error-Message", "Entry not found");
      return;
    }
    const FakeFile& file = file_it->second;
    res.set_header("X-Repo-Commit", rev_it->second);
    if (file.lfs) {
      // Like the real Hub: the pointer file's ETag, the content's in X-Linked-*, and a redirect to
      // an absolute CDN URL.
      std::string sha256 = Digest(EVP_sha256(), file.content);
      res.status = 302;
      res.set_header("ETag", "\"" + GitBlobSha1("version https://git-lfs... " + sha256) + "\"");
      res.set_header("X-Linked-Etag", "\"" + sha256 + "\"");
      res.set_header("X-Linked-Size", std::to_string(file.content.size()));
      res.set_header("Location", endpoint() + "/blobs/" + sha256 + "?X-Amz-Signature=abc");
      return;
    }
    res.set_header("ETag", "\"" + GitBlobSha1(file.content) + "\"");
    std::string body = file.content;
    if (corrupt_blobs && !body.empty()) body[0] ^= 1;
    res.set_content(body, "application/octet-stream");
  }

  void Blob(const httplib::Request& req, httplib::Response& res) {
    Log(req);
    std::string content;
    {
      std::lock_guard lock(mu_);
      auto it = blobs_.find(req.matches[1].str());
      if (it == blobs_.end()) {
        res.status = 404;
        return;
      }
      content = it->second;
    }
    if (corrupt_blobs) content[content.size() / 2] ^= 1;
    int drop_after = drop_blob_after_bytes.exchange(-1);
    res.set_header("ETag", "\"cdn-" + req.matches[1].str() + "\"");
    // httplib applies the request's Range to what the provider is asked for.
    res.set_content_provider(
        content.size(), "application/octet-stream",
        [content, drop_after](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          if (drop_after < 0) {
            sink.write(content.data() + offset, length);
            return true;
          }
          // Send `drop_after` bytes of this answer, then hang up.
          std::size_t n = std::min(length, static_cast<std::size_t>(drop_after));
          sink.write(content.data() + offset, n);
          return false;
        });
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::map<std::string, std::map<std::string, std::string>> revisions_;  // repo -> rev -> commit
  std::map<std::string, std::map<std::string, FakeFile>> commits_;
  std::map<std::string, std::string> blobs_;  // sha256 -> content
  std::vector<LoggedRequest> log_;
};

constexpr const char* kRepo = "acme/tiny-bert";
const std::string kCommit1(40, 'a');
const std::string kCommit2 = std::string(39, 'b') + "c";

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sieve_hub_test_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    cache_ = pattern;
    weights_ = PseudoRandomBytes(300 * 1024, 7);
    hub_.AddCommit(kRepo, "main", kCommit1,
                   {{"config.json", {R"({"architectures":["BertModel"]})", false}},
                    {"tokenizer.json", {R"({"model":{"type":"WordPiece"}})", false}},
                    {"1_Pooling/config.json", {R"({"pooling_mode_cls_token":true})", false}},
                    {"model.safetensors", {weights_, true}},
                    {"pytorch_model.bin", {PseudoRandomBytes(1000, 8), true}},
                    {"onnx/model.onnx", {PseudoRandomBytes(500, 9), true}},
                    {"README.md", {"# tiny", false}}});
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(cache_, ec);
  }

  PullOptions Options() const {
    PullOptions options;
    options.cache_dir = cache_;
    options.endpoint = hub_.endpoint();
    options.token = "";
    options.max_retries = 0;
    options.retry_base_delay_seconds = 0.01;
    options.timeout_seconds = 5;
    return options;
  }

  fs::path RepoDir() const { return cache_ / "models--acme--tiny-bert"; }
  std::string WeightsSha() const { return Digest(EVP_sha256(), weights_); }

  FakeHub hub_;
  fs::path cache_;
  std::string weights_;
};

TEST_F(HubTest, PullWritesTheHuggingFaceCacheLayout) {
  auto result = PullModel(kRepo, "main", Options());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->commit, kCommit1);
  EXPECT_EQ(result->snapshot_dir, RepoDir() / "snapshots" / kCommit1);
  EXPECT_TRUE(result->warnings.empty());

  std::set<std::string> names;
  for (const auto& file : result->files) {
    names.insert(file.name);
    EXPECT_TRUE(file.downloaded) << file.name;
  }
  // Sieve's files only: no pytorch_model.bin, ONNX or README by default.
  EXPECT_EQ(names, (std::set<std::string>{"config.json", "tokenizer.json", "1_Pooling/config.json",
                                          "model.safetensors"}));

  fs::path snapshot = result->snapshot_dir;
  EXPECT_TRUE(fs::is_symlink(snapshot / "model.safetensors"));
  EXPECT_EQ(fs::read_symlink(snapshot / "model.safetensors"), "../../blobs/" + WeightsSha());
  std::string config = R"({"architectures":["BertModel"]})";
  EXPECT_EQ(fs::read_symlink(snapshot / "config.json"), "../../blobs/" + GitBlobSha1(config));
  EXPECT_EQ(fs::read_symlink(snapshot / "1_Pooling/config.json"),
            "../../../blobs/" + GitBlobSha1(R"({"pooling_mode_cls_token":true})"));
  EXPECT_EQ(*ReadFile(snapshot / "model.safetensors"), weights_);
  EXPECT_EQ(*ReadFile(snapshot / "config.json"), config);
  EXPECT_TRUE(fs::is_regular_file(RepoDir() / "blobs" / WeightsSha()));
  EXPECT_FALSE(fs::exists(snapshot / "pytorch_model.bin"));
  EXPECT_FALSE(fs::exists(snapshot / "onnx"));
  EXPECT_EQ(*ReadFile(RepoDir() / "refs" / "main"), kCommit1);  // no newline, as Python writes
  for (const auto& entry : fs::directory_iterator(RepoDir() / "blobs")) {
    EXPECT_NE(entry.path().extension(), ".incomplete");
  }
  // The LFS file came from the CDN URL the Hub redirected to, without a second HEAD.
  EXPECT_EQ(hub_.CountPaths("/blobs/"), 1);
}

TEST_F(HubTest, IncludeAddsFilesByGlob) {
  PullOptions options = Options();
  options.include = {"onnx/*", "*.md"};
  auto result = PullModel(kRepo, "main", options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(fs::exists(result->snapshot_dir / "onnx/model.onnx"));
  EXPECT_TRUE(fs::exists(result->snapshot_dir / "README.md"));
  EXPECT_FALSE(fs::exists(result->snapshot_dir / "pytorch_model.bin"));
}

TEST_F(HubTest, SecondPullDownloadsNothing) {
  ASSERT_TRUE(PullModel(kRepo, "main", Options()).ok());
  hub_.ClearLog();
  auto again = PullModel(kRepo, "main", Options());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  for (const auto& file : again->files) EXPECT_FALSE(file.downloaded) << file.name;
  EXPECT_EQ(hub_.CountPaths("/api/"), 1);  // only the listing, to learn main's commit
  EXPECT_EQ(hub_.CountPaths("/acme/"), 0);
  EXPECT_EQ(hub_.CountPaths("/blobs/"), 0);
}

TEST_F(HubTest, DroppedConnectionResumesOnTheNextRunWithRange) {
  hub_.drop_blob_after_bytes = static_cast<int>(weights_.size() / 2);
  auto first = PullModel(kRepo, "main", Options());
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable) << first.status().ToString();
  fs::path incomplete = RepoDir() / "blobs" / (WeightsSha() + ".incomplete");
  ASSERT_TRUE(fs::exists(incomplete));
  EXPECT_EQ(fs::file_size(incomplete), weights_.size() / 2);
  EXPECT_FALSE(fs::exists(RepoDir() / "refs" / "main"));  // not pointing at a partial snapshot

  hub_.ClearLog();
  auto second = PullModel(kRepo, "main", Options());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  std::vector<std::string> ranges;
  for (const auto& r : hub_.log()) {
    if (r.path.starts_with("/blobs/")) ranges.push_back(r.range);
  }
  EXPECT_EQ(ranges, std::vector<std::string>{"bytes=" + std::to_string(weights_.size() / 2) + "-"});
  EXPECT_FALSE(fs::exists(incomplete));
  EXPECT_EQ(*Sha256HexOfFile(second->snapshot_dir / "model.safetensors"), WeightsSha());
  EXPECT_EQ(*ReadFile(RepoDir() / "refs" / "main"), kCommit1);
}

TEST_F(HubTest, DroppedConnectionIsRetriedWithinOnePull) {
  hub_.drop_blob_after_bytes = 1000;
  PullOptions options = Options();
  options.max_retries = 2;
  auto result = PullModel(kRepo, "main", options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(hub_.CountPaths("/blobs/"), 2);
  EXPECT_EQ(*Sha256HexOfFile(result->snapshot_dir / "model.safetensors"), WeightsSha());
}

TEST_F(HubTest, CorruptDownloadIsRejectedBySha256) {
  hub_.corrupt_blobs = true;
  auto result = PullModel(kRepo, "main", Options());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(result.status().message(), HasSubstr("config.json"));  // the first file, git-sha1
  EXPECT_THAT(result.status().message(), HasSubstr("sha1"));

  // An LFS file: the sha256 check catches it, and nothing is left behind.
  std::map<std::string, FakeFile> files = {{"model.safetensors", {weights_, true}}};
  hub_.AddCommit("acme/corrupt", "main", kCommit2, files);
  auto corrupt = PullModel("acme/corrupt", "main", Options());
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(corrupt.status().message(), HasSubstr("model.safetensors"));
  EXPECT_THAT(corrupt.status().message(), HasSubstr("sha256 " + WeightsSha()));
  fs::path repo = cache_ / "models--acme--corrupt";
  EXPECT_FALSE(fs::exists(repo / "blobs" / WeightsSha()));
  EXPECT_FALSE(fs::exists(repo / "blobs" / (WeightsSha() + ".incomplete")));
  EXPECT_FALSE(fs::exists(repo / "snapshots" / kCommit2 / "model.safetensors"));
}

TEST_F(HubTest, MissingRepositoryIsNotFound) {
  auto result = PullModel("acme/no-such-model", "main", Options());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr("acme/no-such-model"));
  EXPECT_THAT(result.status().message(), HasSubstr("404"));
  EXPECT_FALSE(fs::exists(cache_ / "models--acme--no-such-model"));
}

TEST_F(HubTest, MissingRevisionIsNotFound) {
  auto result = PullModel(kRepo, "v9", Options());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr("revision 'v9'"));
}

TEST_F(HubTest, MissingFileIsNotFoundAndNamesIt) {
  hub_.missing_files.insert("tokenizer.json");
  auto result = PullModel(kRepo, "main", Options());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr("acme/tiny-bert: tokenizer.json"));
  EXPECT_THAT(result.status().message(), HasSubstr("Entry not found"));
}

TEST_F(HubTest, UnauthorizedSaysToSetHfToken) {
  hub_.required_token = "hf_secret";
  auto denied = PullModel(kRepo, "main", Options());
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(denied.status().message(), HasSubstr("401"));
  EXPECT_THAT(denied.status().message(), HasSubstr("set HF_TOKEN"));

  PullOptions options = Options();
  options.token = "hf_wrong";
  auto wrong = PullModel(kRepo, "main", options);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("was not accepted"));

  options.token = "hf_secret";
  auto allowed = PullModel(kRepo, "main", options);
  ASSERT_TRUE(allowed.ok()) << allowed.status().ToString();
  for (const auto& r : hub_.log()) {
    if (r.path.starts_with("/api/") && r.authorization == "Bearer hf_secret") return;
  }
  ADD_FAILURE() << "no request carried the token";
}

TEST_F(HubTest, TokenAndEndpointComeFromTheEnvironment) {
  hub_.required_token = "hf_from_env";
  std::string endpoint = hub_.endpoint() + "/";
  ScopedEnv env({{"HF_TOKEN", "hf_from_env"}, {"HF_ENDPOINT", endpoint.c_str()}});
  PullOptions options = Options();
  options.token.reset();
  options.endpoint.clear();
  auto result = PullModel(kRepo, "main", options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
}

TEST_F(HubTest, TokenFileOfHuggingfaceCliLoginIsUsed) {
  hub_.required_token = "hf_from_file";
  fs::path home = cache_ / "hf-home";
  fs::create_directories(home);
  ASSERT_TRUE(WriteFileAtomic(home / "token", "hf_from_file\n").ok());
  ScopedEnv env({{"HF_TOKEN", nullptr}, {"HF_TOKEN_PATH", nullptr}, {"HF_HOME", home.c_str()}});
  PullOptions options = Options();
  options.token.reset();
  auto result = PullModel(kRepo, "main", options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
}

TEST_F(HubTest, TransientServerErrorsAreRetried) {
  hub_.fail_api_with_503 = 2;
  PullOptions options = Options();
  options.max_retries = 3;
  auto result = PullModel(kRepo, "main", options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(hub_.CountPaths("/api/"), 3);

  hub_.fail_api_with_503 = 5;
  options.max_retries = 1;
  auto gave_up = PullModel(kRepo, "main", options);
  ASSERT_FALSE(gave_up.ok());
  EXPECT_EQ(gave_up.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(gave_up.status().message(), HasSubstr("503"));
}

TEST_F(HubTest, UnreachableEndpointIsUnavailableWithCurlsMessage) {
  // A port that was free a moment ago: nothing listens there.
  int port = 0;
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port = ntohs(addr.sin_port);
    ::close(fd);
  }
  PullOptions options = Options();
  options.endpoint = "http://127.0.0.1:" + std::to_string(port);
  auto result = PullModel(kRepo, "main", options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(result.status().message(), HasSubstr("127.0.0.1"));
  EXPECT_THAT(result.status().message(), HasSubstr("onnect"));  // curl: "Couldn't connect" ...
}

TEST_F(HubTest, SilentServerTimesOut) {
  hub_.api_delay_ms = 2500;
  PullOptions options = Options();
  options.timeout_seconds = 1;
  auto result = PullModel(kRepo, "main", options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kTimeout) << result.status().ToString();
}

TEST_F(HubTest, OfflineModeRefusesToPull) {
  ScopedEnv env({{"HF_HUB_OFFLINE", "1"}});
  auto result = PullModel(kRepo, "main", Options());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("HF_HUB_OFFLINE"));
  EXPECT_TRUE(hub_.log().empty());
}

TEST_F(HubTest, NamedRevisionWritesItsRefAndCommitsShareBlobs) {
  std::map<std::string, FakeFile> files = {
      {"config.json", {R"({"architectures":["BertModel"],"v":2})", false}},
      {"model.safetensors", {weights_, true}}};
  hub_.AddCommit(kRepo, "v2.0", kCommit2, files);
  ASSERT_TRUE(PullModel(kRepo, "main", Options()).ok());
  hub_.ClearLog();
  auto v2 = PullModel(kRepo, "v2.0", Options());
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(*ReadFile(RepoDir() / "refs" / "v2.0"), kCommit2);
  EXPECT_EQ(*ReadFile(RepoDir() / "refs" / "main"), kCommit1);
  EXPECT_EQ(hub_.CountPaths("/blobs/"), 0);  // same weights: the blob is reused
  EXPECT_EQ(fs::read_symlink(RepoDir() / "snapshots" / kCommit2 / "model.safetensors"),
            "../../blobs/" + WeightsSha());

  // By commit hash: no ref is written for a hash.
  fs::remove_all(RepoDir() / "refs");
  ASSERT_TRUE(PullModel(kRepo, kCommit2, Options()).ok());
  EXPECT_FALSE(fs::exists(RepoDir() / "refs"));
}

TEST_F(HubTest, UnsafeFileNameFromServerIsRefused) {
  hub_.AddCommit("acme/evil", "main", kCommit2,
                 {{"config.json", {"{}", false}}, {"../../../escape.txt", {"x", false}}});
  PullOptions options = Options();
  options.include = {"*"};
  auto result = PullModel("acme/evil", "main", options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(result.status().message(), HasSubstr("unsafe file name"));
  EXPECT_FALSE(fs::exists(cache_ / "escape.txt"));
}

TEST_F(HubTest, BadIdsAreUsageErrors) {
  for (const char* id : {"", "a/b/c", "acme/--x", "acme/a..b", "-acme/x", "acme/x y"}) {
    auto result = PullModel(id, "main", Options());
    ASSERT_FALSE(result.ok()) << id;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << id;
  }
  EXPECT_EQ(PullModel(kRepo, "../x", Options()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(hub_.log().empty());
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs the sieve binary of this build tree with the fake Hub as endpoint and `cache` as the cache.
CommandResult RunSieve(const std::string& args, const FakeHub& hub, const fs::path& cache) {
  std::string command = "HF_HUB_CACHE='" + cache.string() + "' HF_HOME='" + cache.string() +
                        "/home' HF_TOKEN= HF_ENDPOINT='" + hub.endpoint() +
                        "' '" SIEVE_BINARY "' " + args + " 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST_F(HubTest, CommandLinePullPathAndList) {
  if (!fs::exists(SIEVE_BINARY)) GTEST_SKIP() << SIEVE_BINARY << " is not built";
  auto pull = RunSieve("models pull --include '*.md' acme/tiny-bert --json", hub_, cache_);
  ASSERT_EQ(pull.exit_code, 0) << pull.output;
  auto json = nlohmann::json::parse(pull.output, nullptr, false);
  ASSERT_TRUE(json.is_object()) << pull.output;
  fs::path snapshot = RepoDir() / "snapshots" / kCommit1;
  EXPECT_EQ(json["path"], snapshot.string());
  EXPECT_EQ(json["commit"], kCommit1);
  EXPECT_EQ(json["files"].size(), 5u);
  EXPECT_TRUE(fs::exists(snapshot / "README.md"));

  auto path = RunSieve("models path acme/tiny-bert", hub_, cache_);
  EXPECT_EQ(path.exit_code, 0) << path.output;
  EXPECT_EQ(path.output, snapshot.string() + "\n");

  auto list = RunSieve("models list", hub_, cache_);
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("acme/tiny-bert\tmain=aaaaaaaa"));

  auto missing = RunSieve("models pull acme/missing", hub_, cache_);
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("acme/missing: not found"));
  auto bad = RunSieve("models path 'not/a/--model'", hub_, cache_);
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  auto usage = RunSieve("models pull 'acme/x y'", hub_, cache_);
  EXPECT_EQ(usage.exit_code, 1) << usage.output;
}

TEST(HubIdTest, ParsesIdsAndRevisions) {
  auto plain = ParseHubModelId("BAAI/bge-small-en-v1.5");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->repo_id, "BAAI/bge-small-en-v1.5");
  EXPECT_EQ(plain->revision, "main");
  auto with_rev = ParseHubModelId("org/name@refs/pr/1");
  ASSERT_TRUE(with_rev.ok());
  EXPECT_EQ(with_rev->repo_id, "org/name");
  EXPECT_EQ(with_rev->revision, "refs/pr/1");
  EXPECT_TRUE(ParseHubModelId("bert-base-uncased").ok());
  EXPECT_FALSE(ParseHubModelId("org/name@").ok());
  EXPECT_FALSE(ParseHubModelId("org/name@a/../b").ok());
  EXPECT_EQ(HubRepoFolderName("BAAI/bge-m3"), "models--BAAI--bge-m3");
}

TEST(HubCacheDirTest, FollowsHuggingFaceHubPrecedence) {
  ScopedEnv env({{"HF_HUB_CACHE", nullptr},
                 {"HUGGINGFACE_HUB_CACHE", nullptr},
                 {"HF_HOME", nullptr},
                 {"XDG_CACHE_HOME", nullptr},
                 {"DATA", nullptr},
                 {"HOME", "/home/ada"}});
  EXPECT_EQ(HubCacheDir(), "/home/ada/.cache/huggingface/hub");
  ::setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(HubCacheDir(), "/xdg/huggingface/hub");
  ::setenv("HF_HOME", "~/hf", 1);
  EXPECT_EQ(HubCacheDir(), "/home/ada/hf/hub");
  EXPECT_EQ(HfHomeDir(), "/home/ada/hf");
  ::setenv("HUGGINGFACE_HUB_CACHE", "/legacy", 1);
  EXPECT_EQ(HubCacheDir(), "/legacy");
  ::setenv("DATA", "/data", 1);
  ::setenv("HF_HUB_CACHE", "${DATA}/hub-cache", 1);
  EXPECT_EQ(HubCacheDir(), "/data/hub-cache");
}

// A cache laid out as huggingface_hub writes it, without any download.
class ResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sieve_hub_resolve_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    cache_ = pattern;
    repo_ = cache_ / "models--BAAI--bge-small-en-v1.5";
    fs::create_directories(repo_ / "blobs");
    fs::create_directories(repo_ / "refs");
    ASSERT_TRUE(WriteFileAtomic(repo_ / "blobs" / "cafe", "{}").ok());
    for (const std::string& commit : {kCommit1, kCommit2}) {
      fs::create_directories(repo_ / "snapshots" / commit);
      fs::create_symlink("../../blobs/cafe", repo_ / "snapshots" / commit / "config.json");
    }
    ASSERT_TRUE(WriteFileAtomic(repo_ / "refs" / "main", kCommit1).ok());
    ASSERT_TRUE(WriteFileAtomic(repo_ / "refs" / "v2", kCommit2 + "\n").ok());
    options_.cache_dir = cache_;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(cache_, ec);
  }
  fs::path cache_;
  fs::path repo_;
  ResolveOptions options_;
};

TEST_F(ResolveTest, FolderIsUsedAsIs) {
  auto result = ResolveModel((repo_ / "snapshots" / kCommit1).string(), options_);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(*result, repo_ / "snapshots" / kCommit1);
  auto file = ResolveModel((repo_ / "blobs" / "cafe").string(), options_);
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ResolveTest, HubIdFindsTheSnapshotOfMain) {
  auto result = ResolveModel("BAAI/bge-small-en-v1.5", options_);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(*result, repo_ / "snapshots" / kCommit1);
  EXPECT_TRUE(fs::exists(*result / "config.json"));
}

TEST_F(ResolveTest, HubIdWithRevisionOrCommit) {
  auto by_ref = ResolveModel("BAAI/bge-small-en-v1.5@v2", options_);
  ASSERT_TRUE(by_ref.ok()) << by_ref.status().ToString();
  EXPECT_EQ(*by_ref, repo_ / "snapshots" / kCommit2);
  auto by_commit = ResolveModel("BAAI/bge-small-en-v1.5@" + kCommit2, options_);
  ASSERT_TRUE(by_commit.ok()) << by_commit.status().ToString();
  EXPECT_EQ(*by_commit, repo_ / "snapshots" / kCommit2);
  auto by_prefix = ResolveModel("BAAI/bge-small-en-v1.5@" + kCommit2.substr(0, 8), options_);
  ASSERT_TRUE(by_prefix.ok()) << by_prefix.status().ToString();
  EXPECT_EQ(*by_prefix, repo_ / "snapshots" / kCommit2);
}

TEST_F(ResolveTest, MissingModelSaysHowToPullIt) {
  auto missing = ResolveModel("BAAI/bge-m3", options_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("sieve models pull BAAI/bge-m3"));

  auto revision = ResolveModel("BAAI/bge-small-en-v1.5@v3", options_);
  ASSERT_FALSE(revision.ok());
  EXPECT_EQ(revision.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(revision.status().message(),
              HasSubstr("sieve models pull BAAI/bge-small-en-v1.5@v3"));
  EXPECT_THAT(revision.status().message(), HasSubstr("main"));  // what is cached

  auto folder = ResolveModel("./no/such/folder", options_);
  ASSERT_FALSE(folder.ok());
  EXPECT_EQ(folder.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(folder.status().message(), HasSubstr("model folder ./no/such/folder does not exist"));
}

TEST_F(ResolveTest, BrokenRefIsReported) {
  ASSERT_TRUE(WriteFileAtomic(repo_ / "refs" / "main", "not a hash").ok());
  auto result = ResolveModel("BAAI/bge-small-en-v1.5", options_);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(result.status().message(), HasSubstr("refs/main"));
}

TEST_F(ResolveTest, ListShowsCachedModels) {
  auto models = ListCachedModels(cache_);
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  ASSERT_EQ(models->size(), 1u);
  const CachedModel& model = models->front();
  EXPECT_EQ(model.repo_id, "BAAI/bge-small-en-v1.5");
  EXPECT_EQ(model.size_bytes, 2u);
  EXPECT_EQ(model.snapshots, (std::vector<std::string>{kCommit1, kCommit2}));
  using Ref = std::pair<std::string, std::string>;
  EXPECT_EQ(model.refs, (std::vector<Ref>{{"main", kCommit1}, {"v2", kCommit2}}));
  auto empty = ListCachedModels(cache_ / "nothing-here");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace sieve::models
