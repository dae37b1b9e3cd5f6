// Loading model folders: bad inputs get specific errors; documented behaviours hold.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/encoder.h"
#include "models/model_config.h"
#include "models/transformer.h"
#include "nn/arena.h"

namespace sieve::models {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path Fixture(const std::string& name) {
  return fs::path(SIEVE_SOURCE_DIR) / "tests/data/models" / name;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

void ReplaceInFile(const fs::path& path, const std::string& from, const std::string& to) {
  std::string text = ReadText(path);
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  WriteText(path, text);
}

class ModelLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("sieve_model_load_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  // A private copy of a fixture to damage.
  fs::path Copy(const std::string& name) {
    const fs::path to = root_ / name;
    fs::copy(Fixture(name), to, fs::copy_options::recursive);
    return to;
  }
  fs::path root_;
};

TEST_F(ModelLoadTest, MissingFolderAndFiles) {
  auto no_dir = LoadEmbedder(root_ / "nowhere");
  EXPECT_EQ(no_dir.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(no_dir.status().message(), HasSubstr("nowhere"));

  const fs::path no_config = Copy("tiny-bge");
  fs::remove(no_config / "config.json");
  auto missing_config = LoadEmbedder(no_config);
  EXPECT_EQ(missing_config.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing_config.status().message(), HasSubstr("config.json"));

  const fs::path no_weights = Copy("tiny-minilm");
  fs::remove(no_weights / "model.safetensors");
  auto missing_weights = LoadEmbedder(no_weights);
  EXPECT_EQ(missing_weights.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing_weights.status().message(), HasSubstr("model.safetensors"));
}

TEST_F(ModelLoadTest, PytorchBinOnlySaysHowToConvert) {
  const fs::path dir = Copy("tiny-bge");
  fs::rename(dir / "model.safetensors", dir / "pytorch_model.bin");
  auto result = LoadEmbedder(dir);
  EXPECT_EQ(result.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(result.status().message(), HasSubstr("pytorch_model.bin"));
  EXPECT_THAT(result.status().message(), HasSubstr("from safetensors.torch import save_file"));
}

TEST_F(ModelLoadTest, MalformedConfig) {
  const fs::path dir = Copy("tiny-bge");
  WriteText(dir / "config.json", "{\"architectures\": [\"BertModel\"], ");
  auto truncated = LoadEmbedder(dir);
  EXPECT_EQ(truncated.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(truncated.status().message(), HasSubstr("config.json: not valid JSON"));

  auto parse = [](const std::string& text) { return ParseTransformerConfig(text, "c.json"); };
  const std::string base =
      R"("architectures":["BertModel"],"vocab_size":10,"hidden_size":8,"num_hidden_layers":1,)"
      R"("intermediate_size":16,"max_position_embeddings":16)";
  EXPECT_TRUE(parse("{" + base + R"(,"num_attention_heads":2})").ok());
  EXPECT_THAT(parse("{" + base + R"(,"num_attention_heads":3})").status().message(),
              HasSubstr("not a multiple"));
  EXPECT_THAT(parse("{" + base + "}").status().message(), HasSubstr("'num_attention_heads'"));
  EXPECT_THAT(parse("{" + base + R"(,"num_attention_heads":"two"})").status().message(),
              HasSubstr("positive integer"));
  EXPECT_THAT(
      parse("{" + base + R"(,"num_attention_heads":2,"hidden_act":"swish"})").status().message(),
      HasSubstr("hidden_act 'swish'"));
  // A field of the wrong JSON type is an error, not an exception.
  EXPECT_EQ(parse("{" + base + R"(,"num_attention_heads":2,"hidden_act":7})").status().code(),
            StatusCode::kInvalidInput);
  EXPECT_THAT(parse("[]").status().message(), HasSubstr("not a JSON object"));
}

TEST_F(ModelLoadTest, UnsupportedArchitectureIsNamed) {
  const fs::path dir = Copy("tiny-bge");
  ReplaceInFile(dir / "config.json", "\"BertModel\"", "\"GPT2LMHeadModel\"");
  auto result = LoadEmbedder(dir);
  EXPECT_EQ(result.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(result.status().message(), HasSubstr("unsupported architecture 'GPT2LMHeadModel'"));
}

TEST_F(ModelLoadTest, WeightShapesAreCheckedAgainstConfig) {
  const fs::path dir = Copy("tiny-bge");
  ReplaceInFile(dir / "config.json", "\"intermediate_size\": 64", "\"intermediate_size\": 48");
  auto result = LoadEmbedder(dir);
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(result.status().message(), HasSubstr("intermediate.dense.weight"));
  EXPECT_THAT(result.status().message(),
              HasSubstr("shape [64, 32] but the config implies [48, 32]"));
}

TEST_F(ModelLoadTest, TruncatedWeightsAreRefused) {
  const fs::path dir = Copy("tiny-ms-marco");
  const std::string bytes = ReadText(dir / "model.safetensors");
  WriteText(dir / "model.safetensors", bytes.substr(0, bytes.size() - 100));
  auto result = LoadCrossEncoder(dir);
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(result.status().message(), HasSubstr("model.safetensors"));
}

TEST_F(ModelLoadTest, WrongKindOfModelIsRefused) {
  auto embed_reranker = LoadEmbedder(Fixture("tiny-ms-marco"));
  EXPECT_EQ(embed_reranker.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(embed_reranker.status().message(), HasSubstr("cross-encoder"));
  auto rerank_embedder = LoadCrossEncoder(Fixture("tiny-bge"));
  EXPECT_EQ(rerank_embedder.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(rerank_embedder.status().message(), HasSubstr("no classification head"));
}

TEST_F(ModelLoadTest, MaxLengthBeyondPositionsIsRefused) {
  LoadModelOptions options;
  options.max_length = 1000;
  auto result = LoadEmbedder(Fixture("tiny-bge"), options);
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("64 positions"));
}

TEST(ModelInfoTest, ReflectsSentenceTransformersMetadata) {
  auto bge = LoadEmbedder(Fixture("tiny-bge"));
  ASSERT_TRUE(bge.ok()) << bge.status().ToString();
  const ModelInfo& info = (*bge)->info();
  EXPECT_EQ(info.architecture, "BertModel");
  EXPECT_EQ(info.dimension, 32u);
  EXPECT_EQ(info.pooling, "cls");
  EXPECT_TRUE(info.normalize);
  EXPECT_EQ(info.query_prompt, "Represent this sentence for searching relevant passages: ");
  EXPECT_EQ(info.max_seq_length, 64u);
  auto minilm = LoadEmbedder(Fixture("tiny-minilm"));
  ASSERT_TRUE(minilm.ok()) << minilm.status().ToString();
  EXPECT_EQ((*minilm)->info().pooling, "mean");
  EXPECT_EQ((*minilm)->info().query_prompt, "");
}

TEST_F(ModelLoadTest, WithoutSentenceTransformersFilesDefaultsToMeanAndNormalize) {
  const fs::path dir = Copy("tiny-bge");
  for (const char* name :
       {"modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"}) {
    fs::remove(dir / name);
  }
  fs::remove_all(dir / "1_Pooling");
  auto embedder = LoadEmbedder(dir);
  ASSERT_TRUE(embedder.ok()) << embedder.status().ToString();
  EXPECT_EQ((*embedder)->info().pooling, "mean");
  EXPECT_TRUE((*embedder)->info().normalize);
  EXPECT_EQ((*embedder)->info().query_prompt, "");
}

TEST_F(ModelLoadTest, HubCacheSnapshotIsNamedByIdAndRevision) {
  const fs::path snapshot = root_ / "models--BAAI--bge-tiny" / "snapshots" / "0123abcd";
  fs::create_directories(snapshot.parent_path());
  fs::copy(Fixture("tiny-bge"), snapshot, fs::copy_options::recursive);
  auto embedder = LoadEmbedder(snapshot);
  ASSERT_TRUE(embedder.ok()) << embedder.status().ToString();
  EXPECT_EQ((*embedder)->info().id, "BAAI/bge-tiny");
  EXPECT_EQ((*embedder)->info().revision, "0123abcd");
  auto plain = LoadEmbedder(Fixture("tiny-bge"));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->info().id, Fixture("tiny-bge").string());
  EXPECT_EQ((*plain)->info().revision, "");
}

float Dot(const std::vector<float>& a, const std::vector<float>& b) {
  float sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

TEST(EmbedderTest, EmptyStringAndBatchOrderIndependence) {
  LoadModelOptions options;
  options.batch_size = 2;
  auto embedder = LoadEmbedder(Fixture("tiny-xlmr"), options);
  ASSERT_TRUE(embedder.ok()) << embedder.status().ToString();
  const std::vector<std::string> texts = {"a rather longer text about supersonic flow over wings",
                                          "", "short", "medium length text here"};
  auto together = (*embedder)->Embed(texts, false);
  ASSERT_TRUE(together.ok()) << together.status().ToString();
  ASSERT_EQ(together->size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto alone = (*embedder)->Embed({texts[i]}, false);
    ASSERT_TRUE(alone.ok());
    ASSERT_EQ((*alone)[0].size(), 32u);
    EXPECT_NEAR(Dot((*alone)[0], (*together)[i]), 1.0f, 1e-5) << "text " << i;
  }
  EXPECT_NEAR(Dot((*together)[1], (*together)[1]), 1.0f, 1e-5);  // "" is a unit vector too
  EXPECT_LT(Dot((*together)[1], (*together)[0]), 0.99999f);      // and not a copy of another
  auto none = (*embedder)->Embed({}, false);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(EmbedderTest, QueryPromptChangesTheVector) {
  auto embedder = LoadEmbedder(Fixture("tiny-bge"));
  ASSERT_TRUE(embedder.ok());
  auto query = (*embedder)->Embed({"lift of a wing"}, true);
  auto passage = (*embedder)->Embed({"lift of a wing"}, false);
  ASSERT_TRUE(query.ok() && passage.ok());
  EXPECT_LT(Dot((*query)[0], (*passage)[0]), 0.9999f);
}

TEST(EmbedderTest, LongInputIsTruncatedAndReportedWhenVerbose) {
  LoadModelOptions options;
  options.max_length = 8;
  options.verbose = true;
  std::string notes;
  options.logger = Logger([&notes](LogLevel level, std::string_view message) {
    notes += std::string(LogLevelName(level)) + ": " + std::string(message) + "\n";
  });
  auto embedder = LoadEmbedder(Fixture("tiny-bge"), options);
  ASSERT_TRUE(embedder.ok());
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "boundary layer ";
  ::testing::internal::CaptureStderr();
  auto vectors = (*embedder)->Embed({long_text, "short"}, false);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(vectors.ok()) << vectors.status().ToString();
  EXPECT_THAT(notes, HasSubstr("note: 1 of 2 inputs truncated to 8 tokens"));
  EXPECT_EQ(err, "");  // the library never writes to stderr
  // Without verbose the logger hears nothing.
  notes.clear();
  options.verbose = false;
  auto quiet = LoadEmbedder(Fixture("tiny-bge"), options);
  ASSERT_TRUE(quiet.ok());
  ASSERT_TRUE((*quiet)->Embed({long_text}, false).ok());
  EXPECT_EQ(notes, "");
  // Everything after the first 6 word pieces is dropped.
  auto prefix = (*embedder)->Embed({"boundary layer boundary layer boundary layer"}, false);
  ASSERT_TRUE(prefix.ok());
  EXPECT_GT((*embedder)->CountTokens(long_text), 100u);
  EXPECT_NEAR(Dot((*vectors)[0], (*prefix)[0]), 1.0f, 1e-5);
}

TEST(CrossEncoderTest, ScoresAreProbabilitiesInInputOrder) {
  LoadModelOptions options;
  options.batch_size = 2;
  for (const char* name : {"tiny-ms-marco", "tiny-ms-marco-2label", "tiny-xlmr-reranker"}) {
    auto cross = LoadCrossEncoder(Fixture(name), options);
    ASSERT_TRUE(cross.ok()) << cross.status().ToString();
    const std::vector<std::string> passages = {"the lift of a wing", "", "heat transfer",
                                               "a much longer passage about slipstream effects"};
    auto scores = (*cross)->Score("lift of a wing", passages);
    ASSERT_TRUE(scores.ok()) << scores.status().ToString();
    ASSERT_EQ(scores->size(), passages.size());
    for (std::size_t i = 0; i < passages.size(); ++i) {
      EXPECT_GE((*scores)[i].score, 0.0f);
      EXPECT_LE((*scores)[i].score, 1.0f);
      auto alone = (*cross)->Score("lift of a wing", {passages[i]});
      ASSERT_TRUE(alone.ok());
      EXPECT_NEAR((*alone)[0].logit, (*scores)[i].logit, 1e-5) << name << " passage " << i;
    }
  }
}

TEST(ScoreFromLogitsTest, SigmoidForOneLabelSoftmaxOfLastLabelForSeveral) {
  const float one[] = {0.0f};
  EXPECT_FLOAT_EQ(ScoreFromLogits(one, 1).score, 0.5f);
  const float two[] = {1.0f, 3.0f};
  const CrossEncoderScore score = ScoreFromLogits(two, 2);
  EXPECT_NEAR(score.score, 1.0 / (1.0 + std::exp(-2.0)), 1e-6);
  EXPECT_FLOAT_EQ(score.logit, 3.0f);
}

TEST(TransformerModelTest, OutOfRangeIdsAreRefused) {
  auto model = TransformerModel::Load(Fixture("tiny-bge"));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  nn::Arena arena;
  TokenBatch batch{1, 2, {2, 5000}, {0, 0}, {1, 1}};
  auto result = model->Encode(batch, arena);
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("token id 5000"));
  TokenBatch bad_type{1, 2, {2, 3}, {0, 7}, {1, 1}};
  EXPECT_THAT(model->Encode(bad_type, arena).status().message(), HasSubstr("token type id 7"));
  TokenBatch too_long{1, 65, std::vector<std::int32_t>(65, 2), std::vector<std::int32_t>(65, 0),
                      std::vector<std::int32_t>(65, 1)};
  EXPECT_THAT(model->Encode(too_long, arena).status().message(), HasSubstr("64 positions"));
}

TEST(TransformerModelTest, ArenaIsReusedAcrossCalls) {
  auto model = TransformerModel::Load(Fixture("tiny-bge"));
  ASSERT_TRUE(model.ok());
  nn::Arena arena;
  TokenBatch batch{
      2, 4, {2, 10, 11, 3, 2, 12, 3, 0}, std::vector<std::int32_t>(8, 0), {1, 1, 1, 1, 1, 1, 1, 0}};
  ASSERT_TRUE(model->Encode(batch, arena).ok());
  arena.Reset();
  const std::size_t capacity = arena.capacity();
  auto first = model->Encode(batch, arena);
  arena.Reset();
  auto second = model->Encode(batch, arena);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(arena.capacity(), capacity);
}

// Padding costs no activations: a batch of one long sequence and seven single-token ones needs
// far less arena than the same batch with every token real, and its real rows are what each
// sequence gives when encoded alone.
TEST(TransformerModelTest, PaddingIsLeftOutOfTheForwardPass) {
  auto model = TransformerModel::Load(Fixture("tiny-bge"));
  ASSERT_TRUE(model.ok());
  const std::size_t batch_size = 64, seq = 64, hidden = model->config().hidden_size;
  TokenBatch full{batch_size,
                  seq,
                  {},
                  std::vector<std::int32_t>(batch_size * seq, 0),
                  std::vector<std::int32_t>(batch_size * seq, 1)};
  for (std::size_t i = 0; i < batch_size * seq; ++i) {
    full.input_ids.push_back(static_cast<std::int32_t>(5 + (i * 37) % 900));
  }
  TokenBatch sparse = full;
  for (std::size_t b = 1; b < batch_size; ++b) {
    for (std::size_t t = 1; t < seq; ++t) sparse.attention_mask[b * seq + t] = 0;
  }
  nn::Arena full_arena, sparse_arena;
  ASSERT_TRUE(model->Encode(full, full_arena).ok());
  auto states = model->Encode(sparse, sparse_arena);
  ASSERT_TRUE(states.ok());
  // Capacities before any Reset(): a Reset() may merge blocks and free what `states` points into.
  EXPECT_LT(sparse_arena.capacity() * 2, full_arena.capacity());
  for (std::size_t b = 0; b < batch_size; ++b) {
    const std::size_t len = b == 0 ? seq : 1;
    TokenBatch alone{1, len,
                     std::vector<std::int32_t>(full.input_ids.begin() + b * seq,
                                               full.input_ids.begin() + b * seq + len),
                     std::vector<std::int32_t>(len, 0), std::vector<std::int32_t>(len, 1)};
    nn::Arena arena;
    auto expected = model->Encode(alone, arena);
    ASSERT_TRUE(expected.ok());
    for (std::size_t i = 0; i < len * hidden; ++i) {
      ASSERT_NEAR((*states)[b * seq * hidden + i], (*expected)[i], 1e-5) << "sequence " << b;
    }
    for (std::size_t i = len * hidden; i < seq * hidden; ++i) {
      ASSERT_EQ((*states)[b * seq * hidden + i], 0.0f) << "sequence " << b;
    }
  }
}

// A batch of more tokens than the feed-forward block takes at once (Encode runs it in row blocks)
// gives every sequence the rows it gets alone.
TEST(TransformerModelTest, LargeBatchRowsMatchEachSequenceAlone) {
  auto model = TransformerModel::Load(Fixture("tiny-bge"));
  ASSERT_TRUE(model.ok());
  const std::size_t batch_size = 64, seq = 60, hidden = model->config().hidden_size;
  TokenBatch batch{batch_size,
                   seq,
                   {},
                   std::vector<std::int32_t>(batch_size * seq, 0),
                   std::vector<std::int32_t>(batch_size * seq, 1)};
  for (std::size_t i = 0; i < batch_size * seq; ++i) {
    batch.input_ids.push_back(static_cast<std::int32_t>(5 + (i * 53) % 900));
  }
  nn::Arena arena;
  auto states = model->Encode(batch, arena);
  ASSERT_TRUE(states.ok());
  for (const std::size_t b : {0u, 17u, 40u, 63u}) {
    TokenBatch alone{1, seq,
                     std::vector<std::int32_t>(batch.input_ids.begin() + b * seq,
                                               batch.input_ids.begin() + (b + 1) * seq),
                     std::vector<std::int32_t>(seq, 0), std::vector<std::int32_t>(seq, 1)};
    nn::Arena alone_arena;
    auto expected = model->Encode(alone, alone_arena);
    ASSERT_TRUE(expected.ok());
    for (std::size_t i = 0; i < seq * hidden; ++i) {
      ASSERT_NEAR((*states)[b * seq * hidden + i], (*expected)[i], 1e-5) << "sequence " << b;
    }
  }
}

// Output::kFirstTokens runs the last layer for position 0 only; its rows are kAllRows' rows at
// position 0 (bit for bit with the packed GEMM: every row is computed alone), zero where
// position 0 is padding, and the heads give the same logits from them.
TEST(TransformerModelTest, FirstTokensEqualPositionZeroOfAllRows) {
  for (const char* fixture : {"tiny-bge", "tiny-ms-marco", "tiny-ms-marco-2label"}) {
    auto model = TransformerModel::Load(Fixture(fixture));
    ASSERT_TRUE(model.ok()) << fixture;
    const std::size_t batch_size = 6, seq = 20, hidden = model->config().hidden_size;
    TokenBatch batch{batch_size,
                     seq,
                     {},
                     std::vector<std::int32_t>(batch_size * seq, 0),
                     std::vector<std::int32_t>(batch_size * seq, 0)};
    for (std::size_t i = 0; i < batch_size * seq; ++i) {
      batch.input_ids.push_back(static_cast<std::int32_t>(5 + (i * 31) % 500));
    }
    // Lengths 20, 13, 1, 7, then a sequence with position 0 padded and one of padding only.
    const std::size_t lengths[] = {20, 13, 1, 7, 9, 0};
    for (std::size_t b = 0; b < batch_size; ++b) {
      for (std::size_t t = 0; t < lengths[b]; ++t) batch.attention_mask[b * seq + t] = 1;
    }
    batch.attention_mask[4 * seq] = 0;
    nn::Arena all_arena, first_arena;
    nn::ThreadPool pool(2);
    auto all = model->Encode(batch, all_arena, &pool);
    ASSERT_TRUE(all.ok());
    auto first = model->Encode(batch, first_arena, &pool, TransformerModel::Output::kFirstTokens);
    ASSERT_TRUE(first.ok());
    for (std::size_t b = 0; b < batch_size; ++b) {
      for (std::size_t i = 0; i < hidden; ++i) {
        ASSERT_NEAR((*first)[b * hidden + i], (*all)[b * seq * hidden + i], 1e-6)
            << fixture << " sequence " << b;
        if (b >= 4) {
          ASSERT_EQ((*first)[b * hidden + i], 0.0f) << fixture << " sequence " << b;
        }
      }
    }
    if (model->config().num_labels > 0 &&
        model->config().architecture != Architecture::kBertModel) {
      const auto expected = model->Classify(*all, batch, all_arena, &pool);
      const auto logits = model->ClassifyFirstTokens(*first, batch_size, first_arena, &pool);
      ASSERT_EQ(logits.size(), expected.size());
      for (std::size_t i = 0; i < logits.size(); ++i) {
        EXPECT_NEAR(logits[i], expected[i], 1e-6) << fixture;
      }
    }
  }
}

TEST(TransformerModelTest, AllPaddingBatchGivesZeroRows) {
  auto model = TransformerModel::Load(Fixture("tiny-ms-marco"));
  ASSERT_TRUE(model.ok());
  nn::Arena arena;
  TokenBatch batch{
      2, 3, {2, 10, 0, 2, 11, 0}, std::vector<std::int32_t>(6, 0), std::vector<std::int32_t>(6, 0)};
  auto states = model->Encode(batch, arena);
  ASSERT_TRUE(states.ok());
  for (std::size_t i = 0; i < 6 * model->config().hidden_size; ++i) ASSERT_EQ((*states)[i], 0.0f);
  const std::vector<float> logits = model->Classify(*states, batch, arena);
  ASSERT_EQ(logits.size(), 2 * model->config().num_labels);
  EXPECT_EQ(logits[0], logits[model->config().num_labels]);  // both see a zero row
  EXPECT_TRUE(std::isfinite(logits[0]));
}

}  // namespace
}  // namespace sieve::models
