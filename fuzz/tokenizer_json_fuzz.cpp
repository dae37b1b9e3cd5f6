// libFuzzer target: ParseTokenizerJson on arbitrary bytes must never crash, and a tokenizer it
// accepts must encode any bytes (the same input, as text) without crashing and keep its promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto tokenizer = sieve::tokenizer::ParseTokenizerJson(bytes);
  if (!tokenizer.ok()) return 0;
  sieve::tokenizer::EncodeOptions options;
  const auto single = (*tokenizer)->Encode(bytes, options);
  options.max_length = 8;
  const auto pair = (*tokenizer)->EncodePair(bytes, bytes.substr(size / 2), options);
  if (single.input_ids.size() != single.token_type_ids.size() ||
      single.input_ids.size() != single.attention_mask.size()) {
    std::abort();
  }
  if (pair.input_ids.size() != pair.token_type_ids.size()) std::abort();
  (void)(*tokenizer)->CountTokens(bytes);
  for (std::int32_t id : single.input_ids) (void)(*tokenizer)->IdToToken(id);
  return 0;
}
