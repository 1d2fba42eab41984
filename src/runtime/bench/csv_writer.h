// Comma-separated values with RFC 4180 quoting: a field holding a comma, a double quote, CR or
// LF is enclosed in double quotes and its double quotes are doubled. Lines end with "\n" (RFC
// 4180 says CRLF; every CSV reader in use accepts LF).
#pragma once

#include <string>
#include <vector>

namespace yopo::bench {

std::string csv_field(const std::string& s);
std::string csv_line(const std::vector<std::string>& fields);  // ends with '\n'

}  // namespace yopo::bench
