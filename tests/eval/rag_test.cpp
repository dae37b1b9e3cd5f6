// RAG metrics: Ragas's arithmetic on fixed verdicts, through a scripted judge on 127.0.0.1 (the
// same HTTP path as a real judge), with unparseable replies, failures, skipped metrics and the
// concurrency bound.
#include "eval/rag.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../generation/fake_llm_server.h"
#include "eval/ragas_prompts.h"

namespace sieve::eval {
namespace {

using generation::testing::CompletionBody;
using generation::testing::FakeLlmServer;
using nlohmann::json;

TEST(RagArithmetic, AveragePrecisionIsRagasFormula) {
  // (1/2 * 1 + 2/3 * 1) / (2 + 1e-10)
  EXPECT_NEAR(AveragePrecisionOfVerdicts({0, 1, 1}), (0.5 + 2.0 / 3.0) / 2.0, 1e-9);
  EXPECT_NEAR(AveragePrecisionOfVerdicts({1, 1, 0}), 1.0, 1e-9);
  EXPECT_EQ(AveragePrecisionOfVerdicts({0, 0}), 0.0);
  EXPECT_EQ(AveragePrecisionOfVerdicts({}), 0.0);
}

TEST(RagArithmetic, FBeta) {
  EXPECT_NEAR(FBetaScore(1, 2, 1), 0.4, 1e-12);  // P = 1/3, R = 1/2
  EXPECT_NEAR(FBetaScore(2, 0, 0), 1.0, 1e-12);
  EXPECT_EQ(FBetaScore(0, 3, 2), 0.0);
  EXPECT_EQ(FBetaScore(0, 0, 0), 0.0);
}

TEST(RagArithmetic, StringSimilarityCountsCodePoints) {
  EXPECT_NEAR(StringSimilarity("kitten", "sitting"), 1.0 - 3.0 / 7.0, 1e-12);
  EXPECT_NEAR(StringSimilarity("caf\xC3\xA9", "cafe"), 0.75, 1e-12);  // bytes would give 0.6
  EXPECT_EQ(StringSimilarity("", ""), 1.0);
  EXPECT_EQ(StringSimilarity("abc", ""), 0.0);
}

TEST(RagArithmetic, IdBasedPrecisionAndRecallUseDistinctIds) {
  EXPECT_NEAR(*IdContextPrecision({"a", "b", "b", "c"}, {"b", "d"}), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(*IdContextRecall({"a", "b", "b", "c"}, {"b", "d", "d"}), 0.5, 1e-12);
  EXPECT_FALSE(IdContextPrecision({}, {"b"}).has_value());
  EXPECT_FALSE(IdContextRecall({"a"}, {}).has_value());
}

TEST(RagArithmetic, NonLlmRecallNeedsSimilarityAboveThreshold) {
  // "abcd" vs "abcx": 0.75 > 0.5; "wxyz" matches nothing above 0.5.
  EXPECT_NEAR(*NonLlmContextRecall({"abcd", "zzzz"}, {"abcx", "wxyq"}, 0.5), 0.5, 1e-12);
  // Exactly at the threshold does not count (Ragas uses >).
  EXPECT_NEAR(*NonLlmContextRecall({"abcd"}, {"abxy"}, 0.5), 0.0, 1e-12);
  EXPECT_FALSE(NonLlmContextRecall({}, {"a"}).has_value());
}

TEST(RagArithmetic, ExtractJsonAsRagas) {
  EXPECT_EQ(ExtractJson("Sure!\n```json\n{\"a\": [1, {\"b\": 2}]}\n```"),
            "{\"a\": [1, {\"b\": 2}]}");
  EXPECT_EQ(ExtractJson("x [1, 2] {\"a\": 1}"), "[1, 2]");
  EXPECT_EQ(ExtractJson("no json"), "no json");
  EXPECT_EQ(ExtractJson("{\"open\": 1"), "{\"open\": 1");
}

TEST(RagArithmetic, PromptEndsWithRagasInputBlock) {
  nlohmann::ordered_json input;
  input["question"] = "q\"?";
  input["answer"] = "caf\xC3\xA9";
  const std::string prompt = RagasPrompt(ragas::kStatementGenerator, input);
  EXPECT_TRUE(prompt.starts_with("Given a question and an answer, analyze the complexity"));
  const std::string tail =
      "Now perform the same with the following input\ninput: {\n    \"question\": \"q\\\"?\",\n"
      "    \"answer\": \"caf\xC3\xA9\"\n}\nOutput: ";
  EXPECT_TRUE(prompt.ends_with(tail)) << prompt.substr(prompt.size() - 200);
}

// ---- a scripted judge ----

// Which Ragas prompt a request carries, and its input.
struct JudgeRequest {
  std::string kind;
  json input;
};

JudgeRequest Classify(const std::string& body) {
  json request = json::parse(body);
  const std::string prompt = request["messages"][0]["content"].get<std::string>();
  const std::size_t at = prompt.rfind("\ninput: ");
  const std::size_t end = prompt.rfind("\nOutput: ");
  json input = json::parse(prompt.substr(at + 8, end - at - 8));
  std::string kind = prompt.starts_with(ragas::kStatementGenerator)      ? "statements"
                     : prompt.starts_with(ragas::kNliStatement)          ? "nli"
                     : prompt.starts_with(ragas::kResponseRelevance)     ? "relevance"
                     : prompt.starts_with(ragas::kContextPrecision)      ? "precision"
                     : prompt.starts_with(ragas::kContextRecall)         ? "recall"
                     : prompt.starts_with(ragas::kCorrectnessClassifier) ? "correctness"
                                                                         : "unknown";
  return {kind, input};
}

std::vector<std::string> Sentences(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t dot = text.find('.', start);
    if (dot == std::string::npos) dot = text.size() - 1;
    std::string s = text.substr(start, dot - start + 1);
    s.erase(0, s.find_first_not_of(' '));
    if (!s.empty()) out.push_back(s);
    start = dot + 1;
  }
  return out;
}

// Verdicts a careful judge would give for the Eiffel Tower sample below; "GARBAGE" in the
// answer makes the NLI verdict unreadable.
std::string Verdict(const JudgeRequest& r, int relevance_call) {
  if (r.kind == "statements") {
    return json{{"statements", Sentences(r.input["answer"].get<std::string>())}}.dump();
  }
  if (r.kind == "nli") {
    json out = json::array();
    for (const auto& s : r.input["statements"]) {
      const std::string text = s.get<std::string>();
      if (text.find("GARBAGE") != std::string::npos) return "I am not sure about that.";
      const bool supported = text.find("1999") == std::string::npos;
      out.push_back({{"statement", text}, {"reason", "r"}, {"verdict", supported ? 1 : 0}});
    }
    return json{{"statements", out}}.dump();
  }
  if (r.kind == "relevance") {
    // Two of the three generated questions are the question itself.
    const char* q = relevance_call % 3 == 1 ? "What is it made of?" : "Where is the Eiffel Tower?";
    return "```json\n" + json{{"question", q}, {"noncommittal", 0}}.dump() + "\n```";
  }
  if (r.kind == "precision") {
    const bool useful = r.input["context"].get<std::string>().find("Bananas") == std::string::npos;
    return json{{"reason", "r"}, {"verdict", useful ? "1" : "0"}}.dump();
  }
  if (r.kind == "recall") {
    return json{{"classifications",
                 {{{"statement", "a"}, {"reason", "r"}, {"attributed", 1}},
                  {{"statement", "b"}, {"reason", "r"}, {"attributed", 0}}}}}
        .dump();
  }
  if (r.kind == "correctness") {
    json one = {{"statement", "s"}, {"reason", "r"}};
    return json{{"TP", {one}}, {"FP", {one, one}}, {"FN", {one}}}.dump();
  }
  return "?";
}

// Fixed vectors: the question and its paraphrase share one, the other generated question is
// orthogonal; reference and answer have cosine 24/25.
Result<std::vector<std::vector<float>>> FixedEmbeddings(const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out;
  for (const auto& t : texts) {
    if (t == "Where is the Eiffel Tower?") {
      out.push_back({1, 0});
    } else if (t == "What is it made of?") {
      out.push_back({0, 1});
    } else if (t.starts_with("The Eiffel Tower is in Paris, France")) {
      out.push_back({3, 4});
    } else {
      out.push_back({4, 3});
    }
  }
  return out;
}

RagSample EiffelSample() {
  RagSample s;
  s.id = "eiffel";
  s.question = "Where is the Eiffel Tower?";
  s.answer = "The Eiffel Tower is in Paris. It is made of iron. It was built in 1999.";
  s.contexts = {"Bananas are yellow.", "The Eiffel Tower is in Paris.",
                "It is a wrought-iron tower."};
  s.context_ids = {"d9", "d1", "d2"};
  s.reference = "The Eiffel Tower is in Paris, France.";
  s.reference_ids = {"d1", "d2", "d3"};
  s.reference_contexts = {"The Eiffel Tower is in Paris!", "Unrelated reference passage text."};
  return s;
}

class ScriptedJudge {
 public:
  ScriptedJudge()
      : server_([this](int, const httplib::Request& req, httplib::Response& res) {
          const int now = in_flight_.fetch_add(1) + 1;
          int seen = max_in_flight_.load();
          while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
          }
          JudgeRequest r = Classify(req.body);
          int relevance_call = 0;
          {
            std::lock_guard<std::mutex> lock(mutex_);
            ++calls_[r.kind];
            if (r.kind == "relevance") relevance_call = relevance_calls_++;
          }
          if (fail_first_.exchange(false)) {
            res.status = 503;
          } else {
            if (delay_.count() > 0) server_.SleepUnlessStopping(delay_);
            res.set_content(CompletionBody(Verdict(r, relevance_call)), "application/json");
          }
          in_flight_.fetch_sub(1);
        }) {}

