// EncoderModel, its sessions, and the Embedder / CrossEncoder conveniences.
//
// Documented behaviour:
// - Inputs longer than max_length are truncated (pairs: longest_first), as Hugging Face does;
//   a session with a logger reports the number of truncated inputs to it as a note.
// - An empty string is a valid input: it encodes as [CLS][SEP] (<s></s> for XLM-R).
// - Inputs are sorted by length before batching (less padding); results come back in input
//   order. Results do not depend on the batch size, the token budget, the other inputs of the
//   call (ScorePairs mixes queries) or the pool's size beyond float rounding.
// - An EncoderModel is immutable; a session owns its activation arena and is used by one thread
//   at a time. Sessions on one model share its weights.
#include <algorithm>
#include <numeric>
#include <optional>
#include <utility>

#include "models/encoder.h"
#include "models/model_config.h"
#include "models/transformer.h"
#include "nn/arena.h"
#include "nn/kernels.h"
#include "nn/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace sieve::models {
namespace {

// A folder inside the Hugging Face cache (.../models--org--name/snapshots/<commit>) is named by
// its Hub id and commit; any other folder by its path.
void IdentifyFolder(const std::filesystem::path& dir, ModelInfo& info) {
  info.id = dir.string();
  info.revision.clear();
  auto normal = dir.lexically_normal();
  if (normal.filename().empty()) normal = normal.parent_path();
  const auto snapshots = normal.parent_path();
  const std::string repo = snapshots.parent_path().filename().string();
  if (snapshots.filename() != "snapshots" || !repo.starts_with("models--")) return;
  std::string id = repo.substr(8);
  const auto separator = id.find("--");
  if (separator != std::string::npos) id.replace(separator, 2, "/");
  info.id = id;
  info.revision = normal.filename().string();
}

Result<std::size_t> CheckMaxLength(std::size_t max_length, const TransformerConfig& config,
                                   const std::filesystem::path& model_dir) {
  const std::size_t limit = config.max_positions();
  if (max_length > limit) {
    return Status::InvalidArgument("max length " + std::to_string(max_length) +
                                   " is more than the model's " + std::to_string(limit) +
                                   " positions (" + model_dir.string() + ")");
  }
  if (max_length < 2) {
    return Status::InvalidArgument("max length must be at least 2 (room for special tokens)");
  }
  return max_length;
}

// Sorts indices by token count so each batch holds similar lengths.
std::vector<std::size_t> LengthOrder(const std::vector<tokenizer::Encoding>& encodings) {
  std::vector<std::size_t> order(encodings.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return encodings[a].input_ids.size() < encodings[b].input_ids.size();
  });
  return order;
}

// Cuts the length order into [begin, end) batches of at most batch_size sequences and, when
// max_tokens > 0, at most max_tokens padded tokens (the batch's sequences x its longest, which is
// its last: the order is ascending); a sequence longer than max_tokens is a batch of its own.
std::vector<std::pair<std::size_t, std::size_t>> CutBatches(
    const std::vector<tokenizer::Encoding>& encodings, const std::vector<std::size_t>& order,
    std::size_t batch_size, std::size_t max_tokens) {
  std::vector<std::pair<std::size_t, std::size_t>> batches;
  std::size_t begin = 0;
  while (begin < order.size()) {
    std::size_t end = begin + 1;
    while (end < order.size() && end - begin < batch_size &&
           (max_tokens == 0 ||
            (end - begin + 1) * encodings[order[end]].input_ids.size() <= max_tokens)) {
      ++end;
    }
    batches.emplace_back(begin, end);
    begin = end;
  }
  return batches;
}

// Pads encodings[order[begin..end)] into one batch.
TokenBatch MakeBatch(const std::vector<tokenizer::Encoding>& encodings,
                     const std::vector<std::size_t>& order, std::size_t begin, std::size_t end,
                     std::int32_t pad_id) {
  TokenBatch batch;
  batch.batch = end - begin;
  for (std::size_t i = begin; i < end; ++i) {
    batch.seq_len = std::max(batch.seq_len, encodings[order[i]].input_ids.size());
  }
  const std::size_t total = batch.batch * batch.seq_len;
  batch.input_ids.assign(total, pad_id);
  batch.token_type_ids.assign(total, 0);
  batch.attention_mask.assign(total, 0);
  for (std::size_t i = begin; i < end; ++i) {
    const tokenizer::Encoding& e = encodings[order[i]];
    const std::size_t offset = (i - begin) * batch.seq_len;
    std::copy(e.input_ids.begin(), e.input_ids.end(), batch.input_ids.begin() + offset);
    std::copy(e.token_type_ids.begin(), e.token_type_ids.end(),
              batch.token_type_ids.begin() + offset);
    std::copy(e.attention_mask.begin(), e.attention_mask.end(),
              batch.attention_mask.begin() + offset);
  }
  return batch;
}

