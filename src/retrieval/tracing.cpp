#include "retrieval/tracing.h"

#include <nlohmann/json.hpp>

namespace sieve::retrieval {
namespace {

nlohmann::json Metadata(const Hit& hit, const store::ChunkRecord* chunk) {
  nlohmann::json m = nlohmann::json::object();
  if (chunk != nullptr) {
    m["doc_key"] = chunk->doc_key;
    m["source_path"] = chunk->source_path;
    if (!chunk->title.empty()) m["title"] = chunk->title;
    if (!chunk->section.empty()) m["section"] = chunk->section;
    if (chunk->page > 0) m["page"] = chunk->page;
    m["type"] = chunk->type;
  }
  const StageScores& s = hit.stages;
  if (s.bm25) m["bm25"] = *s.bm25;
  if (s.bm25_rank) m["bm25_rank"] = *s.bm25_rank;
  if (s.cosine) m["cosine"] = *s.cosine;
  if (s.dense_rank) m["dense_rank"] = *s.dense_rank;
  if (s.fused) m["fused"] = *s.fused;
  if (s.rerank) m["rerank"] = *s.rerank;
  return m;
}

}  // namespace

void SetDocumentAttributes(Span& span, std::string_view prefix, const std::vector<Hit>& hits,
                           const std::vector<const store::ChunkRecord*>& chunks) {
  for (std::size_t i = 0; i < hits.size(); ++i) {
    const std::string key = std::string(prefix) + "." + std::to_string(i) + ".document.";
    const store::ChunkRecord* chunk = i < chunks.size() ? chunks[i] : nullptr;
    span.SetAttribute(key + "id", std::to_string(hits[i].chunk_id));
    span.SetAttribute(key + "score", hits[i].score);
    if (chunk != nullptr) span.SetAttribute(key + "content", chunk->text);
    span.SetAttribute(
        key + "metadata",
        Metadata(hits[i], chunk).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
}

void RecordRetrievedDocuments(Span& span, const std::vector<Hit>& hits,
                              const SearchRequest& request) {
  if (request.ctx == nullptr || !request.ctx->recording()) return;
  std::vector<store::ChunkRecord> fetched;
  if (request.documents) {
    std::vector<std::int64_t> ids;
    ids.reserve(hits.size());
    for (const Hit& hit : hits) ids.push_back(hit.chunk_id);
    auto chunks = request.documents(ids);
    if (chunks.ok()) fetched = std::move(chunks).value();
  }
  // Chunks come back in the order asked, without the ones deleted meanwhile.
  std::vector<const store::ChunkRecord*> aligned(hits.size(), nullptr);
  std::size_t c = 0;
  for (std::size_t i = 0; i < hits.size() && c < fetched.size(); ++i) {
    if (fetched[c].chunk_id == hits[i].chunk_id) aligned[i] = &fetched[c++];
  }
  SetDocumentAttributes(span, "retrieval.documents", hits, aligned);
}

}  // namespace sieve::retrieval
