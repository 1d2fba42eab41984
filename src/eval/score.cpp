#include "eval/score.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "eval/score_common.h"

namespace yopo::eval {

const std::vector<std::string>& score_tasks() {
  static const std::vector<std::string> tasks = {"pope", "gqa",     "vqav2", "textvqa",
                                                 "sqa",  "mmbench", "mme"};
  return tasks;
}

ScoreReport score_task(const std::string& task, const std::string& answers_jsonl,
                       const std::string& annotations_path) {
  bool known = false;
  std::string list;
  for (const std::string& t : score_tasks()) {
    known = known || t == task;
    list += (list.empty() ? "" : ", ") + t;
  }
  check(known, "unknown task '", task, "'; the scorers know: ", list);
  const detail::Answers a = detail::load_answers(answers_jsonl);
  if (task == "pope") return detail::score_pope(a, annotations_path);
  if (task == "gqa") return detail::score_gqa(a, annotations_path);
  if (task == "vqav2" || task == "textvqa") return detail::score_vqa(task, a, annotations_path);
  if (task == "sqa") return detail::score_sqa(a, annotations_path);
  if (task == "mmbench") return detail::score_mmbench(a, annotations_path);
  return detail::score_mme(a, annotations_path);
}

double metric_value(const std::vector<Metric>& metrics, const std::string& name) {
  for (const Metric& m : metrics)
    if (m.name == name) return m.value;
  fail("no metric '", name, "' in the report");
}

namespace {

std::string fmt_value(double v) {
  char buf[64];
  if (std::isfinite(v) && v == std::round(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

}  // namespace

std::string format_report(const ScoreReport& r) {
  std::ostringstream os;
  os << "**" << r.task << "**: " << r.n_scored << " answered, " << r.n_missing
     << " missing (scored as wrong)";
  if (r.n_unknown > 0)
    os << ", " << r.n_unknown << (r.n_unknown == 1 ? " answer" : " answers")
       << " for unknown questions ignored";
  os << "\n\n| metric | value |\n|---|---:|\n";
  for (const Metric& m : r.metrics) os << "| " << m.name << " | " << fmt_value(m.value) << " |\n";
  if (!r.groups.empty()) {
    std::vector<std::string> cols;
    for (const ScoreGroup& g : r.groups)
      for (const Metric& m : g.metrics) {
        bool have = false;
        for (const std::string& c : cols) have = have || c == m.name;
        if (!have) cols.push_back(m.name);
      }
    os << "\n| group |";
    for (const std::string& c : cols) os << " " << c << " |";
    os << "\n|---|";
    for (size_t i = 0; i < cols.size(); ++i) os << "---:|";
    os << "\n";
    for (const ScoreGroup& g : r.groups) {
      os << "| " << g.name << " |";
      for (const std::string& c : cols) {
        std::string cell;
        for (const Metric& m : g.metrics)
          if (m.name == c) cell = fmt_value(m.value);
        os << " " << cell << " |";
      }
      os << "\n";
    }
  }
  return os.str();
}

nlohmann::json report_json(const ScoreReport& r) {
  nlohmann::json metrics = nlohmann::json::object();
  for (const Metric& m : r.metrics) metrics[m.name] = m.value;
  nlohmann::json groups = nlohmann::json::array();
  for (const ScoreGroup& g : r.groups) {
    nlohmann::json gm = nlohmann::json::object();
    for (const Metric& m : g.metrics) gm[m.name] = m.value;
    groups.push_back({{"name", g.name}, {"metrics", gm}});
  }
  nlohmann::json headline = nullptr;
  if (!r.metrics.empty())
    headline = {{"name", r.metrics.front().name}, {"value", r.metrics.front().value}};
  return {{"task", r.task},           {"n_scored", r.n_scored}, {"n_missing", r.n_missing},
          {"n_unknown", r.n_unknown}, {"headline", headline},   {"metrics", metrics},
          {"groups", groups}};
}

std::string items_jsonl(const ScoreReport& r) {
  std::string out;
  for (const ItemScore& it : r.items) {
    const nlohmann::json j = {{"question_id", it.question_id},
                              {"score", it.score},
                              {"parsed", it.parsed},
                              {"missing", it.missing}};
    out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  return out;
}

}  // namespace yopo::eval
