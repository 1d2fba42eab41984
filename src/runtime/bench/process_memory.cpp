#include "runtime/bench/process_memory.h"

#include <cctype>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <fstream>
#include <sstream>

namespace yopo::bench {

namespace {

// The value in kB of a line "Key:   N kB", or -1.
int64_t field_kib(const std::string& line) {
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return -1;
  size_t i = colon + 1;
  while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
  if (i == line.size() || !std::isdigit(static_cast<unsigned char>(line[i]))) return -1;
  int64_t v = 0;
  for (; i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); ++i) {
    if (v > (int64_t(1) << 50)) return -1;
    v = v * 10 + (line[i] - '0');
  }
  while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
  return line.compare(i, 2, "kB") == 0 ? v : -1;
}

}  // namespace

ProcessMemory parse_proc_status(const std::string& text) {
  ProcessMemory m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) m.rss_kib = field_kib(line);
    if (line.rfind("VmHWM:", 0) == 0) m.hwm_kib = field_kib(line);
  }
  return m;
}

ProcessMemory read_process_memory() {
  std::ifstream f("/proc/self/status");
  if (!f) return {};
  std::ostringstream s;
  s << f.rdbuf();
  return parse_proc_status(s.str());
}

bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return bool(f);
}

bool release_free_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
  return true;
#else
  return false;
#endif
}

}  // namespace yopo::bench
