// tests/nn: seeded normal random vectors shared by the kernel tests.
#pragma once

#include <cstddef>
#include <random>
#include <vector>

namespace sieve::nn::testing_support {

// n values drawn from N(0, scale²) with `rng`.
inline std::vector<float> RandomVector(std::size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace sieve::nn::testing_support
