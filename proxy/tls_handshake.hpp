// An accepted HTTPS connection until its TLS handshake completes: then it becomes an
// http_session (HTTPS). The handshake runs on the worker, bounded by the client header
// timeout; a failed or timed-out handshake closes the connection quietly.
#pragma once

#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <list>
#include <memory>

#include "proxy/byte_stream.hpp"

namespace portico::proxy {

class worker;

class tls_handshake : public std::enable_shared_from_this<tls_handshake> {
 public:
  // `peer`: the client address from a PROXY protocol header ("" = the socket's peer).
  // `listener_port`: the Gateway listener port of the listener (0: --https-port).
  tls_handshake(worker& w, boost::asio::ip::tcp::socket sock, std::string peer = {},
                std::uint16_t listener_port = 0);
  ~tls_handshake();
  tls_handshake(const tls_handshake&) = delete;
  tls_handshake& operator=(const tls_handshake&) = delete;

  void start();
  // The worker is shutting down: the connection has not sent a request yet, close it.
  void cancel();

 private:
  void on_handshake(const boost::system::error_code& ec);

  worker& w_;
  byte_stream conn_;
  boost::asio::steady_timer timer_;
  std::list<tls_handshake*>::iterator enrolled_;
  bool done_ = false;
  std::string peer_;
  std::uint16_t listener_port_ = 0;
};

}  // namespace portico::proxy
