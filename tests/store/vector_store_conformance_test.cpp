// The conformance tests of vector_store_conformance.h, run for every backend instantiated.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <thread>

#include "vector_store_conformance.h"

namespace sieve::store::conformance {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<float> Axis(std::size_t axis, float scale = 1) {
  std::vector<float> v(kDim, 0);
  v[axis] = scale;
  return v;
}

std::vector<float> Mix(std::size_t a, std::size_t b) {  // (e_a + e_b) / sqrt(2) unnormalised
  std::vector<float> v(kDim, 0);
  v[a] = 1;
  v[b] = 1;
  return v;
}

TEST_P(VectorStoreConformance, UpsertReplaceRemoveAndIds) {
  VectorStore& s = OpenBound();
  ASSERT_TRUE(Put(s, {Record(3, Axis(0)), Record(1, Axis(1)), Record(2, Axis(2))}).ok());
  EXPECT_THAT(*s.Ids(), ElementsAre(1, 2, 3));
  EXPECT_EQ(*s.size(), 3u);
  ASSERT_TRUE(Put(s, {Record(1, Axis(5))}).ok());  // replaces chunk 1's vector
  EXPECT_EQ(*s.size(), 3u);
  auto top = One(s, Axis(5), 1);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].chunk_id, 1);
  EXPECT_NEAR(top[0].score, 1.0, 1e-5);
  const std::vector<std::int64_t> gone = {2, 99};  // 99 was never there
  ASSERT_TRUE(s.Remove(gone).ok());
  EXPECT_THAT(*s.Ids(), ElementsAre(1, 3));
  EXPECT_THAT(IdsOf(One(s, Axis(2), 10)), ::testing::Not(::testing::Contains(2)));
}

TEST_P(VectorStoreConformance, BadRecordsChangeNothing) {
  VectorStore& s = OpenBound();
  ASSERT_TRUE(Put(s, {Record(1, Axis(0))}).ok());
  EXPECT_FALSE(Put(s, {Record(2, Axis(1)), Record(3, {1, 2})}).ok());   // wrong dimension
  EXPECT_FALSE(Put(s, {Record(4, Axis(1)), Record(4, Axis(2))}).ok());  // id twice
  auto nan = Axis(0);
  nan[2] = std::nanf("");
  EXPECT_FALSE(Put(s, {Record(5, nan)}).ok());
  EXPECT_THAT(*s.Ids(), ElementsAre(1));
  EXPECT_FALSE(s.Search(std::vector<float>{1, 2, 3}, 1, 5, {}, nullptr).ok());  // wrong size
}

TEST_P(VectorStoreConformance, SearchRanksByCosineOfNormalisedVectors) {
  VectorStore& s = OpenBound();
  ASSERT_TRUE(Put(s, {Record(10, Axis(0, 5)), Record(20, Axis(1)), Record(30, Mix(0, 1)),
                      Record(40, Axis(0, -2))})
                  .ok());
  auto hits = One(s, Axis(0, 3), 4);
  ASSERT_EQ(hits.size(), 4u);
  EXPECT_EQ(hits[0].chunk_id, 10);
  EXPECT_NEAR(hits[0].score, 1.0, 1e-5);  // lengths 5 and 3 do not matter
  EXPECT_EQ(hits[1].chunk_id, 30);
  EXPECT_NEAR(hits[1].score, std::sqrt(0.5), 1e-5);
  EXPECT_EQ(hits[2].chunk_id, 20);
  EXPECT_NEAR(hits[2].score, 0.0, 1e-5);
  EXPECT_EQ(hits[3].chunk_id, 40);
  EXPECT_NEAR(hits[3].score, -1.0, 1e-5);
  EXPECT_THAT(IdsOf(One(s, Axis(0), 2)), ElementsAre(10, 30));
}

