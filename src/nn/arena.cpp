#include "nn/arena.h"

#include <cstdint>

namespace sieve::nn {
namespace {
constexpr std::size_t kAlignFloats = 16;  // 64 bytes
constexpr std::size_t kMinBlockFloats = 1 << 16;

std::size_t RoundUp(std::size_t count) {
  return (count + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
}
}  // namespace

Arena::Block Arena::MakeBlock(std::size_t count) {
  Block block;
  block.storage = std::make_unique_for_overwrite<float[]>(count + kAlignFloats);
  auto address = reinterpret_cast<std::uintptr_t>(block.storage.get());
  std::size_t misalignment = address % (kAlignFloats * sizeof(float));
  std::size_t skip =
      misalignment == 0 ? 0 : (kAlignFloats * sizeof(float) - misalignment) / sizeof(float);
  block.begin = block.storage.get() + skip;
  block.size = count;
  return block;
}

float* Arena::Allocate(std::size_t count) {
  count = RoundUp(count == 0 ? 1 : count);
  high_water_ += count;
  if (blocks_.empty() || blocks_.back().size - blocks_.back().used < count) {
    blocks_.push_back(MakeBlock(count > kMinBlockFloats ? count : kMinBlockFloats));
  }
  Block& block = blocks_.back();
  float* result = block.begin + block.used;
  block.used += count;
  return result;
}

void Arena::Reset() {
  if (blocks_.size() > 1) {
    // One block big enough for the whole pass, so the next pass of this shape allocates nothing.
    std::size_t total = capacity() > high_water_ ? capacity() : high_water_;
    blocks_.clear();
    blocks_.push_back(MakeBlock(total));
  }
  for (Block& block : blocks_) block.used = 0;
  high_water_ = 0;
}

std::size_t Arena::capacity() const {
  std::size_t total = 0;
  for (const Block& block : blocks_) total += block.size;
  return total;
}

}  // namespace sieve::nn
