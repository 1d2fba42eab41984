// MMBench with circular evaluation. The option letter is parsed as LLaVA's eval_mmbench.py does
// (mmbench_parse_option, without its ChatGPT fallback). A tsv row counts as correct when every
// answer given for it is correct (LLaVA's --all-rounds answers: one per rotation of the options,
// told apart by round_id, each with the options shown and option_char, the original letters in
// the order shown). As in the official MMBench tool, the rows whose index agrees modulo 1e6 are
// the circular variants of one question, which counts as correct only when all its rows do.
#include <array>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "eval/answer_norm.h"
#include "eval/score_common.h"
#include "eval/tsv.h"

namespace yopo::eval::detail {

namespace {

constexpr int64_t kCircularModulus = 1000000;

struct MmbRow {
  int64_t index = 0;
  std::string id;  // the index as written in answers' question_id
  std::vector<std::string> options;
  char answer = 0;
  std::string category;
};

bool is_none(const std::string& v) {
  const std::string l = ascii_lower(v);
  return tsv_is_na(v) || l == "nan" || l == "none";
}

std::vector<std::string> string_list(const nlohmann::json& v, const std::string& where,
                                     const char* key) {
  check(v.is_array(), where, ": \"", key, "\" must be a list of strings");
  std::vector<std::string> out;
  for (const nlohmann::json& x : v) {
    if (x.is_string())
      out.push_back(x.get<std::string>());
    else if (x.is_number())
      out.push_back(x.dump());
    else
      fail(where, ": \"", key, "\" must be a list of strings");
  }
  return out;
}

// The original letter this answer chose, or 0 when none could be parsed.
char answered_letter(const AnswerRecord& ans, const MmbRow& row, const std::string& answers_path) {
  const std::string where = "answers file '" + answers_path + "' line " + std::to_string(ans.line);
  std::vector<std::string> options = row.options;
  if (ans.raw.contains("options")) options = string_list(ans.raw["options"], where, "options");
  const char shown = mmbench_parse_option(ans.text, options);
  if (shown == 0) return 0;
  if (!ans.raw.contains("option_char")) return shown;
  const std::vector<std::string> chars = string_list(ans.raw["option_char"], where, "option_char");
  const size_t k = size_t(shown - 'A');
  check(k < chars.size() && chars[k].size() == 1, where, ": option_char has no letter for ", shown);
  return chars[k][0];
}

}  // namespace

ScoreReport score_mmbench(const Answers& a, const std::string& annotations) {
  const TsvTable t = read_tsv(annotations, {"index", "A", "B", "C", "D", "answer", "category"});
  const std::string origin = "MMBench tsv '" + annotations + "'";
  const int c_index = t.column("index"), c_answer = t.column("answer"),
            c_cat = t.column("category");
  check(c_index >= 0, origin, ": no \"index\" column");
  check(c_answer >= 0, origin,
        ": no \"answer\" column (the test split withholds its answers; score the dev split)");
  int c_opt[4];
  for (int k = 0; k < 4; ++k) c_opt[k] = t.column(std::string(1, char('A' + k)));

  std::vector<MmbRow> rows;
  std::unordered_set<std::string> known;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const std::vector<std::string>& f = t.rows[i];
    const std::string where = origin + " line " + std::to_string(t.row_lines[i]);
    MmbRow row;
    row.id = std::string(strip_ws(f[size_t(c_index)]));
    try {
      size_t used = 0;
      row.index = std::stoll(row.id, &used);
      check(used == row.id.size() && row.index >= 0, "");
    } catch (const std::exception&) {
      fail(where, ": index \"", row.id, "\" is not a non-negative integer");
    }
    row.id = std::to_string(row.index);
    for (int k = 0; k < 4 && c_opt[k] >= 0; ++k) {
      const std::string& v = f[size_t(c_opt[k])];
      if (is_none(v)) break;
      row.options.push_back(v);
    }
    const std::string ans = ascii_upper(strip_ws(f[size_t(c_answer)]));
    check(ans.size() == 1 && ans[0] >= 'A' && ans[0] < char('A' + row.options.size()), where,
          ": answer \"", f[size_t(c_answer)], "\" is not the letter of one of its ",
          row.options.size(), " options");
    row.answer = ans[0];
    if (c_cat >= 0) row.category = f[size_t(c_cat)];
    check(known.insert(row.id).second, where, ": index ", row.id, " appears twice");
    rows.push_back(std::move(row));
  }
  check(!rows.empty(), origin, " holds no questions");

