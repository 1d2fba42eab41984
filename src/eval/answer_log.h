// The answers file of `yopo eval`: LLaVA's answer lines (question_id, prompt, text, answer_id,
// model_id, metadata) plus the pruning plan and executed FLOPs, appended and flushed line by line,
// and read back to resume an interrupted run.
#pragma once

#include <cstdint>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/questions.h"

namespace yopo::eval {

// What identifies an answered question: its id and prompt text (MME asks two questions about one
// image under one question_id, so the id alone is not enough).
std::string answer_key(const std::string& question_id, const std::string& prompt);

// A deterministic answer id: 16 hex digits of a 64-bit FNV-1a hash of the model id, plan,
// question id and prompt (LLaVA uses a random shortuuid; ours repeats across identical runs).
std::string make_answer_id(const std::string& model_id, const std::string& plan,
                           const std::string& question_id, const std::string& prompt);

struct AnswerRecord {
  const Question* question = nullptr;
  std::string text;
  std::string model_id;
  std::string plan_name, plan_spec, semantics;
  double executed_flops = 0, visual_flops = 0;
  std::string model_fingerprint;  // io/model_fingerprint.h; written when not empty
  std::string plan_fingerprint;   // of the resolved plan (head masks included); same
};

// The JSON object of one answer line, keys in LLaVA's order then ours (plan, plan_spec,
// semantics, executed_flops, visual_flops, model_fingerprint, plan_fingerprint). question_id is a
// JSON number when the question file wrote it as one.
nlohmann::ordered_json answer_json(const AnswerRecord& r);

// An answer line read back.
struct LoggedAnswer {
  int64_t line = 0;
  std::string key;  // answer_key(question_id, prompt)
  double executed_flops = 0, visual_flops = 0;
  bool has_flops = false;
  std::string model_fingerprint, plan_fingerprint, plan_spec, semantics;  // "" when absent
};

struct AnswerLog {
  std::vector<LoggedAnswer> answers;
  std::vector<std::string> warnings;  // "FILE:LINE: what" for lines that were ignored
  bool ends_with_newline = true;      // false when the last line was cut short
};

// Reads an existing answers file; a missing file is an empty log. Malformed lines (e.g. one cut
// short by a killed run) are ignored with a warning: their questions are answered again.
AnswerLog read_answer_log(const std::string& path);

// Appends answer lines to a file, flushing each (so a killed run loses at most the line being
// written). A previous line cut short is terminated first so the next one starts on its own line.
class AnswerWriter {
 public:
  explicit AnswerWriter(const std::string& path);
  void write(const nlohmann::ordered_json& line);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace yopo::eval
