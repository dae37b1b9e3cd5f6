#include "eval/eval.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/file.h"

namespace sieve::eval {
namespace {

std::vector<std::string_view> SplitLines(std::string_view data) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string_view::npos) end = data.size();
    std::string_view line = data.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    pos = end + 1;
  }
  return lines;
}

std::vector<std::string_view> SplitWhitespace(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

Result<double> ParseNumber(std::string_view text, const std::string& where) {
  std::string copy(text);
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !std::isfinite(value)) {
    return Status::InvalidInput(where + ": \"" + copy + "\" is not a number");
  }
  return value;
}

std::string LineRef(const std::filesystem::path& path, size_t line) {
  return path.string() + ":" + std::to_string(line);
}

bool IsRelevant(const Judgements& judged, const std::string& doc_id) {
  auto it = judged.find(doc_id);
  return it != judged.end() && it->second >= 1;
}

size_t RelevantCount(const Judgements& judged) {
  return static_cast<size_t>(std::count_if(judged.begin(), judged.end(),
                                           [](const auto& entry) { return entry.second >= 1; }));
}

}  // namespace

Result<std::vector<Query>> LoadQueries(const std::filesystem::path& path) {
  SIEVE_ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  std::vector<Query> queries;
  std::unordered_set<std::string> seen;
  auto lines = SplitLines(data);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (IsBlank(lines[i])) continue;
    std::string where = LineRef(path, i + 1);
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(lines[i]);
    } catch (const nlohmann::json::exception&) {
      return Status::InvalidInput(where + ": malformed JSON");
    }
    if (!record.is_object()) return Status::InvalidInput(where + ": not a JSON object");
    Query query;
    auto id = record.find("_id");
    if (id == record.end()) return Status::InvalidInput(where + ": missing \"_id\"");
    if (id->is_string()) {
      query.id = id->get<std::string>();
    } else if (id->is_number_integer()) {
      query.id = id->dump();
    } else {
      return Status::InvalidInput(where + ": \"_id\" is not a string or integer");
    }
    auto text = record.find("text");
    if (text == record.end() || !text->is_string()) {
      return Status::InvalidInput(where + ": missing string \"text\"");
    }
    query.text = text->get<std::string>();
    if (!seen.insert(query.id).second) {
      return Status::InvalidInput(where + ": duplicate query id \"" + query.id + "\"");
    }
    queries.push_back(std::move(query));
  }
  if (queries.empty()) return Status::InvalidInput(path.string() + ": no queries");
  return queries;
}

Result<Qrels> LoadQrels(const std::filesystem::path& path) {
  SIEVE_ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  Qrels qrels;
  auto lines = SplitLines(data);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (IsBlank(lines[i])) continue;
    if (i == 0 && lines[i].starts_with("query-id")) continue;  // BEIR header
    std::string where = LineRef(path, i + 1);
    auto fields = SplitWhitespace(lines[i]);
    if (fields.size() != 3) {
      return Status::InvalidInput(where + ": expected \"query-id<TAB>corpus-id<TAB>score\", got " +
                                  std::to_string(fields.size()) + " fields");
    }
    SIEVE_ASSIGN_OR_RETURN(double score, ParseNumber(fields[2], where));
    qrels[std::string(fields[0])][std::string(fields[1])] = static_cast<int>(score);
  }
  if (qrels.empty()) return Status::InvalidInput(path.string() + ": no judgements");
  return qrels;
}

Result<Run> LoadTrecRun(const std::filesystem::path& path) {
  SIEVE_ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  Run run;
  std::map<std::string, std::unordered_set<std::string>> seen;
  auto lines = SplitLines(data);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (IsBlank(lines[i])) continue;
    std::string where = LineRef(path, i + 1);
    auto fields = SplitWhitespace(lines[i]);
    if (fields.size() < 6) {
      return Status::InvalidInput(where + ": expected \"qid Q0 docid rank score tag\"");
    }
    SIEVE_ASSIGN_OR_RETURN(double score, ParseNumber(fields[4], where));
    std::string qid(fields[0]);
    std::string doc(fields[2]);
    if (!seen[qid].insert(doc).second) continue;
    run[qid].push_back({doc, score});
  }
  return run;
}

