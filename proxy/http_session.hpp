// One downstream HTTP/1.1 connection. When a request's first byte is there a coroutine reads
// the head, routes it on the Snapshot pinned at request start, forwards it (pool, balancer,
// retries) and relays the response, repeating while pipelined bytes wait in the receive
// buffer. One request at a time. After an answer the session waits, whole, for the
// connection's next request for a short while (a warm wait: one to two worker ticks, ~100-200
// ms); a connection quiet for longer waits in an idle_conn (proxy/idle_conn.hpp) without this
// object, which is kept for another connection's request.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "config/snapshot.hpp"
#include "proxy/body_spool.hpp"
#include "proxy/buffer_cache.hpp"
#include "proxy/byte_stream.hpp"
#include "proxy/deadline_watch.hpp"
#include "proxy/client_cert.hpp"
#include "proxy/external_auth.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/idle_conn.hpp"
#include "proxy/intrusive_list.hpp"
#include "proxy/http_parser.hpp"
#include "proxy/observe.hpp"
#include "proxy/phases.hpp"
#include "proxy/rate_limit.hpp"
#include "proxy/frame_pool.hpp"  // the request coroutines' frames (a promise type for http_session)
#include "proxy/request_check.hpp"
#include "proxy/request_target.hpp"
#include "proxy/request_head.hpp"
#include "proxy/response_head.hpp"
#include "proxy/upstream_pool.hpp"

namespace portico::proxy {

class worker;

// Session coroutines run on their worker's io_context and say so in their type: with the
// concrete executor instead of any_io_executor, no type-erased executor is copied, compared
// or destroyed per operation.
using session_executor = boost::asio::io_context::executor_type;
// Completion token of every session operation: (error_code, ...) as a tuple, no exceptions.
inline constexpr auto session_tok =
    boost::asio::as_tuple(boost::asio::use_awaitable_t<session_executor>{});

// Upstream response bytes are read 16 KiB at a time.
inline constexpr std::size_t session_read_chunk = 16 * 1024;
// Body pieces are relayed through 64 KiB: large enough that a 1 GiB transfer costs few
// syscalls, small enough that memory per connection stays bounded.
inline constexpr std::size_t session_body_buffer = 64 * 1024;

// Where a connection is; decides what a timeout means (408, 504, or a quiet close).
enum class session_phase : std::uint8_t {
  idle,             // keep-alive wait: timeout closes quietly
  warm,             // the warm wait after an answer: its end hands the connection to an idle_conn
  client_header,    // 408
  client_body,      // 408
  upstream_connect, // next endpoint or 504
  upstream_send,    // 504
  upstream_wait,    // 504
  client_send,      // close
  tunnel,           // close both
};

enum class head_status : std::uint8_t {
  ok,
  incomplete,
  closed,
  bad_request,      // 400
  too_large,        // 431 (size or field count)
  timeout,          // 408
  not_implemented,  // 501: a transfer coding other than chunked
};

enum class attempt_result : std::uint8_t {
  ok,             // response header received
  retry_fresh,    // reused connection failed before any byte: same endpoint, new connection
  retry_next,     // failed before any byte: another endpoint may be tried
  failed,         // 502
  timed_out,      // 504
  client_gone,    // the client failed while we streamed its body
  client_error,   // the request body was malformed (400) or too large (413): status_ set
};

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  // The receive buffers' 32 KiB blocks come from a per-thread cache of up to 1,024 blocks (with
  // 256 busy keep-alive connections a cache of 64 overflowed: a malloc and a free of 32 KiB on
  // most requests); the worker's ticks shrink it by halves while busy and empty it when idle
  // (thread_caches::trim_all, trim_mark), so a burst's blocks do not stay.
  using buffer_allocator = recycling_allocator<char, 32 * 1024, 1024>;
  // `conn` is plain TCP, or TLS after a completed handshake (then the session is HTTPS).
  // `peer`: the client address from a PROXY protocol header ("" = the socket's peer).
  // `listener_port`: the Gateway listener port of the listener it was accepted on
  // (config::request_attrs::listener_port; 0: --http-port or --https-port).
  // (HTTP/1.1 connections come through idle_conn: serve_from().)
  http_session(worker& w, byte_stream conn, std::string peer = {}, std::uint16_t listener_port = 0);
  // The connection waiting in `c` (proxy/idle_conn.hpp), whose next request is there.
  http_session(worker& w, idle_conn& c);
  ~http_session();