  ScoreReport r;
  r.task = "mmbench";
  r.n_unknown = a.count_unknown(known);
  // Circular groups in order of first appearance.
  std::map<int64_t, size_t> group_of;  // index % 1e6 -> group number
  std::vector<int64_t> group_keys;
  std::vector<bool> group_ok;
  std::vector<std::string> group_category;
  int64_t vanilla_n = 0, vanilla_ok = 0;
  GroupOrder cats;
  std::vector<std::array<int64_t, 2>> cat_vanilla;  // per category (ok, n)
  for (const MmbRow& row : rows) {
    // The answers for this row, one per round (the last line of each round wins).
    std::map<int64_t, const AnswerRecord*> rounds;
    const auto it = a.by_id.find(row.id);
    if (it != a.by_id.end())
      for (size_t k : it->second) {
        const AnswerRecord& ans = a.records[k];
        int64_t round = 0;
        if (ans.raw.contains("round_id") && ans.raw["round_id"].is_number_integer())
          round = ans.raw["round_id"].get<int64_t>();
        rounds[round] = &ans;
      }
    bool row_ok = !rounds.empty();
    bool first_ok = false;
    std::string parsed;
    for (const auto& [round, ans] : rounds) {
      const char got = answered_letter(*ans, row, a.path);
      const bool ok = got == row.answer;
      if (round == rounds.begin()->first) first_ok = ok;
      row_ok = row_ok && ok;
      if (!parsed.empty()) parsed += ',';
      parsed += got ? std::string(1, got) : std::string("?");
    }
    add_item(r, row.id, row_ok ? 1.0 : 0.0, parsed, rounds.empty());

    const int64_t key = row.index % kCircularModulus;
    auto [g, fresh] = group_of.emplace(key, group_keys.size());
    if (fresh) {
      group_keys.push_back(key);
      group_ok.push_back(true);
      group_category.push_back(row.category);
    }
    group_ok[g->second] = group_ok[g->second] && row_ok;
    if (row.index == key) {  // the original question of its group (index < 1e6)
      group_category[g->second] = row.category;
      ++vanilla_n;
      vanilla_ok += first_ok ? 1 : 0;
      const size_t c = cats.index(row.category);
      if (c == cat_vanilla.size()) cat_vanilla.push_back({0, 0});
      cat_vanilla[c][0] += first_ok ? 1 : 0;
      ++cat_vanilla[c][1];
    }
  }

  int64_t circ_ok = 0;
  std::vector<std::array<int64_t, 2>> cat_circ;  // per category (ok, n)
  for (size_t g = 0; g < group_keys.size(); ++g) {
    circ_ok += group_ok[g] ? 1 : 0;
    const size_t c = cats.index(group_category[g]);
    if (c >= cat_vanilla.size()) cat_vanilla.resize(c + 1, {0, 0});
    if (c >= cat_circ.size()) cat_circ.resize(c + 1, {0, 0});
    cat_circ[c][0] += group_ok[g] ? 1 : 0;
    ++cat_circ[c][1];
  }
  cat_circ.resize(cats.names().size(), {0, 0});
  cat_vanilla.resize(cats.names().size(), {0, 0});
  r.metrics = {{"circular_accuracy", percent(double(circ_ok), double(group_keys.size()))}};
  if (vanilla_n > 0)
    r.metrics.push_back({"vanilla_accuracy", percent(double(vanilla_ok), double(vanilla_n))});
  r.metrics.push_back({"questions", double(group_keys.size())});
  const bool any_category = c_cat >= 0;
  if (any_category)
    for (size_t c = 0; c < cats.names().size(); ++c) {
      ScoreGroup grp{cats.names()[c].empty() ? "(no category)" : cats.names()[c], {}};
      grp.metrics.push_back(
          {"circular_accuracy", percent(double(cat_circ[c][0]), double(cat_circ[c][1]))});
      if (cat_vanilla[c][1] > 0)
        grp.metrics.push_back(
            {"vanilla_accuracy", percent(double(cat_vanilla[c][0]), double(cat_vanilla[c][1]))});
      grp.metrics.push_back({"n", double(cat_circ[c][1])});
      r.groups.push_back(std::move(grp));
    }
  return r;
}

}  // namespace yopo::eval::detail