Status WriteTrecRun(const std::filesystem::path& path, const Run& run, std::string_view tag) {
  std::string out;
  char score[64];
  for (const auto& [qid, docs] : run) {
    std::vector<ScoredDoc> sorted = docs;
    std::stable_sort(sorted.begin(), sorted.end(), [](const ScoredDoc& a, const ScoredDoc& b) {
      if (a.score != b.score) return a.score > b.score;
      return a.doc_id > b.doc_id;
    });
    size_t rank = 0;
    for (const auto& doc : sorted) {
      std::snprintf(score, sizeof score, "%.8f", doc.score);
      out += qid + " Q0 " + doc.doc_id + " " + std::to_string(++rank) + " " + score + " ";
      out.append(tag);
      out += "\n";
    }
  }
  return WriteFileAtomic(path, out);
}

std::vector<std::string> TrecOrder(const std::vector<ScoredDoc>& docs) {
  std::vector<ScoredDoc> unique;
  std::unordered_set<std::string> seen;
  for (const auto& doc : docs) {
    if (seen.insert(doc.doc_id).second) unique.push_back(doc);
  }
  std::sort(unique.begin(), unique.end(), [](const ScoredDoc& a, const ScoredDoc& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.doc_id > b.doc_id;
  });
  std::vector<std::string> ranking;
  ranking.reserve(unique.size());
  for (auto& doc : unique) ranking.push_back(std::move(doc.doc_id));
  return ranking;
}

double NdcgAt(const std::vector<std::string>& ranking, const Judgements& judged, std::size_t k) {
  double dcg = 0;
  for (size_t i = 0; i < ranking.size() && i < k; ++i) {
    auto it = judged.find(ranking[i]);
    if (it != judged.end() && it->second > 0) {
      dcg += it->second / std::log2(static_cast<double>(i) + 2.0);
    }
  }
  std::vector<int> gains;
  for (const auto& [doc, gain] : judged) {
    if (gain > 0) gains.push_back(gain);
  }
  std::sort(gains.rbegin(), gains.rend());
  double ideal = 0;
  for (size_t i = 0; i < gains.size() && i < k; ++i) {
    ideal += gains[i] / std::log2(static_cast<double>(i) + 2.0);
  }
  return ideal > 0 ? dcg / ideal : 0.0;
}

double RecallAt(const std::vector<std::string>& ranking, const Judgements& judged, std::size_t k) {
  size_t relevant = RelevantCount(judged);
  if (relevant == 0) return 0;
  size_t found = 0;
  for (size_t i = 0; i < ranking.size() && i < k; ++i) found += IsRelevant(judged, ranking[i]);
  return static_cast<double>(found) / static_cast<double>(relevant);
}

double ReciprocalRankAt(const std::vector<std::string>& ranking, const Judgements& judged,
                        std::size_t k) {
  for (size_t i = 0; i < ranking.size() && i < k; ++i) {
    if (IsRelevant(judged, ranking[i])) return 1.0 / static_cast<double>(i + 1);
  }
  return 0;
}

double AveragePrecision(const std::vector<std::string>& ranking, const Judgements& judged) {
  size_t relevant = RelevantCount(judged);
  if (relevant == 0) return 0;
  size_t hits = 0;
  double sum = 0;
  for (size_t i = 0; i < ranking.size(); ++i) {
    if (IsRelevant(judged, ranking[i])) {
      ++hits;
      sum += static_cast<double>(hits) / static_cast<double>(i + 1);
    }
  }
  return sum / static_cast<double>(relevant);
}

