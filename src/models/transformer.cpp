#include "models/transformer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "models/safetensors.h"
#include "nn/kernels.h"

namespace sieve::models {
namespace {

// Old BERT checkpoints call LayerNorm parameters gamma/beta.
std::string LegacyName(const std::string& name) {
  if (name.ends_with("LayerNorm.weight")) return name.substr(0, name.size() - 6) + "gamma";
  if (name.ends_with("LayerNorm.bias")) return name.substr(0, name.size() - 4) + "beta";
  return name;
}

Result<std::filesystem::path> FindWeights(const std::filesystem::path& model_dir) {
  std::error_code ec;
  const auto weights = model_dir / "model.safetensors";
  if (std::filesystem::exists(weights, ec)) return weights;
  if (std::filesystem::exists(model_dir / "pytorch_model.bin", ec)) {
    return Status::Unsupported(
        (model_dir / "pytorch_model.bin").string() +
        ": PyTorch pickle checkpoints are not loaded (unsafe to unpickle); convert it to "
        "model.safetensors, e.g. in Python: `import torch; from safetensors.torch import "
        "save_file; save_file(torch.load('pytorch_model.bin'), 'model.safetensors')` "
        "(tied tensors may need .contiguous().clone()), or download the Hub's safetensors "
        "version (the Hub's conversion bot opens a PR with one)");
  }
  if (std::filesystem::exists(model_dir / "model.safetensors.index.json", ec)) {
    return Status::Unsupported((model_dir / "model.safetensors.index.json").string() +
                               ": sharded checkpoints are not supported");
  }
  return Status::NotFound(weights.string() + ": no such file");
}

}  // namespace

Result<TransformerModel> TransformerModel::Load(const std::filesystem::path& model_dir,
                                                Precision precision) {
  SIEVE_ASSIGN_OR_RETURN(TransformerConfig config, LoadTransformerConfig(model_dir));
  SIEVE_ASSIGN_OR_RETURN(auto weights_path, FindWeights(model_dir));
  SIEVE_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(weights_path));

  // The encoder may sit under "bert.", "roberta." or at the top level, depending on how the
  // checkpoint was saved.
  std::string prefix;
  bool found = false;
  for (const char* candidate : {"", "bert.", "roberta.", "model."}) {
    if (file.Contains(std::string(candidate) + "embeddings.word_embeddings.weight")) {
      prefix = candidate;
      found = true;
      break;
    }
  }
  if (!found) {
    return Status::InvalidInput(weights_path.string() +
                                ": no 'embeddings.word_embeddings.weight' tensor (with or "
                                "without a bert./roberta. prefix); not a BERT-family checkpoint?");
  }
  auto shared_file = std::make_shared<SafetensorsFile>(std::move(file));
  const SafetensorsFile& mapped = *shared_file;
  const TensorViewSource source = [&mapped, &prefix](
                                      const std::string& name,
                                      const std::vector<std::size_t>& shape) -> Result<TensorData> {
    std::string actual = name.starts_with("classifier.") ? name : prefix + name;
    if (!mapped.Contains(actual) && mapped.Contains(LegacyName(actual))) {
      actual = LegacyName(actual);
    }
    TensorData tensor;
    SIEVE_ASSIGN_OR_RETURN(tensor.data, mapped.MappedFloat32(actual, shape));
    if (tensor.data == nullptr) {
      SIEVE_ASSIGN_OR_RETURN(tensor.owned, mapped.ReadFloat32(actual, shape));
    }
    return tensor;
  };
  return Build(config, source, std::move(shared_file), precision);
}

Result<TransformerModel> TransformerModel::FromTensors(const TransformerConfig& config,
                                                       const TensorSource& tensors,
                                                       Precision precision) {
  const TensorViewSource source = [&tensors](
                                      const std::string& name,
                                      const std::vector<std::size_t>& shape) -> Result<TensorData> {
    TensorData tensor;
    SIEVE_ASSIGN_OR_RETURN(tensor.owned, tensors(name, shape));
    std::size_t count = 1;
    for (std::size_t d : shape) count *= d;
    if (tensor.owned.size() != count) {
      return Status::InvalidArgument("tensor '" + name + "' has " +
                                     std::to_string(tensor.owned.size()) + " values, shape " +
                                     ShapeToString(shape) + " needs " + std::to_string(count));
    }
    return tensor;
  };
  return Build(config, source, nullptr, precision);
}

