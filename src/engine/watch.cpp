// sieve::Watch: inotify on every folder under the roots, debounced full syncs through
// Engine::Ingest (sieve/watch.h).
#include "sieve/watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace sieve {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kFolderEvents = IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                        IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF |
                                        IN_ONLYDIR;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool IsUnder(const fs::path& path, const fs::path& folder) {
  auto [f, p] = std::mismatch(folder.begin(), folder.end(), path.begin(), path.end());
  return f == folder.end();
}

fs::path Normal(const fs::path& path) {
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec);
  return (ec ? path : absolute).lexically_normal();
}

// The state of one Watch call; lives on its thread.
class Watcher {
 public:
  Watcher(Engine& engine, const WatchOptions& options, RequestContext& ctx, int inotify)
      : engine_(engine), options_(options), ctx_(ctx), inotify_(inotify) {
    for (const auto& root : options.folders) roots_.push_back(Normal(root));
    for (const auto& path : options.ignore) ignore_.push_back(Normal(path));
  }

  Status Run(int wake_fd) {
    for (const auto& root : roots_) AddTree(root);
    SIEVE_RETURN_IF_ERROR(Sync("start"));
    while (!ctx_.stopped()) {
      const Clock::time_point now = Clock::now();
      std::optional<Clock::time_point> due = NextDue();
      if (due && *due <= now) {
        SIEVE_RETURN_IF_ERROR(Sync(DueReason(now)));
        continue;
      }
      // Wake for the next due sync, a stop (wake_fd), or at least once a second (a deadline).
      auto wait = std::chrono::milliseconds(1000);
      if (due) {
        wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(*due - now));
      }
      std::array<pollfd, 2> fds{pollfd{inotify_, POLLIN, 0}, pollfd{wake_fd, POLLIN, 0}};
      int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
      if (ready < 0 && errno != EINTR) {
        return Status::Internal(std::string("watch: poll: ") + std::strerror(errno));
      }
      if (ready <= 0 || (fds[0].revents & POLLIN) == 0) continue;
      SIEVE_RETURN_IF_ERROR(ReadEvents());
    }
    return Status::Ok();
  }

 private:
  // Handles every event queued now (the descriptor does not block).
  Status ReadEvents() {
    alignas(struct inotify_event) std::array<char, 64 * 1024> buffer;
    while (true) {
      ssize_t n = ::read(inotify_, buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return Status::Ok();
        return Status::Internal(std::string("watch: read: ") + std::strerror(errno));
      }
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const struct inotify_event*>(buffer.data() + at);
        Handle(*event);
        at += static_cast<ssize_t>(sizeof(struct inotify_event) + event->len);
      }
    }
  }

  // When the next sync is due, if one is.
  std::optional<Clock::time_point> NextDue() const {
    std::optional<Clock::time_point> due;
    auto earliest = [&due](Clock::time_point t) {
      if (!due || t < *due) due = t;
    };
    if (dirty_) earliest(std::min(last_event_ + options_.quiet, first_event_ + options_.max_delay));
    if (!deferred_.empty()) {
      // A deferred file syncs once its writer closes it (an event) or it settles.
      for (const auto& path : deferred_) {
        auto it = writing_.find(path);
        if (it != writing_.end()) earliest(it->second + options_.settle);
      }
    }
    if (retry_at_) earliest(*retry_at_);
    if (limit_reached_) earliest(last_sync_ + options_.rescan);
    return due;
  }

  std::string DueReason(Clock::time_point now) const {
    if (overflow_) return "overflow";
    if (dirty_) return "changes";
    if (retry_at_ && *retry_at_ <= now) return "retry";
    if (limit_reached_ && last_sync_ + options_.rescan <= now) return "rescan";
    return "settled";
  }

  bool Ignored(const fs::path& path) const {
    return std::any_of(ignore_.begin(), ignore_.end(),
                       [&](const fs::path& folder) { return IsUnder(path, folder); });
  }

  void Changed() {
    const Clock::time_point now = Clock::now();
    if (!dirty_) first_event_ = now;
    dirty_ = true;
    last_event_ = now;
  }

  // Watches `folder` and every folder under it (hidden ones and ignored ones aside). Links to
  // folders are followed, as ingest follows them, each folder once (a link loop ends).
  void AddTree(const fs::path& folder) {
    std::set<int> seen;
    AddTree(folder, seen);
  }
  void AddTree(const fs::path& folder, std::set<int>& seen) {
    if (Ignored(folder)) return;
    const int wd = AddWatch(folder);
    if (wd < 0 || !seen.insert(wd).second) return;
    std::error_code ec;
    fs::directory_iterator it(folder, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      const fs::path& child = it->path();
      if (child.filename().string().starts_with('.')) continue;
      std::error_code type_ec;
      if (it->is_directory(type_ec)) AddTree(child, seen);
    }
  }

  // The folder's watch descriptor (the one it had when it is watched already), or -1.
  int AddWatch(const fs::path& folder) {
    if (options_.max_watches != 0 && folders_.size() >= options_.max_watches &&
        !by_path_.contains(folder)) {
      LimitReached(folder, "the limit of " + std::to_string(options_.max_watches) + " folders");
      return -1;
    }
    const int wd = ::inotify_add_watch(inotify_, folder.c_str(), kFolderEvents);
    if (wd < 0) {
      if (errno == ENOSPC) {
        LimitReached(folder, "the kernel's limit, fs.inotify.max_user_watches");
      } else if (errno != ENOENT && errno != ENOTDIR) {
        options_.logger.Warning("watch: " + folder.string() + ": " + std::strerror(errno) +
                                "; changes under it are seen at the next sync only");
      }
      return -1;
    }
    // A folder watched already (moved within the tree, or reached again) keeps its descriptor.
    if (auto old = folders_.find(wd); old != folders_.end()) by_path_.erase(old->second);
    folders_[wd] = folder;
    by_path_[folder] = wd;
    return wd;
  }

  void LimitReached(const fs::path& folder, const std::string& limit) {
    if (!limit_reached_) {
      options_.logger.Warning("watch: " + folder.string() + ": cannot watch more folders (" +
                              limit + "); folders without a watch are synced every " +
                              std::to_string(options_.rescan.count()) + " ms instead");
    }
    limit_reached_ = true;
  }

  // Forgets the watches of `folder` and of every folder under it (moved out or deleted).
  void RemoveTree(const fs::path& folder) {
    for (auto it = by_path_.lower_bound(folder); it != by_path_.end();) {
      if (!IsUnder(it->first, folder)) break;
      ::inotify_rm_watch(inotify_, it->second);
      folders_.erase(it->second);
      it = by_path_.erase(it);
    }
  }

  void Handle(const struct inotify_event& event) {
    if ((event.mask & IN_Q_OVERFLOW) != 0) {
      overflow_ = true;
      Changed();
      return;
    }
    auto folder = folders_.find(event.wd);
    if (folder == folders_.end()) return;
    if ((event.mask & IN_IGNORED) != 0) {  // the watch is gone (folder deleted, unmounted)
      by_path_.erase(folder->second);
      folders_.erase(folder);
      Changed();
      return;
    }
    if ((event.mask & (IN_DELETE_SELF | IN_MOVE_SELF)) != 0) {
      if (std::find(roots_.begin(), roots_.end(), folder->second) != roots_.end()) {
        options_.logger.Warning("watch: " + folder->second.string() +
                                " was deleted or moved away; its documents are kept");
      }
      Changed();
      return;
    }
    if (event.len == 0) return;
    const std::string name(event.name);
    if (name.starts_with('.')) return;  // hidden: ingest skips it
    const fs::path path = folder->second / name;
    if (Ignored(path)) return;
    if ((event.mask & IN_ISDIR) != 0) {
      if ((event.mask & (IN_CREATE | IN_MOVED_TO)) != 0) AddTree(path);
      if ((event.mask & (IN_DELETE | IN_MOVED_FROM)) != 0) {
        RemoveTree(path);
        std::erase_if(writing_, [&](const auto& entry) { return IsUnder(entry.first, path); });
      }
      Changed();
      return;
    }
    if ((event.mask & IN_MODIFY) != 0) {
      writing_[path] = Clock::now();
    } else if ((event.mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) != 0) {
      writing_.erase(path);
    }
    Changed();
  }

  Status Sync(std::string reason) {
    // What happened up to now belongs to this sync (a write seen here defers its file).
    SIEVE_RETURN_IF_ERROR(ReadEvents());
    const Clock::time_point now = Clock::now();
    dirty_ = false;
    retry_at_.reset();
    last_sync_ = now;
    if (overflow_) {
      // Events were lost: folders may have appeared without a watch.
      for (const auto& root : roots_) AddTree(root);
      overflow_ = false;
    }
    WatchSync sync;
    sync.reason = std::move(reason);
    IngestRequest request;
    request.tags = options_.tags;
    request.type = options_.type;
    request.sync = true;
    for (const auto& root : roots_) {
      std::error_code ec;
      if (fs::is_directory(root, ec)) request.paths.push_back(root);
    }
    if (request.paths.empty()) {
      return Status::NotFound("watch: every watched folder is gone");
    }
    deferred_.clear();
    for (auto it = writing_.begin(); it != writing_.end();) {
      std::error_code ec;
      if (now - it->second >= options_.settle || !fs::exists(it->first, ec)) {
        it = writing_.erase(it);
        continue;
      }
      request.defer.push_back(it->first);
      sync.deferred.push_back(it->first.string());
      deferred_.push_back(it->first);
      ++it;
    }
    RequestContext ctx;
    ctx.set_stop_token(ctx_.stop_token());
    if (ctx_.deadline()) ctx.set_deadline(*ctx_.deadline());
    ctx.set_tracer(ctx_.tracer());
    auto response = engine_.Ingest(request, ctx);
    if (!response.ok()) {
      if (ctx_.stopped()) return Status::Ok();  // Run's loop ends
      sync.status = response.status();
      retry_at_ = Clock::now() + options_.max_delay;
    } else {
      sync.response = std::move(response).value();
    }
    if (options_.on_sync) options_.on_sync(sync);
    return Status::Ok();
  }

  Engine& engine_;
  const WatchOptions& options_;
  RequestContext& ctx_;
  int inotify_;
  std::vector<fs::path> roots_;
  std::vector<fs::path> ignore_;
  std::map<int, fs::path> folders_;  // watch descriptor -> folder
  std::map<fs::path, int> by_path_;  // folder -> watch descriptor (sorted: subtrees are ranges)
  std::map<fs::path, Clock::time_point> writing_;  // written to, not closed: last write
  std::vector<fs::path> deferred_;                 // left out of the last sync
  bool dirty_ = false;
  bool overflow_ = false;
  bool limit_reached_ = false;
  Clock::time_point first_event_;
  Clock::time_point last_event_;
  Clock::time_point last_sync_;
  std::optional<Clock::time_point> retry_at_;
};

}  // namespace

Status Watch(Engine& engine, const WatchOptions& options, RequestContext& ctx) {
  if (options.folders.empty()) return Status::InvalidArgument("watch: no folder to watch");
  for (const auto& folder : options.folders) {
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) {
      return Status::InvalidArgument("watch: " + folder.string() + ": not a folder");
    }
  }
  if (options.quiet.count() < 0 || options.max_delay < options.quiet) {
    return Status::InvalidArgument("watch: max_delay must be at least quiet (and quiet >= 0)");
  }
  Fd inotify(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (inotify.get() < 0) {
    return Status::Internal(std::string("watch: inotify_init1: ") + std::strerror(errno) +
                            (errno == EMFILE ? " (fs.inotify.max_user_instances reached)" : ""));
  }
  // A stop request wakes the poll at once.
  Fd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (wake.get() < 0) {
    return Status::Internal(std::string("watch: eventfd: ") + std::strerror(errno));
  }
  std::stop_callback on_stop(ctx.stop_token(), [fd = wake.get()] {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t written = ::write(fd, &one, sizeof one);
  });
  Watcher watcher(engine, options, ctx, inotify.get());
  return watcher.Run(wake.get());
}

}  // namespace sieve
