#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "retrieval/hybrid_retriever.h"

namespace sieve::retrieval {
namespace {

std::vector<Hit> LexicalList(const std::vector<std::int64_t>& ids) {
  std::vector<Hit> hits;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    Hit h;
    h.chunk_id = ids[i];
    h.score = 10.0 - static_cast<double>(i);
    h.stages.bm25 = h.score;
    h.stages.bm25_rank = i + 1;
    hits.push_back(h);
  }
  return hits;
}

std::vector<Hit> DenseList(const std::vector<std::int64_t>& ids) {
  std::vector<Hit> hits;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    Hit h;
    h.chunk_id = ids[i];
    h.score = 0.9 - 0.1 * static_cast<double>(i);
    h.stages.cosine = h.score;
    h.stages.dense_rank = i + 1;
    hits.push_back(h);
  }
  return hits;
}

std::vector<std::int64_t> Ids(const std::vector<Hit>& hits) {
  std::vector<std::int64_t> ids;
  for (const auto& h : hits) ids.push_back(h.chunk_id);
  return ids;
}

TEST(ReciprocalRankFusion, HandComputedWithK60) {
  // lexical 1,2,3 and dense 2,4,1:
  //   1: 1/61 + 1/63 = 0.0322664   2: 1/62 + 1/61 = 0.0325225
  //   3: 1/63        = 0.0158730   4: 1/62        = 0.0161290
  auto fused = FuseReciprocalRank({LexicalList({1, 2, 3}), DenseList({2, 4, 1})}, 60, 10);
  ASSERT_EQ(Ids(fused), (std::vector<std::int64_t>{2, 1, 4, 3}));
  EXPECT_NEAR(*fused[0].stages.fused, 1.0 / 62 + 1.0 / 61, 1e-12);
  EXPECT_NEAR(fused[0].score, 1.0 / 62 + 1.0 / 61, 1e-12);
  EXPECT_NEAR(*fused[1].stages.fused, 1.0 / 61 + 1.0 / 63, 1e-12);
  EXPECT_NEAR(*fused[2].stages.fused, 1.0 / 62, 1e-12);
  EXPECT_NEAR(*fused[3].stages.fused, 1.0 / 63, 1e-12);
}

TEST(ReciprocalRankFusion, KeepsEveryStagesScores) {
  auto fused = FuseReciprocalRank({LexicalList({1, 2, 3}), DenseList({2, 4, 1})}, 60, 10);
  const Hit& two = fused[0];  // bm25 rank 2, dense rank 1
  EXPECT_EQ(two.stages.bm25_rank, 2u);
  EXPECT_DOUBLE_EQ(*two.stages.bm25, 9.0);
  EXPECT_EQ(two.stages.dense_rank, 1u);
  EXPECT_DOUBLE_EQ(*two.stages.cosine, 0.9);
  const Hit& four = fused[2];  // dense only
  EXPECT_FALSE(four.stages.bm25.has_value());
  EXPECT_FALSE(four.stages.bm25_rank.has_value());
  EXPECT_EQ(four.stages.dense_rank, 2u);
  const Hit& three = fused[3];  // lexical only
  EXPECT_EQ(three.stages.bm25_rank, 3u);
  EXPECT_FALSE(three.stages.cosine.has_value());
}

TEST(ReciprocalRankFusion, TheConstantDecidesBetweenOneTopRankAndTwoMiddleRanks) {
  // 7 is first in one list only; 8 is third in both.
  //   k = 60:  7 -> 1/61 = 0.0164,  8 -> 2/63 = 0.0317: agreement wins.
  //   k = 0.5: 7 -> 1/1.5 = 0.667, 8 -> 2/3.5 = 0.571: the single top rank wins.
  const auto lexical = LexicalList({7, 1, 8});
  const auto dense = DenseList({2, 3, 8});
  auto position = [](const std::vector<Hit>& hits, std::int64_t id) {
    return std::find_if(hits.begin(), hits.end(), [&](const Hit& h) { return h.chunk_id == id; }) -
           hits.begin();
  };
  const auto k60 = FuseReciprocalRank({lexical, dense}, 60, 10);
  EXPECT_EQ(k60[0].chunk_id, 8);
  EXPECT_LT(position(k60, 8), position(k60, 7));
  const auto k05 = FuseReciprocalRank({lexical, dense}, 0.5, 10);
  EXPECT_LT(position(k05, 7), position(k05, 8));
  EXPECT_NEAR(*k05[static_cast<std::size_t>(position(k05, 8))].stages.fused, 2 / 3.5, 1e-12);
}

TEST(ReciprocalRankFusion, TiesGoToTheBetterRankThenTheLowerId) {
  // 9 and 7 are both first in one list: equal sums and ranks, so the lower id leads.
  auto fused = FuseReciprocalRank({LexicalList({9}), DenseList({7})}, 60, 10);
  EXPECT_EQ(Ids(fused), (std::vector<std::int64_t>{7, 9}));
}

TEST(ReciprocalRankFusion, CutsAtKAndHandlesEmptyLists) {
  EXPECT_EQ(Ids(FuseReciprocalRank({LexicalList({1, 2, 3}), DenseList({2, 4, 1})}, 60, 2)),
            (std::vector<std::int64_t>{2, 1}));
  EXPECT_TRUE(FuseReciprocalRank({{}, {}}, 60, 10).empty());
  EXPECT_EQ(Ids(FuseReciprocalRank({{}, DenseList({5, 6})}, 60, 10)),
            (std::vector<std::int64_t>{5, 6}));
}

// A retriever that returns a fixed list and records what it was asked.
class FixedRetriever : public Retriever {
 public:
  explicit FixedRetriever(std::vector<Hit> hits) : hits_(std::move(hits)) {}
  Result<std::vector<Hit>> Search(const SearchRequest& request) override {
    last_k = request.k;
    std::vector<Hit> out = hits_;
    if (out.size() > request.k) out.resize(request.k);
    return out;
  }
  std::string name() const override { return "fixed"; }
  std::size_t last_k = 0;

 private:
  std::vector<Hit> hits_;
};

TEST(HybridRetriever, FetchesBothListsDeeperThanKAndFuses) {
  FixedRetriever lexical(LexicalList({1, 2, 3}));
  FixedRetriever dense(DenseList({2, 4, 1}));
  HybridRetriever hybrid(lexical, dense, HybridOptions{60, 50});
  SearchRequest request;
  request.query = "q";
  request.k = 3;
  auto hits = hybrid.Search(request);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(lexical.last_k, 50u);
  EXPECT_EQ(dense.last_k, 50u);
  EXPECT_EQ(Ids(*hits), (std::vector<std::int64_t>{2, 1, 4}));
  EXPECT_EQ(hybrid.name(), "hybrid");
}

}  // namespace
}  // namespace sieve::retrieval
