// The --dtype option of the commands that load a model: weights in memory.
#pragma once

#include <optional>
#include <string>

#include "core/dtype.h"

namespace yopo::cli {

// "auto" (nullopt: f32 files stay f32, others bf16), "bf16", "f32" or "int8" (decoder
// projections in int8 with per-channel scales; embedding, output head, vision tower and
// projector in bf16). Throws yopo::Error for anything else.
std::optional<DType> parse_weight_dtype(const std::string& s);

// "f32", "bf16" or "int8" for the load line.
const char* weight_dtype_name(DType d);

inline constexpr const char* kWeightDtypeHelp =
    "Weights in memory: auto (f32 files stay f32, others bf16), bf16, f32 or int8 (decoder "
    "projections in int8)";

}  // namespace yopo::cli
