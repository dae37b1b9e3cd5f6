#include "retrieval/vector_sync.h"

#include <filesystem>
#include <system_error>

namespace sieve::retrieval {

std::string PassageText(const store::ChunkRecord& chunk) {
  if (chunk.title.empty() || chunk.text.starts_with(chunk.title)) return chunk.text;
  return chunk.title + "\n" + chunk.text;
}

models::ModelInfo EmbeddingIdentity(std::string_view spec, const models::ModelInfo& loaded) {
  models::ModelInfo identity = loaded;
  std::error_code ec;
  const std::filesystem::path as_path{std::string(spec)};
  if (std::filesystem::is_directory(as_path, ec)) {
    identity.id = std::filesystem::weakly_canonical(as_path, ec).string();
    if (ec) identity.id = std::filesystem::absolute(as_path).lexically_normal().string();
  } else {
    identity.id = std::string(spec.substr(0, spec.find('@')));
  }
  return identity;
}

Result<store::ReconcileReport> SyncVectors(store::DocumentStore& store, store::VectorIndex& vectors,
                                           models::Embedder& embedder,
                                           const VectorSyncOptions& options) {
  SIEVE_ASSIGN_OR_RETURN(auto store_ids, store.ListChunkIds());
  store::EmbedChunks embed =
      [&](const std::vector<std::int64_t>& ids) -> Result<std::vector<std::vector<float>>> {
    SIEVE_ASSIGN_OR_RETURN(auto chunks, store.GetChunks(ids));
    if (chunks.size() != ids.size()) {
      return Status::Internal("chunks disappeared from the store while embedding them");
    }
    std::vector<std::string> texts;
    texts.reserve(chunks.size());
    for (const auto& chunk : chunks) texts.push_back(PassageText(chunk));
    auto embedded = embedder.Embed(texts, /*is_query=*/false);
    if (!embedded.ok()) return embedded.status().WithContext("embedding chunks");
    return embedded;
  };
  store::ReconcileOptions reconcile;
  reconcile.batch_size = options.batch_size;
  reconcile.save_every = options.save_every;
  reconcile.progress = options.progress;
  return store::Reconcile(vectors, store_ids, embed, reconcile);
}

}  // namespace sieve::retrieval
