// `sieve watch` and `sieve serve --watch` as child processes: a file written while they run
// becomes searchable, and SIGTERM stops them with exit code 0.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
using namespace sieve::cli::testing_support;

// Polls until `done` holds, at most a minute (a loaded machine is slow, not wrong).
bool Eventually(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

class WatchCliTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(dir_ / "docs"); }
  // The temporary folder (temp_) is removed after this, when the fixture is destroyed.
  void TearDown() override {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }

  // `cd DIR && env ... SIEVE --index IDX`, to which (quoted) arguments are appended.
  std::string Env() const {
    return SieveCommand(
        {.cwd = dir_,
         .unset = {"SIEVE_INDEX", "SIEVE_LLM_URL", "OTEL_EXPORTER_OTLP_ENDPOINT",
                   "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "PHOENIX_COLLECTOR_ENDPOINT"},
         .set = {{"HF_HUB_OFFLINE", "1"}, {"XDG_CONFIG_HOME", (dir_ / "no-config").string()}},
         .index = dir_ / "idx"},
        {});
  }

  // Starts `sieve <args>` in the background; its exit code lands in dir_/rc.
  void Launch(const std::string& args) {
    const std::string inner = Env() + " " + args + " >" + Quote((dir_ / "out").string()) + " 2>" +
                              Quote((dir_ / "err").string()) + " & echo $! >" +
                              Quote((dir_ / "pid").string()) + "; wait $!; echo $? >" +
                              Quote((dir_ / "rc").string());
    const std::string command = "sh -c " + Quote(inner) + " >/dev/null 2>&1 &";
    ASSERT_EQ(std::system(command.c_str()), 0);
    ASSERT_TRUE(Eventually([&] { return !Slurp(dir_ / "pid").empty(); }));
    pid_ = std::stoi(Slurp(dir_ / "pid"));
  }

  // SIGTERM, then the exit code (-1 when it did not exit in time).
  int Terminate() {
    ::kill(pid_, SIGTERM);
    const bool exited = Eventually([&] { return !Slurp(dir_ / "rc").empty(); });
    if (!exited) return -1;
    pid_ = 0;
    return std::stoi(Slurp(dir_ / "rc"));
  }

  // Paths of `sieve search QUERY` hits (lexical).
  std::vector<std::string> Search(const std::string& query) {
    const std::string command = Env() + " search " + Quote(query) + " --mode lexical --json >" +
                                Quote((dir_ / "search").string()) + " 2>/dev/null";
    std::vector<std::string> paths;
    if (std::system(command.c_str()) != 0) return paths;
    json parsed = json::parse(Slurp(dir_ / "search"), nullptr, false);
    if (parsed.is_discarded() || !parsed.contains("hits")) return paths;
    for (const auto& hit : parsed["hits"]) paths.push_back(hit.value("path", ""));
    return paths;
  }

  void Write(const std::string& name, const std::string& text) { WriteFile(dir_ / name, text); }

  TempDir temp_{"sieve-watch-cli"};
  const fs::path dir_ = temp_.path();
  pid_t pid_ = 0;
};

TEST_F(WatchCliTest, WatchFollowsANewFileAndStopsCleanlyOnSigterm) {
  Write("docs/first.txt", "Walruses haul out on the ice floes.\n");
  Launch("watch docs --quiet-ms 100 --embed-model " + Quote((kModels / "tiny-bge").string()));
  ASSERT_TRUE(Eventually([&] {
    return Slurp(dir_ / "err").find("watch: start:") != std::string::npos;
  })) << Slurp(dir_ / "err");
  EXPECT_THAT(Slurp(dir_ / "err"), HasSubstr("watch: start: 1 new, 0 changed"));
  Write("docs/second.txt", "Narwhals have a single long tusk.\n");
  const std::string expected = (dir_ / "docs" / "second.txt").string();
  ASSERT_TRUE(Eventually([&] {
    auto hits = Search("narwhals tusk");
    return !hits.empty() && hits[0] == expected;
  })) << Slurp(dir_ / "err");
  EXPECT_EQ(Terminate(), 0) << Slurp(dir_ / "err");
  const std::string err = Slurp(dir_ / "err");
  EXPECT_THAT(err, HasSubstr("watch: changes: 1 new"));
  EXPECT_THAT(err, HasSubstr("sieve: stopped"));
}

TEST_F(WatchCliTest, WatchRefusesAFile) {
  Write("docs/first.txt", "Not a folder.\n");
  const std::string command =
      Env() + " watch docs/first.txt >/dev/null 2>" + Quote((dir_ / "err").string());
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_THAT(Slurp(dir_ / "err"), HasSubstr("not a folder"));
}

TEST_F(WatchCliTest, ServeWatchIngestsWhileServing) {
  Write("docs/first.txt", "Puffins nest in burrows on cliffs.\n");
  Launch("serve --host 127.0.0.1 --port 0 --watch docs --embed-model " +
         Quote((kModels / "tiny-bge").string()) + " --rerank-model " +
         Quote((kModels / "tiny-ms-marco").string()));
  const std::string kServing = "serving http://127.0.0.1:";
  int port = 0;
  ASSERT_TRUE(Eventually([&] {
    const std::string text = Slurp(dir_ / "err");
    const auto at = text.find(kServing);
    if (at != std::string::npos) port = std::atoi(text.c_str() + at + kServing.size());
    return port > 0 && text.find("watch: start:") != std::string::npos;
  })) << Slurp(dir_ / "err");
  Write("docs/second.txt", "Gannets plunge into the sea for fish.\n");
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  const std::string expected = (dir_ / "docs" / "second.txt").string();
  ASSERT_TRUE(Eventually([&] {
    auto res =
        client.Post("/v1/query", json{{"query", "gannets plunge"}, {"mode", "lexical"}}.dump(),
                    "application/json");
    if (!res || res->status != 200) return false;
    return res->body.find(expected) != std::string::npos;
  })) << Slurp(dir_ / "err");
  EXPECT_EQ(Terminate(), 0) << Slurp(dir_ / "err");
}

}  // namespace