std::size_t TransformerModel::owned_bytes() const {
  std::size_t total = 0;
  for (const auto& tensor : owned_) total += tensor.size() * sizeof(float);
  for (const Int8Layer& layer : int8_layers_) {
    total += layer.qkv.bytes() + layer.attention_out.bytes() + layer.intermediate.bytes() +
             layer.output.bytes() + layer.qkv_bias.size() * sizeof(float);
  }
  for (const PackedLayer& layer : packed_layers_) {
    total += layer.qkv.bytes() + layer.attention_out.bytes() + layer.intermediate.bytes() +
             layer.output.bytes() + layer.qkv_bias.size() * sizeof(float);
  }
  return total;
}

Result<TransformerModel> TransformerModel::Build(const TransformerConfig& config,
                                                 const TensorViewSource& tensors,
                                                 std::shared_ptr<const void> mapping,
                                                 Precision precision) {
  TransformerModel model;
  model.config_ = config;
  model.precision_ = precision;
  model.mapping_ = std::move(mapping);
  const TransformerConfig& c = model.config_;
  auto read = [&tensors, &model](const std::string& name, std::vector<std::size_t> shape,
                                 const float*& out) -> Status {
    SIEVE_ASSIGN_OR_RETURN(TensorData tensor, tensors(name, shape));
    std::size_t count = 1;
    for (std::size_t d : shape) count *= d;
    model.weight_bytes_ += count * sizeof(float);
    if (!tensor.owned.empty() || tensor.data == nullptr) {
      // Moving the vector keeps its buffer, so the pointer stays valid.
      model.owned_.push_back(std::move(tensor.owned));
      out = model.owned_.back().data();
    } else {
      out = tensor.data;
    }
    return Status::Ok();
  };
  const std::size_t h = c.hidden_size;
  const std::size_t inter = c.intermediate_size;
  SIEVE_RETURN_IF_ERROR(
      read("embeddings.word_embeddings.weight", {c.vocab_size, h}, model.word_embeddings_));
  SIEVE_RETURN_IF_ERROR(read("embeddings.position_embeddings.weight",
                             {c.max_position_embeddings, h}, model.position_embeddings_));
  SIEVE_RETURN_IF_ERROR(read("embeddings.token_type_embeddings.weight", {c.type_vocab_size, h},
                             model.token_type_embeddings_));
  SIEVE_RETURN_IF_ERROR(read("embeddings.LayerNorm.weight", {h}, model.embedding_norm_weight_));
  SIEVE_RETURN_IF_ERROR(read("embeddings.LayerNorm.bias", {h}, model.embedding_norm_bias_));

  model.layers_.resize(c.num_layers);
  for (std::size_t i = 0; i < c.num_layers; ++i) {
    Layer& layer = model.layers_[i];
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    const std::string self = p + "attention.self.";
    SIEVE_RETURN_IF_ERROR(read(self + "query.weight", {h, h}, layer.query_weight));
    SIEVE_RETURN_IF_ERROR(read(self + "query.bias", {h}, layer.query_bias));
    SIEVE_RETURN_IF_ERROR(read(self + "key.weight", {h, h}, layer.key_weight));
    SIEVE_RETURN_IF_ERROR(read(self + "key.bias", {h}, layer.key_bias));
    SIEVE_RETURN_IF_ERROR(read(self + "value.weight", {h, h}, layer.value_weight));
    SIEVE_RETURN_IF_ERROR(read(self + "value.bias", {h}, layer.value_bias));
    SIEVE_RETURN_IF_ERROR(
        read(p + "attention.output.dense.weight", {h, h}, layer.attention_out_weight));
    SIEVE_RETURN_IF_ERROR(read(p + "attention.output.dense.bias", {h}, layer.attention_out_bias));
    SIEVE_RETURN_IF_ERROR(
        read(p + "attention.output.LayerNorm.weight", {h}, layer.attention_norm_weight));
    SIEVE_RETURN_IF_ERROR(
        read(p + "attention.output.LayerNorm.bias", {h}, layer.attention_norm_bias));
    SIEVE_RETURN_IF_ERROR(
        read(p + "intermediate.dense.weight", {inter, h}, layer.intermediate_weight));
    SIEVE_RETURN_IF_ERROR(read(p + "intermediate.dense.bias", {inter}, layer.intermediate_bias));
    SIEVE_RETURN_IF_ERROR(read(p + "output.dense.weight", {h, inter}, layer.output_weight));
    SIEVE_RETURN_IF_ERROR(read(p + "output.dense.bias", {h}, layer.output_bias));
    SIEVE_RETURN_IF_ERROR(read(p + "output.LayerNorm.weight", {h}, layer.output_norm_weight));
    SIEVE_RETURN_IF_ERROR(read(p + "output.LayerNorm.bias", {h}, layer.output_norm_bias));
  }

  if (c.architecture == Architecture::kBertForSequenceClassification) {
    SIEVE_RETURN_IF_ERROR(read("pooler.dense.weight", {h, h}, model.head_dense_weight_));
    SIEVE_RETURN_IF_ERROR(read("pooler.dense.bias", {h}, model.head_dense_bias_));
    SIEVE_RETURN_IF_ERROR(read("classifier.weight", {c.num_labels, h}, model.classifier_weight_));
    SIEVE_RETURN_IF_ERROR(read("classifier.bias", {c.num_labels}, model.classifier_bias_));
  } else if (c.architecture == Architecture::kXLMRobertaForSequenceClassification) {
    SIEVE_RETURN_IF_ERROR(read("classifier.dense.weight", {h, h}, model.head_dense_weight_));
    SIEVE_RETURN_IF_ERROR(read("classifier.dense.bias", {h}, model.head_dense_bias_));
    SIEVE_RETURN_IF_ERROR(
        read("classifier.out_proj.weight", {c.num_labels, h}, model.classifier_weight_));
    SIEVE_RETURN_IF_ERROR(read("classifier.out_proj.bias", {c.num_labels}, model.classifier_bias_));
  }
  // The float32 weights of a packed or quantised matrix are not read again: a converted copy is
  // freed, and pages of the file mapping are dropped from the process (MADV_DONTNEED on a
  // read-only private file mapping: they stay in the page cache and would be read back if
  // touched), so the model does not hold both forms (peak RSS; issue 10).
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  auto release = [&model, page](const float*& weight, std::size_t count) {
    for (std::vector<float>& buffer : model.owned_) {
      if (!buffer.empty() && buffer.data() == weight) {
        std::vector<float>().swap(buffer);
        weight = nullptr;
        return;
      }
    }
    const auto first = reinterpret_cast<std::uintptr_t>(weight);
    const std::uintptr_t begin = (first + page - 1) & ~(page - 1);
    const std::uintptr_t end = (first + count * sizeof(float)) & ~(page - 1);
    // Only whole pages of this tensor (its neighbours in the file may still be in use).
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
    weight = nullptr;
  };
  // The query, key and value biases stacked, as their weights are.
  const auto stack_qkv_bias = [h](const Layer& layer) {
    std::vector<float> stacked;
    stacked.reserve(3 * h);
    for (const float* bias : {layer.query_bias, layer.key_bias, layer.value_bias}) {
      stacked.insert(stacked.end(), bias, bias + h);
    }
    return stacked;
  };
  if (precision == Precision::kInt8) {
    const nn::Int8Kernel kernel = nn::BestInt8Kernel();
    model.int8_layers_.reserve(c.num_layers);
    std::vector<float> qkv_weight(3 * h * h);
    for (Layer& layer : model.layers_) {
      // Query, key and value stacked (quantised per output channel, so stacking changes no
      // value): one GEMM and one quantisation of its input instead of three.
      std::copy_n(layer.query_weight, h * h, qkv_weight.begin());
      std::copy_n(layer.key_weight, h * h, qkv_weight.begin() + h * h);
      std::copy_n(layer.value_weight, h * h, qkv_weight.begin() + 2 * h * h);
      model.int8_layers_.push_back(Int8Layer{
          nn::Int8Matrix::Quantize(qkv_weight.data(), 3 * h, h, kernel),
          nn::Int8Matrix::Quantize(layer.attention_out_weight, h, h, kernel),
          nn::Int8Matrix::Quantize(layer.intermediate_weight, inter, h, kernel),
          nn::Int8Matrix::Quantize(layer.output_weight, h, inter, kernel), stack_qkv_bias(layer)});
      release(layer.query_weight, h * h);
      release(layer.key_weight, h * h);
      release(layer.value_weight, h * h);
      release(layer.attention_out_weight, h * h);
      release(layer.intermediate_weight, inter * h);
      release(layer.output_weight, h * inter);
    }
  } else {
    const nn::GemmKernel kernel = nn::BestGemmKernel();
    model.packed_layers_.reserve(c.num_layers);
    for (Layer& layer : model.layers_) {
      PackedLayer packed;
      const float* qkv_parts[] = {layer.query_weight, layer.key_weight, layer.value_weight};
      const std::size_t qkv_rows[] = {h, h, h};
      packed.qkv = nn::PackedMatrix::Pack(qkv_parts, qkv_rows, h, kernel);
      packed.attention_out = nn::PackedMatrix::Pack(layer.attention_out_weight, h, h, kernel);
      packed.intermediate = nn::PackedMatrix::Pack(layer.intermediate_weight, inter, h, kernel);
      packed.output = nn::PackedMatrix::Pack(layer.output_weight, h, inter, kernel);
      packed.qkv_bias = stack_qkv_bias(layer);
      // A matrix packed into memory of its own no longer needs its source (a portable-kernel
      // PackedMatrix of one part is a view of it: bytes() == 0).
      if (packed.qkv.bytes() > 0) {
        release(layer.query_weight, h * h);
        release(layer.key_weight, h * h);
        release(layer.value_weight, h * h);
      }
      if (packed.attention_out.bytes() > 0) release(layer.attention_out_weight, h * h);
      if (packed.intermediate.bytes() > 0) release(layer.intermediate_weight, inter * h);
      if (packed.output.bytes() > 0) release(layer.output_weight, h * inter);
      model.packed_layers_.push_back(std::move(packed));
    }
  }
  nn::UseSingleThreadedGemm();
  return model;
}

