// `sieve ingest | search | stats | delete`: build, query and maintain an index. Each command
// parses its flags, calls the engine and prints; the work is sieve::Engine's.
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/engine_cli.h"
#include "engine/json.h"
#include "store/ingest.h"
#include "text/document.h"

namespace sieve::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string FormatSeconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", seconds);
  return buf;
}

// ---- ingest ----

struct IngestCommand {
  std::vector<std::string> paths;
  std::vector<std::string> tags;
  std::optional<std::size_t> max_tokens;
  std::optional<std::size_t> overlap;
  std::optional<double> max_file_mb;
  std::optional<std::string> embed_model;
  std::optional<std::string> precision;
  std::string type;
  bool no_sync = false;
};

int RunIngest(const IngestCommand& cmd, const GlobalOptions& global) {
  ConfigFlags flags;
  if (cmd.max_tokens) flags.Set("chunk.max_tokens", std::to_string(*cmd.max_tokens));
  if (cmd.overlap) flags.Set("chunk.overlap_tokens", std::to_string(*cmd.overlap));
  if (cmd.max_file_mb) flags.Set("ingest.max_file_mb", std::to_string(*cmd.max_file_mb));
  if (cmd.embed_model) flags.Set("models.embed", *cmd.embed_model);
  if (cmd.precision) flags.Set("models.precision", *cmd.precision);
  auto config = LoadCommandConfig(global, flags.overrides);
  if (!config.ok()) return ReportError(config.status());
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());

  IngestRequest request;
  request.paths.assign(cmd.paths.begin(), cmd.paths.end());
  request.tags = cmd.tags;
  request.type = cmd.type;
  request.sync = !cmd.no_sync;
  IngestProgressBar bar;
  request.progress = std::ref(bar);
  RequestContext ctx;
  ctx.set_tracer(global.tracer);
  auto response = (*engine)->Ingest(request, ctx);
  bar.Clear();
  if (!response.ok()) return ReportError(response.status());
  for (const auto& skipped : response->skipped) {
    std::cerr << "sieve: skipped " << (skipped.path.empty() ? "" : skipped.path + ": ")
              << skipped.reason << "\n";
  }
  // Files that are not documents: one line per reason with a count (each file with -v).
  std::map<std::string, std::size_t> reasons;
  for (const auto& file : response->not_documents) {
    ++reasons[file.reason];
    if (global.verbose)
      std::cerr << "sieve: not a document: " << file.path << ": " << file.reason << "\n";
  }
  if (!global.verbose) {
    for (const auto& [reason, count] : reasons) {
      std::cerr << "sieve: note: " << count << (count == 1 ? " file" : " files")
                << " not indexed: " << reason << " (-v lists them)\n";
    }
  }
  PrintNotes(response->notes);
  const int exit_code = response->skipped.empty() ? kExitOk : kExitInput;
  if (global.json) {
    json out = engine::ToJson(*response);
    out["index"] = config::IndexDir(*config).string();
    std::cout << engine::Dump(out) << "\n";
    return exit_code;
  }
  const IngestResponse& r = *response;
  std::cout << "ingested " << r.files << " files: " << r.documents() << " documents ("
            << r.documents_added << " new, " << r.documents_replaced << " changed, "
            << r.documents_unchanged << " unchanged";
  if (r.documents_moved) std::cout << ", " << r.documents_moved << " moved";
  if (r.documents_deleted) std::cout << ", " << r.documents_deleted << " deleted";
  if (r.documents_removed) std::cout << ", " << r.documents_removed << " records removed";
  std::cout << "), " << r.chunks << " chunks, " << r.bytes << " bytes, " << FormatSeconds(r.seconds)
            << " s";
  if (!r.skipped.empty()) std::cout << "; " << r.skipped.size() << " skipped";
  std::cout << "\n";
  if (!r.embed_model.empty()) {
    std::cout << "embedded " << r.embedded << " chunks with " << r.embed_model << "\n";
  }
  return exit_code;
}

// ---- search ----

struct SearchCommand {
  std::string query;
  std::size_t k = 10;
  std::optional<std::string> mode;
  bool rerank = false;
  std::string path_prefix;
  std::vector<std::string> types;
  std::vector<std::string> tags;
};

