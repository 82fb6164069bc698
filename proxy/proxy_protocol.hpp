// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2) on the HTTP and HTTPS
// listeners, for a Portico behind an L4 load balancer (ConfigMap use-proxy-protocol, as in
// ingress-nginx). Every connection must then start with a header; the client address it
// carries becomes the request's peer address when the connecting address is in
// proxy-real-ip-cidr (nginx's set_real_ip_from with real_ip_header proxy_protocol). A
// connection without a valid header within proxy-protocol-header-timeout is closed, as
// nginx closes it ("broken header"). A LOCAL (v2) or UNKNOWN (v1) header keeps the
// connecting address (health checks of the load balancer).
//
// The header is read without reading past it (peeked, then consumed exactly), so the bytes
// after it reach the TLS handshake or the HTTP parser untouched.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace portico::proxy {

enum class proxy_header_state : std::uint8_t { incomplete, invalid, complete };

struct proxy_header {
  proxy_header_state state = proxy_header_state::incomplete;
  std::size_t length = 0;  // complete: bytes of the header
  std::string source;      // complete: the client address ("" for LOCAL / UNKNOWN)
};

// v1 is at most 107 bytes; v2 is 16 bytes and the length they announce (capped here).
inline constexpr std::size_t proxy_v1_max = 107;
inline constexpr std::size_t proxy_v2_max = 16 + 1024;

// Parses the start of a connection's bytes.
proxy_header parse_proxy_header(std::string_view bytes);

class worker;

// Reads the header of an accepted connection, then hands it on as worker::on_accept would
// (TLS handshake or HTTP session) with the client address; closes it on a bad header.
// `listener_port`: as worker::accept_proxied's.
void accept_with_proxy_header(worker& w, boost::asio::ip::tcp::socket sock, bool https,
                              std::uint16_t listener_port);

}  // namespace portico::proxy
