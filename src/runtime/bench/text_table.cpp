#include "runtime/bench/text_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace yopo::bench {

TextTable::TextTable(std::vector<std::string> headers) : headers_(std::move(headers)) {
  check(!headers_.empty(), "a table needs at least one column");
}

void TextTable::add_row(std::vector<std::string> cells) {
  check(cells.size() == headers_.size(), "table row has ", cells.size(), " cells for ",
        headers_.size(), " columns");
  rows_.push_back(std::move(cells));
}

std::string TextTable::render() const {
  const size_t n = headers_.size();
  std::vector<size_t> w(n, 3);  // room for "---" / "--:"
  for (size_t c = 0; c < n; ++c) {
    w[c] = std::max(w[c], headers_[c].size());
    for (const auto& r : rows_) w[c] = std::max(w[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s = "|";
    for (size_t c = 0; c < n; ++c) {
      const std::string pad(w[c] - cells[c].size(), ' ');
      s += ' ';
      if (c != 0) s += pad;
      s += cells[c];
      if (c == 0) s += pad;
      s += " |";
    }
    return s + "\n";
  };
  std::string out = line(headers_);
  out += "|";
  for (size_t c = 0; c < n; ++c)
    out += c == 0 ? std::string(w[c] + 2, '-') + "|" : std::string(w[c] + 1, '-') + ":|";
  out += "\n";
  for (const auto& r : rows_) out += line(r);
  return out;
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", std::clamp(decimals, 0, 12), v);
  return buf;
}

}  // namespace yopo::bench
