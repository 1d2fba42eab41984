// `yopo calibrate` end to end on the committed tiny LLaVA fixture (2 layers of 4 heads): outputs
// written, the mask loadable by prune/head_mask.h and by `yopo run --prune`, missing images and
// broken lines reported with their line and skipped, option errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "prune/head_mask.h"
#include "support/run_command.h"
#include "support/test_paths.h"

namespace yopo::test {
namespace {

namespace fs = std::filesystem;

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// A POPE-style question file: line 1 chelsea, line 2 a missing image, line 3 grace_hopper.
std::string write_questions(const std::string& dir) {
  const std::string path = dir + "/questions.jsonl";
  std::ofstream out(path);
  out << R"({"question_id": 1, "image": "chelsea.png", "text": "Is there a cat in the image?"})"
      << "\n"
      << R"({"question_id": 2, "image": "no_such_image.png", "text": "Is there a dog?"})"
      << "\n"
      << R"({"question_id": 3, "image": "grace_hopper.jpg", "text": "Is there a person?"})"
      << "\n";
  return path;
}

TEST(CalibrateCli, WritesLoadableMaskAndProfile) {
  YOPO_REQUIRE_ASSET(chelsea, "images/chelsea.png");
  YOPO_REQUIRE_ASSET(hopper, "images/grace_hopper.jpg");
  YOPO_REQUIRE_ASSET(tokenizer, "tokenizer/stories260K-tok512.model");
  const std::string dir = temp_dir();
  const std::string questions = write_questions(dir);
  const std::string images = fs::path(chelsea).parent_path().string();
  const std::string prefix = dir + "/out/mask";
  const std::string model = fixture("tiny_llava/hf");
  const CommandResult r = run_command(
      {cli_path(), "calibrate", "-m", model, "--questions", questions, "--images", images,
       "--tokenizer", tokenizer, "--samples", "5", "--alpha", "0.5", "--out", prefix, "-t", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The missing image is reported with file and line, and skipped; the other two are used.
  EXPECT_TRUE(has(r.err, questions + ":2:")) << r.err;
  EXPECT_TRUE(has(r.err, "no_such_image.png")) << r.err;
  EXPECT_TRUE(has(r.err, "skipped")) << r.err;
  EXPECT_TRUE(has(r.err, "sample 1/5")) << r.err;
  EXPECT_TRUE(has(r.err, "sample 2/5")) << r.err;
  EXPECT_FALSE(has(r.err, "sample 3/5")) << r.err;
  EXPECT_TRUE(has(r.out, "samples: 2")) << r.out;
  EXPECT_TRUE(has(r.out, "alpha: 0.5")) << r.out;

  for (const char* suffix : {".npy", ".json", "-profile.csv", "-profile.svg"})
    EXPECT_TRUE(fs::is_regular_file(prefix + suffix)) << prefix + suffix;
  // Both mask forms load with the model's [layers, heads] shape; 2 layers: all kept.
  const HeadMask json_mask = read_head_mask(prefix + ".json");
  EXPECT_NO_THROW(check_head_mask_shape(json_mask, 2, 4, "calibrated mask"));
  EXPECT_EQ(read_head_mask(prefix + ".npy"), json_mask);
  EXPECT_EQ(average_kept_heads(json_mask), 4.0);

  // Profile: a header and one row per layer.
  const std::string csv = read_text(prefix + "-profile.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "layer,visual_share,mean_ratio,kept_heads");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3) << csv;
  EXPECT_TRUE(has(csv, "\n0,")) << csv;
  EXPECT_TRUE(has(csv, "\n1,")) << csv;
  EXPECT_TRUE(has(read_text(prefix + "-profile.svg"), "</svg>"));

  // The mask drives a pruned run.
  for (const auto& prune :
       {std::vector<std::string>{"--prune", "heads:mask=" + prefix + ".json"},
        std::vector<std::string>{"--prune", "yopo-12", "--head-mask", prefix + ".npy"}}) {
    std::vector<std::string> args = {
        cli_path(),    "run",         "-m",      model, "--image", chelsea, "-p",
        "What is it?", "--tokenizer", tokenizer, "-n",  "2",       "-t",    "1"};
    args.insert(args.end(), prune.begin(), prune.end());
    const CommandResult run = run_command(args);
    EXPECT_EQ(run.exit_code, 0) << run.err;
  }
}

TEST(CalibrateCli, TargetHeadsAndBrokenLine) {
  YOPO_REQUIRE_ASSET(chelsea, "images/chelsea.png");
  YOPO_REQUIRE_ASSET(tokenizer, "tokenizer/stories260K-tok512.model");
  const std::string dir = temp_dir();
  const std::string questions = dir + "/q.jsonl";
  {
    std::ofstream out(questions);
    out << R"({"question_id": "a", "image": "chelsea.png", "text": "Is there a cat?"})"
        << "\n"
        << "{not json\n";
  }
  const std::string prefix = dir + "/t";
  const CommandResult r =
      run_command({cli_path(), "calibrate", "-m", fixture("tiny_llava/hf"), "--questions",
                   questions, "--images", fs::path(chelsea).parent_path().string(), "--tokenizer",
                   tokenizer, "--target-heads", "3", "--out", prefix, "-t", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.err, questions + ":2:")) << r.err;  // the broken line, reported
  EXPECT_TRUE(has(r.out, "target: 3 heads per layer")) << r.out;
  // Two layers are always kept whole: 4 heads per layer is the only reachable average.
  EXPECT_TRUE(has(r.out, "average kept heads per layer: 4.0000")) << r.out;
  EXPECT_EQ(average_kept_heads(read_head_mask(prefix + ".json")), 4.0);
}

TEST(CalibrateCli, Errors) {
  // The GGUF layout carries its tokenizer: no shared asset is needed.
  const std::string dir = temp_dir();
  const std::string model = fixture("tiny_llava/gguf/text.gguf");
  const std::string mmproj = fixture("tiny_llava/gguf/mmproj.gguf");
  const std::string questions = write_questions(dir);
  // Neither --alpha nor --target-heads.
  CommandResult r = run_command({cli_path(), "calibrate", "-m", model, "--mmproj", mmproj,
                                 "--questions", questions, "--images", dir, "--out", dir + "/x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "--alpha")) << r.err;
  // Both.
  r = run_command({cli_path(), "calibrate", "-m", model, "--mmproj", mmproj, "--questions",
                   questions, "--images", dir, "--alpha", "1", "--target-heads", "2", "--out",
                   dir + "/x"});
  EXPECT_NE(r.exit_code, 0);
  // No usable question: every image is missing.
  r = run_command({cli_path(), "calibrate", "-m", model, "--mmproj", mmproj, "--questions",
                   questions, "--images", dir, "--alpha", "1", "--out", dir + "/x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "nothing to calibrate")) << r.err;
  EXPECT_TRUE(has(r.err, questions + ":1:")) << r.err;
  // Bad --min-active, missing images directory.
  r = run_command({cli_path(), "calibrate", "-m", model, "--mmproj", mmproj, "--questions",
                   questions, "--images", dir, "--alpha", "1", "--min-active", "2", "--out",
                   dir + "/x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "--min-active")) << r.err;
  r = run_command({cli_path(), "calibrate", "-m", model, "--mmproj", mmproj, "--questions",
                   questions, "--images", dir + "/nope", "--alpha", "1", "--out", dir + "/x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "is not a directory")) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/x.json"));
}

}  // namespace
}  // namespace yopo::test
