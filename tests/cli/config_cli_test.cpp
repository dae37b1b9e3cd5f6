// End-to-end tests, run as a child process, of what every command shares: the configuration
// (sieve.toml, SIEVE_* and flags, in that order of strength), usage errors for bad counts,
// conflicting flags and unknown commands, and missing model folders.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "../store/fake_qdrant_server.h"
#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace sieve::cli::testing_support;

const fs::path kMiniBeir = fs::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "store" / "mini_beir";

class ConfigCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "empty-hf-cache");
    Write("docs/wings.md",
          "# Wings\n\nSwept wings delay the drag rise at transonic speeds. Thin wings flutter "
          "less when their stiffness is high and their mass is low.\n\n## Flutter\n\nFlutter is "
          "a dynamic aeroelastic instability of lifting surfaces; it grows with speed until the "
          "structure fails, so designers keep the flutter speed well above the flight envelope.\n");
    Write("docs/heat.txt",
          "Heat conduction in composite slabs was solved analytically. The temperature of each "
          "layer follows from the boundary conditions and the conductivity of the layers.\n");
  }

  // build/sieve in the temporary folder with no SIEVE_* settings but `env`, no user config
  // file, and an empty Hugging Face cache. No --index unless the test passes one.
  Outcome Sieve(const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env = {}) {
    const SieveEnv base{
        .cwd = dir_,
        .unset = {"SIEVE_INDEX", "SIEVE_EMBED_MODEL", "SIEVE_RERANK_MODEL", "SIEVE_MODE", "SIEVE_K",
                  "SIEVE_LLM_URL", "SIEVE_LLM_PRESET", "SIEVE_CHUNK_MAX_TOKENS",
                  "SIEVE_CHUNK_OVERLAP", "SIEVE_MAX_FILE_MB", "HF_HOME"},
        .set = {{"HF_HUB_OFFLINE", "1"},
                {"XDG_CONFIG_HOME", (dir_ / "no-config").string()},
                {"HF_HUB_CACHE", (dir_ / "empty-hf-cache").string()}}};
    return RunSieve(base, args, dir_ / "out", dir_ / "err", {env.begin(), env.end()});
  }

  json Json(const Outcome& run) { return ParseJson(run); }

  void Write(const std::string& name, const std::string& text) { WriteFile(dir_ / name, text); }

  // Exit code 1 and a message on stderr that names `flag`.
  void ExpectUsageError(const std::vector<std::string>& args, const std::string& flag) {
    Outcome run = Sieve(args);
    std::string joined;
    for (const auto& arg : args) joined += arg + " ";
    EXPECT_EQ(run.exit_code, 1) << joined << "\n" << run.err;
    EXPECT_THAT(run.err, HasSubstr(flag)) << joined;
  }

  TempDir temp_{"sieve-config-cli"};
  const fs::path dir_ = temp_.path();
};

