// VQAv2 and TextVQA: the VQA accuracy, min(#matching human answers / 3, 1) averaged over the
// leave-one-out subsets of the human answers, after each benchmark's answer normalisation
// (answer_norm.h: vqav2_accuracy follows vqaEval.py on LLaVA's submission, textvqa_accuracy the
// m4c TextVQAAccuracyEvaluator).
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "eval/answer_norm.h"
#include "eval/score_common.h"

namespace yopo::eval::detail {

namespace {

struct VqaQuestion {
  std::string id;
  std::vector<std::string> answers;
  std::string answer_type;
  std::string llava_key;  // image_id + question, for LLaVA's TextVQA answers ("" when unknown)
};

std::vector<std::string> human_answers(const AnnRecord& rec) {
  check(rec.value.contains("answers") && rec.value["answers"].is_array(), rec.where,
        ": no \"answers\" list");
  std::vector<std::string> out;
  for (const nlohmann::json& x : rec.value["answers"]) {
    const nlohmann::json* v = &x;
    if (x.is_object()) {
      check(x.contains("answer"), rec.where, ": an answer object without \"answer\"");
      v = &x["answer"];
    }
    if (v->is_string())
      out.push_back(v->get<std::string>());
    else if (v->is_number())
      out.push_back(v->dump());
    else
      fail(rec.where, ": each human answer must be a string or {\"answer\": string}, not ",
           x.dump());
  }
  check(!out.empty(), rec.where, ": the \"answers\" list is empty");
  return out;
}

std::string key_of(const std::string& image_id, const std::string& question) {
  return image_id + '\x1f' + question;
}

// LLaVA's eval_textvqa.py prompt_processor: the question inside one of LLaVA's TextVQA prompts,
// lower-cased; false when the prompt has none of its forms.
bool llava_textvqa_question(const std::string& prompt, std::string* question) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (true) {
    const size_t nl = prompt.find('\n', start);
    lines.push_back(prompt.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  if (prompt.rfind("OCR tokens: ", 0) == 0) {
    const size_t q = prompt.find("Question: ");
    if (q == std::string::npos) return false;
    const size_t e = prompt.find(" Short answer:", q + 10);
    if (e == std::string::npos) return false;
    *question = prompt.substr(q + 10, e - q - 10);
  } else if (prompt.find("Reference OCR token: ") != std::string::npos && lines.size() == 3) {
    *question = prompt.rfind("Reference OCR token:", 0) == 0 ? lines[1] : lines[0];
  } else if (lines.size() == 2) {
    *question = lines[0];
  } else {
    return false;
  }
  *question = ascii_lower(*question);
  return true;
}

}  // namespace

ScoreReport score_vqa(const std::string& task, const Answers& a, const std::string& annotations) {
  const bool textvqa = task == "textvqa";
  const std::string what = textvqa ? "TextVQA annotations" : "VQAv2 annotations";
  const AnnotationFile f = load_annotation_file(annotations, what);
  const std::vector<AnnRecord> recs = annotation_records(f, {"annotations", "data", "questions"});
  check(!recs.empty(), what, " file '", annotations, "' holds no questions");

  std::vector<VqaQuestion> qs;
  std::unordered_map<std::string, std::string> seen;
  std::unordered_set<std::string> known;
  bool all_have_llava_key = true;
  for (const AnnRecord& rec : recs) {
    check(rec.value.is_object(), rec.where, ": expected a JSON object");
    check(rec.value.contains("question_id"), rec.where, ": no \"question_id\"");
    VqaQuestion q;
    q.id = id_string(rec.value["question_id"], rec.where);
    const auto [it, fresh] = seen.emplace(q.id, rec.where);
    check(fresh, rec.where, ": question_id ", q.id, " is annotated twice (first at ", it->second,
          ")");
    known.insert(q.id);
    q.answers = human_answers(rec);
    if (rec.value.contains("answer_type") && rec.value["answer_type"].is_string())
      q.answer_type = rec.value["answer_type"].get<std::string>();
    if (rec.value.contains("image_id") && rec.value.contains("question") &&
        rec.value["question"].is_string())
      q.llava_key = key_of(id_string(rec.value["image_id"], rec.where),
                           ascii_lower(rec.value["question"].get<std::string>()));
    else
      all_have_llava_key = false;
    qs.push_back(std::move(q));
  }

  // LLaVA's TextVQA answers carry the image id as question_id and are matched, as its
  // eval_textvqa.py does, by (image id, question in the prompt). Used when no answer id is an
  // annotated question id and the annotations have image ids and questions.
  bool by_id = false;
  for (const AnswerRecord& ans : a.records) by_id = by_id || known.count(ans.id) > 0;
  std::unordered_map<std::string, const AnswerRecord*> by_key;
  const bool llava_mode = textvqa && !by_id && all_have_llava_key && !a.records.empty();
  int64_t unknown_llava = 0;
  if (llava_mode) {
    std::unordered_set<std::string> keys;
    for (const VqaQuestion& q : qs) keys.insert(q.llava_key);
    for (const AnswerRecord& ans : a.records) {
      std::string question;
      const bool ok = ans.raw.contains("prompt") && ans.raw["prompt"].is_string() &&
                      llava_textvqa_question(ans.raw["prompt"].get<std::string>(), &question);
      const std::string key = ok ? key_of(ans.id, question) : std::string();
      if (ok && keys.count(key))
        by_key[key] = &ans;  // the last answer wins
      else
        ++unknown_llava;
    }
  }

  ScoreReport r;
  r.task = task;
  double sum = 0;
  GroupOrder order;
  std::vector<std::pair<double, int64_t>> per_type;  // (sum, count)
  for (const VqaQuestion& q : qs) {
    const AnswerRecord* ans = nullptr;
    if (llava_mode) {
      const auto it = by_key.find(q.llava_key);
      if (it != by_key.end()) ans = it->second;
    } else {
      ans = a.last(q.id);
    }
    double acc = 0;
    std::string norm;
    if (ans) {
      acc = textvqa ? textvqa_accuracy(ans->text, q.answers, &norm)
                    : vqav2_accuracy(ans->text, q.answers, &norm);
    }
    sum += acc;
    add_item(r, q.id, acc, norm, ans == nullptr);
    if (!q.answer_type.empty()) {
      const size_t g = order.index(q.answer_type);
      if (g == per_type.size()) per_type.emplace_back(0.0, 0);
      per_type[g].first += acc;
      ++per_type[g].second;
    }
  }
  r.n_unknown = llava_mode ? unknown_llava : a.count_unknown(known);
  r.metrics = {{"accuracy", percent(sum, double(qs.size()))}};
  for (size_t g = 0; g < per_type.size(); ++g)
    r.groups.push_back({order.names()[g],
                        {{"accuracy", percent(per_type[g].first, double(per_type[g].second))},
                         {"n", double(per_type[g].second)}}});
  return r;
}

}  // namespace yopo::eval::detail