TEST_P(VectorStoreConformance, BatchedQueriesAnswerEachRow) {
  VectorStore& s = OpenBound();
  ASSERT_TRUE(Put(s, {Record(1, Axis(0)), Record(2, Axis(1)), Record(3, Axis(2))}).ok());
  std::vector<float> queries;
  for (std::size_t axis : {2, 0, 1}) {
    auto q = Axis(axis, 2);
    queries.insert(queries.end(), q.begin(), q.end());
  }
  auto lists = s.Search(queries, 3, 1, {}, nullptr);
  ASSERT_TRUE(lists.ok()) << lists.status().ToString();
  ASSERT_EQ(lists->size(), 3u);
  EXPECT_THAT(IdsOf((*lists)[0]), ElementsAre(3));
  EXPECT_THAT(IdsOf((*lists)[1]), ElementsAre(1));
  EXPECT_THAT(IdsOf((*lists)[2]), ElementsAre(2));
  EXPECT_NEAR((*lists)[1][0].score, 1.0, 1e-5);
}

TEST_P(VectorStoreConformance, KLargerThanTheStoreReturnsEverything) {
  VectorStore& s = OpenBound();
  ASSERT_TRUE(Put(s, {Record(1, Axis(0)), Record(2, Axis(1))}).ok());
  EXPECT_EQ(One(s, Axis(0), 100).size(), 2u);
  EXPECT_THAT(One(s, Axis(0), 0), IsEmpty());
}

TEST_P(VectorStoreConformance, EmptyStoreSearchReturnsEmptyLists) {
  VectorStore& unbound = Open();
  EXPECT_FALSE(unbound.model().has_value());
  auto lists = unbound.Search(Axis(0), 1, 5, {}, nullptr);
  ASSERT_TRUE(lists.ok());
  ASSERT_EQ(lists->size(), 1u);
  EXPECT_THAT((*lists)[0], IsEmpty());
  ASSERT_TRUE(unbound.BindModel(Model()).ok());
  EXPECT_THAT(One(unbound, Axis(0), 5), IsEmpty());
  EXPECT_EQ(*unbound.size(), 0u);
}

TEST_P(VectorStoreConformance, FiltersByPathPrefixTypesAndTags) {
  VectorStore& s = OpenBound();
  ASSERT_TRUE(Put(s, {Record(1, Axis(0), "/docs/a.md", "markdown", {"aero"}),
                      Record(2, Mix(0, 1), "/docs/b.txt", "text", {"aero", "heat"}),
                      Record(3, Mix(0, 2), "/other/c.md", "markdown", {}),
                      Record(4, Mix(0, 3), "/other/d.pdf", "pdf", {"heat"})})
                  .ok());
  Filter docs;
  docs.path_prefix = "/docs/";
  EXPECT_THAT(IdsOf(One(s, Axis(0), 10, docs)), ElementsAre(1, 2));
  Filter markdown_or_pdf;
  markdown_or_pdf.types = {"markdown", "pdf"};
  auto typed = IdsOf(One(s, Axis(0), 10, markdown_or_pdf));
  EXPECT_EQ(typed.size(), 3u);
  EXPECT_EQ(typed[0], 1);
  EXPECT_THAT(typed, ::testing::UnorderedElementsAre(1, 3, 4));
  Filter aero_and_heat;
  aero_and_heat.tags = {"aero", "heat"};
  EXPECT_THAT(IdsOf(One(s, Axis(0), 10, aero_and_heat)), ElementsAre(2));
  Filter combined;
  combined.path_prefix = "/other/";
  combined.types = {"pdf"};
  combined.tags = {"heat"};
  auto hits = One(s, Axis(3), 10, combined);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].chunk_id, 4);
  EXPECT_NEAR(hits[0].score, std::sqrt(0.5), 1e-5);  // the score is the real cosine
  Filter nothing;
  nothing.path_prefix = "/nowhere/";
  EXPECT_THAT(One(s, Axis(0), 10, nothing), IsEmpty());
  // The filter applies before k: the best passing chunk is found however far down it ranks.
  Filter far;
  far.types = {"pdf"};
  EXPECT_THAT(IdsOf(One(s, Axis(0), 1, far)), ElementsAre(4));
}

