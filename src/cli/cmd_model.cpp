// `sieve embed` and `sieve rerank`: run a bi-encoder or a cross-encoder from the command line.
#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "cli/command.h"
#include "models/encoder.h"
#include "models/hub.h"

namespace sieve::cli {
namespace {

using Json = nlohmann::json;

// Texts per Embed() call when reading --input, so memory stays bounded on large files.
constexpr std::size_t kInputChunk = 1024;

struct EmbedOptions {
  std::string model;
  std::vector<std::string> texts;
  bool query = false;
  std::size_t max_length = 0;
  std::size_t batch_size = 32;
  std::string input;
  std::string output;
};

struct RerankOptions {
  std::string model;
  std::string query;
  std::vector<std::string> documents;
  std::size_t max_length = 0;
  std::size_t batch_size = 32;
};

// Shortest text that reads back as the same float (JSON-compatible; NaN/inf cannot occur after
// LayerNorm, but would print as null rather than break the JSON).
void AppendFloat(std::string& out, float value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

std::string VectorJson(const std::vector<float>& vector) {
  std::string out = "[";
  for (std::size_t i = 0; i < vector.size(); ++i) {
    if (i > 0) out += ',';
    AppendFloat(out, vector[i]);
  }
  return out + "]";
}

std::string Dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<std::filesystem::path> ResolveModelFolder(const std::string& spec) {
  return models::ResolveModel(spec);
}

models::LoadModelOptions LoadOptions(std::size_t max_length, std::size_t batch_size,
                                     const GlobalOptions& global) {
  models::LoadModelOptions options;
  options.max_length = max_length;
  options.batch_size = batch_size;
  options.verbose = global.verbose;
  options.logger = global.logger;
  return options;
}

// One input record of --input: the text, and an id when a JSONL line carries one.
struct InputRecord {
  std::string text;
  Json id;  // null when absent
};

// Reads up to kInputChunk records. A line starting with '{' is JSONL (needs a string "text");
// any other line is the text itself (an empty line embeds the empty string).
Status ReadChunk(std::istream& in, const std::string& name, std::size_t& line_number,
                 std::vector<InputRecord>& records) {
  records.clear();
  std::string line;
  while (records.size() < kInputChunk && std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = name + ":" + std::to_string(line_number);
    if (!line.empty() && line.front() == '{') {
      Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (json.is_discarded() || !json.is_object()) {
        return Status::InvalidInput(where + ": line starts with '{' but is not a JSON object");
      }
      auto text = json.find("text");
      if (text == json.end() || !text->is_string()) {
        return Status::InvalidInput(where + ": JSON line has no string \"text\" field");
      }
      InputRecord record{text->get<std::string>(), nullptr};
      for (const char* key : {"id", "_id"}) {
        if (json.contains(key)) {
          record.id = json[key];
          break;
        }
      }
      records.push_back(std::move(record));
    } else {
      records.push_back({line, nullptr});
    }
  }
  if (in.bad()) return Status::IoError(name + ": read error");
  return Status::Ok();
}

int EmbedInputFile(models::Embedder& embedder, const EmbedOptions& options) {
  std::ifstream in(options.input, std::ios::binary);
  if (!in) return ReportError(Status::NotFound(options.input + ": cannot open input file"));
  std::ofstream file_out;
  if (!options.output.empty()) {
    file_out.open(options.output, std::ios::binary | std::ios::trunc);
    if (!file_out) return ReportError(Status::IoError(options.output + ": cannot write"));
  }
  std::ostream& out = options.output.empty() ? std::cout : file_out;
  std::size_t line_number = 0;
  std::size_t index = 0;
  std::vector<InputRecord> records;
  while (true) {
    Status read = ReadChunk(in, options.input, line_number, records);
    if (!read.ok()) return ReportError(read);
    if (records.empty()) break;
    std::vector<std::string> texts;
    texts.reserve(records.size());
    for (const InputRecord& record : records) texts.push_back(record.text);
    auto vectors = embedder.Embed(texts, options.query);
    if (!vectors.ok()) return ReportError(vectors.status());
    for (std::size_t i = 0; i < records.size(); ++i, ++index) {
      std::string line = "{\"index\":" + std::to_string(index);
      if (!records[i].id.is_null()) line += ",\"id\":" + Dump(records[i].id);
      line += ",\"embedding\":" + VectorJson((*vectors)[i]) + "}\n";
      out << line;
    }
    if (!out) return ReportError(Status::IoError(options.output + ": write failed"));
  }
  out.flush();
  if (!out) return ReportError(Status::IoError(options.output + ": write failed"));
  return kExitOk;
}

int RunEmbed(const EmbedOptions& options, const GlobalOptions& global) {
  if (options.input.empty() == options.texts.empty()) {
    return ReportError(
        Status::InvalidArgument("embed: give either TEXT arguments or --input FILE (not both)"));
  }
  if (!options.output.empty() && options.input.empty()) {
    return ReportError(Status::InvalidArgument("embed: --output goes with --input"));
  }
  auto folder = ResolveModelFolder(options.model);
  if (!folder.ok()) return ReportError(folder.status());
  auto embedder =
      models::LoadEmbedder(*folder, LoadOptions(options.max_length, options.batch_size, global));
  if (!embedder.ok()) return ReportError(embedder.status());
  if (!options.input.empty()) return EmbedInputFile(**embedder, options);

  auto vectors = (*embedder)->Embed(options.texts, options.query);
  if (!vectors.ok()) return ReportError(vectors.status());
  const models::ModelInfo& info = (*embedder)->info();
  if (global.json) {
    std::string out = "{\"model\":" + Dump(info.id) +
                      ",\"dimension\":" + std::to_string(info.dimension) +
                      ",\"pooling\":" + Dump(info.pooling) +
                      ",\"normalized\":" + (info.normalize ? "true" : "false") +
                      ",\"query\":" + (options.query ? "true" : "false") + ",\"embeddings\":[";
    for (std::size_t i = 0; i < vectors->size(); ++i) {
      if (i > 0) out += ',';
      out += VectorJson((*vectors)[i]);
    }
    std::cout << out << "]}\n";
    return kExitOk;
  }
  for (const std::vector<float>& vector : *vectors) {
    std::string line;
    for (std::size_t i = 0; i < vector.size(); ++i) {
      if (i > 0) line += ' ';
      AppendFloat(line, vector[i]);
    }
    std::cout << line << "\n";
  }
  return kExitOk;
}

int RunRerank(const RerankOptions& options, const GlobalOptions& global) {
  auto folder = ResolveModelFolder(options.model);
  if (!folder.ok()) return ReportError(folder.status());
  auto cross = models::LoadCrossEncoder(
      *folder, LoadOptions(options.max_length, options.batch_size, global));
  if (!cross.ok()) return ReportError(cross.status());
  auto scores = (*cross)->Score(options.query, options.documents);
  if (!scores.ok()) return ReportError(scores.status());
  std::vector<std::size_t> order(scores->size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return (*scores)[a].score > (*scores)[b].score;
  });
  if (global.json) {
    std::string out = "{\"model\":" + Dump((*cross)->info().id) +
                      ",\"query\":" + Dump(options.query) + ",\"results\":[";
    for (std::size_t rank = 0; rank < order.size(); ++rank) {
      const std::size_t i = order[rank];
      if (rank > 0) out += ',';
      out += "{\"index\":" + std::to_string(i) + ",\"score\":";
      AppendFloat(out, (*scores)[i].score);
      out += ",\"logit\":";
      AppendFloat(out, (*scores)[i].logit);
      out += "}";
    }
    std::cout << out << "]}\n";
    return kExitOk;
  }
  for (std::size_t rank = 0; rank < order.size(); ++rank) {
    const std::size_t i = order[rank];
    std::string line = std::to_string(rank + 1) + "\t" + std::to_string(i) + "\t";
    AppendFloat(line, (*scores)[i].score);
    line += "\t";
    AppendFloat(line, (*scores)[i].logit);
    std::string preview = options.documents[i].substr(0, 60);
    std::replace(preview.begin(), preview.end(), '\n', ' ');
    std::cout << line << "\t" << preview << "\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterModelCommands(CLI::App& app, const GlobalOptions& global, Action& action) {
  const char* model_help = "Model folder (Hub layout) or a Hub id found in the Hugging Face cache";
  {
    auto options = std::make_shared<EmbedOptions>();
    auto* sub = app.add_subcommand(
        "embed", "Embed texts with a bi-encoder (one vector per text; --input for bulk JSONL)");
    sub->add_option("--model", options->model, model_help)->required();
    sub->add_option("texts", options->texts, "Texts to embed");
    sub->add_flag("--query", options->query, "Apply the model's query prompt (e.g. BGE's)");
    sub->add_option("--max-length", options->max_length,
                    "Truncate inputs to N tokens (default: the model's max_seq_length)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--batch-size", options->batch_size, "Sequences per forward pass")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    sub->add_option("--input", options->input,
                    "File with one text per line, or JSONL with a \"text\" field (and optional "
                    "\"id\"); writes JSONL {index, id, embedding}");
    sub->add_option("--output", options->output, "Write the JSONL here instead of stdout");
    sub->callback([options, &global, &action] {
      action = [options, &global] { return RunEmbed(*options, global); };
    });
  }
  {
    auto options = std::make_shared<RerankOptions>();
    auto* sub = app.add_subcommand(
        "rerank", "Score documents against a query with a cross-encoder, best first");
    sub->add_option("--model", options->model, model_help)->required();
    sub->add_option("query", options->query, "The query")->required();
    sub->add_option("documents", options->documents, "Documents to score")->required();
    sub->add_option("--max-length", options->max_length,
                    "Truncate each (query, document) pair to N tokens, longest_first "
                    "(default: the model's maximum)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--batch-size", options->batch_size, "Pairs per forward pass")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    sub->callback([options, &global, &action] {
      action = [options, &global] { return RunRerank(*options, global); };
    });
  }
}

}  // namespace sieve::cli
