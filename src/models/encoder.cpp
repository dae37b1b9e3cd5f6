// Embedder and CrossEncoder on top of TransformerModel and the tokenizer.
//
// Documented behaviour:
// - Inputs longer than max_length are truncated (pairs: longest_first), as Hugging Face does;
//   with LoadModelOptions::verbose the number of truncated inputs is reported on stderr.
// - An empty string is a valid input: it encodes as [CLS][SEP] (<s></s> for XLM-R).
// - Inputs are sorted by length before batching (less padding); results come back in input
//   order. Results do not depend on the batch size beyond float rounding.
// - Embedder / CrossEncoder objects reuse one activation arena and are not thread-safe.
#include <algorithm>
#include <iostream>
#include <numeric>

#include "models/encoder.h"
#include "models/model_config.h"
#include "models/transformer.h"
#include "nn/arena.h"
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

// Everything both model kinds share: weights, tokenizer, limits and the activation arena.
struct LoadedModel {
  TransformerModel transformer;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  ModelInfo info;
  LoadModelOptions options;
  nn::Arena arena;
};

Result<std::unique_ptr<LoadedModel>> LoadCommon(const std::filesystem::path& model_dir,
                                                const LoadModelOptions& options,
                                                std::size_t st_max_seq_length) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec)) {
    return Status::NotFound(model_dir.string() + ": no such model folder");
  }
  if (options.batch_size == 0) {
    return Status::InvalidArgument("batch size must be at least 1");
  }
  SIEVE_ASSIGN_OR_RETURN(TransformerModel transformer, TransformerModel::Load(model_dir));
  auto tok = tokenizer::LoadTokenizer(model_dir);
  if (!tok.ok()) return tok.status();
  auto model = std::make_unique<LoadedModel>(LoadedModel{
      std::move(transformer), std::move(tok).value(), ModelInfo{}, options, nn::Arena{}});
  const TransformerConfig& config = model->transformer.config();

  const std::size_t limit = config.max_positions();
  std::size_t max_length = limit;
  if (st_max_seq_length != 0) {
    max_length = std::min(st_max_seq_length, limit);
  } else if (model->tokenizer->model_max_length() != 0) {
    max_length = std::min(model->tokenizer->model_max_length(), limit);
  }
  if (options.max_length != 0) {
    if (options.max_length > limit) {
      return Status::InvalidArgument("max length " + std::to_string(options.max_length) +
                                     " is more than the model's " + std::to_string(limit) +
                                     " positions (" + model_dir.string() + ")");
    }
    if (options.max_length < 2) {
      return Status::InvalidArgument("max length must be at least 2 (room for special tokens)");
    }
    max_length = options.max_length;
  }
  ModelInfo& info = model->info;
  IdentifyFolder(model_dir, info);
  info.architecture = config.architecture_name;
  info.max_seq_length = max_length;
  return model;
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

void ReportTruncation(const LoadedModel& model, const std::vector<tokenizer::Encoding>& encodings) {
  if (!model.options.verbose) return;
  const auto truncated = std::count_if(encodings.begin(), encodings.end(),
                                       [](const auto& e) { return e.truncated(); });
  if (truncated > 0) {
    std::cerr << "sieve: " << truncated << " of " << encodings.size() << " inputs truncated to "
              << model.info.max_seq_length << " tokens\n";
  }
}

class TransformerEmbedder final : public Embedder {
 public:
  TransformerEmbedder(std::unique_ptr<LoadedModel> model, SentenceTransformersConfig st)
      : model_(std::move(model)), st_(std::move(st)) {}

  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts,
                                                bool is_query) override {
    tokenizer::EncodeOptions encode_options;
    encode_options.max_length = model_->info.max_seq_length;
    std::vector<tokenizer::Encoding> encodings;
    encodings.reserve(texts.size());
    for (const std::string& text : texts) {
      encodings.push_back(model_->tokenizer->Encode(
          is_query && !st_.query_prompt.empty() ? st_.query_prompt + text : text, encode_options));
    }
    ReportTruncation(*model_, encodings);
    const std::vector<std::size_t> order = LengthOrder(encodings);
    std::vector<std::vector<float>> vectors(texts.size());
    const std::size_t batch_size = model_->options.batch_size;
    for (std::size_t begin = 0; begin < order.size(); begin += batch_size) {
      const std::size_t end = std::min(order.size(), begin + batch_size);
      const TokenBatch batch = MakeBatch(encodings, order, begin, end, model_->tokenizer->pad_id());
      model_->arena.Reset();
      SIEVE_ASSIGN_OR_RETURN(const float* hidden, model_->transformer.Encode(batch, model_->arena));
      auto pooled = PoolEmbeddings(hidden, batch, model_->transformer.config().hidden_size,
                                   st_.pooling, st_.normalize);
      for (std::size_t i = begin; i < end; ++i) vectors[order[i]] = std::move(pooled[i - begin]);
    }
    return vectors;
  }

  const ModelInfo& info() const override { return model_->info; }
  std::size_t CountTokens(std::string_view text) const override {
    return model_->tokenizer->CountTokens(text);
  }

 private:
  std::unique_ptr<LoadedModel> model_;
  SentenceTransformersConfig st_;
};

