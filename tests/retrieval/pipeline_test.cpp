// Dense retrieval, metadata filters, hybrid fusion, reranking and the pipeline over a real
// SQLite store, with the keyword embedder and overlap cross-encoder of fake_models.h so every
// expected ranking can be worked out by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "fake_models.h"
#include "retrieval/dense_retriever.h"
#include "retrieval/hybrid_retriever.h"
#include "retrieval/lexical_retriever.h"
#include "retrieval/pipeline.h"
#include "retrieval/reranker.h"
#include "retrieval/vector_sync.h"
#include "store/document_store.h"
#include "store/faiss_vector_store.h"

namespace sieve::retrieval {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::KeywordEmbedder;
using testing::OverlapCrossEncoder;

struct Doc {
  std::string path;
  std::string type;
  std::vector<std::string> tags;
  std::string text;
  std::string title;
};

// The corpus the hand computations below refer to (one chunk per document):
//   A /docs/a.md   markdown [aero]       "wing wing flow"
//   B /docs/b.txt  text     [aero, heat] "heat flow"
//   C /other/c.md  markdown []           "wing shock"
//   D /other/d.pdf pdf      [heat]       "heat heat shock tunnel"
// Keyword vectors (axes wing, heat, shock, flow, ..., constant 0.01; "tunnel" is no keyword, so
// only the cross-encoder sees it); for the query "wing":
//   cos(A) = 2/sqrt(5) = 0.894, cos(C) = 1/sqrt(2) = 0.707, cos(B) ~ 7e-5, cos(D) ~ 4e-5.
const std::vector<Doc> kDocs = {
    {"/docs/a.md", "markdown", {"aero"}, "wing wing flow", ""},
    {"/docs/b.txt", "text", {"aero", "heat"}, "heat flow", ""},
    {"/other/c.md", "markdown", {}, "wing shock", ""},
    {"/other/d.pdf", "pdf", {"heat"}, "heat heat shock tunnel", ""},
};

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sieve_pipeline_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto store = store::DocumentStore::Open(dir_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    for (const Doc& doc : kDocs) Put(doc);
    auto vectors = OpenVectors();
    ASSERT_TRUE(vectors.ok()) << vectors.status().ToString();
    vectors_ = std::move(vectors).value();
    ASSERT_TRUE(vectors_->BindModel(embedder_.info()).ok());
    auto synced = SyncVectors(*store_, *vectors_, embedder_);
    ASSERT_TRUE(synced.ok()) << synced.status().ToString();
    for (const Doc& doc : kDocs) ids_[doc.path] = ChunkIdOf(doc.path);
  }
  Result<std::unique_ptr<store::VectorStore>> OpenVectors() {
    store::VectorStoreOptions options;
    options.resolve_filter = StoreFilterResolver(*store_);
    return store::OpenVectorStore(store::FaissUri(dir_), options);
  }
  void TearDown() override {
    vectors_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  void Put(const Doc& doc) {
    store::DocumentInput input;
    input.key = doc.path;
    input.source_path = doc.path;
    input.type = doc.type;
    input.title = doc.title;
    input.content_hash = doc.text;
    input.bytes = doc.text.size();
    input.chunking = "test";
    input.tags = doc.tags;
    text::Chunk chunk;
    chunk.begin = 0;
    chunk.end = doc.text.size();
    chunk.text = doc.text;
    input.chunks.push_back(chunk);
    auto tx = store_->BeginTransaction();
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(store_->PutDocument(input).ok());
    ASSERT_TRUE(tx->Commit().ok());
  }

  std::int64_t ChunkIdOf(const std::string& path) {
    store::ChunkFilter filter;
    filter.path_prefix = path;
    auto ids = store_->ListChunkIds(filter);
    EXPECT_TRUE(ids.ok());
    EXPECT_EQ(ids->size(), 1u) << path;
    return ids->empty() ? -1 : ids->front();
  }

  std::vector<std::string> Paths(const std::vector<Hit>& hits) {
    std::vector<std::string> paths;
    for (const auto& hit : hits) {
      for (const auto& [path, id] : ids_) {
        if (id == hit.chunk_id) paths.push_back(path);
      }
    }
    return paths;
  }
  std::vector<std::string> Paths(const std::vector<RankedChunk>& ranked) {
    std::vector<std::string> paths;
    for (const auto& r : ranked) paths.push_back(r.chunk.source_path);
    return paths;
  }

  Result<std::vector<Hit>> DenseSearch(const std::string& query, const Filter& filter = {},
                                       std::size_t k = 10) {
    DenseRetriever dense(*vectors_, embedder_);
    SearchRequest request;
    request.query = query;
    request.k = k;
    request.filter = filter;
    return dense.Search(request);
  }
  Result<std::vector<Hit>> LexicalSearch(const std::string& query, const Filter& filter = {}) {
    LexicalRetriever lexical(*store_);
    SearchRequest request;
    request.query = query;
    request.k = 10;
    request.filter = filter;
    return lexical.Search(request);
  }

  fs::path dir_;
  std::unique_ptr<store::DocumentStore> store_;
  std::unique_ptr<store::VectorStore> vectors_;
  KeywordEmbedder embedder_;
  OverlapCrossEncoder cross_encoder_;
  std::map<std::string, std::int64_t> ids_;
};

TEST_F(PipelineTest, DenseRanksByCosineWithTheQueryPrompt) {
  auto hits = DenseSearch("wing");
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  EXPECT_THAT(Paths(*hits),
              ElementsAre("/docs/a.md", "/other/c.md", "/docs/b.txt", "/other/d.pdf"));
  EXPECT_NEAR(*(*hits)[0].stages.cosine, 2 / std::sqrt(5.0), 1e-3);
  EXPECT_NEAR(*(*hits)[1].stages.cosine, 1 / std::sqrt(2.0), 1e-3);
  EXPECT_EQ((*hits)[0].stages.dense_rank, 1u);
  EXPECT_EQ((*hits)[3].stages.dense_rank, 4u);
  EXPECT_FALSE((*hits)[0].stages.bm25.has_value());
  // The query went through the embedder as a query (it applies the prompt), once.
  EXPECT_THAT(embedder_.queries, ElementsAre("wing"));
  EXPECT_EQ(DenseSearch("wing", {}, 2)->size(), 2u);
  EXPECT_EQ(DenseSearch("  ").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(PipelineTest, FiltersByPathPrefixTypeAndTagsInEveryMode) {
  Filter docs;
  docs.path_prefix = "/docs/";
  EXPECT_THAT(Paths(*DenseSearch("wing", docs)), ElementsAre("/docs/a.md", "/docs/b.txt"));
  EXPECT_THAT(Paths(*LexicalSearch("wing", docs)), ElementsAre("/docs/a.md"));

  Filter pdf;
  pdf.types = {"pdf"};
  EXPECT_THAT(Paths(*DenseSearch("wing", pdf)), ElementsAre("/other/d.pdf"));
  EXPECT_TRUE(LexicalSearch("wing", pdf)->empty());

  Filter aero;
  aero.tags = {"aero"};
  EXPECT_THAT(Paths(*DenseSearch("wing", aero)), ElementsAre("/docs/a.md", "/docs/b.txt"));
  Filter aero_and_heat;
  aero_and_heat.tags = {"heat", "aero"};  // all of them, in any order
  EXPECT_THAT(Paths(*DenseSearch("wing", aero_and_heat)), ElementsAre("/docs/b.txt"));
  EXPECT_THAT(Paths(*LexicalSearch("heat", aero_and_heat)), ElementsAre("/docs/b.txt"));

  Filter other_markdown;
  other_markdown.path_prefix = "/other/";
  other_markdown.types = {"markdown", "text"};
  EXPECT_THAT(Paths(*DenseSearch("wing", other_markdown)), ElementsAre("/other/c.md"));

  Filter nothing;
  nothing.tags = {"no-such-tag"};
  EXPECT_TRUE(DenseSearch("wing", nothing)->empty());

  // Hybrid under a filter: both lists filtered before fusion.
  LexicalRetriever lexical(*store_);
  DenseRetriever dense(*vectors_, embedder_);
  HybridRetriever hybrid(lexical, dense);
  SearchRequest request;
  request.query = "wing flow";
  request.k = 10;
  request.filter = aero;
  auto fused = hybrid.Search(request);
  ASSERT_TRUE(fused.ok());
  // A is first in both lists (2/61), B second in both (2/62).
  EXPECT_THAT(Paths(*fused), ElementsAre("/docs/a.md", "/docs/b.txt"));
  EXPECT_NEAR(*(*fused)[0].stages.fused, 2.0 / 61, 1e-12);
  EXPECT_NEAR(*(*fused)[1].stages.fused, 2.0 / 62, 1e-12);
}

TEST_F(PipelineTest, HybridFusesTheRealListsByRank) {
  LexicalRetriever lexical(*store_);
  DenseRetriever dense(*vectors_, embedder_);
  HybridRetriever hybrid(lexical, dense);
  SearchRequest request;
  request.query = "heat shock";
  request.k = 10;
  auto hits = hybrid.Search(request);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 4u);  // dense sees every chunk
  for (const Hit& hit : *hits) {
    double expected = 0;
    if (hit.stages.bm25_rank) expected += 1.0 / (60 + static_cast<double>(*hit.stages.bm25_rank));
    if (hit.stages.dense_rank) expected += 1.0 / (60 + static_cast<double>(*hit.stages.dense_rank));
    EXPECT_NEAR(*hit.stages.fused, expected, 1e-12);
    EXPECT_EQ(hit.stages.bm25.has_value(), hit.stages.bm25_rank.has_value());
  }
  // D holds both words (twice heat): first in both lists.
  EXPECT_EQ(Paths(*hits)[0], "/other/d.pdf");
  EXPECT_EQ((*hits)[0].stages.bm25_rank, 1u);
  EXPECT_EQ((*hits)[0].stages.dense_rank, 1u);
  // A matches neither word: dense only.
  const auto a = std::find_if(hits->begin(), hits->end(),
                              [&](const Hit& h) { return h.chunk_id == ids_["/docs/a.md"]; });
  ASSERT_NE(a, hits->end());
  EXPECT_FALSE(a->stages.bm25.has_value());
}

TEST_F(PipelineTest, RerankerReordersKeepsEarlierScoresAndCuts) {
  Reranker reranker(cross_encoder_);
  std::vector<Hit> candidates(3);
  candidates[0].chunk_id = 1;
  candidates[0].stages.bm25 = 3.0;
  candidates[1].chunk_id = 2;
  candidates[2].chunk_id = 3;
  // Query "heat shock": passage 1 has neither (0), 2 has both (1), 3 has one (0.5).
  auto reranked =
      reranker.Rerank("heat shock", candidates, {"wing flow", "heat shock here", "shock only"}, 2);
  ASSERT_TRUE(reranked.ok());
  ASSERT_EQ(reranked->size(), 2u);
  EXPECT_EQ((*reranked)[0].chunk_id, 2);
  EXPECT_DOUBLE_EQ(*(*reranked)[0].stages.rerank, 1.0);
  EXPECT_DOUBLE_EQ((*reranked)[0].score, 1.0);
  EXPECT_EQ((*reranked)[1].chunk_id, 3);
  EXPECT_DOUBLE_EQ(*(*reranked)[1].stages.rerank, 0.5);
  auto all = reranker.Rerank("heat shock", candidates, {"a", "b", "c"}, 0);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].chunk_id, 1);  // all tie at 0: input order kept
  EXPECT_DOUBLE_EQ(*(*all)[0].stages.bm25, 3.0);
  EXPECT_EQ(reranker.Rerank("q", candidates, {"a"}, 0).status().code(), StatusCode::kInternal);
}

