// Internal to the tokenizer stage: the three ways a model folder describes its tokenizer.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "tokenizer/pipeline.h"

namespace sieve::tokenizer {

// tokenizer.json text; `source` names it in error messages.
Result<std::unique_ptr<PipelineTokenizer>> ParseTokenizerJsonText(std::string_view json_text,
                                                                  const std::string& source);

// vocab.txt + tokenizer_config.json (optional): what BertTokenizerFast builds from them.
Result<std::unique_ptr<PipelineTokenizer>> LoadVocabTxtTokenizer(
    const std::filesystem::path& model_dir);

// sentencepiece.bpe.model through libsentencepiece, with XLM-RoBERTa's ids and templates.
Result<std::unique_ptr<PipelineTokenizer>> LoadSentencePieceTokenizer(
    const std::filesystem::path& model_path);

// model_max_length of tokenizer_config.json (0 when absent or not a sane integer).
std::size_t ModelMaxLengthFromConfig(const std::filesystem::path& model_dir);

}  // namespace sieve::tokenizer
