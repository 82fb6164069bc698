// One worker thread: its io_context, its SO_REUSEPORT acceptors, its copy of the Snapshot
// pointer, its balancer, upstream pool and observer. Everything here runs on the worker's
// thread except the few entry points documented as thread-safe (they post).
//
// The listeners are bound at start-up (a port conflict fails there) but listen only once the
// worker holds its first Snapshot: until then connections are refused, never answered from an
// empty table.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/snapshot.hpp"
#include "proxy/balancer.hpp"
#include "proxy/basic_auth.hpp"
#include "proxy/digest_auth.hpp"
#include "proxy/external_auth.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/idle_conn.hpp"
#include "proxy/intrusive_list.hpp"
#include "proxy/server_options.hpp"
#include "proxy/tls_client.hpp"
#include "proxy/tls_server.hpp"
#include "proxy/h2_upstream.hpp"
#include "proxy/upstream_pool.hpp"

namespace portico::proxy {

class accept_loop;

class worker_observer;
class metrics_registry;
class http_session;
class h2_connection;
class tls_handshake;

class worker {
 public:
  // `reg` may be null (unit tests): then no observer is attached.
  worker(unsigned index, const server_options& opts, metrics_registry* reg);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Binds the HTTP listener (SO_REUSEPORT) without listening. Call before run(). Returns the
  // bound port. Throws boost::system::system_error.
  std::uint16_t bind(const boost::asio::ip::tcp::endpoint& ep);
  // Binds the HTTPS listener the same way; connections are handshaken with `tls` (shared by
  // every worker, outlives them) before a session starts. Call before run().
  std::uint16_t bind_https(const boost::asio::ip::tcp::endpoint& ep, tls_server_context& tls);
  // Binds an extra Gateway listener (--gateway-http-ports / --gateway-https-ports) on `ep`;
  // its connections carry `ep.port()` as their listener slot. HTTPS needs bind_https() first.
  void bind_gateway(const boost::asio::ip::tcp::endpoint& ep, bool https);
  // Starts the thread. `on_exit` runs on the worker thread when it has finished;
  // `on_listening` runs on the worker thread when the first Snapshot has made the listeners
  // listen (with the error if listen() failed).
  void run(std::function<void()> on_exit,
           std::function<void(const boost::system::error_code&)> on_listening = {});
  void join();

  // Thread-safe: post to the worker. The first Snapshot opens the listeners.
  void publish(config::snapshot_ptr snap);
  void set_ticket_keys(const ticket_keys& keys);
  void stop_accepting();
  void drain();         // idle keep-alive connections close; busy ones close after their response
  void force_close();   // grace period over: every connection closes now

  // Worker thread only.
  boost::asio::io_context& context() { return ioc_; }
  const server_options& options() const { return opts_; }
  const config::snapshot_ptr& snapshot() const { return snap_; }
  balancer& lb() { return lb_; }
  // Basic authentication's verified credentials (proxy/basic_auth.hpp), per worker.
  credential_cache& credentials() { return credentials_; }
  digest_verifier& digests() { return digests_; }  // auth-type digest's nonce uses
  // External authentication's cached answers and service addresses (proxy/external_auth.hpp).
  auth_cache& auth_answers() { return auth_answers_; }
  auth_endpoints& auth_services() { return auth_services_; }
  upstream_pool& pool() { return pool_; }
  h2_upstream_pool& h2_pool() { return h2_pool_; }
  worker_observer* observer() { return observer_.get(); }
  worker_gauges& gauges() { return *gauges_; }
  const trusted_networks& trusted() const { return trusted_; }
  // Changes whenever trusted() does (a Snapshot with other trusted CIDRs).
  std::uint32_t trusted_version() const { return trusted_version_; }
  // The controller settings of the current Snapshot (before the first: the flags').
  const config::controller_config& settings() const {
    return snap_ ? snap_->settings() : flag_settings_;
  }
  // The port a connection came in on, as text ($server_port, X-Forwarded-Port): an extra
  // Gateway listener's port (`listener_port` != 0), else the main HTTP or HTTPS port.
  std::string_view port_text_of(std::uint16_t listener_port, bool https) const;
  // HTTPS only (listen_https was called).
  boost::asio::ssl::context& tls_context() { return tls_shared_->context(); }
  tls_worker& tls() { return *tls_; }
  tls_client_contexts& upstream_tls() { return upstream_tls_; }
  std::list<tls_handshake*>::iterator enroll(tls_handshake* h);
  void withdraw(std::list<tls_handshake*>::iterator it);
  bool draining() const { return draining_; }
  // HTTP/1.1 connections between requests (proxy/idle_conn.hpp); idle_closed(): one of them
  // closed.
  idle_set& idle() { return idle_; }
  void idle_closed();
  // 32 lower-case hex characters, like ingress-nginx's $req_id.
  void next_request_id(char out[32]);
  // `h2_stream`: the session serves one stream of an HTTP/2 connection (not a connection).
  void enroll(list_hook<http_session>& s, bool h2_stream = false);
  void withdraw(list_hook<http_session>& s, bool h2_stream = false);
  // HTTP/1.1 sessions that answered a request and wait, whole, for the connection's next one
  // (http_session::serve): in the order they began. Each tick hands those waiting since
  // before the previous tick to an idle_conn (http_session::end_warm_wait), so a warm wait
  // lasts between one and two tick periods.
  static constexpr std::chrono::milliseconds tick_period{100};
  // At most server_options::warm_waits at once (the others wait in an idle_conn): a warm
  // session holds a few KB more than an idle_conn, and memory once taken stays in the
  // process's RSS (tests/system/idle_memory_test.py: 1,000 connections each sending one
  // request).
  bool warm_full() const { return warm_.size() >= opts_.warm_waits; }
  std::uint64_t ticks() const { return ticks_; }
  void warm_enter(list_hook<http_session>& s) { warm_.push_back(s); }
  void warm_leave(list_hook<http_session>& s) { warm_.erase(s); }
  // Requests whose first byte came during a warm wait, and the warm waits now (tests).
  void warm_resumed() { ++warm_resumes_; }
  std::uint64_t warm_resumes() const { return warm_resumes_; }
  std::size_t warm_waits() const { return warm_.size(); }
  std::list<h2_connection*>::iterator enroll(h2_connection* c);
  void withdraw(std::list<h2_connection*>::iterator it);

