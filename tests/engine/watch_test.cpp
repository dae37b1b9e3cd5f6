// sieve::Watch: folders followed with inotify. Every wait is a bounded poll for the expected
// state (generous timeouts); no timing decides a pass.
#include "sieve/watch.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "sieve/sieve.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const fs::path kModels = fs::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "models";
constexpr auto kPatience = 60s;  // bound of every wait (a loaded machine is slow, not wrong)

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve-watch-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(docs());
    config::Config config;
    config.index.dir = (dir_ / "idx").string();
    config.models.embed = (kModels / "tiny-bge").string();
    config.models.rerank = (kModels / "tiny-ms-marco").string();
    auto engine = Engine::Open(config);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
    options_.folders = {docs()};
    options_.quiet = 100ms;
    options_.max_delay = 2s;
    options_.ignore = {dir_ / "idx"};
    options_.logger = Logger([this](LogLevel level, std::string_view message) {
      if (level != LogLevel::kWarning) return;
      std::lock_guard<std::mutex> lock(mutex_);
      warnings_.emplace_back(message);
    });
  }
  void TearDown() override {
    EXPECT_TRUE(Stop().ok());
    engine_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path docs() const { return dir_ / "docs"; }
  fs::path Write(const std::string& name, const std::string& text) const {
    fs::path path = docs() / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Runs Watch on a thread; every sync is recorded.
  void Start() {
    options_.on_sync = [this](const WatchSync& sync) {
      std::lock_guard<std::mutex> lock(mutex_);
      syncs_.push_back(sync);
      changed_.notify_all();
    };
    watching_ = std::async(std::launch::async, [this] {
      RequestContext ctx;
      ctx.set_stop_token(stop_.get_token());
      return Watch(*engine_, options_, ctx);
    });
    ASSERT_TRUE(WaitForSyncs(1)) << "no initial sync";
  }
  // Stops the watch; it must return (OK) within the bound.
  Status Stop() {
    if (!watching_.valid()) return Status::Ok();
    stop_.request_stop();
    if (watching_.wait_for(kPatience) != std::future_status::ready) {
      ADD_FAILURE() << "Watch did not return after stop";
      std::abort();  // a thread left running would touch freed state
    }
    return watching_.get();
  }

  bool WaitForSyncs(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kPatience, [&] { return syncs_.size() >= count; });
  }
  std::vector<WatchSync> Syncs() {
    std::lock_guard<std::mutex> lock(mutex_);
    return syncs_;
  }
  // Polls until `done` holds (true) or the bound passes (false).
  static bool Eventually(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + kPatience;
    while (std::chrono::steady_clock::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return done();
  }

  std::vector<DocumentSummary> Documents() {
    RequestContext ctx;
    auto list = engine_->ListDocuments({.offset = 0, .limit = 0}, ctx);
    return list.ok() ? list->documents : std::vector<DocumentSummary>{};
  }
  // The document's text (its chunks joined, without the final newline), "" when it is not
  // indexed.
  std::string Text(const fs::path& path) {
    RequestContext ctx;
    auto detail = engine_->ShowDocument(path.string(), ctx);
    if (!detail.ok()) return "";
    std::string text;
    for (const auto& chunk : detail->chunks) text += chunk.text;
    return Trim(text);
  }
  static std::string Trim(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  }
  std::optional<std::int64_t> Id(const fs::path& path) {
    RequestContext ctx;
    auto detail = engine_->ShowDocument(path.string(), ctx);
    if (!detail.ok()) return std::nullopt;
    return detail->document.id;
  }
  // Sums a counter over the syncs after the first `from`.
  std::size_t Sum(std::size_t IngestResponse::*field, std::size_t from = 1) {
    std::size_t sum = 0;
    auto syncs = Syncs();
    for (std::size_t i = from; i < syncs.size(); ++i) sum += syncs[i].response.*field;
    return sum;
  }

  fs::path dir_;
  std::unique_ptr<Engine> engine_;
  WatchOptions options_;
  std::stop_source stop_;
  std::future<Status> watching_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<WatchSync> syncs_;
  std::vector<std::string> warnings_;
};

TEST_F(WatchTest, InitialSyncIngestsWhatIsThere) {
  Write("a.txt", "Aardvarks dig burrows at night.\n");
  Write("sub/b.txt", "Badgers share burrows with foxes.\n");
  Start();
  WatchSync first = Syncs().front();
  EXPECT_EQ(first.reason, "start");
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  EXPECT_EQ(first.response.documents_added, 2u);
  EXPECT_GT(first.response.embedded, 0u);
  EXPECT_EQ(Documents().size(), 2u);
  EXPECT_TRUE(Stop().ok());
}

TEST_F(WatchTest, BurstOfWritesEndsWithEveryFileIndexedOnceWithItsFinalContent) {
  Start();
  constexpr int kFiles = 50;
  auto name = [](int i) { return "burst/file" + std::to_string(i) + ".txt"; };
  auto content = [](int i, int version) {
    return "File " + std::to_string(i) + " version " + std::to_string(version) +
           " notes about the quokka colony.\n";
  };
  for (int version = 0; version < 3; ++version) {
    for (int i = 0; i < kFiles; ++i) {
      if (version == 0 || i % 5 == 0) Write(name(i), content(i, version));
    }
  }
  auto final_version = [](int i) { return i % 5 == 0 ? 2 : 0; };
  ASSERT_TRUE(Eventually([&] {
    if (Documents().size() != static_cast<std::size_t>(kFiles)) return false;
    for (int i = 0; i < kFiles; ++i) {
      if (Text(docs() / name(i)) != Trim(content(i, final_version(i)))) return false;
    }
    return true;
  })) << Documents().size()
      << " documents";
  // Every path once: the keys are distinct and are exactly the 50 files.
  std::vector<std::string> keys;
  for (const auto& d : Documents()) keys.push_back(d.key);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::unique(keys.begin(), keys.end()), keys.end());
  EXPECT_EQ(keys.size(), static_cast<std::size_t>(kFiles));
  // (A document is visible before its sync is reported: wait for the report.)
  EXPECT_TRUE(Eventually(
      [&] { return Sum(&IngestResponse::documents_added) >= static_cast<std::size_t>(kFiles); }));
  EXPECT_EQ(Sum(&IngestResponse::documents_added), static_cast<std::size_t>(kFiles));
  // Debounced: far fewer syncs than the 80 writes.
  EXPECT_LT(Syncs().size(), 40u);
  RequestContext ctx;
  auto stats = engine_->Stats(ctx);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->vectors, stats->chunks);
}

