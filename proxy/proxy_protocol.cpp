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

// Waits for the header: peeks, consumes exactly what belongs to it, hands the connection on.
class proxy_header_reader : public std::enable_shared_from_this<proxy_header_reader> {
 public:
  proxy_header_reader(worker& w, tcp::socket sock, bool https, std::uint16_t listener_port)
      : w_(w), sock_(std::move(sock)), timer_(w.context()), https_(https), listener_port_(listener_port) {}

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
    w_.accept_proxied(std::move(sock_), https_, listener_port_, trusted_source(h.source));
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
  std::uint16_t listener_port_;
  bool done_ = false;
  std::string buf_;
};

}  // namespace

void accept_with_proxy_header(worker& w, tcp::socket sock, bool https, std::uint16_t listener_port) {
  std::make_shared<proxy_header_reader>(w, std::move(sock), https, listener_port)->start();
}

}  // namespace portico::proxy