  JudgeFn judge() const {
    generation::LlmOptions llm;
    llm.base_url = server_.base_url();
    llm.model = "judge";
    llm.initial_backoff = std::chrono::milliseconds(5);
    return MakeLlmJudge(llm, nullptr);
  }
  int calls(const std::string& kind) {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_[kind];
  }
  int max_in_flight() const { return max_in_flight_.load(); }
  void FailFirst() { fail_first_ = true; }
  void set_delay(std::chrono::milliseconds delay) { delay_ = delay; }

 private:
  std::mutex mutex_;
  std::map<std::string, int> calls_;
  int relevance_calls_ = 0;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  std::atomic<bool> fail_first_{false};
  std::chrono::milliseconds delay_{0};
  FakeLlmServer server_;
};

double Score(const RagEvaluation& e, std::size_t sample, const std::string& metric) {
  auto it = e.samples.at(sample).scores.find(metric);
  return it == e.samples.at(sample).scores.end() ? std::nan("") : it->second;
}

TEST(RagEvaluate, EveryMetricFromScriptedVerdicts) {
  ScriptedJudge judge;
  RagOptions options;
  options.judge = judge.judge();
  options.embed = FixedEmbeddings;
  auto e = EvaluateRag({EiffelSample()}, options);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NEAR(Score(*e, 0, "faithfulness"), 2.0 / 3.0, 1e-12);     // the 1999 statement fails
  EXPECT_NEAR(Score(*e, 0, "answer_relevancy"), 2.0 / 3.0, 1e-6);  // cosines 1, 0, 1
  EXPECT_NEAR(Score(*e, 0, "context_precision"), (0.5 + 2.0 / 3.0) / 2.0, 1e-9);
  EXPECT_NEAR(Score(*e, 0, "context_recall"), 0.5, 1e-12);
  EXPECT_NEAR(Score(*e, 0, "answer_correctness"), 0.75 * 0.4 + 0.25 * 0.96, 1e-6);
  EXPECT_NEAR(Score(*e, 0, "id_based_context_precision"), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(Score(*e, 0, "id_based_context_recall"), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(Score(*e, 0, "non_llm_context_recall"), 0.5, 1e-12);
  EXPECT_EQ(judge.calls("relevance"), 3);   // strictness
  EXPECT_EQ(judge.calls("precision"), 3);   // one per context
  EXPECT_EQ(judge.calls("statements"), 3);  // faithfulness 1, correctness 2
  EXPECT_EQ(e->unparseable_replies, 0u);
  for (const auto& m : e->metrics) {
    EXPECT_EQ(m.scored, 1u) << m.name;
    EXPECT_TRUE(m.skipped.empty()) << m.name;
  }
}

TEST(RagEvaluate, UnparseableVerdictsAreCountedNotNaN) {
  ScriptedJudge judge;
  RagOptions options;
  options.judge = judge.judge();
  options.embed = FixedEmbeddings;
  options.metrics = {RagMetric::kFaithfulness};
  RagSample bad = EiffelSample();
  bad.id = "bad";
  bad.answer = "GARBAGE statement.";
  auto e = EvaluateRag({EiffelSample(), bad}, options);
  ASSERT_TRUE(e.ok());
  const RagMetricSummary* f = e->Find("faithfulness");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->scored, 1u);
  EXPECT_EQ(f->unparseable, 1u);
  ASSERT_TRUE(f->mean.has_value());
  EXPECT_NEAR(*f->mean, 2.0 / 3.0, 1e-12);  // the unparseable sample is not averaged in
  EXPECT_EQ(e->samples[1].scores.count("faithfulness"), 0u);
  EXPECT_NE(e->samples[1].errors.at("faithfulness").find("unparseable"), std::string::npos);
  EXPECT_EQ(e->unparseable_replies, 2u);  // asked again once (parse_retries = 1)
  EXPECT_EQ(judge.calls("nli"), 1 + 2);
  ASSERT_FALSE(e->notes.empty());
}

TEST(RagEvaluate, WithoutJudgeOnlyDeterministicMetricsRun) {
  RagOptions options;  // no judge, no embeddings
  auto e = EvaluateRag({EiffelSample()}, options);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->Find("faithfulness")->skipped, "no LLM judge configured");
  EXPECT_FALSE(e->Find("faithfulness")->mean.has_value());
  EXPECT_NEAR(*e->Find("id_based_context_recall")->mean, 2.0 / 3.0, 1e-12);
  EXPECT_EQ(e->samples[0].scores.size(), 3u);
  ASSERT_FALSE(e->notes.empty());
  EXPECT_NE(e->notes[0].find("faithfulness"), std::string::npos);
}

TEST(RagEvaluate, MissingFieldsAreNotApplicable) {
  RagSample s = EiffelSample();
  s.reference.reset();
  s.reference_ids.clear();
  ScriptedJudge judge;
  RagOptions options;
  options.judge = judge.judge();
  options.embed = FixedEmbeddings;
  auto e = EvaluateRag({s}, options);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->Find("context_precision")->not_applicable, 1u);
  EXPECT_EQ(e->Find("answer_correctness")->not_applicable, 1u);
  EXPECT_EQ(e->Find("id_based_context_recall")->not_applicable, 1u);
  EXPECT_EQ(e->Find("faithfulness")->scored, 1u);
  EXPECT_EQ(judge.calls("precision"), 0);
}

