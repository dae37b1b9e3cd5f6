// sentencepiece.bpe.model through libsentencepiece, with the ids of transformers'
// XLMRobertaTokenizer: fairseq puts <s> <pad> </s> <unk> at 0..3, every SentencePiece piece at
// its id + 1 (SentencePiece's own <unk> maps to 3) and <mask> last.
#include <sentencepiece_processor.h>

#include <array>
#include <string>
#include <utility>

#include "core/file.h"
#include "tokenizer/loaders.h"
#include "tokenizer/unicode_chars.h"

namespace sieve::tokenizer {
namespace {

constexpr std::int32_t kBos = 0;  // <s>, also the CLS of the templates
constexpr std::int32_t kPad = 1;
constexpr std::int32_t kEos = 2;  // </s>, also the SEP
constexpr std::int32_t kUnk = 3;
constexpr std::int32_t kFairseqOffset = 1;
constexpr std::array<const char*, 4> kFairseqTokens = {"<s>", "<pad>", "</s>", "<unk>"};
constexpr std::uint64_t kMaxModelBytes = 1ULL << 30;

class SentencePieceModel final : public WordModel {
 public:
  explicit SentencePieceModel(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor)
      : processor_(std::move(processor)),
        piece_count_(static_cast<std::int32_t>(processor_->GetPieceSize())) {}

  std::int32_t mask_id() const { return piece_count_ + kFairseqOffset; }

  void EncodeWord(const char32_t* begin, const char32_t* end, std::vector<std::int32_t>& ids,
                  Scratch& scratch) const override {
    scratch.utf8.clear();
    for (const char32_t* p = begin; p != end; ++p) AppendUtf8(*p, scratch.utf8);
    scratch.model_ids.clear();
    if (!processor_->Encode(scratch.utf8, &scratch.model_ids).ok()) return;
    for (int id : scratch.model_ids) ids.push_back(ToFairseq(id));
  }

  std::optional<std::int32_t> TokenToId(std::string_view token) const override {
    for (std::size_t i = 0; i < kFairseqTokens.size(); ++i) {
      if (token == kFairseqTokens[i]) return static_cast<std::int32_t>(i);
    }
    if (token == "<mask>") return mask_id();
    const int id = processor_->PieceToId(std::string(token));
    if (processor_->IsUnknown(id)) return std::nullopt;
    return ToFairseq(id);
  }

  std::string IdToToken(std::int32_t id) const override {
    if (id >= 0 && id < static_cast<std::int32_t>(kFairseqTokens.size())) {
      return kFairseqTokens[static_cast<std::size_t>(id)];
    }
    if (id == mask_id()) return "<mask>";
    const std::int32_t piece = id - kFairseqOffset;
    if (piece < 0 || piece >= piece_count_) return "";
    return processor_->IdToPiece(piece);
  }

  std::size_t vocab_size() const override {
    return static_cast<std::size_t>(piece_count_ + kFairseqOffset + 1);
  }

 private:
  std::int32_t ToFairseq(int spm_id) const {
    return processor_->IsUnknown(spm_id) ? kUnk : spm_id + kFairseqOffset;
  }

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::int32_t piece_count_;
};

}  // namespace

Result<std::unique_ptr<PipelineTokenizer>> LoadSentencePieceTokenizer(
    const std::filesystem::path& model_path) {
  SIEVE_ASSIGN_OR_RETURN(std::string serialized, ReadFile(model_path, kMaxModelBytes));
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->LoadFromSerializedProto(serialized);
  if (!status.ok()) {
    return Status::InvalidInput(model_path.string() +
                                ": not a SentencePiece model: " + status.ToString());
  }
  if (processor->GetPieceSize() <= 0) {
    return Status::InvalidInput(model_path.string() + ": SentencePiece model has no pieces");
  }
  auto model = std::make_unique<SentencePieceModel>(std::move(processor));

  PipelineParts parts;
  parts.added_tokens = {
      {.content = "<s>", .id = kBos},
      {.content = "<pad>", .id = kPad},
      {.content = "</s>", .id = kEos},
      {.content = "<unk>", .id = kUnk},
      {.content = "<mask>", .id = model->mask_id(), .lstrip = true},
  };
  // No normalizer or pre-tokenizer: SentencePiece normalizes (nmt_nfkc) and splits itself.
  parts.post_processor.single = {{.special_ids = {kBos}}, {.sequence = 0}, {.special_ids = {kEos}}};
  parts.post_processor.pair = {{.special_ids = {kBos}},
                               {.sequence = 0},
                               {.special_ids = {kEos, kEos}},
                               {.sequence = 1},
                               {.special_ids = {kEos}}};
  parts.pad_id = kPad;
  parts.model = std::move(model);
  parts.model_max_length = ModelMaxLengthFromConfig(model_path.parent_path());
  return std::make_unique<PipelineTokenizer>(std::move(parts));
}

}  // namespace sieve::tokenizer
