// server: request bodies, parsed (see requests.h). Inside this file a refusal is thrown as a
// RequestError and caught at the public function's edge, so the checks read top to bottom in
// the order the handlers made them.
#include "server/requests.h"

#include <openssl/sha.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <new>

namespace sieve::server {

namespace {

using nlohmann::json;

[[noreturn]] void Refuse(std::string message, std::string code = "invalid_request",
                         int status = 400) {
  throw RequestError{status, std::move(code), std::move(message)};
}

// Runs `parse`, turning a refusal (or a JSON value of an unexpected shape) into the error.
// std::bad_alloc is not caught: the server answers it as 503.
template <typename T, typename F>
Parsed<T> Catching(F&& parse) {
  try {
    return parse();
  } catch (RequestError& e) {
    return std::move(e);
  } catch (const json::exception& e) {
    return RequestError{400, "invalid_request", std::string("malformed request: ") + e.what()};
  }
}

json ParseJson(std::string_view text) {
  if (text.empty()) Refuse("the request body is empty (expected a JSON object)");
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) Refuse("the request body is not valid JSON", "invalid_json");
  if (!body.is_object()) Refuse("the request body must be a JSON object");
  return body;
}

std::string TypeName(const json& value) {
  return value.is_null() ? "null" : value.type_name();
}

std::optional<std::string> OptString(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string())
    Refuse(std::string("\"") + key + "\" must be a string, not " + TypeName(*it), "invalid_type");
  return it->get<std::string>();
}

std::optional<bool> OptBool(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean())
    Refuse(std::string("\"") + key + "\" must be a boolean, not " + TypeName(*it), "invalid_type");
  return it->get<bool>();
}

std::optional<std::size_t> OptCount(const json& body, const char* key, std::size_t min,
                                    std::size_t max) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) {
    Refuse(std::string("\"") + key + "\" must be an integer, not " + TypeName(*it), "invalid_type");
  }
  const auto value = it->get<std::int64_t>();
  if (value < static_cast<std::int64_t>(min) || value > static_cast<std::int64_t>(max)) {
    Refuse(std::string("\"") + key + "\" must be between " + std::to_string(min) + " and " +
               std::to_string(max),
           "invalid_value");
  }
  return static_cast<std::size_t>(value);
}

