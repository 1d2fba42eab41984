#include "io/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_file.h"

namespace yopo {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Same bound as the reference implementation: larger headers are refused as absurd.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct StDType {
  const char* name;
  DType dtype;
  int64_t size;
};

constexpr StDType kSupported[] = {
    {"F32", DType::F32, 4}, {"F16", DType::F16, 2}, {"BF16", DType::BF16, 2},
    {"F64", DType::F64, 8}, {"I8", DType::I8, 1},   {"I16", DType::I16, 2},
    {"I32", DType::I32, 4}, {"I64", DType::I64, 8},
};

const StDType* find_dtype(const std::string& name) {
  for (const StDType& d : kSupported)
    if (name == d.name) return &d;
  return nullptr;
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint64_t(std::to_integer<uint8_t>(p[i]));
  return v;
}

// A JSON value that must be a non-negative integer that fits in int64.
bool as_index(const json& v, int64_t* out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(std::numeric_limits<int64_t>::max())) return false;
    *out = int64_t(u);
    return true;
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < 0) return false;
    *out = i;
    return true;
  }
  return false;
}

// Parses the header, noting the first top-level key that appears twice (JSON parsers keep only
// one of them silently).
json parse_header(std::string_view text, const std::string& path, std::string* duplicate) {
  std::set<std::string> seen;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::key && depth == 1 && parsed.is_string() && duplicate->empty() &&
        !seen.insert(parsed.get<std::string>()).second)
      *duplicate = parsed.get<std::string>();
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), cb);
  } catch (const json::exception& e) {
    fail("safetensors file '", path, "': the header is not valid JSON: ", e.what());
  }
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), file_(path) {
  const std::string where = "safetensors file '" + path + "'";
  const size_t size = file_.size();
  check(size >= 8, where, ": only ", size,
        " bytes; a safetensors file starts with an 8-byte header length");
  const uint64_t header_len = read_u64_le(file_.data());
  check(header_len <= kMaxHeaderBytes, where, ": header length ", header_len, " is absurd (limit ",
        kMaxHeaderBytes, " bytes); is this a safetensors file?");
  check(header_len <= size - 8, where, ": header length ", header_len, " runs past the end of the ",
        size, "-byte file (truncated?)");

  const char* header_text = reinterpret_cast<const char*>(file_.data() + 8);
  std::string duplicate;
  const json header =
      parse_header(std::string_view(header_text, size_t(header_len)), path, &duplicate);
  check(header.is_object(), where, ": the header is a JSON ", header.type_name(),
        ", expected an object");
  check(duplicate.empty(), where, ": the header names '", duplicate, "' twice");

  const std::byte* buffer = file_.data() + 8 + header_len;
  const uint64_t buffer_size = size - 8 - header_len;

  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (info.is_null()) continue;
      check(info.is_object(), where, ": __metadata__ is a JSON ", info.type_name(),
            ", expected an object of strings");
      for (const auto& [key, value] : info.items()) {
        check(value.is_string(), where, ": __metadata__ entry '", key, "' is a JSON ",
              value.type_name(), ", expected a string");
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string at = where + ": tensor '" + name + "'";
    check(info.is_object(), at, ": its entry is a JSON ", info.type_name(), ", expected an object");

    const auto dt = info.find("dtype");
    check(dt != info.end(), at, ": missing \"dtype\"");
    check(dt->is_string(), at, ": \"dtype\" is a JSON ", dt->type_name(), ", expected a string");
    const std::string dtype_str = dt->get<std::string>();
    const StDType* st = find_dtype(dtype_str);
    check(st != nullptr, at, ": dtype '", dtype_str,
          "' is not supported (supported: F32, F16, BF16, F64, I8, I16, I32, I64)");

    const auto sh = info.find("shape");
    check(sh != info.end(), at, ": missing \"shape\"");
    check(sh->is_array(), at, ": \"shape\" is a JSON ", sh->type_name(), ", expected an array");
    RawTensor t;
    t.name = name;
    t.dtype = st->dtype;
    int64_t numel = 1;
    bool overflow = false;
    for (const json& d : *sh) {
      int64_t dim = 0;
      check(as_index(d, &dim), at, ": shape ", sh->dump(),
            " has an entry that is not a non-negative integer");
      t.shape.push_back(dim);
      overflow = overflow || __builtin_mul_overflow(numel, dim, &numel);
    }
    int64_t nbytes = 0;
    overflow = overflow || __builtin_mul_overflow(numel, st->size, &nbytes);
    check(!overflow, at, ": shape ", sh->dump(), " is absurdly large");

    const auto off = info.find("data_offsets");
    check(off != info.end(), at, ": missing \"data_offsets\"");
    check(off->is_array() && off->size() == 2, at, ": \"data_offsets\" is ", off->dump(),
          ", expected [begin, end]");
    int64_t begin = 0, end = 0;
    check(as_index((*off)[0], &begin) && as_index((*off)[1], &end), at, ": \"data_offsets\" ",
          off->dump(), " are not non-negative integers");
    check(begin <= end, at, ": data_offsets begin ", begin, " is after end ", end);
    check(uint64_t(end) <= buffer_size, at, ": data_offsets end ", end,
          " runs past the data buffer (", buffer_size, " bytes; truncated file?)");
    check(end - begin == nbytes, at, ": ", dtype_str, " shape ", sh->dump(), " needs ", nbytes,
          " bytes but data_offsets [", begin, ", ", end, "] span ", end - begin);
    t.data = buffer + begin;
    t.nbytes = size_t(nbytes);
    tensors_.push_back(std::move(t));
  }

  std::stable_sort(tensors_.begin(), tensors_.end(), [](const RawTensor& a, const RawTensor& b) {
    return a.data != b.data ? a.data < b.data : a.nbytes < b.nbytes;
  });
  // Tensors must not share bytes (empty tensors occupy none).
  const RawTensor* prev = nullptr;
  for (const RawTensor& t : tensors_) {
    if (t.nbytes == 0) continue;
    if (prev)
      check(prev->data + prev->nbytes <= t.data, where, ": tensors '", prev->name, "' and '",
            t.name, "' overlap in the data buffer");
    prev = &t;
  }
}

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

