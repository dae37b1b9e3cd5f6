// retrieval: from a query to ranked chunks.
//
// Interface of the stage: one Retriever interface with several implementations (lexical BM25,
// dense bi-encoder, hybrid RRF fusion), in the manner of FAISS's one Index with many kinds.
// Rerankers (cross-encoder) then reorder a retriever's candidates. Every hit carries the scores of
// each stage that touched it, so a user can see what each sieve did.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/status.h"
#include "store/document_store.h"
#include "store/filter.h"

namespace sieve::retrieval {

// Metadata filters (path prefix, types, tags); defined in store/filter.h, which every search
// path (SQLite, vector stores) applies.
using Filter = store::Filter;

struct SearchRequest {
  std::string query;
  std::size_t k = 50;  // candidates to return
  Filter filter;
  // Tracing (optional): retrievers open their spans in `ctx` (retrieval/tracing.h), and, when it
  // records attributes, describe their documents with the chunks `documents` returns for a list
  // of chunk ids (in that order, leaving out missing ones). The pipeline sets both.
  RequestContext* ctx = nullptr;
  std::function<Result<std::vector<store::ChunkRecord>>(const std::vector<std::int64_t>&)>
      documents;
};

// Scores from each stage; unset when that stage did not see the chunk.
struct StageScores {
  std::optional<double> bm25;             // BM25 (higher is better)
  std::optional<std::size_t> bm25_rank;   // 1-based rank in the lexical list
  std::optional<double> cosine;           // bi-encoder cosine similarity
  std::optional<std::size_t> dense_rank;  // 1-based rank in the dense list
  std::optional<double> fused;            // reciprocal-rank-fusion score
  std::optional<double> rerank;           // cross-encoder score in [0,1]
};

struct Hit {
  std::int64_t chunk_id = 0;
  double score = 0;  // the score this list is ordered by (the last stage's)
  StageScores stages;
};

class Retriever {
 public:
  virtual ~Retriever() = default;
  // Best first, at most request.k hits.
  virtual Result<std::vector<Hit>> Search(const SearchRequest& request) = 0;
  virtual std::string name() const = 0;  // "lexical", "dense", "hybrid"
};

}  // namespace sieve::retrieval
