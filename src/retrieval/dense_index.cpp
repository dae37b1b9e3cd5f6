#include "retrieval/dense_index.h"

#include <filesystem>
#include <system_error>

namespace sieve::retrieval {

ModelRequest ChooseEmbedModel(const std::string& named, const store::VectorIndex& vectors) {
  if (!named.empty()) return {named, true};
  if (vectors.model() && !vectors.model()->id.empty()) {
    const models::ModelInfo& recorded = *vectors.model();
    std::error_code ec;
    // A Hub model is pinned to the commit that made the vectors, wherever "main" points now.
    if (!recorded.revision.empty() && !std::filesystem::is_directory(recorded.id, ec)) {
      return {recorded.id + "@" + recorded.revision, false};
    }
    return {recorded.id, false};
  }
  return {std::string(kDefaultEmbedModel), false};
}

namespace {

Result<DenseIndex> LoadAndSync(store::DocumentStore& store, DenseIndex dense,
                               const ModelRequest& request, const DenseIndexOptions& options) {
  dense.model_spec = request.spec;
  SIEVE_ASSIGN_OR_RETURN(dense.embedder, LoadEmbedderModel(request, options.load));
  if (!dense.embedder.model) {
    dense.vectors.reset();
    return dense;
  }
  SIEVE_RETURN_IF_ERROR(dense.vectors->BindModel(dense.embedder.identity));
  SIEVE_ASSIGN_OR_RETURN(dense.repaired,
                         SyncVectors(store, *dense.vectors, *dense.embedder.model, options.sync));
  return dense;
}

}  // namespace

Result<DenseIndex> OpenDenseIndex(store::DocumentStore& store,
                                  const std::filesystem::path& index_dir,
                                  const DenseIndexOptions& options) {
  DenseIndex dense;
  SIEVE_ASSIGN_OR_RETURN(dense.vectors, store::VectorIndex::Open(index_dir, options.index));
  dense.damage = dense.vectors->damage();
  const ModelRequest request = ChooseEmbedModel(options.embed_model, *dense.vectors);
  return LoadAndSync(store, std::move(dense), request, options);
}

Result<DenseIndex> ReembedIndex(store::DocumentStore& store, const std::filesystem::path& index_dir,
                                const DenseIndexOptions& options) {
  if (options.embed_model.empty()) {
    return Status::InvalidArgument("re-embedding needs the model to use (--embed-model)");
  }
  const ModelRequest request{options.embed_model, true};
  // Load the new model before deleting anything, so a typo costs nothing.
  SIEVE_ASSIGN_OR_RETURN(auto embedder, LoadEmbedderModel(request, options.load));
  DenseIndex dense;
  SIEVE_ASSIGN_OR_RETURN(dense.vectors, store::VectorIndex::Open(index_dir, options.index));
  SIEVE_RETURN_IF_ERROR(dense.vectors->Clear());
  dense.model_spec = request.spec;
  dense.embedder = std::move(embedder);
  SIEVE_RETURN_IF_ERROR(dense.vectors->BindModel(dense.embedder.identity));
  SIEVE_ASSIGN_OR_RETURN(dense.repaired,
                         SyncVectors(store, *dense.vectors, *dense.embedder.model, options.sync));
  return dense;
}

}  // namespace sieve::retrieval