  // A session for the connection in `c` serves its requests; when the connection goes idle
  // again it moves to a new idle_conn and the session is freed (its memory kept in a
  // bounded per-thread cache for the next request).
  static void serve_from(worker& w, idle_conn& c);
  // The worker is finishing: the sessions kept for reuse go.
  static void drop_spares();
  // Worker tick: half of the spare sessions beyond 8 go once every window of ticks, and all of
  // them when the worker is `idle` (trim_mark): the sessions of a burst of requests do not
  // stay once it is over.
  static void trim_spares(bool idle);

  // `just_accepted`: the socket was accepted in this same run of handlers and nothing has
  // waited on it yet (its first wait needs no epoll_ctl, net::async_wait_readable).
  void start(bool just_accepted = false);
  void drain();        // worker is shutting down: close now if idle
  void force_close();  // grace period over
  // The worker's tick number `tick`: a warm wait that began before the previous tick ends
  // (the connection goes to an idle_conn) and leaves the worker's list; false (nothing done)
  // for a later one.
  bool end_warm_wait(std::uint64_t tick);
  // The worker's tick number `tick`: a read of an answer on a reused upstream connection that
  // began before this tick and still waits (it may not have tried recv(): net::mark_empty when
  // the connection was pooled) looks once whether the upstream ended the connection with a FIN
  // the reactor has no event for (one that came with the end of the last answer); if so the
  // read ends and the request goes out again on a new connection.
  void look_at_blind_read(std::uint64_t tick);

 private:
  using awaitable = boost::asio::awaitable<void, session_executor>;
  template <class T>
  using task = boost::asio::awaitable<T, session_executor>;

