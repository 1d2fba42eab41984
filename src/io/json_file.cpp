#include "io/json_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace yopo {

nlohmann::json parse_json_text(std::string_view text, const std::string& origin) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    // The parser's message holds the line, column and byte of the failure.
    fail("invalid JSON in ", origin, ": ", e.what());
  }
}

nlohmann::json read_json_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail("JSON file '", path, "' is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open JSON file '", path, "': ", std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) fail("cannot read JSON file '", path, "'");
  const std::string text = buf.str();
  return parse_json_text(text, "file '" + path + "'");
}

}  // namespace yopo