TEST_P(VectorStoreConformance, ModelIsBoundOnceAndAMismatchIsRefused) {
  {
    VectorStore& s = Open();
    EXPECT_FALSE(s.model().has_value());
    EXPECT_FALSE(Put(s, {Record(1, Axis(0))}).ok());  // no model bound yet
    ASSERT_TRUE(s.BindModel(Model()).ok());
    EXPECT_TRUE(s.BindModel(Model()).ok());  // the same model again
    ASSERT_TRUE(Put(s, {Record(1, Axis(0))}).ok());
    ASSERT_TRUE(s.Flush().ok());
  }
  VectorStore& s = Open();
  ASSERT_TRUE(s.model().has_value());
  EXPECT_TRUE(SameEmbeddingModel(*s.model(), Model()));
  Status refused = s.BindModel(Model("another/model"));
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("another/model"));
  EXPECT_THAT(refused.message(), HasSubstr("conformance/model"));
  EXPECT_THAT(refused.message(), HasSubstr("reembed"));
  auto other_dimension = Model();
  other_dimension.dimension = kDim * 2;
  EXPECT_FALSE(s.BindModel(other_dimension).ok());
  // Clear is how a store moves to another model.
  ASSERT_TRUE(s.Clear().ok());
  EXPECT_FALSE(s.model().has_value());
  EXPECT_TRUE(s.BindModel(Model("another/model")).ok());
  EXPECT_EQ(*s.size(), 0u);
}

// The precision the vectors were made at is part of the model: stored, reread, and an index of
// one precision refuses the other with the flag that fixes it.
TEST_P(VectorStoreConformance, PrecisionIsStoredAndAMismatchIsRefused) {
  auto int8 = Model();
  int8.precision = "int8";
  {
    VectorStore& s = Open();
    ASSERT_TRUE(s.BindModel(int8).ok());
    ASSERT_TRUE(Put(s, {Record(1, Axis(0))}).ok());
    ASSERT_TRUE(s.Flush().ok());
  }
  VectorStore& s = Open();
  ASSERT_TRUE(s.model().has_value());
  EXPECT_EQ(s.model()->precision, "int8");
  EXPECT_TRUE(s.BindModel(int8).ok());
  Status refused = s.BindModel(Model());  // fp32
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("precision int8"));
  EXPECT_THAT(refused.message(), HasSubstr("--precision int8"));
  EXPECT_THAT(refused.message(),
              HasSubstr("reembed --embed-model conformance/model --precision fp32"));
  EXPECT_EQ(*s.size(), 1u);
}

TEST_P(VectorStoreConformance, ReopenAfterFlushKeepsEverything) {
  {
    VectorStore& s = OpenBound();
    std::vector<VectorRecord> records;
    for (std::int64_t id = 1; id <= 40; ++id) {
      std::vector<float> v(kDim);
      for (std::size_t i = 0; i < kDim; ++i) v[i] = static_cast<float>(std::sin(id * (i + 1.0)));
      records.push_back(Record(id, v));
    }
    ASSERT_TRUE(Put(s, records).ok());
    ASSERT_TRUE(s.Remove(std::vector<std::int64_t>{7}).ok());
    ASSERT_TRUE(s.Flush().ok());
  }
  VectorStore& s = Open();
  EXPECT_EQ(s.damage(), "");
  ASSERT_TRUE(s.model().has_value());
  EXPECT_EQ(s.model()->query_prompt, "query: ");
  EXPECT_EQ(*s.size(), 39u);
  auto ids = *s.Ids();
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), 40);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 7), 0);
  std::vector<float> q(kDim);
  for (std::size_t i = 0; i < kDim; ++i) q[i] = static_cast<float>(std::sin(23 * (i + 1.0)));
  auto top = One(s, q, 1);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].chunk_id, 23);
  EXPECT_NEAR(top[0].score, 1.0, 1e-5);
}

TEST_P(VectorStoreConformance, AWriteNotFlushedIsNotVisibleAfterReopen) {
  if (!GetParam().durable_on_flush_only) GTEST_SKIP() << "writes are durable one by one";
  {
    VectorStore& s = OpenBound();
    ASSERT_TRUE(Put(s, {Record(1, Axis(0)), Record(2, Axis(1))}).ok());
    ASSERT_TRUE(s.Flush().ok());
    ASSERT_TRUE(Put(s, {Record(3, Axis(2))}).ok());
    ASSERT_TRUE(s.Remove(std::vector<std::int64_t>{1}).ok());
    // Dropped without Flush: as if the process died here.
  }
  VectorStore& s = Open();
  EXPECT_THAT(*s.Ids(), ElementsAre(1, 2));
}

