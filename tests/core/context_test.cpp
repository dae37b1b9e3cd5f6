#include "core/context.h"

#include <gtest/gtest.h>

#include <stop_token>
#include <thread>

#include "core/log.h"

namespace sieve {
namespace {

TEST(RequestContextTest, DeadlineAndCancellation) {
  RequestContext ctx;
  EXPECT_TRUE(ctx.Check().ok());
  EXPECT_FALSE(ctx.remaining().has_value());
  ctx.set_deadline(RequestContext::Clock::now() - std::chrono::milliseconds(1));
  EXPECT_EQ(ctx.Check().code(), StatusCode::kTimeout);
  EXPECT_LE(ctx.remaining()->count(), 0);

  RequestContext cancelled;
  std::stop_source source;
  cancelled.set_stop_token(source.get_token());
  EXPECT_TRUE(cancelled.Check().ok());
  source.request_stop();
  EXPECT_EQ(cancelled.Check().code(), StatusCode::kCancelled);
}

TEST(RequestContextTest, SpansNestAndReachTheTracer) {
  RecordingTracer tracer;
  RequestContext ctx;
  ctx.set_tracer(&tracer);
  {
    Span root = ctx.StartSpan("ask", SpanKind::kChain);
    root.SetAttribute("input.value", std::string("question"));
    {
      Span child = ctx.StartSpan("retrieve.lexical", SpanKind::kRetriever);
      child.SetAttribute("k", std::int64_t{50});
    }
    Span failed = ctx.StartSpan("rerank", SpanKind::kReranker);
    failed.End(Status::Unavailable("model gone"));
    failed.End();  // a second End does nothing
  }
  auto spans = tracer.spans();
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].name, "retrieve.lexical");
  EXPECT_EQ(spans[1].name, "rerank");
  EXPECT_EQ(spans[2].name, "ask");
  EXPECT_EQ(spans[2].parent_span_id, 0u);
  EXPECT_EQ(spans[0].parent_span_id, spans[2].span_id);
  EXPECT_EQ(spans[1].parent_span_id, spans[2].span_id);
  EXPECT_EQ(spans[1].status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(spans[0].trace_id, ctx.trace_id());
  EXPECT_STREQ(SpanKindName(spans[0].kind), "RETRIEVER");
  ASSERT_EQ(spans[0].attributes.size(), 1u);
  EXPECT_EQ(std::get<std::int64_t>(spans[0].attributes[0].second), 50);
  EXPECT_GE(spans[2].duration_ms, spans[0].duration_ms);
}

TEST(RequestContextTest, TraceParentIsContinued) {
  RecordingTracer tracer;
  RequestContext ctx;
  ctx.set_tracer(&tracer);
  std::array<std::uint8_t, 16> trace{};
  trace[15] = 7;
  ctx.set_trace_parent(trace, 42);
  { Span s = ctx.StartSpan("root"); }
  auto spans = tracer.spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].trace_id, trace);
  EXPECT_EQ(spans[0].parent_span_id, 42u);
}

TEST(RequestContextTest, NoTracerStillTimes) {
  RequestContext ctx;
  Span s = ctx.StartSpan("work");
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_GE(s.elapsed_ms(), 1.0);
  Span inert;
  inert.SetAttribute("x", true);
  inert.End();
  EXPECT_FALSE(inert.active());
}

TEST(LoggerTest, DefaultDropsAndSinkReceives) {
  Logger silent;
  EXPECT_FALSE(silent.enabled());
  silent.Note("nothing happens");
  std::vector<std::string> seen;
  Logger logger([&seen](LogLevel level, std::string_view message) {
    seen.push_back(std::string(LogLevelName(level)) + ":" + std::string(message));
  });
  logger.Note("vectors repaired");
  logger.Warning("slow");
  EXPECT_EQ(seen, (std::vector<std::string>{"note:vectors repaired", "warning:slow"}));
}

}  // namespace
}  // namespace sieve