namespace {
// Rows of the feed-forward block computed at a time (see Encode).
constexpr std::size_t kFfnRows = 1024;
}  // namespace

Result<const float*> TransformerModel::Encode(const TokenBatch& batch, nn::Arena& arena,
                                              nn::ThreadPool* pool, Output output) const {
  const TransformerConfig& c = config_;
  const std::size_t padded = batch.batch * batch.seq_len;
  if (batch.input_ids.size() != padded || batch.token_type_ids.size() != padded ||
      batch.attention_mask.size() != padded) {
    return Status::Internal("token batch: id/type/mask sizes do not match batch x seq_len");
  }
  if (batch.seq_len > c.max_positions()) {
    return Status::InvalidArgument("input of " + std::to_string(batch.seq_len) +
                                   " tokens is longer than the model's " +
                                   std::to_string(c.max_positions()) + " positions");
  }
  const std::size_t h = c.hidden_size;
  // Padding never enters the forward pass: only tokens with a non-zero mask are packed, in order,
  // into `tokens` rows; sequence b owns packed rows [offsets[b], offsets[b + 1]), and rows[r] is
  // packed row r's index in the padded batch. Attention runs per sequence on its own rows, which
  // gives real tokens exactly what masked attention over the padded batch gives them.
  std::vector<std::size_t> offsets(batch.batch + 1, 0);
  std::vector<std::size_t> rows;
  rows.reserve(padded);
  for (std::size_t b = 0; b < batch.batch; ++b) {
    for (std::size_t t = 0; t < batch.seq_len; ++t) {
      const std::size_t index = b * batch.seq_len + t;
      const std::int32_t id = batch.input_ids[index];
      const std::int32_t type = batch.token_type_ids[index];
      if (id < 0 || static_cast<std::size_t>(id) >= c.vocab_size) {
        return Status::InvalidArgument("token id " + std::to_string(id) +
                                       " is outside the vocabulary of " +
                                       std::to_string(c.vocab_size));
      }
      if (type < 0 || static_cast<std::size_t>(type) >= c.type_vocab_size) {
        return Status::InvalidArgument("token type id " + std::to_string(type) +
                                       " is outside the model's " +
                                       std::to_string(c.type_vocab_size) + " types");
      }
      if (batch.attention_mask[index] != 0) rows.push_back(index);
    }
    offsets[b + 1] = rows.size();
  }
  const std::size_t tokens = rows.size();
  // The pool's workers may be asleep (the first request after a pause): wake them now, so they
  // are up and polling when the first GEMM comes.
  nn::WakeWorkers(pool);
  const bool first_tokens = output == Output::kFirstTokens;
  const std::size_t out_rows = first_tokens ? batch.batch : padded;
  if (tokens == 0) {  // nothing but padding: every row is zero
    float* zeros = arena.Allocate(out_rows * h);
    std::fill_n(zeros, out_rows * h, 0.0f);
    return static_cast<const float*>(zeros);
  }
  float* x = arena.Allocate(tokens * h);
  for (std::size_t b = 0; b < batch.batch; ++b) {
    std::size_t running = 0;  // XLM-R: count of non-pad ids so far (masked ones included, as HF)
    std::size_t packed = offsets[b];
    for (std::size_t t = 0; t < batch.seq_len; ++t) {
      const std::size_t index = b * batch.seq_len + t;
      const std::int32_t id = batch.input_ids[index];
      std::size_t position = t;
      if (c.is_xlmr()) {
        // HF create_position_ids_from_input_ids: pads get padding_idx, others count from it.
        const auto pad = static_cast<std::size_t>(c.pad_token_id);
        position = id == c.pad_token_id ? pad : pad + (++running);
      }
      if (batch.attention_mask[index] == 0) continue;
      float* row = x + packed * h;
      ++packed;
      const float* word = word_embeddings_ + static_cast<std::size_t>(id) * h;
      const float* pos = position_embeddings_ + position * h;
      const float* typ =
          token_type_embeddings_ + static_cast<std::size_t>(batch.token_type_ids[index]) * h;
      for (std::size_t i = 0; i < h; ++i) row[i] = word[i] + pos[i] + typ[i];
    }
  }
  nn::AddLayerNorm(x, nullptr, embedding_norm_weight_, embedding_norm_bias_, tokens, h,
                   c.layer_norm_eps, pool);

  // Activations: x, qkv and the attention context, [tokens, 5·hidden] in all. The attention
  // output reuses qkv's memory (qkv is dead once attention has run), and the feed-forward block
  // runs on kFfnRows rows at a time, so its [rows, intermediate] buffer never holds all tokens
  // (peak RSS; issue 10).
  float* qkv = arena.Allocate(tokens * 3 * h);
  float* context = arena.Allocate(tokens * h);
  float* attention_out = qkv;
  const std::size_t ffn_rows = std::min(std::max(tokens, batch.batch), kFfnRows);
  float* intermediate = arena.Allocate(ffn_rows * c.intermediate_size);
  const nn::VarlenAttentionShape shape{offsets.data(), batch.batch, c.num_heads, h / c.num_heads};
  // Quantised activations of the int8 layers: one buffer for every layer (sized for the widest).
  float* int8_scratch =
      int8_layers_.empty()
          ? nullptr
          : arena.Allocate(std::max(nn::LinearInt8ScratchFloats(std::max(tokens, batch.batch), h),
                                    nn::LinearInt8ScratchFloats(ffn_rows, c.intermediate_size)));
  // Output::kFirstTokens: the last layer's rows, one per sequence.
  float* first_in = first_tokens ? arena.Allocate(batch.batch * h) : nullptr;
  float* first_context = first_tokens ? arena.Allocate(batch.batch * h) : nullptr;
  float* first_attention = first_tokens ? arena.Allocate(batch.batch * h) : nullptr;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Layer& layer = layers_[i];
    const Int8Layer* q = int8_layers_.empty() ? nullptr : &int8_layers_[i];
    const PackedLayer* packed = packed_layers_.empty() ? nullptr : &packed_layers_[i];
    // y = input · weightᵀ + bias, with the layer's packed float32 weights or its int8 weights;
    // GELU applied in the GEMM's epilogue when `gelu`.
    const auto linear = [&](const float* input, const nn::PackedMatrix* fp32,
                            const nn::Int8Matrix* quantised, const float* bias, float* y,
                            std::size_t ldy, bool gelu, std::size_t m) {
      if (quantised != nullptr) {
        nn::LinearInt8(input, *quantised, bias, y, m, int8_scratch, pool, ldy, gelu);
      } else {
        nn::LinearPacked(input, *fp32, bias, y, m, pool, ldy, gelu);
      }
    };
    linear(x, packed ? &packed->qkv : nullptr, q ? &q->qkv : nullptr,
           packed ? packed->qkv_bias.data() : q->qkv_bias.data(), qkv, 0, false, tokens);
    const bool last = i + 1 == layers_.size();
    // The feed-forward block of m rows: out = W2·GELU(W1·in), kFfnRows rows at a time.
    const bool fused_gelu = c.hidden_act == nn::Activation::kGeluErf;
    const auto feed_forward = [&](const float* in, float* out, std::size_t m) {
      for (std::size_t r0 = 0; r0 < m; r0 += ffn_rows) {
        const std::size_t rows_now = std::min(ffn_rows, m - r0);
        linear(in + r0 * h, packed ? &packed->intermediate : nullptr,
               q ? &q->intermediate : nullptr, layer.intermediate_bias, intermediate, 0, fused_gelu,
               rows_now);
        if (!fused_gelu) {
          nn::Activate(c.hidden_act, intermediate, rows_now * c.intermediate_size, pool);
        }
        linear(intermediate, packed ? &packed->output : nullptr, q ? &q->output : nullptr,
               layer.output_bias, out + r0 * h, 0, false, rows_now);
      }
    };
    if (last && first_tokens) {
      // Only position 0 of each sequence: its row of attention, then its own dense layers.
      nn::VarlenAttentionShape first_shape = shape;
      first_shape.first_query_only = true;
      std::fill_n(first_context, batch.batch * h, 0.0f);
      nn::VarlenSelfAttention(qkv, first_shape, first_context, arena, pool);
      for (std::size_t b = 0; b < batch.batch; ++b) {
        float* row = first_in + b * h;
        if (offsets[b + 1] > offsets[b]) {
          std::copy_n(x + offsets[b] * h, h, row);
        } else {
          std::fill_n(row, h, 0.0f);
        }
      }
      linear(first_context, packed ? &packed->attention_out : nullptr,
             q ? &q->attention_out : nullptr, layer.attention_out_bias, first_attention, 0, false,
             batch.batch);
      nn::AddLayerNorm(first_attention, first_in, layer.attention_norm_weight,
                       layer.attention_norm_bias, batch.batch, h, c.layer_norm_eps, pool);
      feed_forward(first_attention, first_in, batch.batch);
      nn::AddLayerNorm(first_in, first_attention, layer.output_norm_weight, layer.output_norm_bias,
                       batch.batch, h, c.layer_norm_eps, pool);
      // Position 0 that is padding (or a sequence of padding) reads as zero, as in kAllRows.
      for (std::size_t b = 0; b < batch.batch; ++b) {
        if (offsets[b + 1] == offsets[b] || rows[offsets[b]] != b * batch.seq_len) {
          std::fill_n(first_in + b * h, h, 0.0f);
        }
      }
      return static_cast<const float*>(first_in);
    }
    nn::VarlenSelfAttention(qkv, shape, context, arena, pool);
    linear(context, packed ? &packed->attention_out : nullptr, q ? &q->attention_out : nullptr,
           layer.attention_out_bias, attention_out, 0, false, tokens);
    nn::AddLayerNorm(attention_out, x, layer.attention_norm_weight, layer.attention_norm_bias,
                     tokens, h, c.layer_norm_eps, pool);
    feed_forward(attention_out, x, tokens);
    nn::AddLayerNorm(x, attention_out, layer.output_norm_weight, layer.output_norm_bias, tokens, h,
                     c.layer_norm_eps, pool);
  }
  if (first_tokens) {  // no layers: the embeddings' rows
    float* out = arena.Allocate(batch.batch * h);
    for (std::size_t b = 0; b < batch.batch; ++b) {
      const bool real = offsets[b + 1] > offsets[b] && rows[offsets[b]] == b * batch.seq_len;
      if (real) {
        std::copy_n(x + offsets[b] * h, h, out + b * h);
      } else {
        std::fill_n(out + b * h, h, 0.0f);
      }
    }
    return static_cast<const float*>(out);
  }
  // Without padding the packed rows are already the padded layout.
  if (tokens == padded) return static_cast<const float*>(x);
  // The padded layout goes into qkv's memory when it fits (it is free now).
  float* hidden_states = padded <= 3 * tokens ? qkv : arena.Allocate(padded * h);
  std::fill_n(hidden_states, padded * h, 0.0f);
  for (std::size_t r = 0; r < tokens; ++r) {
    std::copy_n(x + r * h, h, hidden_states + rows[r] * h);
  }
  return static_cast<const float*>(hidden_states);
}

