#include "generation/query_rewrite.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>

namespace sieve::generation {
namespace {

constexpr std::string_view kCondenseSystem =
    "You rewrite follow-up questions for a search engine. Given a conversation and a follow-up "
    "question, rephrase the follow-up question into one standalone question that can be "
    "understood without the conversation: resolve pronouns and references to earlier turns, keep "
    "the user's language and meaning, do not answer it. Reply with the standalone question "
    "only.";

constexpr std::string_view kExpandSystem =
    "You help a search engine find documents. Write alternative versions of the user's question "
    "that ask for the same information with different words (synonyms, other phrasings, more or "
    "less specific terms), so that documents a single phrasing would miss are found too. Reply "
    "with one question per line, without numbering or any other text.";

std::string_view Trim(std::string_view s) {
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Removes one pair of matching quotes around `s`.
std::string_view Unquote(std::string_view s) {
  s = Trim(s);
  if (s.size() >= 2) {
    const char a = s.front();
    const char b = s.back();
    if ((a == '"' && b == '"') || (a == '\'' && b == '\'') || (a == '`' && b == '`')) {
      s = Trim(s.substr(1, s.size() - 2));
    }
  }
  return s;
}

// Removes a leading list marker: "1.", "12)", "-", "*", "•".
std::string_view StripListMarker(std::string_view s) {
  s = Trim(s);
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i > 0 && i < s.size() && (s[i] == '.' || s[i] == ')' || s[i] == ':')) {
    return Trim(s.substr(i + 1));
  }
  if (!s.empty() && (s.front() == '-' || s.front() == '*')) return Trim(s.substr(1));
  if (s.starts_with("\xE2\x80\xA2")) return Trim(s.substr(3));  // U+2022 bullet
  return s;
}

// Strips "<label>:" at the start of `s` when it matches (ignoring case).
std::string_view StripLabel(std::string_view s, std::string_view label) {
  if (s.size() >= label.size() && Lower(s.substr(0, label.size())) == label) {
    return Trim(s.substr(label.size()));
  }
  return s;
}

}  // namespace

std::vector<ChatMessage> CondensePrompt(const std::vector<ChatMessage>& history,
                                        std::string_view question) {
  std::string user = "Conversation:\n";
  for (const ChatMessage& turn : history) {
    if (turn.role == "user") {
      user += "User: " + std::string(Trim(turn.content)) + "\n";
    } else if (turn.role == "assistant") {
      user += "Assistant: " + std::string(Trim(turn.content)) + "\n";
    }
  }
  user += "\nFollow-up question: " + std::string(Trim(question)) + "\n\nStandalone question:";
  return {{"system", std::string(kCondenseSystem)}, {"user", std::move(user)}};
}

std::string ParseCondensed(std::string_view reply) {
  std::string_view s = Trim(reply);
  s = StripLabel(s, "standalone question:");
  // A model that explains itself puts the question on the first non-empty line.
  const std::size_t newline = s.find('\n');
  if (newline != std::string_view::npos) s = Trim(s.substr(0, newline));
  return std::string(Unquote(s));
}

Result<std::string> CondenseQuestion(const LlmClient& client,
                                     const std::vector<ChatMessage>& history,
                                     std::string_view question, RequestContext* ctx) {
  if (Trim(question).empty()) return Status::InvalidArgument("empty question");
  const bool has_turns = std::any_of(history.begin(), history.end(), [](const ChatMessage& m) {
    return m.role == "user" || m.role == "assistant";
  });
  if (!has_turns) return std::string(question);
  Span span = ctx != nullptr ? ctx->StartSpan("query.condense", SpanKind::kLlm) : Span();
  span.SetAttribute("input.value", std::string(question));
  span.SetAttribute("llm.model_name", client.options().model);
  auto response = client.Complete(CondensePrompt(history, question), {}, ctx);
  if (!response.ok()) {
    span.End(response.status());
    return response.status().WithContext("condensing the question");
  }
  std::string condensed = ParseCondensed(response->content);
  if (condensed.empty()) {
    Status status = Status::InvalidInput("condensing the question: the LLM's reply is empty");
    span.End(status);
    return status;
  }
  span.SetAttribute("output.value", condensed);
  span.End();
  return condensed;
}

std::vector<ChatMessage> ExpansionPrompt(std::string_view question, std::size_t n) {
  std::string user = "Write " + std::to_string(n) + " alternative version" + (n == 1 ? "" : "s") +
                     " of this question, one per line:\n" + std::string(Trim(question));
  return {{"system", std::string(kExpandSystem)}, {"user", std::move(user)}};
}

std::vector<std::string> ParseExpansions(std::string_view reply, std::string_view question,
                                         std::size_t n) {
  std::vector<std::string> out;
  std::vector<std::string> seen{Lower(Trim(question))};
  std::size_t start = 0;
  while (start <= reply.size() && out.size() < n) {
    std::size_t end = reply.find('\n', start);
    if (end == std::string_view::npos) end = reply.size();
    std::string_view line = Unquote(StripListMarker(reply.substr(start, end - start)));
    start = end + 1;
    if (line.empty() || line.ends_with(':')) continue;  // blank, or a heading like "Questions:"
    std::string key = Lower(line);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(std::move(key));
    out.emplace_back(line);
  }
  return out;
}

Result<std::vector<std::string>> ExpandQuery(const LlmClient& client, std::string_view question,
                                             std::size_t n, RequestContext* ctx) {
  if (Trim(question).empty()) return Status::InvalidArgument("empty question");
  if (n == 0) return std::vector<std::string>{};
  Span span = ctx != nullptr ? ctx->StartSpan("query.expand", SpanKind::kLlm) : Span();
  span.SetAttribute("input.value", std::string(question));
  span.SetAttribute("llm.model_name", client.options().model);
  auto response = client.Complete(ExpansionPrompt(question, n), {}, ctx);
  if (!response.ok()) {
    span.End(response.status());
    return response.status().WithContext("expanding the query");
  }
  std::vector<std::string> queries = ParseExpansions(response->content, question, n);
  if (queries.empty()) {
    Status status = Status::InvalidInput("expanding the query: no alternative query in the reply");
    span.End(status);
    return status;
  }
  span.SetAttribute("output.value", queries);
  span.End();
  return queries;
}

}  // namespace sieve::generation
