// eval/report: `sieve eval --report`: one self-contained HTML file (inline CSS and SVG, no
// script, no external asset) with the retrieval metrics and the RAG metrics per retrieval mode,
// the gain from reranking, score distributions per stage, latency per stage and the worst
// questions with their passages.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eval/engine_run.h"
#include "eval/eval.h"
#include "eval/rag.h"

namespace sieve::eval {

// One row of the comparison (a retrieval mode, with or without rerank / query expansion).
struct ReportMode {
  std::string name;                     // "hybrid+rerank", ...
  std::optional<Evaluation> retrieval;  // trec_eval measures of its run
  double ms_per_query = 0;
  std::vector<QueryDetail> details;      // per query of the retrieval run (scores, timings, top)
  std::optional<RagEvaluation> rag;      // RAG metrics of the question set answered in this mode
  std::vector<QueryDetail> rag_details;  // per question of the RAG run
};

struct ReportData {
  std::string title = "Sieve evaluation";
  std::vector<std::string> facts;  // "corpus: 1400 documents", ... shown under the title
  std::vector<ReportMode> modes;
  std::map<std::string, std::string> query_text;  // query or question id -> text
  Qrels qrels;                                    // relevance of documents, for the worst list
  std::vector<std::string> notes;
  std::size_t worst = 10;  // questions in the worst list
};

// The whole HTML document. Pure; thread-safe.
std::string RenderHtmlReport(const ReportData& data);

}  // namespace sieve::eval
