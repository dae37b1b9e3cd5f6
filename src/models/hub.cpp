// The offline half of models/hub.h: where the cache is, what is in it, and resolving a spec.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <system_error>

#include "core/file.h"
#include "models/hub.h"

namespace sieve::models {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> Env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::string HomeDir() {
  if (auto home = Env("HOME"); home && !home->empty()) return *home;
  std::array<char, 4096> buf{};
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->pw_dir;
  }
  return "/";
}

// Python's os.path.expanduser: a leading "~" or "~/" is the home folder.
std::string ExpandUser(const std::string& path) {
  if (path == "~") return HomeDir();
  if (path.starts_with("~/")) return HomeDir() + path.substr(1);
  return path;
}

// Python's os.path.expandvars: $NAME and ${NAME} of set variables are replaced, others kept.
std::string ExpandVars(const std::string& path) {
  std::string out;
  for (std::size_t i = 0; i < path.size();) {
    if (path[i] != '$') {
      out.push_back(path[i++]);
      continue;
    }
    std::size_t start = i + 1;
    bool braced = start < path.size() && path[start] == '{';
    if (braced) ++start;
    std::size_t end = start;
    while (end < path.size() &&
           (std::isalnum(static_cast<unsigned char>(path[end])) || path[end] == '_')) {
      ++end;
    }
    bool closed = !braced || (end < path.size() && path[end] == '}');
    auto value =
        end > start && closed ? Env(path.substr(start, end - start).c_str()) : std::nullopt;
    std::size_t next = braced ? end + 1 : end;
    if (value) {
      out += *value;
      i = next;
    } else {
      out.push_back(path[i++]);
    }
  }
  return out;
}

std::string ExpandPath(const std::string& path) {
  return ExpandVars(ExpandUser(path));
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

bool IsCommitHash(std::string_view s) {
  return s.size() == 40 && IsHex(s);
}

// huggingface_hub's rules for a repository name part: [A-Za-z0-9_.-], no "--" or "..", not
// starting or ending with "-" or ".".
bool IsValidRepoPart(std::string_view part) {
  if (part.empty() || part.size() > 96) return false;
  for (char c : part) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  if (part.find("--") != std::string_view::npos || part.find("..") != std::string_view::npos) {
    return false;
  }
  return part.front() != '-' && part.front() != '.' && part.back() != '-' && part.back() != '.';
}

// A revision becomes a file under refs/, so it must stay inside it.
bool IsValidRevision(std::string_view revision) {
  if (revision.empty() || revision.size() > 256 || revision.front() == '/' ||
      revision.back() == '/') {
    return false;
  }
  for (char c : revision) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '\\' || c == 0x7f) return false;
  }
  std::size_t start = 0;
  while (start <= revision.size()) {
    std::size_t end = revision.find('/', start);
    if (end == std::string_view::npos) end = revision.size();
    std::string_view segment = revision.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string PullCommand(const HubModelId& id) {
  std::string command = "sieve models pull " + id.repo_id;
  if (id.revision != "main") command += "@" + id.revision;
  return command;
}

Result<std::string> ReadRef(const fs::path& ref_file) {
  SIEVE_ASSIGN_OR_RETURN(std::string commit, ReadFile(ref_file, 4096));
  while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) {
    commit.pop_back();
  }
  if (!IsCommitHash(commit)) {
    return Status::InvalidInput(ref_file.string() + ": does not hold a 40-hex commit hash");
  }
  return commit;
}