  void wait_idle(bool just_accepted = false);  // an HTTP/2 stream's wait for its request
  // HTTP/1.1: the connection waits in an idle_conn without this session (for the keep-alive
  // timeout less the time it waited warm).
  void go_idle();
  void hand_off(bool armed);  // the connection to an idle_conn
  void retire();              // then the session to the spares
  // After an answer with nothing pipelined, serve() waits for the next request's first byte
  // in the coroutine it runs in: no new coroutine, no idle_conn, no spare taken, the per-request
  // memory kept. False: no warm wait (HTTP/2 stream, draining, a keep-alive timeout shorter
  // than the longest warm wait).
  bool begin_warm_wait();
  // No warm wait because the worker has all it keeps: one read without waiting. `here`: the
  // next request's bytes are in cbuf_; `empty`: nothing yet (the connection can wait armed);
  // `ended`: the client closed or the read failed; `skipped`: not looked (not plain HTTP/1.1,
  // draining, or warm waits to spare).
  enum class look { here, empty, ended, skipped };
  look next_request_here();
  void adopt(idle_conn& c);  // a spare session takes the next connection's request
  // Sessions whose connection went idle, kept whole (timer, upstream stream, pooled parts)
  // for the next request of any of this thread's connections; at most 64.
  struct spare_list {
    std::vector<std::shared_ptr<http_session>> v;
    trim_mark mark;
  };
  static spare_list& spares();
  void resume();
  void close_connection();
  task<bool> serve();
  bool h2c_preface() const;  // the first request is the HTTP/2 connection preface
  bool start_h2c();
  void begin_request();
  head_status parse_head();
  bool prepare_request();
  bool request_is_well_formed(const parsed_target& pt) const;
  const config::route* route_request();
  const config::route* redirect_www(const std::string& to);  // from-to-www-redirect
  // Writes a local error answer into cout_; returns null (no route) for route_request().
  // `extra` is header lines ("Name: value\r\n") added to it.
  const config::route* prepare_local(unsigned status, bool close, std::string_view extra = {},
                                     std::string_view detail = {});
  // A bodyless redirect of the proxy's own into cout_ (a gRPC call gets prepare_local's
  // answer: it cannot follow one); returns null.
  const config::route* prepare_redirect(unsigned status, std::string_view location,
                                        std::string_view extra = {});
  // The request's content-type starts with application/grpc: the proxy's own answers are
  // gRPC Trailers-Only responses (proxy/default_backend.hpp).
  bool grpc_request() const;
  // What the request's upstream was spoken to in, for the access log and /metrics: "HTTP/1.1"
  // (or "HTTP/1.0"), "h2c" (GRPC) or "h2" (GRPCS); empty when no upstream was tried.
  std::string_view upstream_protocol() const;
  // The client address (the trusted forwarded-for or PROXY protocol one, else the peer),
  // computed once per request into real_ip_.
  std::string_view client_ip();
  // The nginx variables of this request for templates (auth-url, upstream-hash-by,
  // mirror-target): `path` is the normalized path ($uri).
  hash_inputs template_vars(std::string_view path);
  // The access phases of route `r` that answer locally: CORS preflight, source lists, basic
  // authentication. True when cout_ holds the answer (status_ set).
  bool access_checks(const config::route& r, std::string_view path, bool has_body);
  // Whether some host of the Snapshot asks for client certificates (auth-tls-*).
  bool client_auth_possible() const {
    return snap_ && !snap_->tls().client_auth_by_host.empty();
  }
  // auth-tls-*: the request's host against the connection's handshake (proxy/client_cert.hpp).
  // True when cout_ holds the answer.
  bool client_certificate_checks(const config::route& r, bool has_body);
  // External authentication (auth-url, global-auth-url): the subrequest and what its answer
  // means (proxy/http_auth.cpp). `answered`: cout_ holds the client's answer.
  enum class auth_step : std::uint8_t { pass, answered, gone };
  const config::external_auth* auth_of(const config::route& r) const {
    const auto* a = r.policy->ext_auth.get();
    return a != nullptr && !r.auth_exempt ? a : nullptr;
  }
  task<auth_step> authenticate(const config::route& r, const config::external_auth& a);
  // One subrequest over up_; the answer's status (0: no answer) with `out` filled.
  task<unsigned> auth_exchange(const config::external_auth& a, const config::auth_url& url,
                               std::string_view target, auth_answer& out,
                               std::chrono::milliseconds& cache_for);
  // The client's answer when the service refused (401, 403, the sign-in redirect) or failed.
  auth_step auth_refusal(const config::external_auth& a, const auth_answer& ans, bool has_body,
                         const hash_inputs& vars);
  task<bool> forward(const config::route& r);
  // custom-http-errors: whether `status` of route `r` is answered by its error backend, and
  // that answer (the request as ingress-nginx's @custom_ location sends it).
  bool intercepts(const config::route& r, unsigned status) const;
  task<bool> serve_error_page(const config::route& r, unsigned code);
  // The forwarding headers' inputs for this request (X-Forwarded-Proto/Port follow the listener).
  forward_params forwarding() const;
  task<attempt_result> attempt(bool fresh);
  // Feeds received body bytes to the parser (into out_ through req_sink_); status_ set on a
  // client error.
  attempt_result parse_body_bytes(bool& need_read);
  task<attempt_result> read_client_body_bytes(std::size_t size = 16 * 1024);
  task<attempt_result> buffer_request_body();  // proxy-request-buffering: all of it, first
  task<bool> send_spooled_body();
  task<attempt_result> stream_request_body();
  // HTTP/2 upstream (backend-protocol GRPC, GRPCS): the rest of the request body flows in its
  // own coroutine while the response is relayed, so a bidirectional call's messages move both
  // ways at once. Activity either way restarts the current deadline (touch()). end_pump()
  // stops it (the answer is complete or failed) and waits for it to finish.
  awaitable pump_request_body();
  task<void> end_pump();
  void touch();
  // The TCP (and TLS) connection of a new HTTP/2 upstream is up: it goes to the worker's
  // HTTP/2 pool and up_ becomes its first stream.
  bool adopt_h2_upstream();
  task<attempt_result> stream_length_body();
  // splice(2) relay of the next `n` body bytes from `from` to `to` (both plain TCP), with
  // the request's (`request`) or the response's deadlines and byte counts.
  enum class splice_end : std::uint8_t { done, unavailable, source_closed, source_timeout, sink_failed, sink_timeout };
  bool can_splice(std::uint64_t n) const;
  task<splice_end> splice_body(byte_stream& from, byte_stream& to, std::uint64_t n, bool request);
  task<attempt_result> read_response_head();
  task<bool> relay_response();
  task<bool> relay_body(bool chunked_out);
  task<bool> relay_length_body(std::uint64_t length);
  void pool_upstream_if_reusable();
  task<bool> run_tunnel();
  task<bool> send_local(unsigned status, bool close);
  task<bool> send_prepared();  // cout_ holds a complete local answer with status_ set
  std::string_view hsts_line(char (&buf)[112]) const;
  task<bool> write_client(std::string& data);
  task<bool> write_limited(std::string& data);  // limit-rate
  void finish_request();
  void close_upstream();
  void release_idle_memory();

