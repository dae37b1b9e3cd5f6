#include "engine/json.h"

#include <algorithm>
#include <cctype>

namespace sieve::engine {

using nlohmann::json;

json ScoresToJson(const Scores& s) {
  json out = json::object();
  if (s.bm25) out["bm25"] = *s.bm25;
  if (s.bm25_rank) out["bm25_rank"] = *s.bm25_rank;
  if (s.cosine) out["cosine"] = *s.cosine;
  if (s.dense_rank) out["dense_rank"] = *s.dense_rank;
  if (s.fused) out["fused"] = *s.fused;
  if (s.rerank) out["rerank"] = *s.rerank;
  return out;
}

json PassageToJson(const Passage& p, std::size_t number) {
  json out = json::object();
  if (number > 0) out["number"] = number;
  out["chunk_id"] = p.chunk_id;
  out["score"] = p.score;
  out["path"] = p.source_path;
  out["key"] = p.doc_key;
  out["title"] = p.title;
  out["type"] = p.type;
  out["section"] = p.section;
  out["page"] = p.page;
  if (p.line > 0) {
    out["line"] = p.line;
    out["line_end"] = p.line_end;
  }
  out["begin"] = p.begin;
  out["end"] = p.end;
  out["scores"] = ScoresToJson(p.scores);
  out["text"] = p.text;
  if (!p.also_in.empty()) out["also_in"] = p.also_in;
  return out;
}

std::string LineSuffix(std::size_t line, std::size_t line_end) {
  if (line == 0) return {};
  std::string out = ":" + std::to_string(line);
  if (line_end > line) out += "-" + std::to_string(line_end);
  return out;
}

json CitationToJson(const Citation& citation) {
  json out = PassageToJson(citation.passage, citation.number);
  out["passage_number"] = citation.passage_number;
  return out;
}

json TimingsToJson(const std::vector<StageTiming>& timings) {
  json out = json::array();
  for (const auto& t : timings) out.push_back({{"stage", t.stage}, {"ms", t.ms}});
  return out;
}

json RetrievalToJson(const RetrievalInfo& info) {
  return {{"mode", ModeName(info.mode)},
          {"rerank", info.reranked},
          {"k", info.k},
          {"top_n", info.top_n},
          {"rrf_k", info.rrf_k},
          {"embed_model", info.embed_model.empty() ? json(nullptr) : json(info.embed_model)},
          {"rerank_model", info.rerank_model.empty() ? json(nullptr) : json(info.rerank_model)}};
}

json ToJson(const SearchResponse& r) {
  json hits = json::array();
  for (std::size_t i = 0; i < r.passages.size(); ++i) {
    json hit = PassageToJson(r.passages[i]);
    hit["rank"] = i + 1;
    hit["bm25"] = r.passages[i].scores.bm25.value_or(0);
    hit["snippet"] = Snippet(r.passages[i].text, r.query);
    hits.push_back(std::move(hit));
  }
  return {{"query", r.query},
          {"hits", hits},
          {"retrieval", RetrievalToJson(r.retrieval)},
          {"notes", r.notes},
          {"timings", TimingsToJson(r.timings)}};
}

json ToJson(const AskResponse& r) {
  json citations = json::array();
  for (const auto& c : r.citations) citations.push_back(CitationToJson(c));
  json passages = json::array();
  for (std::size_t i = 0; i < r.passages.size(); ++i) {
    passages.push_back(PassageToJson(r.passages[i], i + 1));
  }
  for (const auto& c : r.citations) {
    if (c.passage_number >= 1 && c.passage_number <= passages.size()) {
      passages[c.passage_number - 1]["cited_as"] = c.number;
    }
  }
  return {{"question", r.question},
          {"answer", r.answer},
          {"extractive", r.extractive},
          {"model", r.model},
          {"citations", citations},
          {"passages", passages},
          {"retrieval", RetrievalToJson(r.retrieval)},
          {"usage",
           {{"prompt_tokens", r.usage.prompt_tokens},
            {"completion_tokens", r.usage.completion_tokens},
            {"total_tokens", r.usage.total_tokens}}},
          {"notes", r.notes},
          {"timings", TimingsToJson(r.timings)}};
}

json ToJson(const IngestResponse& r) {
  json skipped = json::array();
  for (const auto& s : r.skipped) {
    json entry = {{"reason", s.reason}};
    if (!s.path.empty()) entry["path"] = s.path;
    skipped.push_back(std::move(entry));
  }
  json not_documents = json::array();
  for (const auto& s : r.not_documents) {
    not_documents.push_back({{"path", s.path}, {"reason", s.reason}});
  }
  return {{"files", r.files},
          {"documents", r.documents()},
          {"added", r.documents_added},
          {"replaced", r.documents_replaced},
          {"unchanged", r.documents_unchanged},
          {"removed", r.documents_removed},
          {"moved", r.documents_moved},
          {"deleted", r.documents_deleted},
          {"chunks", r.chunks},
          {"bytes", r.bytes},
          {"invalid_utf8_replaced", r.invalid_utf8_replaced},
          {"seconds", r.seconds},
          {"skipped", skipped},
          {"not_documents", not_documents},
          {"embedded", r.embedded},
          {"vectors_removed", r.vectors_removed},
          {"embed_model", r.embed_model.empty() ? json(nullptr) : json(r.embed_model)},
          {"notes", r.notes}};
}

json ToJson(const DeleteResponse& r) {
  return {
      {"deleted", r.deleted}, {"not_found", r.not_found}, {"vectors_removed", r.vectors_removed}};
}

json ToJson(const StatsResponse& r) {
  json by_type = json::object();
  for (const auto& [type, n] : r.documents_by_type) by_type[type] = n;
  json by_tag = json::object();
  for (const auto& [tag, n] : r.documents_by_tag) by_tag[tag] = n;
  return {{"index", r.index_dir},
          {"database", r.database},
          {"documents", r.documents},
          {"chunks", r.chunks},
          {"bytes", r.bytes},
          {"database_bytes", r.database_bytes},
          {"types", by_type},
          {"tags", by_tag},
          {"vectors", r.vectors},
          {"vector_model", r.vector_model.empty() ? json(nullptr) : json(r.vector_model)},
          {"vector_bytes", r.vector_bytes}};
}

json ToJson(const RerankResponse& r) {
  json results = json::array();
  for (const auto& x : r.results) {
    results.push_back({{"index", x.index}, {"score", x.score}, {"logit", x.logit}});
  }
  return {{"model", r.model}, {"results", results}, {"tokens", r.tokens}};
}

json ToJson(const ReembedResponse& r) {
  return {{"model", r.model}, {"chunks", r.chunks}, {"seconds", r.seconds}};
}

json ToJson(const DocumentSummary& d) {
  return {{"id", d.id},
          {"key", d.key},
          {"path", d.source_path},
          {"type", d.type},
          {"title", d.title},
          {"bytes", d.bytes},
          {"tags", d.tags},
          {"ingested_at", d.ingested_at},
          {"chunks", d.chunks}};
}

json ToJson(const DocumentDetail& d) {
  json chunks = json::array();
  for (const auto& c : d.chunks) {
    chunks.push_back({{"chunk_id", c.chunk_id},
                      {"ordinal", c.ordinal},
                      {"begin", c.begin},
                      {"end", c.end},
                      {"section", c.section},
                      {"page", c.page},
                      {"text", c.text}});
    if (c.line > 0) {
      chunks.back()["line"] = c.line;
      chunks.back()["line_end"] = c.line_end;
    }
  }
  json out = ToJson(d.document);
  out["chunk_list"] = chunks;
  return out;
}

namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsUtf8Continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

}  // namespace