Result<fs::path> ResolveCachedModel(const HubModelId& id, const fs::path& cache_dir) {
  fs::path repo_dir = cache_dir / HubRepoFolderName(id.repo_id);
  std::error_code ec;
  if (!fs::is_directory(repo_dir, ec)) {
    return Status::NotFound("model " + id.repo_id +
                            " is not a folder and not in the Hugging Face cache (" +
                            cache_dir.string() + "); download it with: " + PullCommand(id));
  }
  fs::path snapshots = repo_dir / "snapshots";
  fs::path ref_file = repo_dir / "refs" / id.revision;
  if (fs::is_regular_file(ref_file, ec)) {
    SIEVE_ASSIGN_OR_RETURN(std::string commit, ReadRef(ref_file));
    fs::path snapshot = snapshots / commit;
    if (!fs::is_directory(snapshot, ec)) {
      return Status::NotFound(id.repo_id + ": refs/" + id.revision + " points at commit " + commit +
                              " but " + snapshot.string() +
                              " is missing; download it again with: " + PullCommand(id));
    }
    return snapshot;
  }
  // A commit hash, or a unique prefix of one (at least 7 characters, as git abbreviates).
  if (id.revision.size() >= 7 && id.revision.size() <= 40 && IsHex(id.revision)) {
    std::vector<fs::path> matches;
    for (const auto& entry : fs::directory_iterator(snapshots, ec)) {
      if (entry.is_directory(ec) && entry.path().filename().string().starts_with(id.revision)) {
        matches.push_back(entry.path());
      }
    }
    if (matches.size() == 1) return matches.front();
    if (matches.size() > 1) {
      return Status::InvalidArgument(id.repo_id + ": revision " + id.revision +
                                     " matches several cached commits; give more of the hash");
    }
  }
  std::string cached;
  for (const auto& entry : fs::recursive_directory_iterator(repo_dir / "refs", ec)) {
    if (!entry.is_regular_file(ec)) continue;
    if (!cached.empty()) cached += ", ";
    cached += fs::relative(entry.path(), repo_dir / "refs", ec).string();
  }
  return Status::NotFound(id.repo_id + ": revision " + id.revision +
                          " is not in the Hugging Face cache (" + cache_dir.string() + ")" +
                          (cached.empty() ? "" : "; cached revisions: " + cached) +
                          "; download it with: " + PullCommand(id));
}

Result<std::vector<CachedModel>> ListModelsIn(const fs::path& cache_dir);

}  // namespace

fs::path HubCacheDir() {
  for (const char* name : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"}) {
    if (auto value = Env(name)) return ExpandPath(*value);
  }
  return HfHomeDir() / "hub";
}

fs::path HfHomeDir() {
  if (auto home = Env("HF_HOME")) return ExpandPath(*home);
  std::string xdg = Env("XDG_CACHE_HOME").value_or(HomeDir() + "/.cache");
  return fs::path(ExpandPath(xdg)) / "huggingface";
}

Result<HubModelId> ParseHubModelId(std::string_view spec) {
  HubModelId id;
  std::string_view repo = spec;
  if (auto at = spec.find('@'); at != std::string_view::npos) {
    repo = spec.substr(0, at);
    id.revision = std::string(spec.substr(at + 1));
    if (!IsValidRevision(id.revision)) {
      std::string message = "'";  // appended: g++ 12 -O3 warns falsely on "'" + string
      message += spec;
      message += "': '";
      message += id.revision;
      message += "' is not a valid revision (a branch, tag or commit hash)";
      return Status::InvalidArgument(message);
    }
  }
  auto slash = repo.find('/');
  bool valid = slash == std::string_view::npos ? IsValidRepoPart(repo)
                                               : IsValidRepoPart(repo.substr(0, slash)) &&
                                                     IsValidRepoPart(repo.substr(slash + 1));
  if (!valid) {
    std::string message = "'";
    message += spec;
    message +=
        "' is not a Hub model id: expected ORG/NAME[@REVISION] with letters, digits, '-', '_' "
        "and '.' (no '--' or '..')";
    return Status::InvalidArgument(message);
  }
  id.repo_id = std::string(repo);
  return id;
}

std::string HubRepoFolderName(std::string_view repo_id) {
  std::string name = "models--";
  for (char c : repo_id) {
    if (c == '/') {
      name += "--";
    } else {
      name.push_back(c);
    }
  }
  return name;
}

bool LooksLikeModelPath(std::string_view spec) {
  if (spec.empty()) return false;
  if (spec.front() == '/' || spec.front() == '~' || spec == "." || spec == ".." ||
      spec.starts_with("./") || spec.starts_with("../")) {
    return true;
  }
  const auto slashes = std::count(spec.begin(), spec.end(), '/');
  if (slashes > 1) return true;
  std::error_code ec;
  return slashes == 1 && fs::exists(fs::path(spec), ec);
}

