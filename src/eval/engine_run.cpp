#include "eval/engine_run.h"

#include <chrono>

namespace sieve::eval {
namespace {

QueryDetail Detail(const std::string& id, const std::vector<Passage>& passages,
                   const std::vector<StageTiming>& timings, double ms, std::size_t keep) {
  QueryDetail detail;
  detail.query_id = id;
  detail.timings = timings;
  detail.ms = ms;
  detail.scores.reserve(passages.size());
  for (const auto& p : passages) detail.scores.push_back(p.scores);
  for (std::size_t i = 0; i < passages.size() && i < keep; ++i) detail.top.push_back(passages[i]);
  return detail;
}

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

Result<Run> RunEngine(Engine& engine, const SearchRequest& base, const std::vector<Query>& queries,
                      const RunOptions& options, std::vector<QueryDetail>* details,
                      std::size_t keep_passages) {
  Run run;
  SearchRequest request = base;
  const std::size_t depth = options.chunk_candidates ? options.chunk_candidates : 3 * options.k;
  if (!request.k) request.k = depth;
  if (!request.top_n) request.top_n = depth;
  for (const auto& query : queries) {
    request.query = query.text;
    RequestContext ctx;
    const auto start = std::chrono::steady_clock::now();
    auto response = engine.Search(request, ctx);
    if (!response.ok()) return response.status().WithContext("query " + query.id);
    if (details != nullptr) {
      details->push_back(
          Detail(query.id, response->passages, response->timings, MsSince(start), keep_passages));
    }
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

Result<std::vector<RagSample>> AnswerWithEngine(
    Engine& engine, const AskRequest& base, std::vector<RagSample> samples,
    std::vector<QueryDetail>* details,
    const std::function<void(std::size_t, std::size_t)>& progress) {
  AskRequest request = base;
  request.on_token = nullptr;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    RagSample& sample = samples[i];
    if (!sample.answered) {
      request.query = sample.question;
      RequestContext ctx;
      const auto start = std::chrono::steady_clock::now();
      auto response = engine.Ask(request, ctx);
      if (!response.ok()) return response.status().WithContext("question " + sample.id);
      sample.answer = response->answer;
      sample.contexts.clear();
      sample.context_ids.clear();
      for (const auto& p : response->passages) {
        sample.contexts.push_back(p.text);
        sample.context_ids.push_back(p.doc_key);
      }
      if (details != nullptr) {
        details->push_back(
            Detail(sample.id, response->passages, response->timings, MsSince(start), 3));
      }
    }
    if (progress) progress(i + 1, samples.size());
  }
  return samples;
}

}  // namespace sieve::eval