TEST_F(ConfigCliTest, NegativeOrZeroCountsAreUsageErrorsNamingTheFlag) {
  const std::string q = "wings";
  const std::vector<std::vector<std::string>> cases = {
      {"search", q, "--k", "-1"},
      {"search", q, "--k", "0"},
      {"search", q, "-k", "-3"},
      {"ask", q, "--k", "-5"},
      {"ask", q, "--k", "0"},
      {"ask", q, "--top-n", "0"},
      {"ask", q, "--top-n", "-2"},
      {"ask", q, "--rrf-k", "0"},
      {"ingest", "docs", "--max-tokens", "0"},
      {"ingest", "docs", "--max-tokens", "-8"},
      {"ingest", "docs", "--overlap", "-1"},
      {"ingest", "docs", "--max-file-mb", "0"},
      {"ingest", "docs", "--max-file-mb", "-1"},
      {"eval", "--corpus", "c", "--queries", "q", "--qrels", "r", "--k", "0"},
      {"eval", "--corpus", "c", "--queries", "q", "--qrels", "r", "--rerank-depth", "-1"},
      {"eval", "--corpus", "c", "--queries", "q", "--qrels", "r", "--max-tokens", "0"},
      {"eval", "--corpus", "c", "--queries", "q", "--qrels", "r", "--overlap", "-4"},
      {"embed", "--model", "m", "--batch-size", "0", "text"},
      {"embed", "--model", "m", "--batch-size", "-1", "text"},
      {"embed", "--model", "m", "--max-length", "-1", "text"},
      {"rerank", "--model", "m", "--batch-size", "0", "query", "doc"},
      {"rerank", "--model", "m", "--max-length", "-7", "query", "doc"},
      {"tokenize", "--model", "m", "--max-length", "-1", "text"},
      {"models", "pull", "org/name", "--retries", "-1"},
  };
  for (const auto& args : cases) {
    std::string flag;
    for (const auto& arg : args) {
      if (arg.starts_with("-") && !std::isdigit(static_cast<unsigned char>(arg[1]))) flag = arg;
    }
    ExpectUsageError(args, flag);
  }
  Outcome k = Sieve({"search", q, "--k", "-1"});
  EXPECT_THAT(k.err, HasSubstr("--k: must be 1 or more, got -1"));
  Outcome overlap = Sieve({"ingest", "docs", "--overlap", "-1"});
  EXPECT_THAT(overlap.err, HasSubstr("--overlap: must be 0 or more, got -1"));
  Outcome text = Sieve({"ask", q, "--top-n", "five"});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_THAT(text.err, HasSubstr("--top-n: expected a whole number, got 'five'"));
  EXPECT_FALSE(fs::exists(dir_ / ".sieve"));  // nothing ran
  // Zero is fine where it means "the default": the command goes on to the missing model.
  Outcome zero = Sieve({"tokenize", "--model", "./nope", "--max-length", "0", "t"});
  EXPECT_THAT(zero.err, HasSubstr("model folder ./nope does not exist"));
}

TEST_F(ConfigCliTest, UnknownCommandSuggestsTheClosestOne) {
  Outcome typo = Sieve({"serach", "foo"});
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_THAT(typo.err, HasSubstr("unknown command 'serach' (did you mean 'search'?)"));
  EXPECT_THAT(typo.err, Not(HasSubstr("A subcommand is required")));

  Outcome after_globals = Sieve({"--index", "idx", "--json", "injest", "docs"});
  EXPECT_EQ(after_globals.exit_code, 1);
  EXPECT_THAT(after_globals.err, HasSubstr("unknown command 'injest' (did you mean 'ingest'?)"));

  Outcome far = Sieve({"frobnicate"});
  EXPECT_EQ(far.exit_code, 1);
  EXPECT_THAT(far.err, HasSubstr("unknown command 'frobnicate'"));
  EXPECT_THAT(far.err, Not(HasSubstr("did you mean")));

  // No command at all is still CLI11's message; a known command with bad arguments is not
  // called unknown.
  EXPECT_THAT(Sieve({}).err, HasSubstr("subcommand"));
  Outcome missing_arg = Sieve({"search"});
  EXPECT_EQ(missing_arg.exit_code, 1);
  EXPECT_THAT(missing_arg.err, Not(HasSubstr("unknown command")));
}

