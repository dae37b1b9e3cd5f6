// `sieve ingest | search | stats | delete`: build, query and maintain an index.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/progress.h"
#include "retrieval/dense_index.h"
#include "retrieval/lexical_retriever.h"
#include "retrieval/model_loading.h"
#include "store/document_store.h"
#include "store/ingest.h"
#include "store/vector_index.h"
#include "text/document.h"

namespace sieve::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// JSON text of a value that may hold bytes that are not UTF-8 (paths): replaced, never thrown.
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::unique_ptr<store::DocumentStore>> OpenExisting(const GlobalOptions& global) {
  store::OpenOptions options;
  options.create = false;
  return store::DocumentStore::Open(global.index_dir, options);
}

std::string FormatSeconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", seconds);
  return buf;
}

// ---- ingest ----

struct IngestCommand {
  std::vector<std::string> paths;
  std::vector<std::string> tags;
  std::size_t max_tokens = 256;
  std::size_t overlap = 32;
  double max_file_mb = 100;
  std::string embed_model;  // "" = the index's model, else the default (skipped when offline)
};

// What embedding the new chunks did (after the SQLite transactions).
struct EmbedOutcome {
  std::string model;  // DescribeModel of the model used; "" when none
  std::size_t embedded = 0;
  std::size_t removed = 0;  // vectors of chunks that no longer exist
  std::string skipped;      // why nothing was embedded
};

// Embeds every chunk without a vector (and drops vectors of deleted chunks) with the named
// model, or the index's, or the default; a default that is not cached is skipped with a note.
Result<EmbedOutcome> EmbedNewChunks(store::DocumentStore& index, const std::string& named,
                                    const GlobalOptions& global) {
  retrieval::DenseIndexOptions options;
  options.embed_model = named;
  options.load.verbose = global.verbose;
  options.load.logger = global.logger;
  std::unique_ptr<ProgressBar> bar;
  options.sync.progress = [&bar](std::size_t done, std::size_t total) {
    if (!bar) bar = std::make_unique<ProgressBar>(total, "chunks embedded");
    bar->Update(done);
  };
  SIEVE_ASSIGN_OR_RETURN(auto dense, retrieval::OpenDenseIndex(index, global.index_dir, options));
  bar.reset();
  EmbedOutcome outcome;
  if (!dense.available()) {
    outcome.skipped = retrieval::MissingModelsNote(
        {dense.model_spec},
        "chunks were not embedded (lexical search works; ask and eval embed them once the "
        "model is available)");
    return outcome;
  }
  outcome.model = store::DescribeModel(dense.embedder.identity);
  outcome.embedded = dense.repaired.missing_embedded;
  outcome.removed = dense.repaired.stale_removed;
  return outcome;
}

// Drops the vectors of chunks the store no longer has (no model needed for that).
Status PruneVectors(store::DocumentStore& index, const GlobalOptions& global) {
  SIEVE_ASSIGN_OR_RETURN(auto vectors, store::VectorIndex::Open(global.index_dir));
  if (!vectors->model() || vectors->size() == 0) return Status::Ok();
  SIEVE_ASSIGN_OR_RETURN(auto chunk_ids, index.ListChunkIds());
  const std::vector<std::int64_t> vector_ids = vectors->Ids();
  std::vector<std::int64_t> stale;
  std::set_difference(vector_ids.begin(), vector_ids.end(), chunk_ids.begin(), chunk_ids.end(),
                      std::back_inserter(stale));
  if (stale.empty()) return Status::Ok();
  SIEVE_RETURN_IF_ERROR(vectors->Remove(stale));
  return vectors->Save();
}

