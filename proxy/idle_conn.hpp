// An HTTP/1.1 connection while no request is in progress: a new one before its first byte, a
// keep-alive one between requests. It holds only what the next request needs from the
// connection (the socket or TLS stream, the client address, the listener port, the request
// count for keep-alive-requests, the trusted-network answer); an http_session with the
// per-request state (parser, heads, phases, upstream, record, buffers) takes the connection
// when the next request's first byte is there, and is kept for another connection's request
// when this one goes idle again (http_session::serve_from, go_idle).
//
// No timer per connection: the worker's idle_set keeps the waiting connections in two lists
// ordered by deadline (header timeout for new connections, keep-alive timeout between
// requests) and one timer for each list closes the expired ones at its head.
//
// Measured (bench/README.md, idle): with the whole session kept between requests an idle
// connection cost 2,841 bytes of RSS; this shell, its wait and Asio's descriptor state are
// 559 bytes of heap.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "proxy/byte_stream.hpp"

namespace portico::proxy {

class worker;
class http_session;
class idle_set;

class idle_conn {
 public:
  using clock = std::chrono::steady_clock;

  struct carry {  // what goes from one request to the next
    std::string peer;                 // the client address (new connection: "" = the socket's)
    std::uint32_t requests = 0;       // served on this connection (keep-alive-requests)
    std::uint32_t trusted_version = 0;
    std::uint16_t listener_port = 0;
    bool first_request = true;
    bool peer_trusted = false;
  };
  // Waits for the first byte of a request on `conn`: a new connection (c.first_request: it
  // is counted in client_connections from now on) for client_header_timeout, between requests
  // for the keep-alive timeout, less `waited` (the time the connection already waited in its
  // session: http_session's warm wait). `armed`: an epoll event is sure to come for any byte
  // not read yet, because in this same run of handlers the socket was accepted, or a read
  // found it empty (net::async_wait_readable: the wait then needs no system call at all).
  static void wait(worker& w, byte_stream conn, carry c, bool armed = false,
                   std::chrono::milliseconds waited = {});

  idle_conn(worker& w, byte_stream conn, carry c);
  ~idle_conn();
  idle_conn(const idle_conn&) = delete;
  idle_conn& operator=(const idle_conn&) = delete;
  // From a per-thread cache of blocks (proxy/buffer_cache.hpp): a keep-alive request costs no
  // malloc/free pair for the shell it leaves and the one it goes back to.
  static void* operator new(std::size_t n);
  static void operator delete(void* p) noexcept;

  // The connection leaves the shell (into a session).
  byte_stream take_conn() {
    counted_ = false;
    return std::move(conn_);
  }
  carry& state() { return carry_; }

  // The deadline passed (idle_set) or the worker is draining: the wait ends and the
  // connection closes quietly.
  void expire();
  void close_now();  // force_close: the grace period is over
  void close_quietly();

 private:
  friend class idle_set;
  void on_ready(std::unique_ptr<idle_conn> self, const boost::system::error_code& ec);
  static void start_wait(std::unique_ptr<idle_conn> self, bool armed);

  worker& w_;
  byte_stream conn_;
  carry carry_;
  // idle_set's list links; deadline_ orders them.
  idle_conn* prev_ = nullptr;
  idle_conn* next_ = nullptr;
  clock::time_point deadline_{};
  bool linked_ = false;
  bool in_fresh_ = false;  // in idle_set's list of new connections
  bool expired_ = false;
  bool counted_ = true;  // this shell owns the connection in client_connections
};

// A worker's idle connections, ordered by deadline, with the timers that close them.
class idle_set {
 public:
  using clock = idle_conn::clock;
  idle_set() = default;
  idle_set(const idle_set&) = delete;
  idle_set& operator=(const idle_set&) = delete;

  // Timers on `ctx`; stop() before the io_context goes.
  void start(boost::asio::io_context& ctx);
  void stop();

  void add(idle_conn& c, bool first, clock::time_point deadline);
  void remove(idle_conn& c);
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void expire_all();  // drain: every idle connection closes
  void close_all();   // force_close

 private:
  struct queue {
    idle_conn* head = nullptr;
    idle_conn* tail = nullptr;
    std::unique_ptr<boost::asio::steady_timer> timer;
    clock::time_point expiry{};
    bool pending = false;
  };
  void link(queue& q, idle_conn& c);
  void arm(queue& q);
  void sweep(queue& q);
  queue& queue_of(const idle_conn& c) { return c.in_fresh_ ? fresh_ : kept_; }

  queue fresh_;  // before the first request: client_header_timeout
  queue kept_;   // between requests: keep-alive
  std::size_t size_ = 0;
};

}  // namespace portico::proxy
