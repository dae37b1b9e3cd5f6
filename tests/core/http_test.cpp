// Tests for core/http.h against a cpp-httplib server on 127.0.0.1 (a port the OS picks).
#include "core/http.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sieve::http {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

class TestServer {
 public:
  using Handler = std::function<void(int number, const httplib::Request&, httplib::Response&)>;

  explicit TestServer(Handler handler) : handler_(std::move(handler)) {
    auto serve = [this](const httplib::Request& req, httplib::Response& res) {
      int number = requests_.fetch_add(1);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        arrivals_.push_back(Clock::now());
        ranges_.push_back(req.get_header_value("Range"));
        remote_ports_.insert(req.remote_port);
      }
      handler_(number, req, res);
    };
    server_.Get(".*", serve);
    server_.Post(".*", serve);
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("test server: cannot bind 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~TestServer() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }

  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }
  int requests() const { return requests_.load(); }
  bool stopping() const { return stopping_.load(); }
  std::vector<Clock::time_point> arrivals() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return arrivals_;
  }
  std::vector<std::string> ranges() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return ranges_;
  }
  std::size_t distinct_connections() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return remote_ports_.size();
  }
  // Sleeps up to `duration`, returning early once the server is being shut down.
  void SleepUnlessStopping(milliseconds duration) const {
    auto until = Clock::now() + duration;
    while (!stopping_ && Clock::now() < until) std::this_thread::sleep_for(milliseconds(5));
  }

 private:
  Handler handler_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<Clock::time_point> arrivals_;
  std::vector<std::string> ranges_;
  std::set<int> remote_ports_;
};

// A port nothing listens on: a server's, after it closed.
int ClosedPort() {
  TestServer closed([](int, const httplib::Request&, httplib::Response&) {});
  return closed.port();
}

Request Get(const std::string& url) {
  Request request;
  request.url = url;
  request.timeouts.connect = milliseconds(2000);
  request.timeouts.total = milliseconds(10000);
  request.retry.initial_backoff = milliseconds(1);
  request.retry.max_backoff = milliseconds(5);
  return request;
}

TEST(HttpClientTest, GetReturnsStatusHeadersAndBody) {
  TestServer server([](int, const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Echo", req.get_header_value("X-Test"));
    res.set_content("hello " + req.path, "text/plain");
  });
  Client client;
  Request request = Get(server.url("/path"));
  request.headers = {{"X-Test", "value"}};
  Result<Response> response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello /path");
  EXPECT_EQ(response->header("x-echo"), "value");
  EXPECT_EQ(response->header("X-ECHO"), "value");
  EXPECT_EQ(response->attempts, 1);
}

TEST(HttpClientTest, PostSendsTheBody) {
  TestServer server([](int, const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.method + ":" + req.get_header_value("Content-Type") + ":" + req.body,
                    "text/plain");
  });
  Client client;
  Request request = Get(server.url("/post"));
  request.method = "POST";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = R"({"a":1})";
  Result<Response> response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->body, R"(POST:application/json:{"a":1})");
}

TEST(HttpClientTest, ServiceUnavailableIsRetriedHonouringRetryAfter) {
  TestServer server([](int number, const httplib::Request&, httplib::Response& res) {
    if (number == 0) {
      res.status = 503;
      res.set_header("Retry-After", "1");
      res.set_content("busy", "text/plain");
      return;
    }
    res.set_content("ok", "text/plain");
  });
  Client client;
  Request request = Get(server.url());
  std::vector<milliseconds> waits;
  request.retry.on_retry = [&waits](int, milliseconds wait, const Status&) {
    waits.push_back(wait);
  };
  Result<Response> response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->attempts, 2);
  EXPECT_EQ(server.requests(), 2);
  // The backoff alone would be at most 5 ms; the server asked for a second, and got it.
  ASSERT_EQ(waits.size(), 1u);
  EXPECT_EQ(waits[0], milliseconds(1000));
  std::vector<Clock::time_point> arrivals = server.arrivals();
  ASSERT_EQ(arrivals.size(), 2u);
  EXPECT_GE(arrivals[1] - arrivals[0], milliseconds(950));
}

TEST(HttpClientTest, RetryAfterBeyondTheLimitStopsRetrying) {
  TestServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "3600");
  });
  Client client;
  Request request = Get(server.url());
  request.retry.max_retry_after = milliseconds(2000);
  Result<Response> response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(response->attempts, 1);
  EXPECT_THAT(response->retry_note, HasSubstr("retry after 3600s, more than the 2s limit"));
  EXPECT_EQ(server.requests(), 1);
}

