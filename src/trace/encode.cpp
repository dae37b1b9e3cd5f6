// OTLP encodings of spans: protobuf wire format (written by hand: varints, length-delimited
// fields, fixed64) and OTLP-JSON. Field numbers follow opentelemetry-proto (trace/v1,
// common/v1, resource/v1, collector/trace/v1).
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "trace/trace.h"

namespace sieve::trace {
namespace {

// OTLP Span.SpanKind and Status.StatusCode values.
constexpr std::uint64_t kOtlpKindInternal = 1;
constexpr std::uint64_t kStatusOk = 1;
constexpr std::uint64_t kStatusError = 2;

constexpr int kVarint = 0;
constexpr int kFixed64 = 1;
constexpr int kLengthDelimited = 2;

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one (overlong forms,
// surrogates and values past U+10FFFF are invalid).
std::size_t Utf8Length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// `s` with each invalid UTF-8 byte replaced by U+FFFD: protobuf `string` fields must be valid
// UTF-8, and a collector rejects the whole batch otherwise.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  std::size_t copied = 0;
  while (i < s.size()) {
    const std::size_t n = Utf8Length(s, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out.append(s.substr(copied, i - copied));
    out += "\xEF\xBF\xBD";
    copied = ++i;
  }
  if (copied == 0) return std::string(s);
  out.append(s.substr(copied));
  return out;
}

class Writer {
 public:
  void Varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  void Tag(int field, int wire) { Varint((static_cast<std::uint64_t>(field) << 3) | wire); }
  void Uint(int field, std::uint64_t v) {
    Tag(field, kVarint);
    Varint(v);
  }
  void Int64(int field, std::int64_t v) { Uint(field, static_cast<std::uint64_t>(v)); }
  void Fixed64(int field, std::uint64_t v) {
    Tag(field, kFixed64);
    for (int i = 0; i < 8; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  void Double(int field, double v) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    Fixed64(field, bits);
  }
  void Bytes(int field, std::string_view v) {
    Tag(field, kLengthDelimited);
    Varint(v.size());
    out_.append(v);
  }
  // A `string` field (valid UTF-8 guaranteed).
  void Text(int field, std::string_view v) { Bytes(field, ValidUtf8(v)); }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

std::string AnyValueProto(const AttributeValue& value) {
  Writer w;
  std::visit(
      [&w](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          w.Uint(2, v ? 1 : 0);  // bool_value
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          w.Int64(3, v);  // int_value
        } else if constexpr (std::is_same_v<T, double>) {
          w.Double(4, v);  // double_value
        } else if constexpr (std::is_same_v<T, std::string>) {
          w.Text(1, v);  // string_value
        } else {
          Writer array;  // ArrayValue { repeated AnyValue values = 1; }
          for (const std::string& s : v) array.Bytes(1, AnyValueProto(AttributeValue(s)));
          w.Bytes(5, array.str());  // array_value
        }
      },
      value);
  return std::move(w.str());
}

std::string KeyValueProto(std::string_view key, const AttributeValue& value) {
  Writer w;
  w.Text(1, key);
  w.Bytes(2, AnyValueProto(value));
  return std::move(w.str());
}

std::string IdBytes(std::uint64_t id) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(id >> (56 - 8 * i));
  return out;
}

std::uint64_t StartNanos(const SpanData& span) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(span.start.time_since_epoch()).count());
}

std::uint64_t EndNanos(const SpanData& span) {
  const double ns = std::max(0.0, span.duration_ms) * 1e6;
  return StartNanos(span) + static_cast<std::uint64_t>(std::llround(ns));
}

std::string StatusMessage(const Status& status) {
  return std::string(StatusCodeName(status.code())) + ": " + status.message();
}

std::string SpanProto(const SpanData& span) {
  Writer w;
  w.Bytes(1, std::string_view(reinterpret_cast<const char*>(span.trace_id.data()), 16));
  w.Bytes(2, IdBytes(span.span_id));
  if (span.parent_span_id != 0) w.Bytes(4, IdBytes(span.parent_span_id));
  w.Text(5, span.name);
  w.Uint(6, kOtlpKindInternal);
  w.Fixed64(7, StartNanos(span));
  w.Fixed64(8, EndNanos(span));
  if (span.kind != SpanKind::kInternal) {
    w.Bytes(9, KeyValueProto("openinference.span.kind", std::string(SpanKindName(span.kind))));
  }
  for (const auto& [key, value] : span.attributes) w.Bytes(9, KeyValueProto(key, value));
  Writer status;  // Status { string message = 2; StatusCode code = 3; }
  if (span.status.ok()) {
    status.Uint(3, kStatusOk);
  } else {
    status.Text(2, StatusMessage(span.status));
    status.Uint(3, kStatusError);
  }
  w.Bytes(15, status.str());
  return std::move(w.str());
}

nlohmann::json AnyValueJson(const AttributeValue& value) {
  return std::visit(
      [](const auto& v) -> nlohmann::json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return {{"boolValue", v}};
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return {{"intValue", std::to_string(v)}};
        } else if constexpr (std::is_same_v<T, double>) {
          return {{"doubleValue", v}};
        } else if constexpr (std::is_same_v<T, std::string>) {
          return {{"stringValue", v}};
        } else {
          nlohmann::json values = nlohmann::json::array();
          for (const std::string& s : v) values.push_back({{"stringValue", s}});
          return {{"arrayValue", {{"values", values}}}};
        }
      },
      value);
}

