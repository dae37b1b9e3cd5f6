// `sieve eval`: ingest a BEIR collection, run every query through each retrieval mode, score the
// runs with trec_eval's definitions and print one row per mode; with a question set (--questions,
// or --rag for the BEIR queries), answer each question in each mode and score the answers with
// the RAG metrics of eval/rag.h; with --report, write the HTML report of eval/report.h.
#include <stdlib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
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
#include "eval/rag.h"
#include "eval/report.h"
#include "generation/llm_client.h"
#include "generation/options.h"
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
  std::optional<std::string> precision;     // models.precision
  std::size_t rerank_depth = 100;
  std::optional<std::size_t> max_tokens;
  std::optional<std::size_t> overlap;
  std::size_t expand_queries = 3;  // phrasings for rows named "+expand"
  // RAG metrics.
  std::string questions;  // question set JSONL
  bool rag = false;       // the BEIR queries (with their qrels ids) as the question set
  std::size_t rag_limit = 0;
  std::optional<std::string> judge_url;
  std::optional<std::string> judge_model;
  std::size_t judge_concurrency = 4;
  bool no_judge = false;
  std::optional<std::string> judge_embed_url;
  std::string judge_embed_model = "embed";
  std::string report;
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
  bool expand = false;
};

// "hybrid", "dense+rerank", "lexical+expand", "hybrid+rerank+expand".
Result<Row> ParseRow(const std::string& name) {
  Row row;
  row.name = name;
  std::string base = name;
  for (bool changed = true; changed;) {
    changed = false;
    for (const char* suffix : {"+rerank", "+expand"}) {
      if (base.ends_with(suffix)) {
        (std::string_view(suffix) == "+rerank" ? row.rerank : row.expand) = true;
        base.resize(base.size() - std::string_view(suffix).size());
        changed = true;
      }
    }
  }
  auto mode = ParseMode(base);
  if (!mode.ok()) {
    return Status::InvalidArgument("--modes " + name +
                                   ": unknown mode (lexical, dense, hybrid, each optionally "
                                   "+rerank and/or +expand)");
  }
  row.mode = *mode;
  return row;
}

std::string Rounded(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", value);
  return buf;
}

// One line per metric: mean and counts, in a fixed-width table.
std::string FormatRagTable(const std::vector<std::pair<std::string, eval::RagEvaluation>>& rows) {
  if (rows.empty()) return "";
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-30s", "RAG metric");
  out += line;
  for (const auto& [name, e] : rows) {
    std::snprintf(line, sizeof line, " %16s", name.c_str());
    out += line;
  }
  out += "\n";
  for (std::size_t m = 0; m < rows.front().second.metrics.size(); ++m) {
    std::snprintf(line, sizeof line, "%-30s", rows.front().second.metrics[m].name.c_str());
    out += line;
    for (const auto& [name, e] : rows) {
      const eval::RagMetricSummary& s = e.metrics[m];
      std::string cell = !s.skipped.empty() ? "skipped" : s.mean ? Rounded(*s.mean) : "-";
      if (s.skipped.empty()) cell += " (" + std::to_string(s.scored) + ")";
      std::snprintf(line, sizeof line, " %16s", cell.c_str());
      out += line;
    }
    out += "\n";
  }
  return out;
}

