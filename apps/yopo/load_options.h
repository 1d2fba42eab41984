// Options shared by the commands that load a model: --dtype (weights in memory) and the LLaVA
// loading options.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "core/dtype.h"
#include "runtime/model_loader.h"

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

// --mmproj, --vision-tower, --tokenizer and --image-mode into o.
void add_llava_load_options(CLI::App* cmd, LlavaLoadOptions& o);

}  // namespace yopo::cli
