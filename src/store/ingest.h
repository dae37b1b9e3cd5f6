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
#include <string>
#include <vector>

#include "core/status.h"
#include "store/document_store.h"
#include "text/chunker.h"

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

// Ingests one file (its key is its absolute, lexically normal path). Errors name the file.
Result<FileIngestReport> IngestFile(DocumentStore& store, const std::filesystem::path& path,
                                    const IngestOptions& options);

// What a list of command-line paths expands to: files in sorted order (directories recurse,
// hidden entries skipped), files of unknown type found in directories, and paths that failed.
struct IngestPlan {
  std::vector<std::filesystem::path> files;
  std::vector<std::filesystem::path> ignored;  // unknown type, found while walking a directory
  std::vector<Status> errors;                  // missing path, unreadable directory, ...
};
IngestPlan PlanIngest(const std::vector<std::filesystem::path>& paths);

// Absolute, lexically normal form of a path: the key of an ordinary file.
std::string DocumentKeyForPath(const std::filesystem::path& path);

}  // namespace sieve::store
