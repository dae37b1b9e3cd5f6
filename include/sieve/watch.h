// sieve/watch.h: following folders. sieve::Watch keeps an index in step with folders as they
// change (`sieve watch`, `sieve serve --watch`), with the semantics of a folder sync in
// Engine::Ingest: new and changed files are ingested, documents of vanished files deleted, and a
// renamed or moved file (same content) moves its document, nothing re-embedded.
//
//   sieve::WatchOptions watch{.folders = {"/srv/docs"}};
//   watch.on_sync = [](const sieve::WatchSync& sync) { ... };
//   std::stop_source stop;                 // request_stop() from another thread ends the watch
//   sieve::RequestContext ctx;
//   ctx.set_stop_token(stop.get_token());
//   sieve::Status status = sieve::Watch(*engine, watch, ctx);   // blocks
//
// How it works (Linux inotify): every folder under the roots has a watch (hidden ones are skipped,
// as ingest skips them; new subfolders get one as they appear). Changes are collected until the
// folders have been quiet for `quiet`, or `max_delay` after the first change at the latest, and
// then the roots are synced through Engine::Ingest (one full sync: the content hashes decide
// what changed, so a rename is recognised wherever it went). A file that was written to and not
// yet closed by its writer is left out of a sync (IngestRequest::defer: its previous document, if
// any, stays as it is) until it is closed, or until nothing has been written to it for `settle`.
// When the kernel's event queue overflows, every folder is walked again and the roots synced.
// When the kernel's watch limit (fs.inotify.max_user_watches, or `max_watches`) is reached, one
// warning is logged and the roots are also synced every `rescan`, so folders without a watch are
// still followed, only later.
//
// Thread-safety: Watch blocks the calling thread until `ctx` is stopped; on_sync is called on that
// thread. The Engine may serve other requests meanwhile: Engine writes are serialised (in this
// process and across processes), so a sync never races an upload or a `sieve ingest`. Several
// Watch calls may run at once on different folders.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/log.h"
#include "core/status.h"
#include "sieve/sieve.h"

namespace sieve {

// One sync of the watched folders.
struct WatchSync {
  // Why it ran: "start" (the first), "changes" (events), "settled" (a file left out earlier went
  // `settle` without a write), "overflow" (the event queue overflowed), "rescan" (periodic, when
  // the watch limit was reached), "retry" (the previous sync failed).
  std::string reason;
  Status status;            // the sync's error (the watch goes on and retries); OK otherwise
  IngestResponse response;  // when status is OK
  // Files left out because their writer has not closed them yet (absolute paths, sorted).
  std::vector<std::string> deferred;
};

struct WatchOptions {
  std::vector<std::filesystem::path> folders;  // the roots (folders only)
  std::vector<std::string> tags;               // IngestRequest::tags of every sync
  std::string type;                            // IngestRequest::type of every sync
  std::chrono::milliseconds quiet{500};        // no event for this long: sync
  std::chrono::milliseconds max_delay{5000};   // at most this long after the first event: sync
  // A file written to and not closed counts as written once nothing was written to it this long.
  std::chrono::milliseconds settle{std::chrono::seconds(30)};
  // Interval of full syncs once the watch limit is reached.
  std::chrono::milliseconds rescan{std::chrono::seconds(60)};
  std::size_t max_watches = 0;  // folders watched at most; 0 = what the kernel allows
  // Folders whose changes are ignored (the index folder, when it lies under a root).
  std::vector<std::filesystem::path> ignore;
  std::function<void(const WatchSync&)> on_sync;  // after each sync, on the watching thread
  Logger logger;                                  // warnings: the watch limit, a root that vanished
};

// Syncs the folders once, then follows their changes until `ctx` is stopped (its stop token or
// deadline), and returns OK then (a sync in progress stops between files; what it wrote stays
// valid). Fails at once with kInvalidArgument when a root is not a folder or there are none, or
// when inotify cannot be set up; later, with kNotFound when every root has vanished. A failed sync
// (e.g. kBusy: another process held the index) is reported through on_sync and retried after
// max_delay.
Status Watch(Engine& engine, const WatchOptions& options, RequestContext& ctx);

}  // namespace sieve