int RunIngest(const IngestCommand& cmd, const GlobalOptions& global) {
  if (cmd.max_tokens == 0) return ReportError(Status::InvalidArgument("--max-tokens must be > 0"));
  if (cmd.overlap >= cmd.max_tokens) {
    return ReportError(Status::InvalidArgument("--overlap must be smaller than --max-tokens"));
  }
  if (!(cmd.max_file_mb > 0)) {
    return ReportError(Status::InvalidArgument("--max-file-mb must be > 0"));
  }
  for (const auto& tag : cmd.tags) {
    if (tag.empty()) return ReportError(Status::InvalidArgument("--tag must not be empty"));
  }
  auto start = std::chrono::steady_clock::now();
  auto opened = store::DocumentStore::Open(global.index_dir);
  if (!opened.ok()) return ReportError(opened.status());
  store::DocumentStore& index = **opened;

  store::IngestOptions options;
  options.chunking.max_tokens = cmd.max_tokens;
  options.chunking.overlap_tokens = cmd.overlap;
  options.max_file_bytes = static_cast<std::uint64_t>(cmd.max_file_mb * 1024 * 1024);
  options.tags = cmd.tags;

  std::vector<fs::path> paths(cmd.paths.begin(), cmd.paths.end());
  store::IngestPlan plan = store::PlanIngest(paths);
  json skipped = json::array();
  json ignored = json::array();
  for (const auto& error : plan.errors) {
    std::cerr << "sieve: skipped " << error.message() << "\n";
    skipped.push_back({{"reason", error.message()}});
  }
  for (const auto& file : plan.ignored) {
    std::cerr << "sieve: note: ignored " << file.string() << ": unknown file type\n";
    ignored.push_back(file.string());
  }

  store::FileIngestReport total;
  std::size_t files_done = 0;
  ProgressBar progress(plan.files.size(), "files");
  for (std::size_t i = 0; i < plan.files.size(); ++i) {
    const fs::path& file = plan.files[i];
    progress.Update(i, file.string());
    auto report = store::IngestFile(index, file, options);
    if (!report.ok()) {
      progress.Clear();
      std::cerr << "sieve: skipped " << report.status().message() << "\n";
      skipped.push_back({{"path", file.string()}, {"reason", report.status().message()}});
      continue;
    }
    ++files_done;
    total.documents_added += report->documents_added;
    total.documents_replaced += report->documents_replaced;
    total.documents_unchanged += report->documents_unchanged;
    total.documents_removed += report->documents_removed;
    total.chunks_written += report->chunks_written;
    total.invalid_utf8_replaced += report->invalid_utf8_replaced;
    total.bytes += report->bytes;
    if (global.verbose && report->invalid_utf8_replaced > 0) {
      progress.Clear();
      std::cerr << "sieve: note: " << file.string() << ": " << report->invalid_utf8_replaced
                << " invalid UTF-8 bytes replaced\n";
    }
  }
  progress.Update(plan.files.size());
  progress.Clear();
  auto embedded = EmbedNewChunks(index, cmd.embed_model, global);
  if (!embedded.ok()) return ReportError(embedded.status());
  if (!embedded->skipped.empty()) std::cerr << "sieve: note: " << embedded->skipped << "\n";
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int exit_code = skipped.empty() ? kExitOk : kExitInput;
  if (global.json) {
    json out = {{"index", global.index_dir},
                {"files", files_done},
                {"documents", total.documents()},
                {"added", total.documents_added},
                {"replaced", total.documents_replaced},
                {"unchanged", total.documents_unchanged},
                {"removed", total.documents_removed},
                {"chunks", total.chunks_written},
                {"bytes", total.bytes},
                {"invalid_utf8_replaced", total.invalid_utf8_replaced},
                {"seconds", seconds},
                {"skipped", skipped},
                {"ignored", ignored},
                {"embedded", embedded->embedded},
                {"embed_model", embedded->model.empty() ? json(nullptr) : json(embedded->model)}};
    std::cout << Dump(out) << "\n";
    return exit_code;
  }
  std::cout << "ingested " << files_done << " files: " << total.documents() << " documents ("
            << total.documents_added << " new, " << total.documents_replaced << " changed, "
            << total.documents_unchanged << " unchanged";
  if (total.documents_removed) std::cout << ", " << total.documents_removed << " removed";
  std::cout << "), " << total.chunks_written << " chunks, " << total.bytes << " bytes, "
            << FormatSeconds(seconds) << " s";
  if (!skipped.empty()) std::cout << "; " << skipped.size() << " skipped";
  std::cout << "\n";
  if (!embedded->model.empty()) {
    std::cout << "embedded " << embedded->embedded << " chunks with " << embedded->model << "\n";
  }
  return exit_code;
}

