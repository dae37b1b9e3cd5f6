#include "retrieval/vector_sync.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>
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

Result<VectorStaleness> CheckVectors(store::DocumentStore& store,
                                     const store::VectorStore& vectors) {
  VectorStaleness report;
  report.damage = vectors.damage();
  SIEVE_ASSIGN_OR_RETURN(auto chunk_ids, store.ListChunkIds());
  SIEVE_ASSIGN_OR_RETURN(auto vector_ids, vectors.Ids());
  std::sort(chunk_ids.begin(), chunk_ids.end());
  std::vector<std::int64_t> diff;
  std::set_difference(chunk_ids.begin(), chunk_ids.end(), vector_ids.begin(), vector_ids.end(),
                      std::back_inserter(diff));
  report.missing = diff.size();
  diff.clear();
  std::set_difference(vector_ids.begin(), vector_ids.end(), chunk_ids.begin(), chunk_ids.end(),
                      std::back_inserter(diff));
  report.stale = diff.size();
  return report;
}

store::FilterResolver StoreFilterResolver(store::DocumentStore& store) {
  return [&store](const store::Filter& filter) { return store.ListChunkIds(filter); };
}

Result<store::ReconcileReport> SyncVectors(store::DocumentStore& store, store::VectorStore& vectors,
                                           models::Embedder& embedder,
                                           const VectorSyncOptions& options) {
  SIEVE_ASSIGN_OR_RETURN(auto store_ids, store.ListChunkIds());
  std::map<std::string, store::DocumentInfo> documents;  // by key, for the payloads
  store::EmbedChunks embed =
      [&](const std::vector<std::int64_t>& ids) -> Result<std::vector<store::VectorRecord>> {
    // A chunk deleted meanwhile (by a writer that does not take the index lock) is not returned
    // and gets no record: Reconcile counts it as vanished and goes on.
    SIEVE_ASSIGN_OR_RETURN(auto chunks, store.GetChunks(ids));
    std::vector<std::string> texts;
    texts.reserve(chunks.size());
    for (const auto& chunk : chunks) texts.push_back(PassageText(chunk));
    auto embedded = embedder.Embed(texts, /*is_query=*/false);
    if (!embedded.ok()) return embedded.status().WithContext("embedding chunks");
    if (embedded->size() != chunks.size()) {
      return Status::Internal("embedder returned " + std::to_string(embedded->size()) +
                              " vectors for " + std::to_string(chunks.size()) + " chunks");
    }
    std::vector<store::VectorRecord> records(chunks.size());
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      const store::ChunkRecord& chunk = chunks[i];
      auto it = documents.find(chunk.doc_key);
      if (it == documents.end()) {
        SIEVE_ASSIGN_OR_RETURN(auto info, store.FindDocument(chunk.doc_key));
        it = documents.emplace(chunk.doc_key, info.value_or(store::DocumentInfo{})).first;
      }
      store::VectorRecord& r = records[i];
      r.chunk_id = chunk.chunk_id;
      r.vector = std::move((*embedded)[i]);
      r.payload.doc_id = chunk.doc_id;
      r.payload.doc_key = chunk.doc_key;
      r.payload.source_path = chunk.source_path;
      r.payload.type = chunk.type;
      r.payload.tags = it->second.tags;
      r.payload.content_hash = it->second.content_hash;
    }
    if (documents.size() > 4096) documents.clear();  // bounded memory on big corpora
    return records;
  };
  store::ReconcileOptions reconcile;
  reconcile.batch_size = options.batch_size;
  reconcile.save_every = options.save_every;
  reconcile.progress = options.progress;
  return store::Reconcile(vectors, store_ids, embed, reconcile);
}

Result<std::size_t> RemoveStaleVectors(store::DocumentStore& store, store::VectorStore& vectors) {
  if (!vectors.model()) return std::size_t{0};
  SIEVE_ASSIGN_OR_RETURN(auto chunk_ids, store.ListChunkIds());
  SIEVE_ASSIGN_OR_RETURN(const auto vector_ids, vectors.Ids());
  std::sort(chunk_ids.begin(), chunk_ids.end());
  std::vector<std::int64_t> stale;
  std::set_difference(vector_ids.begin(), vector_ids.end(), chunk_ids.begin(), chunk_ids.end(),
                      std::back_inserter(stale));
  if (stale.empty()) return std::size_t{0};
  SIEVE_RETURN_IF_ERROR(vectors.Remove(stale));
  SIEVE_RETURN_IF_ERROR(vectors.Flush());
  return stale.size();
}

}  // namespace sieve::retrieval