std::string Snippet(const std::string& text, std::string_view query, std::size_t max_bytes) {
  std::string lower = Lower(text);
  std::size_t hit = std::string::npos;
  std::string word;
  auto consider = [&](const std::string& w) {
    if (w.size() < 3) return;
    // Stemmed matches: "wings" finds "wing" through its first five letters.
    std::string probe = w.size() > 5 ? w.substr(0, 5) : w;
    hit = std::min(hit, lower.find(probe));
  };
  for (char c : Lower(query)) {
    if (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80) {
      word += c;
    } else {
      consider(word);
      word.clear();
    }
  }
  consider(word);
  std::size_t begin = 0;
  if (hit != std::string::npos && hit > max_bytes / 3) {
    begin = hit - max_bytes / 3;
    while (begin < hit && text[begin] != ' ' && text[begin] != '\n') ++begin;
  }
  while (begin < text.size() && IsUtf8Continuation(text[begin])) ++begin;
  std::size_t end = std::min(text.size(), begin + max_bytes);
  while (end < text.size() && end > begin && IsUtf8Continuation(text[end])) --end;
  std::string snippet;
  if (begin > 0) snippet += "...";
  bool space = false;
  for (std::size_t i = begin; i < end; ++i) {
    char c = text[i];
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = true;
      continue;
    }
    if (space && !snippet.empty() && snippet != "...") snippet += ' ';
    space = false;
    snippet += c;
  }
  if (end < text.size()) snippet += "...";
  return snippet;
}

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace sieve::engine
