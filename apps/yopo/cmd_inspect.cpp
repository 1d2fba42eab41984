// `yopo inspect FILE`: metadata and tensor table of a GGUF or safetensors file.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "runtime/model_loader.h"

namespace yopo::cli {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

void print_tensors(const TensorSource& src) {
  size_t total = 0;
  std::printf("%-48s %-6s %-22s %12s\n", "tensor", "type", "shape", "bytes");
  for (const RawTensor& t : src.tensors()) {
    std::printf("%-48s %-6s %-22s %12zu\n", t.name.c_str(), dtype_name(t.dtype),
                shape_str(t.shape).c_str(), t.nbytes);
    total += t.nbytes;
  }
  std::printf("%zu tensors, %.2f MiB\n", src.tensors().size(), double(total) / (1 << 20));
}

int inspect(const std::string& path, size_t max_items) {
  if (is_gguf_file(path)) {
    GgufFile f(path);
    std::printf("GGUF v%u, alignment %zu, %zu metadata keys, %zu tensors\n", f.version(),
                f.alignment(), f.metadata().size(), f.tensors().size());
    for (const auto& [key, value] : f.metadata())
      std::printf("  %s = %s\n", key.c_str(), format_gguf_value(value, max_items).c_str());
    print_tensors(f);
    for (const auto& [name, type] : f.unsupported_tensors())
      std::printf("%-48s %-6s (type not supported by yopo)\n", name.c_str(), type.c_str());
    return 0;
  }
  SafetensorsModel st(path);
  std::printf("safetensors, %zu shard(s)\n", st.shard_paths().size());
  print_tensors(st);
  return 0;
}

}  // namespace

void add_inspect_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("inspect", "Print the metadata and tensors of a model file");
  auto path = std::make_shared<std::string>();
  auto items = std::make_shared<size_t>(8);
  cmd->add_option("file", *path, "GGUF file, safetensors file or model directory")->required();
  cmd->add_option("--array-items", *items, "Array elements shown per metadata value");
  cmd->callback([&action, path, items] { action = [path, items] { return inspect(*path, *items); }; });
}

}  // namespace yopo::cli
