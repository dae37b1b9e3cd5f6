// generation/query_rewrite: query processing before retrieval, through the configured LLM.
//
// CondenseQuestion turns a follow-up question and the chat history before it into one standalone
// question (what retrieval needs: "and its license?" -> "What is the license of SQLite?"); the
// server's /v1/chat/completions uses it for multi-turn chats. ExpandQuery asks for alternative
// phrasings of a question (multi-query retrieval: each is retrieved and the lists are fused by
// reciprocal rank fusion, see Engine's SearchRequest::expand_queries).
//
// Each call is one chat completion and, with a ctx, a span of kind LLM ("query.condense",
// "query.expand") carrying input.value and output.value. The functions are pure apart from the
// LLM call and thread-safe (LlmClient::Complete is).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/context.h"
#include "core/status.h"
#include "generation/llm_client.h"

namespace sieve::generation {

// The messages that ask the LLM for a standalone question: a system instruction, then one user
// message with the conversation ("User: ...", "Assistant: ...") and the follow-up question.
// System messages of `history` are left out.
std::vector<ChatMessage> CondensePrompt(const std::vector<ChatMessage>& history,
                                        std::string_view question);

// The standalone question from the LLM's reply: surrounding whitespace, quotes and a leading
// "Standalone question:" removed. Empty when the reply holds nothing usable.
std::string ParseCondensed(std::string_view reply);

// `question` rewritten to stand alone given `history` (oldest first). With no user or assistant
// turn in `history` the question is returned as is, and the LLM is not called. Errors: the
// client's (kUnavailable, kTimeout, kCancelled...), kInvalidArgument for an empty question,
// kInvalidInput when the reply holds no question.
Result<std::string> CondenseQuestion(const LlmClient& client,
                                     const std::vector<ChatMessage>& history,
                                     std::string_view question, RequestContext* ctx = nullptr);

// The messages that ask for `n` alternative phrasings of `question`, one per line.
std::vector<ChatMessage> ExpansionPrompt(std::string_view question, std::size_t n);

// The alternative queries in the LLM's reply: one per non-empty line, list markers ("1.", "2)",
// "-", "*") and quotes removed, lines equal to `question` (ignoring case and surrounding
// whitespace) or to an earlier line dropped, at most `n`.
std::vector<std::string> ParseExpansions(std::string_view reply, std::string_view question,
                                         std::size_t n);

// Up to `n` alternative phrasings of `question` (not including it). n == 0 returns none without
// calling the LLM. Errors: the client's, kInvalidArgument for an empty question, kInvalidInput
// when the reply holds no usable line.
Result<std::vector<std::string>> ExpandQuery(const LlmClient& client, std::string_view question,
                                             std::size_t n, RequestContext* ctx = nullptr);

}  // namespace sieve::generation
