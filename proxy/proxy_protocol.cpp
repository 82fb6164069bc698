#include "proxy/proxy_protocol.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <memory>
#include <vector>

#include "proxy/http_session.hpp"
#include "proxy/tls_handshake.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

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

// Waits for the header: peeks, consumes exactly what belongs to it, hands the connection on.
class proxy_header_reader : public std::enable_shared_from_this<proxy_header_reader> {
 public:
  proxy_header_reader(worker& w, tcp::socket sock, bool https)
      : w_(w), sock_(std::move(sock)), timer_(w.context()), https_(https) {}

  void start() {
    timer_.expires_after(w_.settings().proxy_protocol_header_timeout);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
      if (!e && !self->done_) {
        boost::system::error_code ignore;
        self->sock_.close(ignore);  // the pending wait completes with an error
      }
    });
    wait();
  }

 private:
  void wait() {
    sock_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& e) { self->on_readable(e); });
  }

  void fail() {
    done_ = true;
    timer_.cancel();
    boost::system::error_code ignore;
    sock_.close(ignore);
  }

  void on_readable(const boost::system::error_code& e) {
    if (e || !sock_.is_open() || w_.draining()) return fail();
    char tmp[proxy_v2_max];
    const std::size_t want = proxy_v2_max - buf_.size();
    const ssize_t n = ::recv(sock_.native_handle(), tmp, want, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return wait();
    if (n <= 0) return fail();  // closed before a header, or an error
    std::string seen = buf_;
    seen.append(tmp, static_cast<std::size_t>(n));
    const proxy_header h = parse_proxy_header(seen);
    if (h.state == proxy_header_state::invalid) return fail();
    // Consume what belongs to the header: all of it when complete, else what was peeked
    // (all header bytes, since the header has not ended).
    const std::size_t take = h.state == proxy_header_state::complete ? h.length - buf_.size()
                                                                      : static_cast<std::size_t>(n);
    const ssize_t got = ::recv(sock_.native_handle(), tmp, take, MSG_DONTWAIT);
    if (got != static_cast<ssize_t>(take)) return fail();
    buf_.append(tmp, take);
    if (h.state == proxy_header_state::incomplete) return wait();
    done_ = true;
    timer_.cancel();
    w_.accept_proxied(std::move(sock_), https_, trusted_source(h.source));
  }

  // The header's address when the connecting peer may speak for clients (proxy-real-ip-cidr).
  std::string trusted_source(const std::string& source) {
    if (source.empty()) return {};
    boost::system::error_code ec;
    auto peer = sock_.remote_endpoint(ec);
    if (ec) return {};
    auto addr = peer.address();
    if (addr.is_v6() && addr.to_v6().is_v4_mapped())
      addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    return w_.proxy_protocol_trusted(addr.to_string()) ? source : std::string();
  }

  worker& w_;
  tcp::socket sock_;
  asio::steady_timer timer_;
  bool https_;
  bool done_ = false;
  std::string buf_;
};

}  // namespace

proxy_header parse_proxy_header(std::string_view b) {
  if (b.empty()) return {};
  if (b.front() == 'P') {
    if (b.size() < v1_prefix.size())
      return is_prefix_of(b, v1_prefix) ? proxy_header{} : proxy_header{proxy_header_state::invalid};
    if (!b.starts_with(v1_prefix)) return {proxy_header_state::invalid};
    return parse_v1(b);
  }
  if (b.size() < v2_signature.size())
    return is_prefix_of(b, v2_signature) ? proxy_header{} : proxy_header{proxy_header_state::invalid};
  if (!b.starts_with(v2_signature)) return {proxy_header_state::invalid};
  return parse_v2(b);
}

void accept_with_proxy_header(worker& w, tcp::socket sock, bool https) {
  std::make_shared<proxy_header_reader>(w, std::move(sock), https)->start();
}

}  // namespace portico::proxy
