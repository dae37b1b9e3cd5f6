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
#include "retrieval/dense_index.h"
#include "retrieval/lexical_retriever.h"
#include "retrieval/model_loading.h"
#include "retrieval/pipeline.h"
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
  std::vector<std::string> modes{"lexical",        "dense",        "hybrid",
                                 "lexical+rerank", "dense+rerank", "hybrid+rerank"};
  std::string embed_model;   // "" = the index's, else the default (rows skipped when offline)
  std::string rerank_model;  // "" = the default (rows skipped when offline)
  std::size_t rerank_depth = 100;
  std::size_t max_tokens = 256;
  std::size_t overlap = 32;
  bool index_given = false;  // --index (or SIEVE_INDEX) was set: keep the index there
};

// The models a row may need; null when not available.
struct EvalModels {
  store::VectorIndex* vectors = nullptr;
  models::Embedder* embedder = nullptr;
  models::CrossEncoder* cross_encoder = nullptr;
};

// "hybrid+rerank" -> the retriever for that row, or why it cannot run.
Result<std::unique_ptr<retrieval::Retriever>> MakeRow(const std::string& name,
                                                      store::DocumentStore& index,
                                                      const EvalModels& models,
                                                      std::size_t rerank_depth) {
  const bool rerank = name.ends_with("+rerank");
  SIEVE_ASSIGN_OR_RETURN(auto mode,
                         retrieval::ParseMode(rerank ? name.substr(0, name.size() - 7) : name));
  if (mode == retrieval::Mode::kLexical && !rerank) {
    return std::unique_ptr<retrieval::Retriever>(
        std::make_unique<retrieval::LexicalRetriever>(index));
  }
  retrieval::PipelineOptions options;
  options.mode = mode;
  options.rerank = rerank;
  options.rerank_depth = rerank_depth;
  SIEVE_ASSIGN_OR_RETURN(auto pipeline,
                         retrieval::Pipeline::Create(index, models.vectors, models.embedder,
                                                     models.cross_encoder, options));
  return std::unique_ptr<retrieval::Retriever>(
      std::make_unique<retrieval::PipelineRetriever>(std::move(pipeline)));
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
  bool needs_dense = false;
  bool needs_rerank = false;
  for (const auto& name : cmd.modes) {
    const bool rerank = name.ends_with("+rerank");
    auto mode = retrieval::ParseMode(rerank ? name.substr(0, name.size() - 7) : name);
    if (!mode.ok()) {
      return ReportError(Status::InvalidArgument(
          "--modes " + name + ": unknown mode (lexical, dense, hybrid, each optionally +rerank)"));
    }
    needs_dense = needs_dense || *mode != retrieval::Mode::kLexical;
    needs_rerank = needs_rerank || rerank;
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

  // Models: named ones must load; missing defaults skip the rows that need them.
  std::vector<std::string> missing_defaults;
  EvalModels models;
  retrieval::DenseIndex dense;
  std::string embed_name;
  std::string rerank_name;
  if (needs_dense) {
    retrieval::DenseIndexOptions dense_options;
    dense_options.embed_model = cmd.embed_model;
    dense_options.load.verbose = global.verbose;
    dense_options.load.logger = global.logger;
    std::unique_ptr<ProgressBar> bar;
    dense_options.sync.progress = [&bar](std::size_t done, std::size_t total) {
      if (!bar) bar = std::make_unique<ProgressBar>(total, "chunks embedded");
      bar->Update(done);
    };
    auto opened_dense = retrieval::OpenDenseIndex(index, index_dir, dense_options);
    bar.reset();
    if (!opened_dense.ok()) return ReportError(opened_dense.status());
    dense = std::move(opened_dense).value();
    if (dense.available()) {
      models.vectors = dense.vectors.get();
      models.embedder = dense.embedder.model.get();
      embed_name = store::DescribeModel(dense.embedder.identity);
    } else {
      missing_defaults.push_back(dense.model_spec);
    }
  }
  retrieval::LoadedCrossEncoder cross_encoder;
  if (needs_rerank) {
    const std::string spec =
        cmd.rerank_model.empty() ? std::string(retrieval::kDefaultRerankModel) : cmd.rerank_model;
    auto loaded = retrieval::LoadCrossEncoderModel({spec, !cmd.rerank_model.empty()},
                                                   {32, 0, global.verbose, global.logger});
    if (!loaded.ok()) return ReportError(loaded.status());
    cross_encoder = std::move(loaded).value();
    if (cross_encoder.model) {
      models.cross_encoder = cross_encoder.model.get();
      rerank_name = spec;
    } else {
      missing_defaults.push_back(spec);
    }
  }
  std::vector<std::string> skipped_rows;
  std::vector<std::string> names;
  for (const auto& name : cmd.modes) {
    const bool rerank = name.ends_with("+rerank");
    const bool dense_row = !name.starts_with("lexical");
    if ((dense_row && !models.embedder) || (rerank && !models.cross_encoder)) {
      skipped_rows.push_back(name);
    } else {
      names.push_back(name);
    }
  }
  if (!missing_defaults.empty()) {
    std::string skipped_list;
    for (const auto& name : skipped_rows) skipped_list += (skipped_list.empty() ? "" : ", ") + name;
    std::cerr << "sieve: note: "
              << retrieval::MissingModelsNote(missing_defaults, "skipping the rows " + skipped_list)
              << "\n";
  }

  eval::RunOptions run_options;
  run_options.k = cmd.k;
  std::vector<eval::EvalRow> rows;
  for (const auto& name : names) {
    auto retriever = MakeRow(name, index, models, cmd.rerank_depth);
    if (!retriever.ok()) return ReportError(retriever.status().WithContext(name));
    auto start = std::chrono::steady_clock::now();
    ProgressBar progress(queries->size(), name + " queries");
    run_options.on_query = [&progress](std::size_t done, std::size_t) { progress.Update(done); };
    auto run = eval::RunRetriever(**retriever, index, *queries, run_options);
    progress.Clear();
    if (!run.ok()) return ReportError(run.status().WithContext(name));
    eval::EvalRow row;
    row.name = name;
    row.seconds = SecondsSince(start);
    row.queries_run = queries->size();
    row.evaluation = eval::Evaluate(*qrels, *run);
    if (!cmd.run_path.empty()) {
      Status written = eval::WriteTrecRun(RunPathFor(cmd.run_path, name, names.size() > 1), *run,
                                          "sieve-" + name);
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
  sub->callback([cmd, &app, &global, &action] {
    cmd->index_given = app.get_option("--index")->count() > 0;
    action = [cmd, &global] { return RunEval(*cmd, global); };
  });
}

}  // namespace sieve::cli