TEST(HttpClientTest, PersistentServerErrorReturnsTheLastAnswerAfterAllAttempts) {
  TestServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 502;
    res.set_content("bad gateway\nsecond line", "text/plain");
  });
  Client client;
  Request request = Get(server.url("/x"));
  request.retry.max_attempts = 4;
  Result<Response> response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 502);
  EXPECT_EQ(response->attempts, 4);
  EXPECT_EQ(server.requests(), 4);
  Status error = ErrorFromResponse(*response, request.url);
  EXPECT_EQ(error.code(), StatusCode::kUnavailable);
  EXPECT_THAT(error.message(), HasSubstr("127.0.0.1:" + std::to_string(server.port())));
  EXPECT_THAT(error.message(), HasSubstr("HTTP 502: bad gateway second line"));
  EXPECT_THAT(error.message(), HasSubstr("after 4 attempts"));
}

TEST(HttpClientTest, BadRequestIsNotRetried) {
  TestServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 400;
    res.set_content(R"({"error":"bad filter"})", "application/json");
  });
  Client client;
  Request request = Get(server.url());
  int retries = 0;
  request.retry.on_retry = [&retries](int, milliseconds, const Status&) { ++retries; };
  Result<Response> response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(response->attempts, 1);
  EXPECT_EQ(retries, 0);
  EXPECT_EQ(server.requests(), 1);
  Status error = ErrorFromResponse(*response, request.url);
  EXPECT_EQ(error.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(error.message(), HasSubstr("bad filter"));
}

TEST(HttpClientTest, ConnectionRefusedIsRetriedThenFailsNamingTheHost) {
  int port = ClosedPort();
  Client client;
  Request request = Get("http://127.0.0.1:" + std::to_string(port) + "/");
  request.retry.max_attempts = 3;
  std::vector<int> failed_attempts;
  request.retry.on_retry = [&](int attempt, milliseconds, const Status& why) {
    failed_attempts.push_back(attempt);
    EXPECT_EQ(why.code(), StatusCode::kUnavailable);
  };
  Result<Response> response = client.Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(response.status().message(), HasSubstr("cannot connect"));
  EXPECT_THAT(response.status().message(), HasSubstr("after 3 attempts"));
  EXPECT_EQ(failed_attempts, (std::vector<int>{1, 2}));
}

TEST(HttpClientTest, ConnectionErrorsAreNotRetriedWhenThePolicySaysSo) {
  int port = ClosedPort();
  Client client;
  Request request = Get("http://127.0.0.1:" + std::to_string(port) + "/");
  request.retry.retry_connection_errors = false;
  Result<Response> response = client.Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_THAT(response.status().message(), ::testing::Not(HasSubstr("attempts")));
}

TEST(HttpClientTest, TotalTimeoutIsATimeoutNamingTheLimit) {
  TestServer* self = nullptr;
  TestServer server([&self](int, const httplib::Request&, httplib::Response& res) {
    self->SleepUnlessStopping(milliseconds(5000));
    res.set_content("late", "text/plain");
  });
  self = &server;
  Client client;
  Request request = Get(server.url());
  request.timeouts.total = milliseconds(300);
  Result<Response> response = client.Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kTimeout);
  EXPECT_THAT(response.status().message(), HasSubstr("0.3s"));
  EXPECT_EQ(server.requests(), 1);  // timeouts are not retried by default
}

// Serves `pieces` of a chunked body, `gap` apart, then sets `done`.
void ServeSlowly(httplib::Response& res, std::vector<std::string> pieces, milliseconds gap,
                 const TestServer* server, std::atomic<bool>* done) {
  res.set_chunked_content_provider(
      "text/event-stream",
      [pieces = std::move(pieces), gap, server, done](std::size_t, httplib::DataSink& sink) {
        for (const std::string& piece : pieces) {
          if (!sink.write(piece.data(), piece.size())) return false;
          server->SleepUnlessStopping(gap);
          if (server->stopping()) return false;
        }
        if (done != nullptr) *done = true;
        sink.done();
        return true;
      });
}

TEST(HttpClientTest, StreamedBodyReachesTheCallbackAsItArrives) {
  std::atomic<bool> server_done{false};
  TestServer* self = nullptr;
  std::vector<std::string> events = {"data: one\n\n", "data: two\n\n", "data: three\n\n"};
  TestServer server([&](int, const httplib::Request&, httplib::Response& res) {
    ServeSlowly(res, events, milliseconds(100), self, &server_done);
  });
  self = &server;
  Client client;
  Request request = Get(server.url("/events"));
  std::vector<std::string> chunks;
  bool first_before_end = false;
  request.on_body = [&](const Response& head, std::string_view chunk) {
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("content-type"), "text/event-stream");
    if (chunks.empty()) first_before_end = !server_done;
    chunks.emplace_back(chunk);
    return Status::Ok();
  };
  Result<Response> response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_TRUE(response->body.empty());
  EXPECT_GE(chunks.size(), 2u);
  EXPECT_TRUE(first_before_end);  // streamed, not buffered until the end
  std::string all;
  for (const auto& chunk : chunks) all += chunk;
  EXPECT_EQ(all, "data: one\n\ndata: two\n\ndata: three\n\n");
}

