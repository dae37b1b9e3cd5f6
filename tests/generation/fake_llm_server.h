// A local OpenAI-protocol server for the generation tests: cpp-httplib on 127.0.0.1 with a port
// the OS picks, serving POST /v1/chat/completions with whatever the test's handler says.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sieve::generation::testing {

// A body made of server-sent events, e.g. SseBody({"{...}", "[DONE]"}).
inline std::string SseBody(const std::vector<std::string>& data_lines) {
  std::string body;
  for (const std::string& data : data_lines) body += "data: " + data + "\n\n";
  return body;
}

// One streamed chunk carrying `content` in choices[0].delta.
inline std::string DeltaChunk(const std::string& content) {
  nlohmann::json chunk = {{"id", "chatcmpl-1"},
                          {"object", "chat.completion.chunk"},
                          {"model", "fake-model"},
                          {"choices", {{{"index", 0}, {"delta", {{"content", content}}}}}}};
  return chunk.dump();
}

// A whole non-streamed completion with `content`.
inline std::string CompletionBody(const std::string& content) {
  nlohmann::json body = {
      {"id", "chatcmpl-1"},
      {"object", "chat.completion"},
      {"model", "fake-model"},
      {"choices",
       {{{"index", 0},
         {"message", {{"role", "assistant"}, {"content", content}}},
         {"finish_reason", "stop"}}}},
      {"usage", {{"prompt_tokens", 11}, {"completion_tokens", 7}, {"total_tokens", 18}}}};
  return body.dump();
}

class FakeLlmServer {
 public:
  // Called for each request with its 0-based number; fills the response.
  using Handler =
      std::function<void(int request_number, const httplib::Request&, httplib::Response&)>;

  explicit FakeLlmServer(Handler handler) : handler_(std::move(handler)) {
    server_.Post("/v1/chat/completions",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   int number = requests_.fetch_add(1);
                   {
                     std::lock_guard<std::mutex> lock(mutex_);
                     bodies_.push_back(req.body);
                     authorization_.push_back(req.get_header_value("Authorization"));
                   }
                   handler_(number, req, res);
                 });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("fake LLM server: cannot bind 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() only works on a running server, so wait until it listens.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeLlmServer() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }
  FakeLlmServer(const FakeLlmServer&) = delete;
  FakeLlmServer& operator=(const FakeLlmServer&) = delete;

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int port() const { return port_; }
  int requests() const { return requests_.load(); }
  std::vector<std::string> bodies() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return bodies_;
  }
  std::vector<std::string> authorization_headers() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return authorization_;
  }
  // Sleeps up to `duration`, returning early once the server is being shut down.
  void SleepUnlessStopping(std::chrono::milliseconds duration) const {
    auto until = std::chrono::steady_clock::now() + duration;
    while (!stopping_ && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

 private:
  Handler handler_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> bodies_;
  std::vector<std::string> authorization_;
};

}  // namespace sieve::generation::testing
