// Images sent inline in requests: RFC 2397 "data:" URLs with base64 data (eval/base64.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace yopo::server {

struct DataUrl {
  std::string media_type;  // e.g. "image/png"; empty when the URL names none
  std::vector<uint8_t> bytes;
};

// Parses "data:[<media type>][;<parameter>...];base64,<data>" (RFC 4648 base64; whitespace in
// the data is skipped). Throws yopo::Error for anything else (other schemes, URLs that are not
// base64-encoded, bad base64).
DataUrl parse_data_url(std::string_view url);

}  // namespace yopo::server
