// Turning a user's plan specification (the --prune argument of yopo commands) into a plan.
//
// A spec is one of:
//   dense                      no pruning
//   yopo-25 | yopo-12          presets (prune/presets.h); a head mask (head_mask_path) gives
//                              their heads when set
//   PATH                       a JSON plan file (prune/plan_json.h), or a YOPO checkpoint's
//                              config.json (or its directory), detected by its knobs
//                              (prune/yopo_knobs.h); its head mask comes from head_mask_path,
//                              else from a file named as the reference names it
//                              (headmask_7b_16.npy / .json) next to config.json
//   single techniques, for experiments, joined with '+' (applied left to right, to every layer):
//     window:r=R | window:w=W  (window alone: w=5)   visual-visual attention window
//     ffn:ratio=R | ffn:width=N (ffn alone: ratio=2) visual FFN width
//     heads:keep=K[,from=F]    keep heads 0..K-1 in layers >= F (default F=2; layers < F keep
//                              all heads, as the released masks do)
//     heads:mask=FILE | heads  heads from a mask file (.json or .npy) / from head_mask_path
//     layercut:keep=L          layers >= L do no visual work
//   The first part may also be a base (a preset, a plan file or a YOPO config) that the
//   techniques after it modify, e.g. "yopo-25+ffn:ratio=4".
// The semantics argument always sets the plan's semantics (a plan file's "semantics" is used
// only by read_plan_file). A head_mask_path that no part of the spec uses is an error, unless
// `unused` is Ignore (callers that hold one mask for many specs: a sweep, a server); a mask that
// a part does use is read and checked either way.
#pragma once

#include <string>
#include <vector>

#include "models/pruning_plan.h"

namespace yopo {

struct LlamaConfig;

enum class UnusedHeadMask { Error, Ignore };

PruningPlan resolve_plan_spec(const std::string& spec, const LlamaConfig& cfg,
                              PruneSemantics semantics, const std::string& head_mask_path = "",
                              UnusedHeadMask unused = UnusedHeadMask::Error);

// The '+'-separated parts of a spec, in order (one part when it holds no '+').
std::vector<std::string> plan_spec_parts(const std::string& spec);

}  // namespace yopo
