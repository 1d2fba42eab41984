// ScienceQA, as LLaVA's eval_science_qa.py: the option letter parsed from the answer
// (sqa_parse_option) must be the index in the problem's "answer"; accuracy over the problems, and
// IMG-accuracy over the problems with an image.
#include <set>
#include <unordered_set>

#include "core/error.h"
#include "eval/answer_norm.h"
#include "eval/score_common.h"

namespace yopo::eval::detail {

namespace {

struct SqaProblem {
  std::string id, split, subject;
  int answer = -1;
  int n_choices = 0;
  bool has_image = false;
};

}  // namespace

ScoreReport score_sqa(const Answers& a, const std::string& annotations) {
  const AnnotationFile f = load_annotation_file(annotations, "ScienceQA problems");
  check(!f.is_jsonl && f.doc.is_object(), "ScienceQA problems file '", annotations,
        "': expected LLaVA's problems.json, an object {problem_id: {\"answer\": index, "
        "\"choices\": [...]}, ...}");
  std::vector<SqaProblem> all;
  for (const auto& [id, v] : f.doc.items()) {
    const std::string where = "ScienceQA problems file '" + annotations + "' problem " + id;
    check(v.is_object(), where, ": expected a JSON object");
    check(v.contains("choices") && v["choices"].is_array(), where, ": no \"choices\" list");
    check(v.contains("answer") && v["answer"].is_number_integer(), where,
          ": no integer \"answer\" (the index of the right choice)");
    SqaProblem p;
    p.id = id;
    p.n_choices = int(v["choices"].size());
    p.answer = v["answer"].get<int>();
    check(p.answer >= 0 && p.answer < p.n_choices, where, ": answer ", p.answer,
          " is not the index of one of its ", p.n_choices, " choices");
    if (v.contains("split") && v["split"].is_string()) p.split = v["split"].get<std::string>();
    if (v.contains("subject") && v["subject"].is_string())
      p.subject = v["subject"].get<std::string>();
    p.has_image = v.contains("image") && v["image"].is_string() && !v["image"].empty();
    all.push_back(std::move(p));
  }
  check(!all.empty(), "ScienceQA problems file '", annotations, "' holds no problems");

  // problems.json holds every split; score the splits the answers are about (all problems when
  // the problems have no "split" or nothing was answered).
  std::set<std::string> splits;
  for (const SqaProblem& p : all)
    if (a.last(p.id) != nullptr) splits.insert(p.split);
  std::unordered_set<std::string> known;
  for (const SqaProblem& p : all) known.insert(p.id);

  ScoreReport r;
  r.task = "sqa";
  int64_t n = 0, correct = 0, n_img = 0, correct_img = 0;
  GroupOrder order;
  std::vector<std::pair<int64_t, int64_t>> per_subject;
  for (const SqaProblem& p : all) {
    if (!splits.empty() && !splits.count(p.split)) continue;
    const AnswerRecord* ans = a.last(p.id);
    const int idx = ans ? sqa_parse_option(ans->text, p.n_choices) : -1;
    const bool ok = idx == p.answer;
    ++n;
    correct += ok ? 1 : 0;
    if (p.has_image) {
      ++n_img;
      correct_img += ok ? 1 : 0;
    }
    add_item(r, p.id, ok ? 1.0 : 0.0,
             ans ? (idx >= 0 ? std::string(1, char('A' + idx)) : std::string("FAILED")) : "",
             ans == nullptr);
    if (!p.subject.empty()) {
      const size_t g = order.index(p.subject);
      if (g == per_subject.size()) per_subject.emplace_back(0, 0);
      per_subject[g].first += ok ? 1 : 0;
      ++per_subject[g].second;
    }
  }
  r.n_unknown = a.count_unknown(known);
  r.metrics = {{"accuracy", percent(double(correct), double(n))}};
  if (n_img > 0) r.metrics.push_back({"img_accuracy", percent(double(correct_img), double(n_img))});
  for (size_t g = 0; g < per_subject.size(); ++g)
    r.groups.push_back(
        {order.names()[g],
         {{"accuracy", percent(double(per_subject[g].first), double(per_subject[g].second))},
          {"n", double(per_subject[g].second)}}});
  return r;
}

}  // namespace yopo::eval::detail
