#include "retrieval/dense_index.h"

#include <filesystem>
#include <system_error>

namespace sieve::retrieval {

ModelRequest ChooseEmbedModel(const std::string& named,
                              const std::optional<models::ModelInfo>& recorded) {
  if (!named.empty()) return {named, true};
  if (recorded && !recorded->id.empty()) {
    std::error_code ec;
    // A Hub model is pinned to the commit that made the vectors, wherever "main" points now.
    if (!recorded->revision.empty() && !std::filesystem::is_directory(recorded->id, ec)) {
      return {recorded->id + "@" + recorded->revision, false};
    }
    return {recorded->id, false};
  }
  return {std::string(kDefaultEmbedModel), false};
}

namespace {

Result<std::unique_ptr<store::VectorStore>> OpenVectors(store::DocumentStore& store,
                                                        const std::filesystem::path& index_dir,
                                                        const DenseIndexOptions& options) {
  store::VectorStoreOptions vector_options;
  vector_options.faiss = options.index;
  vector_options.qdrant = options.qdrant;
  vector_options.resolve_filter = StoreFilterResolver(store);
  vector_options.binding = store.Binding();
  return store::OpenVectorStore(
      options.vector_store_uri.empty() ? store::FaissUri(index_dir) : options.vector_store_uri,
      vector_options);
}

}  // namespace

Result<DenseIndex> OpenDenseIndex(store::DocumentStore& store,
                                  const std::filesystem::path& index_dir,
                                  const DenseIndexOptions& options) {
  DenseIndex dense;
  SIEVE_ASSIGN_OR_RETURN(dense.vectors, OpenVectors(store, index_dir, options));
  dense.damage = dense.vectors->damage();
  const ModelRequest request = ChooseEmbedModel(options.embed_model, dense.vectors->model());
  dense.model_spec = request.spec;
  SIEVE_ASSIGN_OR_RETURN(dense.embedder, LoadEmbedderModel(request, options.load));
  if (!dense.embedder.model) {
    dense.vectors.reset();
    return dense;
  }
  // In memory only: a new store adopts the model; nothing is written until a sync flushes.
  SIEVE_RETURN_IF_ERROR(dense.vectors->BindModel(dense.embedder.identity));
  SIEVE_ASSIGN_OR_RETURN(dense.staleness, CheckVectors(store, *dense.vectors));
  return dense;
}

Status ReopenVectors(store::DocumentStore& store, const std::filesystem::path& index_dir,
                     const DenseIndexOptions& options, DenseIndex& dense) {
  if (!dense.available()) {
    return Status::Internal("ReopenVectors: no embedding model or vector store");
  }
  SIEVE_ASSIGN_OR_RETURN(auto vectors, OpenVectors(store, index_dir, options));
  SIEVE_RETURN_IF_ERROR(vectors->BindModel(dense.embedder.identity));
  SIEVE_ASSIGN_OR_RETURN(dense.staleness, CheckVectors(store, *vectors));
  dense.damage = vectors->damage();
  dense.vectors = std::move(vectors);
  return Status::Ok();
}

Status SyncDenseIndex(store::DocumentStore& store, DenseIndex& dense,
                      const VectorSyncOptions& options) {
  if (!dense.available()) {
    return Status::Internal("SyncDenseIndex: no embedding model or vector store");
  }
  SIEVE_ASSIGN_OR_RETURN(dense.repaired,
                         SyncVectors(store, *dense.vectors, *dense.embedder.model, options));
  dense.staleness = {};
  return Status::Ok();
}

Result<DenseIndex> ReembedIndex(store::DocumentStore& store, const std::filesystem::path& index_dir,
                                const DenseIndexOptions& options) {
  if (options.embed_model.empty()) {
    return Status::InvalidArgument("re-embedding needs the model to use (--embed-model)");
  }
  const ModelRequest request{options.embed_model, true};
  // Load the new model before touching anything, so a typo costs nothing.
  SIEVE_ASSIGN_OR_RETURN(auto embedder, LoadEmbedderModel(request, options.load));
  DenseIndex dense;
  SIEVE_ASSIGN_OR_RETURN(dense.vectors, OpenVectors(store, index_dir, options));
  dense.model_spec = request.spec;
  dense.embedder = std::move(embedder);
  auto staging = dense.vectors->OpenStaging();
  if (!staging.ok() && staging.status().code() != StatusCode::kUnsupported) {
    return staging.status();
  }
  if (!staging.ok()) {
    // A backend that cannot stage: clear and embed in place.
    SIEVE_RETURN_IF_ERROR(dense.vectors->Clear());
    SIEVE_RETURN_IF_ERROR(dense.vectors->BindModel(dense.embedder.identity));
    SIEVE_RETURN_IF_ERROR(SyncDenseIndex(store, dense, options.sync));
    return dense;
  }
  // The new vectors are made beside the old ones (a killed run resumes from what it staged) and
  // swapped in at once; until then searches use the old vectors and model.
  std::unique_ptr<store::VectorStore> staged = std::move(staging).value();
  const auto staged_model = staged->model();
  if (staged_model && !store::SameEmbeddingModel(*staged_model, dense.embedder.identity)) {
    SIEVE_RETURN_IF_ERROR(staged->Clear());  // staged for another model: start over
  }
  SIEVE_RETURN_IF_ERROR(staged->BindModel(dense.embedder.identity));
  SIEVE_ASSIGN_OR_RETURN(dense.repaired,
                         SyncVectors(store, *staged, *dense.embedder.model, options.sync));
  SIEVE_RETURN_IF_ERROR(dense.vectors->CommitStaging(*staged));
  dense.staleness = {};
  return dense;
}

}  // namespace sieve::retrieval
