#include "io/model_fingerprint.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "core/fnv1a.h"

namespace yopo {

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kEnds = 64 * 1024, kBlock = 4 * 1024, kBlocks = 32;

bool is_weight_file(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".safetensors" || ext == ".gguf" || ext == ".bin" || p.filename() == "config.json";
}

uint64_t hash_range(std::ifstream& f, uint64_t offset, uint64_t n, uint64_t h,
                    const std::string& path) {
  std::vector<char> buf(static_cast<size_t>(n));
  f.seekg(static_cast<std::streamoff>(offset));
  f.read(buf.data(), static_cast<std::streamsize>(n));
  if (!f) fail("cannot read ", n, " bytes at offset ", offset, " of '", path, "'");
  return fnv1a(buf.data(), buf.size(), h);
}

uint64_t hash_file(const fs::path& p, uint64_t h) {
  const std::string path = p.string();
  std::error_code ec;
  const uint64_t size = fs::file_size(p, ec);
  if (ec) fail("cannot read the size of '", path, "': ", ec.message());
  std::ifstream f(p, std::ios::binary);
  if (!f) fail("cannot open '", path, "'");
  const std::string head = p.filename().string() + '\x1f' + std::to_string(size);
  h = fnv1a(head, h);
  if (size <= 2 * kEnds) return hash_range(f, 0, size, h, path);
  h = hash_range(f, 0, kEnds, h, path);
  for (uint64_t i = 0; i < kBlocks; ++i) {
    const uint64_t span = size - 2 * kEnds - kBlock;
    h = hash_range(f, kEnds + span * i / (kBlocks - 1), kBlock, h, path);
  }
  return hash_range(f, size - kEnds, kEnds, h, path);
}

}  // namespace

std::string model_fingerprint(const std::string& path) {
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(path, ec)) {
    for (const fs::directory_entry& e : fs::directory_iterator(path, ec))
      if (e.is_regular_file() && is_weight_file(e.path())) files.push_back(e.path());
    if (ec) fail("cannot list '", path, "': ", ec.message());
    std::sort(files.begin(), files.end());
    check(!files.empty(), "'", path, "' holds no weight file to fingerprint");
  } else {
    check(fs::is_regular_file(path, ec), "'", path, "' is not a model file or directory");
    files.push_back(path);
  }
  uint64_t h = kFnv1aBasis;
  for (const fs::path& p : files) h = hash_file(p, h);
  return hex16(h);
}

}  // namespace yopo