int RunSearch(const SearchCommand& cmd, const GlobalOptions& global) {
  ConfigFlags flags;
  auto config = LoadCommandConfig(global, flags.overrides);
  if (!config.ok()) return ReportError(config.status());
  auto filter = MakeFilter(cmd.path_prefix, cmd.types, cmd.tags);
  if (!filter.ok()) return ReportError(filter.status());
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());

  SearchRequest request;
  request.query = cmd.query;
  // `search` is BM25 unless a mode is asked for; it reranks only with --rerank.
  request.mode = Mode::kLexical;
  if (cmd.mode) {
    auto mode = ParseMode(*cmd.mode);
    if (!mode.ok()) return ReportError(mode.status());
    request.mode = *mode;
  }
  request.rerank = cmd.rerank;
  request.k = cmd.k;
  request.top_n = cmd.k;
  request.filter = std::move(filter).value();
  RequestContext ctx;
  ctx.set_tracer(global.tracer);
  auto response = (*engine)->Search(request, ctx);
  if (!response.ok()) return ReportError(response.status());
  PrintNotes(response->notes);
  if (global.json) {
    std::cout << engine::Dump(engine::ToJson(*response)) << "\n";
    return kExitOk;
  }
  for (std::size_t i = 0; i < response->passages.size(); ++i) {
    const Passage& p = response->passages[i];
    char score[32];
    std::snprintf(score, sizeof score, "%.3f", p.score);
    std::cout << i + 1 << ". " << score << "  " << p.source_path
              << engine::LineSuffix(p.line, p.line_end);
    if (p.doc_key != p.source_path) std::cout << " [" << p.doc_key << "]";
    if (!p.section.empty()) std::cout << "  section: " << p.section;
    if (p.page > 0) std::cout << "  page " << p.page;
    std::cout << "\n   " << engine::Snippet(p.text, cmd.query) << "\n";
  }
  if (response->passages.empty()) std::cout << "no matches\n";
  return kExitOk;
}

// ---- stats ----

int RunStats(const GlobalOptions& global) {
  auto config = LoadCommandConfig(global);
  if (!config.ok()) return ReportError(config.status());
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());
  RequestContext ctx;
  ctx.set_tracer(global.tracer);
  auto stats = (*engine)->Stats(ctx);
  if (!stats.ok()) return ReportError(stats.status());
  if (global.json) {
    json out = engine::ToJson(*stats);
    out["schema_version"] = store::kSchemaVersion;
    std::cout << engine::Dump(out) << "\n";
    return kExitOk;
  }
  std::cout << "index:     " << stats->database << "\n"
            << "documents: " << stats->documents << "\n"
            << "chunks:    " << stats->chunks << "\n"
            << "bytes:     " << stats->bytes << " ingested, " << stats->database_bytes
            << " on disk\n";
  std::cout << "vectors:   " << stats->vectors;
  if (!stats->vector_model.empty()) std::cout << " (" << stats->vector_model << ")";
  if (stats->vector_bytes > 0) std::cout << ", " << stats->vector_bytes << " bytes on disk";
  std::cout << "\n";
  std::cout << "model:     "
            << (stats->vector_model.empty() ? "none (lexical only)" : stats->vector_model) << "\n";
  if (!stats->documents_by_type.empty()) {
    std::cout << "types:    ";
    for (const auto& [type, n] : stats->documents_by_type) std::cout << " " << type << "=" << n;
    std::cout << "\n";
  }
  if (!stats->documents_by_tag.empty()) {
    std::cout << "tags:     ";
    for (const auto& [tag, n] : stats->documents_by_tag) std::cout << " " << tag << "=" << n;
    std::cout << "\n";
  }
  return kExitOk;
}

// ---- delete ----

struct DeleteCommand {
  std::vector<std::string> targets;
};

