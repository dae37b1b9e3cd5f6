// models/hub: finding models in the Hugging Face cache and downloading them from the Hub.
//
// The cache is the one huggingface_hub uses, so models downloaded by Python tools are reused with
// no copy, and models pulled by Sieve are usable by Python tools:
//   {cache}/models--{org}--{name}/blobs/{etag}               file contents, named by ETag
//   {cache}/models--{org}--{name}/snapshots/{commit}/{file}  relative symlink to ../../blobs/{etag}
//   {cache}/models--{org}--{name}/refs/{revision}            the commit that revision points at
// An ETag is the file's git blob SHA-1, or for LFS files the SHA-256 of its contents; both are
// checked after download.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sieve {
class RequestContext;
}  // namespace sieve

namespace sieve::models {

// The hub cache folder, resolved as huggingface_hub does: $HF_HUB_CACHE, else
// $HUGGINGFACE_HUB_CACHE (legacy), else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub; "~" and $VARS in the values are expanded.
std::filesystem::path HubCacheDir();
// $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface (where the token file is).
std::filesystem::path HfHomeDir();

// A Hub model id with an optional revision: "org/name", "org/name@v1.0", "name@<commit>".
struct HubModelId {
  std::string repo_id;            // "org/name"
  std::string revision = "main";  // branch, tag or commit hash
};
// Fails with kInvalidArgument when `spec` is not a valid id (bad characters, "--", "..", ...).
Result<HubModelId> ParseHubModelId(std::string_view spec);

// "org/name" -> "models--org--name", the repository's folder in the cache.
std::string HubRepoFolderName(std::string_view repo_id);

struct ResolveOptions {
  std::filesystem::path cache_dir;  // empty: HubCacheDir()
};

// True when `spec` names a folder rather than a Hub id: it starts with "/", "./", "../" or "~",
// or it contains "/" and exists, or it has more than one "/" (an id has at most one).
bool LooksLikeModelPath(std::string_view spec);

// A model folder for `spec`: an existing folder is used as is; otherwise `spec` is a Hub id
// ("org/name[@revision]") looked up in the cache through refs/{revision} (or a commit hash, or
// a unique prefix of one) to its snapshot folder. Never touches the network. A model that is not
// cached gives kNotFound with the `sieve models pull ...` command that downloads it; a spec that
// LooksLikeModelPath and does not exist gives kNotFound "model folder SPEC does not exist".
Result<std::filesystem::path> ResolveModel(std::string_view spec,
                                           const ResolveOptions& options = {});

// Bytes of one file downloaded so far (resumed bytes included) out of its size.
struct PullProgress {
  std::string file;
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};
using PullProgressCallback = std::function<void(const PullProgress&)>;

struct PullOptions {
  std::filesystem::path cache_dir;   // empty: HubCacheDir()
  std::string endpoint;              // empty: $HF_ENDPOINT, else https://huggingface.co
  std::optional<std::string> token;  // unset: $HF_TOKEN, else the token file huggingface-cli
                                     // login writes; "" sends no token
  // Glob patterns (fnmatch, "*" crosses "/") of extra files to fetch besides the ones Sieve
  // loads (see IsDefaultModelFile), e.g. "onnx/*" or "*.md".
  std::vector<std::string> include;
  // Seconds to wait for a connection or for the next bytes of a response; 0:
  // $HF_HUB_DOWNLOAD_TIMEOUT, else 10.
  double timeout_seconds = 0;
  int max_retries = 4;                    // per request, for transient failures
  double retry_base_delay_seconds = 0.5;  // doubles after each retry, at most 8 s
  PullProgressCallback progress;
  // Optional, not owned: cancellation and deadline of the whole pull (kCancelled / kTimeout),
  // and an "http" span per request. Used by the calling thread only.
  RequestContext* context = nullptr;
};

struct PulledFile {
  std::string name;  // path inside the repository, e.g. "1_Pooling/config.json"
  std::uint64_t size = 0;
  std::string etag;
  bool downloaded = false;  // false: it was already in the cache
};

struct PullResult {
  std::string repo_id;
  std::string revision;
  std::string commit;
  std::filesystem::path snapshot_dir;
  std::vector<PulledFile> files;
  std::vector<std::string> warnings;  // e.g. no model.safetensors in the repository
};

// Downloads the files Sieve needs from `repo_id` at `revision` into the cache and returns the
// snapshot folder. Files already cached are not fetched again; an interrupted download resumes
// from its blobs/{etag}.incomplete file. Errors: kNotFound (repository, revision or file),
// kUnavailable (network, HTTP 401/403 with advice about HF_TOKEN, server errors), kTimeout,
// kInvalidInput (size or hash mismatch, malformed answer), kIoError (disk). Refused while
// $HF_HUB_OFFLINE is set.
Result<PullResult> PullModel(std::string_view repo_id, std::string_view revision = "main",
                             const PullOptions& options = {});

// Whether a file of a repository is one Sieve loads (config, tokenizer, model.safetensors and
// sentence-transformers metadata); pytorch_model.bin, ONNX, TF and other files are not.
bool IsDefaultModelFile(std::string_view repo_file);

struct CachedModel {
  std::string repo_id;
  std::filesystem::path repo_dir;
  std::vector<std::pair<std::string, std::string>> refs;  // revision -> commit, sorted
  std::vector<std::string> snapshots;                     // commit hashes, sorted
  std::uint64_t size_bytes = 0;                           // of its blobs on disk
};

// The models in a cache folder (empty: HubCacheDir()); a missing cache folder is an empty list.
Result<std::vector<CachedModel>> ListCachedModels(const std::filesystem::path& cache_dir = {});

}  // namespace sieve::models
