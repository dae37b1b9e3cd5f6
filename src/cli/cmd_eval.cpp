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
  std::string embed_model;   // "" = the index's, else the default (rows skipped when offline)
  std::string rerank_model;  // "" = the default (rows skipped when offline)
  std::size_t rerank_depth = 100;
  std::size_t max_tokens = 256;
  std::size_t overlap = 32;
  std::string config_file;
  bool index_given = false;  // --index was set: keep the index there
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
  if (cmd.k == 0) return ReportError(Status::InvalidArgument("--k must be > 0"));
  if (cmd.max_tokens == 0 || cmd.overlap >= cmd.max_tokens) {
    return ReportError(
        Status::InvalidArgument("--max-tokens must be > 0 and larger than --overlap"));
  }
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
  auto queries = eval::LoadQueries(cmd.queries);
  if (!queries.ok()) return ReportError(queries.status());
  auto qrels = eval::LoadQrels(cmd.qrels);
  if (!qrels.ok()) return ReportError(qrels.status());

  // Without --index the corpus goes into a temporary index that is removed afterwards.
  std::optional<TemporaryDirectory> temporary;
  GlobalOptions row_global = global;
  if (!cmd.index_given) {
    auto created = TemporaryDirectory::Create();
    if (!created.ok()) return ReportError(created.status());
    temporary.emplace(std::move(*created));
    row_global.index_dir = temporary->path().string();
  }
  ConfigFlags flags;
  flags.config_file = cmd.config_file;
  flags.Set("chunk.max_tokens", std::to_string(cmd.max_tokens));
  flags.Set("chunk.overlap_tokens", std::to_string(cmd.overlap));
  if (!cmd.embed_model.empty()) flags.Set("models.embed", cmd.embed_model);
  if (!cmd.rerank_model.empty()) flags.Set("models.rerank", cmd.rerank_model);
  auto config = LoadCommandConfig(row_global, flags);
  if (!config.ok()) return ReportError(config.status());
  auto engine = OpenEngine(*config, row_global);
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
    if (cmd.index_given) out["index"] = config->index.dir;
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
      "definitions). The corpus is ingested into --index when given, else into a temporary "
      "index that is removed afterwards.");
  sub->add_option("--corpus", cmd->corpus, "BEIR corpus.jsonl")->required();
  sub->add_option("--queries", cmd->queries, "BEIR queries.jsonl")->required();
  sub->add_option("--qrels", cmd->qrels, "BEIR qrels TSV (e.g. qrels/test.tsv)")->required();
  sub->add_option("-k,--k", cmd->k, "Documents per query in the run")->capture_default_str();
  sub->add_option("--run", cmd->run_path, "Write the TREC run file here");
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
      ->capture_default_str();
  sub->add_option("--max-tokens", cmd->max_tokens, "Token budget per chunk")->capture_default_str();
  sub->add_option("--overlap", cmd->overlap, "Tokens shared by neighbouring chunks")
      ->capture_default_str();
  sub->add_option("--config", cmd->config_file, "Configuration file (default: ./sieve.toml)");
  sub->callback([cmd, &app, &global, &action] {
    cmd->index_given =
        app.get_option("--index")->count() > 0 || std::getenv("SIEVE_INDEX") != nullptr;
    action = [cmd, &global] { return RunEval(*cmd, global); };
  });
}

}  // namespace sieve::cli
