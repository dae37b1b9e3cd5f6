// Loading the retrieval models by name (a folder or a Hub id in the Hugging Face cache), with the
// offline rule: a *default* model that is not cached is not an error, the caller carries on
// without it and says so once; a model the user named that cannot be loaded is an error.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "models/encoder.h"

namespace sieve::retrieval {

inline constexpr std::string_view kDefaultEmbedModel = "BAAI/bge-small-en-v1.5";
inline constexpr std::string_view kDefaultRerankModel = "cross-encoder/ms-marco-MiniLM-L-6-v2";

struct ModelRequest {
  std::string spec;       // folder or Hub id ("org/name[@revision]")
  bool required = false;  // the user named it: failing to load it is an error
};

struct LoadedEmbedder {
  std::unique_ptr<models::Embedder> model;  // null: a default model that is not available
  models::ModelInfo identity;               // EmbeddingIdentity(spec, model->info())
  std::string unavailable;                  // why it is null
};

struct LoadedCrossEncoder {
  std::unique_ptr<models::CrossEncoder> model;  // null: a default model that is not available
  std::string unavailable;
};

Result<LoadedEmbedder> LoadEmbedderModel(const ModelRequest& request,
                                         const models::LoadModelOptions& options = {});
Result<LoadedCrossEncoder> LoadCrossEncoderModel(const ModelRequest& request,
                                                 const models::LoadModelOptions& options = {});

// One line for stderr naming the default models that are missing, what the command does instead
// (`fallback`, e.g. "using lexical retrieval and extractive answers scored lexically") and the
// commands that fetch them.
std::string MissingModelsNote(const std::vector<std::string>& specs, std::string_view fallback);

}  // namespace sieve::retrieval
