// One listener's accept loop, shared by the workers' HTTP and HTTPS listeners and the admin
// server. It neither spins nor stops when accept() fails: out of descriptors (EMFILE,
// ENFILE) or kernel memory, the loop pauses on a timer (10 ms, doubling up to 100 ms) and
// tries again, while its io_context keeps serving the connections it has; new connections
// wait in the listen backlog meanwhile. It can also be held (a worker at --max-connections)
// and released.
//
// Failures are counted in worker_gauges::accept_errors. They are logged once per episode:
// a failure is logged only when no accept has failed anywhere in the process for 10 s.
// Everything but the episode bookkeeping runs on the acceptor's executor.
//
// Connections are taken with accept4(SOCK_NONBLOCK | SOCK_CLOEXEC), which also gives the
// peer's address: with the epoll backend an accepted connection costs accept4 and the
// epoll_ctl(ADD) of its registration, no ioctl(FIONBIO), getpeername or setsockopt, and its
// close() needs no epoll_ctl(DEL) (proxy/net/socket_state.hpp).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "proxy/server_options.hpp"

namespace portico::proxy {

struct worker_gauges;

// A peer address as logged and forwarded: IPv4-mapped IPv6 addresses in dotted IPv4 form.
std::string address_text(const boost::asio::ip::address& a);

class accept_loop : public std::enable_shared_from_this<accept_loop> {
 public:
  // The accepted socket and its peer's address, as accept4() returned it (no getpeername).
  using handler =
      std::function<void(boost::asio::ip::tcp::socket, const boost::asio::ip::tcp::endpoint&)>;

  // `name` names the listener in log lines ("http", "https", "admin"). `gauges` (may be
  // null) receives accept_errors and accept_paused; it must outlive the loop.
  accept_loop(boost::asio::ip::tcp::acceptor acceptor, std::string name, worker_gauges* gauges,
              log_fn log, handler on_accept);
  ~accept_loop();
  accept_loop(const accept_loop&) = delete;
  accept_loop& operator=(const accept_loop&) = delete;

  // Opens `ep` and binds it (SO_REUSEPORT when asked) without listening: until listen(),
  // connections to the port are refused. TCP_NODELAY is set on the listening socket, which
  // Linux copies to every accepted one (one setsockopt per listener, not per connection).
  // Throws boost::system::system_error.
  static boost::asio::ip::tcp::acceptor bind(boost::asio::any_io_executor ex,
                                             const boost::asio::ip::tcp::endpoint& ep,
                                             bool reuse_port);

  std::uint16_t port() const;
  // listen() on the bound socket, then start accepting.
  void listen(boost::system::error_code& ec);
  // Stop issuing accepts (a pending one is cancelled) until release().
  void hold();
  void release();
  bool held() const { return held_; }
  // For good: closes the acceptor.
  void stop();

 private:
  struct accept_op;  // the pending accept4 (proxy/accept_loop.cpp)

  void arm();
  // `fd`: the accepted descriptor (its peer's address in op_), -1 with an error.
  void on_accept(const boost::system::error_code& ec, int fd);
  void failed(const boost::system::error_code& ec);
  void set_paused(bool paused);

  // The listening socket, held as a stream socket: Asio's acceptor would accept() and then
  // make the connection non-blocking with a second system call.
  boost::asio::ip::tcp::socket listener_;
  std::unique_ptr<accept_op> op_;
  boost::asio::steady_timer retry_;
  std::string name_;
  worker_gauges* gauges_;
  log_fn log_;
  handler on_accept_;
  std::chrono::milliseconds delay_{0};  // the current back-off; 0 when accepting works
  bool listening_ = false;
  bool accepting_ = false;  // an async_accept is outstanding
  bool waiting_ = false;    // the back-off timer is running
  bool held_ = false;
  bool stopped_ = false;
  bool paused_reported_ = false;
};

}  // namespace portico::proxy
