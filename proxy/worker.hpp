// One worker thread: its io_context, its SO_REUSEPORT acceptor, its copy of the Snapshot
// pointer, its balancer, upstream pool and observer. Everything here runs on the worker's
// thread except the few entry points documented as thread-safe (they post).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "config/snapshot.hpp"
#include "proxy/balancer.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/server_options.hpp"
#include "proxy/upstream_pool.hpp"

namespace portico::proxy {

class worker_observer;
class metrics_registry;
class http_session;

class worker {
 public:
  // `reg` may be null (unit tests): then no observer is attached.
  worker(unsigned index, const server_options& opts, metrics_registry* reg);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Binds the listener (SO_REUSEPORT). Call before run(). Returns the bound port.
  std::uint16_t listen(const boost::asio::ip::tcp::endpoint& ep);
  // Starts the thread. `on_exit` runs on the worker thread when it has finished.
  void run(std::function<void()> on_exit);
  void join();

  // Thread-safe: post to the worker.
  void publish(config::snapshot_ptr snap);
  void stop_accepting();
  void drain();         // idle keep-alive connections close; busy ones close after their response
  void force_close();   // grace period over: every connection closes now

  // Worker thread only.
  boost::asio::io_context& context() { return ioc_; }
  const server_options& options() const { return opts_; }
  const config::snapshot_ptr& snapshot() const { return snap_; }
  balancer& lb() { return lb_; }
  upstream_pool& pool() { return pool_; }
  worker_observer* observer() { return observer_.get(); }
  worker_gauges& gauges() { return *gauges_; }
  const trusted_networks& trusted() const { return trusted_; }
  const std::string& port_text() const { return port_text_; }
  bool draining() const { return draining_; }
  // 32 lower-case hex characters, like ingress-nginx's $req_id.
  void next_request_id(char out[32]);
  std::list<http_session*>::iterator enroll(http_session* s);
  void withdraw(std::list<http_session*>::iterator it);

 private:
  void accept_loop();
  void tick();
  void maybe_finish();

  // Declared before ioc_ so they outlive it: handlers still queued when the io_context is
  // destroyed own sessions, whose destructors use these.
  unsigned index_;
  const server_options& opts_;
  config::snapshot_ptr snap_;
  balancer lb_;
  std::unique_ptr<worker_observer> observer_;
  std::unique_ptr<worker_gauges> own_gauges_;  // when there is no observer
  worker_gauges* gauges_ = nullptr;
  trusted_networks trusted_;
  std::string port_text_;
  std::list<http_session*> sessions_;
  std::uint64_t rng_[2];
  bool accepting_ = false;
  bool draining_ = false;
  bool finished_ = false;
  bool destroying_ = false;
  std::function<void()> on_exit_;
  std::thread thread_;

  // One thread per io_context and sockets touched only by it: no locking in reactor I/O
  // (callgrind: mutex lock/unlock was ~3% of the request path). post() stays thread-safe.
  boost::asio::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  // Objects holding sockets or timers of ioc_ come after it (destroyed before it).
  upstream_pool pool_;
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  boost::asio::steady_timer ticker_{ioc_};
};

}  // namespace portico::proxy