TEST_F(PipelineTest, PipelineLexicalDenseHybridWithAndWithoutRerank) {
  PipelineOptions options;
  options.mode = Mode::kDense;
  options.rerank = false;
  options.top_n = 2;
  auto dense = Pipeline::Create(*store_, vectors_.get(), &embedder_, nullptr, options);
  ASSERT_TRUE(dense.ok()) << dense.status().ToString();
  auto results = (*dense)->Run("wing");
  ASSERT_TRUE(results.ok());
  EXPECT_THAT(Paths(*results), ElementsAre("/docs/a.md", "/other/c.md"));
  EXPECT_EQ((*results)[0].chunk.text, "wing wing flow");
  EXPECT_EQ((*results)[0].chunk.type, "markdown");
  EXPECT_EQ((*dense)->Describe(), "dense");

  // "shock tunnel": dense sees only "shock" and prefers the shorter C (0.707 vs 0.447 for D);
  // the cross-encoder sees both words in D (1.0) and one in C (0.5).
  options.rerank = true;
  auto reranked = Pipeline::Create(*store_, vectors_.get(), &embedder_, &cross_encoder_, options);
  ASSERT_TRUE(reranked.ok());
  EXPECT_THAT(Paths(*(*dense)->Run("shock tunnel")), ElementsAre("/other/c.md", "/other/d.pdf"));
  results = (*reranked)->Run("shock tunnel");
  ASSERT_TRUE(results.ok());
  EXPECT_THAT(Paths(*results), ElementsAre("/other/d.pdf", "/other/c.md"));
  EXPECT_DOUBLE_EQ(*(*results)[0].hit.stages.rerank, 1.0);
  EXPECT_DOUBLE_EQ(*(*results)[1].hit.stages.rerank, 0.5);
  EXPECT_NEAR(*(*results)[0].hit.stages.cosine, 1 / std::sqrt(5.0), 1e-3);
  EXPECT_EQ((*results)[0].hit.stages.dense_rank, 2u);
  EXPECT_EQ(cross_encoder_.scored, 4u);  // all k candidates were scored
  EXPECT_EQ((*reranked)->Describe(), "dense + rerank");

  // rerank_depth 1: only C is scored; the rest keep their retrieval order behind it.
  options.rerank_depth = 1;
  options.top_n = 4;
  auto shallow = Pipeline::Create(*store_, vectors_.get(), &embedder_, &cross_encoder_, options);
  results = (*shallow)->Run("shock tunnel");
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 4u);
  EXPECT_EQ(Paths(*results)[0], "/other/c.md");
  EXPECT_EQ(Paths(*results)[1], "/other/d.pdf");
  EXPECT_TRUE((*results)[0].hit.stages.rerank.has_value());
  EXPECT_FALSE((*results)[1].hit.stages.rerank.has_value());

  options = {};
  options.mode = Mode::kLexical;
  options.rerank = false;
  auto lexical = Pipeline::Create(*store_, nullptr, nullptr, nullptr, options);
  ASSERT_TRUE(lexical.ok());
  results = (*lexical)->Run("shock");
  ASSERT_TRUE(results.ok());
  EXPECT_THAT(Paths(*results), ::testing::UnorderedElementsAre("/other/c.md", "/other/d.pdf"));
  EXPECT_TRUE((*results)[0].hit.stages.bm25.has_value());

  options.mode = Mode::kHybrid;
  options.rerank = true;
  options.top_n = 3;
  Filter heat;
  heat.tags = {"heat"};
  auto hybrid = Pipeline::Create(*store_, vectors_.get(), &embedder_, &cross_encoder_, options);
  ASSERT_TRUE(hybrid.ok());
  results = (*hybrid)->Run("heat flow", heat);
  ASSERT_TRUE(results.ok());
  // B ("heat flow") has both words, D only heat.
  EXPECT_THAT(Paths(*results), ElementsAre("/docs/b.txt", "/other/d.pdf"));
  EXPECT_TRUE((*results)[0].hit.stages.fused.has_value());
  EXPECT_TRUE((*results)[0].hit.stages.bm25.has_value());
  EXPECT_TRUE((*results)[0].hit.stages.cosine.has_value());
  EXPECT_DOUBLE_EQ((*results)[0].hit.score, 1.0);
}

