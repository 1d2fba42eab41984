// Plan specs of the token-pruning baselines (models/token_pruning.h), as --prune takes them:
//   fastv[:K=2,R=0.5]                        prune at layer K, drop the share R
//   pdrop[:layers=8/16/24,lambda=0.5]        stage s keeps floor(lambda^(s+1) · n)
//   pdrop:layers=8/16/24,ratios=0.5/0.25/0.125
//   sparsevlm[:budget=192]                   the authors' keep lists for 192 / 128 / 64 tokens
//                                            (300/200/110, 303/110/36, 66/30/17) after layers
//                                            2, 6 and 15
//   sparsevlm:layers=2/6/15,keep=300/200/110 explicit (layers: the ones whose attention ranks;
//                                            the rows leave after them)
// pdrop's default layers are 8/16/24 for 32 layers, n/4, n/2, 3n/4 (rounded) for n layers.
#pragma once

#include <cstdint>
#include <string>

#include "models/token_pruning.h"

namespace yopo {

// True when the spec names a token-pruning method (its text before ':' is fastv, pdrop or
// sparsevlm).
bool is_token_spec(const std::string& spec);
// Throws yopo::Error naming the spec and what is wrong.
TokenPruning parse_token_spec(const std::string& spec, int64_t n_layers);

}  // namespace yopo
