#include "eval/rag.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "eval/ragas_prompts.h"
#include "sieve/sieve.h"

namespace sieve::eval {
namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

// ---- question set ----

const json* Field(const json& object, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = object.find(name);
    if (it != object.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

Status ReadStrings(const json* value, const char* what, std::vector<std::string>& out) {
  if (value == nullptr) return Status::Ok();
  if (!value->is_array()) return Status::InvalidInput(std::string(what) + " must be a list");
  for (const auto& item : *value) {
    if (item.is_string()) {
      out.push_back(item.get<std::string>());
    } else if (item.is_number_integer()) {
      out.push_back(std::to_string(item.get<long long>()));
    } else {
      return Status::InvalidInput(std::string(what) + " must hold strings");
    }
  }
  return Status::Ok();
}

// ---- prompts and replies ----

std::string JoinLines(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += '\n';
    out += parts[i];
  }
  return out;
}

// Pydantic's lax int: an integer, a bool, an integral float or a string holding an integer.
std::optional<long long> LaxInt(const json& value) {
  if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
  if (value.is_number_integer()) return value.get<long long>();
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (std::isfinite(d) && std::floor(d) == d) return static_cast<long long>(d);
    return std::nullopt;
  }
  if (value.is_string()) {
    const std::string s = value.get<std::string>();
    std::size_t used = 0;
    try {
      long long v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (...) {
    }
  }
  return std::nullopt;
}

bool IsString(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string();
}

// Parsed replies; nullopt = does not match the output model.
std::optional<std::vector<std::string>> ParseStatements(const json& reply) {
  if (!reply.is_object()) return std::nullopt;
  auto it = reply.find("statements");
  if (it == reply.end() || !it->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& s : *it) {
    if (!s.is_string()) return std::nullopt;
    out.push_back(s.get<std::string>());
  }
  return out;
}

// A list of objects with string fields `strings` and an int field `flag`; the flags.
std::optional<std::vector<int>> ParseFlagged(const json& list,
                                             std::initializer_list<const char*> strings,
                                             const char* flag) {
  if (!list.is_array()) return std::nullopt;
  std::vector<int> out;
  for (const auto& item : list) {
    if (!item.is_object()) return std::nullopt;
    for (const char* key : strings) {
      if (!IsString(item, key)) return std::nullopt;
    }
    auto f = item.find(flag);
    if (f == item.end()) return std::nullopt;
    auto v = LaxInt(*f);
    if (!v) return std::nullopt;
    out.push_back(*v != 0 ? 1 : 0);
  }
  return out;
}

struct RelevanceReply {
  std::string question;
  bool noncommittal = false;
};

struct Counters {
  std::atomic<std::size_t> judge_calls{0};
  std::atomic<std::size_t> unparseable_replies{0};
};

// The outcome of one metric on one sample.
struct Outcome {
  enum Kind { kScored, kNotApplicable, kUndefined, kUnparseable, kFailed } kind = kScored;
  double score = 0;
  std::string why;
  static Outcome Score(double s) { return {kScored, s, ""}; }
  static Outcome Na(std::string why) { return {kNotApplicable, 0, std::move(why)}; }
  static Outcome Undefined(std::string why) { return {kUndefined, 0, std::move(why)}; }
};

// Thrown-free control flow: a judged step either yields a value or an Outcome that ends the
// metric.
template <typename T>
struct Step {
  std::optional<T> value;
  Outcome stop;
};

class Scorer {
 public:
  Scorer(const RagOptions& options, Counters& counters) : options_(options), counters_(counters) {}

  // Asks the judge `prompt` and parses the reply with `parse` (nullopt = unparseable), asking
  // again up to parse_retries times.
  template <typename T, typename Parse>
  Step<T> Ask(const std::string& prompt, Parse parse) const {
    for (int attempt = 0; attempt <= options_.parse_retries; ++attempt) {
      counters_.judge_calls.fetch_add(1);
      auto reply = options_.judge(prompt);
      if (!reply.ok()) {
        return {std::nullopt, {Outcome::kFailed, 0, "judge: " + reply.status().ToString()}};
      }
      json parsed = json::parse(ExtractJson(*reply), nullptr, false);
      if (!parsed.is_discarded()) {
        std::optional<T> value = parse(parsed);
        if (value) return {std::move(value), {}};
      }
      counters_.unparseable_replies.fetch_add(1);
    }
    return {std::nullopt, {Outcome::kUnparseable, 0, "unparseable verdict from the judge"}};
  }

  Step<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts) const {
    auto vectors = options_.embed(texts);
    if (!vectors.ok()) {
      return {std::nullopt, {Outcome::kFailed, 0, "embeddings: " + vectors.status().ToString()}};
    }
    if (vectors->size() != texts.size()) {
      return {std::nullopt, {Outcome::kFailed, 0, "embeddings: wrong number of vectors"}};
    }
    return {std::move(*vectors), {}};
  }

  Step<std::vector<std::string>> Statements(const std::string& question,
                                            const std::string& text) const {
    ojson input;
    input["question"] = question;
    input["answer"] = text;
    return Ask<std::vector<std::string>>(RagasPrompt(ragas::kStatementGenerator, input),
                                         ParseStatements);
  }

  Outcome Faithfulness(const RagSample& s) const {
    if (s.answer.empty() || s.contexts.empty()) return Outcome::Na("needs an answer and contexts");
    auto statements = Statements(s.question, s.answer);
    if (!statements.value) return statements.stop;
    if (statements.value->empty()) return Outcome::Undefined("no statements in the answer");
    ojson input;
    input["context"] = JoinLines(s.contexts);
    input["statements"] = *statements.value;
    auto verdicts = Ask<std::vector<int>>(
        RagasPrompt(ragas::kNliStatement, input),
        [](const json& reply) -> std::optional<std::vector<int>> {
          if (!reply.is_object() || !reply.contains("statements")) return std::nullopt;
          return ParseFlagged(reply["statements"], {"statement", "reason"}, "verdict");
        });
    if (!verdicts.value) return verdicts.stop;
    if (verdicts.value->empty()) return Outcome::Undefined("no verdicts from the judge");
    std::size_t faithful = 0;
    for (int v : *verdicts.value) faithful += v ? 1 : 0;
    return Outcome::Score(static_cast<double>(faithful) /
                          static_cast<double>(verdicts.value->size()));
  }

  Outcome AnswerRelevancy(const RagSample& s) const {
    if (s.answer.empty()) return Outcome::Na("needs an answer");
    ojson input;
    input["response"] = s.answer;
    const std::string prompt = RagasPrompt(ragas::kResponseRelevance, input);
    std::vector<RelevanceReply> replies;
    for (int i = 0; i < std::max(1, options_.strictness); ++i) {
      auto reply = Ask<RelevanceReply>(prompt, [](const json& r) -> std::optional<RelevanceReply> {
        if (!r.is_object() || !IsString(r, "question") || !r.contains("noncommittal")) {
          return std::nullopt;
        }
        auto flag = LaxInt(r["noncommittal"]);
        if (!flag) return std::nullopt;
        return RelevanceReply{r["question"].get<std::string>(), *flag != 0};
      });
      if (!reply.value) return reply.stop;
      replies.push_back(std::move(*reply.value));
    }
    bool all_empty = true;
    bool all_noncommittal = true;
    std::vector<std::string> texts{s.question};
    for (const auto& r : replies) {
      all_empty = all_empty && r.question.empty();
      all_noncommittal = all_noncommittal && r.noncommittal;
      texts.push_back(r.question);
    }
    if (all_empty) return Outcome::Undefined("the judge wrote no question");
    auto vectors = Embed(texts);
    if (!vectors.value) return vectors.stop;
    double sum = 0;
    for (std::size_t i = 1; i < vectors.value->size(); ++i) {
      sum += CosineSimilarity((*vectors.value)[i], (*vectors.value)[0]);
    }
    const double mean = sum / static_cast<double>(replies.size());
    return Outcome::Score(all_noncommittal ? 0.0 : mean);
  }

  Outcome ContextPrecision(const RagSample& s) const {
    if (!s.reference || s.contexts.empty()) return Outcome::Na("needs a reference and contexts");
    std::vector<int> verdicts;
    for (const auto& context : s.contexts) {
      ojson input;
      input["question"] = s.question;
      input["context"] = context;
      input["answer"] = *s.reference;
      auto verdict = Ask<int>(
          RagasPrompt(ragas::kContextPrecision, input), [](const json& r) -> std::optional<int> {
            if (!r.is_object() || !IsString(r, "reason") || !r.contains("verdict")) {
              return std::nullopt;
            }
            auto v = LaxInt(r["verdict"]);
            if (!v) return std::nullopt;
            return *v != 0 ? 1 : 0;
          });
      if (!verdict.value) return verdict.stop;
      verdicts.push_back(*verdict.value);
    }
    return Outcome::Score(AveragePrecisionOfVerdicts(verdicts));
  }

  Outcome ContextRecall(const RagSample& s) const {
    if (!s.reference || s.contexts.empty()) return Outcome::Na("needs a reference and contexts");
    ojson input;
    input["question"] = s.question;
    input["context"] = JoinLines(s.contexts);
    input["answer"] = *s.reference;
    auto flags = Ask<std::vector<int>>(
        RagasPrompt(ragas::kContextRecall, input),
        [](const json& r) -> std::optional<std::vector<int>> {
          if (!r.is_object() || !r.contains("classifications")) return std::nullopt;
          return ParseFlagged(r["classifications"], {"statement", "reason"}, "attributed");
        });
    if (!flags.value) return flags.stop;
    if (flags.value->empty()) return Outcome::Undefined("no classified sentences");
    std::size_t attributed = 0;
    for (int f : *flags.value) attributed += f ? 1 : 0;
    return Outcome::Score(static_cast<double>(attributed) /
                          static_cast<double>(flags.value->size()));
  }

  Outcome AnswerCorrectness(const RagSample& s) const {
    if (s.answer.empty() || !s.reference) return Outcome::Na("needs an answer and a reference");
    auto answer_statements = Statements(s.question, s.answer);
    if (!answer_statements.value) return answer_statements.stop;
    auto reference_statements = Statements(s.question, *s.reference);
    if (!reference_statements.value) return reference_statements.stop;
    double f1 = 1.0;
    if (!answer_statements.value->empty() || !reference_statements.value->empty()) {
      ojson input;
      input["question"] = s.question;
      input["answer"] = *answer_statements.value;
      input["ground_truth"] = *reference_statements.value;
      struct Counts {
        std::size_t tp, fp, fn;
      };
      auto counts = Ask<Counts>(RagasPrompt(ragas::kCorrectnessClassifier, input),
                                [](const json& r) -> std::optional<Counts> {
                                  if (!r.is_object()) return std::nullopt;
                                  std::size_t n[3];
                                  const char* keys[3] = {"TP", "FP", "FN"};
                                  for (int i = 0; i < 3; ++i) {
                                    auto it = r.find(keys[i]);
                                    if (it == r.end() || !it->is_array()) return std::nullopt;
                                    for (const auto& item : *it) {
                                      if (!item.is_object() || !IsString(item, "statement") ||
                                          !IsString(item, "reason")) {
                                        return std::nullopt;
                                      }
                                    }
                                    n[i] = it->size();
                                  }
                                  return Counts{n[0], n[1], n[2]};
                                });
      if (!counts.value) return counts.stop;
      f1 = FBetaScore(counts.value->tp, counts.value->fp, counts.value->fn);
    }
    const auto& w = options_.correctness_weights;
    double similarity = 0;
    if (w[1] != 0) {
      const std::string reference = s.reference->empty() ? " " : *s.reference;
      auto vectors = Embed({reference, s.answer});
      if (!vectors.value) return vectors.stop;
      similarity = CosineSimilarity((*vectors.value)[0], (*vectors.value)[1]);
    }
    return Outcome::Score((w[0] * f1 + w[1] * similarity) / (w[0] + w[1]));
  }

  Outcome Deterministic(RagMetric metric, const RagSample& s) const {
    std::optional<double> score;
    switch (metric) {
      case RagMetric::kIdContextPrecision:
        if (s.reference_ids.empty()) return Outcome::Na("needs relevant ids");
        score = IdContextPrecision(s.context_ids, s.reference_ids);
        if (!score) return Outcome::Undefined("nothing retrieved");
        break;
      case RagMetric::kIdContextRecall:
        if (s.reference_ids.empty()) return Outcome::Na("needs relevant ids");
        score = IdContextRecall(s.context_ids, s.reference_ids);
        break;
      case RagMetric::kNonLlmContextRecall:
        if (s.reference_contexts.empty()) return Outcome::Na("needs reference contexts");
        score = NonLlmContextRecall(s.contexts, s.reference_contexts,
                                    options_.string_similarity_threshold);
        if (!score) return Outcome::Undefined("nothing retrieved");
        break;
      default:
        return Outcome::Na("not deterministic");
    }
    return Outcome::Score(*score);
  }

  Outcome Run(RagMetric metric, const RagSample& s) const {
    switch (metric) {
      case RagMetric::kFaithfulness:
        return Faithfulness(s);
      case RagMetric::kAnswerRelevancy:
        return AnswerRelevancy(s);
      case RagMetric::kContextPrecision:
        return ContextPrecision(s);
      case RagMetric::kContextRecall:
        return ContextRecall(s);
      case RagMetric::kAnswerCorrectness:
        return AnswerCorrectness(s);
      default:
        return Deterministic(metric, s);
    }
  }

 private:
  const RagOptions& options_;
  Counters& counters_;
};

// Unicode code points of UTF-8 text (an invalid byte counts as one code point).
std::vector<char32_t> CodePoints(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80         ? 1
                      : (c >> 5) == 6  ? 2
                      : (c >> 4) == 14 ? 3
                      : (c >> 3) == 30 ? 4
                                       : 1;
    if (i + len > s.size()) len = 1;
    char32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (std::size_t k = 1; k < len; ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

}  // namespace

Result<std::vector<RagSample>> LoadQuestionSet(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::IoError(path.string() + ": cannot open");
  std::vector<RagSample> samples;
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path.string() + ":" + std::to_string(number);
    json object = json::parse(line, nullptr, false);
    if (object.is_discarded() || !object.is_object()) {
      return Status::InvalidInput(where + ": not a JSON object");
    }
    RagSample s;
    const json* question = Field(object, {"question", "user_input", "query"});
    if (question == nullptr || !question->is_string() || question->get<std::string>().empty()) {
      return Status::InvalidInput(where + ": no \"question\"");
    }
    s.question = question->get<std::string>();
    if (const json* id = Field(object, {"id", "_id", "query_id"})) {
      s.id = id->is_string() ? id->get<std::string>() : id->dump();
    } else {
      s.id = std::to_string(samples.size() + 1);
    }
    if (const json* reference = Field(object, {"reference", "reference_answer", "ground_truth"})) {
      if (!reference->is_string()) return Status::InvalidInput(where + ": reference: a string");
      s.reference = reference->get<std::string>();
    }
    const json* answer = Field(object, {"answer", "response"});
    const json* contexts = Field(object, {"contexts", "retrieved_contexts"});
    if (answer != nullptr) {
      if (!answer->is_string()) return Status::InvalidInput(where + ": answer: a string");
      s.answer = answer->get<std::string>();
    }
    s.answered = answer != nullptr || contexts != nullptr;
    Status status = ReadStrings(contexts, "contexts", s.contexts);
    if (status.ok()) {
      status = ReadStrings(Field(object, {"context_ids", "retrieved_context_ids"}), "context_ids",
                           s.context_ids);
    }
    if (status.ok()) {
      status =
          ReadStrings(Field(object, {"relevant_ids", "reference_context_ids", "relevant_doc_ids"}),
                      "relevant_ids", s.reference_ids);
    }
    if (status.ok()) {
      status = ReadStrings(Field(object, {"reference_contexts"}), "reference_contexts",
                           s.reference_contexts);
    }
    if (!status.ok()) return status.WithContext(where);
    samples.push_back(std::move(s));
  }
  if (samples.empty()) return Status::InvalidInput(path.string() + ": no questions");
  return samples;
}

const char* RagMetricName(RagMetric metric) {
  switch (metric) {
    case RagMetric::kFaithfulness:
      return "faithfulness";
    case RagMetric::kAnswerRelevancy:
      return "answer_relevancy";
    case RagMetric::kContextPrecision:
      return "context_precision";
    case RagMetric::kContextRecall:
      return "context_recall";
    case RagMetric::kAnswerCorrectness:
      return "answer_correctness";
    case RagMetric::kIdContextPrecision:
      return "id_based_context_precision";
    case RagMetric::kIdContextRecall:
      return "id_based_context_recall";
    case RagMetric::kNonLlmContextRecall:
      return "non_llm_context_recall";
  }
  return "?";
}

bool IsJudged(RagMetric metric) {
  return metric == RagMetric::kFaithfulness || metric == RagMetric::kAnswerRelevancy ||
         metric == RagMetric::kContextPrecision || metric == RagMetric::kContextRecall ||
         metric == RagMetric::kAnswerCorrectness;
}

bool NeedsEmbeddings(RagMetric metric) {
  return metric == RagMetric::kAnswerRelevancy || metric == RagMetric::kAnswerCorrectness;
}

JudgeFn MakeLlmJudge(const generation::LlmOptions& options,
                     std::shared_ptr<const http::Client> http) {
  generation::LlmOptions llm = options;
  llm.stream = false;
  if (!http) http = std::make_shared<const http::Client>();
  auto client = std::make_shared<const generation::LlmClient>(llm, std::move(http));
  return [client](const std::string& prompt) -> Result<std::string> {
    SIEVE_ASSIGN_OR_RETURN(auto response, client->Complete({{"user", prompt}}));
    return std::move(response.content);
  };
}

EmbedFn MakeEngineEmbedder(Engine& engine) {
  return
      [&engine](const std::vector<std::string>& texts) -> Result<std::vector<std::vector<float>>> {
        EmbedRequest request;
        request.texts = texts;
        RequestContext ctx;
        SIEVE_ASSIGN_OR_RETURN(auto response, engine.Embed(request, ctx));
        return std::move(response.vectors);
      };
}

EmbedFn MakeOpenAiEmbedder(std::string base_url, std::string model, std::string api_key,
                           std::shared_ptr<const http::Client> http) {
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  if (!http) http = std::make_shared<const http::Client>();
  return [base_url, model, api_key,
          http](const std::vector<std::string>& texts) -> Result<std::vector<std::vector<float>>> {
    http::Request request;
    request.method = "POST";
    request.url = base_url + "/embeddings";
    request.headers.emplace_back("Content-Type", "application/json");
    if (!api_key.empty()) request.headers.emplace_back("Authorization", "Bearer " + api_key);
    request.body = json{{"model", model}, {"input", texts}}.dump();
    SIEVE_ASSIGN_OR_RETURN(auto response, http->Send(request));
    if (response.status / 100 != 2) return http::ErrorFromResponse(response, request.url);
    json body = json::parse(response.body, nullptr, false);
    if (body.is_discarded() || !body.contains("data") || !body["data"].is_array()) {
      return Status::InvalidInput(request.url + ": not an embeddings response");
    }
    std::vector<std::vector<float>> vectors(texts.size());
    for (const auto& item : body["data"]) {
      const std::size_t index = item.value("index", std::size_t{0});
      if (index >= vectors.size() || !item.contains("embedding")) {
        return Status::InvalidInput(request.url + ": bad embedding entry");
      }
      for (const auto& x : item["embedding"]) vectors[index].push_back(x.get<float>());
    }
    for (const auto& v : vectors) {
      if (v.empty()) return Status::InvalidInput(request.url + ": an embedding is missing");
    }
    return vectors;
  };
}

const RagMetricSummary* RagEvaluation::Find(std::string_view name) const {
  for (const auto& m : metrics) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

Result<RagEvaluation> EvaluateRag(const std::vector<RagSample>& samples,
                                  const RagOptions& options) {
  std::vector<RagMetric> metrics = options.metrics;
  if (metrics.empty()) metrics.assign(kAllRagMetrics.begin(), kAllRagMetrics.end());
  if (options.strictness < 1) return Status::InvalidArgument("strictness must be at least 1");
  if (options.correctness_weights[0] < 0 || options.correctness_weights[1] < 0 ||
      options.correctness_weights[0] + options.correctness_weights[1] == 0) {
    return Status::InvalidArgument("answer correctness weights must be >= 0, not both 0");
  }
  RagEvaluation evaluation;
  evaluation.metrics.resize(metrics.size());
  std::vector<bool> runs(metrics.size(), true);
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    RagMetricSummary& summary = evaluation.metrics[m];
    summary.name = RagMetricName(metrics[m]);
    if (IsJudged(metrics[m]) && !options.judge) {
      summary.skipped = "no LLM judge configured";
    } else if (NeedsEmbeddings(metrics[m]) && !options.embed) {
      summary.skipped = "no embedding model";
    }
    runs[m] = summary.skipped.empty();
  }
  std::vector<std::string> judged_skipped;
  for (const auto& summary : evaluation.metrics) {
    if (!summary.skipped.empty()) judged_skipped.push_back(summary.name);
  }
  if (!judged_skipped.empty()) {
    std::string list;
    for (const auto& name : judged_skipped) list += (list.empty() ? "" : ", ") + name;
    evaluation.notes.push_back(
        "skipped " + list +
        (options.judge ? " (no embedding model)" : " (no LLM judge: set [llm] or --judge-url)"));
  }

  // One task per (sample, metric) that runs; results in fixed slots.
  struct Task {
    std::size_t sample;
    std::size_t metric;
  };
  std::vector<Task> tasks;
  for (std::size_t s = 0; s < samples.size(); ++s) {
    for (std::size_t m = 0; m < metrics.size(); ++m) {
      if (runs[m]) tasks.push_back({s, m});
    }
  }
  std::vector<Outcome> outcomes(tasks.size());
  Counters counters;
  Scorer scorer(options, counters);
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  std::mutex progress_mutex;
  auto worker = [&] {
    for (std::size_t i = next.fetch_add(1); i < tasks.size(); i = next.fetch_add(1)) {
      outcomes[i] = scorer.Run(metrics[tasks[i].metric], samples[tasks[i].sample]);
      const std::size_t finished = done.fetch_add(1) + 1;
      if (options.progress) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        options.progress(finished, tasks.size());
      }
    }
  };
  // Only judged tasks wait on the network; deterministic ones are cheap either way.
  const std::size_t threads =
      std::min<std::size_t>(std::max<std::size_t>(1, options.concurrency), tasks.size());
  {
    std::vector<std::jthread> pool;
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
  }

