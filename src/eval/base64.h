// Standard base64 (RFC 4648, '+' and '/', '=' padding) decoding, as MMBench's tsv stores images.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace yopo::eval {

// The decoded bytes, or nullopt when the text is not valid base64. ASCII whitespace (line
// breaks included) is skipped; padding is optional at the end, and nothing may follow it.
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace yopo::eval
