#include "store/ingest.h"

#include <algorithm>
#include <optional>
#include <set>
#include <system_error>
#include <unordered_set>
#include <utility>

#include <sys/stat.h>

#include <cerrno>
#include <functional>

#include "core/file.h"
#include "text/document.h"
#include "text/file_reader.h"

namespace sieve::store {
namespace {

namespace fs = std::filesystem;

bool IsHidden(const fs::path& path) {
  std::string name = path.filename().string();
  return name.size() > 1 && name[0] == '.' && name != "..";
}

std::vector<std::string> SortedUnique(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

// A BEIR record's identity: its id, title and text (the file holds many records, and one record
// changing must not re-chunk the others).
std::string RecordHash(const text::ExtractedDocument& doc) {
  std::string record;
  record.reserve(doc.key.size() + doc.title.size() + doc.text.size() + 2);
  record.append(doc.key).append(1, '\0').append(doc.title).append(1, '\0').append(doc.text);
  return Sha256Hex(record);
}

// A file's identity on disk: the same (device, inode) reached by two paths is one file.
using FileId = std::pair<std::uint64_t, std::uint64_t>;

std::optional<FileId> IdentityOf(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

// Collects the regular files under `root` (hidden entries skipped), sorted within each folder.
// Every folder or entry that cannot be read is reported in `errors` with why, and the walk goes
// on with the rest: an unreadable subfolder never ends it silently. Symbolic links are followed,
// to files and to folders; `visited` holds the folders walked so far, so a link back to a folder
// already walked (a loop) is noted and not followed again. A broken link is an error; sockets,
// pipes and devices are not documents.
void WalkFolder(const fs::path& root, std::set<FileId>& visited, std::vector<fs::path>& found,
                IngestPlan& plan) {
  if (auto id = IdentityOf(root)) visited.insert(*id);
  std::vector<fs::path> pending{root};
  while (!pending.empty()) {
    const fs::path folder = std::move(pending.back());
    pending.pop_back();
    std::error_code ec;
    fs::directory_iterator it(folder, ec);
    if (ec) {
      plan.errors.push_back(
          Status::IoError(folder.string() + ": cannot read folder: " + ec.message()));
      plan.unreadable.push_back(DocumentKeyForPath(folder) + "/");
      continue;
    }
    std::vector<fs::path> subfolders;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      const fs::path entry = it->path();
      if (IsHidden(entry)) continue;
      std::error_code entry_ec;
      const fs::file_status link = it->symlink_status(entry_ec);
      if (entry_ec) {
        plan.errors.push_back(
            Status::IoError(entry.string() + ": cannot stat: " + entry_ec.message()));
        continue;
      }
      const fs::file_status target = fs::is_symlink(link) ? it->status(entry_ec) : link;
      if (fs::is_symlink(link) && (entry_ec || !fs::exists(target))) {
        if (entry_ec.value() == ELOOP) {
          plan.not_documents.push_back({entry, "symbolic link loop"});
          continue;
        }
        plan.errors.push_back(Status::NotFound(entry.string() + ": broken symbolic link" +
                                               (entry_ec ? " (" + entry_ec.message() + ")" : "")));
        continue;
      }
      if (fs::is_directory(target)) {
        const auto id = IdentityOf(entry);
        if (id && !visited.insert(*id).second) {
          plan.not_documents.push_back(
              {entry, fs::is_symlink(link) ? "symbolic link to a folder already walked (a loop "
                                             "or a second link; followed once)"
                                           : "folder already walked"});
          continue;
        }
        subfolders.push_back(entry);
        continue;
      }
      if (fs::is_regular_file(target)) {
        found.push_back(entry);
        continue;
      }
      plan.not_documents.push_back({entry, "not a regular file (socket, pipe or device)"});
    }
    if (ec) {
      plan.errors.push_back(
          Status::IoError(folder.string() + ": folder listing stopped: " + ec.message()));
      plan.unreadable.push_back(DocumentKeyForPath(folder) + "/");
    }
    // Depth first, in sorted order (the stack pops the last pushed first).
    std::sort(subfolders.begin(), subfolders.end(), std::greater<>());
    for (auto& sub : subfolders) pending.push_back(std::move(sub));
  }
}

}  // namespace

std::string ChunkingSignature(const text::ChunkOptions& options) {
  return "max=" + std::to_string(options.max_tokens) +
         ",overlap=" + std::to_string(options.overlap_tokens);
}

std::string DocumentKeyForPath(const fs::path& path) {
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec);
  if (ec) absolute = path;
  return absolute.lexically_normal().string();
}

Result<FileIngestReport> IngestFile(DocumentStore& store, const fs::path& path,
                                    const IngestOptions& options,
                                    std::optional<text::DocumentType> type) {
  const std::string source = DocumentKeyForPath(path);
  const std::string name = path.string();
  if (!type) type = text::DetectType(path);
  if (!type) {
    SIEVE_ASSIGN_OR_RETURN(auto detector, text::TypeDetector::Create());
    auto detection = detector->Detect(path);
    if (!detection.ok()) return detection.status().WithContext(name);
    if (!detection->type) {
      return Status::Unsupported(name + ": not a document: " + detection->not_document);
    }
    type = detection->type;
  }
  std::error_code ec;
  auto file_status = fs::status(path, ec);
  if (ec || !fs::exists(file_status)) return Status::NotFound(name + ": no such file");
  if (!fs::is_regular_file(file_status)) return Status::InvalidInput(name + ": not a regular file");
  std::uint64_t size = fs::file_size(path, ec);
  if (ec) return Status::IoError(name + ": cannot read size: " + ec.message());
  if (size > options.max_file_bytes) {
    return Status::InvalidInput(name + ": file is " + std::to_string(size) +
                                " bytes, over the limit of " +
                                std::to_string(options.max_file_bytes) + " (--max-file-mb)");
  }
  FileIngestReport report;
  report.bytes = size;
  const std::string chunking = ChunkingSignature(options.chunking);
  const std::vector<std::string> tags = SortedUnique(options.tags);

  SIEVE_ASSIGN_OR_RETURN(std::string file_hash, Sha256HexOfFile(path));
  if (*type != text::DocumentType::kBeir) {
    // Fast path: an unchanged file is not even parsed.
    SIEVE_ASSIGN_OR_RETURN(auto existing, store.FindDocument(source));
    if (existing && existing->content_hash == file_hash && existing->chunking == chunking &&
        existing->source_path == source) {
      if (!tags.empty() && existing->tags != tags) {
        SIEVE_ASSIGN_OR_RETURN(auto txn, store.BeginTransaction());
        SIEVE_RETURN_IF_ERROR(store.SetTags(existing->doc_id, tags));
        SIEVE_RETURN_IF_ERROR(txn.Commit());
      }
      report.documents_unchanged = 1;
      return report;
    }
  }

  text::LoadOptions load_options;
  load_options.max_file_bytes = options.max_file_bytes;
  load_options.type = type;
  SIEVE_ASSIGN_OR_RETURN(auto documents, text::LoadFile(fs::path(source), load_options));

  // A file is one transaction (a crash leaves either the old or the new version), a corpus one
  // per documents_per_transaction records.
  const std::size_t per_transaction = std::max<std::size_t>(1, options.documents_per_transaction);
  std::optional<DocumentStore::Transaction> txn;
  std::size_t in_transaction = 0;
  std::size_t done = 0;
  std::unordered_set<std::string> keys_in_file;
  for (auto& doc : documents) {
    if (in_transaction == per_transaction) {
      Status committed = txn->Commit();
      if (!committed.ok()) return committed.WithContext(name);
      txn.reset();
      in_transaction = 0;
      if (options.committed) options.committed(done, documents.size());
    }
    if (!txn) {
      SIEVE_ASSIGN_OR_RETURN(auto begun, store.BeginTransaction());
      txn.emplace(std::move(begun));
    }
    ++in_transaction;
    ++done;
    if (*type != text::DocumentType::kBeir) doc.key = source;
    doc.source_path = source;
    keys_in_file.insert(doc.key);
    report.invalid_utf8_replaced += doc.invalid_utf8_replaced;
    for (auto& note : doc.notes) report.notes.push_back(std::move(note));
    const bool is_record = *type == text::DocumentType::kBeir;
    std::string hash = is_record ? RecordHash(doc) : file_hash;
    SIEVE_ASSIGN_OR_RETURN(auto existing, store.FindDocument(doc.key));
    if (existing && existing->content_hash == hash && existing->chunking == chunking &&
        existing->source_path == source) {
      if (!tags.empty() && existing->tags != tags) {
        SIEVE_RETURN_IF_ERROR(store.SetTags(existing->doc_id, tags));
      }
      ++report.documents_unchanged;
      continue;
    }
    DocumentInput input;
    input.key = doc.key;
    input.source_path = source;
    input.type = text::DocumentTypeName(doc.type);
    input.title = doc.title;
    input.content_hash = std::move(hash);
    input.bytes = is_record ? doc.title.size() + doc.text.size() : size;
    input.chunking = chunking;
    input.tags = tags.empty() && existing ? existing->tags : tags;
    input.chunks = text::ChunkDocument(doc, options.chunking);
    report.chunks_written += input.chunks.size();
    // The chunks hold what is stored: the document's text goes before they are written.
    std::string().swap(doc.text);
    auto put = store.PutDocument(input);
    if (!put.ok()) return put.status().WithContext(name);
    ++(existing ? report.documents_replaced : report.documents_added);
  }
  // Records that are no longer in the file (BEIR) go away with this version of it.
  SIEVE_ASSIGN_OR_RETURN(auto previous_keys, store.KeysFromSource(source));
  for (const auto& key : previous_keys) {
    if (keys_in_file.count(key)) continue;
    SIEVE_ASSIGN_OR_RETURN(bool deleted, store.DeleteDocument(key));
    if (deleted) ++report.documents_removed;
  }
  if (!txn) {
    SIEVE_ASSIGN_OR_RETURN(auto begun, store.BeginTransaction());
    txn.emplace(std::move(begun));
  }
  Status committed = txn->Commit();
  if (!committed.ok()) return committed.WithContext(name);
  if (options.committed) options.committed(done, documents.size());
  return report;
}

Result<std::vector<DocumentInfo>> VanishedDocuments(DocumentStore& store, const IngestPlan& plan) {
  std::vector<DocumentInfo> vanished;
  if (plan.roots.empty()) return vanished;
  std::set<std::string> planned;
  for (const auto& file : plan.files) planned.insert(DocumentKeyForPath(file.path));
  SIEVE_ASSIGN_OR_RETURN(auto documents, store.ListDocuments());
  auto under = [](const std::string& path, const std::vector<std::string>& folders) {
    return std::any_of(folders.begin(), folders.end(),
                       [&](const std::string& folder) { return path.starts_with(folder); });
  };
  for (auto& doc : documents) {
    if (!under(doc.source_path, plan.roots) || under(doc.source_path, plan.unreadable)) continue;
    if (planned.count(doc.source_path)) continue;
    vanished.push_back(std::move(doc));
  }
  return vanished;
}

Result<bool> MoveIfRenamed(DocumentStore& store, const fs::path& path, const IngestOptions& options,
                           std::vector<DocumentInfo>& vanished) {
  if (vanished.empty()) return false;
  const std::string key = DocumentKeyForPath(path);
  SIEVE_ASSIGN_OR_RETURN(auto existing, store.FindDocument(key));
  if (existing) return false;
  auto hash = Sha256HexOfFile(path);
  if (!hash.ok()) return false;  // IngestFile reports the file
  const std::string chunking = ChunkingSignature(options.chunking);
  for (auto it = vanished.begin(); it != vanished.end(); ++it) {
    if (it->type == "beir" || it->content_hash != *hash || it->chunking != chunking ||
        it->key != it->source_path) {
      continue;
    }
    SIEVE_ASSIGN_OR_RETURN(auto txn, store.BeginTransaction());
    SIEVE_ASSIGN_OR_RETURN(bool moved, store.MoveDocument(it->key, key, key));
    if (!moved) continue;
    if (!options.tags.empty())
      SIEVE_RETURN_IF_ERROR(store.SetTags(it->doc_id, SortedUnique(options.tags)));
    SIEVE_RETURN_IF_ERROR(txn.Commit());
    vanished.erase(it);
    return true;
  }
  return false;
}

Result<IngestPlan> PlanIngest(const std::vector<fs::path>& paths,
                              std::optional<text::DocumentType> type) {
  IngestPlan plan;
  SIEVE_ASSIGN_OR_RETURN(auto detector, text::TypeDetector::Create());
  std::set<std::string> seen;
  std::set<FileId> seen_files;
  std::set<FileId> visited_folders;
  auto add_file = [&](const fs::path& file, std::optional<text::DocumentType> file_type) {
    if (!seen.insert(DocumentKeyForPath(file)).second) return;
    if (auto id = IdentityOf(file); id && !seen_files.insert(*id).second) {
      plan.not_documents.push_back({file, "same file as another path (indexed once)"});
      return;
    }
    plan.files.push_back({file, file_type});
  };
  for (const auto& path : paths) {
    std::error_code ec;
    auto status = fs::status(path, ec);
    if (!fs::exists(status)) {
      plan.errors.push_back(Status::NotFound(path.string() + ": no such file or directory"));
      continue;
    }
    if (!fs::is_directory(status)) {
      if (type) {
        add_file(path, type);
        continue;
      }
      auto detection = detector->Detect(path);
      if (!detection.ok()) {
        plan.errors.push_back(detection.status().WithContext(path.string()));
        continue;
      }
      if (!detection->type) {
        plan.errors.push_back(
            Status::Unsupported(path.string() + ": not a document: " + detection->not_document));
        continue;
      }
      add_file(path, detection->type);
      continue;
    }
    std::string root = DocumentKeyForPath(path);
    if (root.back() != '/') root += '/';
    plan.roots.push_back(root);
    std::vector<fs::path> found;
    WalkFolder(path, visited_folders, found, plan);
    std::sort(found.begin(), found.end());
    for (const auto& file : found) {
      if (type) {
        add_file(file, type);
        continue;
      }
      // In a folder only corpus*.jsonl is a BEIR corpus: queries.jsonl and other JSON lines
      // beside it are not documents. Any .jsonl named on the command line is loaded.
      if (text::DetectType(file) == text::DocumentType::kBeir &&
          !file.filename().string().starts_with("corpus")) {
        plan.not_documents.push_back({file, "JSON lines that are not a corpus*.jsonl"});
        continue;
      }
      auto detection = detector->Detect(file);
      if (!detection.ok()) {
        plan.errors.push_back(detection.status().WithContext(file.string()));
        continue;
      }
      if (!detection->type) {
        plan.not_documents.push_back({file, detection->not_document});
        continue;
      }
      add_file(file, detection->type);
    }
  }
  return plan;
}

}  // namespace sieve::store
