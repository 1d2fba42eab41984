#include "prune/head_mask.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_file.h"
#include "io/npy.h"

namespace yopo {

namespace {

bool starts_with_npy_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open head mask file '", path, "': ", std::strerror(errno));
  char magic[6] = {};
  in.read(magic, sizeof(magic));
  return in.gcount() == 6 && std::memcmp(magic, "\x93NUMPY", 6) == 0;
}

int64_t json_count(const nlohmann::json& j, const char* key, const std::string& origin) {
  const nlohmann::json& v = j.at(key);
  check(v.is_number_integer(), origin, ": '", key, "' must be an integer, not ", v.type_name());
  return v.get<int64_t>();
}

}  // namespace

void check_head_mask(const HeadMask& mask, const std::string& origin) {
  check(!mask.empty(), origin, ": the head mask has no layers");
  check(!mask[0].empty(), origin, ": the head mask has no heads (layer 0 is empty)");
  for (size_t l = 0; l < mask.size(); ++l) {
    check(mask[l].size() == mask[0].size(), origin, ": layer ", l, " of the head mask has ",
          mask[l].size(), " heads but layer 0 has ", mask[0].size());
    for (size_t h = 0; h < mask[l].size(); ++h)
      check(mask[l][h] <= 1, origin, ": layer ", l, ", head ", h, " has value ", int(mask[l][h]),
            " (must be 0 or 1)");
  }
}

void check_head_mask_shape(const HeadMask& mask, int64_t n_layers, int64_t n_heads,
                           const std::string& origin) {
  check_head_mask(mask, origin);
  check(int64_t(mask.size()) == n_layers && int64_t(mask[0].size()) == n_heads, origin,
        ": the head mask is [", mask.size(), " layers, ", mask[0].size(),
        " heads] but the model has ", n_layers, " layers of ", n_heads, " heads");
}

HeadMask head_mask_from_json(const nlohmann::json& j, const std::string& origin) {
  check(j.is_object(), origin, ": a head mask must be a JSON object with a 'keep' array");
  check(j.contains("keep"), origin, ": the head mask has no 'keep' key");
  const nlohmann::json& keep = j["keep"];
  check(keep.is_array() && !keep.empty(), origin,
        ": 'keep' must be a non-empty array of layers (one array of heads each)");
  HeadMask mask;
  for (size_t l = 0; l < keep.size(); ++l) {
    const nlohmann::json& row = keep[l];
    check(row.is_array(), origin, ": keep[", l, "] must be an array of heads, not ",
          row.type_name());
    std::vector<uint8_t> r;
    for (size_t h = 0; h < row.size(); ++h) {
      const nlohmann::json& v = row[h];
      if (v.is_boolean()) {
        r.push_back(v.get<bool>() ? 1 : 0);
      } else if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) {
        r.push_back(uint8_t(v.get<int64_t>()));
      } else {
        fail(origin, ": keep[", l, "][", h, "] is ", v.dump(), " (must be 0, 1, true or false)");
      }
    }
    mask.push_back(std::move(r));
  }
  check_head_mask(mask, origin);
  if (j.contains("layers"))
    check(json_count(j, "layers", origin) == int64_t(mask.size()), origin, ": 'layers' says ",
          j["layers"].dump(), " but 'keep' has ", mask.size(), " layers");
  if (j.contains("heads"))
    check(json_count(j, "heads", origin) == int64_t(mask[0].size()), origin, ": 'heads' says ",
          j["heads"].dump(), " but 'keep' has ", mask[0].size(), " heads per layer");
  if (j.contains("kept_per_layer")) {
    const nlohmann::json& k = j["kept_per_layer"];
    check(k.is_array() && k.size() == mask.size(), origin,
          ": 'kept_per_layer' must be an array of ", mask.size(), " counts");
    const std::vector<int64_t> counts = kept_per_layer(mask);
    for (size_t l = 0; l < counts.size(); ++l)
      check(k[l].is_number_integer() && k[l].get<int64_t>() == counts[l], origin,
            ": kept_per_layer[", l, "] says ", k[l].dump(), " but keep[", l, "] keeps ", counts[l],
            " heads");
  }
  return mask;
}

HeadMask head_mask_from_npy(const NpyArray& a, const std::string& origin) {
  check(a.shape.size() == 2, origin, ": a head mask array must be 2-D [layers, heads], not ",
        a.shape.size(), "-D");
  const char kind = a.descr.size() >= 2 ? a.descr[1] : '?';
  check(kind == 'b' || kind == 'i' || kind == 'u', origin, ": head mask dtype '", a.descr,
        "' is not bool or integer");
  HeadMask mask(size_t(a.shape[0]), std::vector<uint8_t>(size_t(a.shape[1])));
  for (int64_t l = 0; l < a.shape[0]; ++l)
    for (int64_t h = 0; h < a.shape[1]; ++h) {
      const double v = a.values[size_t(l * a.shape[1] + h)];
      check(v == 0 || v == 1, origin, ": element [", l, ", ", h, "] is ", v, " (must be 0 or 1)");
      mask[size_t(l)][size_t(h)] = uint8_t(v);
    }
  check_head_mask(mask, origin);
  return mask;
}

HeadMask read_head_mask(const std::string& path) {
  const std::string origin = "head mask '" + path + "'";
  if (starts_with_npy_magic(path)) return head_mask_from_npy(read_npy(path), origin);
  return head_mask_from_json(read_json_file(path), origin);
}

std::vector<int64_t> kept_per_layer(const HeadMask& mask) {
  std::vector<int64_t> out;
  for (const auto& row : mask) {
    int64_t n = 0;
    for (uint8_t k : row) n += k ? 1 : 0;
    out.push_back(n);
  }
  return out;
}

double average_kept_heads(const HeadMask& mask) {
  if (mask.empty()) return 0;
  double sum = 0;
  for (int64_t k : kept_per_layer(mask)) sum += double(k);
  return sum / double(mask.size());
}

nlohmann::json head_mask_to_json(const HeadMask& mask, const std::string& source) {
  check_head_mask(mask, "head mask to write");
  nlohmann::json j = nlohmann::json::object();
  j["source"] = source;
  j["dtype"] = "|b1";
  j["layers"] = mask.size();
  j["heads"] = mask[0].size();
  j["kept_per_layer"] = kept_per_layer(mask);
  nlohmann::json keep = nlohmann::json::array();
  for (const auto& row : mask) {
    nlohmann::json r = nlohmann::json::array();
    for (uint8_t k : row) r.push_back(int(k));
    keep.push_back(std::move(r));
  }
  j["keep"] = std::move(keep);
  return j;
}

void write_head_mask_json(const std::string& path, const HeadMask& mask,
                          const std::string& source) {
  const std::string text = head_mask_to_json(mask, source).dump() + "\n";
  std::ofstream out(path, std::ios::binary);
  if (!out) fail("cannot create head mask file '", path, "': ", std::strerror(errno));
  out << text;
  out.close();
  if (!out) fail("cannot write head mask file '", path, "'");
}

void write_head_mask_npy(const std::string& path, const HeadMask& mask) {
  check_head_mask(mask, "head mask to write");
  std::vector<uint8_t> flat;
  for (const auto& row : mask) flat.insert(flat.end(), row.begin(), row.end());
  write_npy_bool(path, {int64_t(mask.size()), int64_t(mask[0].size())}, flat);
}

}  // namespace yopo
