// `yopo eval` end to end with the tiny random LLaVA fixture on the pope-photos questions: LLaVA's
// answers jsonl, resumption, bad lines and missing images reported with their line, sweeps.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/run_command.h"
#include "support/test_paths.h"

namespace yopo::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_text(path));
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::string pope_photos(const std::string& file) {
  return fs::weakly_canonical(fixture("../../data/pope-photos/" + file)).string();
}

// The eval command on the tiny model (its tokenizer comes from the GGUF layout's vocabulary).
std::vector<std::string> eval_args(const std::string& questions, const std::string& images) {
  return {cli_path(),
          "eval",
          "--task",
          "pope",
          "-m",
          fixture("tiny_llava/hf"),
          "--tokenizer",
          fixture("tiny_llava/gguf/text.gguf"),
          "--questions",
          questions,
          "--images",
          images,
          "--max-new-tokens",
          "4",
          "-t",
          "1"};
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(EvalCli, AnswersInLlavasFormatAndResumes) {
  YOPO_REQUIRE_ASSET(images, "images");
  const std::string dir = temp_dir();
  const std::string out = dir + "/answers.jsonl";
  const auto base = eval_args(pope_photos("questions.jsonl"), images);

  CommandResult r = run_command(with(base, {"--answers", out, "--limit", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> first = lines_of(out);
  ASSERT_EQ(first.size(), 2u);
  for (size_t i = 0; i < first.size(); ++i) {
    const json j = json::parse(first[i]);
    EXPECT_TRUE(j["question_id"].is_number_integer()) << first[i];
    EXPECT_EQ(j["question_id"].get<int>(), int(i) + 1);
    EXPECT_EQ(j["prompt"], i == 0 ? "Is there a cat in the image?\nAnswer the question using a "
                                    "single word or phrase."
                                  : "Is there an airplane in the image?\nAnswer the question "
                                    "using a single word or phrase.");
    EXPECT_TRUE(j["text"].is_string());
    EXPECT_TRUE(j["answer_id"].is_string());
    EXPECT_EQ(j["model_id"], "hf");
    EXPECT_TRUE(j["metadata"].is_object());
    EXPECT_EQ(j["plan"], "dense");
    EXPECT_GT(j["executed_flops"].get<double>(), j["visual_flops"].get<double>());
    EXPECT_GT(j["visual_flops"].get<double>(), 0);
  }

  // A second run over the first 4 questions answers exactly the 2 new ones.
  r = run_command(with(base, {"--answers", out, "--limit", "4"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> second = lines_of(out);
  ASSERT_EQ(second.size(), 4u);
  EXPECT_EQ(second[0], first[0]);
  EXPECT_EQ(second[1], first[1]);
  EXPECT_EQ(json::parse(second[2])["question_id"], 3);
  EXPECT_EQ(json::parse(second[3])["question_id"], 4);
  EXPECT_NE(r.err.find("2 of 4 questions to answer"), std::string::npos) << r.err;

  // Nothing left: the file is unchanged.
  r = run_command(with(base, {"--answers", out, "--limit", "4"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(out), second);

  // Greedy and deterministic: a fresh run writes the same lines.
  const std::string again = dir + "/again.jsonl";
  r = run_command(with(base, {"--answers", again, "--limit", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(again), first);
}

// Answers resume by question, so a file written with other weights or under another plan (spec,
// semantics or head mask) must stop the run instead of being silently mixed with new answers.
TEST(EvalCli, ResumingWithOtherWeightsOrAnotherPlanStops) {
  YOPO_REQUIRE_ASSET(images, "images");
  const std::string dir = temp_dir();
  const std::string out = dir + "/answers.jsonl";
  const auto base = eval_args(pope_photos("questions.jsonl"), images);
  CommandResult r = run_command(with(base, {"--answers", out, "--limit", "1"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> first = lines_of(out);
  ASSERT_EQ(first.size(), 1u);
  const std::string fp = json::parse(first[0])["model_fingerprint"].get<std::string>();
  EXPECT_EQ(fp.size(), 16u);

  // The same checkpoint with one weight byte changed near the end of its file (a "retrained"
  // model under the same directory name).
  const std::string other = dir + "/hf";
  fs::copy(fixture("tiny_llava/hf"), other);
  {
    std::fstream f(other + "/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-9, std::ios::end);
    const char c = char(f.get());
    f.seekp(-9, std::ios::end);
    f.put(char(c ^ 0x40));
  }
  std::vector<std::string> args = base;
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "-m") args[i + 1] = other;
  r = run_command(with(args, {"--answers", out, "--limit", "2"}));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("other model weights"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(fp), std::string::npos) << r.err;
  EXPECT_EQ(lines_of(out), first);

  // Same weights, another plan into the same file.
  r = run_command(with(base, {"--answers", out, "--limit", "2", "--prune", "heads:keep=1"}));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("was answered under plan 'dense'"), std::string::npos) << r.err;
  EXPECT_EQ(lines_of(out), first);

  // The original model and plan resume as before.
  r = run_command(with(base, {"--answers", out, "--limit", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(out).size(), 2u);

  // One spec, two head masks (the tiny model: 2 layers of 4 heads; yopo-25 keeps layer 1's
  // visual heads from the mask): the plans differ, so the file does not resume.
  const std::string masked = dir + "/masked.jsonl";
  std::ofstream(dir + "/a.json") << R"({"keep": [[1, 1, 1, 1], [1, 0, 1, 0]]})";
  std::ofstream(dir + "/b.json") << R"({"keep": [[1, 1, 1, 1], [0, 1, 0, 1]]})";
  auto yopo25 = [&](const std::string& mask, const std::string& limit) {
    return with(base, {"--answers", masked, "--limit", limit, "--prune", "yopo-25", "--head-mask",
                       dir + "/" + mask});
  };
  r = run_command(yopo25("a.json", "1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> masked_first = lines_of(masked);
  ASSERT_EQ(masked_first.size(), 1u);
  r = run_command(yopo25("b.json", "2"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("resolved differently"), std::string::npos) << r.err;
  EXPECT_EQ(lines_of(masked), masked_first);
  r = run_command(yopo25("a.json", "2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(masked).size(), 2u);
}

TEST(EvalCli, ALineCutShortByAKilledRunIsAnsweredAgain) {
  YOPO_REQUIRE_ASSET(images, "images");
  const std::string out = temp_dir() + "/answers.jsonl";
  const auto base = eval_args(pope_photos("questions.jsonl"), images);
  CommandResult r = run_command(with(base, {"--answers", out, "--limit", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ofstream(out, std::ios::app) << "{\"question_id\": 3, \"prompt\": \"Is th";
  r = run_command(with(base, {"--answers", out, "--limit", "3"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(out + ":3:"), std::string::npos) << r.err;  // the broken line is named
  const std::vector<std::string> lines = lines_of(out);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(json::parse(lines[3])["question_id"], 3);
}

TEST(EvalCli, BadLinesAndMissingImagesAreReportedWithTheirLineAndTheRunGoesOn) {
  YOPO_REQUIRE_ASSET(images, "images");
  const std::string dir = temp_dir();
  const std::string questions = dir + "/q.jsonl";
  std::ofstream(questions)
      << "{\"question_id\": 1, \"image\": \"chelsea.png\", \"text\": \"Is there a cat?\"}\n"
      << "{\"question_id\": 2, \"image\": \"chelsea.png\", \"text\": \n"
      << "{\"question_id\": 3, \"image\": \"no-such-photo.png\", \"text\": \"Is there a dog?\"}\n"
      << "{\"question_id\": 4, \"image\": \"coffee.png\", \"text\": \"Is there a cup?\"}\n";
  const std::string out = dir + "/answers.jsonl";
  const CommandResult r = run_command(with(eval_args(questions, images), {"--answers", out}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(questions + ":2: not valid JSON"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(questions + ":3: question 3: image '"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no-such-photo.png' does not exist"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2 question(s) not answered"), std::string::npos) << r.err;
  const std::vector<std::string> lines = lines_of(out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[0])["question_id"], 1);
  EXPECT_EQ(json::parse(lines[1])["question_id"], 4);
}

TEST(EvalCli, ScoreReadsTheAnswers) {
  YOPO_REQUIRE_ASSET(images, "images");
  const std::string dir = temp_dir();
  const std::string out = dir + "/answers.jsonl";
  CommandResult r = run_command(
      with(eval_args(pope_photos("questions.jsonl"), images), {"--answers", out, "--limit", "4"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Ground truth of the 4 questions answered: the first 4 annotation lines.
  const std::vector<std::string> truth = lines_of(pope_photos("annotations.jsonl"));
  ASSERT_EQ(truth.size(), 60u);
  const std::string ann = dir + "/ann.jsonl";
  {
    std::ofstream f(ann);
    for (size_t i = 0; i < 4; ++i) f << truth[i] << "\n";
  }
  r = run_command(
      {cli_path(), "score", "--task", "pope", "--answers", out, "--annotations", ann, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  EXPECT_EQ(report["n_scored"], 4) << r.out;
  EXPECT_EQ(report["n_missing"], 0) << r.out;
}

TEST(EvalCli, UnknownTaskAndMissingQuestionFileFailClearly) {
  const std::string dir = temp_dir();
  CommandResult r =
      run_command({cli_path(), "eval", "--task", "coco", "-m", fixture("tiny_llava/hf"),
                   "--questions", dir + "/q.jsonl", "--answers", dir + "/a.jsonl"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown task 'coco'"), std::string::npos) << r.err;
  r = run_command({cli_path(), "eval", "--task", "pope", "-m", fixture("tiny_llava/hf"),
                   "--questions", dir + "/absent.jsonl", "--answers", dir + "/a.jsonl"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("absent.jsonl' does not exist"), std::string::npos) << r.err;
}

TEST(EvalCli, SweepWritesAnswersTableCsvAndPlot) {
  YOPO_REQUIRE_ASSET(images, "images");
  const std::string dir = temp_dir() + "/sweep";
  const CommandResult r =
      run_command(with(eval_args(pope_photos("questions.jsonl"), images),
                       {"--sweep", "dense,window:r=1+ffn:ratio=2", "--out-dir", dir, "--limit", "2",
                        "--annotations", pope_photos("annotations.jsonl")}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(dir + "/dense.jsonl").size(), 2u);
  EXPECT_EQ(lines_of(dir + "/window_r=1+ffn_ratio=2.jsonl").size(), 2u);
  const std::string md = read_text(dir + "/sweep.md");
  EXPECT_NE(md.find("| dense | exact |"), std::string::npos) << md;
  EXPECT_NE(md.find("| window:r=1+ffn:ratio=2 | exact |"), std::string::npos) << md;
  EXPECT_NE(md.find("accuracy (headline)"), std::string::npos) << md;

  // CSV: the dense plan executes exactly the dense prediction (fraction 1); the pruned plan less.
  const std::vector<std::string> csv = lines_of(dir + "/sweep.csv");
  ASSERT_EQ(csv.size(), 3u);
  auto column = [&](const std::string& row, const std::string& name) {
    std::vector<std::string> head, cells;
    std::string cell;
    for (std::istringstream h(csv[0]); std::getline(h, cell, ',');) head.push_back(cell);
    for (std::istringstream c(row); std::getline(c, cell, ',');) cells.push_back(cell);
    for (size_t i = 0; i < head.size(); ++i)
      if (head[i] == name) return i < cells.size() ? cells[i] : std::string();
    return std::string("no column " + name);
  };
  EXPECT_NEAR(std::stod(column(csv[1], "executed_fraction")), 1.0, 1e-9) << csv[1];
  EXPECT_LT(std::stod(column(csv[2], "executed_visual_flops")),
            std::stod(column(csv[1], "executed_visual_flops")));
  EXPECT_LT(std::stod(column(csv[2], "paper_fraction")), 1.0);
  EXPECT_EQ(column(csv[1], "n_scored"), "2");

  const std::string svg = read_text(dir + "/sweep.svg");
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1))
    ++circles;
  EXPECT_EQ(circles, 2u);
  EXPECT_NE(svg.find(">dense</text>"), std::string::npos);
}

TEST(EvalCli, SweepSpecsCanCarryTheirSemantics) {
  YOPO_REQUIRE_ASSET(images, "images");
  const std::string dir = temp_dir() + "/sweep-sem";
  const CommandResult r = run_command(with(
      eval_args(pope_photos("questions.jsonl"), images),
      {"--sweep", "dense;heads:keep=1@exact;heads:keep=1@fast", "--out-dir", dir, "--limit", "1"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(dir + "/heads_keep=1_exact.jsonl").size(), 1u);
  EXPECT_EQ(lines_of(dir + "/heads_keep=1_fast.jsonl").size(), 1u);
  const std::string md = read_text(dir + "/sweep.md");
  EXPECT_NE(md.find("| heads:keep=1 | exact |"), std::string::npos) << md;
  EXPECT_NE(md.find("| heads:keep=1 | fast |"), std::string::npos) << md;
  const std::string bad = run_command(with(eval_args(pope_photos("questions.jsonl"), images),
                                           {"--sweep", "dense;heads:keep=1@slow", "--out-dir",
                                            dir + "-bad", "--limit", "1"}))
                              .err;
  EXPECT_NE(bad.find("error:"), std::string::npos) << bad;
}

}  // namespace
}  // namespace yopo::test
