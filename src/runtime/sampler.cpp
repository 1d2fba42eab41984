#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace yopo {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kMax = std::numeric_limits<float>::max();
// First chunk sorted by the incremental top-p sort; it doubles while more are needed.
constexpr size_t kFirstChunk = 64;

// Applies the CTRL / llama.cpp repetition penalty to one logit, keeping it finite.
float penalize(float l, float penalty) {
  const float r = l > 0.0f ? l / penalty : l * penalty;
  return std::clamp(r, -kMax, kMax);
}

}  // namespace

Sampler::Sampler(SamplingParams p) : params_(p), rng_(p.seed) {
  check(!std::isnan(p.temperature) && p.temperature != kInf,
        "SamplingParams: temperature must be a finite number (<= 0 for greedy), got ",
        p.temperature);
  check(std::isfinite(p.top_p) && p.top_p >= 0.0f,
        "SamplingParams: top_p must be a finite number >= 0 (>= 1 disables it), got ", p.top_p);
  check(std::isfinite(p.min_p) && p.min_p >= 0.0f && p.min_p <= 1.0f,
        "SamplingParams: min_p must be in [0, 1] (0 disables it), got ", p.min_p);
  check(std::isfinite(p.repeat_penalty) && p.repeat_penalty > 0.0f,
        "SamplingParams: repeat_penalty must be a finite number > 0 (1 disables it), got ",
        p.repeat_penalty);
  check(p.repeat_last_n >= 0, "SamplingParams: repeat_last_n must be >= 0 (0 disables it), got ",
        p.repeat_last_n);
}

void Sampler::reseed(uint64_t seed) {
  params_.seed = seed;
  rng_.reseed(seed);
}

void Sampler::apply_penalty(Cands c, std::span<const int32_t> history) const {
  const float rp = params_.repeat_penalty;
  if (rp == 1.0f || params_.repeat_last_n == 0) return;
  const size_t window = std::min(history.size(), static_cast<size_t>(params_.repeat_last_n));
  for (int32_t id : history.last(window)) {
    if (id < 0 || static_cast<size_t>(id) >= c.size()) continue;  // e.g. image placeholders
    Candidate& t = c[id];
    // e (still 0 here) flags "already penalized", so each distinct id is penalized once.
    if (t.e != 0.0f || t.logit == -kInf) continue;
    t.e = 1.0f;
    t.logit = penalize(t.logit, rp);
  }
}

void Sampler::select_top_k(Cands c, size_t k) {
  // Heap of the k best so far, its top the one that ranks last. A later candidate with an equal
  // logit has a higher id (c is in id order), so only a strictly greater logit can displace it.
  const auto heap_end = c.begin() + static_cast<ptrdiff_t>(k);
  std::make_heap(c.begin(), heap_end, RanksBefore{});
  float threshold = c.front().logit;
  for (size_t i = k; i < c.size(); ++i) {
    if (c[i].logit <= threshold) continue;
    std::pop_heap(c.begin(), heap_end, RanksBefore{});
    *(heap_end - 1) = c[i];
    std::push_heap(c.begin(), heap_end, RanksBefore{});
    threshold = c.front().logit;
  }
  std::sort_heap(c.begin(), heap_end, RanksBefore{});
}

size_t Sampler::extend_sorted(Cands c, size_t sorted, size_t want) {
  want = std::min(want, c.size());
  if (want <= sorted) return sorted;
  const auto first = c.begin() + static_cast<ptrdiff_t>(sorted);
  const auto mid = c.begin() + static_cast<ptrdiff_t>(want);
  if (mid != c.end()) std::nth_element(first, mid, c.end(), RanksBefore{});
  std::sort(first, mid, RanksBefore{});
  return want;
}

int32_t Sampler::draw(Cands c) {
  // The first token whose cumulative weight exceeds u * total, u uniform in [0, 1).
  double total = 0.0;
  for (const Candidate& t : c) total += t.e;
  const double target = static_cast<double>(rng_.uniform()) * total;
  double cum = 0.0;
  int32_t last_positive = c.front().id;
  for (const Candidate& t : c) {
    cum += t.e;
    if (t.e > 0.0f) last_positive = t.id;
    if (cum > target) return t.id;
  }
  return last_positive;  // not reached: u < 1 and cum ends at total (same summation order)
}