std::vector<std::string> StringList(const json& value, const char* key) {
  std::vector<std::string> out;
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
    return out;
  }
  if (!value.is_array()) {
    Refuse(std::string("\"") + key + "\" must be a string or an array of strings", "invalid_type");
  }
  for (const auto& item : value) {
    if (!item.is_string()) {
      if (item.is_number_integer() || item.is_array()) {
        Refuse(std::string("\"") + key +
                   "\": token ids are not accepted; send the text (for LangChain's "
                   "OpenAIEmbeddings set check_embedding_ctx_length=False)",
               "invalid_type");
      }
      Refuse(std::string("\"") + key + "\" must hold strings, not " + TypeName(item),
             "invalid_type");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

bool Blank(const std::string& text) {
  return text.find_first_not_of(" \t\r\n") == std::string::npos;
}

// The texts of an embedding or rerank request: at least one, at most max_inputs, none blank.
std::vector<std::string> Inputs(const json& value, const char* key, const RequestLimits& limits) {
  std::vector<std::string> texts = StringList(value, key);
  if (texts.empty()) Refuse(std::string("\"") + key + "\" is empty", "empty_input");
  if (texts.size() > limits.max_inputs) {
    Refuse(std::string("\"") + key + "\" has " + std::to_string(texts.size()) + " items; at most " +
               std::to_string(limits.max_inputs) + " per request",
           "too_many_inputs", 413);
  }
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (Blank(texts[i])) {
      Refuse(std::string("\"") + key + "\"[" + std::to_string(i) + "] is empty", "empty_input");
    }
  }
  return texts;
}

void CheckModel(const std::optional<std::string>& model, const std::set<std::string>* names,
                const char* what) {
  if (names == nullptr || !model || model->empty() || names->count(*model) > 0) return;
  std::string known;
  for (const auto& n : *names) known += (known.empty() ? "" : ", ") + n;
  Refuse(
      "unknown " + std::string(what) + " model \"" + *model + "\" (this server has: " + known + ")",
      "model_not_found", 404);
}

Filter ParseFilter(const json& body) {
  Filter filter;
  auto it = body.find("filter");
  if (it == body.end() || it->is_null()) return filter;
  if (!it->is_object()) Refuse("\"filter\" must be an object", "invalid_type");
  if (auto p = OptString(*it, "path_prefix")) filter.path_prefix = *p;
  if (auto t = it->find("types"); t != it->end() && !t->is_null()) {
    filter.types = StringList(*t, "filter.types");
  }
  if (auto t = it->find("tags"); t != it->end() && !t->is_null()) {
    filter.tags = StringList(*t, "filter.tags");
  }
  return filter;
}

AskRequest ParseAsk(const json& body, const char* text_key) {
  AskRequest ask;
  std::optional<std::string> q = OptString(body, text_key);
  if (!q) q = OptString(body, "question");
  if (!q) Refuse(std::string("\"") + text_key + "\" is required");
  if (Blank(*q)) Refuse(std::string("\"") + text_key + "\" is empty", "empty_input");
  ask.query = *q;
  if (auto mode = OptString(body, "mode")) {
    auto parsed = ParseMode(*mode);
    if (!parsed.ok()) Refuse(parsed.status().message(), "invalid_value");
    ask.mode = *parsed;
  }
  ask.k = OptCount(body, "k", 1, 100000);
  ask.top_n = OptCount(body, "top_n", 1, 1000);
  ask.rerank = OptBool(body, "rerank");
  ask.filter = ParseFilter(body);
  return ask;
}

// The text of a chat message: its "content" string, or its text parts joined by newlines.
std::string MessageText(const json& message) {
  const auto content = message.find("content");
  if (content != message.end() && content->is_string()) return content->get<std::string>();
  if (content == message.end() || !content->is_array()) {
    Refuse("a message's \"content\" must be a string or an array of parts", "invalid_type");
  }
  std::string text;
  for (const auto& part : *content) {
    if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
        part["text"].is_string()) {
      text += (text.empty() ? "" : "\n") + part["text"].get<std::string>();
    }
  }
  return text;
}

// The question of a chat (the text of the last user message) and the user and assistant turns
// before it, oldest first (system messages and empty turns left out), for condensing.
std::pair<std::string, std::vector<ChatTurn>> ChatQuestion(const json& body) {
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array()) {
    Refuse("\"messages\" must be an array of {role, content}", "invalid_type");
  }
  if (messages->empty()) Refuse("\"messages\" is empty", "empty_input");
  std::size_t last_user = messages->size();
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    if (!m.is_object()) Refuse("each message must be an object", "invalid_type");
    if (!m.contains("role") || !m["role"].is_string()) {
      Refuse("each message needs a \"role\" string", "invalid_type");
    }
    MessageText(m);  // checks the content's type
    if (m.value("role", "") == "user") last_user = i;
  }
  if (last_user == messages->size()) Refuse("\"messages\" has no user message", "empty_input");
  std::string question = MessageText((*messages)[last_user]);
  if (Blank(question)) Refuse("the last user message is empty", "empty_input");
  std::vector<ChatTurn> history;
  for (std::size_t i = 0; i < last_user; ++i) {
    const json& m = (*messages)[i];
    const std::string role = m.value("role", "");
    if (role != "user" && role != "assistant") continue;
    std::string text = MessageText(m);
    if (!Blank(text)) history.push_back({role, std::move(text)});
  }
  return {std::move(question), std::move(history)};
}

// Comma-separated tags, trimmed, empty ones dropped.
void AddTags(const std::string& text, std::vector<std::string>& tags) {
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string tag = text.substr(start, comma - start);
    tag.erase(0, tag.find_first_not_of(" \t"));
    tag.erase(tag.find_last_not_of(" \t") + 1);
    if (!tag.empty()) tags.push_back(tag);
    start = comma + 1;
  }
}

