// GQA: exact match of the normalised answer (LLaVA's convert_gqa_for_eval.py: trailing periods
// dropped, lower-cased) with the annotated answer, as the official GQA eval.py compares them.
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "eval/answer_norm.h"
#include "eval/score_common.h"

namespace yopo::eval::detail {

namespace {

struct GqaQuestion {
  std::string id, answer, structural;
};

GqaQuestion gqa_question(const std::string& id, const nlohmann::json& v, const std::string& where) {
  check(v.is_object(), where, ": expected a JSON object");
  check(v.contains("answer") && v["answer"].is_string(), where, ": no string \"answer\"");
  GqaQuestion q{id, v["answer"].get<std::string>(), ""};
  if (v.contains("types") && v["types"].is_object() && v["types"].contains("structural") &&
      v["types"]["structural"].is_string())
    q.structural = v["types"]["structural"].get<std::string>();
  return q;
}

}  // namespace

ScoreReport score_gqa(const Answers& a, const std::string& annotations) {
  const AnnotationFile f = load_annotation_file(annotations, "GQA annotations");
  std::vector<GqaQuestion> qs;
  if (!f.is_jsonl && f.doc.is_object() && !f.doc.contains("question_id") &&
      !f.doc.contains("questions")) {
    // The official form: {question_id: {"answer": ..., "types": {...}, ...}, ...}.
    for (const auto& [id, v] : f.doc.items())
      qs.push_back(
          gqa_question(id, v, "GQA annotations file '" + annotations + "' question " + id));
  } else {
    for (const AnnRecord& rec : annotation_records(f, {"questions"})) {
      check(rec.value.is_object() && rec.value.contains("question_id"), rec.where,
            ": expected an object with \"question_id\"");
      qs.push_back(
          gqa_question(id_string(rec.value["question_id"], rec.where), rec.value, rec.where));
    }
  }
  check(!qs.empty(), "GQA annotations file '", annotations, "' holds no questions");

  ScoreReport r;
  r.task = "gqa";
  std::unordered_set<std::string> known;
  GroupOrder order;
  std::vector<std::pair<int64_t, int64_t>> per_type;  // (correct, count)
  int64_t correct = 0;
  for (const GqaQuestion& q : qs) {
    check(known.insert(q.id).second, "GQA annotations file '", annotations, "': question ", q.id,
          " is annotated twice");
    const AnswerRecord* ans = a.last(q.id);
    const std::string pred = ans ? gqa_normalize(ans->text) : std::string();
    const bool ok = ans != nullptr && pred == q.answer;
    correct += ok ? 1 : 0;
    add_item(r, q.id, ok ? 1.0 : 0.0, pred, ans == nullptr);
    if (!q.structural.empty()) {
      const size_t g = order.index(q.structural);
      if (g == per_type.size()) per_type.emplace_back(0, 0);
      per_type[g].first += ok ? 1 : 0;
      ++per_type[g].second;
    }
  }
  r.n_unknown = a.count_unknown(known);
  r.metrics = {{"accuracy", percent(double(correct), double(qs.size()))}};
  for (size_t g = 0; g < per_type.size(); ++g)
    r.groups.push_back(
        {order.names()[g],
         {{"accuracy", percent(double(per_type[g].first), double(per_type[g].second))},
          {"n", double(per_type[g].second)}}});
  return r;
}

}  // namespace yopo::eval::detail