void ReportTruncation(const Logger& logger, std::size_t max_length,
                      const std::vector<tokenizer::Encoding>& encodings) {
  if (!logger.enabled()) return;
  const auto truncated = std::count_if(encodings.begin(), encodings.end(),
                                       [](const auto& e) { return e.truncated(); });
  if (truncated > 0) {
    logger.Note(std::to_string(truncated) + " of " + std::to_string(encodings.size()) +
                " inputs truncated to " + std::to_string(max_length) + " tokens");
  }
}

// What both session kinds hold: the shared model, the options, the session's view of the model's
// identity (max_seq_length may be lower) and the arena only this session touches.
struct SessionState {
  std::shared_ptr<const EncoderModel> model;
  SessionOptions options;
  ModelInfo info;
  nn::Arena arena;
};

Result<SessionState> NewSessionState(std::shared_ptr<const EncoderModel> model,
                                     const SessionOptions& options, EncoderKind kind) {
  if (model == nullptr) return Status::InvalidArgument("no model for the session");
  const std::string& id = model->info().id;
  if (model->kind() != kind) {
    if (kind == EncoderKind::kEmbedder) {
      return Status::InvalidArgument(id + ": " + model->config().architecture_name +
                                     " is a cross-encoder (classification head); it cannot embed");
    }
    return Status::InvalidArgument(id + ": " + model->config().architecture_name +
                                   " has no classification head; a cross-encoder needs "
                                   "BertForSequenceClassification or "
                                   "XLMRobertaForSequenceClassification");
  }
  if (options.batch_size == 0) {
    return Status::InvalidArgument("batch size must be at least 1");
  }
  SessionState state{std::move(model), options, ModelInfo{}, nn::Arena{}};
  state.info = state.model->info();
  if (options.max_length != 0) {
    SIEVE_ASSIGN_OR_RETURN(state.info.max_seq_length,
                           CheckMaxLength(options.max_length, state.model->config(), id));
  }
  return state;
}

class EmbedderSession final : public Embedder {
 public:
  explicit EmbedderSession(SessionState state) : state_(std::move(state)) {}

  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts,
                                                bool is_query) override {
    const EncoderModel& model = *state_.model;
    const tokenizer::Tokenizer& tok = model.tokenizer();
    const std::string& prompt = model.query_prompt();
    tokenizer::EncodeOptions encode_options;
    encode_options.max_length = state_.info.max_seq_length;
    std::vector<tokenizer::Encoding> encodings;
    encodings.reserve(texts.size());
    for (const std::string& text : texts) {
      encodings.push_back(
          tok.Encode(is_query && !prompt.empty() ? prompt + text : text, encode_options));
    }
    ReportTruncation(state_.options.logger, state_.info.max_seq_length, encodings);
    const std::vector<std::size_t> order = LengthOrder(encodings);
    std::vector<std::vector<float>> vectors(texts.size());
    for (const auto& [begin, end] :
         CutBatches(encodings, order, state_.options.batch_size, state_.options.max_batch_tokens)) {
      const TokenBatch batch = MakeBatch(encodings, order, begin, end, tok.pad_id());
      state_.arena.Reset();
      const std::size_t hidden_size = model.config().hidden_size;
      if (model.pooling() == Pooling::kCls) {
        // Only [CLS] is read: the last layer runs for those rows alone.
        SIEVE_ASSIGN_OR_RETURN(const float* first,
                               model.transformer().Encode(batch, state_.arena, state_.options.pool,
                                                          TransformerModel::Output::kFirstTokens));
        for (std::size_t i = begin; i < end; ++i) {
          std::vector<float>& out = vectors[order[i]];
          out.assign(first + (i - begin) * hidden_size, first + (i - begin + 1) * hidden_size);
          if (model.normalize()) nn::L2Normalize(out.data(), hidden_size);
        }
        continue;
      }
      SIEVE_ASSIGN_OR_RETURN(const float* hidden,
                             model.transformer().Encode(batch, state_.arena, state_.options.pool));
      auto pooled = PoolEmbeddings(hidden, batch, hidden_size, model.pooling(), model.normalize());
      for (std::size_t i = begin; i < end; ++i) vectors[order[i]] = std::move(pooled[i - begin]);
    }
    return vectors;
  }

  const ModelInfo& info() const override { return state_.info; }
  std::size_t CountTokens(std::string_view text) const override {
    return state_.model->CountTokens(text);
  }
  std::shared_ptr<const EncoderModel> shared_model() const override { return state_.model; }

 private:
  SessionState state_;
};

