// Shared pieces of the benchmark scorers (internal to src/eval): the answers file, annotation
// files that may be JSON documents or jsonl, question ids as strings, and report building.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/score.h"

namespace yopo::eval::detail {

// One answer line (LLaVA's answers format).
struct AnswerRecord {
  std::string id;    // question_id as a string
  std::string text;  // the model's answer
  int64_t line = 0;  // 1-based line in the answers file
  nlohmann::json raw;
};

struct Answers {
  std::string path;
  std::vector<AnswerRecord> records;
  std::unordered_map<std::string, std::vector<size_t>> by_id;  // indexes into records, file order

  // The last answer given for id, or nullptr.
  const AnswerRecord* last(const std::string& id) const;
  // Answer lines whose id is not in `known`.
  int64_t count_unknown(const std::unordered_set<std::string>& known) const;
};

// Reads an answers jsonl file; every line must be an object with `question_id` (number or string)
// and `text` (string). Throws yopo::Error naming the file and line otherwise.
Answers load_answers(const std::string& path);

// A question id (number or string) as a string: integers in decimal, strings as they are.
// Throws yopo::Error mentioning `where` for other JSON types.
std::string id_string(const nlohmann::json& v, const std::string& where);

// One annotation record and where it came from ("file 'F' line 3" / "file 'F' item 3").
struct AnnRecord {
  std::string where;
  nlohmann::json value;
};

// An annotation file: either one JSON document (doc) or jsonl lines (records).
struct AnnotationFile {
  std::string path;
  bool is_jsonl = false;
  nlohmann::json doc;              // when !is_jsonl
  std::vector<AnnRecord> records;  // when is_jsonl
};

// Reads `path` as one JSON document when it parses as one, else as jsonl (a malformed line throws
// naming the file and line). what names the file in messages ("POPE annotations").
AnnotationFile load_annotation_file(const std::string& path, const std::string& what);

// The records of an annotation file: the jsonl lines; or a JSON list; or the list under one of
// `wrappers` of a JSON object; or a single object holding "question_id". Throws otherwise.
std::vector<AnnRecord> annotation_records(const AnnotationFile& f,
                                          const std::vector<std::string>& wrappers);

// A required string member of a record (throws naming rec.where and the key).
std::string require_string(const AnnRecord& rec, const char* key);

// 100 * num / den, 0 when den == 0.
double percent(double num, double den);

// Adds the item to the report and counts it as scored or missing.
void add_item(ScoreReport& r, const std::string& id, double score, const std::string& parsed,
              bool missing);

// Collects rows by group name, keeping the order in which groups first appear.
class GroupOrder {
 public:
  size_t index(const std::string& name);
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, size_t> index_;
};

// The per-task scorers (score_<task>.cpp).
ScoreReport score_pope(const Answers& a, const std::string& annotations);
ScoreReport score_gqa(const Answers& a, const std::string& annotations);
ScoreReport score_vqa(const std::string& task, const Answers& a, const std::string& annotations);
ScoreReport score_sqa(const Answers& a, const std::string& annotations);
ScoreReport score_mmbench(const Answers& a, const std::string& annotations);
ScoreReport score_mme(const Answers& a, const std::string& annotations);

}  // namespace yopo::eval::detail