TEST_F(PipelineTest, PipelineRefusesMissingModels) {
  PipelineOptions options;
  options.mode = Mode::kHybrid;
  auto no_embedder = Pipeline::Create(*store_, vectors_.get(), nullptr, &cross_encoder_, options);
  EXPECT_EQ(no_embedder.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(no_embedder.status().message(), HasSubstr("hybrid"));
  options.mode = Mode::kLexical;
  auto no_reranker = Pipeline::Create(*store_, nullptr, nullptr, nullptr, options);
  EXPECT_THAT(no_reranker.status().message(), HasSubstr("cross-encoder"));
  options.rerank = false;
  options.k = 0;
  EXPECT_FALSE(Pipeline::Create(*store_, nullptr, nullptr, nullptr, options).ok());
  EXPECT_EQ(ParseMode("dense").value(), Mode::kDense);
  EXPECT_THAT(ParseMode("semantic").status().message(), HasSubstr("dense, lexical or hybrid"));
}

TEST_F(PipelineTest, SyncFollowsDeletesAndReingests) {
  EXPECT_EQ(*vectors_->size(), 4u);
  const std::int64_t old_b = ids_["/docs/b.txt"];
  auto tx = store_->BeginTransaction();
  ASSERT_TRUE(store_->DeleteDocument("/other/c.md").ok());
  ASSERT_TRUE(tx->Commit().ok());
  Put({"/docs/b.txt", "text", {"aero"}, "boundary layer flow", ""});  // changed: new chunk id
  // Reading a stale index is safe: the deleted chunk's vector is found, the pipeline drops it.
  auto staleness = CheckVectors(*store_, *vectors_);
  ASSERT_TRUE(staleness.ok());
  EXPECT_EQ(staleness->stale, 2u);
  EXPECT_EQ(staleness->missing, 1u);
  PipelineOptions lookup;
  lookup.mode = Mode::kDense;
  lookup.rerank = false;
  lookup.top_n = 10;
  auto stale_pipeline = Pipeline::Create(*store_, vectors_.get(), &embedder_, nullptr, lookup);
  ASSERT_TRUE(stale_pipeline.ok());
  auto stale_hits = (*stale_pipeline)->Run("boundary layer");
  ASSERT_TRUE(stale_hits.ok());
  for (const auto& r : *stale_hits) EXPECT_NE(r.hit.chunk_id, old_b);
  EXPECT_EQ(stale_hits->size(), 2u);  // a.txt and d.pdf; b's new chunk has no vector yet

  auto report = SyncVectors(*store_, *vectors_, embedder_);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->stale_removed, 2u);     // C, and B's old chunk
  EXPECT_EQ(report->missing_embedded, 1u);  // B's new chunk
  EXPECT_EQ(*vectors_->Ids(), *store_->ListChunkIds());
  EXPECT_TRUE(CheckVectors(*store_, *vectors_)->in_sync());
  auto hits = DenseSearch("boundary layer");
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ((*hits)[0].chunk_id, ChunkIdOf("/docs/b.txt"));
  // Reopened from disk, the saved vectors agree with the store.
  auto reopened = OpenVectors();
  EXPECT_EQ(*(*reopened)->Ids(), *store_->ListChunkIds());
}

TEST_F(PipelineTest, PassageTextAddsTheTitleOnce) {
  store::ChunkRecord chunk;
  chunk.text = "Lift of thin wings.";
  EXPECT_EQ(PassageText(chunk), "Lift of thin wings.");
  chunk.title = "Wings";
  EXPECT_EQ(PassageText(chunk), "Wings\nLift of thin wings.");
  chunk.title = "Lift of thin";
  EXPECT_EQ(PassageText(chunk), "Lift of thin wings.");
}

TEST_F(PipelineTest, EmbeddingIdentityNamesFoldersAbsolutelyAndHubIdsWithoutRevision) {
  models::ModelInfo loaded;
  loaded.id = "whatever";
  loaded.revision = "abc";
  EXPECT_EQ(EmbeddingIdentity("BAAI/bge-small-en-v1.5@main", loaded).id, "BAAI/bge-small-en-v1.5");
  EXPECT_EQ(EmbeddingIdentity("BAAI/bge-small-en-v1.5@main", loaded).revision, "abc");
  const auto folder = EmbeddingIdentity(dir_.string() + "/.", loaded);
  EXPECT_EQ(folder.id, fs::weakly_canonical(dir_).string());
}

}  // namespace
}  // namespace sieve::retrieval
