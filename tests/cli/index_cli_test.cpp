// End-to-end tests of `sieve ingest | search | stats | delete | eval`, run as a child process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using namespace sieve::cli::testing_support;

const fs::path kMiniBeir = fs::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "store" / "mini_beir";

class IndexCliTest : public ::testing::Test {
 protected:
  // Runs build/sieve in the temporary directory (stderr is not a terminal: no progress bar).
  Outcome Sieve(const std::vector<std::string>& args, bool with_index = true) {
    const SieveEnv env{.cwd = dir_,
                       .unset = {"SIEVE_INDEX"},
                       .set = {{"XDG_CONFIG_HOME", (dir_ / "no-config").string()}},
                       .index = with_index ? index_ : fs::path()};
    return RunSieve(env, args, dir_ / "stdout", dir_ / "stderr");
  }

  json Json(const Outcome& outcome) { return ParseJson(outcome); }

  void Write(const std::string& name, const std::string& text) { WriteFile(dir_ / name, text); }

  void WriteDocs() {
    Write("docs/wings.md",
          "# Wings\n\nSwept wings delay the drag rise at transonic speeds.\n\n"
          "## Flutter\n\nFlutter is a dynamic aeroelastic instability of lifting surfaces.\n");
    Write("docs/heat.txt", "Heat conduction in composite slabs was solved analytically.\n");
    Write("docs/notes/jet.html",
          "<html><head><title>Jet noise</title><script>var x = 1;</script></head>"
          "<body><p>Jet noise scales with the eighth power of velocity.</p></body></html>");
    // A real PNG header: not a document (a file's content decides, not its name).
    Write("docs/image.png",
          std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + std::string(64, '\x01'));
  }

  TempDir temp_{"sieve-cli-test"};
  const fs::path dir_ = temp_.path();
  const fs::path index_ = dir_ / "idx";
};