// The uploads with safe names; refuses when there are none or a name is unusable.
void CheckUploads(DocumentsBody& out) {
  if (out.uploads.empty()) Refuse("no file in the upload (a part with a file name)");
  for (auto& upload : out.uploads) {
    const std::string safe = SafeFileName(upload.name);
    if (safe.empty()) Refuse("unusable file name \"" + upload.name + "\"", "invalid_name");
    upload.name = safe;
  }
}

}  // namespace

std::string SafeFileName(std::string_view name) {
  const auto slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name = name.substr(slash + 1);
  std::string out;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    out += ok ? c : '_';
  }
  if (out.size() > 120) out = out.substr(out.size() - 120);
  while (!out.empty() && out.front() == '.') out.erase(out.begin());
  if (out.empty() || out.find_first_not_of("._-") == std::string::npos) return "";
  return out;
}

Parsed<EmbeddingsBody> ParseEmbeddingsBody(std::string_view text, const RequestLimits& limits) {
  return Catching<EmbeddingsBody>([&] {
    const json body = ParseJson(text);
    CheckModel(OptString(body, "model"), limits.embed_models, "embedding");
    auto input = body.find("input");
    if (input == body.end() || input->is_null()) Refuse("\"input\" is required");
    EmbeddingsBody out;
    out.texts = Inputs(*input, "input", limits);
    const std::string format = OptString(body, "encoding_format").value_or("float");
    if (format != "float" && format != "base64") {
      Refuse("\"encoding_format\" must be \"float\" or \"base64\"", "invalid_value");
    }
    out.base64 = format == "base64";
    out.dimensions = OptCount(body, "dimensions", 1, 1u << 20);
    if (out.dimensions && limits.embed_dimension > 0 && *out.dimensions > limits.embed_dimension) {
      Refuse("\"dimensions\" is " + std::to_string(*out.dimensions) + "; the model gives " +
                 std::to_string(limits.embed_dimension),
             "invalid_value");
    }
    out.is_query = OptString(body, "input_type").value_or("document") == "query";
    return out;
  });
}

Parsed<TeiEmbedBody> ParseTeiEmbedBody(std::string_view text, const RequestLimits& limits) {
  return Catching<TeiEmbedBody>([&] {
    const json body = ParseJson(text);
    auto input = body.find("inputs");
    if (input == body.end() || input->is_null()) Refuse("\"inputs\" is required");
    TeiEmbedBody out;
    out.texts = Inputs(*input, "inputs", limits);
    out.truncate = OptBool(body, "truncate").value_or(false);
    out.is_query = OptString(body, "prompt_name").value_or("") == "query";
    out.normalize = OptBool(body, "normalize").value_or(true);
    return out;
  });
}

Parsed<RerankBody> ParseRerankBody(std::string_view text, const RequestLimits& limits) {
  return Catching<RerankBody>([&] {
    const json body = ParseJson(text);
    CheckModel(OptString(body, "model"), limits.rerank_models, "rerank");
    const std::optional<std::string> query = OptString(body, "query");
    if (!query) Refuse("\"query\" is required");
    if (Blank(*query)) Refuse("\"query\" is empty", "empty_input");
    RerankBody out;
    out.tei = body.contains("texts") && !body.contains("documents");
    out.request.query = *query;
    if (out.tei) {
      out.request.documents = Inputs(body["texts"], "texts", limits);
    } else {
      auto docs = body.find("documents");
      if (docs == body.end() || docs->is_null()) {
        Refuse("\"documents\" (or TEI's \"texts\") is required");
      }
      if (!docs->is_array()) Refuse("\"documents\" must be an array", "invalid_type");
      json texts = json::array();
      for (const auto& d : *docs) {
        // Cohere and Jina accept {"text": ...} objects as well as strings.
        if (d.is_object() && d.contains("text")) {
          texts.push_back(d["text"]);
        } else {
          texts.push_back(d);
        }
      }
      out.request.documents = Inputs(texts, "documents", limits);
    }
    out.request.top_n = OptCount(body, "top_n", 1, 1u << 20).value_or(0);
    if (out.tei) {
      out.return_text = OptBool(body, "return_text").value_or(false);
      out.raw_scores = OptBool(body, "raw_scores").value_or(false);
    } else {
      out.return_documents = OptBool(body, "return_documents").value_or(true);
    }
    return out;
  });
}

