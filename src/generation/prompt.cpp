#include "generation/prompt.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace sieve::generation {
namespace {

constexpr std::string_view kSystemPrompt =
    "You are Sieve, a careful assistant that answers questions using only the numbered passages "
    "the user provides. Every statement in your answer must be supported by the passages; cite "
    "the passage numbers in square brackets right after the statement, like [1] or [2][3]. Do not "
    "use outside knowledge and never cite a number that is not in the list. If the passages do "
    "not contain the answer, say so plainly instead of guessing.";

// Largest citation range expanded ("[1-3]"); anything wider is not a citation.
constexpr std::size_t kMaxRange = 50;
// Longest bracketed text considered as a citation list.
constexpr std::size_t kMaxBracketText = 60;

std::string PassageBlock(std::size_t number, const Passage& passage, std::string_view text) {
  std::string block = PassageLabel(number, passage);
  block += "\n";
  block += text;
  block += "\n\n";
  return block;
}

bool IsUtf8Continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// The longest prefix of `text`, cut at a word boundary where possible, whose block fits `budget`.
std::string CutToFit(std::size_t number, const Passage& passage, std::size_t budget,
                     const TokenCounter& count) {
  const std::string& text = passage.text;
  auto fits = [&](std::size_t cut) {
    return count(PassageBlock(number, passage, text.substr(0, cut) + " ...")) <= budget;
  };
  // Token counts grow with the prefix, so the cuts that fit are a prefix of any ascending list.
  auto longest_fitting = [&](const std::vector<std::size_t>& cuts) -> std::size_t {
    auto first_too_long = std::partition_point(cuts.begin(), cuts.end(), fits);
    return first_too_long == cuts.begin() ? 0 : *(first_too_long - 1);
  };
  std::vector<std::size_t> word_ends;
  for (std::size_t i = 1; i < text.size(); ++i) {
    if (std::isspace(static_cast<unsigned char>(text[i])) &&
        !std::isspace(static_cast<unsigned char>(text[i - 1]))) {
      word_ends.push_back(i);
    }
  }
  std::size_t cut = longest_fitting(word_ends);
  if (cut == 0) {
    // Not even the first word fits: cut inside it, at a code-point boundary.
    std::size_t first_word_end = word_ends.empty() ? text.size() : word_ends.front();
    std::vector<std::size_t> code_points;
    for (std::size_t i = 1; i < first_word_end; ++i) {
      if (!IsUtf8Continuation(text[i])) code_points.push_back(i);
    }
    cut = longest_fitting(code_points);
  }
  return text.substr(0, cut) + " ...";
}

}  // namespace

std::string PassageLabel(std::size_t number, const Passage& passage) {
  std::string label = "[" + std::to_string(number) + "] ";
  label += passage.source_path.empty() ? "(unknown source)" : passage.source_path;
  if (!passage.title.empty() && passage.title != passage.source_path)
    label += ", title \"" + passage.title + "\"";
  if (!passage.section.empty()) label += ", section \"" + passage.section + "\"";
  if (passage.page > 0) label += ", page " + std::to_string(passage.page);
  return label;
}

Prompt BuildPrompt(std::string_view question, const std::vector<Passage>& passages,
                   std::size_t token_budget, const TokenCounter& count_tokens) {
  const TokenCounter count = count_tokens ? count_tokens : TokenCounter(ApproxTokenCount);
  Prompt prompt;
  std::string context;
  for (std::size_t i = 0; i < passages.size(); ++i) {
    std::string block = PassageBlock(i + 1, passages[i], passages[i].text);
    std::size_t tokens = count(block);
    if (prompt.context_tokens + tokens > token_budget) {
      if (i == 0) {
        // The best passage alone is too long: give the model its beginning rather than nothing.
        block = PassageBlock(1, passages[0], CutToFit(1, passages[0], token_budget, count));
        tokens = count(block);
        prompt.first_passage_truncated = true;
        context += block;
        prompt.context_tokens += tokens;
        prompt.passages_used = 1;
      }
      break;  // passages are in rank order: everything from here on is lower ranked
    }
    context += block;
    prompt.context_tokens += tokens;
    prompt.passages_used = i + 1;
  }
  prompt.passages_dropped = passages.size() - prompt.passages_used;

  std::string user = "Passages:\n\n" + context;
  user += "Question: ";
  user += question;
  user +=
      "\n\nAnswer the question using only the passages above, and cite them as [n] after each "
      "statement.";
  prompt.messages.push_back({"system", std::string(kSystemPrompt)});
  prompt.messages.push_back({"user", std::move(user)});
  return prompt;
}

std::vector<std::size_t> ParseCitationNumbers(std::string_view text) {
  std::vector<std::size_t> numbers;
  std::set<std::size_t> seen;
  std::size_t pos = 0;
  while ((pos = text.find('[', pos)) != std::string_view::npos) {
    std::size_t close = text.find(']', pos + 1);
    if (close == std::string_view::npos) break;
    std::string_view inside = text.substr(pos + 1, close - pos - 1);
    pos += 1;
    if (inside.empty() || inside.size() > kMaxBracketText) continue;
    // Only digits, separators and range dashes: "1", "1, 2", "1-3", "1,2; 4".
    bool valid = std::all_of(inside.begin(), inside.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) || c == ',' || c == ';' || c == ' ' ||
             c == '-';
    });
    if (!valid) continue;
    std::vector<std::size_t> found;
    std::size_t i = 0;
    bool ok = true;
    bool any = false;
    while (i < inside.size() && ok) {
      while (i < inside.size() && (inside[i] == ' ' || inside[i] == ',' || inside[i] == ';')) ++i;
      if (i >= inside.size()) break;
      auto read_number = [&](std::size_t& value) {
        std::size_t start = i;
        value = 0;
        while (i < inside.size() && std::isdigit(static_cast<unsigned char>(inside[i]))) {
          if (i - start >= 6) return false;  // not a passage number
          value = value * 10 + static_cast<std::size_t>(inside[i] - '0');
          ++i;
        }
        return i > start;
      };
      std::size_t first = 0;
      if (!read_number(first)) {
        ok = false;
        break;
      }
      while (i < inside.size() && inside[i] == ' ') ++i;
      if (i < inside.size() && inside[i] == '-') {
        ++i;
        while (i < inside.size() && inside[i] == ' ') ++i;
        std::size_t last = 0;
        if (!read_number(last) || last < first || last - first > kMaxRange) {
          ok = false;
          break;
        }
        for (std::size_t n = first; n <= last; ++n) found.push_back(n);
      } else {
        found.push_back(first);
      }
      any = true;
    }
    if (!ok || !any) continue;
    for (std::size_t n : found) {
      if (seen.insert(n).second) numbers.push_back(n);
    }
    pos = close + 1;
  }
  return numbers;
}

std::vector<Citation> CitedPassages(std::string_view text, const std::vector<Passage>& passages,
                                    std::vector<std::size_t>* out_of_range) {
  std::vector<Citation> citations;
  for (std::size_t number : ParseCitationNumbers(text)) {
    if (number >= 1 && number <= passages.size()) {
      citations.push_back({number, number, passages[number - 1]});
    } else if (out_of_range != nullptr) {
      out_of_range->push_back(number);
    }
  }
  return citations;
}

}  // namespace sieve::generation