TEST_F(WatchTest, DeletedFileLosesItsDocument) {
  Write("keep.txt", "Kestrels hover over the meadow.\n");
  const fs::path gone = Write("gone.txt", "Gannets dive for fish.\n");
  Start();
  ASSERT_EQ(Documents().size(), 2u);
  fs::remove(gone);
  ASSERT_TRUE(Eventually([&] { return Documents().size() == 1; }));
  EXPECT_EQ(Documents()[0].key, (docs() / "keep.txt").string());
  EXPECT_TRUE(Eventually([&] { return Sum(&IngestResponse::documents_deleted) == 1; }));
}

TEST_F(WatchTest, RenamedFileKeepsItsDocumentAndIsNotReembedded) {
  const fs::path old_path = Write("old.txt", "Ocelots climb trees in the rainforest.\n");
  Start();
  const auto id = Id(old_path);
  ASSERT_TRUE(id.has_value());
  fs::create_directories(docs() / "cats");
  const fs::path new_path = docs() / "cats" / "ocelot.txt";
  fs::rename(old_path, new_path);
  ASSERT_TRUE(Eventually([&] { return Id(new_path).has_value() && !Id(old_path).has_value(); }));
  EXPECT_EQ(Id(new_path), id);
  ASSERT_TRUE(Eventually([&] { return Sum(&IngestResponse::documents_moved) == 1; }));
  EXPECT_EQ(Sum(&IngestResponse::documents_added), 0u);
  EXPECT_EQ(Sum(&IngestResponse::embedded), 0u);  // the vectors moved with the document
}