int RunEval(const EvalCommand& cmd, const GlobalOptions& global) {
  std::vector<Row> wanted;
  bool needs_dense = false;
  bool needs_rerank = false;
  for (const auto& name : cmd.modes) {
    auto row = ParseRow(name);
    if (!row.ok()) return ReportError(row.status());
    wanted.push_back(*row);
    needs_dense = needs_dense || row->mode != Mode::kLexical;
    needs_rerank = needs_rerank || row->rerank;
  }
  if (cmd.modes_given && !needs_dense && cmd.embed_model) {
    return ReportError(Status::InvalidArgument(
        "--embed-model conflicts with --modes lexical (no row uses an embedding model)"));
  }
  if (cmd.modes_given && !needs_rerank && cmd.rerank_model) {
    return ReportError(Status::InvalidArgument(
        "--rerank-model conflicts with --modes without +rerank (no row reranks)"));
  }
  if (cmd.queries.empty() != cmd.qrels.empty()) {
    return ReportError(Status::InvalidArgument("--queries and --qrels go together"));
  }
  const bool retrieval_table = !cmd.queries.empty();
  if (cmd.rag && !retrieval_table) {
    return ReportError(Status::InvalidArgument("--rag takes its questions from --queries/--qrels"));
  }
  if (!retrieval_table && cmd.questions.empty()) {
    return ReportError(Status::InvalidArgument(
        "nothing to evaluate: give --queries and --qrels (retrieval) and/or --questions or --rag "
        "(RAG metrics)"));
  }
  std::vector<eval::Query> queries;
  eval::Qrels qrels;
  if (retrieval_table) {
    auto loaded = eval::LoadQueries(cmd.queries);
    if (!loaded.ok()) return ReportError(loaded.status());
    queries = std::move(*loaded);
    auto judged = eval::LoadQrels(cmd.qrels);
    if (!judged.ok()) return ReportError(judged.status());
    qrels = std::move(*judged);
  }
  // The question set.
  std::vector<eval::RagSample> questions;
  if (!cmd.questions.empty()) {
    auto loaded = eval::LoadQuestionSet(cmd.questions);
    if (!loaded.ok()) return ReportError(loaded.status());
    questions = std::move(*loaded);
  } else if (cmd.rag) {
    for (const auto& q : queries) {
      auto judged = qrels.find(q.id);
      if (judged == qrels.end()) continue;
      eval::RagSample sample;
      sample.id = q.id;
      sample.question = q.text;
      for (const auto& [doc, grade] : judged->second) {
        if (grade > 0) sample.reference_ids.push_back(doc);
      }
      if (!sample.reference_ids.empty()) questions.push_back(std::move(sample));
    }
  }
  if (cmd.rag_limit > 0 && questions.size() > cmd.rag_limit) questions.resize(cmd.rag_limit);
  std::vector<eval::RagSample> given;  // answered in the file
  std::vector<eval::RagSample> to_answer;
  for (auto& q : questions) (q.answered ? given : to_answer).push_back(std::move(q));
  if (cmd.corpus.empty() && (retrieval_table || !to_answer.empty())) {
    return ReportError(Status::InvalidArgument(
        "--corpus is required (unless every question of --questions comes with its answer and "
        "contexts)"));
  }
  const bool rag = !given.empty() || !to_answer.empty();

  ConfigFlags flags;
  if (cmd.max_tokens) flags.Set("chunk.max_tokens", std::to_string(*cmd.max_tokens));
  if (cmd.overlap) flags.Set("chunk.overlap_tokens", std::to_string(*cmd.overlap));
  if (cmd.embed_model) flags.Set("models.embed", *cmd.embed_model);
  if (cmd.rerank_model) flags.Set("models.rerank", *cmd.rerank_model);
  if (cmd.precision) flags.Set("models.precision", *cmd.precision);
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

  // The judge: --judge-url, else the configured LLM.
  eval::RagOptions rag_options;
  rag_options.concurrency = cmd.judge_concurrency;
  std::string judge_name;
  if (rag && !cmd.no_judge) {
    generation::LlmOptions judge;
    if (cmd.judge_url) {
      judge.base_url = *cmd.judge_url;
      judge.api_key = generation::ApiKeyFromEnvironment();
    } else {
      auto generation_options = generation::MakeGenerationOptions(*config);
      if (!generation_options.ok()) return ReportError(generation_options.status());
      judge = generation_options->llm;
    }
    if (cmd.judge_model) judge.model = *cmd.judge_model;
    if (!judge.base_url.empty()) {
      if (judge.model.empty()) {
        return ReportError(Status::InvalidArgument("--judge-url needs --judge-model"));
      }
      judge.temperature = 0;
      judge.max_tokens = std::max(judge.max_tokens, 2048);
      rag_options.judge = eval::MakeLlmJudge(judge, std::make_shared<const http::Client>());
      judge_name = judge.model + " @ " + judge.base_url;
    }
  }

  RequestContext ctx;
  double ingest_seconds = 0;
  std::optional<StatsResponse> stats;
  if (!cmd.corpus.empty()) {
    auto ingest_start = std::chrono::steady_clock::now();
    IngestRequest ingest;
    ingest.paths = {cmd.corpus};
    ingest.embed = false;
    auto ingested = (*engine)->Ingest(ingest, ctx);
    if (!ingested.ok()) return ReportError(ingested.status());
    if (!ingested->skipped.empty()) {
      return ReportError(Status::InvalidInput(ingested->skipped.front().reason));
    }
    ingest_seconds = SecondsSince(ingest_start);
    auto counted = (*engine)->Stats(ctx);
    if (!counted.ok()) return ReportError(counted.status());
    stats = *counted;
  }

  // Models: named ones must load; missing defaults skip the rows that need them. The RAG
  // metrics embed with the bi-encoder unless --judge-embed-url names another.
  const bool rag_embeds = rag && rag_options.judge && !cmd.judge_embed_url;
  const bool modes_run = !cmd.corpus.empty();
  auto models = (*engine)->LoadModels((modes_run && needs_dense) || rag_embeds,
                                      modes_run && needs_rerank, ctx);
  if (!models.ok()) return ReportError(models.status());
  if (cmd.judge_embed_url) {
    rag_options.embed = eval::MakeOpenAiEmbedder(*cmd.judge_embed_url, cmd.judge_embed_model,
                                                 generation::ApiKeyFromEnvironment(), nullptr);
  } else if (rag_embeds && models->embed.available) {
    rag_options.embed = eval::MakeEngineEmbedder(**engine);
  }
  std::vector<std::string> missing_defaults;
  if (modes_run && needs_dense && !models->embed.available) {
    missing_defaults.push_back(models->embed.spec);
  }
  if (modes_run && needs_rerank && !models->rerank.available) {
    missing_defaults.push_back(models->rerank.spec);
  }
  if (modes_run && needs_dense && models->embed.available) {
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
    if (!modes_run) break;
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
  std::vector<eval::ReportMode> report_modes;
  std::vector<std::pair<std::string, eval::RagEvaluation>> rag_rows;
  auto score_rag = [&](const std::string& name, const std::vector<eval::RagSample>& samples,
                       eval::ReportMode* report_mode) -> Status {
    std::unique_ptr<ProgressBar> progress;
    rag_options.progress = [&progress, &name](std::size_t done, std::size_t total) {
      if (!progress) progress = std::make_unique<ProgressBar>(total, name + " RAG metrics");
      progress->Update(done);
    };
    auto scored = eval::EvaluateRag(samples, rag_options);
    if (progress) progress->Clear();
    if (!scored.ok()) return scored.status().WithContext(name);
    if (report_mode != nullptr) report_mode->rag = *scored;
    rag_rows.emplace_back(name, std::move(*scored));
    return Status::Ok();
  };
  for (const auto& row_spec : rows_to_run) {
    SearchRequest base;
    base.mode = row_spec.mode;
    base.rerank = row_spec.rerank;
    base.rerank_depth = cmd.rerank_depth;
    if (row_spec.expand) base.expand_queries = cmd.expand_queries;
    eval::ReportMode report_mode;
    report_mode.name = row_spec.name;
    if (retrieval_table) {
      auto start = std::chrono::steady_clock::now();
      ProgressBar progress(queries.size(), row_spec.name + " queries");
      run_options.on_query = [&progress](std::size_t done, std::size_t) { progress.Update(done); };
      auto run = eval::RunEngine(**engine, base, queries, run_options,
                                 cmd.report.empty() ? nullptr : &report_mode.details);
      progress.Clear();
      if (!run.ok()) return ReportError(run.status().WithContext(row_spec.name));
      eval::EvalRow row;
      row.name = row_spec.name;
      row.seconds = SecondsSince(start);
      row.queries_run = queries.size();
      row.evaluation = eval::Evaluate(qrels, *run);
      if (!cmd.run_path.empty()) {
        Status written =
            eval::WriteTrecRun(RunPathFor(cmd.run_path, row_spec.name, rows_to_run.size() > 1),
                               *run, "sieve-" + row_spec.name);
        if (!written.ok()) return ReportError(written);
      }
      report_mode.retrieval = row.evaluation;
      report_mode.ms_per_query = queries.empty() ? 0 : 1000.0 * row.seconds / queries.size();
      rows.push_back(std::move(row));
    }
    if (!to_answer.empty()) {
      AskRequest ask;
      static_cast<SearchRequest&>(ask) = base;
      ProgressBar progress(to_answer.size(), row_spec.name + " answers");
      auto answered = eval::AnswerWithEngine(
          **engine, ask, to_answer, &report_mode.rag_details,
          [&progress](std::size_t done, std::size_t) { progress.Update(done); });
      progress.Clear();
      if (!answered.ok()) return ReportError(answered.status().WithContext(row_spec.name));
      Status scored = score_rag(row_spec.name, *answered, &report_mode);
      if (!scored.ok()) return ReportError(scored);
    }
    report_modes.push_back(std::move(report_mode));
  }
  if (!given.empty()) {
    eval::ReportMode report_mode;
    report_mode.name = "given answers";
    Status scored = score_rag(report_mode.name, given, &report_mode);
    if (!scored.ok()) return ReportError(scored);
    report_modes.push_back(std::move(report_mode));
  }
  std::vector<std::string> rag_notes;
  for (const auto& [name, e] : rag_rows) {
    for (const auto& note : e.notes) {
      if (std::find(rag_notes.begin(), rag_notes.end(), note) == rag_notes.end()) {
        rag_notes.push_back(note);
      }
    }
  }

  if (!cmd.report.empty()) {
    eval::ReportData data;
    data.title =
        "Sieve evaluation — " +
        fs::path(cmd.corpus.empty() ? cmd.questions : cmd.corpus).parent_path().filename().string();
    if (stats) {
      data.facts.push_back("corpus: " + cmd.corpus + " — " + std::to_string(stats->documents) +
                           " documents, " + std::to_string(stats->chunks) + " chunks");
    }
    if (retrieval_table) {
      data.facts.push_back(std::to_string(queries.size()) + " queries, run depth " +
                           std::to_string(cmd.k));
    }
    if (!embed_name.empty()) data.facts.push_back("embedding model: " + embed_name);
    if (!rerank_name.empty()) data.facts.push_back("rerank model: " + rerank_name);
    if (rag) {
      data.facts.push_back("RAG questions: " + std::to_string(given.size() + to_answer.size()) +
                           "; judge: " + (judge_name.empty() ? "none" : judge_name));
    }
    data.modes = std::move(report_modes);
    for (const auto& q : queries) data.query_text[q.id] = q.text;
    for (const auto& q : to_answer) data.query_text[q.id] = q.question;
    for (const auto& q : given) data.query_text[q.id] = q.question;
    data.qrels = qrels;
    for (const auto& name : skipped_rows)
      data.notes.push_back(name + ": skipped (model not available)");
    data.notes.insert(data.notes.end(), rag_notes.begin(), rag_notes.end());
    std::ofstream out(cmd.report, std::ios::binary);
    out << eval::RenderHtmlReport(data);
    if (!out) return ReportError(Status::IoError(cmd.report + ": cannot write the report"));
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
    json out_rag = json::array();
    for (const auto& [name, e] : rag_rows) {
      json item = eval::RagEvaluationToJson(e);
      item["mode"] = name;
      out_rag.push_back(std::move(item));
    }
    json out = {{"corpus", cmd.corpus},
                {"embed_model", embed_name.empty() ? json(nullptr) : json(embed_name)},
                {"rerank_model", rerank_name.empty() ? json(nullptr) : json(rerank_name)},
                {"skipped_rows", skipped_rows},
                {"documents", stats ? stats->documents : 0},
                {"chunks", stats ? stats->chunks : 0},
                {"ingest_seconds", ingest_seconds},
                {"queries", queries.size()},
                {"k", cmd.k},
                {"rows", out_rows}};
    if (rag) {
      out["rag"] = out_rag;
      out["judge"] = judge_name.empty() ? json(nullptr) : json(judge_name);
    }
    if (!cmd.report.empty()) out["report"] = cmd.report;
    if (index_named) out["index"] = *config->index.dir;
    std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  if (retrieval_table) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "corpus: %zu documents, %zu chunks (ingest %.2f s); %zu queries, %zu judged; "
                  "run depth %zu\n",
                  stats ? stats->documents : 0, stats ? stats->chunks : 0, ingest_seconds,
                  queries.size(), rows.empty() ? std::size_t{0} : rows.front().evaluation.queries,
                  cmd.k);
    std::cout << line;
  }
  if (!embed_name.empty()) std::cout << "embedding model: " << embed_name << "\n";
  if (!rerank_name.empty()) {
    std::cout << "rerank model: " << rerank_name << " (top " << cmd.rerank_depth
              << " candidates reranked)\n";
  }
  if (retrieval_table) std::cout << eval::FormatTable(rows);
  for (const auto& name : skipped_rows) std::cout << name << ": skipped (model not available)\n";
  for (const auto& row : rows) {
    if (row.evaluation.missing_from_run > 0) {
      std::cout << row.name << ": " << row.evaluation.missing_from_run
                << " judged queries had no results (scored 0)\n";
    }
  }
  if (rag) {
    std::cout << "\nRAG metrics over " << given.size() + to_answer.size()
              << " questions (Ragas definitions; judge: "
              << (judge_name.empty() ? "none" : judge_name) << "; samples scored in parentheses)\n"
              << FormatRagTable(rag_rows);
    for (const auto& note : rag_notes) std::cout << "note: " << note << "\n";
  }
  if (!cmd.report.empty()) std::cout << "report: " << cmd.report << "\n";
  return kExitOk;
}

}  // namespace

void RegisterEvalCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto cmd = std::make_shared<EvalCommand>();
  auto* sub = app.add_subcommand(
      "eval",
      "Evaluate retrieval on a BEIR collection: nDCG@10, MRR@10, Recall@100, MAP (trec_eval "
      "definitions), and answers over a question set: faithfulness, answer relevancy, context "
      "precision/recall, answer correctness (Ragas definitions, LLM judge) and id-based / "
      "string-similarity context precision and recall (no LLM). The corpus is ingested into the "
      "index directory when one is named (--index, "
      "SIEVE_INDEX or index.dir in sieve.toml), else into a temporary index that is removed "
      "afterwards.");
  sub->add_option("--corpus", cmd->corpus, "BEIR corpus.jsonl");
  sub->add_option("--queries", cmd->queries,
                  "BEIR queries.jsonl (with --qrels: the retrieval table)");
  sub->add_option("--qrels", cmd->qrels, "BEIR qrels TSV (e.g. qrels/test.tsv)");
  sub->add_option("-k,--k", cmd->k, "Documents per query in the run")
      ->capture_default_str()
      ->check(PositiveCount());
  sub->add_option("--run", cmd->run_path, "Write the TREC run file here");
  auto* modes =
      sub->add_option("--modes,--mode", cmd->modes,
                      "Rows to compare: lexical, dense, hybrid, each optionally +rerank and/or "
                      "+expand (multi-query retrieval; comma separated; default the six without "
                      "+expand)")
          ->delimiter(',')
          ->capture_default_str();
  sub->add_option("--embed-model", cmd->embed_model,
                  "Bi-encoder: folder or Hub id (default: the index's, else "
                  "BAAI/bge-small-en-v1.5)");
  sub->add_option("--rerank-model", cmd->rerank_model,
                  "Cross-encoder: folder or Hub id (default "
                  "cross-encoder/ms-marco-MiniLM-L-6-v2)");
  AddPrecisionOption(sub, cmd->precision);
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
  sub->add_option("--expand-queries", cmd->expand_queries,
                  "Alternative phrasings the LLM writes for rows named +expand")
      ->capture_default_str()
      ->check(PositiveCount());
  sub->add_option("--questions", cmd->questions,
                  "Question set (JSONL: question, optional reference, relevant_ids, "
                  "reference_contexts; lines with answer/contexts are scored as given): RAG "
                  "metrics per mode");
  sub->add_flag("--rag", cmd->rag,
                "RAG metrics with the BEIR queries as questions (their qrels as relevant ids)");
  sub->add_option("--rag-limit", cmd->rag_limit, "Score only the first N questions")
      ->check(NonNegativeCount());
  sub->add_option("--judge-url", cmd->judge_url,
                  "OpenAI-compatible base URL of the LLM judge (default: the configured [llm])");
  sub->add_option("--judge-model", cmd->judge_model, "Model name of the judge");
  sub->add_option("--judge-concurrency", cmd->judge_concurrency, "Judge calls in flight at most")
      ->capture_default_str()
      ->check(PositiveCount());
  sub->add_flag("--no-judge", cmd->no_judge, "Only the deterministic RAG metrics");
  sub->add_option("--judge-embed-url", cmd->judge_embed_url,
                  "OpenAI-compatible base URL for the metrics' embeddings (default: Sieve's "
                  "bi-encoder)");
  sub->add_option("--judge-embed-model", cmd->judge_embed_model,
                  "Model name sent to --judge-embed-url")
      ->capture_default_str();
  sub->add_option("--report", cmd->report,
                  "Write a self-contained HTML report (tables, charts, worst questions)");
  sub->callback([cmd, modes, &global, &action] {
    cmd->modes_given = modes->count() > 0;
    action = [cmd, &global] { return RunEval(*cmd, global); };
  });
}

}  // namespace sieve::cli