  // Deadline watchdog: one timer per session, re-armed lazily.
  void arm(session_phase phase, std::chrono::milliseconds d);
  void arm_body_read();  // client_body_timeout, and the body's minimum-rate deadline
  // The settings of the pinned Snapshot (the worker's current ones between requests).
  const config::controller_config& cfg() const;
  // The routed request's policy (null before routing or for the default backend).
  const config::route_policy* policy() const {
    return rec_ && rec_->route != nullptr ? rec_->route->policy.get() : nullptr;
  }
  std::chrono::milliseconds send_timeout() const {
    return policy() ? policy()->send_timeout : cfg().proxy_send_timeout;
  }
  friend class deadline_watch;
  void on_timer();

  worker& w_;
  byte_stream client_;
  const bool h2_stream_ = client_.is_h2();  // serves one stream of an HTTP/2 connection
  byte_stream up_;
  deadline_watch watch_;
  session_phase phase_ = session_phase::idle;
  bool timed_out_ = false;
  bool closed_ = false;
  bool first_request_ = true;     // nothing received yet: the first wait is client_header_timeout
  std::uint32_t requests_ = 0;    // on this connection (keep-alive-requests)
  std::uint32_t trusted_version_ = 0;  // of the worker's trusted networks peer_trusted_ was taken from
  bool counted_ = false;  // owns the connection's place in client_connections
  list_hook<http_session> enrolled_{this};  // in the worker's sessions list
  list_hook<http_session> warm_{this};      // in the worker's list of warm waits
  std::uint64_t warm_tick_ = 0;             // the worker's tick when the warm wait began
  bool warm_expired_ = false;               // end_warm_wait() ended it
  bool handed_off_ = false;                 // serve() gave the connection to an idle_conn
  // Non-zero: the first tick at which a waiting read of an answer on a reused connection
  // looks at it (look_at_blind_read).
  std::uint64_t blind_read_tick_ = 0;

  using io_buffer = boost::beast::basic_flat_buffer<buffer_allocator>;
  io_buffer cbuf_;  // client receive; released while idle
  io_buffer ubuf_;  // upstream receive; released while idle
  // Output strings; parked in a per-thread string_pool while idle.
  std::string out_;   // towards the upstream: request head + body pieces
  std::string cout_;  // towards the client: response head + body pieces
  // The request head's bytes, copied out of cbuf_ before parsing: req_head_'s field views
  // point here, so reading the body (which reuses or reallocates cbuf_) cannot move them.
  std::string head_bytes_;
  // Heads (views into the receive buffers) exist from a request's start until the connection
  // goes idle.
  pooled_box<message_head> req_head_;
  pooled_box<message_head> resp_head_;
  // Parsers exist only during a request (an idle connection holds two pointers).
  pooled_box<request_reader> rp_;
  pooled_box<response_reader> sp_;  // the response head, and its body's framing
  body_sink req_sink_;
  body_sink resp_sink_;
  head_scanner scan_;  // the request head, scanned once per received byte
  // proxy-request-buffering: the part of the body that outgrew client_body_buffer_size;
  // out_ then holds the upstream head (head_len_ bytes) followed by the rest of the body.
  body_spool spool_;
  std::uint32_t head_len_ = 0;
  upstream_rewrite rewrite_;  // the route's rewrite phase
  backend_pick pick_;         // the route's pick backend phase
  std::string set_cookie_;    // non-empty: Set-Cookie added to the answer (affinity)
  // External authentication: auth-response-headers for the upstream request, and the
  // service's Set-Cookie lines for the client's answer (with auth_cookies_always_ whatever
  // its status, else only with the statuses of nginx's add_header).
  std::vector<std::pair<std::string, std::string>> auth_upstream_;
  std::string auth_cookies_;
  bool auth_cookies_always_ = false;
  unsigned error_code_ = 0;   // custom-http-errors: the status whose error page is pending
  bool error_page_ = false;   // the error backend is answering: nothing more is intercepted
  bool deadline_ = false;     // the 504 being answered is a timeout the proxy measured
  std::vector<std::pair<std::string_view, std::string_view>> resp_set_;  // response phase