// ---- search ----

struct SearchCommand {
  std::string query;
  std::size_t k = 10;
  std::string path_prefix;
  std::vector<std::string> types;
  std::vector<std::string> tags;
};

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsUtf8Continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// About `max_bytes` of the chunk around the first query word it contains, on one line.
std::string MakeSnippet(const std::string& text, const std::string& query,
                        std::size_t max_bytes = 220) {
  std::string lower = Lower(text);
  std::size_t hit = std::string::npos;
  std::string word;
  auto consider = [&](const std::string& w) {
    if (w.size() < 3) return;
    // Stemmed matches: "wings" finds "wing" through its first five letters.
    std::string probe = w.size() > 5 ? w.substr(0, 5) : w;
    hit = std::min(hit, lower.find(probe));
  };
  for (char c : Lower(query)) {
    if (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80) {
      word += c;
    } else {
      consider(word);
      word.clear();
    }
  }
  consider(word);
  std::size_t begin = 0;
  if (hit != std::string::npos && hit > max_bytes / 3) {
    begin = hit - max_bytes / 3;
    while (begin < hit && text[begin] != ' ' && text[begin] != '\n') ++begin;
  }
  while (begin < text.size() && IsUtf8Continuation(text[begin])) ++begin;
  std::size_t end = std::min(text.size(), begin + max_bytes);
  while (end < text.size() && IsUtf8Continuation(text[end])) --end;
  std::string snippet;
  if (begin > 0) snippet += "...";
  bool space = false;
  for (std::size_t i = begin; i < end; ++i) {
    char c = text[i];
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = true;
      continue;
    }
    if (space && !snippet.empty() && snippet != "...") snippet += ' ';
    space = false;
    snippet += c;
  }
  if (end < text.size()) snippet += "...";
  return snippet;
}

Status CheckTypes(const std::vector<std::string>& types) {
  for (const auto& type : types) {
    bool known = false;
    for (auto t :
         {text::DocumentType::kText, text::DocumentType::kMarkdown, text::DocumentType::kHtml,
          text::DocumentType::kPdf, text::DocumentType::kBeir}) {
      known = known || type == text::DocumentTypeName(t);
    }
    if (!known) {
      return Status::InvalidArgument("--type " + type +
                                     ": unknown type (text, markdown, html, pdf, beir)");
    }
  }
  return Status::Ok();
}

