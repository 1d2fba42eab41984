// Helpers of `yopo eval`: the --sweep list, plan file names, the SVG plot and the answers file
// (LLaVA's answer lines, resumption keys, a line cut short by a killed run).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "core/error.h"
#include "eval/answer_log.h"
#include "eval/sweep.h"
#include "eval/sweep_plot.h"
#include "support/test_paths.h"

namespace yopo::eval {
namespace {

using Specs = std::vector<std::string>;

TEST(EvalSweep, SplitsOnCommasKeepingParametersWithTheirSpec) {
  EXPECT_EQ(split_sweep_specs("dense,yopo-25,yopo-12"), (Specs{"dense", "yopo-25", "yopo-12"}));
  EXPECT_EQ(split_sweep_specs("dense, window:r=2+ffn:ratio=2 ,layercut:keep=1"),
            (Specs{"dense", "window:r=2+ffn:ratio=2", "layercut:keep=1"}));
  EXPECT_EQ(split_sweep_specs("dense,fastv:K=2,R=0.5,yopo-12"),
            (Specs{"dense", "fastv:K=2,R=0.5", "yopo-12"}));
  EXPECT_EQ(split_sweep_specs("heads:keep=8,from=2,heads:keep=4"),
            (Specs{"heads:keep=8,from=2", "heads:keep=4"}));
  EXPECT_EQ(split_sweep_specs("plans/a=b.json,dense,,"), (Specs{"plans/a=b.json", "dense"}));
}

TEST(EvalSweep, SemicolonsWhenPresentAreTheOnlySeparator) {
  EXPECT_EQ(split_sweep_specs("dense; fastv:K=2,R=0.5 ;odd,name"),
            (Specs{"dense", "fastv:K=2,R=0.5", "odd,name"}));
}

TEST(EvalSweep, EmptyListsAndALeadingParameterAreErrors) {
  EXPECT_THROW(split_sweep_specs(""), Error);
  EXPECT_THROW(split_sweep_specs(" , ,"), Error);
  EXPECT_THROW(split_sweep_specs(" ; ;"), Error);
  EXPECT_THROW(split_sweep_specs("R=0.5,dense"), Error);
}

TEST(EvalSweep, PlanFileStemsAreSafeAndUnique) {
  std::vector<std::string> taken;
  EXPECT_EQ(plan_file_stem("dense", taken), "dense");
  EXPECT_EQ(plan_file_stem("window:r=2+ffn:ratio=2", taken), "window_r=2+ffn_ratio=2");
  EXPECT_EQ(plan_file_stem("plans/x.json", taken), "plans_x.json");
  EXPECT_EQ(plan_file_stem("dense", taken), "dense-2");
  EXPECT_EQ(plan_file_stem("dense", taken), "dense-3");
  EXPECT_EQ(plan_file_stem("..", taken), "plan");
  EXPECT_EQ(plan_file_stem("a b,c", taken), "a_b_c");
}

TEST(EvalSweepPlot, SvgHasOneLabelledPointPerPlan) {
  ScatterPlot p;
  p.title = "pope: accuracy vs FLOPs";
  p.x_label = "executed visual FLOPs (GFLOPs)";
  p.y_label = "accuracy";
  p.points = {{"dense", 10, 0.8}, {"yopo-12", 1.5, 0.75}, {"a<b&c", 3, 0.7}, {"nan", NAN, 1}};
  const std::string svg = scatter_svg(p);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1))
    ++circles;
  EXPECT_EQ(circles, 3u);  // the non-finite point is left out
  EXPECT_NE(svg.find(">dense</text>"), std::string::npos);
  EXPECT_NE(svg.find(">a&lt;b&amp;c</text>"), std::string::npos);
  EXPECT_EQ(svg.find("a<b"), std::string::npos);
}

