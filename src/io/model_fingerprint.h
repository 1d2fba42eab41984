// A cheap fingerprint of a model's weights, so that work resumed from a file (yopo eval's answers)
// can tell that it was written with other weights. Not a checksum of every byte: per weight file
// it hashes the name, the size, the first and last 64 KiB and 32 blocks of 4 KiB spread evenly
// over the file, which every retraining or fine-tuning changes, at the cost of a few reads even
// for a 13 GB model.
#pragma once

#include <string>

namespace yopo {

// For a directory: its weight files (*.safetensors, *.gguf, *.bin) and config.json, in name
// order; for a file: that file. Returns 16 hex digits. Throws yopo::Error when the path cannot
// be read or holds no weight file.
std::string model_fingerprint(const std::string& path);

}  // namespace yopo
