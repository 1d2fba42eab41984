// Errors: library code throws yopo::Error with a message a user can act on; it never exits.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace yopo {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds a message from its parts (streamed) and throws yopo::Error.
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Error(os.str());
}

// Throws yopo::Error built from the parts when cond is false.
template <class... Parts>
void check(bool cond, const Parts&... parts) {
  if (!cond) fail(parts...);
}

}  // namespace yopo