TEST(RagEvaluate, JudgeRetriedAfterServerErrorAndConcurrencyBounded) {
  ScriptedJudge judge;
  judge.FailFirst();
  judge.set_delay(std::chrono::milliseconds(20));
  RagOptions options;
  options.judge = judge.judge();
  options.embed = FixedEmbeddings;
  options.metrics = {RagMetric::kContextPrecision};
  options.concurrency = 2;
  std::vector<RagSample> samples(6, EiffelSample());
  auto e = EvaluateRag(samples, options);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->Find("context_precision")->scored, 6u);  // the 503 was retried by the client
  EXPECT_EQ(e->Find("context_precision")->failed, 0u);
  EXPECT_LE(judge.max_in_flight(), 2);
}

TEST(RagEvaluate, DeadJudgeCountsFailures) {
  RagOptions options;
  generation::LlmOptions llm;
  llm.base_url = "http://127.0.0.1:1/v1";  // nothing listens on port 1
  llm.model = "judge";
  llm.max_retries = 0;
  options.judge = MakeLlmJudge(llm, nullptr);
  options.metrics = {RagMetric::kFaithfulness};
  auto e = EvaluateRag({EiffelSample()}, options);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->Find("faithfulness")->failed, 1u);
  EXPECT_EQ(e->Find("faithfulness")->scored, 0u);
}

TEST(RagQuestionSet, LoadsRagasAndSieveFieldNames) {
  const auto path = std::filesystem::path(::testing::TempDir()) / "questions.jsonl";
  {
    std::ofstream out(path);
    out << R"({"id": "q1", "question": "What?", "reference": "That.", "relevant_ids": ["d1", 7]})"
        << "\n\n"
        << R"({"user_input": "Why?", "response": "Because.", "retrieved_contexts": ["c"]})"
        << "\n";
  }
  auto set = LoadQuestionSet(path);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->size(), 2u);
  EXPECT_EQ((*set)[0].id, "q1");
  EXPECT_EQ((*set)[0].reference_ids, (std::vector<std::string>{"d1", "7"}));
  EXPECT_FALSE((*set)[0].answered);
  EXPECT_EQ((*set)[1].id, "2");
  EXPECT_TRUE((*set)[1].answered);
  EXPECT_EQ((*set)[1].contexts, std::vector<std::string>{"c"});
  {
    std::ofstream out(path);
    out << R"({"reference": "no question"})"
        << "\n";
  }
  auto bad = LoadQuestionSet(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find(":1"), std::string::npos);
}

}  // namespace
}  // namespace sieve::eval
