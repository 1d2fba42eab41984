// The computations token-pruning baselines rank and merge visual rows with (models/
// token_pruning.h): head-averaged attention probabilities, top-k with a fixed tie rule,
// SparseVLM's text raters and its density-peak k-NN token merging.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/attention.h"

namespace yopo::tokens {

// Causal softmax attention probabilities averaged over the query heads (GQA: query head h reads
// KV head h / (H / KV)). q: nq rows (after RoPE, row stride ldq); query i sees keys
// [0, limit[i]) of k (n_keys rows after RoPE, row stride ldk). Returns [nq, n_keys] row-major,
// zero beyond each limit. Softmax in double.
std::vector<double> head_mean_attention(const float* q, int64_t nq, int64_t ldq,
                                        const int64_t* limit, const float* k, int64_t n_keys,
                                        int64_t ldk, const ops::AttentionShape& shape, float scale);

// Indices of the k largest scores, the higher score first and equal scores the lower index
// first, returned in that ranking order.
std::vector<int64_t> top_k(const std::vector<double>& scores, int64_t k);

// SparseVLM's raters among nt text rows: score_j = mean over the nv visual rows of
// softmax_j(v_i · t_j) (no scaling); rows with score above the mean score, ascending.
std::vector<int64_t> sparsevlm_raters(const float* visual, int64_t nv, const float* text,
                                      int64_t nt, int64_t dim, int64_t ld);

// Density-peak k-NN clustering of n rows of x (dim columns, row stride ld) into `clusters`
// clusters, returning the cluster means [clusters, dim] in the order the centers were chosen:
//   dist(i,j) = |x_i - x_j| / sqrt(dim); density_i = exp(-mean of the `clusters` smallest
//   dist(i,·)² (itself included)); delta_i = min dist(i,j) over denser j (density ties: the
//   lower index counts as denser), or the largest distance when none is denser; centers = the
//   `clusters` rows with the largest delta·density (ties: lower index); each row joins its
//   nearest center (ties: the center chosen first), a center always itself.
std::vector<float> cluster_merge(const float* x, int64_t n, int64_t dim, int64_t ld,
                                 int64_t clusters);

}  // namespace yopo::tokens
