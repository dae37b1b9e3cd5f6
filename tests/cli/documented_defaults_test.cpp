// docs/configuration.md's example file lists every default; each must be the default of the
// stage that owns the setting (its options struct), so the documentation cannot drift.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <filesystem>
#include <string>

#include "config/config.h"
#include "core/file.h"
#include "generation/answer.h"
#include "generation/options.h"
#include "retrieval/model_loading.h"
#include "retrieval/pipeline.h"
#include "store/ingest.h"
#include "store/vector_store.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;

// The first ```toml block of docs/configuration.md, with its commented lines as they are.
toml::table DocumentedDefaults() {
  Result<std::string> docs = ReadFile(fs::path(SIEVE_SOURCE_DIR) / "docs" / "configuration.md");
  EXPECT_TRUE(docs.ok()) << docs.status().ToString();
  const std::string& text = *docs;
  const std::size_t begin = text.find("```toml\n");
  const std::size_t end = text.find("```", begin + 8);
  EXPECT_NE(begin, std::string::npos);
  return toml::parse(text.substr(begin + 8, end - begin - 8));
}

TEST(DocumentedDefaultsTest, EveryDocumentedDefaultIsTheStagesDefault) {
  const toml::table docs = DocumentedDefaults();
  auto integer = [&docs](const char* section, const char* key) {
    const auto value = docs[section][key].value<long long>();
    EXPECT_TRUE(value.has_value()) << section << "." << key;
    return value.value_or(-1);
  };
  auto number = [&docs](const char* section, const char* key) {
    const auto value = docs[section][key].value<double>();
    EXPECT_TRUE(value.has_value()) << section << "." << key;
    return value.value_or(-1);
  };
  auto text = [&docs](const char* section, const char* key) {
    return docs[section][key].value<std::string>().value_or("<missing>");
  };

  EXPECT_EQ(text("index", "dir"), config::kDefaultIndexDir);
  const store::FaissIndexOptions vectors;
  EXPECT_EQ(integer("index", "hnsw_m"), vectors.hnsw_m);
  EXPECT_EQ(integer("index", "hnsw_ef_construction"), vectors.hnsw_ef_construction);
  EXPECT_EQ(integer("index", "hnsw_ef_search"), vectors.hnsw_ef_search);
  EXPECT_EQ(integer("index", "exact_search_below"),
            static_cast<long long>(config::kDefaultExactSearchBelow));

  const store::QdrantOptions qdrant;
  EXPECT_EQ(text("qdrant", "api_key_env"), store::kDefaultQdrantApiKeyEnv);
  EXPECT_EQ(number("qdrant", "timeout"), qdrant.timeout_s);
  EXPECT_EQ(integer("qdrant", "retries"), qdrant.retries);
  EXPECT_EQ(integer("qdrant", "batch_size"), static_cast<long long>(qdrant.batch_size));

  EXPECT_EQ(text("models", "embed"), retrieval::kDefaultEmbedModel);
  EXPECT_EQ(text("models", "rerank"), retrieval::kDefaultRerankModel);

  const retrieval::PipelineOptions pipeline;
  EXPECT_EQ(text("retrieval", "mode"), retrieval::ModeName(pipeline.mode));
  EXPECT_EQ(integer("retrieval", "k"), static_cast<long long>(pipeline.k));
  EXPECT_EQ(integer("retrieval", "top_n"), static_cast<long long>(pipeline.top_n));
  EXPECT_EQ(number("retrieval", "rrf_k"), pipeline.rrf_k);
  EXPECT_EQ(docs["retrieval"]["rerank"].value<bool>(), pipeline.rerank);

  const store::IngestOptions ingest;
  EXPECT_EQ(integer("chunk", "max_tokens"), static_cast<long long>(ingest.chunking.max_tokens));
  EXPECT_EQ(integer("chunk", "overlap_tokens"),
            static_cast<long long>(ingest.chunking.overlap_tokens));
  EXPECT_EQ(number("ingest", "max_file_mb") * 1024 * 1024,
            static_cast<double>(ingest.max_file_bytes));

  const generation::GenerationOptions answer;
  EXPECT_EQ(text("llm", "api_key_env"), generation::kDefaultApiKeyEnv);
  EXPECT_EQ(number("llm", "timeout") * 1000, static_cast<double>(answer.llm.timeout.count()));
  EXPECT_EQ(number("llm", "connect_timeout") * 1000,
            static_cast<double>(answer.llm.connect_timeout.count()));
  EXPECT_EQ(integer("llm", "retries"), answer.llm.max_retries);
  EXPECT_EQ(integer("llm", "max_tokens"), answer.llm.max_tokens);
  EXPECT_DOUBLE_EQ(number("llm", "temperature"), answer.llm.temperature);
  EXPECT_EQ(docs["llm"]["stream"].value<bool>(), answer.llm.stream);
  EXPECT_EQ(integer("generation", "context_tokens"),
            static_cast<long long>(answer.context_token_budget));
  EXPECT_EQ(integer("generation", "extractive_sentences"),
            static_cast<long long>(answer.extractive_sentences));
}

}  // namespace
}  // namespace sieve
