// `sieve tokenize` end to end: the real binary of this build (SIEVE_BINARY) as a child process.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

namespace {

struct SieveRun {
  int exit_code = -1;
  std::string out;
};

// Runs `sieve <args>` through the shell, capturing stdout (stderr goes to /dev/null).
SieveRun RunSieve(const std::string& args) {
  SieveRun run;
  const std::string command = std::string(SIEVE_BINARY) + " " + args + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.out.append(buffer.data(), n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

const std::string kBert = std::string(SIEVE_SHARED_DIR) + "/data/tokenizers/bert-base-uncased";

TEST(CliTokenizeTest, JsonSingleAndPair) {
  SieveRun run = RunSieve("tokenize --model " + kBert + " 'Hello, world! [MASK]' --json");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  auto out = nlohmann::json::parse(run.out);
  EXPECT_EQ(out["input_ids"], (std::vector<int>{101, 7592, 1010, 2088, 999, 103, 102}));
  EXPECT_EQ(out["token_type_ids"], std::vector<int>(7, 0));
  EXPECT_EQ(out["attention_mask"], std::vector<int>(7, 1));
  EXPECT_EQ(out["tokens"][1], "hello");

  run = RunSieve("tokenize --model " + kBert +
                 " --pair 'a passage about wings' --max-length 8 'what is lift' --json");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  out = nlohmann::json::parse(run.out);
  EXPECT_EQ(out["input_ids"], (std::vector<int>{101, 2054, 2003, 102, 1037, 6019, 2055, 102}));
  EXPECT_EQ(out["token_type_ids"], (std::vector<int>{0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(out["untruncated_length"], 10);
  EXPECT_EQ(out["truncated"], true);
}

TEST(CliTokenizeTest, PlainOutputAndErrors) {
  SieveRun run = RunSieve("tokenize --model " + kBert + " 'hello world'");
  ASSERT_EQ(run.exit_code, 0);
  EXPECT_NE(run.out.find("input_ids:      101 7592 2088 102"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("tokens:         [CLS] hello world [SEP]"), std::string::npos) << run.out;

  EXPECT_EQ(RunSieve("tokenize --model /nonexistent/folder hello").exit_code, 2);
  EXPECT_EQ(RunSieve("tokenize --model " + kBert).exit_code, 1);  // no text: usage error
}

}  // namespace