int32_t Sampler::sample(const float* logits, int32_t n_vocab, std::span<const int32_t> history) {
  check(logits != nullptr, "Sampler::sample: the logits row is null");
  check(n_vocab > 0, "Sampler::sample: n_vocab must be > 0, got ", n_vocab);
  const size_t n = static_cast<size_t>(n_vocab);
  if (buf_.size() < n) buf_.resize(n);
  Cands c(buf_.data(), n);

  // Copy in id order and validate: NaN and +inf both fail `l < +inf`; -inf means "never pick".
  bool bad = false;
  for (size_t i = 0; i < n; ++i) {
    const float l = logits[i];
    bad |= !(l < kInf);
    c[i] = {l, 0.0f, static_cast<int32_t>(i)};
  }
  if (bad) {
    for (size_t i = 0; i < n; ++i) {
      check(logits[i] < kInf, "Sampler::sample: logit of token ", i, " is ", logits[i],
            " (NaN and +inf are not allowed; use -inf to exclude a token)");
    }
  }

  // 1. Repetition penalty.
  apply_penalty(c, history);

  // 2. Greedy: argmax, ties to the lowest id.
  if (params_.temperature <= 0.0f) {
    int32_t best = -1;
    float best_logit = -kInf;
    for (const Candidate& t : c) {
      if (t.logit > best_logit) {  // strict: ties keep the lower id
        best = t.id;
        best_logit = t.logit;
      }
    }
    check(best >= 0, "Sampler::sample: every one of the ", n_vocab, " logits is -inf");
    return best;
  }
  c = c.first(static_cast<size_t>(
      std::remove_if(c.begin(), c.end(), [](const Candidate& t) { return t.logit == -kInf; }) -
      c.begin()));
  check(!c.empty(), "Sampler::sample: every one of the ", n_vocab, " logits is -inf");

  // 3. Top-k.
  size_t sorted = 0;  // c[0, sorted) is the head of the ranking, in order
  const size_t k = params_.top_k > 0 ? static_cast<size_t>(params_.top_k) : 0;
  if (k > 0 && k < c.size()) {
    select_top_k(c, k);
    c = c.first(k);
    sorted = k;
  }

  // 4. Softmax with temperature, as unnormalized weights e = exp((l - l_max) / T) and their sum.
  float l_max = -kInf;
  for (const Candidate& t : c) l_max = std::max(l_max, t.logit);
  const float temp = params_.temperature;
  double sum = 0.0;
  for (Candidate& t : c) {
    t.e = std::exp((t.logit - l_max) / temp);
    sum += t.e;
  }

  // 6. Min-p: p / p_max = e. It keeps a prefix of the ranking, so it may go before top-p.
  if (params_.min_p > 0.0f) {
    const float min_p = params_.min_p;
    const auto end =
        std::remove_if(c.begin(), c.end(), [min_p](const Candidate& t) { return t.e < min_p; });
    c = c.first(static_cast<size_t>(end - c.begin()));
    sorted = std::min(sorted, c.size());
  }

  // 5. Top-p over the probabilities of step 4, walking the ranking and sorting on demand.
  if (params_.top_p < 1.0f) {
    const double top_p = params_.top_p;
    double cum = 0.0;
    for (size_t i = 0; i < c.size(); ++i) {
      if (i == sorted) {
        size_t want = std::max(kFirstChunk, 2 * sorted);
        if (sorted > 0 && c[sorted - 1].e > 0.0f) {
          // No remaining token weighs more than the last sorted one: a lower bound on how many
          // more are needed.
          const double more = std::ceil((top_p - cum) * sum / c[sorted - 1].e);
          if (more >= static_cast<double>(c.size())) {
            want = c.size();
          } else {
            want = std::max(want, sorted + static_cast<size_t>(more));
          }
        }
        sorted = extend_sorted(c, sorted, want);
      }
      cum += c[i].e / sum;
      if (cum >= top_p) {
        c = c.first(i + 1);
        break;
      }
    }
  }

  // 7. Renormalize and draw.
  return draw(c);
}

}  // namespace yopo
