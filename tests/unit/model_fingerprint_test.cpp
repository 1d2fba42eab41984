// io/model_fingerprint: what it reads of a model (a file, or a directory's weight files and
// config.json) changes the fingerprint; what it does not read, or cannot read, is reported.
#include "io/model_fingerprint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

namespace fs = std::filesystem;

void write_bytes(const std::string& path, size_t n, unsigned seed) {
  std::vector<char> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = char((i * 2654435761u + seed) >> 13);
  std::ofstream(path, std::ios::binary).write(b.data(), std::streamsize(n));
}

void flip(const std::string& path, std::streamoff at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(at);
  const char c = char(f.get());
  f.seekp(at);
  f.put(char(c ^ 1));
}

TEST(ModelFingerprint, ChangesWithWhatItReads) {
  const std::string dir = test::temp_dir();
  const std::string w = dir + "/model.safetensors";
  write_bytes(w, 1 << 20, 7);
  const std::string a = model_fingerprint(dir);
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(model_fingerprint(dir), a);  // deterministic
  EXPECT_EQ(model_fingerprint(w), a);    // a directory of one weight file reads as that file

  flip(w, 100);  // in the first 64 KiB
  const std::string b = model_fingerprint(dir);
  EXPECT_NE(b, a);
  flip(w, (1 << 20) - 100);  // in the last 64 KiB
  const std::string c = model_fingerprint(dir);
  EXPECT_NE(c, b);
  flip(w, 64 * 1024 + 10);  // in the first sampled 4 KiB block after the head
  const std::string d = model_fingerprint(dir);
  EXPECT_NE(d, c);

  std::ofstream(dir + "/config.json") << "{\"a\": 1}";
  const std::string e = model_fingerprint(dir);
  EXPECT_NE(e, d);
  std::ofstream(dir + "/headmask.json") << "{}";  // not a weight file: ignored
  EXPECT_EQ(model_fingerprint(dir), e);
}

TEST(ModelFingerprint, SmallFilesAreHashedWhole) {
  const std::string dir = test::temp_dir();
  const std::string w = dir + "/m.gguf";
  write_bytes(w, 1000, 3);
  const std::string a = model_fingerprint(w);
  flip(w, 500);
  EXPECT_NE(model_fingerprint(w), a);
}

TEST(ModelFingerprint, NothingToReadIsAnError) {
  const std::string dir = test::temp_dir();
  EXPECT_THROW(model_fingerprint(dir), Error);  // no weight file
  EXPECT_THROW(model_fingerprint(dir + "/absent.gguf"), Error);
}

}  // namespace
}  // namespace yopo
