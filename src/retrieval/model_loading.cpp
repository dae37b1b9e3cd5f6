#include "retrieval/model_loading.h"

#include "models/hub.h"
#include "retrieval/vector_sync.h"

namespace sieve::retrieval {

namespace {

// The folder for a spec. A default Hub model that is not cached gives "" and the reason; a
// missing folder is an error even when nobody named it (e.g. the folder recorded with an index).
Result<std::filesystem::path> ResolveSpec(const ModelRequest& request, std::string* unavailable) {
  if (request.spec.empty()) return Status::InvalidArgument("empty model name");
  auto folder = models::ResolveModel(request.spec);
  if (folder.ok()) return folder;
  // Only a default Hub model may be missing; a folder is never a default to fall back from.
  if (!request.required && folder.status().code() == StatusCode::kNotFound &&
      !models::LooksLikeModelPath(request.spec)) {
    *unavailable = folder.status().message();
    return std::filesystem::path();
  }
  return folder.status();
}

}  // namespace

Result<LoadedEmbedder> LoadEmbedderModel(const ModelRequest& request,
                                         const models::LoadModelOptions& options) {
  LoadedEmbedder loaded;
  SIEVE_ASSIGN_OR_RETURN(auto folder, ResolveSpec(request, &loaded.unavailable));
  if (folder.empty()) return loaded;
  auto model = models::LoadEmbedder(folder, options);
  if (!model.ok()) {
    return model.status().WithContext("embedding model " + request.spec);
  }
  loaded.model = std::move(model).value();
  loaded.identity = EmbeddingIdentity(request.spec, loaded.model->info());
  return loaded;
}

Result<LoadedCrossEncoder> LoadCrossEncoderModel(const ModelRequest& request,
                                                 const models::LoadModelOptions& options) {
  LoadedCrossEncoder loaded;
  SIEVE_ASSIGN_OR_RETURN(auto folder, ResolveSpec(request, &loaded.unavailable));
  if (folder.empty()) return loaded;
  auto model = models::LoadCrossEncoder(folder, options);
  if (!model.ok()) {
    return model.status().WithContext("rerank model " + request.spec);
  }
  loaded.model = std::move(model).value();
  return loaded;
}

std::string MissingModelsNote(const std::vector<std::string>& specs, std::string_view fallback) {
  std::string names;
  std::string commands;
  for (const auto& spec : specs) {
    names += (names.empty() ? "" : ", ") + spec;
    commands += (commands.empty() ? "" : " && ") + std::string("sieve models pull ") + spec;
  }
  return "default model" + std::string(specs.size() == 1 ? " " : "s ") + names +
         (specs.size() == 1 ? " is" : " are") + " not in the Hugging Face cache (offline?); " +
         std::string(fallback) + ". Fetch " + (specs.size() == 1 ? "it" : "them") +
         " with: " + commands;
}

}  // namespace sieve::retrieval
