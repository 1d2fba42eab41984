// `yopo score --task T --answers A.jsonl --annotations F [--json] [--per-question OUT.jsonl]`:
// scores a benchmark's answers with its official metric (see docs/evaluation.md, "Scoring").
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "eval/score.h"

namespace yopo::cli {

namespace {

struct ScoreOptions {
  std::string task;
  std::string answers;
  std::string annotations;
  std::string per_question;
  bool json_out = false;
};

int score(const ScoreOptions& o) {
  const eval::ScoreReport r = eval::score_task(o.task, o.answers, o.annotations);
  if (!o.per_question.empty()) {
    std::ofstream out(o.per_question, std::ios::binary | std::ios::trunc);
    check(bool(out), "cannot write '", o.per_question, "'");
    out << eval::items_jsonl(r);
    check(out.good(), "cannot write '", o.per_question, "'");
  }
  if (o.json_out)
    std::cout << eval::report_json(r).dump(2) << "\n";
  else
    std::cout << eval::format_report(r);
  return 0;
}

}  // namespace

void add_score_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "score",
      "Score benchmark answers with the official metric (POPE, GQA, VQAv2, TextVQA, "
      "ScienceQA, MMBench, MME)");
  auto o = std::make_shared<ScoreOptions>();
  cmd->add_option("--task", o->task, "pope, gqa, vqav2, textvqa, sqa, mmbench or mme")->required();
  cmd->add_option("--answers", o->answers, "Answers jsonl in LLaVA's format")->required();
  cmd->add_option("--annotations", o->annotations,
                  "Ground truth in the task's form (see docs/evaluation.md)")
      ->required();
  cmd->add_flag("--json", o->json_out, "Print JSON instead of markdown tables");
  cmd->add_option("--per-question", o->per_question,
                  "Also write each question's score to this jsonl file");
  cmd->callback([&action, o] { action = [o] { return score(*o); }; });
}

}  // namespace yopo::cli