  evaluation.samples.resize(samples.size());
  for (std::size_t s = 0; s < samples.size(); ++s) evaluation.samples[s].id = samples[s].id;
  std::vector<double> sums(metrics.size(), 0.0);
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const Outcome& o = outcomes[i];
    RagSampleResult& result = evaluation.samples[tasks[i].sample];
    RagMetricSummary& summary = evaluation.metrics[tasks[i].metric];
    switch (o.kind) {
      case Outcome::kScored:
        result.scores[summary.name] = o.score;
        sums[tasks[i].metric] += o.score;
        ++summary.scored;
        break;
      case Outcome::kNotApplicable:
        ++summary.not_applicable;
        break;
      case Outcome::kUndefined:
        result.errors[summary.name] = o.why;
        ++summary.undefined;
        break;
      case Outcome::kUnparseable:
        result.errors[summary.name] = o.why;
        ++summary.unparseable;
        break;
      case Outcome::kFailed:
        result.errors[summary.name] = o.why;
        ++summary.failed;
        break;
    }
  }
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    RagMetricSummary& summary = evaluation.metrics[m];
    if (summary.scored > 0) summary.mean = sums[m] / static_cast<double>(summary.scored);
    if (summary.unparseable > 0) {
      evaluation.notes.push_back(summary.name + ": " + std::to_string(summary.unparseable) +
                                 " samples without a score: the judge's verdict could not be "
                                 "parsed");
    }
    if (summary.failed > 0) {
      evaluation.notes.push_back(summary.name + ": " + std::to_string(summary.failed) +
                                 " samples without a score: the judge or the embedder failed");
    }
  }
  evaluation.judge_calls = counters.judge_calls.load();
  evaluation.unparseable_replies = counters.unparseable_replies.load();
  return evaluation;
}