TEST_F(WatchTest, NewSubfolderIsWatched) {
  Start();
  fs::create_directories(docs() / "new" / "deeper");
  Write("new/deeper/first.txt", "Finches sing at dawn.\n");
  ASSERT_TRUE(Eventually([&] { return Id(docs() / "new/deeper/first.txt").has_value(); }));
  // A file written later in the new folder arrives through its own watch (no rescan runs).
  const std::size_t before = Syncs().size();
  Write("new/deeper/second.txt", "Swifts sleep on the wing.\n");
  ASSERT_TRUE(Eventually([&] { return Id(docs() / "new/deeper/second.txt").has_value(); }));
  auto syncs = Syncs();
  for (std::size_t i = before; i < syncs.size(); ++i) EXPECT_EQ(syncs[i].reason, "changes");
}

// A folder moved in gets watches (its files are ingested, later writes in it are seen under its
// new path); a folder renamed within the tree keeps its documents, and the watch follows the new
// name (a half-written file under it is recognised by its new path).
TEST_F(WatchTest, FoldersMovedInAndRenamedAreFollowed) {
  const fs::path outside = dir_ / "outside";
  fs::create_directories(outside / "inner");
  std::ofstream(outside / "inner" / "moth.txt") << "Moths navigate by the moon.\n";
  Start();
  fs::rename(outside, docs() / "arrived");
  const fs::path moth = docs() / "arrived" / "inner" / "moth.txt";
  ASSERT_TRUE(Eventually([&] { return Id(moth).has_value(); }));
  const auto id = Id(moth);

  fs::rename(docs() / "arrived", docs() / "renamed");
  const fs::path renamed = docs() / "renamed" / "inner" / "moth.txt";
  ASSERT_TRUE(Eventually([&] { return Id(renamed).has_value() && !Id(moth).has_value(); }));
  EXPECT_EQ(Id(renamed), id);
  ASSERT_TRUE(Eventually([&] { return Sum(&IngestResponse::documents_moved) == 1; }));

  const fs::path slow = docs() / "renamed" / "inner" / "slow.txt";
  int fd = ::open(slow.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  const std::string half = "Moths are drawn to";
  ASSERT_EQ(::write(fd, half.data(), half.size()), static_cast<ssize_t>(half.size()));
  ASSERT_TRUE(Eventually([&] {
    for (const auto& sync : Syncs()) {
      if (std::find(sync.deferred.begin(), sync.deferred.end(), slow.string()) !=
          sync.deferred.end()) {
        return true;
      }
    }
    return false;
  }));
  EXPECT_FALSE(Id(slow).has_value());
  const std::string rest = " lamps.\n";
  ASSERT_EQ(::write(fd, rest.data(), rest.size()), static_cast<ssize_t>(rest.size()));
  ASSERT_EQ(::close(fd), 0);
  ASSERT_TRUE(Eventually([&] { return Text(slow) == "Moths are drawn to lamps."; }));
}

TEST_F(WatchTest, EndsWhenEveryRootIsGoneAndKeepsTheDocuments) {
  Write("a.txt", "Albatrosses glide for hours.\n");
  Start();
  fs::remove_all(docs());
  ASSERT_EQ(watching_.wait_for(kPatience), std::future_status::ready);
  Status status = watching_.get();
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.ToString();
  EXPECT_EQ(Documents().size(), 1u);
  std::lock_guard<std::mutex> lock(mutex_);
  ASSERT_FALSE(warnings_.empty());
  EXPECT_THAT(warnings_[0], HasSubstr("deleted or moved away"));
}

TEST_F(WatchTest, HalfWrittenFileIsReadOnceItsWriterClosesIt) {
  Start();
  const fs::path path = docs() / "slow.txt";
  const std::string first_half = "Pangolins roll into a ball when threatened, ";
  const std::string second_half = "and their scales are made of keratin.\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, first_half.data(), first_half.size()),
            static_cast<ssize_t>(first_half.size()));
  // The quiet period passes while the file is open: a sync runs and leaves it out.
  ASSERT_TRUE(Eventually([&] {
    for (const auto& sync : Syncs()) {
      if (std::find(sync.deferred.begin(), sync.deferred.end(), path.string()) !=
          sync.deferred.end()) {
        return true;
      }
    }
    return false;
  }));
  EXPECT_FALSE(Id(path).has_value());
  ASSERT_EQ(::write(fd, second_half.data(), second_half.size()),
            static_cast<ssize_t>(second_half.size()));
  ASSERT_EQ(::close(fd), 0);
  ASSERT_TRUE(Eventually([&] { return Id(path).has_value(); }));
  EXPECT_EQ(Text(path), Trim(first_half + second_half));
  ASSERT_TRUE(Eventually([&] { return Sum(&IngestResponse::documents_added) == 1; }));
  EXPECT_EQ(Sum(&IngestResponse::documents_replaced), 0u);  // the half was never indexed
}