TEST_F(IndexCliTest, IngestSearchStatsDeleteRoundTrip) {
  WriteDocs();
  Outcome ingest = Sieve({"ingest", "docs", "--tag", "demo", "--json"});
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  json summary = Json(ingest);
  EXPECT_EQ(summary["files"], 3);
  EXPECT_EQ(summary["documents"], 3);
  EXPECT_EQ(summary["added"], 3);
  EXPECT_GE(summary["chunks"].get<int>(), 3);
  EXPECT_GT(summary["bytes"].get<int>(), 100);
  EXPECT_TRUE(summary.contains("seconds"));
  // Not a document: summarised by reason (a note, not a failure); -v lists the files.
  EXPECT_THAT(ingest.err, HasSubstr("1 file not indexed: binary (image/png)"));
  Outcome verbose = Sieve({"-v", "ingest", "docs"});
  EXPECT_EQ(verbose.exit_code, 0);
  EXPECT_THAT(verbose.err, HasSubstr("image.png: binary (image/png)"));
  EXPECT_TRUE(fs::exists(index_ / "sieve.db"));

  Outcome again = Sieve({"ingest", "docs"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_THAT(again.out, HasSubstr("3 unchanged"));
  EXPECT_THAT(again.out, HasSubstr("documents"));
  EXPECT_THAT(again.out, HasSubstr("chunks"));
  EXPECT_THAT(again.out, HasSubstr("bytes"));

  Outcome search = Sieve({"search", "flutter instability", "--json"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  json hits = Json(search)["hits"];
  ASSERT_GE(hits.size(), 1u);
  EXPECT_THAT(hits[0]["path"].get<std::string>(), HasSubstr("wings.md"));
  EXPECT_EQ(hits[0]["section"], "Flutter");
  EXPECT_EQ(hits[0]["rank"], 1);
  EXPECT_GT(hits[0]["score"].get<double>(), 0);
  EXPECT_THAT(hits[0]["snippet"].get<std::string>(), HasSubstr("lutter"));

  Outcome text = Sieve({"search", "jet noise"});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_THAT(text.out, HasSubstr("jet.html"));
  EXPECT_THAT(text.out, HasSubstr("eighth power"));
  EXPECT_THAT(text.out, ::testing::Not(HasSubstr("var x")));

  Outcome limited = Sieve({"search", "heat jet wings", "--k", "1", "--json"});
  EXPECT_EQ(Json(limited)["hits"].size(), 1u);
  Outcome typed = Sieve({"search", "heat jet wings", "--type", "html", "--json"});
  ASSERT_EQ(Json(typed)["hits"].size(), 1u);
  EXPECT_EQ(Json(typed)["hits"][0]["type"], "html");
  Outcome prefixed = Sieve({"search", "heat jet noise", "--path-prefix", "docs/notes", "--json"});
  ASSERT_EQ(Json(prefixed)["hits"].size(), 1u);
  Outcome tagged = Sieve({"search", "heat", "--tag", "demo", "--json"});
  EXPECT_EQ(Json(tagged)["hits"].size(), 1u);
  Outcome untagged = Sieve({"search", "heat", "--tag", "other", "--json"});
  EXPECT_EQ(Json(untagged)["hits"].size(), 0u);

  Outcome stats = Sieve({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  json s = Json(stats);
  EXPECT_EQ(s["documents"], 3);
  EXPECT_EQ(s["types"]["markdown"], 1);
  EXPECT_EQ(s["tags"]["demo"], 3);

  Outcome removed = Sieve({"delete", "docs/heat.txt", "--json"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(Json(removed)["deleted"], 1);
  EXPECT_EQ(Json(Sieve({"search", "conduction", "--json"}))["hits"].size(), 0u);
  Outcome missing = Sieve({"delete", "docs/heat.txt"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("heat.txt"));
  EXPECT_EQ(Json(Sieve({"stats", "--json"}))["documents"], 2);
}

TEST_F(IndexCliTest, BadFilesAreSkippedWithOneLineEachAndExitCode2) {
  WriteDocs();
  Write("bad/empty.txt", "  \n\n");
  Write("bad/binary.txt",
        std::string("\x00\x01\x02\x03\xff\xfe\x00\x00", 8) + std::string(200, '\x01'));
  Write("bad/big.txt", std::string(2 * 1024 * 1024, 'a'));
  Outcome outcome =
      Sieve({"ingest", "docs", "bad", "missing-folder", "--max-file-mb", "1", "--json"});
  EXPECT_EQ(outcome.exit_code, 2) << outcome.err;
  json summary = Json(outcome);
  EXPECT_EQ(summary["documents"], 3);  // the good files went in
  EXPECT_EQ(summary["skipped"].size(), 4u);
  EXPECT_THAT(outcome.err, HasSubstr("empty.txt"));
  EXPECT_THAT(outcome.err, HasSubstr("binary.txt"));
  EXPECT_THAT(outcome.err, HasSubstr("big.txt"));
  EXPECT_THAT(outcome.err, HasSubstr("missing-folder"));
  // One line per skipped file, each naming it.
  std::istringstream lines(outcome.err);
  int skipped_lines = 0;
  for (std::string line; std::getline(lines, line);)
    skipped_lines += line.find("skipped") != std::string::npos;
  EXPECT_EQ(skipped_lines, 4);
}

TEST_F(IndexCliTest, UsageAndMissingIndexErrors) {
  EXPECT_EQ(Sieve({"search"}).exit_code, 1);
  EXPECT_EQ(Sieve({"ingest"}).exit_code, 1);
  EXPECT_EQ(Sieve({"ingest", "x", "--max-tokens", "10", "--overlap", "20"}).exit_code, 1);
  EXPECT_EQ(Sieve({"search", "x", "--type", "spreadsheet"}).exit_code, 1);
  Outcome no_index = Sieve({"search", "anything"});
  EXPECT_EQ(no_index.exit_code, 2);
  EXPECT_THAT(no_index.err, HasSubstr("no Sieve index"));
  EXPECT_FALSE(fs::exists(index_));  // searching does not create an index
  EXPECT_EQ(Sieve({"stats"}).exit_code, 2);
}

TEST_F(IndexCliTest, EvalScoresABeirCollectionAndWritesARun) {
  Outcome outcome =
      Sieve({"eval", "--corpus", (kMiniBeir / "corpus.jsonl").string(), "--queries",
             (kMiniBeir / "queries.jsonl").string(), "--qrels",
             (kMiniBeir / "qrels" / "test.tsv").string(), "--run", "out.trec", "--json"},
            /*with_index=*/false);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  json result = Json(outcome);
  EXPECT_EQ(result["documents"], 5);
  EXPECT_EQ(result["queries"], 4);
  ASSERT_EQ(result["rows"].size(), 1u);
  EXPECT_EQ(result["rows"][0]["mode"], "lexical");
  EXPECT_DOUBLE_EQ(result["rows"][0]["ndcg@10"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(result["rows"][0]["map"].get<double>(), 1.0);
  EXPECT_FALSE(result.contains("index"));  // a temporary index, already removed
  EXPECT_FALSE(fs::exists(dir_ / ".sieve"));
  std::string run = Slurp(dir_ / "out.trec");
  EXPECT_THAT(run, HasSubstr("1 Q0 d1 1 "));
  EXPECT_THAT(run, HasSubstr("sieve-lexical"));

  Outcome table = Sieve({"eval", "--corpus", (kMiniBeir / "corpus.jsonl").string(), "--queries",
                         (kMiniBeir / "queries.jsonl").string(), "--qrels",
                         (kMiniBeir / "qrels" / "test.tsv").string()});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("nDCG@10"));
  EXPECT_THAT(table.out, HasSubstr("lexical"));
  EXPECT_TRUE(fs::exists(index_ / "sieve.db"));  // --index given: the index is kept

  Outcome bad = Sieve({"eval", "--corpus", (kMiniBeir / "corpus.jsonl").string(), "--queries",
                       (dir_ / "nope.jsonl").string(), "--qrels",
                       (kMiniBeir / "qrels" / "test.tsv").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("nope.jsonl"));
}

}  // namespace
