// Ingestion: file -> text::LoadFile -> text::ChunkDocument -> DocumentStore, one transaction per
// file, except that a corpus of many records commits every `documents_per_transaction` records
// (bounded transactions: the write-ahead log and the time a writer holds the database stay
// bounded however large the corpus). A crash in between leaves some records new and some old;
// ingesting the file again completes it. Re-ingesting an unchanged file is a no-op (content hash +
// chunker settings); a changed file replaces its documents' chunks; BEIR records no longer in the
// file are deleted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/document_store.h"
#include "text/chunker.h"
#include "text/document.h"

namespace sieve::store {

struct IngestOptions {
  text::ChunkOptions chunking;
  std::uint64_t max_file_bytes = 100ull * 1024 * 1024;
  // Tags for every document of the file, replacing the ones they had. Empty: documents already
  // in the index keep their tags (so a plain re-ingest does not untag anything).
  std::vector<std::string> tags;
  // Records of a corpus file written per transaction (at least 1).
  std::size_t documents_per_transaction = 1000;
  // Called after each transaction of a file is committed, with the documents of the file
  // handled so far and in all. Optional.
  std::function<void(std::size_t done, std::size_t total)> committed;
};

struct FileIngestReport {
  std::size_t documents_added = 0;
  std::size_t documents_replaced = 0;
  std::size_t documents_unchanged = 0;
  std::size_t documents_removed = 0;  // BEIR records that disappeared from the file
  std::size_t chunks_written = 0;
  std::size_t invalid_utf8_replaced = 0;
  std::uint64_t bytes = 0;  // size of the file
  // What the extractor cut to stay within its bounds (text::ExtractedDocument::notes).
  std::vector<std::string> notes;
  std::size_t documents() const {
    return documents_added + documents_replaced + documents_unchanged;
  }
};

// "max=256,overlap=32": stored with each document so changed settings re-chunk it.
std::string ChunkingSignature(const text::ChunkOptions& options);

// Ingests one file (its key is its absolute, lexically normal path) as `type`; unset: the type
// its name, else its content, gives (text::TypeDetector). Errors name the file.
Result<FileIngestReport> IngestFile(DocumentStore& store, const std::filesystem::path& path,
                                    const IngestOptions& options,
                                    std::optional<text::DocumentType> type = std::nullopt);

// A file found while walking a folder that is not a document, and why ("binary
// (application/x-sharedlib)", "empty file", "symbolic link loop", ...).
struct NotDocument {
  std::filesystem::path path;
  std::string reason;
};

struct PlannedFile {
  std::filesystem::path path;
  std::optional<text::DocumentType> type;  // unset: decided when the file is read
};

// What a list of command-line paths expands to: files in sorted order (directories recurse,
// hidden entries skipped), files found in directories that are not documents, and paths that
// failed. Symbolic links are followed (to files and folders); a folder reached again (a link
// loop, or a second link to it) is not walked twice, and a file reached by two paths is planned
// once (the first path in walk order).
struct IngestPlan {
  std::vector<PlannedFile> files;
  std::vector<NotDocument> not_documents;  // found while walking a directory
  std::vector<Status> errors;              // missing path, unreadable directory, ...
  // The folders named (absolute keys, ending in '/'): a sync removes documents under them whose
  // files are gone.
  std::vector<std::string> roots;
  // Folders under the roots that could not be listed: documents under them are kept.
  std::vector<std::string> unreadable;
};
// `type`: read every file as this type (--type), skipping detection. Uses a TypeDetector for
// files whose name does not give their type; fails only when libmagic cannot be loaded.
Result<IngestPlan> PlanIngest(const std::vector<std::filesystem::path>& paths,
                              std::optional<text::DocumentType> type = std::nullopt);

// Sync with disk. The documents the plan's folders no longer hold: source under one of
// plan.roots, not a planned file, not under a folder that could not be listed.
Result<std::vector<DocumentInfo>> VanishedDocuments(DocumentStore& store, const IngestPlan& plan);

// A renamed or moved file: when no document has `path`'s key but one of `vanished` has the same
// content (hash) and chunking (and is not a BEIR record), that document is moved to the path
// (DocumentStore::MoveDocument, one transaction: its chunks and vectors are kept) and removed
// from `vanished`. Returns whether it moved one.
Result<bool> MoveIfRenamed(DocumentStore& store, const std::filesystem::path& path,
                           const IngestOptions& options, std::vector<DocumentInfo>& vanished);

// Absolute, lexically normal form of a path: the key of an ordinary file.
std::string DocumentKeyForPath(const std::filesystem::path& path);

}  // namespace sieve::store
