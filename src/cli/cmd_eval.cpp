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
#include "cli/engine_cli.h"
#include "cli/progress.h"
#include "eval/engine_run.h"
#include "eval/eval.h"
#include "retrieval/model_loading.h"

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
  std::vector<std::string> modes{"lexical",        "dense",        "hybrid",
                                 "lexical+rerank", "dense+rerank", "hybrid+rerank"};
  bool modes_given = false;                 // --modes was on the command line
  std::optional<std::string> embed_model;   // unset: the index's, else the default
  std::optional<std::string> rerank_model;  // unset: the default (rows skipped when offline)
  std::size_t rerank_depth = 100;
  std::optional<std::size_t> max_tokens;
  std::optional<std::size_t> overlap;
};

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

struct Row {
  std::string name;
  Mode mode = Mode::kLexical;
  bool rerank = false;
};

int RunEval(const EvalCommand& cmd, const GlobalOptions& global) {
  std::vector<Row> wanted;
  bool needs_dense = false;
  bool needs_rerank = false;
  for (const auto& name : cmd.modes) {
    const bool rerank = name.ends_with("+rerank");
    auto mode = ParseMode(rerank ? name.substr(0, name.size() - 7) : name);
    if (!mode.ok()) {
      return ReportError(Status::InvalidArgument(
          "--modes " + name + ": unknown mode (lexical, dense, hybrid, each optionally +rerank)"));
    }
    wanted.push_back({name, *mode, rerank});
    needs_dense = needs_dense || *mode != Mode::kLexical;
    needs_rerank = needs_rerank || rerank;
  }
  if (cmd.modes_given && !needs_dense && cmd.embed_model) {
    return ReportError(Status::InvalidArgument(
        "--embed-model conflicts with --modes lexical (no row uses an embedding model)"));
  }
  if (cmd.modes_given && !needs_rerank && cmd.rerank_model) {
    return ReportError(Status::InvalidArgument(
        "--rerank-model conflicts with --modes without +rerank (no row reranks)"));
  }
  auto queries = eval::LoadQueries(cmd.queries);
  if (!queries.ok()) return ReportError(queries.status());
  auto qrels = eval::LoadQrels(cmd.qrels);
  if (!qrels.ok()) return ReportError(qrels.status());

  ConfigFlags flags;
  if (cmd.max_tokens) flags.Set("chunk.max_tokens", std::to_string(*cmd.max_tokens));
  if (cmd.overlap) flags.Set("chunk.overlap_tokens", std::to_string(*cmd.overlap));
  if (cmd.embed_model) flags.Set("models.embed", *cmd.embed_model);
  if (cmd.rerank_model) flags.Set("models.rerank", *cmd.rerank_model);
  auto config = LoadCommandConfig(global, flags.overrides);
  if (!config.ok()) return ReportError(config.status());
  // Without a named index (--index, SIEVE_INDEX, index.dir) the corpus goes into a temporary
  // index that is removed afterwards.
  const bool index_named = config->index.dir.has_value();
  std::optional<TemporaryDirectory> temporary;
  if (!index_named) {
    auto created = TemporaryDirectory::Create();
    if (!created.ok()) return ReportError(created.status());
    temporary.emplace(std::move(*created));
    config->index.dir = temporary->path().string();
  }
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());

  RequestContext ctx;
  auto ingest_start = std::chrono::steady_clock::now();
  IngestRequest ingest;
  ingest.paths = {cmd.corpus};
  ingest.embed = false;
  auto ingested = (*engine)->Ingest(ingest, ctx);
  if (!ingested.ok()) return ReportError(ingested.status());
  if (!ingested->skipped.empty()) {
    return ReportError(Status::InvalidInput(ingested->skipped.front().reason));
  }
  double ingest_seconds = SecondsSince(ingest_start);
  auto stats = (*engine)->Stats(ctx);
  if (!stats.ok()) return ReportError(stats.status());

  // Models: named ones must load; missing defaults skip the rows that need them.
  auto models = (*engine)->LoadModels(needs_dense, needs_rerank, ctx);
  if (!models.ok()) return ReportError(models.status());
  std::vector<std::string> missing_defaults;
  if (needs_dense && !models->embed.available) missing_defaults.push_back(models->embed.spec);
  if (needs_rerank && !models->rerank.available) missing_defaults.push_back(models->rerank.spec);
  if (needs_dense && models->embed.available) {
    IngestRequest sync;  // no paths: embed the chunks
    IngestProgressBar bar;
    sync.progress = std::ref(bar);
    auto synced = (*engine)->Ingest(sync, ctx);
    bar.Clear();
    if (!synced.ok()) return ReportError(synced.status());
  }
  std::vector<std::string> skipped_rows;
  std::vector<Row> rows_to_run;
  for (const auto& row : wanted) {
    if ((row.mode != Mode::kLexical && !models->embed.available) ||
        (row.rerank && !models->rerank.available)) {
      skipped_rows.push_back(row.name);
    } else {
      rows_to_run.push_back(row);
    }
  }
  if (!missing_defaults.empty()) {
    std::string skipped_list;
    for (const auto& name : skipped_rows) skipped_list += (skipped_list.empty() ? "" : ", ") + name;
    std::cerr << "sieve: note: "
              << retrieval::MissingModelsNote(missing_defaults, "skipping the rows " + skipped_list)
              << "\n";
  }
  const std::string embed_name = models->embed.available ? models->embed.description : "";
  const std::string rerank_name = models->rerank.available ? models->rerank.spec : "";

  eval::RunOptions run_options;
  run_options.k = cmd.k;
  std::vector<eval::EvalRow> rows;
  for (const auto& row_spec : rows_to_run) {
    SearchRequest base;
    base.mode = row_spec.mode;
    base.rerank = row_spec.rerank;
    base.rerank_depth = cmd.rerank_depth;
    auto start = std::chrono::steady_clock::now();
    ProgressBar progress(queries->size(), row_spec.name + " queries");
    run_options.on_query = [&progress](std::size_t done, std::size_t) { progress.Update(done); };
    auto run = eval::RunEngine(**engine, base, *queries, run_options);
    progress.Clear();
    if (!run.ok()) return ReportError(run.status().WithContext(row_spec.name));
    eval::EvalRow row;
    row.name = row_spec.name;
    row.seconds = SecondsSince(start);
    row.queries_run = queries->size();
    row.evaluation = eval::Evaluate(*qrels, *run);
    if (!cmd.run_path.empty()) {
      Status written =
          eval::WriteTrecRun(RunPathFor(cmd.run_path, row_spec.name, rows_to_run.size() > 1), *run,
                             "sieve-" + row_spec.name);
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
                {"embed_model", embed_name.empty() ? json(nullptr) : json(embed_name)},
                {"rerank_model", rerank_name.empty() ? json(nullptr) : json(rerank_name)},
                {"skipped_rows", skipped_rows},
                {"documents", stats->documents},
                {"chunks", stats->chunks},
                {"ingest_seconds", ingest_seconds},
                {"queries", queries->size()},
                {"k", cmd.k},
                {"rows", out_rows}};
    if (index_named) out["index"] = *config->index.dir;
    std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "corpus: %zu documents, %zu chunks (ingest %.2f s); %zu queries, %zu judged; "
                "run depth %zu\n",
                stats->documents, stats->chunks, ingest_seconds, queries->size(),
                rows.empty() ? std::size_t{0} : rows.front().evaluation.queries, cmd.k);
  std::cout << line;
  if (!embed_name.empty()) std::cout << "embedding model: " << embed_name << "\n";
  if (!rerank_name.empty()) {
    std::cout << "rerank model: " << rerank_name << " (top " << cmd.rerank_depth
              << " candidates reranked)\n";
  }
  std::cout << eval::FormatTable(rows);
  for (const auto& name : skipped_rows) std::cout << name << ": skipped (model not available)\n";
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
      "definitions). The corpus is ingested into the index directory when one is named (--index, "
      "SIEVE_INDEX or index.dir in sieve.toml), else into a temporary index that is removed "
      "afterwards.");
  sub->add_option("--corpus", cmd->corpus, "BEIR corpus.jsonl")->required();
  sub->add_option("--queries", cmd->queries, "BEIR queries.jsonl")->required();
  sub->add_option("--qrels", cmd->qrels, "BEIR qrels TSV (e.g. qrels/test.tsv)")->required();
  sub->add_option("-k,--k", cmd->k, "Documents per query in the run")
      ->capture_default_str()
      ->check(PositiveCount());
  sub->add_option("--run", cmd->run_path, "Write the TREC run file here");
  auto* modes =
      sub->add_option("--modes,--mode", cmd->modes,
                      "Rows to compare: lexical, dense, hybrid, each optionally +rerank (comma "
                      "separated; default all six)")
          ->delimiter(',')
          ->capture_default_str();
  sub->add_option("--embed-model", cmd->embed_model,
                  "Bi-encoder: folder or Hub id (default: the index's, else "
                  "BAAI/bge-small-en-v1.5)");
  sub->add_option("--rerank-model", cmd->rerank_model,
                  "Cross-encoder: folder or Hub id (default "
                  "cross-encoder/ms-marco-MiniLM-L-6-v2)");
  sub->add_option("--rerank-depth", cmd->rerank_depth,
                  "Candidates per query the cross-encoder reorders (the rest follow)")
      ->capture_default_str()
      ->check(PositiveCount());
  sub->add_option("--max-tokens", cmd->max_tokens,
                  "Token budget per chunk (default: chunk.max_tokens, else 256)")
      ->check(PositiveCount());
  sub->add_option("--overlap", cmd->overlap,
                  "Tokens shared by neighbouring chunks (default: chunk.overlap_tokens, else 32)")
      ->check(NonNegativeCount());
  sub->callback([cmd, modes, &global, &action] {
    cmd->modes_given = modes->count() > 0;
    action = [cmd, &global] { return RunEval(*cmd, global); };
  });
}

}  // namespace sieve::cli
