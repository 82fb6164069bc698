// The PROXY protocol header parser (proxy/proxy_protocol.hpp), apart from the connection
// handling so that the fuzz build compiles it alone.
#include <boost/asio/ip/address.hpp>
#include <cstring>
#include <vector>

#include "proxy/proxy_protocol.hpp"

namespace portico::proxy {

namespace asio = boost::asio;

namespace {

constexpr std::string_view v1_prefix = "PROXY ";
constexpr char v2_signature_bytes[] = "\r\n\r\n\0\r\nQUIT\n";
constexpr std::string_view v2_signature(v2_signature_bytes, 12);

bool is_prefix_of(std::string_view part, std::string_view whole) {
  return part.size() <= whole.size() && whole.substr(0, part.size()) == part;
}

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  unsigned v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v <= 65535;
}

proxy_header parse_v1(std::string_view b) {
  proxy_header h;
  const auto end = b.substr(0, proxy_v1_max).find("\r\n");
  if (end == std::string_view::npos) {
    h.state = b.size() >= proxy_v1_max ? proxy_header_state::invalid : proxy_header_state::incomplete;
    return h;
  }
  std::string_view line = b.substr(v1_prefix.size(), end - v1_prefix.size());
  std::vector<std::string_view> parts;
  while (true) {
    const auto sp = line.find(' ');
    parts.push_back(line.substr(0, sp));
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  h.state = proxy_header_state::invalid;
  if (parts.empty()) return h;
  if (parts[0] == "UNKNOWN") {  // anything may follow; the connecting address is kept
    h.state = proxy_header_state::complete;
    h.length = end + 2;
    return h;
  }
  if (parts.size() != 5 || (parts[0] != "TCP4" && parts[0] != "TCP6")) return h;
  boost::system::error_code ec;
  const std::string src(parts[1]), dst(parts[2]);
  if (parts[0] == "TCP4") {
    auto a = asio::ip::make_address_v4(src, ec);
    if (ec) return h;
    asio::ip::make_address_v4(dst, ec);
    if (ec) return h;
    h.source = a.to_string();
  } else {
    auto a = asio::ip::make_address_v6(src, ec);
    if (ec) return h;
    asio::ip::make_address_v6(dst, ec);
    if (ec) return h;
    h.source = a.is_v4_mapped() ? asio::ip::make_address_v4(asio::ip::v4_mapped, a).to_string()
                                : a.to_string();
  }
  if (!valid_port(parts[3]) || !valid_port(parts[4])) {
    h.source.clear();
    return h;
  }
  h.state = proxy_header_state::complete;
  h.length = end + 2;
  return h;
}

proxy_header parse_v2(std::string_view b) {
  proxy_header h;
  if (b.size() < 16) return h;  // incomplete
  const auto u = [&](std::size_t i) { return static_cast<unsigned char>(b[i]); };
  const unsigned version = u(12) >> 4, command = u(12) & 0x0f;
  const unsigned family = u(13) >> 4;
  const std::size_t len = (static_cast<std::size_t>(u(14)) << 8) | u(15);
  h.state = proxy_header_state::invalid;
  if (version != 2 || command > 1 || 16 + len > proxy_v2_max) return h;
  if (b.size() < 16 + len) {
    h.state = proxy_header_state::incomplete;
    return h;
  }
  if (command == 1 && family == 1) {  // PROXY over IPv4: src, dst, sport, dport
    if (len < 12) return h;
    asio::ip::address_v4::bytes_type a;
    std::memcpy(a.data(), b.data() + 16, 4);
    h.source = asio::ip::address_v4(a).to_string();
  } else if (command == 1 && family == 2) {
    if (len < 36) return h;
    asio::ip::address_v6::bytes_type a;
    std::memcpy(a.data(), b.data() + 16, 16);
    const asio::ip::address_v6 v6(a);
    h.source = v6.is_v4_mapped() ? asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string()
                                 : v6.to_string();
  } else if (command == 1 && family > 3) {
    return h;
  }
  // LOCAL, or PROXY over UNSPEC / UNIX: the connecting address stays.
  h.state = proxy_header_state::complete;
  h.length = 16 + len;
  return h;
}

proxy_header invalid_header() {
  proxy_header h;
  h.state = proxy_header_state::invalid;
  return h;
}

}  // namespace

proxy_header parse_proxy_header(std::string_view b) {
  if (b.empty()) return {};
  if (b.front() == 'P') {
    if (b.size() < v1_prefix.size())
      return is_prefix_of(b, v1_prefix) ? proxy_header{} : invalid_header();
    if (!b.starts_with(v1_prefix)) return invalid_header();
    return parse_v1(b);
  }
  if (b.size() < v2_signature.size())
    return is_prefix_of(b, v2_signature) ? proxy_header{} : invalid_header();
  if (!b.starts_with(v2_signature)) return invalid_header();
  return parse_v2(b);
}

}  // namespace portico::proxy