int RunSearch(const SearchCommand& cmd, const GlobalOptions& global) {
  if (cmd.query.find_first_not_of(" \t\n") == std::string::npos) {
    return ReportError(Status::InvalidArgument("empty query"));
  }
  if (cmd.k == 0) return ReportError(Status::InvalidArgument("--k must be > 0"));
  Status types_ok = CheckTypes(cmd.types);
  if (!types_ok.ok()) return ReportError(types_ok);
  auto opened = OpenExisting(global);
  if (!opened.ok()) return ReportError(opened.status());
  store::DocumentStore& index = **opened;

  retrieval::SearchRequest request;
  request.query = cmd.query;
  request.k = cmd.k;
  if (!cmd.path_prefix.empty()) {
    // Stored paths are absolute; a relative prefix means "under this folder of mine".
    request.filter.path_prefix = fs::path(cmd.path_prefix).is_absolute()
                                     ? cmd.path_prefix
                                     : store::DocumentKeyForPath(cmd.path_prefix);
    if (cmd.path_prefix.back() == '/' && request.filter.path_prefix.back() != '/') {
      request.filter.path_prefix += '/';
    }
  }
  request.filter.types = cmd.types;
  request.filter.tags = cmd.tags;
  retrieval::LexicalRetriever retriever(index);
  auto hits = retriever.Search(request);
  if (!hits.ok()) return ReportError(hits.status());
  std::vector<std::int64_t> ids;
  for (const auto& hit : *hits) ids.push_back(hit.chunk_id);
  auto chunks = index.GetChunks(ids);
  if (!chunks.ok()) return ReportError(chunks.status());

  json results = json::array();
  for (std::size_t i = 0; i < hits->size() && i < chunks->size(); ++i) {
    const retrieval::Hit& hit = (*hits)[i];
    const store::ChunkRecord& chunk = (*chunks)[i];
    std::string snippet = MakeSnippet(chunk.text, cmd.query);
    if (global.json) {
      results.push_back({{"rank", i + 1},
                         {"chunk_id", chunk.chunk_id},
                         {"score", hit.score},
                         {"bm25", hit.stages.bm25.value_or(0)},
                         {"path", chunk.source_path},
                         {"key", chunk.doc_key},
                         {"title", chunk.title},
                         {"type", chunk.type},
                         {"section", chunk.section},
                         {"page", chunk.page},
                         {"begin", chunk.begin},
                         {"end", chunk.end},
                         {"snippet", snippet}});
      continue;
    }
    char score[32];
    std::snprintf(score, sizeof score, "%.3f", hit.score);
    std::cout << i + 1 << ". " << score << "  " << chunk.source_path;
    if (chunk.doc_key != chunk.source_path) std::cout << " [" << chunk.doc_key << "]";
    if (!chunk.section.empty()) std::cout << "  section: " << chunk.section;
    if (chunk.page > 0) std::cout << "  page " << chunk.page;
    std::cout << "\n   " << snippet << "\n";
  }
  if (global.json) {
    std::cout << Dump({{"query", cmd.query}, {"hits", results}}) << "\n";
  } else if (hits->empty()) {
    std::cout << "no matches\n";
  }
  return kExitOk;
}

// ---- stats ----

