// Token sampler: picks the next token id from a row of logits.
//
// Order of operations in Sampler::sample():
//   1. Repetition penalty (CTRL / llama.cpp style): every distinct token id among the last
//      repeat_last_n entries of `history` is penalized once: a logit > 0 is divided by
//      repeat_penalty, any other logit is multiplied by it. Ids outside [0, n_vocab) in the
//      history (e.g. image placeholders) are skipped.
//   2. temperature <= 0: greedy. Returns the argmax of the penalized logits, ties to the lowest
//      id; steps 3-7 are skipped and the random generator is not advanced.
//   3. Top-k (top_k > 0): keep the k tokens with the highest penalized logits.
//   4. Softmax with temperature over the remaining tokens: p_i = exp((l_i - l_max) / T) / sum.
//   5. Top-p (top_p < 1): keep the smallest set of highest-probability tokens whose cumulative
//      probability is >= top_p (at least one token).
//   6. Min-p (min_p > 0): drop tokens with p < min_p * p_max.
//   7. Renormalize the survivors and draw one with the seeded generator (runtime/rng.h): one
//      uniform u in [0,1) per call, the token whose cumulative-probability interval holds u.
//
// Ranking: tokens are ranked by penalized logit, higher first, ties broken by the lower id, so
// the result is deterministic for a given seed, parameters, logits and history. (Steps 5 and 6
// both keep a prefix of that ranking, so they commute; the implementation applies min-p first
// to shorten the sort.)
//
// Logits: -inf is allowed and means "never pick this token". NaN and +inf are rejected with
// yopo::Error, as is a row in which every logit is -inf.
//
// Cost: no allocation per call once the scratch buffer has grown to n_vocab. Top-k is a single
// pass with a k-element heap (most tokens cost one comparison), with no sort of the rest; top-p
// without top-k sorts the candidates incrementally, only as far as the cumulative probability
// requires. Every order the draw depends on is canonical (ranking or id order), so results do not
// depend on the standard library's sort/selection algorithms.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/rng.h"

namespace yopo {

// Parameters; the constructor of Sampler rejects nonsense values with yopo::Error.
struct SamplingParams {
  float temperature = 0.8f;     // <= 0: greedy (argmax). Must not be NaN or +inf.
  int32_t top_k = 40;           // <= 0: off.
  float top_p = 0.95f;          // >= 1: off. Must be finite and >= 0 (0 keeps the top token).
  float min_p = 0.05f;          // 0: off. Must be in [0, 1].
  float repeat_penalty = 1.0f;  // 1: off. Must be finite and > 0 (< 1 favours repeats).
  int32_t repeat_last_n = 64;   // History window for the penalty; 0: off. Must be >= 0.
  uint64_t seed = 0xC0FFEE;     // Seed of the generator.
};

class Sampler {
 public:
  explicit Sampler(SamplingParams p);

  // Picks the next token from logits[n_vocab]; `history` holds the previous prompt/generated
  // tokens, oldest first (only used by the repetition penalty). Throws yopo::Error for a null
  // row, n_vocab <= 0, a NaN or +inf logit, or a row with no finite logit.
  int32_t sample(const float* logits, int32_t n_vocab, std::span<const int32_t> history);

  const SamplingParams& params() const { return params_; }

  // Restarts the random sequence as if constructed with `seed` (params().seed is updated).
  void reseed(uint64_t seed);

 private:
  struct Candidate {
    float logit;  // penalized logit
    float e;      // exp((logit - l_max) / T), in [0, 1]; the best token has e = 1
    int32_t id;
  };
  using Cands = std::span<Candidate>;

  // Ranking order: higher logit first, ties to the lower id (a function object, so that the
  // sort and selection algorithms inline it).
  struct RanksBefore {
    bool operator()(const Candidate& a, const Candidate& b) const {
      return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    }
  };
  void apply_penalty(Cands c, std::span<const int32_t> history) const;
  // Moves the k best candidates, in ranking order, to c[0, k); c must be in id order.
  static void select_top_k(Cands c, size_t k);
  // Makes c[0, want) the best `want` candidates in ranking order, given that c[0, sorted)
  // already is; returns the new sorted length.
  static size_t extend_sorted(Cands c, size_t sorted, size_t want);
  int32_t draw(Cands c);

  SamplingParams params_;
  Rng rng_;
  std::vector<Candidate> buf_;  // scratch, grown to n_vocab once
};

}  // namespace yopo
