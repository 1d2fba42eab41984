#include "eval/questions.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "eval/base64.h"
#include "io/json_file.h"

namespace yopo::eval {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The instruction LLaVA-1.5's ScienceQA and MMBench scripts append (--single-pred-prompt).
constexpr const char* kOptionLetterInstruction =
    "Answer with the option's letter from the given choices directly.";

std::string read_whole_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("question file '", path, "' does not exist");
  if (fs::is_directory(path, ec)) fail("question file '", path, "' is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open question file '", path, "': ", std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) fail("cannot read question file '", path, "'");
  std::string text = buf.str();
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // a UTF-8 byte-order mark
  return text;
}

std::string at(const std::string& path, int64_t line) {
  return path + ":" + std::to_string(line) + ": ";
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string strip(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string replace_all(std::string s, const std::string& what, const std::string& with) {
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size()))
    s.replace(at, what.size(), with);
  return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// A question id from a JSON value: a string, or a number (written as JSON writes it).
// Returns an error message, or "" on success.
std::string read_id(const json& obj, const char* key, Question& q) {
  const auto it = obj.find(key);
  if (it == obj.end()) return std::string("missing \"") + key + "\"";
  if (it->is_string()) {
    q.id = it->get<std::string>();
    if (q.id.empty()) return std::string("\"") + key + "\" is empty";
    q.id_is_number = false;
  } else if (it->is_number()) {
    q.id = it->dump();
    q.id_is_number = true;
  } else {
    return std::string("\"") + key + "\" must be a number or a string, not " + it->type_name();
  }
  return "";
}

// An optional string member; returns an error message or "".
std::string read_optional_string(const json& obj, const char* key, std::string& out) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string())
    return std::string("\"") + key + "\" must be a string, not " + it->type_name();
  out = it->get<std::string>();
  return "";
}

// Rejects a second question with the same id and text (MME legitimately asks two questions
// about one image under one id, so the id alone is not the key).
class DuplicateGuard {
 public:
  // Returns "" or the error message.
  std::string add(const Question& q) {
    const auto [it, fresh] = seen_.emplace(std::make_pair(q.id, q.text), q.line);
    if (fresh) return "";
    return "duplicate question " + q.id + " (same id and text as line " +
           std::to_string(it->second) + "); skipped";
  }

 private:
  std::map<std::pair<std::string, std::string>, int64_t> seen_;
};

// ---- jsonl (pope, gqa, vqav2, textvqa, mme) ------------------------------------------------

QuestionFile read_jsonl_questions(const std::string& path) {
  const std::string text = read_whole_file(path);
  QuestionFile out;
  DuplicateGuard dups;
  int64_t line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (strip(line).empty()) continue;
    const std::string where = at(path, line_no);
    json obj;
    try {
      obj = json::parse(line);
    } catch (const json::exception& e) {
      out.errors.push_back(where + "not valid JSON (" + e.what() + ")");
      continue;
    }
    if (!obj.is_object()) {
      out.errors.push_back(where + "expected a JSON object, found " + obj.type_name());
      continue;
    }
    Question q;
    q.line = line_no;
    std::string err = read_id(obj, "question_id", q);
    if (err.empty()) {
      const auto img = obj.find("image");
      if (img == obj.end() || !img->is_string() || img->get<std::string>().empty())
        err = img == obj.end() ? "missing \"image\"" : "\"image\" must be a non-empty string";
      else
        q.image = img->get<std::string>();
    }
    if (err.empty()) {
      const auto t = obj.find("text");
      if (t == obj.end() || !t->is_string())
        err = t == obj.end() ? "missing \"text\"" : "\"text\" must be a string";
      else
        q.text = t->get<std::string>();
    }
    if (err.empty()) err = read_optional_string(obj, "category", q.category);
    if (err.empty()) err = dups.add(q);
    if (!err.empty()) {
      out.errors.push_back(where + err);
      continue;
    }
    out.questions.push_back(std::move(q));
  }
  return out;
}

// ---- ScienceQA (LLaVA's llava_test_CQM-A.json) --------------------------------------------

// The 1-based line on which each element of a top-level JSON array starts. The text must be
// valid JSON (it was parsed before); returns fewer entries only if it is not an array.
std::vector<int64_t> array_element_lines(const std::string& text) {
  std::vector<int64_t> lines;
  int64_t line = 1;
  int depth = 0;
  bool in_string = false, escaped = false, expect_value = false;
  for (const char c : text) {
    if (c == '\n') ++line;
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (is_space(c)) continue;
    if (depth == 1 && expect_value && c != ']') {
      lines.push_back(line);
      expect_value = false;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
      if (depth == 1 && c == '[') expect_value = true;
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 1) {
      expect_value = true;
    }
  }
  return lines;
}