Parsed<TokenizeBody> ParseTokenizeBody(std::string_view text, const RequestLimits& limits) {
  return Catching<TokenizeBody>([&] {
    const json body = ParseJson(text);
    auto input = body.find("inputs");
    if (input == body.end() || input->is_null()) Refuse("\"inputs\" is required");
    TokenizeBody out;
    out.texts = StringList(*input, "inputs");
    if (out.texts.empty()) Refuse("\"inputs\" is empty", "empty_input");
    if (out.texts.size() > limits.max_inputs) Refuse("too many inputs", "too_many_inputs", 413);
    out.add_special_tokens = OptBool(body, "add_special_tokens").value_or(true);
    return out;
  });
}

Parsed<QueryBody> ParseQueryBody(std::string_view text) {
  return Catching<QueryBody>([&] {
    const json body = ParseJson(text);
    QueryBody out;
    out.ask = ParseAsk(body, "query");
    out.stream = OptBool(body, "stream").value_or(false);
    return out;
  });
}

Parsed<ChatBody> ParseChatBody(std::string_view text,
                               const std::optional<std::string>& session_header) {
  return Catching<ChatBody>([&] {
    const json body = ParseJson(text);
    const std::optional<std::string> model = OptString(body, "model");
    if (model && *model != "sieve") {
      Refuse("unknown model \"" + *model + "\" (this server has: sieve)", "model_not_found", 404);
    }
    ChatBody out;
    std::tie(out.ask.query, out.ask.history) = ChatQuestion(body);
    // Earlier turns are condensed into a standalone question unless "condense_history": false.
    out.ask.condense_history = OptBool(body, "condense_history");
    out.ask.top_n = OptCount(body, "top_n", 1, 1000);
    out.ask.filter = ParseFilter(body);
    // The conversation, for traces (session.id): the body's session_id, else the X-Session-Id
    // header, else OpenAI's `user`.
    std::optional<std::string> session = OptString(body, "session_id");
    if (!session) session = session_header;
    if (!session) session = OptString(body, "user");
    if (session) {
      if (session->size() > 256) Refuse("session_id is longer than 256 bytes", "invalid_value");
      out.ask.session_id = *session;
    }
    out.stream = OptBool(body, "stream").value_or(false);
    return out;
  });
}

Parsed<DocumentsBody> ParseDocumentsJson(std::string_view text) {
  return Catching<DocumentsBody>([&] {
    const json body = ParseJson(text);
    const std::optional<std::string> content = OptString(body, "text");
    if (!content) Refuse("\"text\" is required (or upload files as multipart/form-data)");
    if (Blank(*content)) Refuse("\"text\" is empty", "empty_input");
    std::string name = OptString(body, "name").value_or("");
    if (name.empty()) {
      unsigned char digest[SHA256_DIGEST_LENGTH];
      SHA256(reinterpret_cast<const unsigned char*>(content->data()), content->size(), digest);
      static constexpr char kHex[] = "0123456789abcdef";
      name = "text-";
      for (int i = 0; i < 8; ++i) {
        name += kHex[digest[i] >> 4];
        name += kHex[digest[i] & 0xf];
      }
      name += ".txt";
    }
    DocumentsBody out;
    out.uploads.push_back({name, *content});
    if (auto t = body.find("tags"); t != body.end() && !t->is_null()) {
      for (const auto& tag : StringList(*t, "tags")) AddTags(tag, out.tags);
    }
    CheckUploads(out);
    return out;
  });
}

Parsed<DocumentsBody> ParseDocumentsForm(std::vector<FormPart> parts) {
  return Catching<DocumentsBody>([&] {
    DocumentsBody out;
    for (auto& part : parts) {
      if (part.field == "tags") {
        AddTags(part.content, out.tags);
      } else if (!part.filename.empty()) {
        out.uploads.push_back({std::move(part.filename), std::move(part.content)});
      }
    }
    CheckUploads(out);
    return out;
  });
}

}  // namespace sieve::server
