// MME, as its eval_tool calculation.py: per category, acc = share of questions answered right
// (mme_yes_no; an answer that is neither yes nor no is wrong) and acc+ = share of images whose
// questions (two per image) are all right; the category score is (acc + acc+) * 100; the
// perception and cognition scores sum their categories' scores.
//
// Matching answers to annotations: by question_id; or, when an annotation carries the question
// text ("question"), by question_id and question together, as LLaVA's convert_answer_to_mme.py
// does for llava_mme.jsonl (whose two questions about one image share one question_id): the
// answer's "prompt" with "Answer the question using a single word or phrase." removed and
// whitespace stripped must equal the annotation's question, stripped.
#include <array>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "eval/answer_norm.h"
#include "eval/score_common.h"

namespace yopo::eval::detail {

namespace {

constexpr std::array<std::string_view, 10> kPerception = {
    "existence", "count", "position", "color",   "posters",
    "celebrity", "scene", "landmark", "artwork", "OCR"};
constexpr std::array<std::string_view, 4> kCognition = {
    "commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"};

constexpr std::string_view kShortAnswer = "Answer the question using a single word or phrase.";

// A prompt or question as convert_answer_to_mme.py compares them.
std::string question_key(const std::string& id, std::string text) {
  const size_t at = text.find(kShortAnswer);
  if (at != std::string::npos) text.erase(at, kShortAnswer.size());
  return id + '\n' + std::string(strip_ws(text));
}

template <size_t N>
bool in(const std::array<std::string_view, N>& list, const std::string& s) {
  for (std::string_view x : list)
    if (x == s) return true;
  return false;
}

struct Category {
  int64_t n = 0, correct = 0;
  std::vector<std::string> images;                 // in order of first appearance
  std::unordered_map<std::string, bool> image_ok;  // all questions of the image right
  double acc() const { return percent(double(correct), double(n)); }
  double acc_plus() const {
    int64_t ok = 0;
    for (const std::string& img : images) ok += image_ok.at(img) ? 1 : 0;
    return percent(double(ok), double(images.size()));
  }
  double score() const { return acc() + acc_plus(); }
};

}  // namespace

ScoreReport score_mme(const Answers& a, const std::string& annotations) {
  const AnnotationFile f = load_annotation_file(annotations, "MME annotations");
  const std::vector<AnnRecord> recs = annotation_records(f, {"questions", "annotations"});
  check(!recs.empty(), "MME annotations file '", annotations, "' holds no questions");

  ScoreReport r;
  r.task = "mme";
  // Answers by (question_id, prompt), the last one winning as for a.last(id).
  std::unordered_map<std::string, const AnswerRecord*> by_question;
  for (const AnswerRecord& ans : a.records)
    if (ans.raw.contains("prompt") && ans.raw["prompt"].is_string())
      by_question[question_key(ans.id, ans.raw["prompt"].get<std::string>())] = &ans;

  std::unordered_map<std::string, std::string> seen;
  std::unordered_set<std::string> known;
  GroupOrder order;
  std::vector<Category> cats;
  for (const AnnRecord& rec : recs) {
    check(rec.value.is_object(), rec.where, ": expected a JSON object");
    check(rec.value.contains("question_id"), rec.where, ": no \"question_id\"");
    const std::string id = id_string(rec.value["question_id"], rec.where);
    const bool has_question = rec.value.contains("question");
    const std::string key = has_question ? question_key(id, require_string(rec, "question")) : id;
    const auto [it, fresh] = seen.emplace(key, rec.where);
    check(fresh, rec.where, ": question_id ", id, has_question ? " with this question" : "",
          " is annotated twice (first at ", it->second,
          "); the two questions of an image need different ids, or a \"question\" each");
    known.insert(id);
    const std::string category = require_string(rec, "category");
    const std::string image = require_string(rec, "image");
    const std::string label = ascii_lower(strip_ws(require_string(rec, "label")));
    check(label == "yes" || label == "no", rec.where, ": label must be \"yes\" or \"no\", not \"",
          label, "\"");
    const AnswerRecord* ans = nullptr;
    if (has_question) {
      const auto found = by_question.find(key);
      if (found != by_question.end()) ans = found->second;
    } else {
      ans = a.last(id);
    }
    const YesNo pred = ans ? mme_yes_no(ans->text) : YesNo::kOther;
    const bool ok = ans != nullptr && pred == (label == "yes" ? YesNo::kYes : YesNo::kNo);
    add_item(r, id, ok ? 1.0 : 0.0, ans ? yes_no_name(pred) : "", ans == nullptr);

    const size_t c = order.index(category);
    if (c == cats.size()) cats.emplace_back();
    Category& cat = cats[c];
    ++cat.n;
    cat.correct += ok ? 1 : 0;
    const auto [img, first] = cat.image_ok.emplace(image, ok);
    if (first)
      cat.images.push_back(image);
    else
      img->second = img->second && ok;
  }
  r.n_unknown = a.count_unknown(known);

  double perception = 0, cognition = 0;
  for (size_t c = 0; c < cats.size(); ++c) {
    const std::string& name = order.names()[c];
    const Category& cat = cats[c];
    if (in(kPerception, name)) perception += cat.score();
    if (in(kCognition, name)) cognition += cat.score();
    r.groups.push_back({name,
                        {{"score", cat.score()},
                         {"acc", cat.acc()},
                         {"acc_plus", cat.acc_plus()},
                         {"n", double(cat.n)},
                         {"images", double(cat.images.size())}}});
  }
  r.metrics = {{"perception_score", perception},
               {"cognition_score", cognition},
               {"total_score", perception + cognition}};
  return r;
}

}  // namespace yopo::eval::detail