QuestionFile read_scienceqa(const std::string& path) {
  const std::string text = read_whole_file(path);
  const json doc = parse_json_text(text, "question file '" + path + "'");
  check(doc.is_array(), "question file '", path,
        "' is not a ScienceQA question list (LLaVA's llava_test_CQM-A.json: a JSON array of "
        "{id, image, conversations}); found a JSON ",
        doc.type_name());
  const std::vector<int64_t> lines = array_element_lines(text);
  QuestionFile out;
  DuplicateGuard dups;
  for (size_t i = 0; i < doc.size(); ++i) {
    const json& rec = doc[i];
    Question q;
    q.line = i < lines.size() ? lines[i] : int64_t(i + 1);
    const std::string where = at(path, q.line);
    if (!rec.is_object()) {
      out.errors.push_back(where + "record " + std::to_string(i + 1) +
                           ": expected a JSON object, found " + rec.type_name());
      continue;
    }
    std::string err = read_id(rec, "id", q);
    if (err.empty()) err = read_optional_string(rec, "image", q.image);
    if (err.empty()) {
      const auto conv = rec.find("conversations");
      if (conv == rec.end() || !conv->is_array() || conv->empty() || !(*conv)[0].is_object())
        err = "missing \"conversations\" (a non-empty list of {from, value})";
      else if (!(*conv)[0].contains("value") || !(*conv)[0]["value"].is_string())
        err = "conversations[0] has no string \"value\"";
      else
        q.text = (*conv)[0]["value"].get<std::string>();
    }
    if (err.empty()) {
      // model_vqa_science.py: the <image> tag is removed and the text stripped; with
      // --single-pred-prompt the option-letter instruction follows on its own line.
      q.text = strip(replace_all(q.text, "<image>", ""));
      if (!ends_with(q.text, kOptionLetterInstruction))
        q.text += std::string("\n") + kOptionLetterInstruction;
      err = dups.add(q);
    }
    if (!err.empty()) {
      out.errors.push_back(where + "record " + std::to_string(i + 1) + ": " + err);
      continue;
    }
    out.questions.push_back(std::move(q));
  }
  return out;
}

// ---- MMBench tsv ---------------------------------------------------------------------------

struct TsvRecord {
  std::vector<std::string> fields;
  int64_t line = 0;  // where the record starts
};

// Tab-separated records as pandas.read_table reads them: a field that starts with '"' is quoted
// (it may hold tabs and line breaks; "" is a literal quote); "\r\n" ends a line like "\n".
// Blank lines are skipped. An unterminated quote ends reading with an error.
std::vector<TsvRecord> read_tsv_records(const std::string& text, const std::string& path,
                                        std::vector<std::string>& errors) {
  std::vector<TsvRecord> records;
  int64_t line = 1;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    TsvRecord rec;
    rec.line = line;
    std::string field;
    bool done = false;
    while (!done) {
      field.clear();
      if (i < n && text[i] == '"') {  // quoted field
        ++i;
        bool closed = false;
        while (i < n) {
          const char c = text[i++];
          if (c == '"') {
            if (i < n && text[i] == '"') {
              field.push_back('"');
              ++i;
            } else {
              closed = true;
              break;
            }
          } else {
            if (c == '\n') ++line;
            field.push_back(c);
          }
        }
        if (!closed) {
          errors.push_back(at(path, rec.line) + "a quoted field is never closed");
          return records;
        }
      }
      while (i < n && text[i] != '\t' && text[i] != '\n') field.push_back(text[i++]);
      if (!field.empty() && field.back() == '\r' && (i >= n || text[i] == '\n')) field.pop_back();
      rec.fields.push_back(field);
      if (i >= n) {
        done = true;
      } else if (text[i] == '\t') {
        ++i;
      } else {  // '\n'
        ++i;
        ++line;
        done = true;
      }
    }
    const bool blank = rec.fields.size() == 1 && strip(rec.fields[0]).empty();
    if (!blank) records.push_back(std::move(rec));
  }
  return records;
}

// LLaVA's is_none for a pandas cell: NaN (an empty cell) or the text "nan" / "none".
bool is_none(const std::string& v) {
  std::string lower;
  for (char c : v) lower.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  return v.empty() || lower == "nan" || lower == "none";
}