Evaluation Evaluate(const Qrels& qrels, const Run& run) {
  std::vector<std::string> ids;
  for (const auto& [qid, judged] : qrels) {
    if (RelevantCount(judged) > 0) ids.push_back(qid);
  }
  std::sort(ids.begin(), ids.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  Evaluation evaluation;
  Metrics total;
  for (const auto& qid : ids) {
    const Judgements& judged = qrels.at(qid);
    std::vector<std::string> ranking;
    auto found = run.find(qid);
    if (found == run.end()) {
      ++evaluation.missing_from_run;
    } else {
      ranking = TrecOrder(found->second);
    }
    Metrics m;
    m.ndcg_at_10 = NdcgAt(ranking, judged, 10);
    m.mrr_at_10 = ReciprocalRankAt(ranking, judged, 10);
    m.recall_at_100 = RecallAt(ranking, judged, 100);
    m.map = AveragePrecision(ranking, judged);
    total.ndcg_at_10 += m.ndcg_at_10;
    total.mrr_at_10 += m.mrr_at_10;
    total.recall_at_100 += m.recall_at_100;
    total.map += m.map;
    evaluation.per_query.push_back({qid, m});
  }
  evaluation.queries = ids.size();
  if (!ids.empty()) {
    double n = static_cast<double>(ids.size());
    evaluation.mean = {total.ndcg_at_10 / n, total.mrr_at_10 / n, total.recall_at_100 / n,
                       total.map / n};
  }
  return evaluation;
}

std::vector<ScoredDoc> AggregateToDocuments(const std::vector<retrieval::Hit>& hits,
                                            const std::vector<std::string>& doc_ids,
                                            std::size_t k) {
  std::vector<ScoredDoc> docs;
  std::unordered_map<std::string, size_t> position;
  for (size_t i = 0; i < hits.size() && i < doc_ids.size(); ++i) {
    auto [it, inserted] = position.emplace(doc_ids[i], docs.size());
    if (inserted) {
      docs.push_back({doc_ids[i], hits[i].score});
    } else {
      docs[it->second].score = std::max(docs[it->second].score, hits[i].score);
    }
  }
  if (docs.size() > k) docs.resize(k);
  return docs;
}

Result<Run> RunRetriever(retrieval::Retriever& retriever, store::DocumentStore& store,
                         const std::vector<Query>& queries, const RunOptions& options) {
  Run run;
  retrieval::SearchRequest request;
  request.k = options.chunk_candidates ? options.chunk_candidates : 3 * options.k;
  for (const auto& query : queries) {
    request.query = query.text;
    auto hits = retriever.Search(request);
    if (!hits.ok()) return hits.status().WithContext("query " + query.id);
    std::vector<std::int64_t> ids;
    ids.reserve(hits->size());
    for (const auto& hit : *hits) ids.push_back(hit.chunk_id);
    SIEVE_ASSIGN_OR_RETURN(auto chunks, store.GetChunks(ids));
    std::unordered_map<std::int64_t, std::string> key_of;
    for (auto& chunk : chunks) key_of.emplace(chunk.chunk_id, std::move(chunk.doc_key));
    std::vector<retrieval::Hit> known;
    std::vector<std::string> doc_ids;
    for (const auto& hit : *hits) {
      auto it = key_of.find(hit.chunk_id);
      if (it == key_of.end()) continue;  // deleted since the search: not in the run
      known.push_back(hit);
      doc_ids.push_back(it->second);
    }
    run[query.id] = AggregateToDocuments(known, doc_ids, options.k);
    if (options.on_query) options.on_query(run.size(), queries.size());
  }
  return run;
}

std::string FormatTable(const std::vector<EvalRow>& rows) {
  // The mode column is as wide as the longest row name ("hybrid+rerank" and longer).
  int mode_width = 6;
  for (const auto& row : rows) mode_width = std::max(mode_width, static_cast<int>(row.name.size()));
  mode_width += 2;
  std::ostringstream out;
  out << std::left << std::setw(mode_width) << "mode" << std::right << std::setw(9) << "nDCG@10"
      << std::setw(9) << "MRR@10" << std::setw(12) << "Recall@100" << std::setw(9) << "MAP"
      << std::setw(11) << "ms/query"
      << "\n";
  out << std::fixed;
  for (const auto& row : rows) {
    const Metrics& m = row.evaluation.mean;
    double ms = row.queries_run ? 1000.0 * row.seconds / static_cast<double>(row.queries_run) : 0;
    out << std::left << std::setw(mode_width) << row.name << std::right << std::setprecision(4)
        << std::setw(9) << m.ndcg_at_10 << std::setw(9) << m.mrr_at_10 << std::setw(12)
        << m.recall_at_100 << std::setw(9) << m.map << std::setprecision(2) << std::setw(11) << ms
        << "\n";
  }
  return out.str();
}

}  // namespace sieve::eval
