// Seeded, counter-based random numbers for benchmark weights: element i of a fill depends only
// on (seed, i), so fills are the same for any thread count and can run in parallel.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "ops/weights.h"

namespace yopo::bench {

// The (i+1)-th output of the SplitMix64 generator started at state `seed` (Steele, Lea and
// Flood 2014; the sequence of java.util.SplittableRandom's mixer).
uint64_t splitmix64_at(uint64_t seed, uint64_t i);

// A seed for one tensor of a model, from the model's seed and the tensor's coordinates.
uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

// Uniform in [-scale, scale): out[i] from the top 24 bits of splitmix64_at(seed, i).
void fill_uniform(float* out, int64_t n, uint64_t seed, float scale);

// The same values rounded to bfloat16 (nearest even).
void fill_uniform_bf16(uint16_t* out, int64_t n, uint64_t seed, float scale);

// A [rows, cols] weight matrix (F32, BF16, or I8: the F32 values quantized per row) of uniform
// values with standard deviation 1/sqrt(cols) (scale sqrt(3/cols)), which keeps activations O(1)
// through a layer.
ops::WeightMatrix random_weight_matrix(int64_t rows, int64_t cols, DType dtype, uint64_t seed);

}  // namespace yopo::bench
