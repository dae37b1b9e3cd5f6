// `sieve ask QUESTION`: retrieve (lexical, dense or hybrid), rerank, and answer with citations
// (an LLM when one is configured and reachable, else an extractive answer). `sieve reembed`.
// Both parse flags, call the engine and print.
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/engine_cli.h"
#include "engine/json.h"

namespace sieve::cli {
namespace {

struct AskCommand {
  std::string question;
  // Flags; each one given overrides the configuration (docs/configuration.md).
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
  std::optional<std::string> precision;
  std::string path_prefix;
  std::vector<std::string> types;
  std::vector<std::string> tags;
};

std::string Fixed(double value, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

// "bm25 12.31 (#1), cosine 0.812 (#3), fused 0.0325, rerank 0.973"
std::string ScoresText(const Scores& s) {
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

// "docs/guide.md:12-30, section "Install", bytes 120-980" (pages instead of lines for a PDF)
std::string Location(const Passage& p) {
  std::string out = p.source_path + engine::LineSuffix(p.line, p.line_end);
  if (p.doc_key != p.source_path) out += " [" + p.doc_key + "]";
  if (!p.title.empty() && p.title != p.source_path) out += " (" + p.title + ")";
  if (!p.section.empty()) out += ", section \"" + p.section + "\"";
  if (p.page > 0) out += ", page " + std::to_string(p.page);
  out += ", bytes " + std::to_string(p.begin) + "-" + std::to_string(p.end);
  return out;
}

ConfigFlags AskFlags(const AskCommand& cmd) {
  ConfigFlags flags;
  if (cmd.k) flags.Set("retrieval.k", std::to_string(*cmd.k));
  if (cmd.top_n) flags.Set("retrieval.top_n", std::to_string(*cmd.top_n));
  if (cmd.mode) flags.Set("retrieval.mode", *cmd.mode);
  if (cmd.no_rerank) flags.Set("retrieval.rerank", "false");
  if (cmd.rrf_k) flags.Set("retrieval.rrf_k", std::to_string(*cmd.rrf_k));
  if (cmd.llm_url) flags.Set("llm.url", *cmd.llm_url);
  if (cmd.llm_model) flags.Set("llm.model", *cmd.llm_model);
  if (cmd.stream) flags.Set("llm.stream", "true");
  if (cmd.embed_model) flags.Set("models.embed", *cmd.embed_model);
  if (cmd.rerank_model) flags.Set("models.rerank", *cmd.rerank_model);
  if (cmd.precision) flags.Set("models.precision", *cmd.precision);
  return flags;
}

// Flags that contradict each other are a usage error.
Status CheckAskFlags(const AskCommand& cmd) {
  if (cmd.mode == "lexical" && cmd.embed_model) {
    return Status::InvalidArgument(
        "--embed-model conflicts with --mode lexical (lexical retrieval uses no embedding model)");
  }
  if (cmd.no_rerank && cmd.rerank_model) {
    return Status::InvalidArgument(
        "--rerank-model conflicts with --no-rerank (the cross-encoder is not used without "
        "reranking)");
  }
  return Status::Ok();
}

int RunAsk(const AskCommand& cmd, const GlobalOptions& global) {
  if (cmd.question.find_first_not_of(" \t\r\n") == std::string::npos) {
    return ReportError(Status::InvalidArgument("empty question"));
  }
  Status flags_ok = CheckAskFlags(cmd);
  if (!flags_ok.ok()) return ReportError(flags_ok);
  auto config = LoadCommandConfig(global, AskFlags(cmd).overrides);
  if (!config.ok()) return ReportError(config.status());
  auto filter = MakeFilter(cmd.path_prefix, cmd.types, cmd.tags);
  if (!filter.ok()) return ReportError(filter.status());
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());

  AskRequest request;
  request.query = cmd.question;
  request.filter = std::move(filter).value();
  const bool stream_to_stdout = config->llm.stream.value_or(false) && !global.json;
  if (stream_to_stdout) {
    request.on_token = [](std::string_view piece) { std::cout << piece << std::flush; };
  }
  RequestContext ctx;
  ctx.set_tracer(global.tracer);
  auto answer = (*engine)->Ask(request, ctx);
  if (!answer.ok()) return ReportError(answer.status());

  PrintNotes(answer->notes);
  if (global.json) {
    std::cout << engine::Dump(engine::ToJson(*answer)) << "\n";
    return kExitOk;
  }
  if (answer->streamed && !answer->extractive) {
    std::cout << "\n";
  } else {
    if (answer->streamed) std::cout << "\n";
    std::cout << answer->answer << "\n";
  }
  if (!answer->citations.empty()) {
    std::cout << "\nSources:\n";
    for (const auto& c : answer->citations) {
      std::cout << "[" << c.number << "] " << Location(c.passage) << "\n";
      const std::string scores = ScoresText(c.passage.scores);
      if (!scores.empty()) std::cout << "    " << scores << "\n";
    }
  }
  const RetrievalInfo& r = answer->retrieval;
  std::cout << "\n(" << ModeName(r.mode) << (r.reranked ? " + rerank" : "") << "; "
            << answer->model;
  if (!r.embed_model.empty()) std::cout << "; embeddings: " << r.embed_model;
  if (!r.rerank_model.empty()) std::cout << "; reranker: " << r.rerank_model;
  std::cout << ")\n";
  return kExitOk;
}

struct ReembedCommand {
  std::string embed_model;
  std::optional<std::string> precision;
};

// Deletes the index's vectors and embeds every chunk again with the named model.
int RunReembed(const ReembedCommand& cmd, const GlobalOptions& global) {
  ConfigFlags flags;
  if (cmd.precision) flags.Set("models.precision", *cmd.precision);
  auto config = LoadCommandConfig(global, flags.overrides);
  if (!config.ok()) return ReportError(config.status());
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());
  ReembedRequest request;
  request.embed_model = cmd.embed_model;
  IngestProgressBar bar;
  request.progress = std::ref(bar);
  RequestContext ctx;
  ctx.set_tracer(global.tracer);
  auto response = (*engine)->Reembed(request, ctx);
  bar.Clear();
  if (!response.ok()) return ReportError(response.status());
  if (global.json) {
    std::cout << engine::Dump(engine::ToJson(*response)) << "\n";
  } else {
    std::cout << "re-embedded " << response->chunks << " chunks with " << response->model << " in "
              << Fixed(response->seconds, 2) << " s\n";
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
  sub->add_option("--k", cmd->k, "Candidates from each retriever (default 50)")
      ->check(PositiveCount());
  sub->add_option("--top-n", cmd->top_n, "Passages kept after reranking (default 5)")
      ->check(PositiveCount());
  sub->add_option("--mode", cmd->mode, "Retrieval: hybrid (default), dense or lexical")
      ->check(CLI::IsMember({"dense", "lexical", "hybrid"}));
  sub->add_flag("--no-rerank", cmd->no_rerank, "Skip the cross-encoder");
  sub->add_option("--rrf-k", cmd->rrf_k, "Reciprocal rank fusion constant (default 60)")
      ->check(PositiveCount());
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
  AddPrecisionOption(sub, cmd->precision);
  sub->add_option("--path-prefix", cmd->path_prefix, "Only documents whose path starts with this");
  sub->add_option("--type", cmd->types,
                  "Only documents of this type (text, markdown, html, pdf, beir; repeatable)");
  sub->add_option("--tag", cmd->tags, "Only documents with this tag (repeatable: all of them)");
  sub->callback(
      [cmd, &global, &action] { action = [cmd, &global] { return RunAsk(*cmd, global); }; });

  auto reembed = std::make_shared<ReembedCommand>();
  auto* reembed_cmd = app.add_subcommand(
      "reembed",
      "Delete the index's vectors and embed every chunk again with another model (the way to "
      "change the embedding model of an index)");
  reembed_cmd->add_option("--embed-model", reembed->embed_model, "Bi-encoder: folder or Hub id")
      ->required();
  AddPrecisionOption(reembed_cmd, reembed->precision);
  reembed_cmd->callback([reembed, &global, &action] {
    action = [reembed, &global] { return RunReembed(*reembed, global); };
  });
}

}  // namespace sieve::cli
