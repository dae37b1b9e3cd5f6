// `sieve embed` and `sieve rerank`: run a bi-encoder or a cross-encoder from the command line.
#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/engine_cli.h"

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
  std::optional<std::string> precision;
};

struct RerankOptions {
  std::string model;
  std::string query;
  std::vector<std::string> documents;
  std::size_t max_length = 0;
  std::size_t batch_size = 32;
  std::optional<std::string> precision;
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

// An engine with just the named model: `key` is "models.embed" or "models.rerank".
Result<std::unique_ptr<Engine>> ModelEngine(const char* key, const std::string& model,
                                            std::size_t max_length, std::size_t batch_size,
                                            const std::optional<std::string>& precision,
                                            const GlobalOptions& global) {
  ConfigFlags flags;
  flags.Set(key, model);
  if (precision) flags.Set("models.precision", *precision);
  SIEVE_ASSIGN_OR_RETURN(auto config, LoadCommandConfig(global, flags.overrides));
  return OpenEngine(config, global, [&](EngineOptions& o) {
    o.max_length = max_length;
    o.batch_size = batch_size;
  });
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

int EmbedInputFile(Engine& engine, const EmbedOptions& options, Tracer* tracer) {
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
    RequestContext ctx;
    ctx.set_tracer(tracer);
    auto embedded = engine.Embed({std::move(texts), options.query}, ctx);
    if (!embedded.ok()) return ReportError(embedded.status());
    for (std::size_t i = 0; i < records.size(); ++i, ++index) {
      std::string line = "{\"index\":" + std::to_string(index);
      if (!records[i].id.is_null()) line += ",\"id\":" + Dump(records[i].id);
      line += ",\"embedding\":" + VectorJson(embedded->vectors[i]) + "}\n";
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
  auto engine = ModelEngine("models.embed", options.model, options.max_length, options.batch_size,
                            options.precision, global);
  if (!engine.ok()) return ReportError(engine.status());
  if (!options.input.empty()) return EmbedInputFile(**engine, options, global.tracer);

  RequestContext ctx;
  ctx.set_tracer(global.tracer);
  auto embedded = (*engine)->Embed({options.texts, options.query}, ctx);
  if (!embedded.ok()) return ReportError(embedded.status());
  const std::vector<std::vector<float>>* vectors = &embedded->vectors;
  if (global.json) {
    std::string out = "{\"model\":" + Dump(embedded->model) +
                      ",\"dimension\":" + std::to_string(embedded->dimension) +
                      ",\"pooling\":" + Dump(embedded->pooling) +
                      ",\"normalized\":" + (embedded->normalized ? "true" : "false") +
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
  auto engine = ModelEngine("models.rerank", options.model, options.max_length, options.batch_size,
                            options.precision, global);
  if (!engine.ok()) return ReportError(engine.status());
  RequestContext ctx;
  ctx.set_tracer(global.tracer);
  auto reranked = (*engine)->Rerank({options.query, options.documents, 0}, ctx);
  if (!reranked.ok()) return ReportError(reranked.status());
  const std::vector<RerankResult>& results = reranked->results;
  if (global.json) {
    std::string out = "{\"model\":" + Dump(reranked->model) + ",\"query\":" + Dump(options.query) +
                      ",\"results\":[";
    for (std::size_t rank = 0; rank < results.size(); ++rank) {
      if (rank > 0) out += ',';
      out += "{\"index\":" + std::to_string(results[rank].index) + ",\"score\":";
      AppendFloat(out, static_cast<float>(results[rank].score));
      out += ",\"logit\":";
      AppendFloat(out, static_cast<float>(results[rank].logit));
      out += "}";
    }
    std::cout << out << "]}\n";
    return kExitOk;
  }
  for (std::size_t rank = 0; rank < results.size(); ++rank) {
    const std::size_t i = results[rank].index;
    std::string line = std::to_string(rank + 1) + "\t" + std::to_string(i) + "\t";
    AppendFloat(line, static_cast<float>(results[rank].score));
    line += "\t";
    AppendFloat(line, static_cast<float>(results[rank].logit));
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
        ->check(NonNegativeCount());
    sub->add_option("--batch-size", options->batch_size, "Sequences per forward pass")
        ->capture_default_str()
        ->check(PositiveCount());
    sub->add_option("--input", options->input,
                    "File with one text per line, or JSONL with a \"text\" field (and optional "
                    "\"id\"); writes JSONL {index, id, embedding}");
    sub->add_option("--output", options->output, "Write the JSONL here instead of stdout");
    AddPrecisionOption(sub, options->precision);
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
        ->check(NonNegativeCount());
    sub->add_option("--batch-size", options->batch_size, "Pairs per forward pass")
        ->capture_default_str()
        ->check(PositiveCount());
    AddPrecisionOption(sub, options->precision);
    sub->callback([options, &global, &action] {
      action = [options, &global] { return RunRerank(*options, global); };
    });
  }
}

}  // namespace sieve::cli
