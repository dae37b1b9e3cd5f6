// engine/json.h: the one JSON layout of each Engine response, shared by `sieve --json` and the
// server. docs/json.md documents every field. Strings that are not valid UTF-8 (paths) are
// written with U+FFFD replacements by Dump(), never thrown.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "sieve/sieve.h"

namespace sieve::engine {

// {"bm25", "bm25_rank", "cosine", "dense_rank", "fused", "rerank"}, each only when set.
nlohmann::json ScoresToJson(const Scores& scores);
// {"number"?, "chunk_id", "score", "path", "key", "title", "type", "section", "page", "line"?,
//  "line_end"?, "begin", "end", "scores", "text"}; `number` (1-based) when given, the lines when
// the passage has them.
nlohmann::json PassageToJson(const Passage& passage, std::size_t number = 0);
// A Passage with "number" (the n of "[n]" in the answer) and "passage_number" (the cited
// passage's "number" in the response's "passages").
nlohmann::json CitationToJson(const Citation& citation);
nlohmann::json TimingsToJson(const std::vector<StageTiming>& timings);
nlohmann::json RetrievalToJson(const RetrievalInfo& info);

nlohmann::json ToJson(const SearchResponse& response);
nlohmann::json ToJson(const AskResponse& response);
nlohmann::json ToJson(const IngestResponse& response);
nlohmann::json ToJson(const DeleteResponse& response);
nlohmann::json ToJson(const StatsResponse& response);
nlohmann::json ToJson(const RerankResponse& response);
nlohmann::json ToJson(const ReembedResponse& response);
// {"id", "key", "path", "type", "title", "bytes", "tags", "ingested_at", "chunks"}.
nlohmann::json ToJson(const DocumentSummary& document);
// A document's summary plus "chunk_list": its chunks in order (`sieve show`).
nlohmann::json ToJson(const DocumentDetail& detail);

// About `max_bytes` of `text` around the first word of `query` it contains, on one line, cut on
// UTF-8 boundaries ("..." marks cuts).
std::string Snippet(const std::string& text, std::string_view query, std::size_t max_bytes = 220);

// How a citation names lines after the path: ":12" (one line), ":12-18", "" when line is 0.
std::string LineSuffix(std::size_t line, std::size_t line_end);

// Compact JSON text; invalid UTF-8 replaced.
std::string Dump(const nlohmann::json& value);

}  // namespace sieve::engine