std::vector<float> TransformerModel::Classify(const float* hidden_states, const TokenBatch& batch,
                                              nn::Arena& arena, nn::ThreadPool* pool) const {
  const std::size_t h = config_.hidden_size;
  float* first_tokens = arena.Allocate(batch.batch * h);
  for (std::size_t b = 0; b < batch.batch; ++b) {
    const float* row = hidden_states + b * batch.seq_len * h;
    std::copy(row, row + h, first_tokens + b * h);
  }
  return ClassifyFirstTokens(first_tokens, batch.batch, arena, pool);
}

std::vector<float> TransformerModel::ClassifyFirstTokens(const float* first_tokens,
                                                         std::size_t batch_size, nn::Arena& arena,
                                                         nn::ThreadPool* pool) const {
  const std::size_t h = config_.hidden_size;
  float* dense = arena.Allocate(batch_size * h);
  nn::Linear(first_tokens, head_dense_weight_, head_dense_bias_, dense, batch_size, h, h, pool);
  nn::Activate(nn::Activation::kTanh, dense, batch_size * h, pool);
  std::vector<float> logits(batch_size * config_.num_labels);
  nn::Linear(dense, classifier_weight_, classifier_bias_, logits.data(), batch_size,
             config_.num_labels, h, pool);
  return logits;
}