std::string ExtractJson(std::string_view text) {
  const std::size_t marker = text.find("```json");
  if (marker != std::string_view::npos) text = text.substr(marker);
  const std::size_t bracket = text.find('[');
  const std::size_t brace = text.find('{');
  const std::size_t start = std::min(bracket, brace);
  if (start == std::string_view::npos) return std::string(text);
  const char open = text[start];
  const char close = open == '[' ? ']' : '}';
  int depth = 0;
  for (std::size_t i = start; i < text.size(); ++i) {
    if (text[i] == open) {
      ++depth;
    } else if (text[i] == close) {
      --depth;
    }
    if (depth == 0) return std::string(text.substr(start, i - start + 1));
  }
  return std::string(text);
}

std::string RagasPrompt(const char* prefix, const nlohmann::ordered_json& input) {
  return std::string(prefix) + "input: " + input.dump(4, ' ', false) + "\nOutput: ";
}

double AveragePrecisionOfVerdicts(const std::vector<int>& verdicts) {
  double relevant = 0;
  double numerator = 0;
  for (std::size_t i = 0; i < verdicts.size(); ++i) {
    const int v = verdicts[i] ? 1 : 0;
    relevant += v;
    numerator += (relevant / static_cast<double>(i + 1)) * v;
  }
  return numerator / (relevant + 1e-10);
}

