// End-to-end tests of `sieve ask`, run as a child process: the offline fallback (default models
// absent), every retrieval mode with the fixture models on a Cranfield sample, model refusals
// and the repair of the vectors after deletes and corruption.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;
using namespace sieve::cli::testing_support;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kQuestion =
    "what similarity laws must be obeyed when constructing aeroelastic models of heated high "
    "speed aircraft";

std::size_t Count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class AskCliTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(dir_ / "empty-hf-cache"); }

  // build/sieve in the temporary folder, with an empty Hugging Face cache (the default models
  // are never there), no SIEVE_* settings and no sieve.toml.
  Outcome Sieve(const std::vector<std::string>& args) {
    const SieveEnv env{.cwd = dir_,
                       .unset = {"SIEVE_INDEX", "SIEVE_EMBED_MODEL", "SIEVE_RERANK_MODEL",
                                 "SIEVE_MODE", "SIEVE_LLM_URL", "SIEVE_LLM_PRESET", "HF_HOME"},
                       .set = {{"HF_HUB_OFFLINE", "1"},
                               {"XDG_CONFIG_HOME", (dir_ / "no-config").string()},
                               {"HF_HUB_CACHE", (dir_ / "empty-hf-cache").string()}},
                       .index = index_};
    return RunSieve(env, args, dir_ / "out", dir_ / "err");
  }

  json Json(const Outcome& run) { return ParseJson(run); }

  // The first `n` Cranfield documents as a BEIR corpus file.
  fs::path CranfieldSample(std::size_t n) { return WriteCranfieldSample(dir_, n); }

  // Ingests 150 Cranfield documents; with `embed_model`, their chunks are embedded too.
  void IngestCranfieldSample(const std::string& embed_model = "") {
    std::vector<std::string> args = {"ingest", CranfieldSample(150).string()};
    if (!embed_model.empty()) {
      args.push_back("--embed-model");
      args.push_back(embed_model);
    }
    Outcome ingest = Sieve(args);
    ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  }

  std::string Model(const std::string& name) { return (kModels / name).string(); }

  TempDir temp_{"sieve-ask-test"};
  const fs::path dir_ = temp_.path();
  const fs::path index_ = dir_ / "idx";
};

TEST_F(AskCliTest, OfflineAnswersLexicallyAndExtractivelySayingSoOnce) {
  ASSERT_EQ(Sieve({"ingest", (fs::path(SIEVE_SOURCE_DIR) / "samples").string()}).exit_code, 0);
  Outcome ask = Sieve({"ask", "Why does a cross-encoder only rerank a few candidates?"});
  ASSERT_EQ(ask.exit_code, 0) << ask.err;
  EXPECT_THAT(ask.out, HasSubstr("Extractive answer (no LLM): "));
  EXPECT_THAT(ask.out, HasSubstr("[1]"));
  EXPECT_THAT(ask.out, HasSubstr("Sources:\n[1] "));
  EXPECT_THAT(ask.out, HasSubstr("cross-encoders.html"));
  EXPECT_THAT(ask.out, HasSubstr("bm25 "));
  EXPECT_THAT(ask.out, Not(HasSubstr("cosine")));
  // One message names both missing defaults and the commands that fetch them.
  EXPECT_EQ(Count(ask.err, "not in the Hugging Face cache"), 1u) << ask.err;
  EXPECT_EQ(Count(ask.err, "sieve models pull BAAI/bge-small-en-v1.5"), 1u) << ask.err;
  EXPECT_EQ(Count(ask.err, "sieve models pull cross-encoder/ms-marco-MiniLM-L-6-v2"), 1u);
  EXPECT_THAT(ask.err, HasSubstr("lexical retrieval only"));
  EXPECT_FALSE(fs::exists(index_ / "vectors.faiss"));

  Outcome json_ask = Sieve({"ask", "What does BM25 penalise?", "--json"});
  ASSERT_EQ(json_ask.exit_code, 0) << json_ask.err;
  EXPECT_EQ(Count(json_ask.err, "sieve models pull BAAI/bge-small-en-v1.5"), 1u);
  json out = Json(json_ask);
  EXPECT_EQ(out["retrieval"]["mode"], "lexical");
  EXPECT_EQ(out["retrieval"]["rerank"], false);
  EXPECT_TRUE(out["retrieval"]["embed_model"].is_null());
  EXPECT_EQ(out["extractive"], true);
  EXPECT_EQ(out["model"], "extractive (lexical)");
  ASSERT_FALSE(out["citations"].empty());
  const json& cited = out["citations"][0];
  EXPECT_TRUE(cited.contains("path") && cited.contains("section") && cited.contains("page"));
  EXPECT_LT(cited["begin"].get<std::size_t>(), cited["end"].get<std::size_t>());
  EXPECT_TRUE(cited["scores"].contains("bm25"));
  EXPECT_THAT(out["answer"].get<std::string>(),
              HasSubstr("[" + std::to_string(cited["number"].get<int>()) + "]"));
}

