#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <unordered_map>

#include "text/extract.h"
#include "text/normalize.h"

namespace sieve::text {
namespace {

std::string_view TrimWhitespace(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\n");
  return s.substr(first, last - first + 1);
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the rest is the reason.
std::string ParseErrorReason(const char* what) {
  std::string_view reason(what);
  if (!reason.empty() && reason.front() == '[') {
    const auto close = reason.find("] ");
    if (close != std::string_view::npos) reason.remove_prefix(close + 2);
  }
  return std::string(reason);
}

Status LineError(std::size_t line_number, const std::string& reason) {
  return Status::InvalidInput("line " + std::to_string(line_number) + ": " + reason);
}

// A string field that may be absent or null (-> ""); anything else is an error.
Result<std::string> OptionalString(const nlohmann::json& record, const char* field,
                                   std::size_t line_number) {
  const auto it = record.find(field);
  if (it == record.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return LineError(line_number, std::string("\"") + field + "\" is not a string");
  }
  std::string clean;
  AppendNormalized(it->get_ref<const std::string&>(), clean);  // escapes like \u0000
  return std::string(TrimWhitespace(clean));
}

}  // namespace

Result<std::vector<ExtractedDocument>> ExtractBeirCorpus(std::string_view bytes) {
  std::vector<ExtractedDocument> docs;
  std::unordered_map<std::string, std::size_t> line_of_id;
  std::string repaired;
  std::size_t line_number = 0;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    std::size_t end = bytes.find('\n', pos);
    if (end == std::string_view::npos) end = bytes.size();
    std::string_view line = bytes.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (TrimWhitespace(line).empty() || line == "\r") continue;

    std::size_t invalid = 0;
    if (!IsValidUtf8(line)) {
      // The JSON parser rejects ill-formed UTF-8; repair it and count what was replaced.
      repaired.clear();
      invalid = AppendNormalized(line, repaired);
      line = repaired;
    }
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      return LineError(line_number, "malformed JSON: " + ParseErrorReason(e.what()));
    }
    if (!record.is_object()) return LineError(line_number, "not a JSON object");

    ExtractedDocument doc;
    const auto id = record.find("_id");
    if (id == record.end()) return LineError(line_number, "missing \"_id\"");
    if (id->is_string()) {
      doc.key = id->get<std::string>();
    } else if (id->is_number_integer()) {
      doc.key = id->dump();
    } else {
      return LineError(line_number, "\"_id\" is not a string or integer");
    }
    if (doc.key.empty()) return LineError(line_number, "empty \"_id\"");
    const auto [seen, inserted] = line_of_id.emplace(doc.key, line_number);
    if (!inserted) {
      return LineError(line_number, "duplicate _id \"" + doc.key + "\" (first on line " +
                                        std::to_string(seen->second) + ")");
    }
    if (record.find("text") == record.end()) return LineError(line_number, "missing \"text\"");
    SIEVE_ASSIGN_OR_RETURN(doc.title, OptionalString(record, "title", line_number));
    SIEVE_ASSIGN_OR_RETURN(std::string body, OptionalString(record, "text", line_number));
    if (doc.title.empty()) {
      doc.text = std::move(body);
    } else if (body.empty()) {
      doc.text = doc.title;
    } else {
      doc.text.reserve(doc.title.size() + 2 + body.size());
      doc.text.append(doc.title).append("\n\n").append(body);
    }
    doc.invalid_utf8_replaced = invalid;
    docs.push_back(std::move(doc));
  }
  return docs;
}

}  // namespace sieve::text
