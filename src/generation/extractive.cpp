#include "generation/extractive.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <map>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "models/encoder.h"

namespace sieve::generation {
namespace {

bool IsWordByte(char c) {
  auto byte = static_cast<unsigned char>(c);
  return std::isalnum(byte) || byte >= 0x80;  // UTF-8 sequences count as letters
}

bool IsSpace(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// Words that end with a period without ending a sentence.
bool IsAbbreviation(std::string_view word) {
  static constexpr std::array<std::string_view, 22> kAbbreviations = {
      "e.g", "i.e", "etc", "vs", "cf", "al",   "fig", "figs", "eq",  "eqs",    "no",
      "nos", "mr",  "mrs", "ms", "dr", "prof", "st",  "sec",  "vol", "approx", "ref"};
  std::string lower;
  for (char c : word) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (std::find(kAbbreviations.begin(), kAbbreviations.end(), lower) != kAbbreviations.end())
    return true;
  // An initial such as "J." in "J. Smith".
  return word.size() == 1 && std::isupper(static_cast<unsigned char>(word[0]));
}

constexpr std::array<std::string_view, 48> kStopWords = {
    "a",     "an",    "and",  "are",  "as",    "at",   "be",   "by",   "can",   "could",
    "did",   "do",    "does", "for",  "from",  "had",  "has",  "have", "how",   "i",
    "in",    "is",    "it",   "its",  "of",    "on",   "or",   "that", "the",   "their",
    "there", "these", "this", "to",   "was",   "were", "what", "when", "where", "which",
    "who",   "why",   "will", "with", "would", "you",  "your", "about"};

// Lowercased words, stop words removed, cut to a 6-character stem.
std::vector<std::string> Terms(std::string_view text) {
  std::vector<std::string> terms;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!IsWordByte(text[i])) {
      ++i;
      continue;
    }
    std::string word;
    while (i < text.size() && IsWordByte(text[i])) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
      ++i;
    }
    if (std::find(kStopWords.begin(), kStopWords.end(), word) != kStopWords.end()) continue;
    if (word.size() > 3 && word.back() == 's' && word[word.size() - 2] != 's') word.pop_back();
    if (word.size() > 6) {
      std::size_t cut = 6;
      while (cut < word.size() && (static_cast<unsigned char>(word[cut]) & 0xC0) == 0x80) ++cut;
      word.resize(cut);
    }
    terms.push_back(std::move(word));
  }
  return terms;
}

// The question's words (lowercased, stop words removed), each with its 6-character term.
std::vector<std::pair<std::string, std::string>> QuestionWords(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> words;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!IsWordByte(text[i])) {
      ++i;
      continue;
    }
    std::size_t begin = i;
    while (i < text.size() && IsWordByte(text[i])) ++i;
    std::string word(text.substr(begin, i - begin));
    std::vector<std::string> terms = Terms(word);
    if (terms.size() != 1) continue;
    std::transform(word.begin(), word.end(), word.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    words.emplace_back(std::move(word), std::move(terms[0]));
  }
  return words;
}

class LexicalScorer final : public SentenceScorer {
 public:
  explicit LexicalScorer(TermIdf index_idf) : index_idf_(std::move(index_idf)) {}