class CrossEncoderSession final : public CrossEncoder {
 public:
  explicit CrossEncoderSession(SessionState state) : state_(std::move(state)) {}

  Result<std::vector<CrossEncoderScore>> Score(std::string_view query,
                                               const std::vector<std::string>& passages) override {
    std::vector<ScorePair> pairs;
    pairs.reserve(passages.size());
    for (const std::string& passage : passages) pairs.push_back({query, passage});
    return ScorePairs(pairs);
  }

  Result<std::vector<CrossEncoderScore>> ScorePairs(std::span<const ScorePair> pairs) override {
    const EncoderModel& model = *state_.model;
    const tokenizer::Tokenizer& tok = model.tokenizer();
    tokenizer::EncodeOptions encode_options;
    encode_options.max_length = state_.info.max_seq_length;
    std::vector<tokenizer::Encoding> encodings;
    encodings.reserve(pairs.size());
    for (const ScorePair& pair : pairs) {
      encodings.push_back(tok.EncodePair(pair.query, pair.passage, encode_options));
    }
    ReportTruncation(state_.options.logger, state_.info.max_seq_length, encodings);
    const std::vector<std::size_t> order = LengthOrder(encodings);
    std::vector<CrossEncoderScore> scores(pairs.size());
    const std::size_t labels = model.config().num_labels;
    for (const auto& [begin, end] :
         CutBatches(encodings, order, state_.options.batch_size, state_.options.max_batch_tokens)) {
      const TokenBatch batch = MakeBatch(encodings, order, begin, end, tok.pad_id());
      state_.arena.Reset();
      // The heads read [CLS] / <s> only: the last layer runs for those rows alone.
      SIEVE_ASSIGN_OR_RETURN(const float* first,
                             model.transformer().Encode(batch, state_.arena, state_.options.pool,
                                                        TransformerModel::Output::kFirstTokens));
      const std::vector<float> logits = model.transformer().ClassifyFirstTokens(
          first, batch.batch, state_.arena, state_.options.pool);
      for (std::size_t i = begin; i < end; ++i) {
        scores[order[i]] = ScoreFromLogits(logits.data() + (i - begin) * labels, labels);
      }
    }
    return scores;
  }

  const ModelInfo& info() const override { return state_.info; }
  std::shared_ptr<const EncoderModel> shared_model() const override { return state_.model; }

 private:
  SessionState state_;
};

SessionOptions SessionOptionsFrom(const LoadModelOptions& options) {
  SessionOptions session;
  session.pool = options.pool;
  session.batch_size = options.batch_size;
  if (options.verbose) session.logger = options.logger;
  return session;
}

}  // namespace

EncoderModel::~EncoderModel() = default;

const TransformerConfig& EncoderModel::config() const {
  return transformer_->config();
}

std::size_t EncoderModel::weight_bytes() const {
  return transformer_->weight_bytes();
}

std::size_t EncoderModel::CountTokens(std::string_view text) const {
  return tokenizer_->CountTokens(text);
}

std::size_t EncoderModel::CountPairTokens(std::string_view query, std::string_view passage) const {
  tokenizer::EncodeOptions options;
  options.max_length = info_.max_seq_length;
  return tokenizer_->EncodePair(query, passage, options).input_ids.size();
}

std::string_view PrecisionName(Precision precision) {
  return precision == Precision::kInt8 ? "int8" : "fp32";
}

Result<Precision> ParsePrecision(std::string_view text) {
  if (text == "fp32") return Precision::kFp32;
  if (text == "int8") return Precision::kInt8;
  return Status::InvalidArgument("precision '" + std::string(text) + "' is not one of fp32, int8");
}

