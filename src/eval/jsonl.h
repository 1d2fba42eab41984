// Reading JSON Lines files (question and answer files of the LLaVA evaluation scripts): one JSON
// value per line; blank lines are skipped; line numbers are 1-based and count every line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace yopo::eval {

struct JsonlLine {
  int64_t line = 0;  // 1-based line number in the file
  nlohmann::json value;
};

struct JsonlError {
  int64_t line = 0;
  std::string message;  // "file 'F' line N: <what is wrong>"
};

struct JsonlContents {
  std::vector<JsonlLine> lines;
  std::vector<JsonlError> errors;
};

// Reads every line of a jsonl file. Throws yopo::Error naming the file when it cannot be opened,
// and naming the file and line number at the first line that is not valid JSON.
std::vector<JsonlLine> read_jsonl(const std::string& path);

// As read_jsonl, but a malformed line is recorded in `errors` and reading goes on. Still throws
// when the file cannot be opened or read.
JsonlContents read_jsonl_lenient(const std::string& path);

// Parses jsonl text held in memory; origin names it in messages (e.g. "file 'a.jsonl'").
JsonlContents parse_jsonl_text(std::string_view text, const std::string& origin);

// Reads a whole file into a string; throws yopo::Error naming it when it cannot be read.
std::string read_text_file(const std::string& path, const std::string& what = "file");

}  // namespace yopo::eval
