// nn/arena.h: scratch memory for activations, allocated once and reused across calls.
//
// Touching fresh memory costs about 15 µs per 4 KiB page on this machine, so activations must not
// be allocated per call. An Arena hands out float buffers from blocks it keeps; Reset() makes all
// of it available again without freeing. When a pass needed more than one block, Reset() merges
// them into one block of the total size, so after the first call of a given shape the arena never
// allocates again.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace sieve::nn {

class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&&) = default;
  Arena& operator=(Arena&&) = default;

  // `count` floats, 64-byte aligned, uninitialised; valid until the next Reset().
  float* Allocate(std::size_t count);
  // Makes every buffer available again (keeps the memory).
  void Reset();
  // Floats held, for tests and diagnostics.
  std::size_t capacity() const;
  std::size_t block_count() const { return blocks_.size(); }

 private:
  struct Block {
    std::unique_ptr<float[]> storage;
    float* begin = nullptr;  // aligned start inside storage
    std::size_t size = 0;    // usable floats from begin
    std::size_t used = 0;
  };
  static Block MakeBlock(std::size_t count);

  std::vector<Block> blocks_;
  std::size_t high_water_ = 0;  // floats handed out since the last Reset()
};

}  // namespace sieve::nn