double FBetaScore(std::size_t tp, std::size_t fp, std::size_t fn, double beta) {
  const double precision = tp + fp == 0 ? 0.0 : static_cast<double>(tp) / (tp + fp);
  const double recall = tp + fn == 0 ? 0.0 : static_cast<double>(tp) / (tp + fn);
  if (precision == 0 && recall == 0) return 0.0;
  const double b2 = beta * beta;
  return (1 + b2) * (precision * recall) / ((b2 * precision) + recall);
}

double CosineSimilarity(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return dot / (std::sqrt(na) * std::sqrt(nb));
}

double StringSimilarity(std::string_view a_text, std::string_view b_text) {
  const std::vector<char32_t> a = CodePoints(a_text);
  const std::vector<char32_t> b = CodePoints(b_text);
  const std::size_t longest = std::max(a.size(), b.size());
  if (longest == 0) return 1.0;
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({above + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return 1.0 - static_cast<double>(row[b.size()]) / static_cast<double>(longest);
}

std::optional<double> IdContextPrecision(const std::vector<std::string>& retrieved,
                                         const std::vector<std::string>& relevant) {
  const std::set<std::string> got(retrieved.begin(), retrieved.end());
  const std::set<std::string> want(relevant.begin(), relevant.end());
  if (got.empty()) return std::nullopt;
  std::size_t hits = 0;
  for (const auto& id : got) hits += want.count(id);
  return static_cast<double>(hits) / static_cast<double>(got.size());
}

std::optional<double> IdContextRecall(const std::vector<std::string>& retrieved,
                                      const std::vector<std::string>& relevant) {
  const std::set<std::string> got(retrieved.begin(), retrieved.end());
  const std::set<std::string> want(relevant.begin(), relevant.end());
  if (want.empty()) return std::nullopt;
  std::size_t hits = 0;
  for (const auto& id : want) hits += got.count(id);
  return static_cast<double>(hits) / static_cast<double>(want.size());
}

std::optional<double> NonLlmContextRecall(const std::vector<std::string>& retrieved,
                                          const std::vector<std::string>& reference,
                                          double threshold) {
  if (retrieved.empty() || reference.empty()) return std::nullopt;
  std::size_t found = 0;
  for (const auto& ref : reference) {
    double best = 0;
    for (const auto& rc : retrieved) best = std::max(best, StringSimilarity(rc, ref));
    if (best > threshold) ++found;
  }
  return static_cast<double>(found) / static_cast<double>(reference.size());
}

nlohmann::json RagEvaluationToJson(const RagEvaluation& evaluation) {
  json metrics = json::array();
  for (const auto& m : evaluation.metrics) {
    json item = {{"name", m.name},           {"mean", m.mean ? json(*m.mean) : json(nullptr)},
                 {"scored", m.scored},       {"not_applicable", m.not_applicable},
                 {"undefined", m.undefined}, {"unparseable", m.unparseable},
                 {"failed", m.failed}};
    if (!m.skipped.empty()) item["skipped"] = m.skipped;
    metrics.push_back(std::move(item));
  }
  json samples = json::array();
  for (const auto& s : evaluation.samples) {
    samples.push_back({{"id", s.id}, {"scores", s.scores}, {"errors", s.errors}});
  }
  return {{"metrics", std::move(metrics)},
          {"samples", std::move(samples)},
          {"judge_calls", evaluation.judge_calls},
          {"unparseable_replies", evaluation.unparseable_replies},
          {"notes", evaluation.notes}};
}

}  // namespace sieve::eval