TEST(EvalAnswerLog, AnswerLinesHaveLlavasKeysAndNumericIdsStayNumbers) {
  Question q;
  q.id = "7";
  q.id_is_number = true;
  q.text = "Is there a cat in the image?";
  AnswerRecord r;
  r.question = &q;
  r.text = "Yes";
  r.model_id = "llava-v1.5-7b";
  r.plan_name = "yopo-12";
  r.plan_spec = "yopo-12";
  r.semantics = "exact";
  r.executed_flops = 1.5e12;
  r.visual_flops = 1e12;
  const nlohmann::ordered_json j = answer_json(r);
  EXPECT_TRUE(j["question_id"].is_number_integer());
  EXPECT_EQ(j["question_id"].get<int>(), 7);
  EXPECT_EQ(j["prompt"], q.text);
  EXPECT_EQ(j["text"], "Yes");
  EXPECT_EQ(j["model_id"], "llava-v1.5-7b");
  EXPECT_TRUE(j["metadata"].is_object() && j["metadata"].empty());
  EXPECT_EQ(j["plan"], "yopo-12");
  EXPECT_EQ(j["executed_flops"].get<double>(), 1.5e12);
  EXPECT_EQ(j["visual_flops"].get<double>(), 1e12);
  const std::string id = j["answer_id"];
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(answer_json(r)["answer_id"], id);  // deterministic
  r.plan_spec = "dense";
  EXPECT_NE(answer_json(r)["answer_id"], id);  // depends on the plan
  q.id_is_number = false;
  EXPECT_EQ(answer_json(r)["question_id"], "7");
}

TEST(EvalAnswerLog, ResumesFromAFileWhoseLastLineWasCutShort) {
  const std::string path = test::temp_dir() + "/answers.jsonl";
  std::ofstream(path, std::ios::binary)
      << "{\"question_id\": 1, \"prompt\": \"q1\", \"text\": \"yes\", \"executed_flops\": 10, "
         "\"visual_flops\": 4}\n"
      << "{\"question_id\": \"code/1.png\", \"prompt\": \"q2\", \"text\": \"no\"}\n"
      << "{\"question_id\": 3, \"prom";  // killed mid-line
  const AnswerLog log = read_answer_log(path);
  ASSERT_EQ(log.answers.size(), 2u);
  EXPECT_EQ(log.answers[0].key, answer_key("1", "q1"));
  EXPECT_TRUE(log.answers[0].has_flops);
  EXPECT_EQ(log.answers[0].visual_flops, 4);
  EXPECT_EQ(log.answers[1].key, answer_key("code/1.png", "q2"));
  EXPECT_FALSE(log.answers[1].has_flops);
  EXPECT_FALSE(log.ends_with_newline);
  ASSERT_EQ(log.warnings.size(), 1u);
  EXPECT_NE(log.warnings[0].find(path + ":3:"), std::string::npos) << log.warnings[0];

  {
    AnswerWriter w(path);
    w.write(nlohmann::json{{"question_id", 3}, {"prompt", "q3"}, {"text", "\xff yes"}});
  }
  const AnswerLog again = read_answer_log(path);
  ASSERT_EQ(again.answers.size(), 3u);  // the new line starts on its own line
  EXPECT_EQ(again.answers[2].key, answer_key("3", "q3"));
  EXPECT_EQ(again.answers[2].line, 4);
  EXPECT_TRUE(again.ends_with_newline);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("\"\\ufffd yes\""), std::string::npos) << ss.str();  // invalid UTF-8
}

TEST(EvalAnswerLog, AMissingFileIsAnEmptyLog) {
  const AnswerLog log = read_answer_log(test::temp_dir() + "/none.jsonl");
  EXPECT_TRUE(log.answers.empty());
  EXPECT_TRUE(log.warnings.empty());
}

TEST(EvalAnswerLog, KeysSeparateIdAndPrompt) {
  EXPECT_NE(answer_key("1", "2x"), answer_key("12", "x"));
}

}  // namespace
}  // namespace yopo::eval