TEST_F(AskCliTest, TheMissingEmbeddingModelNoteComesOncePerCommandWithSomethingToEmbed) {
  // The Hugging Face cache is empty (HF_HUB_CACHE, HF_HOME unset, offline): the default
  // embedding model is truly missing.
  const std::string note = "sieve models pull BAAI/bge-small-en-v1.5";
  Outcome first = Sieve({"ingest", (fs::path(SIEVE_SOURCE_DIR) / "samples").string()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(Count(first.err, note), 1u) << first.err;
  // Nothing new to embed: no note.
  Outcome again = Sieve({"ingest", (fs::path(SIEVE_SOURCE_DIR) / "samples").string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Count(again.err, note), 0u) << again.err;
  // Lexical search embeds nothing: no note.
  Outcome search = Sieve({"search", "bm25", "--mode", "lexical"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  EXPECT_EQ(Count(search.err, note), 0u) << search.err;
  // A question to embed (hybrid by default): once.
  Outcome ask = Sieve({"ask", "What does BM25 penalise?", "--no-rerank"});
  ASSERT_EQ(ask.exit_code, 0) << ask.err;
  EXPECT_EQ(Count(ask.err, note), 1u) << ask.err;
}

TEST_F(AskCliTest, CitationsOfTextFilesNameTheirLinesInTheFileWithCrlfToo) {
  // 90 one-sentence lines (blank lines every 10): several chunks. Line 57 holds the answer.
  std::vector<std::string> lines;
  for (int i = 1; i <= 90; ++i) {
    if (i == 57) {
      lines.push_back("The numbat eats termites with its long sticky tongue every single day.");
    } else if (i % 10 == 0) {
      lines.push_back("");
    } else {
      lines.push_back("Filler sentence number " + std::to_string(i) +
                      " talks about weather, rivers and old mountain roads.");
    }
  }
  std::string lf;
  std::string crlf;
  for (const auto& line : lines) {
    lf += line + "\n";
    crlf += line + "\r\n";
  }
  fs::create_directories(dir_ / "notes");
  std::ofstream(dir_ / "notes" / "animals.txt", std::ios::binary) << lf;
  std::ofstream(dir_ / "notes" / "animals-dos", std::ios::binary) << crlf;
  ASSERT_EQ(Sieve({"ingest", (dir_ / "notes").string()}).exit_code, 0);

  for (const std::string name : {"animals.txt", "animals-dos"}) {
    SCOPED_TRACE(name);
    Outcome search = Sieve({"search", "numbat termites", "--json", "--mode", "lexical",
                            "--path-prefix", (dir_ / "notes" / name).string()});
    ASSERT_EQ(search.exit_code, 0) << search.err;
    json out = Json(search);
    ASSERT_FALSE(out["hits"].empty());
    const json& hit = out["hits"][0];
    ASSERT_TRUE(hit.contains("line") && hit.contains("line_end")) << hit.dump();
    const auto first = hit["line"].get<std::size_t>();
    const auto last = hit["line_end"].get<std::size_t>();
    EXPECT_LE(first, 57u);
    EXPECT_GE(last, 57u);
    EXPECT_LT(first, last);
    // The chunk starts with the file's line `line` and ends with its line `line_end`.
    const std::string text = hit["text"].get<std::string>();
    EXPECT_TRUE(text.starts_with(lines[first - 1])) << first << ": " << text;
    EXPECT_TRUE(text.ends_with(lines[last - 1])) << last << ": " << text;

    Outcome plain = Sieve({"search", "numbat termites", "--mode", "lexical", "--path-prefix",
                           (dir_ / "notes" / name).string()});
    EXPECT_THAT(plain.out,
                HasSubstr(name + ":" + std::to_string(first) + "-" + std::to_string(last)));
  }
  Outcome ask = Sieve({"ask", "What does the numbat eat?", "--no-rerank"});
  ASSERT_EQ(ask.exit_code, 0) << ask.err;
  EXPECT_THAT(ask.out, HasSubstr("termites"));
  EXPECT_THAT(ask.out, ::testing::ContainsRegex(
                           "\n\\[1\\] [^\n]*/notes/animals(\\.txt|-dos):[0-9]+-[0-9]+"));
}

TEST_F(AskCliTest, ManPageCitationsNameLinesOfTheRoffSource) {
  fs::create_directories(dir_ / "man" / "man1");
  std::ofstream(dir_ / "man" / "man1" / "frob.1", std::ios::binary)
      << ".TH FROB 1\n"                                          // 1
      << ".SH NAME\n"                                            // 2
      << "frob \\- frobnicate files\n"                           // 3
      << ".SH DESCRIPTION\n"                                     // 4
      << ".B frob\n"                                             // 5
      << "turns every widget into a gadget.\n"                   // 6
      << ".SH OPTIONS\n"                                         // 7
      << ".TP\n"                                                 // 8
      << ".B \\-q\n"                                             // 9
      << "Quiet: print nothing about the quokka population.\n";  // 10
  ASSERT_EQ(Sieve({"ingest", (dir_ / "man").string()}).exit_code, 0);
  Outcome search = Sieve({"search", "quokka", "--json", "--mode", "lexical"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  json out = Json(search);
  ASSERT_FALSE(out["hits"].empty());
  EXPECT_EQ(out["hits"][0]["type"], "man");
  EXPECT_EQ(out["hits"][0]["section"], "OPTIONS");
  EXPECT_EQ(out["hits"][0]["line"], 7);  // the section's heading
  EXPECT_EQ(out["hits"][0]["line_end"], 10);
}

TEST_F(AskCliTest, ExtractiveCitationNumbersHaveNoGapsAndMapToTheirPassages) {
  ASSERT_EQ(Sieve({"ingest", (fs::path(SIEVE_SOURCE_DIR) / "samples").string()}).exit_code, 0);
  for (const std::string question :
       {"What does BM25 penalise?", "Why does a cross-encoder only rerank a few candidates?",
        "How are chunks made from documents?"}) {
    SCOPED_TRACE(question);
    Outcome ask = Sieve({"ask", question, "--json", "--top-n", "8"});
    ASSERT_EQ(ask.exit_code, 0) << ask.err;
    json out = Json(ask);
    ASSERT_EQ(out["extractive"], true);
    const std::string answer = out["answer"].get<std::string>();
    const json& passages = out["passages"];
    std::size_t cited_passages = 0;
    for (const json& p : passages) cited_passages += p.contains("cited_as") ? 1 : 0;
    EXPECT_EQ(cited_passages, out["citations"].size());
    for (std::size_t i = 0; i < out["citations"].size(); ++i) {
      const json& c = out["citations"][i];
      // [1], [2], ... in the order the answer first uses them.
      EXPECT_EQ(c["number"].get<std::size_t>(), i + 1);
      EXPECT_THAT(answer, HasSubstr("[" + std::to_string(i + 1) + "]"));
      const auto n = c["passage_number"].get<std::size_t>();
      ASSERT_GE(n, 1u);
      ASSERT_LE(n, passages.size());
      const json& p = passages[n - 1];
      EXPECT_EQ(p["number"], n);
      EXPECT_EQ(p["chunk_id"], c["chunk_id"]);
      EXPECT_EQ(p["path"], c["path"]);
      EXPECT_EQ(p["cited_as"], c["number"]);
    }
    EXPECT_THAT(answer, Not(HasSubstr("[" + std::to_string(out["citations"].size() + 1) + "]")));
  }
}

TEST_F(AskCliTest, ModelsTheUserNamedMustLoad) {
  ASSERT_EQ(Sieve({"ingest", (fs::path(SIEVE_SOURCE_DIR) / "samples").string()}).exit_code, 0);
  Outcome embed = Sieve({"ask", "what is bm25", "--embed-model", "BAAI/not-cached-model"});
  EXPECT_EQ(embed.exit_code, 2);
  EXPECT_THAT(embed.err, HasSubstr("sieve models pull BAAI/not-cached-model"));
  EXPECT_THAT(embed.out, Not(HasSubstr("Extractive")));

  Outcome rerank = Sieve({"ask", "what is bm25", "--mode", "lexical", "--rerank-model",
                          (dir_ / "no-such-folder").string()});
  EXPECT_NE(rerank.exit_code, 0);
  EXPECT_THAT(rerank.err, HasSubstr("no-such-folder"));

  // Dense retrieval asked for by name cannot silently become lexical.
  Outcome dense = Sieve({"ask", "what is bm25", "--mode", "dense", "--no-rerank"});
  EXPECT_EQ(dense.exit_code, 2);
  EXPECT_THAT(dense.err, HasSubstr("dense retrieval needs an embedding model"));

  Outcome empty = Sieve({"ask", "  "});
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_THAT(empty.err, HasSubstr("empty question"));
}

TEST_F(AskCliTest, NoIndexIsAClearError) {
  Outcome ask = Sieve({"ask", "anything"});
  EXPECT_EQ(ask.exit_code, 2);
  EXPECT_THAT(ask.err, HasSubstr("sieve ingest"));
}

TEST_F(AskCliTest, EveryModeWithAndWithoutRerankOnCranfield) {
  IngestCranfieldSample(Model("tiny-bge"));
  const std::string bge = Model("tiny-bge");
  const std::string marco = Model("tiny-ms-marco");
  for (const std::string mode : {"lexical", "dense", "hybrid"}) {
    for (const bool rerank : {false, true}) {
      SCOPED_TRACE(mode + (rerank ? " + rerank" : ""));
      std::vector<std::string> args = {"ask", kQuestion, "--mode",  mode, "--json",
                                       "--k", "20",      "--top-n", "4"};
      // Each model flag only where it is used: the others conflict with the mode.
      if (mode != "lexical") args.insert(args.end(), {"--embed-model", bge});
      if (rerank) {
        args.insert(args.end(), {"--rerank-model", marco});
      } else {
        args.push_back("--no-rerank");
      }
      Outcome ask = Sieve(args);
      ASSERT_EQ(ask.exit_code, 0) << ask.err;
      EXPECT_THAT(ask.err, Not(HasSubstr("not in the Hugging Face cache")));
      json out = Json(ask);
      EXPECT_EQ(out["retrieval"]["mode"], mode);
      EXPECT_EQ(out["retrieval"]["rerank"], rerank);
      EXPECT_EQ(out["retrieval"]["k"], 20);
      const json& passages = out["passages"];
      ASSERT_EQ(passages.size(), 4u);
      double previous_rerank = 2;
      for (const json& p : passages) {
        const json& s = p["scores"];
        if (mode == "lexical") {
          EXPECT_TRUE(s.contains("bm25"));
          EXPECT_FALSE(s.contains("cosine"));
        }
        if (mode == "dense") {
          ASSERT_TRUE(s.contains("cosine"));
          EXPECT_GE(s["cosine"].get<double>(), -1.0001);
          EXPECT_LE(s["cosine"].get<double>(), 1.0001);
          EXPECT_GE(s["dense_rank"].get<int>(), 1);
          EXPECT_FALSE(s.contains("bm25"));
        }
        if (mode == "hybrid") {
          ASSERT_TRUE(s.contains("fused"));
          EXPECT_TRUE(s.contains("bm25") || s.contains("cosine"));
          EXPECT_GT(s["fused"].get<double>(), 0);
          EXPECT_LE(s["fused"].get<double>(), 2.0 / 61 + 1e-12);
        }
        EXPECT_EQ(s.contains("rerank"), rerank);
        if (rerank) {
          const double r = s["rerank"].get<double>();
          EXPECT_GE(r, 0);
          EXPECT_LE(r, 1);
          EXPECT_LE(r, previous_rerank);  // best first
          previous_rerank = r;
        }
        EXPECT_FALSE(p["key"].get<std::string>().empty());  // the Cranfield document id
      }
      for (std::size_t i = 0; i < out["citations"].size(); ++i) {
        // Extractive: [1]..[m] without gaps; passage_number finds the cited passage.
        const json& c = out["citations"][i];
        EXPECT_EQ(c["number"].get<std::size_t>(), i + 1);
        const auto n = c["passage_number"].get<std::size_t>();
        ASSERT_GE(n, 1u);
        ASSERT_LE(n, passages.size());
        EXPECT_EQ(c["chunk_id"], passages[n - 1]["chunk_id"]);
      }
    }
  }
  // The vectors were made once, for every chunk, and record the model.
  json manifest = json::parse(Slurp(index_ / "vectors.json"));
  Outcome stats = Sieve({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0);
  EXPECT_EQ(manifest["count"], Json(stats)["chunks"]);
  EXPECT_EQ(manifest["model"]["id"], fs::weakly_canonical(bge).string());
  EXPECT_EQ(manifest["model"]["pooling"], "cls");

  // Text output: numbered sources with each stage's scores.
  Outcome text = Sieve({"ask", kQuestion, "--rerank-model", marco});  // the index's model is reused
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("Sources:\n["));
  EXPECT_THAT(text.out, HasSubstr("rerank 0."));
  EXPECT_THAT(text.out, HasSubstr("fused 0."));
  EXPECT_THAT(text.out, HasSubstr("hybrid + rerank"));
  EXPECT_THAT(text.out, HasSubstr("tiny-bge"));
}

TEST_F(AskCliTest, AnotherEmbeddingModelIsRefusedWithHowToReembed) {
  IngestCranfieldSample(Model("tiny-bge"));
  Outcome first = Sieve(
      {"ask", kQuestion, "--mode", "dense", "--no-rerank", "--embed-model", Model("tiny-bge")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  Outcome other = Sieve(
      {"ask", kQuestion, "--mode", "dense", "--no-rerank", "--embed-model", Model("tiny-minilm")});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_THAT(other.err, HasSubstr("reembed --embed-model"));
  EXPECT_THAT(other.err, HasSubstr("tiny-bge"));

  // The command the message names moves the index to the other model.
  Outcome reembed = Sieve({"reembed", "--embed-model", Model("tiny-minilm")});
  ASSERT_EQ(reembed.exit_code, 0) << reembed.err;
  EXPECT_THAT(reembed.out, HasSubstr("re-embedded"));
  json manifest = json::parse(Slurp(index_ / "vectors.json"));
  EXPECT_EQ(manifest["model"]["id"], fs::weakly_canonical(Model("tiny-minilm")).string());
  EXPECT_EQ(manifest["count"], Json(Sieve({"stats", "--json"}))["chunks"]);
  Outcome now = Sieve(
      {"ask", kQuestion, "--mode", "dense", "--no-rerank", "--embed-model", Model("tiny-minilm")});
  EXPECT_EQ(now.exit_code, 0) << now.err;
  // A model that cannot be loaded leaves the old vectors alone.
  Outcome bad = Sieve({"reembed", "--embed-model", (dir_ / "missing-model").string()});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(fs::exists(index_ / "vectors.json"));
}

TEST_F(AskCliTest, ReadsNeverWriteAndTheNextWriteRepairsVectors) {
  IngestCranfieldSample(Model("tiny-bge"));
  const std::string sample = (dir_ / "cranfield" / "corpus.jsonl").string();
  const std::vector<std::string> dense = {"ask",           kQuestion,        "--mode",
                                          "dense",         "--no-rerank",    "--json",
                                          "--embed-model", Model("tiny-bge")};
  ASSERT_EQ(Sieve(dense).exit_code, 0);
  auto chunk_count = [&] { return Json(Sieve({"stats", "--json"}))["chunks"].get<int>(); };
  auto vector_count = [&] { return json::parse(Slurp(index_ / "vectors.json"))["count"]; };
  const int before = chunk_count();
  EXPECT_EQ(vector_count(), before);

  // `delete` removes the vectors of the deleted chunks too.
  ASSERT_EQ(Sieve({"delete", "4"}).exit_code, 0);
  EXPECT_EQ(vector_count(), chunk_count());
  const int before_crash = chunk_count();
  // A delete killed after its SQLite commit, before the vectors were saved: stale vectors.
  fs::copy_file(index_ / "vectors.faiss", dir_ / "saved.faiss");
  fs::copy_file(index_ / "vectors.json", dir_ / "saved.json");
  ASSERT_EQ(Sieve({"delete", "1", "2", "3"}).exit_code, 0);
  fs::copy_file(dir_ / "saved.faiss", index_ / "vectors.faiss",
                fs::copy_options::overwrite_existing);
  fs::copy_file(dir_ / "saved.json", index_ / "vectors.json", fs::copy_options::overwrite_existing);
  const auto stale_mtime = fs::last_write_time(index_ / "vectors.json");
  const int after = chunk_count();
  ASSERT_LT(after, before_crash);
  // A read serves without the deleted documents and writes nothing.
  Outcome read = Sieve(dense);
  ASSERT_EQ(read.exit_code, 0) << read.err;
  for (const json& p : Json(read)["passages"]) {
    EXPECT_NE(p["key"], "1");
    EXPECT_NE(p["key"], "2");
  }
  EXPECT_EQ(vector_count(), before_crash);
  EXPECT_EQ(fs::last_write_time(index_ / "vectors.json"), stale_mtime);
  // The next write brings the vectors in line with the store (re-ingesting the sample also
  // brings back documents 1-3, under new chunk ids).
  Outcome repaired = Sieve({"ingest", sample, "--json"});
  ASSERT_EQ(repaired.exit_code, 0) << repaired.err;
  EXPECT_EQ(Json(repaired)["vectors_removed"], before_crash - after);
  EXPECT_EQ(vector_count(), chunk_count());
  const int now = chunk_count();

  // A corrupt vectors file is not served (and not rewritten by a read); the next write rebuilds
  // it.
  std::ofstream(index_ / "vectors.faiss", std::ios::trunc) << "garbage";
  Outcome damaged = Sieve(dense);
  ASSERT_EQ(damaged.exit_code, 0) << damaged.err;
  EXPECT_THAT(damaged.err, HasSubstr("vector index"));
  EXPECT_TRUE(Json(damaged)["passages"].empty());
  EXPECT_EQ(Slurp(index_ / "vectors.faiss"), "garbage");
  Outcome rebuilt = Sieve({"ingest", sample, "--json"});
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.err;
  EXPECT_EQ(Json(rebuilt)["embedded"], now);
  EXPECT_EQ(vector_count(), now);
}

TEST_F(AskCliTest, FiltersRestrictThePassages) {
  ASSERT_EQ(Sieve({"ingest", (fs::path(SIEVE_SOURCE_DIR) / "samples").string(), "--embed-model",
                   Model("tiny-bge")})
                .exit_code,
            0);
  Outcome ask = Sieve({"ask", "how are scores combined", "--json", "--embed-model",
                       Model("tiny-bge"), "--no-rerank", "--type", "markdown"});
  ASSERT_EQ(ask.exit_code, 0) << ask.err;
  json out = Json(ask);
  ASSERT_FALSE(out["passages"].empty());
  for (const json& p : out["passages"]) {
    EXPECT_THAT(p["path"].get<std::string>(), HasSubstr(".md"));
  }
  Outcome prefix = Sieve({"ask", "how are scores combined", "--json", "--embed-model",
                          Model("tiny-bge"), "--no-rerank", "--path-prefix",
                          (fs::path(SIEVE_SOURCE_DIR) / "samples" / "cross").string()});
  ASSERT_EQ(prefix.exit_code, 0) << prefix.err;
  for (const json& p : Json(prefix)["passages"]) {
    EXPECT_THAT(p["path"].get<std::string>(), HasSubstr("cross-encoders.html"));
  }
}

}  // namespace
