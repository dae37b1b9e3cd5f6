// `sieve tokenize`: show the model inputs a text (or a pair) becomes.
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "models/hub.h"
#include "tokenizer/tokenizer.h"

namespace sieve::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string pair;
  bool has_pair = false;
  std::size_t max_length = 0;
  bool no_special_tokens = false;
};

template <typename T>
std::string JoinValues(const std::vector<T>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ' ';
    out += std::to_string(values[i]);
  }
  return out;
}

int RunTokenize(const TokenizeOptions& options, const GlobalOptions& global) {
  // --model is a folder, or a Hub id already in the Hugging Face cache.
  auto folder = models::ResolveModel(options.model);
  if (!folder.ok()) return ReportError(folder.status());
  auto loaded = tokenizer::LoadTokenizer(*folder);
  if (!loaded.ok()) return ReportError(loaded.status());
  const tokenizer::Tokenizer& tok = **loaded;

  tokenizer::EncodeOptions encode_options;
  encode_options.max_length = options.max_length;
  encode_options.add_special_tokens = !options.no_special_tokens;
  const tokenizer::Encoding encoding =
      options.has_pair ? tok.EncodePair(options.text, options.pair, encode_options)
                       : tok.Encode(options.text, encode_options);
  std::vector<std::string> tokens;
  tokens.reserve(encoding.input_ids.size());
  for (std::int32_t id : encoding.input_ids) tokens.push_back(tok.IdToToken(id));

  if (global.verbose && encoding.truncated()) {
    std::cerr << "sieve: input truncated to " << encoding.input_ids.size() << " of "
              << encoding.untruncated_length << " tokens (--max-length " << options.max_length
              << ")\n";
  }
  if (global.json) {
    nlohmann::json out = {
        {"input_ids", encoding.input_ids},
        {"token_type_ids", encoding.token_type_ids},
        {"attention_mask", encoding.attention_mask},
        {"tokens", tokens},
        {"untruncated_length", encoding.untruncated_length},
        {"truncated", encoding.truncated()},
    };
    // Tokens of a byte-level or broken vocabulary may not be valid UTF-8: replace, never throw.
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::string token_line;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) token_line += ' ';
    token_line += tokens[i];
  }
  std::cout << "tokens:         " << token_line << "\n"
            << "input_ids:      " << JoinValues(encoding.input_ids) << "\n"
            << "token_type_ids: " << JoinValues(encoding.token_type_ids) << "\n"
            << "attention_mask: " << JoinValues(encoding.attention_mask) << "\n";
  if (encoding.truncated()) {
    std::cout << "truncated:      " << encoding.input_ids.size() << " of "
              << encoding.untruncated_length << " tokens kept\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterTokenizeCommand(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* sub = app.add_subcommand(
      "tokenize", "Show the token ids, type ids and attention mask a model gets for a text");
  sub->add_option("--model", options->model,
                  "Model folder (tokenizer.json, vocab.txt or sentencepiece.bpe.model), or a "
                  "Hub id (org/name[@revision]) in the Hugging Face cache")
      ->required();
  sub->add_option("text", options->text, "Text to tokenize")->required();
  auto* pair = sub->add_option("--pair", options->pair,
                               "Second text of a pair (as a cross-encoder sees query + passage)");
  sub->add_option("--max-length", options->max_length,
                  "Truncate to N tokens including special tokens (pairs: longest_first); "
                  "0 = no truncation")
      ->check(NonNegativeCount());
  sub->add_flag("--no-special-tokens", options->no_special_tokens,
                "Leave out [CLS]/[SEP] (or <s>/</s>)");
  sub->callback([options, pair, &global, &action] {
    options->has_pair = pair->count() > 0;
    action = [options, &global] { return RunTokenize(*options, global); };
  });
}

}  // namespace sieve::cli
