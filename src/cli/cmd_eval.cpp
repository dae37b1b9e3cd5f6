// `sieve eval`: ingest a BEIR collection, run every query through each retrieval mode, score the
// runs with trec_eval's definitions and print one row per mode.
#include <stdlib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "cli/command.h"
#include "cli/progress.h"
#include "eval/eval.h"
#include "retrieval/lexical_retriever.h"
#include "store/document_store.h"
#include "store/ingest.h"

namespace sieve::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct EvalCommand {
  std::string corpus;
  std::string queries;
  std::string qrels;
  std::size_t k = 100;
  std::string run_path;
  std::vector<std::string> modes{"lexical"};
  std::size_t max_tokens = 256;
  std::size_t overlap = 32;
  bool index_given = false;  // --index (or SIEVE_INDEX) was set: keep the index there
};

// A retrieval mode that eval can compare: its name and how to build it over an index.
struct Mode {
  std::string name;
  std::function<Result<std::unique_ptr<retrieval::Retriever>>(store::DocumentStore&)> make;
};

// The modes eval knows. A new retriever becomes a new row by adding it here.
std::vector<Mode> KnownModes() {
  return {
      {"lexical",
       [](store::DocumentStore& index) -> Result<std::unique_ptr<retrieval::Retriever>> {
         return std::unique_ptr<retrieval::Retriever>(
             std::make_unique<retrieval::LexicalRetriever>(index));
       }},
  };
}

// A fresh directory under $TMPDIR, removed with everything in it when this goes away.
class TemporaryDirectory {
 public:
  static Result<TemporaryDirectory> Create() {
    std::error_code ec;
    fs::path base = fs::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string pattern = (base / "sieve-eval-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Status::IoError(pattern + ": cannot create a temporary index directory");
    }
    return TemporaryDirectory(pattern);
  }
  TemporaryDirectory(TemporaryDirectory&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  TemporaryDirectory& operator=(TemporaryDirectory&&) = delete;
  ~TemporaryDirectory() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit TemporaryDirectory(fs::path path) : path_(std::move(path)) {}
  fs::path path_;
};

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// out.trec -> out.dense.trec when several modes each write a run.
fs::path RunPathFor(const fs::path& path, const std::string& mode, bool several) {
  if (!several) return path;
  fs::path out = path;
  out.replace_filename(path.stem().string() + "." + mode + path.extension().string());
  return out;
}

int RunEval(const EvalCommand& cmd, const GlobalOptions& global) {
  if (cmd.k == 0) return ReportError(Status::InvalidArgument("--k must be > 0"));
  if (cmd.max_tokens == 0 || cmd.overlap >= cmd.max_tokens) {
    return ReportError(
        Status::InvalidArgument("--max-tokens must be > 0 and larger than --overlap"));
  }
  std::vector<Mode> modes;
  for (const auto& name : cmd.modes) {
    bool found = false;
    for (auto& mode : KnownModes()) {
      if (mode.name == name) {
        modes.push_back(mode);
        found = true;
      }
    }
    if (!found) return ReportError(Status::InvalidArgument("--mode " + name + ": unknown mode"));
  }
  auto queries = eval::LoadQueries(cmd.queries);
  if (!queries.ok()) return ReportError(queries.status());
  auto qrels = eval::LoadQrels(cmd.qrels);
  if (!qrels.ok()) return ReportError(qrels.status());

  // Without --index the corpus goes into a temporary index that is removed afterwards.
  std::optional<TemporaryDirectory> temporary;
  fs::path index_dir = global.index_dir;
  if (!cmd.index_given) {
    auto created = TemporaryDirectory::Create();
    if (!created.ok()) return ReportError(created.status());
    temporary.emplace(std::move(*created));
    index_dir = temporary->path();
  }
  auto opened = store::DocumentStore::Open(index_dir);
  if (!opened.ok()) return ReportError(opened.status());
  store::DocumentStore& index = **opened;

  auto ingest_start = std::chrono::steady_clock::now();
  store::IngestOptions ingest_options;
  ingest_options.chunking.max_tokens = cmd.max_tokens;
  ingest_options.chunking.overlap_tokens = cmd.overlap;
  ingest_options.max_file_bytes = UINT64_MAX;
  auto ingested = store::IngestFile(index, cmd.corpus, ingest_options);
  if (!ingested.ok()) return ReportError(ingested.status());
  double ingest_seconds = SecondsSince(ingest_start);
  auto stats = index.Stats();
  if (!stats.ok()) return ReportError(stats.status());

  eval::RunOptions run_options;
  run_options.k = cmd.k;
  std::vector<eval::EvalRow> rows;
  for (const auto& mode : modes) {
    auto retriever = mode.make(index);
    if (!retriever.ok()) return ReportError(retriever.status().WithContext(mode.name));
    auto start = std::chrono::steady_clock::now();
    ProgressBar progress(queries->size(), mode.name + " queries");
    run_options.on_query = [&progress](std::size_t done, std::size_t) { progress.Update(done); };
    auto run = eval::RunRetriever(**retriever, index, *queries, run_options);
    progress.Clear();
    if (!run.ok()) return ReportError(run.status().WithContext(mode.name));
    eval::EvalRow row;
    row.name = mode.name;
    row.seconds = SecondsSince(start);
    row.queries_run = queries->size();
    row.evaluation = eval::Evaluate(*qrels, *run);
    if (!cmd.run_path.empty()) {
      Status written = eval::WriteTrecRun(RunPathFor(cmd.run_path, mode.name, modes.size() > 1),
                                          *run, "sieve-" + mode.name);
      if (!written.ok()) return ReportError(written);
    }
    rows.push_back(std::move(row));
  }

  if (global.json) {
    json out_rows = json::array();
    for (const auto& row : rows) {
      const eval::Metrics& m = row.evaluation.mean;
      out_rows.push_back({{"mode", row.name},
                          {"ndcg@10", m.ndcg_at_10},
                          {"mrr@10", m.mrr_at_10},
                          {"recall@100", m.recall_at_100},
                          {"map", m.map},
                          {"queries", row.evaluation.queries},
                          {"missing_from_run", row.evaluation.missing_from_run},
                          {"seconds", row.seconds}});
    }
    json out = {{"corpus", cmd.corpus},
                {"documents", stats->documents},
                {"chunks", stats->chunks},
                {"ingest_seconds", ingest_seconds},
                {"queries", queries->size()},
                {"k", cmd.k},
                {"rows", out_rows}};
    if (cmd.index_given) out["index"] = global.index_dir;
    std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "corpus: %zu documents, %zu chunks (ingest %.2f s); %zu queries, %zu judged; "
                "run depth %zu\n",
                stats->documents, stats->chunks, ingest_seconds, queries->size(),
                rows.empty() ? std::size_t{0} : rows.front().evaluation.queries, cmd.k);
  std::cout << line << eval::FormatTable(rows);
  for (const auto& row : rows) {
    if (row.evaluation.missing_from_run > 0) {
      std::cout << row.name << ": " << row.evaluation.missing_from_run
                << " judged queries had no results (scored 0)\n";
    }
  }
  return kExitOk;
}

}  // namespace

void RegisterEvalCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto cmd = std::make_shared<EvalCommand>();
  auto* sub = app.add_subcommand(
      "eval",
      "Evaluate retrieval on a BEIR collection: nDCG@10, MRR@10, Recall@100, MAP (trec_eval "
      "definitions). The corpus is ingested into --index when given, else into a temporary "
      "index that is removed afterwards.");
  sub->add_option("--corpus", cmd->corpus, "BEIR corpus.jsonl")->required();
  sub->add_option("--queries", cmd->queries, "BEIR queries.jsonl")->required();
  sub->add_option("--qrels", cmd->qrels, "BEIR qrels TSV (e.g. qrels/test.tsv)")->required();
  sub->add_option("-k,--k", cmd->k, "Documents per query in the run")->capture_default_str();
  sub->add_option("--run", cmd->run_path, "Write the TREC run file here");
  sub->add_option("--mode", cmd->modes, "Retrieval modes to compare (lexical)")
      ->capture_default_str();
  sub->add_option("--max-tokens", cmd->max_tokens, "Token budget per chunk")->capture_default_str();
  sub->add_option("--overlap", cmd->overlap, "Tokens shared by neighbouring chunks")
      ->capture_default_str();
  sub->callback([cmd, &app, &global, &action] {
    cmd->index_given = app.get_option("--index")->count() > 0;
    action = [cmd, &global] { return RunEval(*cmd, global); };
  });
}

}  // namespace sieve::cli
