#include "server/data_url.h"

#include "core/error.h"
#include "eval/base64.h"

namespace yopo::server {

DataUrl parse_data_url(std::string_view url) {
  const std::string_view scheme = "data:";
  if (url.substr(0, scheme.size()) != scheme) {
    const size_t colon = url.find(':');
    const std::string shown(url.substr(0, colon == std::string_view::npos ? 16 : colon));
    fail(
        "image URLs must be inline \"data:<type>;base64,...\" URLs (this server fetches "
        "nothing from the network); got a '",
        shown, "' URL");
  }
  const size_t comma = url.find(',');
  check(comma != std::string_view::npos, "the data: URL has no ',' before its data");
  const std::string_view head = url.substr(scheme.size(), comma - scheme.size());
  const std::string_view b64 = ";base64";
  check(head.size() >= b64.size() && head.substr(head.size() - b64.size()) == b64,
        "the data: URL is not base64-encoded (';base64,' expected before the data)");
  DataUrl out;
  const std::string_view params = head.substr(0, head.size() - b64.size());
  out.media_type = std::string(params.substr(0, params.find(';')));
  const std::optional<std::string> bytes = eval::decode_base64(url.substr(comma + 1));
  check(bytes.has_value(), "the data: URL's data is not valid base64");
  out.bytes.assign(bytes->begin(), bytes->end());
  return out;
}

}  // namespace yopo::server
