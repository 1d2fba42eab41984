// POPE, as LLaVA's eval_pope.py: yes/no parsing of the first sentence, then accuracy, precision,
// recall, F1 and the yes ratio from the confusion matrix ("yes" is the positive class), per split
// (category) and over all questions.
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "eval/answer_norm.h"
#include "eval/score_common.h"

namespace yopo::eval::detail {

namespace {

struct Confusion {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  int64_t missing_yes = 0, missing_no = 0;  // annotated questions without an answer, by label

  void add(bool label_yes, bool answered, bool pred_yes) {
    if (!answered) {
      ++(label_yes ? missing_yes : missing_no);
    } else if (pred_yes) {
      ++(label_yes ? tp : fp);
    } else {
      ++(label_yes ? fn : tn);
    }
  }
  int64_t answered() const { return tp + fp + tn + fn; }
  int64_t total() const { return answered() + missing_yes + missing_no; }
  double precision() const { return percent(double(tp), double(tp + fp)); }
  // A "yes" question left unanswered was not found: it counts against recall.
  double recall() const { return percent(double(tp), double(tp + fn + missing_yes)); }
  double f1() const {
    const double p = precision(), r = recall();
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
  }
  double accuracy() const { return percent(double(tp + tn), double(total())); }
  double yes_ratio() const { return percent(double(tp + fp), double(answered())); }
};

}  // namespace

ScoreReport score_pope(const Answers& a, const std::string& annotations) {
  const AnnotationFile f = load_annotation_file(annotations, "POPE annotations");
  const std::vector<AnnRecord> recs = annotation_records(f, {"questions", "annotations"});

  ScoreReport r;
  r.task = "pope";
  Confusion all;
  GroupOrder order;
  std::vector<Confusion> per_group;
  std::unordered_map<std::string, std::string> seen;  // id -> where
  std::unordered_set<std::string> known;
  bool any_category = false;
  for (const AnnRecord& rec : recs) {
    check(rec.value.is_object(), rec.where, ": expected a JSON object");
    check(rec.value.contains("question_id"), rec.where, ": no \"question_id\"");
    const std::string id = id_string(rec.value["question_id"], rec.where);
    const auto [it, fresh] = seen.emplace(id, rec.where);
    check(fresh, rec.where, ": question_id ", id, " is annotated twice (first at ", it->second,
          ")");
    known.insert(id);
    const std::string label = ascii_lower(strip_ws(require_string(rec, "label")));
    check(label == "yes" || label == "no", rec.where, ": label must be \"yes\" or \"no\", not \"",
          label, "\"");
    std::string category;
    for (const char* key : {"category", "split"})
      if (rec.value.contains(key) && rec.value[key].is_string()) {
        category = rec.value[key].get<std::string>();
        any_category = true;
        break;
      }
    const AnswerRecord* ans = a.last(id);
    const bool pred_yes = ans != nullptr && pope_yes_no(ans->text) == YesNo::kYes;
    const bool label_yes = label == "yes";
    all.add(label_yes, ans != nullptr, pred_yes);
    const size_t g = order.index(category);
    if (g == per_group.size()) per_group.emplace_back();
    per_group[g].add(label_yes, ans != nullptr, pred_yes);
    const bool correct = ans != nullptr && pred_yes == label_yes;
    add_item(r, id, correct ? 1.0 : 0.0, ans ? (pred_yes ? "yes" : "no") : "", ans == nullptr);
  }
  check(!recs.empty(), "POPE annotations file '", annotations, "' holds no questions");
  r.n_unknown = a.count_unknown(known);

  r.metrics = {{"accuracy", all.accuracy()},   {"precision", all.precision()},
               {"recall", all.recall()},       {"f1", all.f1()},
               {"yes_ratio", all.yes_ratio()}, {"tp", double(all.tp)},
               {"fp", double(all.fp)},         {"tn", double(all.tn)},
               {"fn", double(all.fn)}};
  if (any_category) {
    double acc_sum = 0, f1_sum = 0;
    for (size_t g = 0; g < per_group.size(); ++g) {
      const Confusion& c = per_group[g];
      acc_sum += c.accuracy();
      f1_sum += c.f1();
      const std::string name = order.names()[g].empty() ? "(no category)" : order.names()[g];
      r.groups.push_back({name,
                          {{"accuracy", c.accuracy()},
                           {"precision", c.precision()},
                           {"recall", c.recall()},
                           {"f1", c.f1()},
                           {"yes_ratio", c.yes_ratio()},
                           {"n", double(c.total())}}});
    }
    if (per_group.size() > 1) {
      r.metrics.push_back({"accuracy_split_mean", acc_sum / double(per_group.size())});
      r.metrics.push_back({"f1_split_mean", f1_sum / double(per_group.size())});
    }
  }
  return r;
}

}  // namespace yopo::eval::detail
