// parse_proxy_header(): any bytes at the start of a connection with use-proxy-protocol on.
// Invariants: a complete header lies within the bytes, is at least the shortest header and at
// most the longest one read, parses the same alone and with other bytes after it, and its
// cut-short forms wait for more; its address is an IP address in canonical form; waiting never
// goes on past the longest header (a connection cannot be held by an endless header); a
// rejected start stays rejected whatever follows.
#include <boost/asio/ip/address.hpp>
#include <string>

#include "proxy/proxy_protocol.hpp"
#include "tests/fuzz/fuzz_support.hpp"

PORTICO_FUZZ_TARGET(http_proxy_header) {
  using namespace portico::proxy;
  using portico::fuzz::shown;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const proxy_header h = parse_proxy_header(bytes);
  const std::string what = shown(bytes, 200);
  switch (h.state) {
    case proxy_header_state::complete: {
      PORTICO_FUZZ_CHECK(h.length >= 15 && h.length <= bytes.size(), what);
      PORTICO_FUZZ_CHECK(h.length <= proxy_v2_max, what);
      const std::string_view header = bytes.substr(0, h.length);
      for (const std::string& tail : {std::string(), std::string("GET / HTTP/1.1\r\n"),
                                      std::string("\x16\x03\x01", 3)}) {
        const proxy_header again = parse_proxy_header(std::string(header) + tail);
        PORTICO_FUZZ_CHECK(again.state == proxy_header_state::complete &&
                               again.length == h.length && again.source == h.source,
                           what + ": not the same with other bytes after the header");
      }
      for (std::size_t cut : {std::size_t{0}, std::size_t{1}, h.length / 2, h.length - 1})
        PORTICO_FUZZ_CHECK(parse_proxy_header(header.substr(0, cut)).state ==
                               proxy_header_state::incomplete,
                           what + ": cut at " + std::to_string(cut) + " does not wait for more");
      if (!h.source.empty()) {
        boost::system::error_code ec;
        const auto a = boost::asio::ip::make_address(h.source, ec);
        PORTICO_FUZZ_CHECK(!ec && a.to_string() == h.source, what + ": source " + h.source);
      }
      break;
    }
    case proxy_header_state::incomplete:
      PORTICO_FUZZ_CHECK(bytes.size() < proxy_v2_max, what + ": still waiting");
      break;
    case proxy_header_state::invalid:
      PORTICO_FUZZ_CHECK(parse_proxy_header(std::string(bytes) + "\r\n\r\n").state ==
                             proxy_header_state::invalid,
                         what + ": accepted once more bytes came");
      break;
  }
  return 0;
}
