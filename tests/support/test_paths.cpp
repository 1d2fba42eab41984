#include "support/test_paths.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace yopo::test {

namespace fs = std::filesystem;

std::string assets_dir() {
  const char* env = std::getenv("YOPO_ASSETS");
  const std::string dir = env && *env ? env : YOPO_DEFAULT_ASSETS;
  return fs::is_directory(dir) ? dir : "";
}

std::string asset(const std::string& relative) {
  const std::string dir = assets_dir();
  if (dir.empty()) return "";
  const fs::path p = fs::path(dir) / relative;
  return fs::exists(p) ? p.string() : "";
}

std::string fixture(const std::string& relative) {
  return (fs::path(YOPO_FIXTURES_DIR) / relative).string();
}

std::string cli_path() {
  return YOPO_CLI_PATH;
}

std::string temp_dir() {
  std::string templ = (fs::temp_directory_path() / "yopo-test-XXXXXX").string();
  char* d = ::mkdtemp(templ.data());
  return d ? std::string(d) : fs::temp_directory_path().string();
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace yopo::test
