// eval/ragas_prompts.h: the judge prompts of Ragas, text for text (generated from the pinned
// ragas release by scripts/ragas/gen_prompts.py into ragas_prompts.cpp).
//
// Each is the part of Ragas's rendered prompt before the input: instruction, the JSON schema of
// the expected output, the examples and the separator, ending in
// "Now perform the same with the following input\n". The full prompt is that, then
// "input: " + the input as JSON (4-space indent, fields in Ragas's order) + "\nOutput: ".
#pragma once

namespace sieve::eval::ragas {

extern const char* const kRagasVersion;  // the ragas release the prompts come from

// Faithfulness and answer correctness, step 1: {question, answer} -> {"statements": [...]}.
extern const char* const kStatementGenerator;
// Faithfulness, step 2: {context, statements} -> {"statements": [{statement, reason, verdict}]}.
extern const char* const kNliStatement;
// Answer relevancy: {response} -> {question, noncommittal}.
extern const char* const kResponseRelevance;
// Context precision (with reference): {question, context, answer} -> {reason, verdict}.
extern const char* const kContextPrecision;
// Context recall: {question, context, answer} -> {"classifications": [{statement, reason,
// attributed}]}.
extern const char* const kContextRecall;
// Answer correctness, step 2: {question, answer: [...], ground_truth: [...]} -> {TP, FP, FN}.
extern const char* const kCorrectnessClassifier;

}  // namespace sieve::eval::ragas
