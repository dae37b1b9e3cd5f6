// libFuzzer target: the request bodies of `sieve serve` (server/requests.h) on arbitrary bytes.
// The first byte picks the endpoint, the rest is the body. A parser must never crash; a refusal
// is a 4xx with a code and a message, and what it accepts holds what the handlers rely on (texts
// within the limits and not blank, safe upload names).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/requests.h"

namespace {

using namespace sieve::server;

constexpr std::size_t kMaxInputs = 8;

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\n") == std::string::npos;
}

void CheckTexts(const std::vector<std::string>& texts) {
  Check(!texts.empty() && texts.size() <= kMaxInputs);
  for (const auto& t : texts) Check(!Blank(t));
}

void CheckName(const std::string& name) {
  Check(!name.empty() && name.size() <= 120 && name.front() != '.');
  for (char c : name) {
    Check((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '-' || c == '_');
  }
}

// Ok when `parsed` is a well-formed refusal; else its value passes `check`.
template <typename T, typename F>
void Expect(const Parsed<T>& parsed, F check) {
  if (const auto* e = std::get_if<RequestError>(&parsed)) {
    Check(e->status == 400 || e->status == 404 || e->status == 413);
    Check(!e->code.empty() && !e->message.empty());
    return;
  }
  check(std::get<T>(parsed));
}

// Multipart parts from bytes: field, file name and content separated by NUL bytes.
std::vector<FormPart> Parts(std::string_view bytes) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (start <= bytes.size()) {
    std::size_t end = bytes.find('\0', start);
    if (end == std::string_view::npos) end = bytes.size();
    fields.emplace_back(bytes.substr(start, end - start));
    start = end + 1;
  }
  std::vector<FormPart> parts;
  for (std::size_t i = 0; i + 2 < fields.size(); i += 3) {
    parts.push_back({fields[i], fields[i + 1], fields[i + 2]});
  }
  return parts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const std::set<std::string> kEmbed{"sieve", "bge"};
  static const std::set<std::string> kRerank{"sieve", "ms-marco"};
  RequestLimits limits;
  limits.max_inputs = kMaxInputs;
  limits.embed_models = &kEmbed;
  limits.rerank_models = &kRerank;
  limits.embed_dimension = 384;
  switch (data[0] % 9) {
    case 0:
      Expect(ParseEmbeddingsBody(body, limits), [](const EmbeddingsBody& b) {
        CheckTexts(b.texts);
        Check(!b.dimensions || (*b.dimensions >= 1 && *b.dimensions <= 384));
      });
      break;
    case 1:
      Expect(ParseTeiEmbedBody(body, limits), [](const TeiEmbedBody& b) { CheckTexts(b.texts); });
      break;
    case 2:
      Expect(ParseRerankBody(body, limits), [](const RerankBody& b) {
        Check(!Blank(b.request.query));
        CheckTexts(b.request.documents);
      });
      break;
    case 3:
      Expect(ParseTokenizeBody(body, limits), [](const TokenizeBody& b) {
        Check(!b.texts.empty() && b.texts.size() <= kMaxInputs);
      });
      break;
    case 4:
      Expect(ParseQueryBody(body), [](const QueryBody& b) { Check(!Blank(b.ask.query)); });
      break;
    case 5:
    case 6: {
      const std::optional<std::string> header =
          data[0] % 9 == 6 ? std::optional<std::string>("session-from-header") : std::nullopt;
      Expect(ParseChatBody(body, header), [](const ChatBody& b) {
        Check(!Blank(b.ask.query));
        Check(b.ask.session_id.size() <= 256);
        for (const auto& turn : b.ask.history) {
          Check(turn.role == "user" || turn.role == "assistant");
          Check(!Blank(turn.content));
        }
      });
      break;
    }
    case 7:
      Expect(ParseDocumentsJson(body), [](const DocumentsBody& b) {
        Check(b.uploads.size() == 1);
        CheckName(b.uploads[0].name);
        for (const auto& tag : b.tags) Check(!tag.empty() && tag.find(',') == std::string::npos);
      });
      break;
    case 8:
      Expect(ParseDocumentsForm(Parts(body)), [](const DocumentsBody& b) {
        Check(!b.uploads.empty());
        for (const auto& u : b.uploads) CheckName(u.name);
      });
      break;
  }
  return 0;
}