Result<fs::path> ResolveModel(std::string_view spec, const ResolveOptions& options) {
  if (spec.empty()) return Status::InvalidArgument("empty model: give a folder or a Hub id");
  std::string expanded = ExpandUser(std::string(spec));
  std::error_code ec;
  auto status = fs::status(expanded, ec);
  if (!ec && fs::exists(status)) {
    if (!fs::is_directory(status)) {
      return Status::InvalidArgument(expanded +
                                     ": is a file; a model is a folder (with config.json)"
                                     " or a Hub id like BAAI/bge-small-en-v1.5");
    }
    return fs::path(expanded);
  }
  if (LooksLikeModelPath(spec)) {
    std::string message = "model folder ";
    message += spec;
    message += " does not exist";
    return Status::NotFound(message);
  }
  auto id = ParseHubModelId(spec);
  if (!id.ok()) {
    return Status::NotFound(
        expanded + ": no such model folder (and not a Hub id: " + id.status().message() + ")");
  }
  fs::path cache_dir = options.cache_dir.empty() ? HubCacheDir() : options.cache_dir;
  try {
    return ResolveCachedModel(*id, cache_dir);
  } catch (const std::exception& e) {  // std::filesystem errors while walking the cache
    return Status::IoError(cache_dir.string() + ": " + e.what());
  }
}

bool IsDefaultModelFile(std::string_view repo_file) {
  static constexpr std::array<std::string_view, 11> kFiles = {
      "config.json",
      "tokenizer.json",
      "tokenizer_config.json",
      "special_tokens_map.json",
      "vocab.txt",
      "sentencepiece.bpe.model",
      "model.safetensors",
      "modules.json",
      "sentence_bert_config.json",
      "config_sentence_transformers.json",
      "1_Pooling/config.json",
  };
  return std::find(kFiles.begin(), kFiles.end(), repo_file) != kFiles.end();
}

Result<std::vector<CachedModel>> ListCachedModels(const fs::path& cache_dir_option) {
  fs::path cache_dir = cache_dir_option.empty() ? HubCacheDir() : cache_dir_option;
  try {
    return ListModelsIn(cache_dir);
  } catch (const std::exception& e) {  // std::filesystem errors while walking the cache
    return Status::IoError(cache_dir.string() + ": " + e.what());
  }
}

namespace {

Result<std::vector<CachedModel>> ListModelsIn(const fs::path& cache_dir) {
  std::vector<CachedModel> models;
  std::error_code ec;
  if (!fs::exists(cache_dir, ec)) return models;
  fs::directory_iterator it(cache_dir, ec);
  if (ec) return Status::IoError(cache_dir.string() + ": cannot list: " + ec.message());
  for (const auto& entry : it) {
    std::string folder = entry.path().filename().string();
    if (!folder.starts_with("models--") || !entry.is_directory(ec)) continue;
    CachedModel model;
    model.repo_dir = entry.path();
    // "models--org--name": "--" cannot occur inside a part, so it is a safe separator.
    std::string rest = folder.substr(8);
    for (std::size_t pos = rest.find("--"); pos != std::string::npos; pos = rest.find("--")) {
      rest.replace(pos, 2, "/");
    }
    model.repo_id = rest;
    fs::path refs_dir = entry.path() / "refs";
    for (const auto& ref : fs::recursive_directory_iterator(refs_dir, ec)) {
      if (!ref.is_regular_file(ec)) continue;
      auto commit = ReadRef(ref.path());
      model.refs.emplace_back(fs::relative(ref.path(), refs_dir, ec).string(),
                              commit.ok() ? *commit : "?");
    }
    for (const auto& snap : fs::directory_iterator(entry.path() / "snapshots", ec)) {
      if (snap.is_directory(ec)) model.snapshots.push_back(snap.path().filename().string());
    }
    for (const auto& blob : fs::directory_iterator(entry.path() / "blobs", ec)) {
      if (blob.is_regular_file(ec)) model.size_bytes += blob.file_size(ec);
    }
    std::sort(model.refs.begin(), model.refs.end());
    std::sort(model.snapshots.begin(), model.snapshots.end());
    models.push_back(std::move(model));
  }
  std::sort(models.begin(), models.end(),
            [](const CachedModel& a, const CachedModel& b) { return a.repo_id < b.repo_id; });
  return models;
}

}  // namespace

}  // namespace sieve::models
