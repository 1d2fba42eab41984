// Benchmark scorers (`yopo score`): each benchmark's official metric, computed from an answers
// file in LLaVA's format and the benchmark's annotations.
//
// Answers: jsonl, one object per line with `question_id` (number or string; ids are compared as
// strings, so 7 and "7" are the same question) and `text` (the model's answer); LLaVA's other keys
// (`prompt`, `answer_id`, `model_id`, ...) and any extra keys are allowed and ignored. Answers
// whose id is not annotated are ignored and counted in n_unknown; annotated questions without an
// answer count as wrong and are counted in n_missing. When an id is answered twice, the last line
// wins (MMBench: lines with different `round_id` are LLaVA's circular rounds, all of them count).
//
// Annotations, per task (the forms LLaVA's evaluation scripts read; see docs/evaluation.md):
//   pope     jsonl: {"question_id", "label": "yes"|"no", "category"?: "random"|"popular"|...}
//            (the split may also be given as "split"). Headline: accuracy; then precision,
//            recall, f1, yes_ratio (all in percent), tp, fp, tn, fn, and with several splits
//            accuracy_split_mean, f1_split_mean. Groups: one per category.
//   gqa      the official questions json {qid: {"answer": ...}, ...} (also accepted: a jsonl or
//            json list of {"question_id", "answer"}). Headline: accuracy (exact match after
//            strip, dropping trailing periods and lower-case). Groups: structural types.
//   vqav2,   jsonl or json list of {"question_id", "answers": [10 strings or {"answer": s}]}
//   textvqa  (also accepted: the official {"annotations": [...]} / {"data": [...]} wrappers).
//            Headline: accuracy, the standard VQA accuracy in percent. Groups (VQAv2): answer
//            types. TextVQA answers in LLaVA's form (question_id = image id) are matched by
//            (image_id, question from the prompt) as LLaVA's eval_textvqa.py does.
//   sqa      LLaVA's problems.json {pid: {"answer": index, "choices": [...], ...}}; the problems
//            of the splits the answers are about are scored. Headline: accuracy; then
//            img_accuracy. Groups: subjects.
//   mmbench  the MMBench tsv (index, question, A, B, C, D, answer, category, ...). Answers use
//            question_id = the tsv index. Headline: circular_accuracy; then vanilla_accuracy
//            (the original rows, first round) and questions. Groups: per category.
//   mme      jsonl: {"question_id", "category", "image", "label": "yes"|"no"}, ids unique.
//            Headline: perception_score (sum of the 10 perception categories' acc + acc+, each
//            in percent); then cognition_score and total_score. Groups: per category (score,
//            acc, acc_plus, n, images).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace yopo::eval {

struct Metric {
  std::string name;
  double value = 0;
};

// The score of one annotated question: score in [0, 1] (VQA: the soft accuracy; others 0 or 1),
// parsed = the normalised / parsed answer that was scored ("" when missing).
struct ItemScore {
  std::string question_id;
  double score = 0;
  std::string parsed;
  bool missing = false;
};

// Metrics for one split / category.
struct ScoreGroup {
  std::string name;
  std::vector<Metric> metrics;
};

struct ScoreReport {
  std::string task;
  // Overall metrics; metrics[0] is the headline: POPE accuracy (then precision, recall, f1,
  // yes_ratio), VQA/TextVQA/GQA/SQA accuracy, MMBench circular accuracy, MME perception score.
  // Accuracies, precision, recall, F1 and ratios are in percent (0..100); LLaVA's eval_pope.py
  // prints POPE's as fractions (0..1), they are the same numbers times 100.
  std::vector<Metric> metrics;
  std::vector<ScoreGroup> groups;
  int64_t n_scored = 0, n_missing = 0;  // annotated questions without an answer are missing
  int64_t n_unknown = 0;                // answer lines whose question_id is not annotated (ignored)
  // One entry per annotated question (MMBench: per tsv row), in annotation order.
  std::vector<ItemScore> items;
};

// The task names score_task accepts: "pope", "gqa", "vqav2", "textvqa", "sqa", "mmbench", "mme".
const std::vector<std::string>& score_tasks();

// Scores an answers jsonl file against the task's annotations. Throws yopo::Error for an unknown
// task (listing the known ones), a missing/unreadable file, or a malformed line (naming the file
// and line number).
ScoreReport score_task(const std::string& task, const std::string& answers_jsonl,
                       const std::string& annotations_path);

// A small markdown table: the overall metrics, then one row per group.
std::string format_report(const ScoreReport& r);

// {"task", "n_scored", "n_missing", "n_unknown", "headline": {"name", "value"},
//  "metrics": {name: value, ...}, "groups": [{"name", "metrics": {name: value, ...}}, ...]}.
// Per-question items are not included (see items_jsonl).
nlohmann::json report_json(const ScoreReport& r);

// The per-question items as jsonl text: {"question_id", "score", "parsed", "missing"} per line.
std::string items_jsonl(const ScoreReport& r);

// Looks up a metric by name; throws yopo::Error when absent.
double metric_value(const std::vector<Metric>& metrics, const std::string& name);

}  // namespace yopo::eval