TEST_F(WatchTest, FileKeptOpenIsReadOnceItSettles) {
  options_.settle = 300ms;
  Start();
  const fs::path path = docs() / "log.txt";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  const std::string text = "Lemurs bask in the morning sun.\n";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  // Never closed: read once nothing was written to it for `settle`.
  ASSERT_TRUE(Eventually([&] { return Id(path).has_value(); }));
  EXPECT_EQ(Text(path), Trim(text));
  ::close(fd);
}

TEST_F(WatchTest, WatchLimitFallsBackToRescans) {
  options_.max_watches = 1;  // the root only
  options_.rescan = 200ms;
  Start();
  fs::create_directories(docs() / "unwatched");
  Write("unwatched/late.txt", "Lynx tracks in fresh snow.\n");
  ASSERT_TRUE(Eventually([&] { return Id(docs() / "unwatched/late.txt").has_value(); }));
  // A file written later in the folder without a watch: only a rescan can find it.
  Write("unwatched/later.txt", "Lynx kittens stay with their mother.\n");
  ASSERT_TRUE(Eventually([&] { return Id(docs() / "unwatched/later.txt").has_value(); }));
  std::lock_guard<std::mutex> lock(mutex_);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], HasSubstr("cannot watch more folders"));
}

TEST_F(WatchTest, StopWhileIdleReturnsOk) {
  Start();
  EXPECT_TRUE(Stop().ok());  // within the bound, or Stop() fails the test
  EXPECT_EQ(Syncs().size(), 1u);
}

// IngestRequest::defer, which the watch uses for files still being written: the file is left
// alone (not read, its document kept as it was) until a sync without it.
TEST_F(WatchTest, DeferredFileKeepsItsDocumentUntilASyncWithoutDefer) {
  const fs::path path = Write("a.txt", "Axolotls regrow their limbs.\n");
  RequestContext ctx;
  IngestRequest request;
  request.paths = {docs()};
  ASSERT_TRUE(engine_->Ingest(request, ctx).ok());
  const auto id = Id(path);
  ASSERT_TRUE(id.has_value());
  Write("a.txt", "Axolotls are half-wri");
  request.defer = {path};
  auto deferred = engine_->Ingest(request, ctx);
  ASSERT_TRUE(deferred.ok()) << deferred.status().ToString();
  EXPECT_EQ(deferred->files, 0u);
  EXPECT_EQ(deferred->documents_replaced, 0u);
  EXPECT_EQ(deferred->documents_deleted, 0u);
  EXPECT_EQ(Text(path), "Axolotls regrow their limbs.");
  request.defer.clear();
  auto synced = engine_->Ingest(request, ctx);
  ASSERT_TRUE(synced.ok());
  EXPECT_EQ(synced->documents_replaced, 1u);
  EXPECT_EQ(Text(path), "Axolotls are half-wri");
  EXPECT_EQ(Id(path), id);
}

TEST_F(WatchTest, RefusesWhatIsNotAFolder) {
  const fs::path file = Write("file.txt", "Not a folder.\n");
  options_.folders = {file};
  RequestContext ctx;
  Status status = Watch(*engine_, options_, ctx);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not a folder"));
}

}  // namespace
}  // namespace sieve