Result<std::shared_ptr<const EncoderModel>> LoadEncoderModel(const std::filesystem::path& model_dir,
                                                             const LoadModelOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec)) {
    return Status::NotFound(model_dir.string() + ": no such model folder");
  }
  SIEVE_ASSIGN_OR_RETURN(TransformerConfig config, LoadTransformerConfig(model_dir));
  SentenceTransformersConfig st;
  if (!config.is_classifier()) {
    SIEVE_ASSIGN_OR_RETURN(st, LoadSentenceTransformersConfig(model_dir));
  }
  // The weights (mapped, then packed or quantised) and the tokenizer load at the same time when
  // a pool is given: a cold `sieve embed` waits for the longer of the two, not their sum.
  std::optional<Result<TransformerModel>> loaded_transformer;
  std::optional<decltype(tokenizer::LoadTokenizer(model_dir))> tok;
  nn::ParallelFor(options.pool, 2, [&](std::size_t begin, std::size_t end) {
    for (std::size_t task = begin; task < end; ++task) {
      if (task == 0) {
        loaded_transformer.emplace(TransformerModel::Load(model_dir, options.precision));
      } else {
        tok.emplace(tokenizer::LoadTokenizer(model_dir));
      }
    }
  });
  if (!loaded_transformer->ok()) return loaded_transformer->status();
  TransformerModel transformer = std::move(*loaded_transformer).value();
  if (!tok->ok()) return tok->status();

  std::shared_ptr<EncoderModel> model(new EncoderModel());
  model->transformer_ = std::make_unique<const TransformerModel>(std::move(transformer));
  model->tokenizer_ = std::move(*tok).value();
  const TransformerConfig& loaded = model->transformer_->config();
  model->kind_ = loaded.is_classifier() ? EncoderKind::kCrossEncoder : EncoderKind::kEmbedder;

  const std::size_t limit = loaded.max_positions();
  std::size_t max_length = limit;
  if (st.max_seq_length != 0) {
    max_length = std::min(st.max_seq_length, limit);
  } else if (model->tokenizer_->model_max_length() != 0) {
    max_length = std::min(model->tokenizer_->model_max_length(), limit);
  }
  if (options.max_length != 0) {
    SIEVE_ASSIGN_OR_RETURN(max_length, CheckMaxLength(options.max_length, loaded, model_dir));
  }
  ModelInfo& info = model->info_;
  IdentifyFolder(model_dir, info);
  info.architecture = loaded.architecture_name;
  info.max_seq_length = max_length;
  info.precision = std::string(PrecisionName(options.precision));
  if (model->kind_ == EncoderKind::kEmbedder) {
    info.dimension = loaded.hidden_size;
    info.pooling = st.pooling == Pooling::kCls ? "cls" : "mean";
    info.normalize = st.normalize;
    info.query_prompt = st.query_prompt;
    model->pooling_ = st.pooling;
  } else {
    info.dimension = loaded.num_labels;
  }
  return std::shared_ptr<const EncoderModel>(std::move(model));
}

Result<std::unique_ptr<Embedder>> NewEmbedderSession(std::shared_ptr<const EncoderModel> model,
                                                     const SessionOptions& options) {
  SIEVE_ASSIGN_OR_RETURN(SessionState state,
                         NewSessionState(std::move(model), options, EncoderKind::kEmbedder));
  return std::unique_ptr<Embedder>(new EmbedderSession(std::move(state)));
}

Result<std::unique_ptr<CrossEncoder>> NewCrossEncoderSession(
    std::shared_ptr<const EncoderModel> model, const SessionOptions& options) {
  SIEVE_ASSIGN_OR_RETURN(SessionState state,
                         NewSessionState(std::move(model), options, EncoderKind::kCrossEncoder));
  return std::unique_ptr<CrossEncoder>(new CrossEncoderSession(std::move(state)));
}

Result<std::unique_ptr<Embedder>> LoadEmbedder(const std::filesystem::path& model_dir,
                                               const LoadModelOptions& options) {
  SIEVE_ASSIGN_OR_RETURN(auto model, LoadEncoderModel(model_dir, options));
  auto session = NewEmbedderSession(std::move(model), SessionOptionsFrom(options));
  if (!session.ok()) return session.status();
  return std::move(session).value();
}

Result<std::unique_ptr<CrossEncoder>> LoadCrossEncoder(const std::filesystem::path& model_dir,
                                                       const LoadModelOptions& options) {
  SIEVE_ASSIGN_OR_RETURN(auto model, LoadEncoderModel(model_dir, options));
  auto session = NewCrossEncoderSession(std::move(model), SessionOptionsFrom(options));
  if (!session.ok()) return session.status();
  return std::move(session).value();
}

}  // namespace sieve::models