nlohmann::json KeyValueJson(std::string_view key, const AttributeValue& value) {
  return {{"key", key}, {"value", AnyValueJson(value)}};
}

}  // namespace

std::string EncodeProtobuf(const Resource& resource, const std::vector<SpanData>& spans) {
  Writer res;  // Resource { repeated KeyValue attributes = 1; }
  for (const auto& [key, value] : resource.attributes) res.Bytes(1, KeyValueProto(key, value));
  Writer scope;  // InstrumentationScope { string name = 1; string version = 2; }
  scope.Text(1, resource.scope_name);
  if (!resource.scope_version.empty()) scope.Text(2, resource.scope_version);
  Writer scope_spans;  // ScopeSpans { scope = 1; repeated Span spans = 2; }
  scope_spans.Bytes(1, scope.str());
  for (const SpanData& span : spans) scope_spans.Bytes(2, SpanProto(span));
  Writer resource_spans;  // ResourceSpans { resource = 1; repeated ScopeSpans scope_spans = 2; }
  resource_spans.Bytes(1, res.str());
  resource_spans.Bytes(2, scope_spans.str());
  Writer request;  // ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
  request.Bytes(1, resource_spans.str());
  return std::move(request.str());
}

std::string EncodeJson(const Resource& resource, const std::vector<SpanData>& spans) {
  nlohmann::json resource_attributes = nlohmann::json::array();
  for (const auto& [key, value] : resource.attributes) {
    resource_attributes.push_back(KeyValueJson(key, value));
  }
  nlohmann::json scope = {{"name", resource.scope_name}};
  if (!resource.scope_version.empty()) scope["version"] = resource.scope_version;
  nlohmann::json span_list = nlohmann::json::array();
  for (const SpanData& span : spans) {
    nlohmann::json attributes = nlohmann::json::array();
    if (span.kind != SpanKind::kInternal) {
      attributes.push_back(
          KeyValueJson("openinference.span.kind", std::string(SpanKindName(span.kind))));
    }
    for (const auto& [key, value] : span.attributes) attributes.push_back(KeyValueJson(key, value));
    nlohmann::json j = {{"traceId", TraceIdHex(span.trace_id)},
                        {"spanId", SpanIdHex(span.span_id)}};
    if (span.parent_span_id != 0) j["parentSpanId"] = SpanIdHex(span.parent_span_id);
    j["name"] = span.name;
    j["kind"] = kOtlpKindInternal;
    j["startTimeUnixNano"] = std::to_string(StartNanos(span));
    j["endTimeUnixNano"] = std::to_string(EndNanos(span));
    j["attributes"] = std::move(attributes);
    j["status"] = span.status.ok() ? nlohmann::json{{"code", kStatusOk}}
                                   : nlohmann::json{{"code", kStatusError},
                                                    {"message", StatusMessage(span.status)}};
    span_list.push_back(std::move(j));
  }
  nlohmann::json request = {{"resourceSpans",
                             {{{"resource", {{"attributes", resource_attributes}}},
                               {"scopeSpans", {{{"scope", scope}, {"spans", span_list}}}}}}}};
  return request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sieve::trace
