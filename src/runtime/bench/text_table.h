// A Markdown table for terminals (as llama-bench prints): cells padded to the widest entry of
// their column, the first column left-aligned, the others right-aligned.
#pragma once

#include <string>
#include <vector>

namespace yopo::bench {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers);
  // Throws yopo::Error when the row does not have one cell per column.
  void add_row(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  // "| a   |   b |\n|-----|----:|\n| xyz |   1 |\n" (widths count bytes; keep cells ASCII).
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Fixed-point text of v with `decimals` digits; "-" for NaN or infinities.
std::string fixed(double v, int decimals);

}  // namespace yopo::bench
