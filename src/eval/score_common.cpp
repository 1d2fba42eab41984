#include "eval/score_common.h"

#include <sstream>

#include "core/error.h"
#include "eval/jsonl.h"

namespace yopo::eval::detail {

const AnswerRecord* Answers::last(const std::string& id) const {
  const auto it = by_id.find(id);
  return it == by_id.end() ? nullptr : &records[it->second.back()];
}

int64_t Answers::count_unknown(const std::unordered_set<std::string>& known) const {
  int64_t n = 0;
  for (const AnswerRecord& r : records) n += known.count(r.id) ? 0 : 1;
  return n;
}

std::string id_string(const nlohmann::json& v, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d == double(int64_t(d))) return std::to_string(int64_t(d));
    return v.dump();
  }
  fail(where, ": question_id must be a number or a string, not ", v.dump());
}

Answers load_answers(const std::string& path) {
  Answers a;
  a.path = path;
  for (JsonlLine& l : read_jsonl(path)) {
    std::ostringstream where;
    where << "answers file '" << path << "' line " << l.line;
    check(l.value.is_object(), where.str(), ": expected a JSON object, got ", l.value.type_name());
    check(l.value.contains("question_id"), where.str(), ": no \"question_id\"");
    check(l.value.contains("text") && l.value["text"].is_string(), where.str(),
          ": no string \"text\" (the model's answer)");
    AnswerRecord r;
    r.id = id_string(l.value["question_id"], where.str());
    r.text = l.value["text"].get<std::string>();
    r.line = l.line;
    r.raw = std::move(l.value);
    a.by_id[r.id].push_back(a.records.size());
    a.records.push_back(std::move(r));
  }
  return a;
}

AnnotationFile load_annotation_file(const std::string& path, const std::string& what) {
  AnnotationFile f;
  f.path = path;
  const std::string text = read_text_file(path, what + " file");
  try {
    f.doc = nlohmann::json::parse(text);
    return f;
  } catch (const nlohmann::json::exception&) {
    // Not one JSON document: read it as jsonl below.
  }
  f.is_jsonl = true;
  JsonlContents c = parse_jsonl_text(text, what + " file '" + path + "'");
  if (!c.errors.empty()) throw Error(c.errors.front().message);
  for (JsonlLine& l : c.lines) {
    std::ostringstream where;
    where << what << " file '" << path << "' line " << l.line;
    f.records.push_back({where.str(), std::move(l.value)});
  }
  return f;
}

std::vector<AnnRecord> annotation_records(const AnnotationFile& f,
                                          const std::vector<std::string>& wrappers) {
  if (f.is_jsonl) return f.records;
  const nlohmann::json* list = nullptr;
  if (f.doc.is_array()) list = &f.doc;
  if (f.doc.is_object()) {
    if (f.doc.contains("question_id")) return {{"file '" + f.path + "' (a single record)", f.doc}};
    for (const std::string& w : wrappers)
      if (f.doc.contains(w) && f.doc[w].is_array()) {
        list = &f.doc[w];
        break;
      }
  }
  if (list == nullptr) {
    std::string keys;
    for (const std::string& w : wrappers) keys += (keys.empty() ? "\"" : ", \"") + w + "\"";
    fail("annotation file '", f.path, "': expected jsonl lines or a JSON list of records",
         keys.empty() ? "" : " (or an object holding the list under ", keys,
         keys.empty() ? "" : ")");
  }
  std::vector<AnnRecord> out;
  out.reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    std::ostringstream where;
    where << "annotation file '" << f.path << "' item " << i + 1;
    out.push_back({where.str(), (*list)[i]});
  }
  return out;
}

std::string require_string(const AnnRecord& rec, const char* key) {
  check(rec.value.is_object(), rec.where, ": expected a JSON object");
  check(rec.value.contains(key) && rec.value[key].is_string(), rec.where, ": no string \"", key,
        "\"");
  return rec.value[key].get<std::string>();
}

double percent(double num, double den) {
  return den > 0 ? 100.0 * num / den : 0.0;
}

void add_item(ScoreReport& r, const std::string& id, double score, const std::string& parsed,
              bool missing) {
  r.items.push_back({id, score, parsed, missing});
  if (missing)
    ++r.n_missing;
  else
    ++r.n_scored;
}

size_t GroupOrder::index(const std::string& name) {
  const auto it = index_.find(name);
  if (it != index_.end()) return it->second;
  index_.emplace(name, names_.size());
  names_.push_back(name);
  return names_.size() - 1;
}

}  // namespace yopo::eval::detail