int RunDelete(const DeleteCommand& cmd, const GlobalOptions& global) {
  auto config = LoadCommandConfig(global);
  if (!config.ok()) return ReportError(config.status());
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());
  DeleteRequest request;
  request.targets = cmd.targets;
  RequestContext ctx;
  ctx.set_tracer(global.tracer);
  auto response = (*engine)->Delete(request, ctx);
  if (!response.ok()) return ReportError(response.status());
  for (const auto& target : response->not_found) {
    std::cerr << "sieve: " << target << ": no such document in the index\n";
  }
  if (global.json) {
    std::cout << engine::Dump(engine::ToJson(*response)) << "\n";
  } else {
    std::cout << "deleted " << response->deleted << " documents\n";
  }
  return response->not_found.empty() ? kExitOk : kExitInput;
}

// ---- list, show ----

struct ListCommand {
  std::size_t limit = 50;
  std::size_t page = 1;
  std::string prefix;
  std::vector<std::string> tags;
};

int RunList(const ListCommand& cmd, const GlobalOptions& global) {
  auto config = LoadCommandConfig(global);
  if (!config.ok()) return ReportError(config.status());
  auto filter = MakeFilter(cmd.prefix, {}, cmd.tags);
  if (!filter.ok()) return ReportError(filter.status());
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());
  ListDocumentsRequest request;
  request.limit = cmd.limit;
  request.offset = (cmd.page - 1) * cmd.limit;
  request.path_prefix = filter->path_prefix;
  request.tags = cmd.tags;
  RequestContext ctx;
  ctx.set_tracer(global.tracer);
  auto response = (*engine)->ListDocuments(request, ctx);
  if (!response.ok()) return ReportError(response.status());
  if (global.json) {
    json docs = json::array();
    for (const auto& d : response->documents) docs.push_back(engine::ToJson(d));
    std::cout << engine::Dump({{"documents", docs},
                               {"total", response->total},
                               {"offset", request.offset},
                               {"limit", request.limit}})
              << "\n";
    return kExitOk;
  }
  for (const auto& d : response->documents) {
    std::cout << d.id << "\t" << d.type << "\t" << d.chunks << " chunks\t" << d.key;
    if (!d.title.empty()) std::cout << "  \"" << d.title << "\"";
    if (!d.tags.empty()) {
      std::cout << "  [";
      for (std::size_t i = 0; i < d.tags.size(); ++i) std::cout << (i ? "," : "") << d.tags[i];
      std::cout << "]";
    }
    std::cout << "\n";
  }
  const std::size_t shown_end = request.offset + response->documents.size();
  std::cout << "documents " << (response->documents.empty() ? 0 : request.offset + 1) << "-"
            << shown_end << " of " << response->total;
  if (shown_end < response->total) std::cout << " (next: --page " << cmd.page + 1 << ")";
  std::cout << "\n";
  return kExitOk;
}

int RunShow(const std::string& document, const GlobalOptions& global) {
  auto config = LoadCommandConfig(global);
  if (!config.ok()) return ReportError(config.status());
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());
  RequestContext ctx;
  ctx.set_tracer(global.tracer);
  auto detail = (*engine)->ShowDocument(document, ctx);
  if (!detail.ok()) return ReportError(detail.status());
  if (global.json) {
    std::cout << engine::Dump(engine::ToJson(*detail)) << "\n";
    return kExitOk;
  }
  const DocumentSummary& d = detail->document;
  std::cout << "id:       " << d.id << "\n"
            << "key:      " << d.key << "\n"
            << "path:     " << d.source_path << "\n"
            << "type:     " << d.type << "\n"
            << "title:    " << d.title << "\n"
            << "bytes:    " << d.bytes << "\n"
            << "ingested: " << d.ingested_at << " (unix seconds)\n"
            << "tags:    ";
  for (const auto& tag : d.tags) std::cout << " " << tag;
  std::cout << "\nchunks:   " << detail->chunks.size() << "\n";
  for (const auto& c : detail->chunks) {
    std::cout << "\n[" << c.ordinal << "] chunk " << c.chunk_id << ", bytes " << c.begin << "-"
              << c.end;
    if (!c.section.empty()) std::cout << ", section: " << c.section;
    if (c.page > 0) std::cout << ", page " << c.page;
    if (c.line > 0) std::cout << ", line" << engine::LineSuffix(c.line, c.line_end).substr(1);
    std::cout << "\n" << c.text << "\n";
  }
  return kExitOk;
}

