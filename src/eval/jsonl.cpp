#include "eval/jsonl.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace yopo::eval {

std::string read_text_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(what, " '", path, "' does not exist");
  if (std::filesystem::is_directory(path, ec)) fail(what, " '", path, "' is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open ", what, " '", path, "': ", std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) fail("cannot read ", what, " '", path, "'");
  return buf.str();
}

JsonlContents parse_jsonl_text(std::string_view text, const std::string& origin) {
  JsonlContents out;
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t\f\v") == std::string_view::npos) continue;
    try {
      out.lines.push_back({line_no, nlohmann::json::parse(line.begin(), line.end())});
    } catch (const nlohmann::json::exception& e) {
      std::ostringstream msg;
      msg << origin << " line " << line_no << ": invalid JSON (" << e.what() << ")";
      out.errors.push_back({line_no, msg.str()});
    }
  }
  return out;
}

JsonlContents read_jsonl_lenient(const std::string& path) {
  const std::string text = read_text_file(path, "jsonl file");
  return parse_jsonl_text(text, "file '" + path + "'");
}

std::vector<JsonlLine> read_jsonl(const std::string& path) {
  JsonlContents c = read_jsonl_lenient(path);
  if (!c.errors.empty()) throw Error(c.errors.front().message);
  return std::move(c.lines);
}

}  // namespace yopo::eval