bool is_integer(const std::string& s) {
  if (s.empty()) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

QuestionFile read_mmbench(const std::string& path) {
  const std::string text = read_whole_file(path);
  QuestionFile out;
  const std::vector<TsvRecord> records = read_tsv_records(text, path, out.errors);
  check(!records.empty(), "question file '", path, "' is empty (expected the MMBench tsv)");
  const std::vector<std::string>& header = records[0].fields;
  auto column = [&](const std::string& name) -> int {
    const auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : int(it - header.begin());
  };
  const int c_index = column("index"), c_question = column("question"), c_image = column("image");
  const int c_hint = column("hint"), c_category = column("category");
  for (const auto& [c, name] : {std::pair{c_index, "index"}, std::pair{c_question, "question"},
                                std::pair{c_image, "image"}})
    check(c >= 0, "question file '", path, "' has no '", name,
          "' column: not an MMBench tsv (its header needs index, question, image, and A..D)");
  const char* letters[] = {"A", "B", "C", "D"};
  int c_option[4];
  for (int k = 0; k < 4; ++k) c_option[k] = column(letters[k]);

  std::map<std::string, int64_t> index_line;               // index -> line of its row
  std::map<std::string, std::string> image_of;             // index -> base64 text of its image
  std::vector<std::pair<size_t, std::string>> image_refs;  // question slot -> referenced index
  for (size_t r = 1; r < records.size(); ++r) {
    const TsvRecord& rec = records[r];
    const std::string where = at(path, rec.line);
    if (rec.fields.size() != header.size()) {
      out.errors.push_back(where + "expected " + std::to_string(header.size()) +
                           " tab-separated columns, found " + std::to_string(rec.fields.size()));
      continue;
    }
    Question q;
    q.line = rec.line;
    q.id = strip(rec.fields[size_t(c_index)]);
    q.id_is_number = is_integer(q.id);
    if (q.id.empty()) {
      out.errors.push_back(where + "empty 'index'");
      continue;
    }
    if (const auto seen = index_line.find(q.id); seen != index_line.end()) {
      out.errors.push_back(where + "duplicate index " + q.id + " (first at line " +
                           std::to_string(seen->second) + "); skipped");
      continue;
    }
    // model_vqa_mmbench.py: [hint "\n"] question, then "\n<L>. <option>" for A.. up to the first
    // empty option, then (--single-pred-prompt) the option-letter instruction.
    std::string prompt = rec.fields[size_t(c_question)];
    if (c_hint >= 0 && !is_none(rec.fields[size_t(c_hint)]))
      prompt = rec.fields[size_t(c_hint)] + "\n" + prompt;
    for (int k = 0; k < 4; ++k) {
      if (c_option[k] < 0 || is_none(rec.fields[size_t(c_option[k])])) break;
      prompt += std::string("\n") + letters[k] + ". " + rec.fields[size_t(c_option[k])];
    }
    q.text = prompt + "\n" + kOptionLetterInstruction;
    if (c_category >= 0) q.category = rec.fields[size_t(c_category)];
    const std::string image = strip(rec.fields[size_t(c_image)]);
    if (image.empty()) {
      out.errors.push_back(where + "index " + q.id + " has no image");
      continue;
    }
    index_line[q.id] = q.line;
    if (is_integer(image) && image.size() <= 20) {
      // VLMEvalKit's form: an image shared with another row is given as that row's index.
      image_refs.emplace_back(out.questions.size(), image);
    } else {
      std::optional<std::string> bytes = decode_base64(image);
      if (!bytes || bytes->empty()) {
        out.errors.push_back(where + "index " + q.id + ": the image column is not valid base64");
        index_line.erase(q.id);
        continue;
      }
      image_of[q.id] = image;
      q.image_bytes = std::move(*bytes);
    }
    out.questions.push_back(std::move(q));
  }
  // Resolve references; questions whose image cannot be found are dropped.
  std::set<size_t> drop;
  for (const auto& [slot, ref] : image_refs) {
    Question& q = out.questions[slot];
    const auto it = image_of.find(ref);
    if (it == image_of.end()) {
      out.errors.push_back(at(path, q.line) + "index " + q.id + ": its image refers to index " +
                           ref + ", which has no base64 image");
      drop.insert(slot);
      continue;
    }
    q.image_bytes = *decode_base64(it->second);
  }
  if (!drop.empty()) {
    std::vector<Question> kept;
    for (size_t i = 0; i < out.questions.size(); ++i)
      if (!drop.count(i)) kept.push_back(std::move(out.questions[i]));
    out.questions = std::move(kept);
  }
  return out;
}

}  // namespace

const std::vector<std::string>& eval_tasks() {
  static const std::vector<std::string> tasks = {"pope", "gqa",     "vqav2", "textvqa",
                                                 "sqa",  "mmbench", "mme"};
  return tasks;
}

QuestionFile read_questions(const std::string& task, const std::string& path) {
  const auto& tasks = eval_tasks();
  if (std::find(tasks.begin(), tasks.end(), task) == tasks.end()) {
    std::string known;
    for (const std::string& t : tasks) known += (known.empty() ? "" : ", ") + t;
    fail("unknown task '", task, "' (known: ", known, ")");
  }
  if (task == "sqa") return read_scienceqa(path);
  if (task == "mmbench") return read_mmbench(path);
  return read_jsonl_questions(path);
}

Image question_image(const Question& q, const std::string& images_dir) {
  if (!q.image_bytes.empty()) {
    const std::string what = "the base64 image of question " + q.id;
    return decode_image(reinterpret_cast<const uint8_t*>(q.image_bytes.data()),
                        q.image_bytes.size(), what);
  }
  check(!q.image.empty(), "question ", q.id, " (line ", q.line, ") has no image");
  const std::string path = images_dir.empty() ? q.image : (fs::path(images_dir) / q.image).string();
  std::error_code ec;
  check(fs::is_regular_file(path, ec), "image '", path, "' does not exist");
  return load_image(path);
}

}  // namespace yopo::eval
