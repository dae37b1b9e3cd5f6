// The command line under hostile conditions (issue 8): unreadable folders are reported (exit 2),
// a read-only index serves reads, a reader is not blocked by a long write, `sieve check` finds
// and repairs, an over-long question is cut with a note. Runs build/sieve as a child process;
// as root, the cases about permissions run it as the unprivileged user 65534 (setpriv).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "store/document_store.h"
#include "store/index_lock.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class CliReliabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "sieve-rel-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    fs::permissions(dir_, fs::perms::all, fs::perm_options::add);  // reachable by 65534 too
    index_ = dir_ / "idx";
    docs_ = dir_ / "docs";
    fs::create_directories(docs_);
    for (int i = 0; i < 5; ++i) {
      std::ofstream(docs_ / ("note" + std::to_string(i) + ".txt"))
          << "Note " << i << " about turbine blades and boundary layers.\n";
    }
  }
  void TearDown() override {
    std::error_code ec;
    for (auto& p : fs::recursive_directory_iterator(dir_, ec)) {
      fs::permissions(p.path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(dir_, ec);
  }

  // `unprivileged`: as root, run as user 65534 so that permissions apply.
  Outcome Sieve(const std::vector<std::string>& args, bool unprivileged = false) {
    std::string command =
        "cd " + ShellQuote(dir_.string()) +
        " && env -u SIEVE_INDEX XDG_CONFIG_HOME=" + ShellQuote((dir_ / "no-config").string()) +
        " HOME=" + ShellQuote(dir_.string()) + " ";
    if (unprivileged && ::geteuid() == 0) {
      command += "setpriv --reuid=65534 --regid=65534 --clear-groups ";
    }
    command += ShellQuote(SIEVE_BINARY) + " --index " + ShellQuote(index_.string());
    for (const auto& arg : args) command += " " + ShellQuote(arg);
    command += " >" + ShellQuote((dir_ / "stdout").string()) + " 2>" +
               ShellQuote((dir_ / "stderr").string());
    int status = std::system(command.c_str());
    Outcome outcome;
    outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    outcome.out = ReadAll(dir_ / "stdout");
    outcome.err = ReadAll(dir_ / "stderr");
    return outcome;
  }
  void MakeWorldReadable(const fs::path& root) {
    fs::permissions(root, fs::perms::all, fs::perm_options::add);
    std::error_code ec;  // links (broken ones included) have no permissions of their own
    for (auto& p : fs::recursive_directory_iterator(root)) {
      if (!p.is_symlink()) fs::permissions(p.path(), fs::perms::all, fs::perm_options::add, ec);
    }
  }

  fs::path dir_, index_, docs_;
};

// Issue 8 item 6: an unreadable subfolder stopped the walk silently ("ingested 33 files", exit
// 0). Now it is named, the walk goes on, and the exit code is 2.
TEST_F(CliReliabilityTest, AnUnreadableSubfolderIsReportedAndTheWalkGoesOn) {
  fs::create_directories(docs_ / "a_locked");
  std::ofstream(docs_ / "a_locked" / "secret.txt") << "hidden text";
  fs::create_directories(docs_ / "z_open");
  std::ofstream(docs_ / "z_open" / "after.txt") << "text after the locked folder";
  fs::create_directory_symlink(docs_, docs_ / "loop");  // a symlink loop is not followed
  fs::create_symlink(docs_ / "missing.txt", docs_ / "broken.txt");
  MakeWorldReadable(dir_);
  fs::permissions(docs_ / "a_locked", fs::perms::none);
  fs::create_directories(index_);
  MakeWorldReadable(index_);
  Outcome r = Sieve({"ingest", docs_.string()}, /*unprivileged=*/true);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("a_locked: cannot read folder"));
  EXPECT_THAT(r.err, HasSubstr("broken.txt: broken symbolic link"));
  EXPECT_THAT(r.out, HasSubstr("ingested 6 files"));  // 5 notes + z_open/after.txt
}

