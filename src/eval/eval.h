// eval: how good is a retriever on a judged collection.
//
// Interface of the stage: load a BEIR collection (queries.jsonl, qrels/test.tsv; the corpus is
// ingested through store::IngestFile), run every query through a retrieval::Retriever
// (RunRetriever), and score the run with trec_eval's definitions (Evaluate): nDCG@10 (ndcg_cut,
// linear gain, ideal from all judged documents), MRR@10, Recall@100 and MAP over the run. Runs
// are read and written as TREC run files, so any engine's run can be scored the same way.
// Comparing modes is a list of EvalRows, one per retriever.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "retrieval/retriever.h"
#include "store/document_store.h"

namespace sieve::eval {

struct Query {
  std::string id;
  std::string text;
};

// query id -> document id -> graded relevance (relevant when >= 1).
using Judgements = std::map<std::string, int>;
using Qrels = std::map<std::string, Judgements>;

struct ScoredDoc {
  std::string doc_id;
  double score = 0;
};
// query id -> retrieved documents (any order: Evaluate sorts them the trec_eval way).
using Run = std::map<std::string, std::vector<ScoredDoc>>;

// BEIR queries.jsonl: one {"_id": ..., "text": ...} per line, in file order.
Result<std::vector<Query>> LoadQueries(const std::filesystem::path& path);
// BEIR qrels TSV: header "query-id<TAB>corpus-id<TAB>score", then one judgement per line.
Result<Qrels> LoadQrels(const std::filesystem::path& path);
// TREC run: "qid Q0 docid rank score tag"; a repeated docid keeps its first line.
Result<Run> LoadTrecRun(const std::filesystem::path& path);
// Writes the run in trec_eval order with ranks from 1.
Status WriteTrecRun(const std::filesystem::path& path, const Run& run, std::string_view tag);

// trec_eval's order: score descending, ties by document id descending (byte order); a repeated
// document keeps its first entry.
std::vector<std::string> TrecOrder(const std::vector<ScoredDoc>& docs);

// Per-query measures on a ranking in trec_eval order.
double NdcgAt(const std::vector<std::string>& ranking, const Judgements& judged, std::size_t k);
double RecallAt(const std::vector<std::string>& ranking, const Judgements& judged, std::size_t k);
double ReciprocalRankAt(const std::vector<std::string>& ranking, const Judgements& judged,
                        std::size_t k);
double AveragePrecision(const std::vector<std::string>& ranking, const Judgements& judged);

struct Metrics {
  double ndcg_at_10 = 0;
  double mrr_at_10 = 0;
  double recall_at_100 = 0;
  double map = 0;
};

struct QueryMetrics {
  std::string query_id;
  Metrics metrics;
};

struct Evaluation {
  Metrics mean;                         // over the judged queries
  std::vector<QueryMetrics> per_query;  // judged queries, ordered by id (shorter ids first)
  std::size_t queries = 0;              // queries with at least one relevant document
  std::size_t missing_from_run = 0;     // of those, how many the run has no line for (scored 0)
};

// Scores a run against qrels. Queries without a relevant document are ignored; a judged query
// missing from the run scores 0 (trec_eval -c).
Evaluation Evaluate(const Qrels& qrels, const Run& run);

struct RunOptions {
  std::size_t k = 100;  // documents per query in the run
  // Chunks asked from the retriever per query before they are merged into documents (several
  // chunks can come from one document). 0 = 3 * k.
  std::size_t chunk_candidates = 0;
  // Called after each query with (queries done, total), e.g. to draw a progress bar.
  std::function<void(std::size_t, std::size_t)> on_query;
};

// Merges chunk hits (best first) into documents: a document takes its best chunk's score and
// its first position; at most `k` documents. `doc_ids[i]` is the document of `hits[i]`.
std::vector<ScoredDoc> AggregateToDocuments(const std::vector<retrieval::Hit>& hits,
                                            const std::vector<std::string>& doc_ids, std::size_t k);

// Runs every query through `retriever`; document ids are the store's document keys (a BEIR
// corpus's _id).
Result<Run> RunRetriever(retrieval::Retriever& retriever, store::DocumentStore& store,
                         const std::vector<Query>& queries, const RunOptions& options);

// One row of a comparison: a retriever's scores and how long its queries took.
struct EvalRow {
  std::string name;
  Evaluation evaluation;
  double seconds = 0;
  std::size_t queries_run = 0;
};

// A fixed-width text table: mode, nDCG@10, MRR@10, Recall@100, MAP, ms/query.
std::string FormatTable(const std::vector<EvalRow>& rows);

}  // namespace sieve::eval
