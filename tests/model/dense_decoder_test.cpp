// The dense decoder and its KV cache against the naive reference (tests/support/random_llama.cpp:
// plain loops in double, the whole sequence recomputed, no cache): a prompt prefilled in two
// batches (logits of every row), then 8 greedy decode steps, on tiny random GQA and MHA models.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <ostream>
#include <string>

#include "models/llama.h"
#include "support/random_llama.h"

namespace yopo {
namespace {

using test::PromptShape;
using test::RandomLlama;
using test::RandomLlamaSpec;

// Max abs logit error, relative to max(1, max |logit|) of the row: float32 engine vs double.
constexpr double kTol = 1e-5;
constexpr int kDecodeSteps = 8;

struct DenseCase {
  std::string name;
  RandomLlamaSpec spec;
  PromptShape prompt;
  int64_t split;  // rows in the first prefill batch
};

std::vector<DenseCase> dense_cases() {
  const RandomLlamaSpec gqa{80, 8, 2, 12, 3, 160, 97, 23};
  const RandomLlamaSpec mha{64, 4, 4, 16, 3, 96, 97, 11};
  const PromptShape p7{3, 7, 7, 4}, p6{5, 6, 6, 4};
  return {{"gqa_split1", gqa, p7, 1},
          {"gqa_split_in_image", gqa, p7, 20},
          {"gqa_split_last", gqa, p7, 55},
          {"mha_split_in_image", mha, p6, 17},
          {"mha_split_prefix", mha, p6, 4}};
}

void PrintTo(const DenseCase& c, std::ostream* os) {
  *os << c.name;
}

double row_error(const float* engine, const double* ref, int64_t n) {
  double e = 0, m = 0;
  for (int64_t i = 0; i < n; ++i) {
    e = std::max(e, std::fabs(double(engine[i]) - ref[i]));
    m = std::max(m, std::fabs(ref[i]));
  }
  return e / std::max(1.0, m);
}

class DenseDecoder : public ::testing::TestWithParam<DenseCase> {};

TEST_P(DenseDecoder, SplitPrefillAndDecodeMatchNaiveReference) {
  const DenseCase& dc = GetParam();
  const RandomLlama rm = test::make_random_llama(dc.spec);
  const LlamaModel model = rm.engine_model();
  const int64_t n0 = dc.prompt.total(), d = rm.cfg.dim, V = rm.cfg.vocab_size;
  ASSERT_GT(dc.split, 0);
  ASSERT_LT(dc.split, n0);
  const std::vector<float> prompt = test::random_prompt(rm, dc.prompt, 9);
  // The layout is passed but, without a plan, changes nothing.
  const TokenLayout layout = dc.prompt.layout();
  TokenLayout second = layout;
  for (VisualSegment& s : second.images) s.start -= dc.split;  // indices into the batch
  if (!second.images.empty() && second.images[0].start < 0) second.images.clear();
  TokenLayout first = layout;
  if (first.images[0].end() > dc.split) first.images.clear();

  ops::Context ctx(2);
  KvCache cache = model.make_cache(n0 + kDecodeSteps);
  std::vector<int32_t> pos(static_cast<size_t>(n0 + kDecodeSteps));
  std::iota(pos.begin(), pos.end(), 0);

  std::vector<float> got = model.forward(ctx, cache,
                                         {prompt.data(), dc.split, pos.data(), &first,
                                          /*all_logits=*/true});
  EXPECT_EQ(cache.size(), dc.split);
  const std::vector<float> got2 = model.forward(
      ctx, cache,
      {prompt.data() + dc.split * d, n0 - dc.split, pos.data() + dc.split, &second, true});
  got.insert(got.end(), got2.begin(), got2.end());
  EXPECT_EQ(cache.size(), n0);
  ASSERT_EQ(int64_t(got.size()), n0 * V);

  std::vector<float> seq = prompt;
  std::vector<double> ref = test::reference_logits(rm, seq.data(), n0, TokenLayout{}, nullptr);
  double worst = 0;
  for (int64_t i = 0; i < n0; ++i) {
    const double e = row_error(&got[size_t(i * V)], &ref[size_t(i * V)], V);
    worst = std::max(worst, e);
    EXPECT_LE(e, kTol) << "prefill row " << i << " (batch " << (i < dc.split ? 1 : 2) << ")";
  }
  for (int s = 0; s < kDecodeSteps; ++s) {
    const int64_t n = n0 + s;
    const int32_t tok = test::argmax_row(ref, V, n - 1);
    seq.insert(seq.end(), rm.embedding_row(tok), rm.embedding_row(tok) + d);
    const std::vector<float> l =
        model.forward(ctx, cache, {rm.embedding_row(tok), 1, pos.data() + n, nullptr, false});
    EXPECT_EQ(cache.size(), n + 1);
    ASSERT_EQ(int64_t(l.size()), V);
    ref = test::reference_logits(rm, seq.data(), n + 1, TokenLayout{}, nullptr);
    const double e = row_error(l.data(), &ref[size_t(n * V)], V);
    worst = std::max(worst, e);
    EXPECT_LE(e, kTol) << "decode step " << s + 1 << " (token " << tok << ")";
  }
  std::printf("[ measured ] %s: worst relative logit error %.3g\n", dc.name.c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(Shapes, DenseDecoder, ::testing::ValuesIn(dense_cases()),
                         [](const ::testing::TestParamInfo<DenseCase>& i) { return i.param.name; });

// The reference itself is causal: appending rows leaves the logits of earlier rows unchanged
// (which the decode comparison above relies on).
TEST(DenseReference, IsCausal) {
  const RandomLlama rm = test::make_random_llama({80, 8, 2, 12, 3, 160, 97, 23});
  const PromptShape p{3, 7, 7, 4};
  const std::vector<float> prompt = test::random_prompt(rm, p, 9);
  const int64_t n = p.total(), V = rm.cfg.vocab_size;
  const auto all = test::reference_logits(rm, prompt.data(), n, TokenLayout{}, nullptr);
  const auto part = test::reference_logits(rm, prompt.data(), n - 7, TokenLayout{}, nullptr);
  for (int64_t i = 0; i < (n - 7) * V; ++i) ASSERT_EQ(all[size_t(i)], part[size_t(i)]) << i;
}

}  // namespace
}  // namespace yopo