// A read-only index (a folder the user cannot write) serves search and stats.
TEST_F(CliReliabilityTest, AReadOnlyIndexServesReads) {
  ASSERT_EQ(Sieve({"ingest", docs_.string()}).exit_code, 0);
  MakeWorldReadable(dir_);
  fs::permissions(index_, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  Outcome stats = Sieve({"stats", "--json"}, /*unprivileged=*/true);
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_EQ(json::parse(stats.out)["documents"], 5);
  Outcome search = Sieve({"search", "turbine blades", "--json"}, /*unprivileged=*/true);
  ASSERT_EQ(search.exit_code, 0) << search.err;
  EXPECT_EQ(json::parse(search.out)["hits"].size(), 5u) << search.out;
}

// "database is locked" during a long ingest transaction: reads open read-only now.
TEST_F(CliReliabilityTest, ReadsAreNotBlockedByALongWriteTransaction) {
  ASSERT_EQ(Sieve({"ingest", docs_.string()}).exit_code, 0);
  auto writer = sieve::store::DocumentStore::Open(index_);
  ASSERT_TRUE(writer.ok());
  auto txn = (*writer)->BeginTransaction();  // holds the write lock for the whole test
  ASSERT_TRUE(txn.ok());
  const auto start = std::chrono::steady_clock::now();
  Outcome stats = Sieve({"stats", "--json"});
  Outcome search = Sieve({"search", "boundary layers", "--json"});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_EQ(search.exit_code, 0) << search.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
}

// Issue 8: temporary files of a killed save are removed on the next open, never while a writer
// (which holds the index's writer lock) may be writing them.
TEST_F(CliReliabilityTest, TemporaryFilesOfAKilledSaveAreRemovedOnTheNextOpen) {
  ASSERT_EQ(Sieve({"ingest", docs_.string()}).exit_code, 0);
  const std::vector<fs::path> stale = {
      index_ / "vectors.faiss.tmp.999999", index_ / "vectors.json.tmp.999999",
      index_ / ("vectors.faiss.tmp." + std::to_string(::getpid()))};
  for (const auto& path : stale) std::ofstream(path) << "half a save";
  {
    // A live writer: its files are kept by a reader's open.
    auto writer = sieve::store::IndexWriteLock::Acquire(index_, std::chrono::milliseconds(0));
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    Outcome stats = Sieve({"stats", "--json"});
    ASSERT_EQ(stats.exit_code, 0) << stats.err;
    for (const auto& path : stale) EXPECT_TRUE(fs::exists(path)) << path;
  }
  // No writer: a reader's open removes them.
  Outcome stats = Sieve({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  for (const auto& path : stale) EXPECT_FALSE(fs::exists(path)) << path;
  // A writer removes them once it holds the lock, before it saves anything.
  for (const auto& path : stale) std::ofstream(path) << "half a save";
  std::ofstream(docs_ / "extra.txt") << "One more note about compressor stalls.";
  ASSERT_EQ(Sieve({"ingest", docs_.string()}).exit_code, 0);
  for (const auto& path : stale) EXPECT_FALSE(fs::exists(path)) << path;
}

TEST_F(CliReliabilityTest, CheckReportsAHealthyIndexAndRepairsStaleVectorsFile) {
  ASSERT_EQ(Sieve({"ingest", docs_.string()}).exit_code, 0);
  Outcome healthy = Sieve({"check", "--json"});
  ASSERT_EQ(healthy.exit_code, 0) << healthy.err;
  EXPECT_TRUE(json::parse(healthy.out)["healthy"].get<bool>());
  // Damage the full-text index behind SQLite's back: drop its rows for one chunk.
  {
    auto db = sieve::store::DocumentStore::Open(index_);
    ASSERT_TRUE(db.ok());
    auto txn = (*db)->BeginTransaction();
    ASSERT_TRUE((*db)->SetMeta("probe", "1").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  std::system(("sqlite3 " + ShellQuote((index_ / "sieve.db").string()) +
               " \"DELETE FROM chunks_fts_docsize WHERE id = 1\" 2>/dev/null")
                  .c_str());
  Outcome found = Sieve({"check"});
  if (found.exit_code == 0) GTEST_SKIP() << "sqlite3 shell not installed";
  EXPECT_EQ(found.exit_code, 2);
  EXPECT_THAT(found.out, HasSubstr("full-text index"));
  Outcome repaired = Sieve({"check", "--repair"});
  EXPECT_EQ(repaired.exit_code, 0) << repaired.out << repaired.err;
  EXPECT_THAT(repaired.out, HasSubstr("rebuilt the full-text index"));
  EXPECT_EQ(Sieve({"check"}).exit_code, 0);
}

// A 35,000-character question took over a minute: it is cut, with a note.
TEST_F(CliReliabilityTest, AnOverlongQueryIsCutWithANote) {
  ASSERT_EQ(Sieve({"ingest", docs_.string()}).exit_code, 0);
  std::string query;
  for (int i = 0; query.size() < 35000; ++i) query += "word" + std::to_string(i) + " ";
  query += "turbine";
  const auto start = std::chrono::steady_clock::now();
  Outcome r = Sieve({"search", query, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("the query was cut to its first"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