  // The current request.
  config::snapshot_ptr snap_;  // pinned for the request's lifetime
  std::shared_ptr<endpoint_state> ep_;
  bool up_reused_ = false;
  unsigned up_uses_ = 0;  // requests the upstream connection carried before this one
  std::string method_;
  std::string target_;
  std::string upstream_target_;  // non-empty: the rewritten URI sent upstream (rewrite-target)
  const std::string& upstream_target() const {
    return upstream_target_.empty() ? target_ : upstream_target_;
  }
  std::string host_;
  std::string request_id_;
  std::string real_ip_;
  conn_slot conn_slot_;  // limit-connections: held while the request is in progress
  client_cert_info client_cert_;  // auth-tls-*: what the upstream is told
  bool client_cert_headers_ = false;  // this request sends client_cert_ upstream
  std::string peer_ip_;
  std::uint16_t listener_port_ = 0;
  bool peer_trusted_ = false;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  // The last request asked to close the connection and was read to its end with nothing
  // after it: the connection can be closed without a shutdown() first (close_connection).
  bool client_closes_ = false;
  bool replayable_ = false;  // this request may go to the upstream again (forward())
  bool orderly_end_ = false;
  bool length_body_sent_ = false;  // stream_length_body() relayed the body past the parser
  bool head_request_ = false;
  bool grpc_ = false;  // content-type application/grpc... (grpc_request())
  bool absolute_form_ = false;  // the target was absolute-form: host_ is its authority
  bool idempotent_ = false;
  bool upgrade_ = false;
  std::string_view upgrade_protocol_;  // upgrade_: the allowed protocol requested (options)
  body_framing req_framing_ = body_framing::none;
  std::uint64_t req_length_ = 0;
  bool body_complete_ = true;
  bool body_started_ = false;
  bool connect_failed_ = false;  // the last attempt failed to connect: nothing was sent
  bool up_h2_ = false;        // this request goes to its upstream over HTTP/2 (route's upstream_h2)
  bool unprocessed_ = false;  // the HTTP/2 upstream refused the stream unprocessed: safe to resend
  bool pump_running_ = false;  // pump_request_body() is in progress
  bool pump_stop_ = false;     // end_pump() asked it to stop
  bool pumped_ = false;        // the request body went through the pump (out_ no longer holds it)
  bool pump_failed_ = false;   // the pump lost the client or refused its body (pump_status_)
  unsigned pump_status_ = 0;   // 400 / 413 when the pump refused the body
  using join_timer = boost::asio::basic_waitable_timer<
      std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, session_executor>;
  join_timer* pump_join_ = nullptr;  // end_pump()'s wait, cancelled when the pump finishes
  std::chrono::milliseconds armed_for_{0};  // the duration of the last arm()
  unsigned status_ = 0;
  pooled_box<request_record> rec_;  // from a request's start until the connection is idle
  std::chrono::steady_clock::time_point t_start_;
  std::chrono::steady_clock::time_point t_upstream_;
  std::chrono::steady_clock::time_point t_body_;  // the request body's first byte was awaited
  // HTTPRoute timeouts: the upstream phases end by this time (the request's deadline, or the
  // attempt's when earlier); max: none.
  std::chrono::steady_clock::time_point deadline_cap_ = std::chrono::steady_clock::time_point::max();
};

}  // namespace portico::proxy