// ---- check ----

int RunCheck(bool repair, const GlobalOptions& global) {
  auto config = LoadCommandConfig(global);
  if (!config.ok()) return ReportError(config.status());
  auto engine = OpenEngine(*config, global);
  if (!engine.ok()) return ReportError(engine.status());
  CheckRequest request;
  request.repair = repair;
  RequestContext ctx;
  auto response = (*engine)->Check(request, ctx);
  if (!response.ok()) return ReportError(response.status());
  bool unfixed = false;
  for (const auto& line : response->fixed) unfixed = unfixed || line.starts_with("NOT fixed");
  // Healthy, or repaired: 0; problems left: 2.
  const int exit_code = response->found.empty() || (repair && !unfixed) ? kExitOk : kExitInput;
  if (global.json) {
    json out = {{"index", config::IndexDir(*config).string()},
                {"found", response->found},
                {"fixed", response->fixed},
                {"healthy", exit_code == kExitOk}};
    std::cout << engine::Dump(out) << "\n";
    return exit_code;
  }
  if (response->found.empty()) {
    std::cout << "index is healthy\n";
    return exit_code;
  }
  std::cout << "found " << response->found.size() << " problems:\n";
  for (const auto& line : response->found) std::cout << "  " << line << "\n";
  if (repair) {
    std::cout << "repaired:\n";
    for (const auto& line : response->fixed) std::cout << "  " << line << "\n";
  } else {
    std::cout << "run `sieve check --repair` to fix them\n";
  }
  return exit_code;
}

}  // namespace

Result<Filter> MakeFilter(const std::string& path_prefix, const std::vector<std::string>& types,
                          const std::vector<std::string>& tags) {
  for (const auto& type : types) {
    bool known = false;
    known = text::ParseDocumentType(type).has_value();
    if (!known) {
      return Status::InvalidArgument("--type " + type +
                                     ": unknown type (text, markdown, html, pdf, man, beir)");
    }
  }
  Filter filter;
  if (!path_prefix.empty()) {
    // Stored paths are absolute; a relative prefix means "under this folder of mine".
    filter.path_prefix =
        fs::path(path_prefix).is_absolute() ? path_prefix : store::DocumentKeyForPath(path_prefix);
    if (path_prefix.back() == '/' && filter.path_prefix.back() != '/') filter.path_prefix += '/';
  }
  filter.types = types;
  filter.tags = tags;
  return filter;
}

