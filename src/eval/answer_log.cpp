#include "eval/answer_log.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/fnv1a.h"
#include "eval/jsonl.h"

namespace yopo::eval {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string id_text(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

std::string answer_key(const std::string& question_id, const std::string& prompt) {
  return question_id + '\x1f' + prompt;
}

std::string make_answer_id(const std::string& model_id, const std::string& plan,
                           const std::string& question_id, const std::string& prompt) {
  uint64_t h = kFnv1aBasis;
  for (const std::string* part : {&model_id, &plan, &question_id, &prompt}) {
    h = fnv1a(*part, h);
    h = fnv1a(std::string(1, '\x1f'), h);
  }
  return hex16(h);
}

nlohmann::ordered_json answer_json(const AnswerRecord& r) {
  check(r.question != nullptr, "answer_json: no question");
  const Question& q = *r.question;
  nlohmann::ordered_json line = nlohmann::ordered_json::object();
  json id = q.id;
  if (q.id_is_number) {
    try {
      id = json::parse(q.id);
    } catch (const json::exception&) {
      id = q.id;
    }
  }
  line["question_id"] = id;
  line["prompt"] = q.text;
  line["text"] = r.text;
  line["answer_id"] = make_answer_id(r.model_id, r.plan_spec + "/" + r.semantics, q.id, q.text);
  line["model_id"] = r.model_id;
  line["metadata"] = nlohmann::ordered_json::object();
  line["plan"] = r.plan_name;
  line["plan_spec"] = r.plan_spec;
  line["semantics"] = r.semantics;
  line["executed_flops"] = r.executed_flops;
  line["visual_flops"] = r.visual_flops;
  if (!r.model_fingerprint.empty()) line["model_fingerprint"] = r.model_fingerprint;
  if (!r.plan_fingerprint.empty()) line["plan_fingerprint"] = r.plan_fingerprint;
  return line;
}

AnswerLog read_answer_log(const std::string& path) {
  AnswerLog log;
  std::error_code ec;
  if (!fs::exists(path, ec)) return log;
  const std::string text = read_text_file(path, "answers file");
  log.ends_with_newline = text.empty() || text.back() == '\n';
  const JsonlContents c = parse_jsonl_text(text, "answers file '" + path + "'");
  for (const JsonlError& e : c.errors)
    log.warnings.push_back(path + ":" + std::to_string(e.line) + ": ignored (" + e.message + ")");
  for (const JsonlLine& l : c.lines) {
    const json& v = l.value;
    const std::string where = path + ":" + std::to_string(l.line) + ": ";
    if (!v.is_object() || !v.contains("question_id") || !v.contains("prompt") ||
        !v["prompt"].is_string() ||
        !(v["question_id"].is_string() || v["question_id"].is_number())) {
      log.warnings.push_back(where + "ignored (not an answer line with question_id and prompt)");
      continue;
    }
    LoggedAnswer a;
    a.line = l.line;
    a.key = answer_key(id_text(v["question_id"]), v["prompt"].get<std::string>());
    if (v.contains("executed_flops") && v["executed_flops"].is_number() &&
        v.contains("visual_flops") && v["visual_flops"].is_number()) {
      a.executed_flops = v["executed_flops"].get<double>();
      a.visual_flops = v["visual_flops"].get<double>();
      a.has_flops = true;
    }
    for (auto [key, field] :
         {std::pair{"model_fingerprint", &a.model_fingerprint},
          std::pair{"plan_fingerprint", &a.plan_fingerprint}, std::pair{"plan_spec", &a.plan_spec},
          std::pair{"semantics", &a.semantics}})
      if (v.contains(key) && v[key].is_string()) *field = v[key].get<std::string>();
    log.answers.push_back(std::move(a));
  }
  return log;
}

AnswerWriter::AnswerWriter(const std::string& path) : path_(path) {
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  bool needs_newline = false;
  if (fs::exists(path, ec) && fs::file_size(path, ec) > 0) {
    std::ifstream in(path, std::ios::binary);
    in.seekg(-1, std::ios::end);
    char last = '\n';
    in.get(last);
    needs_newline = last != '\n';
  }
  out_.open(path, std::ios::binary | std::ios::app);
  if (!out_) fail("cannot open answers file '", path, "' for writing: ", std::strerror(errno));
  if (needs_newline) out_ << '\n' << std::flush;
}

void AnswerWriter::write(const nlohmann::ordered_json& line) {
  // As Python's json.dumps: non-ASCII escaped; bytes that are not UTF-8 (a random model's
  // byte-fallback tokens) become U+FFFD instead of failing the run.
  out_ << line.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) << '\n' << std::flush;
  if (!out_) fail("cannot write to answers file '", path_, "'");
}

}  // namespace yopo::eval