class TransformerCrossEncoder final : public CrossEncoder {
 public:
  explicit TransformerCrossEncoder(std::unique_ptr<LoadedModel> model) : model_(std::move(model)) {}

  Result<std::vector<CrossEncoderScore>> Score(std::string_view query,
                                               const std::vector<std::string>& passages) override {
    tokenizer::EncodeOptions encode_options;
    encode_options.max_length = model_->info.max_seq_length;
    std::vector<tokenizer::Encoding> encodings;
    encodings.reserve(passages.size());
    for (const std::string& passage : passages) {
      encodings.push_back(model_->tokenizer->EncodePair(query, passage, encode_options));
    }
    ReportTruncation(*model_, encodings);
    const std::vector<std::size_t> order = LengthOrder(encodings);
    std::vector<CrossEncoderScore> scores(passages.size());
    const std::size_t labels = model_->transformer.config().num_labels;
    const std::size_t batch_size = model_->options.batch_size;
    for (std::size_t begin = 0; begin < order.size(); begin += batch_size) {
      const std::size_t end = std::min(order.size(), begin + batch_size);
      const TokenBatch batch = MakeBatch(encodings, order, begin, end, model_->tokenizer->pad_id());
      model_->arena.Reset();
      SIEVE_ASSIGN_OR_RETURN(const float* hidden, model_->transformer.Encode(batch, model_->arena));
      const std::vector<float> logits = model_->transformer.Classify(hidden, batch, model_->arena);
      for (std::size_t i = begin; i < end; ++i) {
        scores[order[i]] = ScoreFromLogits(logits.data() + (i - begin) * labels, labels);
      }
    }
    return scores;
  }

  const ModelInfo& info() const override { return model_->info; }

 private:
  std::unique_ptr<LoadedModel> model_;
};

}  // namespace

Result<std::unique_ptr<Embedder>> LoadEmbedder(const std::filesystem::path& model_dir,
                                               const LoadModelOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec)) {
    return Status::NotFound(model_dir.string() + ": no such model folder");
  }
  SIEVE_ASSIGN_OR_RETURN(SentenceTransformersConfig st, LoadSentenceTransformersConfig(model_dir));
  SIEVE_ASSIGN_OR_RETURN(auto model, LoadCommon(model_dir, options, st.max_seq_length));
  const TransformerConfig& config = model->transformer.config();
  if (config.is_classifier()) {
    return Status::InvalidArgument(model_dir.string() + ": " + config.architecture_name +
                                   " is a cross-encoder (classification head); it cannot embed");
  }
  ModelInfo& info = model->info;
  info.dimension = config.hidden_size;
  info.pooling = st.pooling == Pooling::kCls ? "cls" : "mean";
  info.normalize = st.normalize;
  info.query_prompt = st.query_prompt;
  return std::unique_ptr<Embedder>(new TransformerEmbedder(std::move(model), std::move(st)));
}

Result<std::unique_ptr<CrossEncoder>> LoadCrossEncoder(const std::filesystem::path& model_dir,
                                                       const LoadModelOptions& options) {
  SIEVE_ASSIGN_OR_RETURN(auto model, LoadCommon(model_dir, options, 0));
  const TransformerConfig& config = model->transformer.config();
  if (!config.is_classifier()) {
    return Status::InvalidArgument(model_dir.string() + ": " + config.architecture_name +
                                   " has no classification head; a cross-encoder needs "
                                   "BertForSequenceClassification or "
                                   "XLMRobertaForSequenceClassification");
  }
  model->info.dimension = config.num_labels;
  return std::unique_ptr<CrossEncoder>(new TransformerCrossEncoder(std::move(model)));
}

}  // namespace sieve::models
