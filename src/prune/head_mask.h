// Visual-head keep masks: keep[layer][head] == 1 means the head stays active for visual tokens.
//
// Two file forms are read and written:
//  - .npy as the YOPO reference releases it: a C-order 2-D array [layers, heads] of bool ('|b1')
//    or integers (0/1);
//  - JSON as in shared/assets/yopo-headmasks: an object with "keep" (layers arrays of heads
//    0/1 or true/false values) and optionally "source" (text), "dtype" (text), "layers",
//    "heads" (checked against "keep") and "kept_per_layer" (checked against the counts of
//    "keep"). Other keys are ignored.
// The form is detected by content (the .npy magic), not by the file name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace yopo {

struct NpyArray;

using HeadMask = std::vector<std::vector<uint8_t>>;  // [layer][head], 1 = keep

// Throws yopo::Error naming the file when it cannot be read or is not a valid mask.
HeadMask read_head_mask(const std::string& path);
// origin names the source in error messages.
HeadMask head_mask_from_json(const nlohmann::json& j, const std::string& origin);
HeadMask head_mask_from_npy(const NpyArray& a, const std::string& origin);

// The JSON form (keys source, dtype, layers, heads, kept_per_layer, keep).
nlohmann::json head_mask_to_json(const HeadMask& mask, const std::string& source = "");
void write_head_mask_json(const std::string& path, const HeadMask& mask,
                          const std::string& source = "");
// A '|b1' array [layers, heads].
void write_head_mask_npy(const std::string& path, const HeadMask& mask);

// Throws unless the mask is rectangular with at least one layer and one head, every value 0/1.
void check_head_mask(const HeadMask& mask, const std::string& origin);
// Throws unless the mask is [n_layers, n_heads].
void check_head_mask_shape(const HeadMask& mask, int64_t n_layers, int64_t n_heads,
                           const std::string& origin);

std::vector<int64_t> kept_per_layer(const HeadMask& mask);
double average_kept_heads(const HeadMask& mask);  // mean of kept_per_layer

}  // namespace yopo
