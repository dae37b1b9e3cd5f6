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

// A field of a record as the SAX parse saw it at the top level of the object.
struct Field {
  enum Kind { kAbsent, kNull, kString, kInteger, kOther } kind = kAbsent;
  std::string value;  // the string, or the integer's decimal form
};

// Reads one JSON line keeping only the top-level "_id", "title" and "text" and skipping
// everything else without building it: memory stays proportional to the fields kept, however
// deeply nested or large the rest of the record is. As with a DOM parse, a key given twice
// takes its last value.
class RecordReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  Field id, title, text;
  bool is_object = false;
  std::string error;  // a parse error's reason

  bool null() override { return Scalar(Field::kNull, {}); }
  bool boolean(bool) override { return Scalar(Field::kOther, {}); }
  bool number_integer(number_integer_t v) override {
    return Scalar(Field::kInteger, std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    return Scalar(Field::kInteger, std::to_string(v));
  }
  bool number_float(number_float_t, const string_t&) override { return Scalar(Field::kOther, {}); }
  bool string(string_t& v) override { return Scalar(Field::kString, std::move(v)); }
  bool binary(binary_t&) override { return Scalar(Field::kOther, {}); }
  bool start_object(std::size_t) override { return Open(/*object=*/true); }
  bool start_array(std::size_t) override { return Open(/*object=*/false); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    if (depth_ == 1)
      current_ = k == "_id" ? &id : k == "title" ? &title : k == "text" ? &text : nullptr;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error = ParseErrorReason(e.what());
    return false;
  }

 private:
  bool Scalar(Field::Kind kind, std::string value) {
    if (depth_ == 1 && current_ != nullptr) {
      current_->kind = kind;
      current_->value = std::move(value);
      current_ = nullptr;
    }
    return true;
  }
  bool Open(bool object) {
    if (depth_ == 0) {
      is_object = object;
    } else if (depth_ == 1 && current_ != nullptr) {
      current_->kind = Field::kOther;  // a container where a scalar belongs
      current_->value.clear();
      current_ = nullptr;
    }
    ++depth_;
    return true;
  }
  bool Close() {
    --depth_;
    return true;
  }

  std::size_t depth_ = 0;
  Field* current_ = nullptr;  // the wanted field whose value comes next
};

// A string field that may be absent or null (-> ""); anything else is an error. Takes the
// field's value (one copy of a record's text at a time: it may be hundreds of megabytes).
Result<std::string> OptionalString(Field& field, const char* name, std::size_t line_number) {
  if (field.kind == Field::kAbsent || field.kind == Field::kNull) return std::string();
  if (field.kind != Field::kString) {
    return LineError(line_number, std::string("\"") + name + "\" is not a string");
  }
  std::string clean;
  AppendNormalized(field.value, clean);  // escapes like \u0000
  std::string().swap(field.value);
  const std::string_view trimmed = TrimWhitespace(clean);
  if (trimmed.empty()) return std::string();
  const auto offset = static_cast<std::size_t>(trimmed.data() - clean.data());
  clean.resize(offset + trimmed.size());  // trimmed in place: no second copy
  clean.erase(0, offset);
  return clean;
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
    RecordReader record;
    if (!nlohmann::json::sax_parse(line, &record)) {
      return LineError(line_number, "malformed JSON: " + record.error);
    }
    if (!record.is_object) return LineError(line_number, "not a JSON object");

    ExtractedDocument doc;
    if (record.id.kind == Field::kAbsent) return LineError(line_number, "missing \"_id\"");
    if (record.id.kind == Field::kString || record.id.kind == Field::kInteger) {
      doc.key = std::move(record.id.value);
    } else {
      return LineError(line_number, "\"_id\" is not a string or integer");
    }
    if (doc.key.empty()) return LineError(line_number, "empty \"_id\"");
    const auto [seen, inserted] = line_of_id.emplace(doc.key, line_number);
    if (!inserted) {
      return LineError(line_number, "duplicate _id \"" + doc.key + "\" (first on line " +
                                        std::to_string(seen->second) + ")");
    }
    if (record.text.kind == Field::kAbsent) return LineError(line_number, "missing \"text\"");
    SIEVE_ASSIGN_OR_RETURN(doc.title, OptionalString(record.title, "title", line_number));
    SIEVE_ASSIGN_OR_RETURN(std::string body, OptionalString(record.text, "text", line_number));
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