std::vector<std::vector<float>> PoolEmbeddings(const float* hidden_states, const TokenBatch& batch,
                                               std::size_t hidden_size, Pooling pooling,
                                               bool normalize) {
  std::vector<std::vector<float>> vectors(batch.batch, std::vector<float>(hidden_size));
  for (std::size_t b = 0; b < batch.batch; ++b) {
    const float* sequence = hidden_states + b * batch.seq_len * hidden_size;
    std::vector<float>& out = vectors[b];
    if (pooling == Pooling::kCls) {
      std::copy(sequence, sequence + hidden_size, out.begin());
    } else {
      nn::MeanPool(sequence, batch.attention_mask.data() + b * batch.seq_len, batch.seq_len,
                   hidden_size, out.data());
    }
    if (normalize) nn::L2Normalize(out.data(), hidden_size);
  }
  return vectors;
}

CrossEncoderScore ScoreFromLogits(const float* logits, std::size_t num_labels) {
  CrossEncoderScore result;
  if (num_labels == 1) {
    result.logit = logits[0];
    result.score = 1.0f / (1.0f + std::exp(-logits[0]));
    return result;
  }
  const float max_logit = *std::max_element(logits, logits + num_labels);
  double sum = 0;
  for (std::size_t i = 0; i < num_labels; ++i) sum += std::exp(double(logits[i]) - max_logit);
  result.logit = logits[num_labels - 1];
  result.score = static_cast<float>(std::exp(double(logits[num_labels - 1]) - max_logit) / sum);
  return result;
}

}  // namespace sieve::models