TEST_P(VectorStoreConformance, ATornTemporaryFileIsIgnored) {
  if (!GetParam().leave_torn_write) GTEST_SKIP() << "no torn-write hook for this backend";
  {
    VectorStore& s = OpenBound();
    ASSERT_TRUE(Put(s, {Record(1, Axis(0)), Record(2, Axis(1))}).ok());
    ASSERT_TRUE(s.Flush().ok());
  }
  GetParam().leave_torn_write(location_);
  VectorStore& s = Open();
  EXPECT_EQ(s.damage(), "");
  EXPECT_THAT(*s.Ids(), ElementsAre(1, 2));
  EXPECT_THAT(IdsOf(One(s, Axis(1), 1)), ElementsAre(2));
  // And the next Flush still works.
  ASSERT_TRUE(s.BindModel(Model()).ok());
  ASSERT_TRUE(Put(s, {Record(3, Axis(2))}).ok());
  ASSERT_TRUE(s.Flush().ok());
  EXPECT_THAT(*Open().Ids(), ElementsAre(1, 2, 3));
}

TEST_P(VectorStoreConformance, CorruptDataIsReportedNotFatal) {
  if (!GetParam().corrupt) GTEST_SKIP() << "no corruption hook for this backend";
  {
    VectorStore& s = OpenBound();
    ASSERT_TRUE(Put(s, {Record(1, Axis(0)), Record(2, Axis(1))}).ok());
    ASSERT_TRUE(s.Flush().ok());
  }
  GetParam().corrupt(location_);
  VectorStore& s = Open();
  EXPECT_NE(s.damage(), "");
  EXPECT_THAT(*s.Ids(), IsEmpty());  // nothing untrustworthy is served
  auto lists = s.Search(Axis(0), 1, 5, {}, nullptr);
  ASSERT_TRUE(lists.ok());
  EXPECT_THAT((*lists)[0], IsEmpty());
  // Rebuilding and flushing clears the damage.
  ASSERT_TRUE(s.BindModel(Model()).ok());
  ASSERT_TRUE(Put(s, {Record(1, Axis(0))}).ok());
  ASSERT_TRUE(s.Flush().ok());
  EXPECT_EQ(s.damage(), "");
  VectorStore& reopened = Open();
  EXPECT_EQ(reopened.damage(), "");
  EXPECT_THAT(*reopened.Ids(), ElementsAre(1));
}

TEST_P(VectorStoreConformance, CancelledContextStopsTheSearch) {
  VectorStore& s = OpenBound();
  ASSERT_TRUE(Put(s, {Record(1, Axis(0))}).ok());
  std::stop_source stop;
  RequestContext ctx;
  ctx.set_stop_token(stop.get_token());
  EXPECT_TRUE(s.Search(Axis(0), 1, 1, {}, &ctx).ok());
  stop.request_stop();
  EXPECT_EQ(s.Search(Axis(0), 1, 1, {}, &ctx).status().code(), StatusCode::kCancelled);
}

TEST_P(VectorStoreConformance, ConcurrentSearchesAgree) {
  VectorStore& s = OpenBound();
  std::vector<VectorRecord> records;
  for (std::int64_t id = 1; id <= 64; ++id)
    records.push_back(Record(id, Mix(id % kDim, (id / 8) % kDim)));
  ASSERT_TRUE(Put(s, records).ok());
  const auto expected = IdsOf(One(s, Axis(3), 5));
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto lists = s.Search(Axis(3), 1, 5, {}, nullptr);
        if (!lists.ok() || IdsOf((*lists)[0]) != expected) ++wrong[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_THAT(wrong, ElementsAre(0, 0, 0, 0));
}

}  // namespace
}  // namespace sieve::store::conformance