int RunStats(const GlobalOptions& global) {
  auto opened = OpenExisting(global);
  if (!opened.ok()) return ReportError(opened.status());
  store::DocumentStore& index = **opened;
  auto stats = index.Stats();
  if (!stats.ok()) return ReportError(stats.status());
  if (global.json) {
    json by_type = json::object();
    for (const auto& [type, n] : stats->documents_by_type) by_type[type] = n;
    json by_tag = json::object();
    for (const auto& [tag, n] : stats->documents_by_tag) by_tag[tag] = n;
    std::cout << Dump({{"index", global.index_dir},
                       {"database", index.database_path().string()},
                       {"documents", stats->documents},
                       {"chunks", stats->chunks},
                       {"bytes", stats->bytes},
                       {"database_bytes", stats->database_bytes},
                       {"schema_version", store::kSchemaVersion},
                       {"types", by_type},
                       {"tags", by_tag}})
              << "\n";
    return kExitOk;
  }
  std::cout << "index:     " << index.database_path().string() << "\n"
            << "documents: " << stats->documents << "\n"
            << "chunks:    " << stats->chunks << "\n"
            << "bytes:     " << stats->bytes << " ingested, " << stats->database_bytes
            << " on disk\n";
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

// Keys a PATH|KEY argument names: the key itself, the document of that file, or every record of
// that BEIR file.
Result<std::vector<std::string>> ResolveTargets(store::DocumentStore& index,
                                                const std::string& target) {
  SIEVE_ASSIGN_OR_RETURN(auto as_key, index.FindDocument(target));
  if (as_key) return std::vector<std::string>{target};
  std::string path_key = store::DocumentKeyForPath(target);
  SIEVE_ASSIGN_OR_RETURN(auto as_path, index.FindDocument(path_key));
  if (as_path) return std::vector<std::string>{path_key};
  return index.KeysFromSource(path_key);
}

int RunDelete(const DeleteCommand& cmd, const GlobalOptions& global) {
  auto opened = OpenExisting(global);
  if (!opened.ok()) return ReportError(opened.status());
  store::DocumentStore& index = **opened;
  std::size_t deleted = 0;
  json missing = json::array();
  for (const auto& target : cmd.targets) {
    auto keys = ResolveTargets(index, target);
    if (!keys.ok()) return ReportError(keys.status());
    if (keys->empty()) {
      std::cerr << "sieve: " << target << ": no such document in the index\n";
      missing.push_back(target);
      continue;
    }
    auto txn = index.BeginTransaction();
    if (!txn.ok()) return ReportError(txn.status());
    for (const auto& key : *keys) {
      auto removed = index.DeleteDocument(key);
      if (!removed.ok()) return ReportError(removed.status());
      deleted += *removed ? 1 : 0;
    }
    Status committed = txn->Commit();
    if (!committed.ok()) return ReportError(committed);
  }
  // The vectors of the deleted chunks go too (a crash before this is repaired on next open).
  Status pruned = PruneVectors(index, global);
  if (!pruned.ok()) return ReportError(pruned);
  if (global.json) {
    std::cout << Dump({{"deleted", deleted}, {"not_found", missing}}) << "\n";
  } else {
    std::cout << "deleted " << deleted << " documents\n";
  }
  return missing.empty() ? kExitOk : kExitInput;
}

}  // namespace

void RegisterIndexCommands(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto ingest = std::make_shared<IngestCommand>();
  auto* ingest_cmd = app.add_subcommand(
      "ingest",
      "Add files or folders to the index (txt, md, html, pdf, BEIR corpus.jsonl). Folders "
      "recurse in sorted order, skipping hidden entries; unchanged files are not re-read. Exit "
      "code 2 when anything was skipped.");
  ingest_cmd->add_option("paths", ingest->paths, "Files and folders")->required();
  ingest_cmd->add_option(
      "--tag", ingest->tags,
      "Tag the documents (repeatable; replaces their tags; without it, tags are kept)");
  ingest_cmd->add_option("--max-tokens", ingest->max_tokens, "Token budget per chunk")
      ->capture_default_str();
  ingest_cmd->add_option("--overlap", ingest->overlap, "Tokens shared by neighbouring chunks")
      ->capture_default_str();
  ingest_cmd->add_option("--max-file-mb", ingest->max_file_mb, "Skip files larger than this")
      ->capture_default_str();
  ingest_cmd
      ->add_option("--embed-model", ingest->embed_model,
                   "Bi-encoder for the new chunks: folder or Hub id (default: the index's, "
                   "else BAAI/bge-small-en-v1.5 when cached)")
      ->envname("SIEVE_EMBED_MODEL");
  ingest_cmd->callback([ingest, &global, &action] {
    action = [ingest, &global] { return RunIngest(*ingest, global); };
  });

  auto search = std::make_shared<SearchCommand>();
  auto* search_cmd = app.add_subcommand("search", "BM25 search: ranked chunks with citations");
  search_cmd->add_option("query", search->query, "Free text")->required();
  search_cmd->add_option("-k,--k", search->k, "Number of chunks")->capture_default_str();
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

  auto remove = std::make_shared<DeleteCommand>();
  auto* delete_cmd = app.add_subcommand(
      "delete", "Remove documents (by file path, by key, or all records of a BEIR file)");
  delete_cmd->add_option("targets", remove->targets, "PATH or KEY")->required();
  delete_cmd->callback([remove, &global, &action] {
    action = [remove, &global] { return RunDelete(*remove, global); };
  });
}

}  // namespace sieve::cli
