#include "store/index_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

namespace sieve::store {

namespace fs = std::filesystem;

namespace {

// The pid the holder wrote into the lock file ("" when unreadable).
std::string HolderPid(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[32] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return "";
  std::string pid(buf, static_cast<std::size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

}  // namespace

Result<IndexWriteLock> IndexWriteLock::Acquire(const fs::path& dir,
                                               std::chrono::milliseconds wait) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return Status::IoError(dir.string() + ": cannot create the index folder: " + ec.message());
  const fs::path path = dir / kIndexLockFile;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError(path.string() + ": cannot open: " + std::strerror(errno));
  IndexWriteLock lock(dir, fd);  // closes fd on every return below
  const auto deadline = std::chrono::steady_clock::now() + wait;
  auto pause = std::chrono::milliseconds(5);
  while (true) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) break;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      return Status::IoError(path.string() + ": cannot lock: " + std::strerror(errno));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      const std::string pid = HolderPid(path);
      return Status::Busy("index " + dir.string() + " is being written by another process" +
                          (pid.empty() ? std::string() : " (pid " + pid + ")") +
                          "; try again when it has finished");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
  // Record the holder for the message others get; failing to is harmless.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return lock;
}

std::optional<IndexWriteLock> IndexWriteLock::TryAcquireIfIdle(const fs::path& dir) {
  const fs::path path = dir / kIndexLockFile;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  IndexWriteLock lock(dir, fd);  // closes fd unless returned
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EINTR) return std::nullopt;
  }
  return lock;
}

IndexWriteLock::IndexWriteLock(IndexWriteLock&& other) noexcept
    : dir_(std::move(other.dir_)), fd_(std::exchange(other.fd_, -1)) {}

IndexWriteLock& IndexWriteLock::operator=(IndexWriteLock&& other) noexcept {
  if (this != &other) {
    Release();
    dir_ = std::move(other.dir_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

IndexWriteLock::~IndexWriteLock() {
  Release();
}

void IndexWriteLock::Release() {
  if (fd_ >= 0) {
    ::close(fd_);  // drops the flock
    fd_ = -1;
  }
}

}  // namespace sieve::store
