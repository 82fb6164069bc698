#include "proxy/tls_handshake.hpp"

#include <boost/system/system_error.hpp>

#include <cstring>

#include "proxy/h2_session.hpp"
#include "proxy/http_session.hpp"
#include "proxy/observe.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

tls_handshake::tls_handshake(worker& w, tcp::socket sock, std::string peer, std::uint16_t listener_port)
    : w_(w), conn_(std::move(sock)), timer_(w.context()), peer_(std::move(peer)), listener_port_(listener_port) {
  enrolled_ = w_.enroll(this);
}

tls_handshake::~tls_handshake() { w_.withdraw(enrolled_); }

void tls_handshake::start() {
  boost::system::error_code ec;
  conn_.socket().set_option(tcp::no_delay(true), ec);
  try {
    conn_.start_server_tls(w_.tls_context().native_handle());
  } catch (const boost::system::system_error&) {
    conn_.close(ec);  // no SSL object (out of memory): the connection ends quietly
    return;
  }
  tls_server_context::attach(conn_.ssl(), &w_.tls());
  timer_.expires_after(w_.settings().client_header_timeout);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
    if (!e && !self->done_) self->cancel();
  });
  conn_.server_tls()->async_handshake(
      [self = shared_from_this()](const boost::system::error_code& e) { self->on_handshake(e); });
}

void tls_handshake::cancel() {
  boost::system::error_code ec;
  conn_.socket().close(ec);  // the pending handshake completes with an error
}

void tls_handshake::on_handshake(const boost::system::error_code& ec) {
  done_ = true;
  timer_.cancel();
  if (ec || w_.draining() || !conn_.is_open()) {
    boost::system::error_code ignore;
    conn_.close(ignore);
    return;
  }
  const unsigned char* proto = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(conn_.ssl(), &proto, &len);
  if (len == 2 && std::memcmp(proto, "h2", 2) == 0) {
    std::make_shared<h2_connection>(w_, std::move(conn_), std::move(peer_), listener_port_)->start();
    return;
  }
  idle_conn::wait(w_, std::move(conn_), {std::move(peer_), 0, 0, listener_port_, true, false});
}

}  // namespace portico::proxy
