// `sieve embed` / `sieve rerank` on the fixtures, run as a child process (build/sieve).
// Skipped when that build has no binary yet (build the `sieve` target first).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using ::testing::HasSubstr;

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together when `merge_stderr`
};

std::string Quote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

RunResult RunSieve(const std::vector<std::string>& args, bool merge_stderr = false) {
  std::string command = Quote(SIEVE_BINARY);
  for (const auto& arg : args) command += " " + Quote(arg);
  command += merge_stderr ? " 2>&1" : " 2>/dev/null";
  RunResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string Fixture(const std::string& name) {
  return (fs::path(SIEVE_SOURCE_DIR) / "tests/data/models" / name).string();
}

class ModelCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(SIEVE_BINARY)) GTEST_SKIP() << SIEVE_BINARY << " not built";
  }
};

TEST_F(ModelCliTest, EmbedPrintsOneUnitVectorPerTextMatchingReference) {
  std::ifstream in(fs::path(Fixture("tiny-bge")) / "reference.json");
  const Json reference = Json::parse(in);
  const Json& single = reference["cases"][0];
  auto result = RunSieve({"embed", "--model", Fixture("tiny-bge"),
                          single["texts"][0].get<std::string>(), "", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.out;
  const Json out = Json::parse(result.out);
  EXPECT_EQ(out["dimension"], 32);
  ASSERT_EQ(out["embeddings"].size(), 2u);
  for (std::size_t i = 0; i < 32; ++i) {
    EXPECT_NEAR(out["embeddings"][0][i].get<double>(), single["embeddings"][0][i].get<double>(),
                1e-4);
  }
  double norm = 0;
  for (const Json& v : out["embeddings"][1]) norm += v.get<double>() * v.get<double>();
  EXPECT_NEAR(norm, 1.0, 1e-5);  // the empty string embeds too
}

TEST_F(ModelCliTest, EmbedInputFileWritesJsonl) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("sieve_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream(dir / "in.jsonl") << "{\"id\": \"d1\", \"text\": \"supersonic flow\"}\n"
                                    << "plain line of text\n"
                                    << "{\"id\": 7, \"text\": \"\"}\n";
  }
  auto result =
      RunSieve({"embed", "--model", Fixture("tiny-minilm"), "--input", (dir / "in.jsonl").string(),
                "--batch-size", "2", "--output", (dir / "out.jsonl").string()});
  ASSERT_EQ(result.exit_code, 0) << result.out;
  std::ifstream out(dir / "out.jsonl");
  std::string line;
  std::vector<Json> lines;
  while (std::getline(out, line)) lines.push_back(Json::parse(line));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["id"], "d1");
  EXPECT_FALSE(lines[1].contains("id"));
  EXPECT_EQ(lines[2]["id"], 7);
  EXPECT_EQ(lines[2]["index"], 2);
  EXPECT_EQ(lines[1]["embedding"].size(), 32u);

  { std::ofstream(dir / "bad.jsonl") << "ok line\n{\"title\": \"no text\"}\n"; }
  auto bad = RunSieve(
      {"embed", "--model", Fixture("tiny-minilm"), "--input", (dir / "bad.jsonl").string()},
      /*merge_stderr=*/true);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.out, HasSubstr("bad.jsonl:2"));
  fs::remove_all(dir);
}

TEST_F(ModelCliTest, RerankPrintsBestFirstWithScoresAndLogits) {
  std::ifstream in(fs::path(Fixture("tiny-ms-marco")) / "reference.json");
  const Json reference = Json::parse(in);
  const Json& batch = reference["cases"][1];  // padded_batch: one query, four passages
  std::vector<std::string> args = {"rerank", "--model", Fixture("tiny-ms-marco"),
                                   batch["pairs"][0][0].get<std::string>()};
  for (const Json& pair : batch["pairs"]) {
    ASSERT_EQ(pair[0], batch["pairs"][0][0]);
    args.push_back(pair[1].get<std::string>());
  }
  args.push_back("--json");
  auto result = RunSieve(args);
  ASSERT_EQ(result.exit_code, 0) << result.out;
  const Json out = Json::parse(result.out);
  ASSERT_EQ(out["results"].size(), 4u);
  double previous = 2.0;
  for (const Json& r : out["results"]) {
    const std::size_t index = r["index"].get<std::size_t>();
    const double score = r["score"].get<double>();
    EXPECT_LE(score, previous);
    previous = score;
    EXPECT_NEAR(score, batch["scores"][index].get<double>(), 1e-4);
    EXPECT_NEAR(r["logit"].get<double>(), batch["logits"][index][0].get<double>(), 1e-4);
  }
}

TEST_F(ModelCliTest, ErrorsAreReportedWithExitCodes) {
  auto missing = RunSieve({"embed", "--model", "/nonexistent/model/dir", "x"}, true);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.out, HasSubstr("/nonexistent/model/dir"));
  auto wrong_kind = RunSieve({"rerank", "--model", Fixture("tiny-bge"), "q", "d"}, true);
  EXPECT_NE(wrong_kind.exit_code, 0);
  EXPECT_THAT(wrong_kind.out, HasSubstr("no classification head"));
  auto no_texts = RunSieve({"embed", "--model", Fixture("tiny-bge")}, true);
  EXPECT_EQ(no_texts.exit_code, 1);
}

}  // namespace