// Regular files in dir whose name ends with suffix, sorted.
std::vector<std::string> files_ending_with(const fs::path& dir, std::string_view suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), last; !ec && it != last; it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2) && ends_with(it->path().filename().string(), suffix))
      out.push_back(it->path().string());
  }
  if (ec) fail("cannot list directory '", dir.string(), "': ", ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

SafetensorsModel::SafetensorsModel(const std::string& path_or_dir) {
  std::error_code ec;
  const fs::path p(path_or_dir);
  if (!fs::exists(p, ec)) fail("safetensors model '", path_or_dir, "' does not exist");
  if (!fs::is_directory(p, ec)) {
    if (ends_with(path_or_dir, ".json"))
      open_index(path_or_dir);
    else
      open_single(path_or_dir);
    return;
  }
  if (fs::is_regular_file(p / "model.safetensors", ec)) {
    open_single((p / "model.safetensors").string());
    return;
  }
  if (fs::is_regular_file(p / "model.safetensors.index.json", ec)) {
    open_index((p / "model.safetensors.index.json").string());
    return;
  }
  const std::vector<std::string> indexes = files_ending_with(p, ".safetensors.index.json");
  check(indexes.size() <= 1, "directory '", path_or_dir,
        "' holds several safetensors indexes and no model.safetensors.index.json: ", join(indexes),
        "; name the one to use");
  if (indexes.size() == 1) {
    open_index(indexes[0]);
    return;
  }
  const std::vector<std::string> files = files_ending_with(p, ".safetensors");
  check(!files.empty(), "directory '", path_or_dir, "' holds no .safetensors file");
  check(files.size() == 1, "directory '", path_or_dir,
        "' holds several .safetensors files and no model.safetensors.index.json: ", join(files),
        "; name the one to use");
  open_single(files[0]);
}

void SafetensorsModel::open_single(const std::string& file) {
  shards_.push_back(std::make_unique<SafetensorsFile>(file));
  shard_paths_.push_back(file);
  tensors_ = shards_.back()->tensors();
}

void SafetensorsModel::open_index(const std::string& index_file) {
  const std::string where = "safetensors index '" + index_file + "'";
  const json index = read_json_file(index_file);
  check(index.is_object(), where, ": expected a JSON object");
  const auto wm = index.find("weight_map");
  check(wm != index.end(), where, ": missing \"weight_map\"");
  check(wm->is_object(), where, ": \"weight_map\" is a JSON ", wm->type_name(),
        ", expected an object");
  check(!wm->empty(), where, ": \"weight_map\" is empty");

  std::set<std::string> shard_names;
  for (const auto& [tensor, shard] : wm->items()) {
    check(shard.is_string() && !shard.get<std::string>().empty(), where, ": tensor '", tensor,
          "' maps to ", shard.dump(), ", expected a shard file name");
    shard_names.insert(shard.get<std::string>());
  }

  const fs::path dir = fs::path(index_file).parent_path();
  std::unordered_map<std::string, std::string> owner;  // tensor name -> shard path
  for (const std::string& name : shard_names) {
    const std::string shard_path = (dir / name).string();
    std::unique_ptr<SafetensorsFile> shard;
    try {
      shard = std::make_unique<SafetensorsFile>(shard_path);
    } catch (const Error& e) {
      fail(where, ": shard '", name, "': ", e.what());
    }
    for (const RawTensor& t : shard->tensors()) {
      const auto [it, fresh] = owner.emplace(t.name, shard_path);
      check(fresh, where, ": tensor '", t.name, "' is in two shards: '", it->second, "' and '",
            shard_path, "'");
      tensors_.push_back(t);
    }
    shard_paths_.push_back(shard_path);
    shards_.push_back(std::move(shard));
  }

  for (const auto& [tensor, shard] : wm->items()) {
    const std::string expected = (dir / shard.get<std::string>()).string();
    const auto it = owner.find(tensor);
    check(it != owner.end() && it->second == expected, where, ": tensor '", tensor,
          "' is listed in shard '", shard.get<std::string>(),
          "' but that shard has no such tensor");
  }
}

}  // namespace yopo
