#include "proxy/response_head.hpp"

#include <boost/asio/buffer.hpp>

#include "proxy/request_check.hpp"

namespace portico::proxy {

response_head_state response_head_reader::take(response_parser& p, std::string_view buffered) {
  const std::size_t from = searched > 3 ? searched - 3 : 0;
  const std::size_t end = buffered.find("\r\n\r\n", from);
  if (end == std::string_view::npos) {
    searched = buffered.size();
    return buffered.size() >= limit ? response_head_state::too_large
                                    : response_head_state::incomplete;
  }
  const std::size_t n = end + 4;
  if (n > limit) return response_head_state::too_large;
  const std::string_view head = buffered.substr(0, n);
  if (scan_head(head, n + 1).state != head_scan::complete) return response_head_state::malformed;
  boost::beast::error_code ec;
  const std::size_t used = p.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec || !p.is_header_done() || used != n) return response_head_state::malformed;
  // Transfer-Encoding with Content-Length (RFC 9112 6.3: handled as an error). The parser
  // refuses "chunked" with a length but frames any other coding by the length.
  bool te = false, cl = false;
  for (const auto& f : p.head().fields) {
    te = te || f.name == http_field::transfer_encoding;
    cl = cl || f.name == http_field::content_length;
  }
  if (te && cl) return response_head_state::malformed;
  length = n;
  return response_head_state::complete;
}

}  // namespace portico::proxy
