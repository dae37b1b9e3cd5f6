// store: the writer lock of an index folder.
//
// One writer per index at a time, across processes and within one: every write path (ingest,
// delete, vector sync, reembed) holds an IndexWriteLock on the index folder for as long as it
// writes. The lock is an exclusive flock(2) on `<index>/LOCK` (the file itself stays; the lock
// goes with the descriptor, so a killed writer never leaves it held). The holder writes its pid
// into the file so a waiting writer can name it. Readers (search, ask without repair, stats)
// never take the lock. flock locks belong to an open file description, so two IndexWriteLocks
// on one folder exclude each other within a process too (two Engines on one index).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>

#include "core/status.h"

namespace sieve::store {

inline constexpr const char* kIndexLockFile = "LOCK";

class IndexWriteLock {
 public:
  // Takes the lock on `dir` (created when missing, as is the LOCK file), waiting up to `wait`
  // while another writer holds it. Then kBusy: "index DIR is being written by another process
  // (pid N); ...". wait = 0 tries once. Thread-safe (each call its own descriptor).
  static Result<IndexWriteLock> Acquire(const std::filesystem::path& dir,
                                        std::chrono::milliseconds wait);
  // Takes the lock on `dir` only when nobody holds it now: never waits, never creates the folder
  // or its LOCK file (a folder without one has never been written), never writes the pid (the
  // descriptor is read-only, so a read-only index works too). For brief housekeeping by readers
  // (removing what a killed writer left); a writer that asks meanwhile waits as for any holder.
  // nullopt when the lock is held or the file cannot be opened. Thread-safe.
  static std::optional<IndexWriteLock> TryAcquireIfIdle(const std::filesystem::path& dir);

  IndexWriteLock(IndexWriteLock&& other) noexcept;
  IndexWriteLock& operator=(IndexWriteLock&& other) noexcept;
  IndexWriteLock(const IndexWriteLock&) = delete;
  IndexWriteLock& operator=(const IndexWriteLock&) = delete;
  ~IndexWriteLock();  // releases the lock

  const std::filesystem::path& dir() const { return dir_; }
  bool held() const { return fd_ >= 0; }

 private:
  IndexWriteLock(std::filesystem::path dir, int fd) : dir_(std::move(dir)), fd_(fd) {}
  void Release();

  std::filesystem::path dir_;
  int fd_ = -1;
};

}  // namespace sieve::store