  Result<std::vector<double>> Score(std::string_view question,
                                    const std::vector<std::string>& sentences) override {
    constexpr double kK1 = 1.2;
    constexpr double kB = 0.75;
    std::vector<std::string> query_terms = Terms(question);
    std::sort(query_terms.begin(), query_terms.end());
    query_terms.erase(std::unique(query_terms.begin(), query_terms.end()), query_terms.end());
    // The index's idf of each term (the rarest word of the question that makes it).
    std::unordered_map<std::string, double> known_idf;
    if (index_idf_) {
      for (const auto& [word, term] : QuestionWords(question)) {
        std::optional<double> idf = index_idf_(word);
        if (!idf) continue;
        auto [it, inserted] = known_idf.emplace(term, *idf);
        if (!inserted) it->second = std::max(it->second, *idf);
      }
    }

    std::vector<std::unordered_map<std::string, std::size_t>> tf(sentences.size());
    std::vector<std::size_t> length(sentences.size());
    std::unordered_map<std::string, std::size_t> df;
    double total_length = 0;
    for (std::size_t s = 0; s < sentences.size(); ++s) {
      std::vector<std::string> terms = Terms(sentences[s]);
      length[s] = terms.size();
      total_length += static_cast<double>(terms.size());
      for (std::string& term : terms) {
        if (++tf[s][term] == 1) ++df[term];
      }
    }
    const double n = static_cast<double>(sentences.size());
    const double average_length = sentences.empty() ? 1.0 : std::max(1.0, total_length / n);
    std::vector<double> scores(sentences.size(), 0.0);
    for (const std::string& term : query_terms) {
      auto df_it = df.find(term);
      if (df_it == df.end()) continue;
      const double d = static_cast<double>(df_it->second);
      auto known = known_idf.find(term);
      const double idf =
          known != known_idf.end() ? known->second : std::log(1.0 + (n - d + 0.5) / (d + 0.5));
      for (std::size_t s = 0; s < sentences.size(); ++s) {
        auto it = tf[s].find(term);
        if (it == tf[s].end()) continue;
        const double f = static_cast<double>(it->second);
        const double norm = 1.0 - kB + kB * static_cast<double>(length[s]) / average_length;
        scores[s] += idf * f * (kK1 + 1.0) / (f + kK1 * norm);
      }
    }
    return scores;
  }
  std::string name() const override { return "lexical"; }

 private:
  TermIdf index_idf_;
};

class CrossEncoderScorer final : public SentenceScorer {
 public:
  explicit CrossEncoderScorer(models::CrossEncoder& cross_encoder)
      : cross_encoder_(cross_encoder) {}

  Result<std::vector<double>> Score(std::string_view question,
                                    const std::vector<std::string>& sentences) override {
    if (sentences.empty()) return std::vector<double>{};
    SIEVE_ASSIGN_OR_RETURN(std::vector<models::CrossEncoderScore> scored,
                           cross_encoder_.Score(question, sentences));
    if (scored.size() != sentences.size()) {
      return Status::Internal("cross-encoder returned " + std::to_string(scored.size()) +
                              " scores for " + std::to_string(sentences.size()) + " sentences");
    }
    std::vector<double> scores;
    scores.reserve(scored.size());
    for (const models::CrossEncoderScore& s : scored) scores.push_back(s.score);
    return scores;
  }
  std::string name() const override {
    const std::string& id = cross_encoder_.info().id;
    return id.empty() ? "cross-encoder" : "cross-encoder " + id;
  }

 private:
  models::CrossEncoder& cross_encoder_;
};

// A candidate sentence and where it is.
struct Candidate {
  std::size_t passage = 0;  // index into the passages (0-based rank)
  Sentence sentence;
  double score = 0;
};

