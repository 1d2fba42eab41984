#include "eval/base64.h"

#include <cstdint>

namespace yopo::eval {

namespace {

// The 6-bit value of a base64 digit, or -1.
int digit_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  int n = 0;        // digits in acc (0..3)
  int padding = 0;  // '=' seen
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (is_space(c)) continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const int v = digit_value(c);
    if (v < 0 || padding > 0) return std::nullopt;  // a foreign byte, or a digit after '='
    acc = (acc << 6) | uint32_t(v);
    if (++n == 4) {
      out.push_back(char((acc >> 16) & 0xFF));
      out.push_back(char((acc >> 8) & 0xFF));
      out.push_back(char(acc & 0xFF));
      acc = 0;
      n = 0;
    }
  }
  // A group of 1 digit cannot encode a byte; padding must complete the last group.
  if (n == 1) return std::nullopt;
  if (padding > 0 && (n == 0 || n + padding != 4)) return std::nullopt;
  if (n == 2) out.push_back(char((acc >> 4) & 0xFF));
  if (n == 3) {
    out.push_back(char((acc >> 10) & 0xFF));
    out.push_back(char((acc >> 2) & 0xFF));
  }
  return out;
}

}  // namespace yopo::eval
