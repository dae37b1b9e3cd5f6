#include "eval/engine_run.h"

namespace sieve::eval {

Result<Run> RunEngine(Engine& engine, const SearchRequest& base, const std::vector<Query>& queries,
                      const RunOptions& options) {
  Run run;
  SearchRequest request = base;
  const std::size_t depth = options.chunk_candidates ? options.chunk_candidates : 3 * options.k;
  if (!request.k) request.k = depth;
  if (!request.top_n) request.top_n = depth;
  for (const auto& query : queries) {
    request.query = query.text;
    RequestContext ctx;
    auto response = engine.Search(request, ctx);
    if (!response.ok()) return response.status().WithContext("query " + query.id);
    std::vector<retrieval::Hit> hits;
    std::vector<std::string> doc_ids;
    hits.reserve(response->passages.size());
    doc_ids.reserve(response->passages.size());
    for (const auto& passage : response->passages) {
      retrieval::Hit hit;
      hit.chunk_id = passage.chunk_id;
      hit.score = passage.score;
      hits.push_back(hit);
      doc_ids.push_back(passage.doc_key);
    }
    run[query.id] = AggregateToDocuments(hits, doc_ids, options.k);
    if (options.on_query) options.on_query(run.size(), queries.size());
  }
  return run;
}

}  // namespace sieve::eval
