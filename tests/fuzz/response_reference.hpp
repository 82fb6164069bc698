// The reference for proxy/response_head.hpp's reader, written for plainness rather than speed:
// a search for CRLFCRLF, a scan of every byte of the head for obs-fold, bare CR, bare LF and
// NUL (scan_head, the request side's check), then Beast's parser over the whole head, and
// Beast's parser again for the body. tests/proxy/response_head_test.cpp and the
// http_response_head fuzzer compare the reader with it.
#pragma once

#include <boost/asio/buffer.hpp>

#include <string_view>

#include "proxy/http_parser.hpp"
#include "proxy/request_check.hpp"
#include "proxy/response_head.hpp"

namespace portico::fuzz {

// `p` must be fresh (header_limit 64 KiB, no body limit, skip(true) for a HEAD request).
inline proxy::response_head_state reference_take(proxy::response_parser& p,
                                                 std::string_view buffered, std::size_t limit,
                                                 std::size_t& length) {
  using proxy::response_head_state;
  const std::size_t end = buffered.find("\r\n\r\n");
  if (end == std::string_view::npos)
    return buffered.size() >= limit ? response_head_state::too_large : response_head_state::incomplete;
  const std::size_t n = end + 4;
  if (n > limit) return response_head_state::too_large;
  const std::string_view head = buffered.substr(0, n);
  if (proxy::scan_head(head, n + 1).state != proxy::head_scan::complete)
    return response_head_state::malformed;
  boost::beast::error_code ec;
  const std::size_t used = p.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec || !p.is_header_done() || used != n) return response_head_state::malformed;
  bool te = false, cl = false;
  for (const auto& f : p.head().fields) {
    te = te || f.name == proxy::http_field::transfer_encoding;
    cl = cl || f.name == proxy::http_field::content_length;
  }
  if (te && cl) return response_head_state::malformed;
  length = n;
  return response_head_state::complete;
}

}  // namespace portico::fuzz