TEST_F(ConfigCliTest, ConflictingFlagsAreReportedAsSuch) {
  Outcome lexical = Sieve({"ask", "q", "--mode", "lexical", "--embed-model", "X/y"});
  EXPECT_EQ(lexical.exit_code, 1);
  EXPECT_THAT(lexical.err, HasSubstr("--embed-model conflicts with --mode lexical"));

  Outcome rerank = Sieve({"ask", "q", "--no-rerank", "--rerank-model", "Y/z"});
  EXPECT_EQ(rerank.exit_code, 1);
  EXPECT_THAT(rerank.err, HasSubstr("--rerank-model conflicts with --no-rerank"));

  const std::vector<std::string> eval = {"eval",
                                         "--corpus",
                                         (kMiniBeir / "corpus.jsonl").string(),
                                         "--queries",
                                         (kMiniBeir / "queries.jsonl").string(),
                                         "--qrels",
                                         (kMiniBeir / "qrels" / "test.tsv").string()};
  std::vector<std::string> args = eval;
  args.insert(args.end(), {"--modes", "lexical", "--embed-model", "X/y"});
  Outcome eval_embed = Sieve(args);
  EXPECT_EQ(eval_embed.exit_code, 1);
  EXPECT_THAT(eval_embed.err, HasSubstr("--embed-model conflicts with --modes lexical"));
  args = eval;
  args.insert(args.end(), {"--modes", "lexical,dense", "--rerank-model", "Y/z"});
  Outcome eval_rerank = Sieve(args);
  EXPECT_EQ(eval_rerank.exit_code, 1);
  EXPECT_THAT(eval_rerank.err, HasSubstr("--rerank-model conflicts with --modes without +rerank"));
}

TEST_F(ConfigCliTest, AMissingModelFolderIsAnErrorNamingIt) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"embed", "--model", "./x", "text"},
        std::vector<std::string>{"rerank", "--model", "./x", "query", "doc"},
        std::vector<std::string>{"tokenize", "--model", "./x", "text"}}) {
    Outcome run = Sieve(args);
    EXPECT_EQ(run.exit_code, 2) << args[0];
    EXPECT_THAT(run.err, HasSubstr("model folder ./x does not exist")) << args[0];
    EXPECT_THAT(run.err, Not(HasSubstr("models pull"))) << args[0];
  }
  // Named for ingest: refused before anything is embedded, never a "default model" note.
  Outcome ingest = Sieve({"ingest", "docs", "--embed-model", "./nope"});
  EXPECT_EQ(ingest.exit_code, 2);
  EXPECT_THAT(ingest.err, HasSubstr("model folder ./nope does not exist"));
  EXPECT_THAT(ingest.err, Not(HasSubstr("models pull")));

  ASSERT_EQ(Sieve({"ingest", "docs"}).exit_code, 0);
  const std::string missing = (dir_ / "missing").string();
  Outcome ask = Sieve({"ask", "what is flutter", "--mode", "lexical", "--rerank-model", missing});
  EXPECT_EQ(ask.exit_code, 2);
  EXPECT_THAT(ask.err, HasSubstr("model folder " + missing + " does not exist"));
  EXPECT_THAT(ask.err, Not(HasSubstr("models pull")));
  // The same from sieve.toml.
  Write("sieve.toml", "[models]\nembed = \"./nope\"\n");
  Outcome from_file = Sieve({"ask", "what is flutter", "--no-rerank"});
  EXPECT_EQ(from_file.exit_code, 2);
  EXPECT_THAT(from_file.err, HasSubstr("model folder ./nope does not exist"));
  EXPECT_THAT(from_file.err, Not(HasSubstr("models pull")));
}

TEST_F(ConfigCliTest, AModelFolderRecordedWithTheIndexThatIsGoneIsAnError) {
  fs::copy(kModels / "tiny-bge", dir_ / "my-model", fs::copy_options::recursive);
  ASSERT_EQ(Sieve({"ingest", "docs", "--embed-model", "./my-model"}).exit_code, 0);
  fs::remove_all(dir_ / "my-model");
  Outcome ask = Sieve({"ask", "what is flutter", "--no-rerank"});
  EXPECT_EQ(ask.exit_code, 2) << ask.out;
  EXPECT_THAT(ask.err, HasSubstr("my-model does not exist"));
  EXPECT_THAT(ask.err, Not(HasSubstr("models pull")));
}

