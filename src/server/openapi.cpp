// The OpenAPI document served at /openapi.json. Keep it in step with server.cpp: the client tests
// (tests/clients) check every response against it.
#include <nlohmann/json.hpp>

#include <string>

#include "server/site.h"

namespace sieve::server {
namespace {

using nlohmann::json;

json Ref(const char* name) {
  return {{"$ref", std::string("#/components/schemas/") + name}};
}

json JsonBody(const json& schema) {
  return {{"required", true}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

json Reply(const char* description, const json& schema) {
  return {{"description", description}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

json Errors(json responses) {
  for (const char* code : {"400", "401", "404", "413", "429", "503", "504"}) {
    responses[code] = Reply("error", Ref("Error"));
  }
  return responses;
}

// One server-sent event as schemathesis and other tools read it.
json SseEvent() {
  return {{"type", "object"},
          {"properties",
           {{"event", {{"type", "string"}}},
            {"data", {{"type", "string"}}},
            {"id", {{"type", "string"}}}}}};
}

json StringOrList() {
  return {{"oneOf", json::array({{{"type", "string"}},
                                 {{"type", "array"}, {"items", {{"type", "string"}}}}})}};
}

json Build() {
  json schemas;
  schemas["Error"] = {{"type", "object"},
                      {"required", {"error"}},
                      {"properties",
                       {{"error",
                         {{"type", "object"},
                          {"required", {"message", "type"}},
                          {"properties",
                           {{"message", {{"type", "string"}}},
                            {"type", {{"type", "string"}}},
                            {"code", {{"type", "string"}, {"nullable", true}}}}}}}}}};
  schemas["Filter"] = {{"type", "object"},
                       {"properties",
                        {{"path_prefix", {{"type", "string"}}},
                         {"types", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                         {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}};
  schemas["Passage"] = {{"type", "object"},
                        {"required", {"chunk_id", "score", "path", "text"}},
                        {"properties",
                         {{"number", {{"type", "integer"}}},
                          {"chunk_id", {{"type", "integer"}}},
                          {"score", {{"type", "number"}}},
                          {"path", {{"type", "string"}}},
                          {"key", {{"type", "string"}}},
                          {"title", {{"type", "string"}}},
                          {"type", {{"type", "string"}}},
                          {"section", {{"type", "string"}}},
                          {"page", {{"type", "integer"}}},
                          {"line", {{"type", "integer"}}},
                          {"line_end", {{"type", "integer"}}},
                          {"begin", {{"type", "integer"}}},
                          {"end", {{"type", "integer"}}},
                          {"scores", {{"type", "object"}}},
                          {"text", {{"type", "string"}}},
                          {"cited_as", {{"type", "integer"}}}}}};
  schemas["Citation"] = {
      {"allOf", json::array({Ref("Passage"),
                             {{"type", "object"},
                              {"required", {"number", "passage_number"}},
                              {"properties", {{"passage_number", {{"type", "integer"}}}}}}})}};
  schemas["Answer"] = {{"type", "object"},
                       {"required", {"question", "answer", "citations", "passages"}},
                       {"properties",
                        {{"question", {{"type", "string"}}},
                         {"answer", {{"type", "string"}}},
                         {"extractive", {{"type", "boolean"}}},
                         {"model", {{"type", "string"}}},
                         {"citations", {{"type", "array"}, {"items", Ref("Citation")}}},
                         {"passages", {{"type", "array"}, {"items", Ref("Passage")}}},
                         {"retrieval", {{"type", "object"}}},
                         {"usage", {{"type", "object"}}},
                         {"notes", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                         {"timings", {{"type", "array"}, {"items", {{"type", "object"}}}}}}}};
  schemas["Document"] = {{"type", "object"},
                         {"required", {"id", "key", "path", "type", "chunks"}},
                         {"properties",
                          {{"object", {{"type", "string"}}},
                           {"id", {{"type", "integer"}}},
                           {"key", {{"type", "string"}}},
                           {"path", {{"type", "string"}}},
                           {"type", {{"type", "string"}}},
                           {"title", {{"type", "string"}}},
                           {"bytes", {{"type", "integer"}}},
                           {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                           {"ingested_at", {{"type", "integer"}}},
                           {"chunks", {{"type", "integer"}}}}}};
  schemas["EmbeddingRequest"] = {
      {"type", "object"},
      {"required", {"input"}},
      {"properties",
       {{"input", StringOrList()},
        {"model", {{"type", "string"}}},
        {"encoding_format", {{"type", "string"}, {"enum", {"float", "base64"}}}},
        {"dimensions", {{"type", "integer"}, {"minimum", 1}}},
        {"input_type", {{"type", "string"}, {"enum", {"query", "document"}}}},
        {"user", {{"type", "string"}}}}}};
  schemas["EmbeddingResponse"] = {
      {"type", "object"},
      {"required", {"object", "data", "model", "usage"}},
      {"properties",
       {{"object", {{"type", "string"}}},
        {"data",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"required", {"object", "index", "embedding"}},
            {"properties",
             {{"object", {{"type", "string"}}},
              {"index", {{"type", "integer"}}},
              {"embedding",
               {{"oneOf", json::array({{{"type", "array"}, {"items", {{"type", "number"}}}},
                                       {{"type", "string"}}})}}}}}}}}},
        {"model", {{"type", "string"}}},
        {"usage", {{"type", "object"}}}}}};
  schemas["RerankRequest"] = {
      {"type", "object"},
      {"required", {"query"}},
      {"properties",
       {{"query", {{"type", "string"}}},
        {"model", {{"type", "string"}}},
        {"documents",
         {{"type", "array"},
          {"items",
           {{"oneOf", json::array({{{"type", "string"}},
                                   {{"type", "object"},
                                    {"required", {"text"}},
                                    {"properties", {{"text", {{"type", "string"}}}}}}})}}}}},
        {"texts", {{"type", "array"}, {"items", {{"type", "string"}}}}},
        {"top_n", {{"type", "integer"}, {"minimum", 1}}},
        {"return_documents", {{"type", "boolean"}}},
        {"return_text", {{"type", "boolean"}}},
        {"raw_scores", {{"type", "boolean"}}},
        {"truncate", {{"type", "boolean"}}}}}};
  json cohere_results = {{"type", "object"},
                         {"required", {"results"}},
                         {"properties",
                          {{"id", {{"type", "string"}}},
                           {"model", {{"type", "string"}}},
                           {"results",
                            {{"type", "array"},
                             {"items",
                              {{"type", "object"},
                               {"required", {"index", "relevance_score"}},
                               {"properties",
                                {{"index", {{"type", "integer"}}},
                                 {"relevance_score", {{"type", "number"}}},
                                 {"document", {{"type", "object"}}}}}}}}}}}};
  json tei_results = {{"type", "array"},
                      {"items",
                       {{"type", "object"},
                        {"required", {"index", "score"}},
                        {"properties",
                         {{"index", {{"type", "integer"}}},
                          {"score", {{"type", "number"}}},
                          {"text", {{"type", "string"}}}}}}}};
  schemas["RerankResponse"] = {{"oneOf", json::array({cohere_results, tei_results})}};
  schemas["QueryRequest"] = {
      {"type", "object"},
      {"required", {"query"}},
      {"properties",
       {{"query", {{"type", "string"}}},
        {"mode", {{"type", "string"}, {"enum", {"lexical", "dense", "hybrid"}}}},
        {"k", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100000}}},
        {"top_n", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}}},
        {"rerank", {{"type", "boolean"}}},
        {"stream", {{"type", "boolean"}}},
        {"filter", Ref("Filter")}}}};
  schemas["ChatRequest"] = {
      {"type", "object"},
      {"required", {"messages"}},
      {"properties",
       {{"model", {{"type", "string"}}},
        {"stream", {{"type", "boolean"}}},
        {"condense_history",
         {{"type", "boolean"},
          {"description",
           "Sieve: rewrite the last user message with the earlier user and assistant turns into "
           "a standalone question before retrieving (needs an LLM; default true)"}}},
        {"session_id",
         {{"type", "string"},
          {"maxLength", 256},
          {"description",
           "Sieve: the conversation's id, traced as OpenInference session.id so Phoenix groups "
           "the turns (else the X-Session-Id header, else `user`)"}}},
        {"user", {{"type", "string"}}},
        {"messages",
         {{"type", "array"},
          {"minItems", 1},
          {"items",
           {{"type", "object"},
            {"required", {"role", "content"}},
            {"properties",
             {{"role", {{"type", "string"}}},
              {"content",
               {{"oneOf",
                 json::array({{{"type", "string"}},
                              {{"type", "array"}, {"items", {{"type", "object"}}}}})}}}}}}}}}}}};
  schemas["ChatResponse"] = {{"type", "object"},
                             {"required", {"id", "object", "created", "model", "choices"}},
                             {"properties",
                              {{"id", {{"type", "string"}}},
                               {"object", {{"type", "string"}}},
                               {"created", {{"type", "integer"}}},
                               {"model", {{"type", "string"}}},
                               {"choices", {{"type", "array"}, {"items", {{"type", "object"}}}}},
                               {"usage", {{"type", "object"}}},
                               {"citations", {{"type", "array"}, {"items", Ref("Citation")}}}}}};
  schemas["DocumentList"] = {{"type", "object"},
                             {"required", {"object", "data"}},
                             {"properties",
                              {{"object", {{"type", "string"}}},
                               {"data", {{"type", "array"}, {"items", Ref("Document")}}},
                               {"total", {{"type", "integer"}}},
                               {"offset", {{"type", "integer"}}},
                               {"limit", {{"type", "integer"}}},
                               {"ingest", {{"type", "object"}}}}}};

  json paths;
  paths["/v1/embeddings"]["post"] = {
      {"summary", "Embeddings (OpenAI)"},
      {"operationId", "embeddings"},
      {"requestBody", JsonBody(Ref("EmbeddingRequest"))},
      {"responses", Errors({{"200", Reply("vectors", Ref("EmbeddingResponse"))}})}};
  paths["/embed"]["post"] = {
      {"summary", "Embeddings (Text Embeddings Inference)"},
      {"operationId", "teiEmbed"},
      {"requestBody", JsonBody({{"type", "object"},
                                {"required", {"inputs"}},
                                {"properties",
                                 {{"inputs", StringOrList()},
                                  {"truncate", {{"type", "boolean"}}},
                                  {"normalize", {{"type", "boolean"}}},
                                  {"prompt_name", {{"type", "string"}}}}}})},
      {"responses",
       Errors(
           {{"200", Reply("vectors",
                          {{"type", "array"},
                           {"items", {{"type", "array"}, {"items", {{"type", "number"}}}}}})}})}};
  for (const char* path : {"/v1/rerank", "/rerank"}) {
    paths[path]["post"] = {
        {"summary", "Rerank: Cohere/Jina shape with documents, TEI shape with texts"},
        {"operationId", std::string(path) == "/rerank" ? "rerankTei" : "rerank"},
        {"requestBody", JsonBody(Ref("RerankRequest"))},
        {"responses", Errors({{"200", Reply("scores, best first", Ref("RerankResponse"))}})}};
  }
  paths["/tokenize"]["post"] = {
      {"summary", "Tokens of the embedding model (TEI)"},
      {"operationId", "tokenize"},
      {"requestBody",
       JsonBody({{"type", "object"},
                 {"required", {"inputs"}},
                 {"properties",
                  {{"inputs", StringOrList()}, {"add_special_tokens", {{"type", "boolean"}}}}}})},
      {"responses",
       Errors(
           {{"200", Reply("tokens",
                          {{"type", "array"},
                           {"items", {{"type", "array"}, {"items", {{"type", "object"}}}}}})}})}};
  paths["/info"]["get"] = {{"summary", "Models and limits (TEI)"},
                           {"operationId", "info"},
                           {"responses", Errors({{"200", Reply("info", {{"type", "object"}})}})}};
  paths["/v1/query"]["post"] = {
      {"summary", "Answer a question from the index, with citations (stream: server-sent events)"},
      {"operationId", "query"},
      {"requestBody", JsonBody(Ref("QueryRequest"))},
      {"responses", Errors({{"200",
                             {{"description", "the answer"},
                              {"content",
                               {{"application/json", {{"schema", Ref("Answer")}}},
                                {"text/event-stream", {{"schema", SseEvent()}}}}}}}})}};
  paths["/v1/chat/completions"]["post"] = {
      {"summary", "Chat completions (OpenAI shape; model sieve); citations in an extra field"},
      {"operationId", "chatCompletions"},
      {"requestBody", JsonBody(Ref("ChatRequest"))},
      {"responses", Errors({{"200",
                             {{"description", "the answer"},
                              {"content",
                               {{"application/json", {{"schema", Ref("ChatResponse")}}},
                                {"text/event-stream", {{"schema", SseEvent()}}}}}}}})}};
  paths["/v1/models"]["get"] = {
      {"summary", "Models (OpenAI)"},
      {"operationId", "models"},
      {"responses", Errors({{"200", Reply("models", {{"type", "object"}})}})}};
  paths["/v1/documents"]["post"] = {
      {"summary", "Add a document: JSON text, or files as multipart/form-data (admin key)"},
      {"operationId", "addDocuments"},
      {"requestBody",
       {{"required", true},
        {"content",
         {{"application/json",
           {{"schema",
             {{"type", "object"},
              {"required", {"text"}},
              {"properties",
               {{"name", {{"type", "string"}}},
                {"text", {{"type", "string"}}},
                {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}}}},
          {"multipart/form-data",
           {{"schema",
             {{"type", "object"},
              {"properties",
               {{"file", {{"type", "string"}, {"format", "binary"}}},
                {"tags", {{"type", "string"}}}}}}}}}}}}},
      {"responses", Errors({{"201", Reply("the documents added", Ref("DocumentList"))},
                            {"415", Reply("error", Ref("Error"))}})}};
  paths["/v1/documents"]["get"] = {
      {"summary", "Documents, a page at a time"},
      {"operationId", "listDocuments"},
      {"parameters",
       json::array({{{"name", "offset"},
                     {"in", "query"},
                     {"schema", {{"type", "integer"}, {"minimum", 0}, {"maximum", 1000000000}}}},
                    {{"name", "limit"},
                     {"in", "query"},
                     {"schema", {{"type", "integer"}, {"minimum", 0}, {"maximum", 1000}}}}})},
      {"responses", Errors({{"200", Reply("documents", Ref("DocumentList"))}})}};
  json id_param = json::array({{{"name", "id"},
                                {"in", "path"},
                                {"required", true},
                                {"schema", {{"type", "integer"}, {"minimum", 0}}}}});
  paths["/v1/documents/{id}"]["get"] = {
      {"summary", "One document"},
      {"operationId", "getDocument"},
      {"parameters", id_param},
      {"responses", Errors({{"200", Reply("the document", Ref("Document"))}})}};
  paths["/v1/documents/{id}"]["delete"] = {
      {"summary", "Delete a document (admin key)"},
      {"operationId", "deleteDocument"},
      {"parameters", id_param},
      {"responses", Errors({{"200", Reply("deleted", {{"type", "object"}})}})}};
  paths["/health"]["get"] = {{"summary", "Liveness (TEI)"},
                             {"operationId", "health"},
                             {"responses", {{"200", {{"description", "alive"}}}}}};
  paths["/healthz"]["get"] = {{"summary", "Liveness"},
                              {"operationId", "healthz"},
                              {"responses", {{"200", Reply("alive", {{"type", "object"}})}}}};
  paths["/readyz"]["get"] = {
      {"summary", "Readiness: the models are loaded"},
      {"operationId", "readyz"},
      {"responses",
       {{"200", Reply("ready", {{"type", "object"}})}, {"503", Reply("not ready", Ref("Error"))}}}};
  paths["/metrics"]["get"] = {
      {"summary", "Prometheus metrics"},
      {"operationId", "metrics"},
      {"responses",
       {{"200",
         {{"description", "metrics"},
          {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}}},
        {"401", Reply("error", Ref("Error"))}}}};
  paths["/openapi.json"]["get"] = {
      {"summary", "This document"},
      {"operationId", "openapi"},
      {"responses", {{"200", Reply("OpenAPI 3.0", {{"type", "object"}})}}}};
  paths["/"]["get"] = {{"summary", "The web page"},
                       {"operationId", "page"},
                       {"responses",
                        {{"200",
                          {{"description", "HTML"},
                           {"content", {{"text/html", {{"schema", {{"type", "string"}}}}}}}}}}}};

  return {{"openapi", "3.0.3"},
          {"info",
           {{"title", "Sieve"},
            {"version", SIEVE_VERSION},
            {"description", "Retrieval-augmented generation with citations (sieve serve)."}}},
          {"components",
           {{"schemas", schemas},
            {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}},
          {"security", json::array({json::object(), {{"bearer", json::array()}}})},
          {"paths", paths}};
}

}  // namespace

const std::string& OpenApiJson() {
  static const std::string text = Build().dump();
  return text;
}

}  // namespace sieve::server
