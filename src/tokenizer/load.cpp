#include <string>

#include "core/file.h"
#include "tokenizer/loaders.h"

namespace sieve::tokenizer {

Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::filesystem::path& model_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(model_dir, ec)) {
    return Status::NotFound(model_dir.string() + ": no such model folder");
  }
  if (!std::filesystem::is_directory(model_dir, ec)) {
    return Status::InvalidArgument(model_dir.string() + ": not a folder (a model is a folder)");
  }
  // XLM-RoBERTa folders also ship a tokenizer.json (Unigram + Precompiled normalizer); the
  // SentencePiece model is the original and libsentencepiece reads it exactly.
  const auto spm_path = model_dir / "sentencepiece.bpe.model";
  if (std::filesystem::exists(spm_path, ec)) {
    SIEVE_ASSIGN_OR_RETURN(auto tokenizer, LoadSentencePieceTokenizer(spm_path));
    return std::unique_ptr<Tokenizer>(std::move(tokenizer));
  }
  const auto json_path = model_dir / "tokenizer.json";
  if (std::filesystem::exists(json_path, ec)) {
    SIEVE_ASSIGN_OR_RETURN(std::string text, ReadFile(json_path, 1ULL << 30));
    SIEVE_ASSIGN_OR_RETURN(auto tokenizer, ParseTokenizerJsonText(text, json_path.string()));
    tokenizer->set_model_max_length(ModelMaxLengthFromConfig(model_dir));
    return std::unique_ptr<Tokenizer>(std::move(tokenizer));
  }
  if (std::filesystem::exists(model_dir / "vocab.txt", ec)) {
    SIEVE_ASSIGN_OR_RETURN(auto tokenizer, LoadVocabTxtTokenizer(model_dir));
    return std::unique_ptr<Tokenizer>(std::move(tokenizer));
  }
  return Status::NotFound(model_dir.string() +
                          ": no tokenizer found (looked for sentencepiece.bpe.model, "
                          "tokenizer.json, vocab.txt)");
}

}  // namespace sieve::tokenizer
