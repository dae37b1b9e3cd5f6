// W3C trace context (traceparent) and sampling.
#include <cmath>

#include "trace/trace.h"

namespace sieve::trace {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is invalid in traceparent
}

// Reads 2*n lower-case hex digits into n bytes.
bool ReadHex(std::string_view text, std::uint8_t* out, std::size_t n) {
  if (text.size() != 2 * n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const int hi = HexDigit(text[2 * i]);
    const int lo = HexDigit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

void AppendHex(std::string& out, std::uint8_t byte) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out += kDigits[byte >> 4];
  out += kDigits[byte & 15];
}

}  // namespace

std::optional<TraceParent> ParseTraceParent(std::string_view header) {
  // version "-" trace-id "-" parent-id "-" trace-flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55.
  constexpr std::size_t kLength = 55;
  if (header.size() < kLength) return std::nullopt;
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  std::uint8_t version = 0;
  if (!ReadHex(header.substr(0, 2), &version, 1) || version == 0xff) return std::nullopt;
  if (version == 0 && header.size() != kLength) return std::nullopt;
  if (version != 0 && header.size() > kLength && header[kLength] != '-') return std::nullopt;
  TraceParent parent;
  if (!ReadHex(header.substr(3, 32), parent.trace_id.data(), 16)) return std::nullopt;
  std::array<std::uint8_t, 8> span{};
  if (!ReadHex(header.substr(36, 16), span.data(), 8)) return std::nullopt;
  std::uint8_t flags = 0;
  if (!ReadHex(header.substr(53, 2), &flags, 1)) return std::nullopt;
  bool trace_zero = true;
  for (std::uint8_t b : parent.trace_id) trace_zero = trace_zero && b == 0;
  for (std::uint8_t b : span) parent.span_id = (parent.span_id << 8) | b;
  if (trace_zero || parent.span_id == 0) return std::nullopt;
  parent.sampled = (flags & 1) != 0;
  return parent;
}

std::string TraceIdHex(const std::array<std::uint8_t, 16>& trace_id) {
  std::string out;
  out.reserve(32);
  for (std::uint8_t b : trace_id) AppendHex(out, b);
  return out;
}

std::string SpanIdHex(std::uint64_t span_id) {
  std::string out;
  out.reserve(16);
  for (int shift = 56; shift >= 0; shift -= 8) {
    AppendHex(out, static_cast<std::uint8_t>(span_id >> shift));
  }
  return out;
}

std::string FormatTraceParent(const std::array<std::uint8_t, 16>& trace_id, std::uint64_t span_id,
                              bool sampled) {
  return "00-" + TraceIdHex(trace_id) + "-" + SpanIdHex(span_id) + (sampled ? "-01" : "-00");
}

bool Sampler::Sampled(const std::array<std::uint8_t, 16>& trace_id) const {
  switch (kind) {
    case Kind::kAlwaysOn:
      return true;
    case Kind::kAlwaysOff:
      return false;
    case Kind::kTraceIdRatio: {
      if (ratio >= 1.0) return true;
      if (!(ratio > 0.0)) return false;
      std::uint64_t low = 0;
      for (std::size_t i = 8; i < 16; ++i) low = (low << 8) | trace_id[i];
      const double bound = std::ldexp(ratio, 63);
      return static_cast<double>(low >> 1) < bound;
    }
  }
  return true;
}

}  // namespace sieve::trace
