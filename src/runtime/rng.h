// A small seeded pseudo-random generator whose output is identical on every platform, compiler
// and standard library: xoshiro256** (Blackman & Vigna) with its state filled by splitmix64.
// The standard <random> distributions are deliberately not used, since their output differs
// between standard library implementations.
#pragma once

#include <array>
#include <cstdint>

#include "core/error.h"

namespace yopo {

// One splitmix64 step: advances `state` by the golden-ratio increment and returns the mixed value.
inline uint64_t splitmix64_next(uint64_t& state) {
  state += 0x9e3779b97f4a7c15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }

  // The four state words are the first four splitmix64 outputs for `seed`.
  void reseed(uint64_t seed) {
    uint64_t sm = seed;
    for (uint64_t& w : s_) w = splitmix64_next(sm);
  }

  // Sets the raw xoshiro256** state (for reproducing reference sequences). All-zero is invalid.
  void set_state(const std::array<uint64_t, 4>& s) {
    check((s[0] | s[1] | s[2] | s[3]) != 0, "Rng: the all-zero xoshiro256** state is invalid");
    s_ = s;
  }
  const std::array<uint64_t, 4>& state() const { return s_; }

  // Next 64-bit output of xoshiro256**.
  uint64_t next_u64() {
    const uint64_t out = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return out;
  }

  // Uniform float in [0, 1) from the top 24 bits of the next output: k * 2^-24, k in [0, 2^24).
  float uniform() { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::array<uint64_t, 4> s_{};
};

}  // namespace yopo