TEST_F(ConfigCliTest, IndexDirComesFromFlagThenEnvironmentThenFileForEveryIndexCommand) {
  Write("sieve.toml", "[index]\ndir = \"from-toml\"\n");
  ASSERT_EQ(Sieve({"ingest", "docs"}).exit_code, 0);
  EXPECT_TRUE(fs::exists(dir_ / "from-toml"));
  EXPECT_FALSE(fs::exists(dir_ / ".sieve"));
  Outcome search = Sieve({"search", "flutter", "--json"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  EXPECT_FALSE(Json(search)["hits"].empty());
  Outcome stats = Sieve({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_EQ(Json(stats)["index"], "from-toml");
  Outcome ask = Sieve({"ask", "what is flutter", "--json"});
  ASSERT_EQ(ask.exit_code, 0) << ask.err;

  // SIEVE_INDEX beats the file; --index beats both.
  ASSERT_EQ(Sieve({"ingest", "docs/heat.txt"}, {{"SIEVE_INDEX", "from-env"}}).exit_code, 0);
  EXPECT_TRUE(fs::exists(dir_ / "from-env"));
  Outcome env_stats = Sieve({"stats", "--json"}, {{"SIEVE_INDEX", "from-env"}});
  EXPECT_EQ(Json(env_stats)["documents"], 1);
  Outcome flag_stats =
      Sieve({"--index", "from-toml", "stats", "--json"}, {{"SIEVE_INDEX", "from-env"}});
  EXPECT_EQ(Json(flag_stats)["documents"], 2);
  // A global flag may also follow the command.
  EXPECT_EQ(Json(Sieve({"stats", "--json", "--index", "from-env"}))["documents"], 1);

  Outcome removed = Sieve({"delete", "docs/heat.txt"}, {{"SIEVE_INDEX", "from-env"}});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(Json(Sieve({"stats", "--json"}, {{"SIEVE_INDEX", "from-env"}}))["documents"], 0);

  // --config names another file.
  Write("other.toml", "[index]\ndir = \"from-env\"\n");
  EXPECT_EQ(Json(Sieve({"--config", "other.toml", "stats", "--json"}))["index"], "from-env");
  EXPECT_EQ(Json(Sieve({"stats", "--json", "--config", "other.toml"}))["index"], "from-env");
}

TEST_F(ConfigCliTest, ChunkAndIngestSettingsComeFromTheConfiguration) {
  auto chunks = [this](const std::map<std::string, std::string>& env,
                       const std::vector<std::string>& flags) {
    std::vector<std::string> args = {"--index", "idx", "ingest", "docs", "--json"};
    args.insert(args.end(), flags.begin(), flags.end());
    Outcome run = Sieve(args, env);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    fs::remove_all(dir_ / "idx");
    return Json(run)["chunks"].get<int>();
  };
  const int by_default = chunks({}, {});
  Write("sieve.toml", "[chunk]\nmax_tokens = 16\noverlap_tokens = 0\n");
  const int from_file = chunks({}, {});
  EXPECT_GT(from_file, by_default);
  const int from_env = chunks({{"SIEVE_CHUNK_MAX_TOKENS", "8"}}, {});
  EXPECT_GT(from_env, from_file);
  const int from_flag = chunks({{"SIEVE_CHUNK_MAX_TOKENS", "8"}}, {"--max-tokens", "16"});
  EXPECT_EQ(from_flag, from_file);

  // The overlap is checked against the chunk size whichever layer set them.
  Outcome overlap = Sieve({"ingest", "docs"}, {{"SIEVE_CHUNK_OVERLAP", "16"}});
  EXPECT_EQ(overlap.exit_code, 1);
  EXPECT_THAT(overlap.err, HasSubstr("chunk.overlap_tokens (16) must be smaller"));

  // ingest.max_file_mb: every file is too big.
  Write("sieve.toml", "[ingest]\nmax_file_mb = 0.00001\n");
  Outcome small = Sieve({"ingest", "docs", "--json"});
  EXPECT_EQ(small.exit_code, 2);
  EXPECT_EQ(Json(small)["files"], 0);
  Outcome flag_wins =
      Sieve({"ingest", "docs", "--json", "--max-file-mb", "1"}, {{"SIEVE_MAX_FILE_MB", "0.00001"}});
  EXPECT_EQ(flag_wins.exit_code, 0) << flag_wins.err;
  EXPECT_EQ(Json(flag_wins)["files"], 2);
}

TEST_F(ConfigCliTest, ABadConfigurationStopsEveryCommandNamingFileLineAndKey) {
  Write("sieve.toml", "[index]\ndir = \".sieve\"\nbogus = 1\n");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"ingest", "docs"}, std::vector<std::string>{"search", "x"},
        std::vector<std::string>{"stats"}, std::vector<std::string>{"delete", "x"},
        std::vector<std::string>{"ask", "x"},
        std::vector<std::string>{"reembed", "--embed-model", "X/y"}}) {
    Outcome run = Sieve(args);
    EXPECT_EQ(run.exit_code, 1) << args[0] << ": " << run.err;
    EXPECT_THAT(run.err, HasSubstr("sieve.toml:3: unknown key \"index.bogus\"")) << args[0];
  }
  Outcome env = Sieve({"stats"}, {{"SIEVE_K", "lots"}});
  EXPECT_EQ(env.exit_code, 1);
}

TEST_F(ConfigCliTest, EvalKeepsItsIndexWhereTheConfigurationNamesIt) {
  Write("sieve.toml", "[index]\ndir = \"eval-idx\"\n[chunk]\nmax_tokens = 64\n");
  Outcome run =
      Sieve({"eval", "--corpus", (kMiniBeir / "corpus.jsonl").string(), "--queries",
             (kMiniBeir / "queries.jsonl").string(), "--qrels",
             (kMiniBeir / "qrels" / "test.tsv").string(), "--modes", "lexical", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Json(run)["index"], "eval-idx");
  EXPECT_TRUE(fs::exists(dir_ / "eval-idx"));
}

}  // namespace

namespace {

// --store selects the vector store for every command: the vectors go to (and come from) the
// Qdrant collection, with the API key from SIEVE_QDRANT_API_KEY.
TEST_F(ConfigCliTest, StoreFlagPutsTheVectorsInQdrant) {
  sieve::store::testing::FakeQdrantServer qdrant;
  qdrant.RequireApiKey("k3y");
  const std::string uri = qdrant.Uri("cli");
  const std::string embed = (kModels / "tiny-bge").string();
  const std::map<std::string, std::string> key = {{"SIEVE_QDRANT_API_KEY", "k3y"}};
  Outcome ingest = Sieve({"--store", uri, "ingest", "docs", "--embed-model", embed}, key);
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  auto collection = qdrant.collection("cli");
  ASSERT_TRUE(collection.has_value());
  EXPECT_FALSE(collection->points.empty());
  EXPECT_FALSE(fs::exists(dir_ / ".sieve" / "vectors.faiss"));  // not in the index folder
  Outcome ask =
      Sieve({"--store", uri, "--json", "ask", "flutter speed", "--mode", "dense", "--embed-model",
             embed, "--rerank-model", (kModels / "tiny-ms-marco").string()},
            key);
  ASSERT_EQ(ask.exit_code, 0) << ask.err;
  json answer = Json(ask);
  ASSERT_FALSE(answer["passages"].empty()) << ask.out;
  EXPECT_EQ(answer["retrieval"]["mode"], "dense");
  EXPECT_TRUE(qdrant.violations().empty());
  // Without the key: a clear error, not a crash.
  Outcome refused =
      Sieve({"--store", uri, "ask", "flutter", "--mode", "dense", "--embed-model", embed});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.err, HasSubstr("HTTP 401"));
  // An unknown scheme is a usage error naming the key.
  Outcome bad = Sieve({"--store", "redis://x/y", "stats"});
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_THAT(bad.err, HasSubstr("index.store"));
}

}  // namespace
