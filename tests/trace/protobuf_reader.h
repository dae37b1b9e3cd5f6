// A protobuf wire-format reader for the tests: a message as its fields (number, wire type,
// value), enough to walk an ExportTraceServiceRequest by field numbers. Independent of the
// encoder it checks (trace/encode.cpp); scripts/test-phoenix cross-checks both with the official
// opentelemetry-proto definitions.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sieve::trace::testing {

struct Field {
  int number = 0;
  int wire = 0;
  std::uint64_t number_value = 0;  // varint, fixed64, fixed32
  std::string bytes;               // length-delimited
};

class Message {
 public:
  explicit Message(std::string_view data) {
    std::size_t pos = 0;
    auto varint = [&]() {
      std::uint64_t v = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= data.size()) throw std::runtime_error("truncated varint");
        const auto byte = static_cast<std::uint8_t>(data[pos++]);
        v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) return v;
      }
      throw std::runtime_error("varint too long");
    };
    while (pos < data.size()) {
      const std::uint64_t key = varint();
      Field f;
      f.number = static_cast<int>(key >> 3);
      f.wire = static_cast<int>(key & 7);
      if (f.wire == 0) {
        f.number_value = varint();
      } else if (f.wire == 1 || f.wire == 5) {
        const std::size_t n = f.wire == 1 ? 8 : 4;
        if (pos + n > data.size()) throw std::runtime_error("truncated fixed");
        for (std::size_t i = 0; i < n; ++i) {
          f.number_value |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(data[pos + i]))
                            << (8 * i);
        }
        pos += n;
      } else if (f.wire == 2) {
        const std::uint64_t n = varint();
        if (pos + n > data.size()) throw std::runtime_error("truncated bytes");
        f.bytes = std::string(data.substr(pos, n));
        pos += n;
      } else {
        throw std::runtime_error("unexpected wire type " + std::to_string(f.wire));
      }
      fields_.push_back(std::move(f));
    }
  }

  std::vector<const Field*> All(int number) const {
    std::vector<const Field*> out;
    for (const Field& f : fields_) {
      if (f.number == number) out.push_back(&f);
    }
    return out;
  }
  const Field* One(int number) const {
    const auto all = All(number);
    if (all.size() != 1) return nullptr;
    return all.front();
  }
  bool Has(int number) const { return !All(number).empty(); }
  Message Sub(int number) const {
    const Field* f = One(number);
    if (f == nullptr || f->wire != 2) throw std::runtime_error("no single message field");
    return Message(f->bytes);
  }
  std::vector<Message> Subs(int number) const {
    std::vector<Message> out;
    for (const Field* f : All(number)) out.emplace_back(f->bytes);
    return out;
  }
  std::string String(int number) const {
    const Field* f = One(number);
    return f == nullptr ? std::string() : f->bytes;
  }
  std::uint64_t Number(int number) const {
    const Field* f = One(number);
    return f == nullptr ? 0 : f->number_value;
  }
  const std::vector<Field>& fields() const { return fields_; }

 private:
  std::vector<Field> fields_;
};

// A decoded AnyValue, as text for comparisons: "s:<string>", "b:1", "i:<n>", "d:<n>",
// "a:[s:x,s:y]".
inline std::string AnyValueText(const Message& any) {
  if (any.Has(1)) return "s:" + any.String(1);
  if (any.Has(2)) return "b:" + std::to_string(any.Number(2));
  if (any.Has(3)) return "i:" + std::to_string(static_cast<std::int64_t>(any.Number(3)));
  if (any.Has(4)) {
    double d = 0;
    const std::uint64_t bits = any.Number(4);
    std::memcpy(&d, &bits, sizeof d);
    return "d:" + std::to_string(d);
  }
  if (any.Has(5)) {
    std::string out = "a:[";
    bool first = true;
    for (const Message& v : any.Sub(5).Subs(1)) {
      out += (first ? "" : ",") + AnyValueText(v);
      first = false;
    }
    return out + "]";
  }
  return "?";
}

// KeyValue list (field `number` of `m`) as key -> AnyValueText.
inline std::map<std::string, std::string> AttributeMap(const Message& m, int number) {
  std::map<std::string, std::string> out;
  for (const Message& kv : m.Subs(number)) out[kv.String(1)] = AnyValueText(kv.Sub(2));
  return out;
}

}  // namespace sieve::trace::testing