void RegisterIndexCommands(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto ingest = std::make_shared<IngestCommand>();
  auto* ingest_cmd = app.add_subcommand(
      "ingest",
      "Add files or folders to the index (text, Markdown, HTML, PDF, man pages, BEIR "
      "corpus.jsonl; gzip/bzip2/xz read transparently; the type from the name, else the content). "
      "Folders recurse in sorted order, skipping hidden entries, following links once; unchanged "
      "files are not re-read; documents of files gone from a folder are deleted, renamed files "
      "moved. Files that are not documents are summarised; exit code 2 when a document failed.");
  ingest_cmd->add_option("paths", ingest->paths, "Files and folders")->required();
  ingest_cmd->add_option(
      "--tag", ingest->tags,
      "Tag the documents (repeatable; replaces their tags; without it, tags are kept)");
  ingest_cmd
      ->add_option("--max-tokens", ingest->max_tokens,
                   "Token budget per chunk (default: chunk.max_tokens, 256)")
      ->check(PositiveCount());
  ingest_cmd
      ->add_option("--overlap", ingest->overlap,
                   "Tokens shared by neighbouring chunks (default: chunk.overlap_tokens, 32)")
      ->check(NonNegativeCount());
  ingest_cmd
      ->add_option("--max-file-mb", ingest->max_file_mb,
                   "Skip files larger than this (default: ingest.max_file_mb, 100)")
      ->check(PositiveAmount());
  ingest_cmd->add_option("--embed-model", ingest->embed_model,
                         "Bi-encoder for the new chunks: folder or Hub id (default: the index's, "
                         "else models.embed, BAAI/bge-small-en-v1.5, when cached)");
  AddPrecisionOption(ingest_cmd, ingest->precision);
  ingest_cmd
      ->add_option("--type", ingest->type,
                   "Read every file as this type, whatever its name and content say")
      ->check(CLI::IsMember({"text", "markdown", "html", "pdf", "man", "beir"}));
  ingest_cmd->add_flag("--no-sync", ingest->no_sync,
                       "Do not delete documents of files gone from the folders named");
  ingest_cmd->callback([ingest, &global, &action] {
    action = [ingest, &global] { return RunIngest(*ingest, global); };
  });

  auto search = std::make_shared<SearchCommand>();
  auto* search_cmd = app.add_subcommand(
      "search", "Ranked chunks with citations: BM25 unless --mode says otherwise, no answer");
  search_cmd->add_option("query", search->query, "Free text")->required();
  search_cmd->add_option("-k,--k", search->k, "Number of chunks")
      ->capture_default_str()
      ->check(PositiveCount());
  search_cmd->add_option("--mode", search->mode, "Retrieval: lexical (default), dense or hybrid")
      ->check(CLI::IsMember({"dense", "lexical", "hybrid"}));
  search_cmd->add_flag("--rerank", search->rerank, "Rerank the chunks with the cross-encoder");
  search_cmd->add_option("--path-prefix", search->path_prefix,
                         "Only documents whose path starts with this");
  search_cmd->add_option("--type", search->types,
                         "Only documents of this type (text, markdown, html, pdf, beir; "
                         "repeatable: any of them)");
  search_cmd->add_option("--tag", search->tags, "Only documents with this tag (repeatable: all)");
  search_cmd->callback([search, &global, &action] {
    action = [search, &global] { return RunSearch(*search, global); };
  });

  auto* stats_cmd = app.add_subcommand("stats", "Documents, chunks and size of the index");
  stats_cmd->callback([&global, &action] { action = [&global] { return RunStats(global); }; });

  auto repair = std::make_shared<bool>(false);
  auto* check_cmd = app.add_subcommand(
      "check",
      "Check the index (SQLite integrity, full-text index, duplicate keys, vectors against "
      "chunks); exit code 2 when problems are left");
  check_cmd->add_flag("--repair", *repair,
                      "Fix what can be fixed: duplicates, orphans, indexes, stale or missing "
                      "vectors");
  check_cmd->callback([repair, &global, &action] {
    action = [repair, &global] { return RunCheck(*repair, global); };
  });

  auto list = std::make_shared<ListCommand>();
  auto* list_cmd = app.add_subcommand("list", "Documents of the index, a page at a time");
  list_cmd->add_option("--limit", list->limit, "Documents per page")
      ->capture_default_str()
      ->check(PositiveCount());
  list_cmd->add_option("--page", list->page, "Page to show (1-based)")
      ->capture_default_str()
      ->check(PositiveCount());
  list_cmd->add_option("--prefix", list->prefix, "Only documents whose path starts with this");
  list_cmd->add_option("--tag", list->tags, "Only documents with this tag (repeatable: all)");
  list_cmd->callback(
      [list, &global, &action] { action = [list, &global] { return RunList(*list, global); }; });

  auto show = std::make_shared<std::string>();
  auto* show_cmd =
      app.add_subcommand("show", "One document: its metadata and chunks (by id, key or path)");
  show_cmd->add_option("document", *show, "DOC: id, key or file path")->required();
  show_cmd->callback(
      [show, &global, &action] { action = [show, &global] { return RunShow(*show, global); }; });

  auto remove = std::make_shared<DeleteCommand>();
  auto* delete_cmd = app.add_subcommand(
      "delete",
      "Remove documents (by file path, by key, all records of a BEIR file, or every document "
      "under a folder)");
  delete_cmd->add_option("targets", remove->targets, "PATH or KEY")->required();
  delete_cmd->callback([remove, &global, &action] {
    action = [remove, &global] { return RunDelete(*remove, global); };
  });
}

}  // namespace sieve::cli
