// The yopo command on real files: generation, tokenization, inspection and clear errors.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/run_command.h"
#include "support/test_paths.h"

namespace yopo::test {
namespace {

// The reference holds the 200 tokens llama2.c samples at positions 0..199 (see
// tests/golden/stories260k_test.cpp).
TEST(Cli, RunStories260KGreedyPrintsReferenceText) {
  YOPO_REQUIRE_ASSET(model, "models/stories260K.gguf");
  YOPO_REQUIRE_ASSET(golden, "models/stories260K.greedy200.txt");
  const CommandResult r = run_command({cli_path(), "run", "-m", model, "-n", "200", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_text(golden));
  EXPECT_NE(r.err.find("tok/s"), std::string::npos) << r.err;
}

TEST(Cli, TokenizeMatchesGoldenIds) {
  YOPO_REQUIRE_ASSET(vocab, "tokenizer/ggml-vocab-llama-spm.gguf");
  // " Hello world" tokenizes to [29871, 15043, 3186] in LLaMA's vocabulary as SentencePiece
  // does it (dummy prefix + the leading space give '▁' then '▁Hello').
  const CommandResult r = run_command({cli_path(), "tokenize", "-m", vocab, "-p", " Hello world"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "29871 15043 3186\n");
  const CommandResult b =
      run_command({cli_path(), "tokenize", "-m", vocab, "-p", "Hello world", "--bos"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(b.out, "1 15043 3186\n");
}

TEST(Cli, InspectListsTensors) {
  YOPO_REQUIRE_ASSET(model, "models/stories260K.gguf");
  const CommandResult r = run_command({cli_path(), "inspect", model});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("GGUF v3"), std::string::npos);
  EXPECT_NE(r.out.find("general.architecture = \"llama\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("token_embd.weight"), std::string::npos);
  EXPECT_NE(r.out.find("[512, 64]"), std::string::npos);
}

// --dtype int8 quantizes the decoder's projections (the numerics are tested in
// tests/model/int8_model_test.cpp); here: the option reaches the loaders of both model kinds and a
// bad value is a clear error.
TEST(Cli, RunInt8WeightsTextAndLlava) {
  YOPO_REQUIRE_ASSET(model, "models/stories260K.gguf");
  YOPO_REQUIRE_ASSET(photo, "images/chelsea.png");
  CommandResult r =
      run_command({cli_path(), "run", "-m", model, "-n", "8", "--temp", "0", "--dtype", "int8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("int8 weights"), std::string::npos) << r.err;
  EXPECT_FALSE(r.out.empty());
  r = run_command({cli_path(), "run", "-m", fixture("tiny_llava/hf"), "--tokenizer",
                   fixture("tiny_llava/gguf/text.gguf"), "--image", photo, "-p", "What is it?",
                   "-n", "4", "--temp", "0", "--dtype", "int8", "--prune", "yopo-12"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("int8 weights"), std::string::npos) << r.err;
  r = run_command({cli_path(), "run", "-m", model, "-n", "4", "--dtype", "q4"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--dtype must be auto, bf16, f32 or int8"), std::string::npos) << r.err;
}

TEST(Cli, BadFilesGiveClearErrors) {
  const std::string dir = temp_dir();
  const std::string missing = dir + "/nope.gguf";
  CommandResult r = run_command({cli_path(), "run", "-m", missing, "-n", "4"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;

  const std::string junk = dir + "/junk.gguf";
  std::ofstream(junk) << "GGUF\x03garbage";
  r = run_command({cli_path(), "run", "-m", junk, "-n", "4"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error:"), std::string::npos) << r.err;
  r = run_command({cli_path(), "inspect", junk});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error:"), std::string::npos) << r.err;
}

TEST(Cli, TruncatedRealModelFailsCleanly) {
  YOPO_REQUIRE_ASSET(model, "models/stories260K.gguf");
  const std::string bytes = read_text(model);
  const std::string dir = temp_dir();
  for (size_t cut : {size_t(10), size_t(100), size_t(5000), bytes.size() / 2, bytes.size() - 1}) {
    const std::string path = dir + "/cut.gguf";
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(cut));
    const CommandResult r = run_command({cli_path(), "run", "-m", path, "-n", "2"});
    EXPECT_EQ(r.exit_code, 1) << "cut at " << cut;
    EXPECT_NE(r.err.find("error:"), std::string::npos) << "cut at " << cut << ": " << r.err;
  }
}

}  // namespace
}  // namespace yopo::test
