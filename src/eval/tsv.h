// Reading tab-separated tables such as the MMBench tsv, as pandas.read_table reads them: the first
// record is the header; a field that starts with '"' is quoted (it may hold tabs and newlines,
// and "" inside stands for one "); other fields run to the next tab or end of line; "\r\n" ends a
// line like "\n"; blank lines are skipped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace yopo::eval {

struct TsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each as wide as the header (short rows padded)
  std::vector<int64_t> row_lines;              // 1-based line where each row starts

  // The index of a column, or -1.
  int column(std::string_view name) const;
};

// Parses tsv text; origin names it in messages. Columns not in `keep` (when keep is not empty)
// are stored as empty strings, to save memory on large columns such as base64 images. Throws
// yopo::Error naming origin and the line for a row with more fields than the header or an
// unterminated quoted field.
TsvTable parse_tsv_text(std::string_view text, const std::string& origin,
                        const std::unordered_set<std::string>& keep = {});

// Reads and parses a tsv file (throws naming the file when it cannot be read).
TsvTable read_tsv(const std::string& path, const std::unordered_set<std::string>& keep = {});

// Whether pandas (2.x) would read the field as a missing value (NaN): one of its default NA
// strings, e.g. "", "NaN", "nan", "NA", "N/A", "NULL", "null", "None".
bool tsv_is_na(std::string_view field);

}  // namespace yopo::eval