 private:
  void start_listening();
  void stop_listening();
  void on_accept(boost::asio::ip::tcp::socket sock, bool https, std::uint16_t listener_port,
                 const boost::asio::ip::tcp::endpoint& peer);
  // Every accept loop bound: the main ones and the extra Gateway ones.
  template <typename Fn> void each_loop(Fn fn);
 public:
  // After a PROXY protocol header (proxy/proxy_protocol.hpp): the connection goes on as an
  // accepted one, with `peer` ("" = the socket's) as the client address.
  // `just_accepted`: straight from the accept loop (nothing has read or waited on it).
  // `listener_port`: the Gateway listener port of the listener (0: --http-port/--https-port).
  void accept_proxied(boost::asio::ip::tcp::socket sock, bool https, std::uint16_t listener_port,
                      std::string peer, bool just_accepted = false);
  // Whether a connecting address may give the client address in a PROXY header
  // (proxy-real-ip-cidr).
  bool proxy_protocol_trusted(const std::string& ip) const { return proxy_trusted_.contains(ip); }
 private:
  std::size_t connections() const {
    return sessions_.size() - h2_stream_sessions_ + handshakes_.size() + h2_connections_.size() +
           idle_.size();
  }
  void below_limit();
  void tick();
  void trim_caches();
  // Ticks without a request after which the worker counts as idle and its caches let go of
  // everything they keep (trim_caches).
  static constexpr unsigned idle_ticks = 5;
  void end_warm_waits();
  void maybe_finish();
  void adopt_settings(const config::controller_config_ptr& s);

  // Declared before ioc_ so they outlive it: handlers still queued when the io_context is
  // destroyed own sessions, whose destructors use these.
  unsigned index_;
  const server_options& opts_;
  config::snapshot_ptr snap_;
  balancer lb_;
  credential_cache credentials_;
  digest_verifier digests_;
  auth_cache auth_answers_;
  auth_endpoints auth_services_;
  std::unique_ptr<worker_observer> observer_;
  std::unique_ptr<worker_gauges> own_gauges_;  // when there is no observer
  worker_gauges* gauges_ = nullptr;
  trusted_networks trusted_;
  trusted_networks proxy_trusted_;  // proxy-real-ip-cidr, for PROXY protocol headers
  std::uint32_t trusted_version_ = 0;
  config::controller_config_ptr trusted_from_;  // the settings trusted_ was made from
  config::controller_config flag_settings_;
  std::string port_text_;
  std::string https_port_text_;
  std::vector<std::pair<std::uint16_t, std::string>> gateway_port_texts_;
  tls_server_context* tls_shared_ = nullptr;
  std::unique_ptr<tls_worker> tls_;
  tls_client_contexts upstream_tls_;
  // The sessions (requests in progress, warm waits, HTTP/2 streams): linked through the
  // sessions themselves, no allocation per enroll (bench/causes.md, keepalive-64).
  intrusive_list<http_session> sessions_;
  intrusive_list<http_session> warm_;  // the warm waits, oldest first
  std::uint64_t ticks_ = 0;
  std::uint64_t enrolled_ = 0;       // sessions enrolled, in all
  std::uint64_t enrolled_seen_ = 0;  // enrolled_ at the last tick
  unsigned quiet_ticks_ = 0;         // ticks in a row without a session at work
  std::uint64_t warm_resumes_ = 0;
  idle_set idle_;  // its timers are made on ioc_ and stopped before it goes
  std::list<tls_handshake*> handshakes_;  // accepted HTTPS connections still handshaking
  std::list<h2_connection*> h2_connections_;
  std::size_t h2_stream_sessions_ = 0;  // sessions_ that serve an HTTP/2 stream
  std::uint64_t rng_[2];
  bool listening_ = false;     // the first Snapshot opened the listeners
  bool at_limit_ = false;      // --max-connections reached: the loops are held
  bool stopped_accepting_ = false;
  bool draining_ = false;
  bool finished_ = false;
  bool destroying_ = false;
  std::function<void()> on_exit_;
  std::function<void(const boost::system::error_code&)> on_listening_;
  std::thread thread_;

  // One thread per io_context and sockets touched only by it: no locking in reactor I/O
  // (callgrind: mutex lock/unlock was ~3% of the request path). post() stays thread-safe.
  boost::asio::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  // Objects holding sockets or timers of ioc_ come after it (destroyed before it).
  upstream_pool pool_;
  h2_upstream_pool h2_pool_{ioc_};  // backend-protocol GRPC, GRPCS
  std::shared_ptr<accept_loop> http_accept_;   // null when not bound
  std::shared_ptr<accept_loop> https_accept_;  // null when HTTPS is off
  std::vector<std::shared_ptr<accept_loop>> gateway_accept_;  // --gateway-http(s)-ports
  boost::asio::steady_timer ticker_{ioc_};
};

}  // namespace portico::proxy