TEST(HttpClientTest, CallbackErrorStopsTheTransferAndIsReturned) {
  TestServer* self = nullptr;
  TestServer server([&](int, const httplib::Request&, httplib::Response& res) {
    ServeSlowly(res, {"a", "b", "c"}, milliseconds(20), self, nullptr);
  });
  self = &server;
  Client client;
  Request request = Get(server.url());
  request.on_body = [](const Response&, std::string_view) {
    return Status::InvalidInput("not what I wanted");
  };
  Result<Response> response = client.Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kInvalidInput);
  EXPECT_EQ(response.status().message(), "not what I wanted");
  EXPECT_EQ(server.requests(), 1);
}

TEST(HttpClientTest, CancellationMidStreamStopsPromptly) {
  TestServer* self = nullptr;
  TestServer server([&](int, const httplib::Request&, httplib::Response& res) {
    // 10 s of events unless the client goes away.
    ServeSlowly(res, std::vector<std::string>(200, "data: x\n\n"), milliseconds(50), self, nullptr);
  });
  self = &server;
  Client client;
  RequestContext ctx;
  std::stop_source stop;
  ctx.set_stop_token(stop.get_token());
  std::atomic<bool> got_bytes{false};
  Request request = Get(server.url());
  request.timeouts.total = milliseconds(30000);
  request.on_body = [&](const Response&, std::string_view) {
    got_bytes = true;
    return Status::Ok();
  };
  Clock::time_point stopped_at;
  std::thread canceller([&] {
    while (!got_bytes) std::this_thread::sleep_for(milliseconds(1));
    stopped_at = Clock::now();
    stop.request_stop();
  });
  Result<Response> response = client.Send(request, &ctx);
  Clock::time_point returned_at = Clock::now();
  canceller.join();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kCancelled) << response.status().ToString();
  EXPECT_EQ(server.requests(), 1);
  // The stream had ~10 s left; the transfer ends far sooner than that.
  EXPECT_LT(returned_at - stopped_at, milliseconds(2000));
}

TEST(HttpClientTest, DeadlineStopsASlowRequest) {
  TestServer* self = nullptr;
  TestServer server([&](int, const httplib::Request&, httplib::Response& res) {
    self->SleepUnlessStopping(milliseconds(5000));
    res.set_content("late", "text/plain");
  });
  self = &server;
  Client client;
  RequestContext ctx;
  ctx.set_timeout(milliseconds(300));
  Request request = Get(server.url());
  request.timeouts.total = milliseconds(30000);
  auto start = Clock::now();
  Result<Response> response = client.Send(request, &ctx);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kTimeout) << response.status().ToString();
  EXPECT_THAT(response.status().message(), HasSubstr("deadline"));
  EXPECT_LT(Clock::now() - start, milliseconds(4000));
  EXPECT_EQ(server.requests(), 1);
}

TEST(HttpClientTest, RetryWaitNeverOutlivesTheDeadline) {
  TestServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_header("Retry-After", "5");
  });
  Client client;
  RequestContext ctx;
  ctx.set_timeout(milliseconds(2000));
  Result<Response> response = client.Send(Get(server.url()), &ctx);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kTimeout) << response.status().ToString();
  EXPECT_THAT(response.status().message(), HasSubstr("deadline comes before the next retry"));
  EXPECT_EQ(server.requests(), 1);  // it did not wait 5 s to try again
}

TEST(HttpClientTest, CancelledContextSendsNothing) {
  TestServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  Client client;
  RequestContext ctx;
  std::stop_source stop;
  ctx.set_stop_token(stop.get_token());
  stop.request_stop();
  Result<Response> response = client.Send(Get(server.url()), &ctx);
  EXPECT_EQ(response.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(server.requests(), 0);
}

TEST(HttpClientTest, RangeRequestsAndResumeAfterADroppedConnection) {
  const std::string content = "0123456789abcdefghijklmnopqrstuvwxyz";
  TestServer server([&content](int number, const httplib::Request&, httplib::Response& res) {
    // The first answer hangs up after 10 bytes; httplib applies the Range to the provider.
    res.set_content_provider(
        content.size(), "application/octet-stream",
        [&content, number](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          if (number == 0) {
            sink.write(content.data() + offset, 10);
            return false;
          }
          sink.write(content.data() + offset, length);
          return true;
        });
  });
  Client client;
  Request request = Get(server.url("/file"));
  std::string received;
  request.on_body = [&received](const Response&, std::string_view chunk) {
    received.append(chunk);
    return Status::Ok();
  };
  request.resume_from = [&received]() -> std::optional<std::uint64_t> { return received.size(); };
  Result<Response> response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 206);
  EXPECT_EQ(response->attempts, 2);
  EXPECT_EQ(received, content);
  EXPECT_EQ(server.ranges(), (std::vector<std::string>{"", "bytes=10-"}));
}

