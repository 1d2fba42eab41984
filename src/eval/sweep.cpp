#include "eval/sweep.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace yopo::eval {

namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    parts.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return parts;
}

// NAME=VALUE with NAME of letters, digits and '_'.
bool is_parameter(const std::string& piece) {
  const size_t eq = piece.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  for (size_t i = 0; i < eq; ++i) {
    const unsigned char c = static_cast<unsigned char>(piece[i]);
    if (!std::isalnum(c) && c != '_') return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> split_sweep_specs(const std::string& list) {
  std::vector<std::string> specs;
  if (list.find(';') != std::string::npos) {
    for (const std::string& p : split(list, ';'))
      if (!trim(p).empty()) specs.push_back(trim(p));
  } else {
    for (const std::string& raw : split(list, ',')) {
      const std::string p = trim(raw);
      if (p.empty()) continue;
      if (is_parameter(p)) {
        check(!specs.empty(), "--sweep '", list, "': '", p,
              "' looks like a parameter (NAME=VALUE) but no plan spec comes before it");
        specs.back() += "," + p;
      } else {
        specs.push_back(p);
      }
    }
  }
  check(!specs.empty(), "--sweep '", list, "' names no plan");
  return specs;
}

std::string plan_file_stem(const std::string& plan_name, std::vector<std::string>& taken) {
  std::string stem;
  for (const char ch : plan_name) {
    const unsigned char c = static_cast<unsigned char>(ch);
    const bool ok = std::isalnum(c) || c == '.' || c == '-' || c == '+' || c == '=' || c == '_';
    stem.push_back(ok ? ch : '_');
  }
  while (!stem.empty() && stem.front() == '.') stem.erase(stem.begin());  // no hidden files
  if (stem.empty()) stem = "plan";
  std::string name = stem;
  for (int k = 2; std::find(taken.begin(), taken.end(), name) != taken.end(); ++k)
    name = stem + "-" + std::to_string(k);
  taken.push_back(name);
  return name;
}

}  // namespace yopo::eval