// Collapses runs of whitespace so a sentence reads as one line.
std::string OneLine(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (IsSpace(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

std::unique_ptr<SentenceScorer> MakeCrossEncoderScorer(models::CrossEncoder& cross_encoder) {
  return std::make_unique<CrossEncoderScorer>(cross_encoder);
}

std::unique_ptr<SentenceScorer> MakeLexicalScorer(TermIdf index_idf) {
  return std::make_unique<LexicalScorer>(std::move(index_idf));
}

bool IsNonAnswerSentence(std::string_view sentence, std::string_view question) {
  const std::string line = OneLine(sentence);
  if (line.empty()) return true;
  std::string lower = line;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string asked(question);
  std::transform(asked.begin(), asked.end(), asked.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // A question does not answer one.
  if (line.back() == '?') return true;
  // Table fragments: cells separated by tabs or pipes, or mostly digits and symbols.
  if (sentence.find('\t') != std::string_view::npos) return true;
  if (std::count(line.begin(), line.end(), '|') >= 2) return true;
  std::size_t letters = 0;
  for (unsigned char c : line) letters += std::isalpha(c) || c >= 0x80 ? 1 : 0;
  if (line.size() >= 8 && letters * 2 < line.size()) return true;
  // Headings: a few words, no final stop, every word capitalised (or none lowercase).
  std::size_t words = 1;
  for (char c : line) words += c == ' ' ? 1 : 0;
  const char last = line.back();
  const bool stop = last == '.' || last == '!' || last == ':' || last == ';' || last == ')' ||
                    last == '"' || last == '\'';
  if (!stop && words <= 6) {
    bool all_capitalised = true;
    std::size_t at = 0;
    while (at < line.size()) {
      const unsigned char first = static_cast<unsigned char>(line[at]);
      if (std::isalpha(first) && !std::isupper(first)) all_capitalised = false;
      const std::size_t space = line.find(' ', at);
      at = space == std::string::npos ? line.size() : space + 1;
    }
    if (all_capitalised) return true;
  }
  // Boilerplate, unless asked about.
  for (std::string_view phrase :
       {"all rights reserved", "this program is free software", "without any warranty",
        "table of contents", "back to top", "this page intentionally", "generated by",
        "last modified:", "permission is hereby granted"}) {
    if (lower.find(phrase) != std::string::npos) {
      if (asked.find("warrant") != std::string::npos ||
          asked.find("permission") != std::string::npos ||
          asked.find("rights") != std::string::npos ||
          asked.find("free software") != std::string::npos) {
        return false;
      }
      return true;
    }
  }
  return false;
}

std::vector<Sentence> SplitSentences(std::string_view text) {
  std::vector<Sentence> sentences;
  auto emit = [&](std::size_t begin, std::size_t end) {
    while (begin < end && IsSpace(text[begin])) ++begin;
    while (end > begin && IsSpace(text[end - 1])) --end;
    std::string_view piece = text.substr(begin, end - begin);
    if (std::none_of(piece.begin(), piece.end(), IsWordByte)) return;
    sentences.push_back({begin, end, std::string(piece)});
  };
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') {
      // A blank line ends a sentence (paragraphs, headings, list items).
      std::size_t j = i + 1;
      while (j < text.size() && text[j] != '\n' && IsSpace(text[j])) ++j;
      if (j < text.size() && text[j] == '\n') {
        emit(start, i);
        start = j + 1;
        i = j + 1;
        continue;
      }
    }
    if (c == '.' || c == '!' || c == '?') {
      std::size_t end = i + 1;
      // Closing quotes and brackets belong to the sentence they end.
      while (end < text.size() &&
             (text[end] == '"' || text[end] == '\'' || text[end] == ')' || text[end] == ']' ||
              text[end] == '.' || text[end] == '!' || text[end] == '?')) {
        ++end;
      }
      if (end == text.size() || IsSpace(text[end])) {
        bool boundary = true;
        if (c == '.') {
          std::size_t word_begin = i;
          while (word_begin > start && !IsSpace(text[word_begin - 1]) &&
                 text[word_begin - 1] != '(') {
            --word_begin;
          }
          if (IsAbbreviation(text.substr(word_begin, i - word_begin))) boundary = false;
        }
        if (boundary) {
          emit(start, end);
          start = end;
        }
      }
      i = end;
      continue;
    }
    ++i;
  }
  emit(start, text.size());
  return sentences;
}

Result<Answer> ExtractiveAnswer(std::string_view question, const std::vector<Passage>& passages,
                                const ExtractiveOptions& options, SentenceScorer& scorer) {
  Answer answer;
  answer.extractive = true;
  answer.model = "extractive (" + scorer.name() + ")";
  const std::size_t considered =
      std::min(passages.size(), std::max<std::size_t>(1, options.max_passages));
  answer.passages_in_context = considered;

  std::vector<Candidate> candidates;
  std::unordered_set<std::string> seen_text;  // overlapping chunks repeat sentences
  for (std::size_t p = 0; p < considered; ++p) {
    for (Sentence& sentence : SplitSentences(passages[p].text)) {
      const std::string line = OneLine(sentence.text);
      // A heading repeats the passage's section or document title: a label, not evidence, and
      // it would win on word overlap with the question it paraphrases.
      if (line == OneLine(passages[p].section) || line == OneLine(passages[p].title)) continue;
      if (!seen_text.insert(line).second) continue;
      candidates.push_back({p, std::move(sentence), 0.0});
    }
  }
  // Questions, headings, table cells and boilerplate are not answers (while others are left).
  {
    std::vector<Candidate> answers;
    for (const Candidate& c : candidates) {
      if (!IsNonAnswerSentence(c.sentence.text, question)) answers.push_back(c);
    }
    if (!answers.empty()) candidates = std::move(answers);
  }
  if (candidates.empty()) {
    answer.text = std::string(kNoPassagesAnswer);
    answer.notes.push_back(passages.empty() ? "no passages were retrieved for the question"
                                            : "the retrieved passages contain no text");
    return answer;
  }

  std::vector<std::string> texts;
  texts.reserve(candidates.size());
  for (const Candidate& c : candidates) texts.push_back(c.sentence.text);
  SIEVE_ASSIGN_OR_RETURN(std::vector<double> scores, scorer.Score(question, texts));
  if (scores.size() != candidates.size()) {
    return Status::Internal("sentence scorer " + scorer.name() + " returned " +
                            std::to_string(scores.size()) + " scores for " +
                            std::to_string(candidates.size()) + " sentences");
  }
  for (std::size_t i = 0; i < candidates.size(); ++i) candidates[i].score = scores[i];

  // Best first; ties go to the better-ranked passage, then the earlier sentence.
  std::vector<std::size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (candidates[a].score != candidates[b].score)
      return candidates[a].score > candidates[b].score;
    return a < b;
  });
  if (std::all_of(scores.begin(), scores.end(), [](double s) { return s <= 0.0; }) &&
      scorer.name() == "lexical") {
    answer.notes.push_back(
        "no sentence shares a word with the question; showing the top passage's opening");
  }
  // Sentences that share nothing with the question are not evidence when others do.
  if (candidates[order.front()].score > 0.0) {
    std::erase_if(order, [&](std::size_t i) { return candidates[i].score <= 0.0; });
  }
  order.resize(std::min(order.size(), std::max<std::size_t>(1, options.max_sentences)));

  // Document order: documents by their best passage's rank, then byte offset in the document.
  std::map<std::string, std::size_t> document_rank;
  for (std::size_t p = 0; p < considered; ++p) document_rank.emplace(passages[p].source_path, p);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const Candidate& x = candidates[a];
    const Candidate& y = candidates[b];
    const Passage& px = passages[x.passage];
    const Passage& py = passages[y.passage];
    std::size_t rank_x = document_rank[px.source_path];
    std::size_t rank_y = document_rank[py.source_path];
    if (rank_x != rank_y) return rank_x < rank_y;
    std::size_t offset_x = px.begin + x.sentence.begin;
    std::size_t offset_y = py.begin + y.sentence.begin;
    if (offset_x != offset_y) return offset_x < offset_y;
    return x.passage < y.passage;
  });

  answer.text = std::string(kExtractivePrefix);
  // Citation numbers in the order the answer first cites each passage: [1], [2], ... no gaps;
  // each Citation keeps the passage's rank (its position in `passages`).
  std::vector<std::size_t> cited;  // passage index of citation n+1
  auto number_of = [&](std::size_t passage) {
    auto it = std::find(cited.begin(), cited.end(), passage);
    if (it != cited.end()) return static_cast<std::size_t>(it - cited.begin()) + 1;
    cited.push_back(passage);
    return cited.size();
  };
  for (std::size_t k = 0; k < order.size(); ++k) {
    const Candidate& c = candidates[order[k]];
    if (k > 0) answer.text += ' ';
    answer.text += OneLine(c.sentence.text);
    // One citation after a run of sentences from the same passage.
    bool run_continues = k + 1 < order.size() && candidates[order[k + 1]].passage == c.passage;
    if (!run_continues) answer.text += " [" + std::to_string(number_of(c.passage)) + "]";
  }
  for (std::size_t n = 0; n < cited.size(); ++n) {
    answer.citations.push_back({n + 1, cited[n] + 1, passages[cited[n]]});
  }
  return answer;
}

}  // namespace sieve::generation