TEST(HttpClientTest, StreamedBytesAreNotRepeatedWithoutResume) {
  const std::string content(1000, 'x');
  TestServer server([&content](int, const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(content.size(), "application/octet-stream",
                             [&content](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                               sink.write(content.data() + offset, 10);
                               return false;
                             });
  });
  Client client;
  Request request = Get(server.url());
  request.retry.max_attempts = 3;
  request.on_body = [](const Response&, std::string_view) { return Status::Ok(); };
  Result<Response> response = client.Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("closed before the answer was complete"));
  EXPECT_EQ(server.requests(), 1);
}

TEST(HttpClientTest, ConnectionsAreReused) {
  TestServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  Client client;
  for (int i = 0; i < 3; ++i) {
    Result<Response> response = client.Send(Get(server.url()));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
  }
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(server.distinct_connections(), 1u);
}

TEST(HttpClientTest, ManyThreadsShareOneClient) {
  TestServer server([](int, const httplib::Request& req, httplib::Response& res) {
    res.set_content("echo " + req.get_param_value("n"), "text/plain");
  });
  Client client;
  constexpr int kThreads = 8;
  constexpr int kRequests = 25;
  std::atomic<int> correct{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        std::string n = std::to_string(t * 1000 + i);
        Result<Response> response = client.Send(Get(server.url("/echo?n=" + n)));
        if (response.ok() && response->status == 200 && response->body == "echo " + n) ++correct;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(correct.load(), kThreads * kRequests);
  EXPECT_EQ(server.requests(), kThreads * kRequests);
}

TEST(HttpClientTest, SpanRecordsMethodRedactedUrlAndStatus) {
  TestServer server([](int, const httplib::Request&, httplib::Response& res) { res.status = 404; });
  Client client;
  RecordingTracer tracer;
  RequestContext ctx;
  ctx.set_tracer(&tracer);
  std::string url = "http://user:secret@127.0.0.1:" + std::to_string(server.port()) +
                    "/collections/x?api-key=secret";
  Result<Response> response = client.Send(Get(url), &ctx);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  std::vector<SpanData> spans = tracer.spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "http GET");
  std::map<std::string, AttributeValue> attributes(spans[0].attributes.begin(),
                                                   spans[0].attributes.end());
  EXPECT_EQ(std::get<std::string>(attributes.at("http.method")), "GET");
  EXPECT_EQ(std::get<std::string>(attributes.at("http.url")),
            "http://127.0.0.1:" + std::to_string(server.port()) + "/collections/x");
  EXPECT_EQ(std::get<std::int64_t>(attributes.at("http.status_code")), 404);
}

TEST(HttpClientTest, LargeBufferedBodyIsRefused) {
  TestServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(5000, 'x'), "text/plain");
  });
  Client client;
  Request request = Get(server.url());
  request.max_body_bytes = 1000;
  Result<Response> response = client.Send(request);
  EXPECT_EQ(response.status().code(), StatusCode::kInvalidInput);
}

TEST(HttpHelpersTest, ParseRetryAfterReadsSecondsAndHttpDates) {
  EXPECT_EQ(ParseRetryAfter("2"), milliseconds(2000));
  EXPECT_EQ(ParseRetryAfter(" 0 "), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), milliseconds(0));  // in the past
  std::optional<milliseconds> future = ParseRetryAfter("Fri, 01 Jan 2100 00:00:00 GMT");
  ASSERT_TRUE(future.has_value());
  EXPECT_GT(*future, milliseconds(0));
  EXPECT_FALSE(ParseRetryAfter("soon").has_value());
  EXPECT_FALSE(ParseRetryAfter("").has_value());
}

TEST(HttpHelpersTest, RedactUrlAndHostOf) {
  EXPECT_EQ(RedactUrl("https://u:p@example.com:8443/a/b?token=x#frag"),
            "https://example.com:8443/a/b");
  EXPECT_EQ(HostOf("https://example.com/a"), "example.com:443");
  EXPECT_EQ(HostOf("http://127.0.0.1:9/"), "127.0.0.1:9");
  EXPECT_EQ(HostOf("not a url"), "");
}

}  // namespace
}  // namespace sieve::http
