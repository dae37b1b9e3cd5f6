// `sieve ask QUESTION`: retrieve (lexical, dense or hybrid), rerank, and answer with citations
// (an LLM when one is configured and reachable, else an extractive answer).
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/progress.h"
#include "generation/answer.h"
#include "generation/config.h"
#include "retrieval/dense_index.h"
#include "retrieval/model_loading.h"
#include "retrieval/pipeline.h"
#include "store/document_store.h"
#include "store/ingest.h"

namespace sieve::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct AskCommand {
  std::string question;
  std::string config_file;
  // Flags; each one given overrides the configuration (see generation/config.h).
  std::optional<std::size_t> k;
  std::optional<std::size_t> top_n;
  std::optional<std::string> mode;
  bool no_rerank = false;
  std::optional<std::size_t> rrf_k;
  std::optional<std::string> llm_url;
  std::optional<std::string> llm_model;
  bool stream = false;
  std::optional<std::string> embed_model;
  std::optional<std::string> rerank_model;
  std::string path_prefix;
  std::vector<std::string> types;
  std::vector<std::string> tags;
};

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Fixed(double value, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

json ScoresJson(const retrieval::StageScores& s) {
  json out = json::object();
  if (s.bm25) out["bm25"] = *s.bm25;
  if (s.bm25_rank) out["bm25_rank"] = *s.bm25_rank;
  if (s.cosine) out["cosine"] = *s.cosine;
  if (s.dense_rank) out["dense_rank"] = *s.dense_rank;
  if (s.fused) out["fused"] = *s.fused;
  if (s.rerank) out["rerank"] = *s.rerank;
  return out;
}

// "bm25 12.31 (#1), cosine 0.812 (#3), fused 0.0325, rerank 0.973"
std::string ScoresText(const retrieval::StageScores& s) {
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  if (s.bm25) {
    add("bm25 " + Fixed(*s.bm25, 2) +
        (s.bm25_rank ? " (#" + std::to_string(*s.bm25_rank) + ")" : ""));
  }
  if (s.cosine) {
    add("cosine " + Fixed(*s.cosine, 3) +
        (s.dense_rank ? " (#" + std::to_string(*s.dense_rank) + ")" : ""));
  }
  if (s.fused) add("fused " + Fixed(*s.fused, 4));
  if (s.rerank) add("rerank " + Fixed(*s.rerank, 3));
  return out;
}

json PassageJson(std::size_t number, const generation::Passage& p, const std::string& key) {
  return {{"number", number},      {"chunk_id", p.chunk_id},
          {"path", p.source_path}, {"key", key},
          {"title", p.title},      {"section", p.section},
          {"page", p.page},        {"begin", p.begin},
          {"end", p.end},          {"scores", ScoresJson(p.scores)},
          {"text", p.text}};
}

// "docs/guide.md, section "Install", page 3, bytes 120-980"
std::string Location(const generation::Passage& p, const std::string& key) {
  std::string out = p.source_path;
  if (key != p.source_path) out += " [" + key + "]";
  if (!p.title.empty() && p.title != p.source_path) out += " (" + p.title + ")";
  if (!p.section.empty()) out += ", section \"" + p.section + "\"";
  if (p.page > 0) out += ", page " + std::to_string(p.page);
  out += ", bytes " + std::to_string(p.begin) + "-" + std::to_string(p.end);
  return out;
}

// The vector-index settings of the configuration, for the model `embed_model` ("" = none named).
retrieval::DenseIndexOptions DenseOptionsFromConfig(const generation::Config& config,
                                                    const std::string& embed_model, bool verbose,
                                                    const Logger& logger) {
  retrieval::DenseIndexOptions options;
  options.embed_model = embed_model;
  options.index.exact_threshold = config.index.exact_search_below;
  options.index.hnsw_m = static_cast<int>(config.index.hnsw_m);
  options.index.hnsw_ef_construction = static_cast<int>(config.index.hnsw_ef_construction);
  options.index.hnsw_ef_search = static_cast<int>(config.index.hnsw_ef_search);
  options.load.verbose = verbose;
  options.load.logger = logger;
  return options;
}

Result<generation::Config> LoadAskConfig(const AskCommand& cmd) {
  generation::ConfigSources sources;
  sources.config_file = cmd.config_file;
  auto set = [&sources](const char* key, const std::string& value) {
    sources.overrides.emplace_back(key, value);
  };
  if (cmd.k) set("retrieval.k", std::to_string(*cmd.k));
  if (cmd.top_n) set("retrieval.top_n", std::to_string(*cmd.top_n));
  if (cmd.mode) set("retrieval.mode", *cmd.mode);
  if (cmd.no_rerank) set("retrieval.rerank", "false");
  if (cmd.rrf_k) set("retrieval.rrf_k", std::to_string(*cmd.rrf_k));
  if (cmd.llm_url) set("llm.url", *cmd.llm_url);
  if (cmd.llm_model) set("llm.model", *cmd.llm_model);
  if (cmd.stream) set("llm.stream", "true");
  if (cmd.embed_model) set("models.embed", *cmd.embed_model);
  if (cmd.rerank_model) set("models.rerank", *cmd.rerank_model);
  return generation::LoadConfig(sources);
}

// Draws embedding progress on a terminal (the bar exists only while there is work).
struct EmbedProgress {
  std::unique_ptr<ProgressBar> bar;
  void operator()(std::size_t done, std::size_t total) {
    if (!bar) bar = std::make_unique<ProgressBar>(total, "chunks embedded");
    bar->Update(done);
    if (done >= total) bar.reset();
  }
};

int RunAsk(const AskCommand& cmd, const GlobalOptions& global) {
  if (cmd.question.find_first_not_of(" \t\r\n") == std::string::npos) {
    return ReportError(Status::InvalidArgument("empty question"));
  }
  auto config = LoadAskConfig(cmd);
  if (!config.ok()) return ReportError(config.status());
  auto mode = retrieval::ParseMode(config->retrieval.mode);
  if (!mode.ok()) return ReportError(mode.status());
  // A mode the user asked for must be honoured; the default (hybrid) degrades to lexical.
  const bool mode_named = cmd.mode.has_value() || config->retrieval.mode != "hybrid";
  const bool embed_named =
      cmd.embed_model.has_value() || config->models.embed != retrieval::kDefaultEmbedModel;
  const bool rerank_named =
      cmd.rerank_model.has_value() || config->models.rerank != retrieval::kDefaultRerankModel;

  store::OpenOptions open_options;
  open_options.create = false;
  auto store = store::DocumentStore::Open(global.index_dir, open_options);
  if (!store.ok()) {
    return ReportError(store.status().WithContext("no index to ask (run `sieve ingest` first)"));
  }

  std::vector<std::string> missing_defaults;
  std::vector<std::string> notes;
  retrieval::DenseIndex dense;
  if (*mode != retrieval::Mode::kLexical) {
    retrieval::DenseIndexOptions dense_options = DenseOptionsFromConfig(
        *config, embed_named ? config->models.embed : "", global.verbose, global.logger);
    EmbedProgress progress;
    dense_options.sync.progress = std::ref(progress);
    auto opened = retrieval::OpenDenseIndex(**store, global.index_dir, dense_options);
    if (!opened.ok()) return ReportError(opened.status());
    dense = std::move(opened).value();
    if (!dense.available()) {
      if (mode_named) {
        return ReportError(
            Status::NotFound(std::string(retrieval::ModeName(*mode)) +
                             " retrieval needs an embedding model: " + dense.embedder.unavailable));
      }
      missing_defaults.push_back(dense.model_spec);
      *mode = retrieval::Mode::kLexical;
    } else if (dense.repaired.stale_removed > 0 || dense.repaired.missing_embedded > 0) {
      std::string note = "vector index brought in line with the store: ";
      if (!dense.damage.empty()) note += dense.damage + "; ";
      note += std::to_string(dense.repaired.missing_embedded) + " chunks embedded, " +
              std::to_string(dense.repaired.stale_removed) + " stale vectors removed";
      notes.push_back(note);
    }
  }

  retrieval::LoadedCrossEncoder cross_encoder;
  bool rerank = config->retrieval.rerank;
  if (rerank) {
    auto loaded = retrieval::LoadCrossEncoderModel({config->models.rerank, rerank_named},
                                                   {32, 0, global.verbose, global.logger});
    if (!loaded.ok()) return ReportError(loaded.status());
    cross_encoder = std::move(loaded).value();
    if (!cross_encoder.model) {
      missing_defaults.push_back(config->models.rerank);
      rerank = false;
    }
  }
  if (!missing_defaults.empty()) {
    std::string fallback = "using ";
    if (!dense.available() && *mode == retrieval::Mode::kLexical) {
      fallback += "lexical retrieval only";
    } else {
      fallback += retrieval::ModeName(*mode) + std::string(" retrieval");
    }
    if (!cross_encoder.model && config->retrieval.rerank) {
      fallback += ", no reranking";
      if (!config->llm.configured()) fallback += ", extractive answers scored lexically";
    }
    std::cerr << "sieve: note: " << retrieval::MissingModelsNote(missing_defaults, fallback)
              << "\n";
  }

  retrieval::PipelineOptions options;
  options.mode = *mode;
  options.k = config->retrieval.k;
  options.top_n = config->retrieval.top_n;
  options.rerank = rerank;
  options.rrf_k = static_cast<double>(config->retrieval.rrf_k);
  if (!cmd.path_prefix.empty()) {
    // Stored paths are absolute; a relative prefix means "under this folder of mine".
    options.filter.path_prefix = fs::path(cmd.path_prefix).is_absolute()
                                     ? cmd.path_prefix
                                     : store::DocumentKeyForPath(cmd.path_prefix);
    if (cmd.path_prefix.back() == '/' && options.filter.path_prefix.back() != '/') {
      options.filter.path_prefix += '/';
    }
  }
  options.filter.types = cmd.types;
  options.filter.tags = cmd.tags;
  auto pipeline = retrieval::Pipeline::Create(
      **store, dense.vectors.get(), dense.embedder.model.get(), cross_encoder.model.get(), options);
  if (!pipeline.ok()) return ReportError(pipeline.status());
  auto ranked = (*pipeline)->Run(cmd.question);
  if (!ranked.ok()) return ReportError(ranked.status());

  std::vector<generation::Passage> passages;
  std::map<std::int64_t, std::string> keys;  // document key (BEIR _id) by chunk id
  for (const auto& r : *ranked) {
    keys[r.chunk.chunk_id] = r.chunk.doc_key;
    generation::Passage p;
    p.chunk_id = r.chunk.chunk_id;
    p.text = r.chunk.text;
    p.source_path = r.chunk.source_path;
    p.title = r.chunk.title;
    p.section = r.chunk.section;
    p.page = r.chunk.page;
    p.begin = r.chunk.begin;
    p.end = r.chunk.end;
    p.scores = r.hit.stages;
    passages.push_back(std::move(p));
  }

  auto generation_options = generation::MakeGenerationOptions(*config);
  if (!generation_options.ok()) return ReportError(generation_options.status());
  const bool stream_to_stdout = generation_options->llm.stream && !global.json;
  bool streamed = false;
  generation::TokenCallback on_token;
  if (stream_to_stdout) {
    on_token = [&streamed](std::string_view piece) {
      streamed = true;
      std::cout << piece << std::flush;
    };
  }
  auto answer = generation::GenerateAnswer(cmd.question, passages, *generation_options,
                                           cross_encoder.model.get(), on_token);
  if (!answer.ok()) return ReportError(answer.status());
  notes.insert(notes.end(), answer->notes.begin(), answer->notes.end());

  const std::string embed_name =
      dense.available() ? store::DescribeModel(dense.embedder.identity) : "";
  const std::string rerank_name = cross_encoder.model && rerank ? config->models.rerank : "";
  if (global.json) {
    json citations = json::array();
    for (const auto& c : answer->citations)
      citations.push_back(PassageJson(c.number, c.passage, keys[c.passage.chunk_id]));
    json all = json::array();
    for (std::size_t i = 0; i < passages.size(); ++i) {
      all.push_back(PassageJson(i + 1, passages[i], keys[passages[i].chunk_id]));
    }
    json out = {{"question", cmd.question},
                {"answer", answer->text},
                {"extractive", answer->extractive},
                {"model", answer->model},
                {"citations", citations},
                {"passages", all},
                {"retrieval",
                 {{"mode", retrieval::ModeName(*mode)},
                  {"rerank", rerank},
                  {"k", options.k},
                  {"top_n", options.top_n},
                  {"rrf_k", options.rrf_k},
                  {"embed_model", embed_name.empty() ? json(nullptr) : json(embed_name)},
                  {"rerank_model", rerank_name.empty() ? json(nullptr) : json(rerank_name)}}},
                {"usage",
                 {{"prompt_tokens", answer->usage.prompt_tokens},
                  {"completion_tokens", answer->usage.completion_tokens},
                  {"total_tokens", answer->usage.total_tokens}}},
                {"notes", notes}};
    std::cout << Dump(out) << "\n";
    return kExitOk;
  }
  for (const auto& note : notes) std::cerr << "sieve: note: " << note << "\n";
  if (streamed && !answer->extractive) {
    std::cout << "\n";
  } else {
    if (streamed) std::cout << "\n";
    std::cout << answer->text << "\n";
  }
  if (!answer->citations.empty()) {
    std::cout << "\nSources:\n";
    for (const auto& c : answer->citations) {
      std::cout << "[" << c.number << "] " << Location(c.passage, keys[c.passage.chunk_id]) << "\n";
      const std::string scores = ScoresText(c.passage.scores);
      if (!scores.empty()) std::cout << "    " << scores << "\n";
    }
  }
  std::cout << "\n(" << retrieval::ModeName(*mode) << (rerank ? " + rerank" : "") << "; "
            << answer->model;
  if (!embed_name.empty()) std::cout << "; embeddings: " << embed_name;
  if (!rerank_name.empty()) std::cout << "; reranker: " << rerank_name;
  std::cout << ")\n";
  return kExitOk;
}

struct ReembedCommand {
  std::string embed_model;
  std::string config_file;
};

// Deletes the index's vectors and embeds every chunk again with the named model.
int RunReembed(const ReembedCommand& cmd, const GlobalOptions& global) {
  generation::ConfigSources sources;
  sources.config_file = cmd.config_file;
  auto config = generation::LoadConfig(sources);
  if (!config.ok()) return ReportError(config.status());
  store::OpenOptions open_options;
  open_options.create = false;
  auto store = store::DocumentStore::Open(global.index_dir, open_options);
  if (!store.ok()) return ReportError(store.status());
  const auto start = std::chrono::steady_clock::now();
  retrieval::DenseIndexOptions options =
      DenseOptionsFromConfig(*config, cmd.embed_model, global.verbose, global.logger);
  EmbedProgress progress;
  options.sync.progress = std::ref(progress);
  auto dense = retrieval::ReembedIndex(**store, global.index_dir, options);
  if (!dense.ok()) return ReportError(dense.status());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string model = store::DescribeModel(dense->embedder.identity);
  if (global.json) {
    std::cout << Dump({{"model", model},
                       {"chunks", dense->repaired.missing_embedded},
                       {"seconds", seconds}})
              << "\n";
  } else {
    std::cout << "re-embedded " << dense->repaired.missing_embedded << " chunks with " << model
              << " in " << Fixed(seconds, 2) << " s\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterAskCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto cmd = std::make_shared<AskCommand>();
  auto* sub = app.add_subcommand(
      "ask",
      "Answer a question from the index with numbered citations: retrieve (hybrid by default), "
      "rerank with a cross-encoder, answer with an LLM if one is configured, else extractively. "
      "Flags override sieve.toml and SIEVE_* variables (docs/configuration.md).");
  sub->add_option("question", cmd->question, "The question")->required();
  sub->add_option("--k", cmd->k, "Candidates from each retriever (default 50)");
  sub->add_option("--top-n", cmd->top_n, "Passages kept after reranking (default 5)");
  sub->add_option("--mode", cmd->mode, "Retrieval: hybrid (default), dense or lexical")
      ->check(CLI::IsMember({"dense", "lexical", "hybrid"}));
  sub->add_flag("--no-rerank", cmd->no_rerank, "Skip the cross-encoder");
  sub->add_option("--rrf-k", cmd->rrf_k, "Reciprocal rank fusion constant (default 60)");
  sub->add_option("--llm", cmd->llm_url,
                  "OpenAI-compatible base URL, e.g. http://localhost:11434/v1");
  sub->add_option("--llm-model", cmd->llm_model, "Model name sent to the LLM server");
  sub->add_flag("--stream", cmd->stream, "Print the LLM's answer as it is generated");
  sub->add_option("--embed-model", cmd->embed_model,
                  "Bi-encoder: folder or Hub id (default: the index's, else "
                  "BAAI/bge-small-en-v1.5)");
  sub->add_option("--rerank-model", cmd->rerank_model,
                  "Cross-encoder: folder or Hub id (default "
                  "cross-encoder/ms-marco-MiniLM-L-6-v2)");
  sub->add_option("--path-prefix", cmd->path_prefix, "Only documents whose path starts with this");
  sub->add_option("--type", cmd->types,
                  "Only documents of this type (text, markdown, html, pdf, beir; repeatable)");
  sub->add_option("--tag", cmd->tags, "Only documents with this tag (repeatable: all of them)");
  sub->add_option("--config", cmd->config_file, "Configuration file (default: ./sieve.toml)");
  sub->callback(
      [cmd, &global, &action] { action = [cmd, &global] { return RunAsk(*cmd, global); }; });

  auto reembed = std::make_shared<ReembedCommand>();
  auto* reembed_cmd = app.add_subcommand(
      "reembed",
      "Delete the index's vectors and embed every chunk again with another model (the way to "
      "change the embedding model of an index)");
  reembed_cmd->add_option("--embed-model", reembed->embed_model, "Bi-encoder: folder or Hub id")
      ->required();
  reembed_cmd->add_option("--config", reembed->config_file,
                          "Configuration file (default: ./sieve.toml)");
  reembed_cmd->callback([reembed, &global, &action] {
    action = [reembed, &global] { return RunReembed(*reembed, global); };
  });
}

}  // namespace sieve::cli
