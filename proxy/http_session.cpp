// The client side of a session: keep-alive loop, request head, routing, local answers.
#include "proxy/http_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>

#include "proxy/accept_loop.hpp"
#include "proxy/ascii.hpp"
#include "proxy/default_backend.hpp"
#include "proxy/h2_session.hpp"
#include "proxy/net/socket_state.hpp"
#include "proxy/https_policy.hpp"
#include "proxy/phases.hpp"
#include "proxy/rate_limit.hpp"
#include "proxy/request_check.hpp"
#include "proxy/request_target.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {
constexpr auto tok = asio::as_tuple(asio::deferred);  // no frame per operation (http_forward.cpp)
constexpr std::size_t read_chunk = 16 * 1024;

// The receive block of a plain connection's warm wait: at most 64 warm waits per worker hold
// one, from the thread's cache (128 KiB per worker at most, where a read into cbuf_ would
// hold 32 KiB blocks).
struct warm_block {
  static constexpr std::size_t size = 2048;
  using cache = block_cache<size, 64>;
  char* data = static_cast<char*>(cache::take());
  warm_block() = default;
  warm_block(const warm_block&) = delete;
  warm_block& operator=(const warm_block&) = delete;
  ~warm_block() { cache::give(data); }
};

std::string_view path_of(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

// The allowed protocol named in a request's Upgrade list (its spelling from the options), or
// empty.
std::string_view allowed_upgrade(std::string_view list, const std::vector<std::string>& allowed) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    auto item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    for (const auto& a : allowed)
      if (ascii::iequals(item, a)) return a;
  }
  return {};
}

bool usable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 200) return false;
  for (unsigned char c : id)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}
}  // namespace

http_session::http_session(worker& w, byte_stream sock, std::string peer, std::uint16_t listener_port)
    : w_(w), client_(std::move(sock)), up_(w.context()), watch_(w.context()), listener_port_(listener_port) {
  w_.enroll(enrolled_, h2_stream_);
  if (h2_stream_) {  // one stream: the HTTP/2 connection counts itself and knows the peer
    peer_ip_ = std::move(peer);
    return;
  }
  counted_ = true;
  gauge_add(w_.gauges().client_connections, 1);
  // The listener passes the address accept() returned (or the PROXY header's); asking the
  // socket is the fallback. TCP_NODELAY comes from the listening socket (accept_loop::bind).
  if (!peer.empty()) {
    peer_ip_ = std::move(peer);
  } else {
    boost::system::error_code ec;
    auto remote = client_.socket().remote_endpoint(ec);
    if (!ec) peer_ip_ = address_text(remote.address());
  }
}

http_session::~http_session() {
  if (up_.is_h2() && !w_.context().stopped()) {
    boost::system::error_code ec;
    up_.close(ec);  // the HTTP/2 upstream connection takes the stream back
  }
  if (counted_) gauge_add(w_.gauges().client_connections, -1);
  w_.warm_leave(warm_);
  if (enrolled_.linked) w_.withdraw(enrolled_, h2_stream_);
}

void http_session::start(bool just_accepted) { wait_idle(just_accepted); }

const config::controller_config& http_session::cfg() const {
  return snap_ ? snap_->settings() : w_.settings();
}

void http_session::drain() {
  if (phase_ == session_phase::idle || phase_ == session_phase::warm) {
    boost::system::error_code ec;
    client_.cancel(ec);
  }
}

void http_session::force_close() {
  keep_alive_ = false;
  closed_ = true;
  boost::system::error_code ec;
  client_.close(ec);  // pending operations end with operation_aborted; nothing more is written
  up_.close(ec);
  watch_.cancel();
}

// An HTTP/2 stream's wait for its one request (HTTP/1.1 connections wait in an idle_conn): a
// plain completion handler, no coroutine (measured: suspended frames cost ~1 KB per idle
// connection); the request coroutine starts when the request's bytes are there.
void http_session::wait_idle(bool just_accepted) {
  // (An HTTP/2 stream's one request was taken by its connection, whose GOAWAY governs.)
  if (closed_ || (w_.draining() && !(h2_stream_ && first_request_))) return close_connection();
  release_idle_memory();
  // A new connection gets client_header_timeout to send its first byte (nginx closes a silent
  // connection after it, without an answer); between requests the keep-alive timeout applies.
  // Both end quietly.
  const auto& cfg = w_.settings();
  arm(session_phase::idle, first_request_ ? cfg.client_header_timeout : cfg.keep_alive);
  if (h2_stream_) {
    // An HTTP/2 stream has no socket of its own to wait on.
    client_.async_read_some(
        cbuf_.prepare(read_chunk),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          if (ec || self->closed_) return self->close_connection();
          self->cbuf_.commit(n);
          self->resume();
        });
  } else {
    // Wait for readability without a buffer: an idle connection holds none. Under TLS the
    // bytes OpenSSL already holds (a pipelined request) count as readable.
    auto on_ready = [self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->closed_) return self->close_connection();
      self->resume();
    };
    if (client_.is_tls()) client_.async_wait_readable(std::move(on_ready));
    else net::async_wait_readable(client_.socket(), just_accepted, std::move(on_ready));
  }
}

void http_session::resume() {
  asio::co_spawn(w_.context(), serve(),
                 [self = shared_from_this()](std::exception_ptr e, bool wait_more) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& x) {
                       std::fprintf(stderr, "portico: session ended by an exception: %s\n",
                                    x.what());
                     }
                     wait_more = false;
                   }
                   if (!wait_more) self->close_connection();
                   else if (self->h2_stream_) self->wait_idle();
                   else self->go_idle();
                 });
}

void http_session::close_connection() {
  closed_ = true;
  watch_.cancel();
  // After an exchange the client ended itself (Connection: close, its request read to the
  // end, nothing after it) close() alone sends the FIN. Otherwise the FIN goes first: unread
  // bytes make close() send a reset, which the response then has a better chance to precede.
  boost::system::error_code ec;
  if (!orderly_end_) client_.shutdown_send(ec);
  client_.close(ec);
  close_upstream();
}

// ---------------------------------------------------------------- deadline watchdog

void http_session::arm(session_phase phase, std::chrono::milliseconds d) {
  phase_ = phase;
  armed_for_ = d;
  timed_out_ = false;
  auto t = clock_type::now() + d;
  const bool upstream = phase == session_phase::upstream_connect ||
                        phase == session_phase::upstream_send || phase == session_phase::upstream_wait;
  if (upstream && t > deadline_cap_) t = deadline_cap_;
  watch_.set(t, *this);
}

void http_session::arm_body_read() {
  const auto& o = w_.options();
  auto d = o.client_body_timeout;
  if (o.client_body_min_rate != 0) {
    // mod_reqtimeout's MinRate: the body's deadline moves 1 s later per `rate` bytes received.
    using std::chrono::milliseconds;
    const auto allowed =
        o.client_body_timeout + milliseconds(req_sink_.total * 1000 / o.client_body_min_rate);
    const auto used = std::chrono::duration_cast<milliseconds>(clock_type::now() - t_body_);
    d = std::min(d, allowed > used ? allowed - used : milliseconds(0));
  }
  arm(session_phase::client_body, d);
}

void http_session::on_timer() {
  if (closed_) return;
  if (clock_type::now() < watch_.deadline()) {
    watch_.wait(*this);
    return;
  }
  timed_out_ = true;
  boost::system::error_code ec;
  client_.cancel(ec);
  up_.cancel(ec);
  if (phase_ == session_phase::idle) closed_ = true;
}

// ---------------------------------------------------------------- one request

void http_session::release_idle_memory() {
  // An idle keep-alive connection keeps no buffers (measured: 9,000 idle connections).
  if (cbuf_.size() == 0 && cbuf_.capacity() > 0) {
    cbuf_.clear();
    cbuf_.shrink_to_fit();
  }
  if (ubuf_.capacity() > 0) {
    ubuf_.clear();
    ubuf_.shrink_to_fit();
  }
  req_head_.reset();  // with their field lists
  resp_head_.reset();
  rec_.reset();
  string_pool::park(out_);
  string_pool::park(cout_);
  string_pool::park(head_bytes_);
}

// Serves requests while their bytes are here. True: wait for the next one; false: close.
// The head is read here rather than in a nested coroutine: one frame less per request.
http_session::task<bool> http_session::serve() {
  // The first read after an idle wait tries recv() itself: the wait's look may have seen bytes
  // or an end the reactor has no event for (net::async_read_request).
  bool after_idle = true;
  for (;;) {
    begin_request();
    head_status hs;
    while ((hs = parse_head()) == head_status::incomplete) {
      auto [ec, n] = co_await client_.async_read_request(cbuf_.prepare(read_chunk), after_idle, tok);
      after_idle = false;
      if (ec) {
        hs = timed_out_ && cbuf_.size() > 0 ? head_status::timeout : head_status::closed;
        break;
      }
      cbuf_.commit(n);
    }
    if (hs == head_status::closed || hs == head_status::incomplete) co_return false;
    const config::route* r = nullptr;
    switch (hs) {
      case head_status::ok: r = prepare_request() ? route_request() : prepare_local(400, true); break;
      case head_status::too_large: prepare_local(431, true); break;
      case head_status::timeout: prepare_local(408, true); break;
      case head_status::not_implemented: prepare_local(501, true); break;
      default:
        if (h2c_preface()) co_return start_h2c();
        prepare_local(400, true);
        break;
    }
    bool more = false;
    if (r != nullptr && error_code_ == 0) {
      if (const config::external_auth* a = auth_of(*r)) {
        switch (co_await authenticate(*r, *a)) {
          case auth_step::pass: break;
          case auth_step::answered: r = nullptr; break;
          case auth_step::gone: co_return false;
        }
      }
    }
    if (r != nullptr) more = co_await forward(*r);
    else more = co_await send_prepared();
    if (!more || closed_) co_return false;
    if (cbuf_.size() != 0) continue;  // pipelined: the next request is here
    // Nothing pipelined: the warm wait, else the connection waits in an idle_conn.
    if (!begin_warm_wait()) {
      switch (next_request_here()) {
        case look::here: continue;
        case look::ended: co_return false;
        case look::empty:
          // The read just found the socket empty, in this run of handlers: the idle wait needs
          // no system call. (After co_return an epoll_wait may come first, and the event of a
          // request arriving then would be gone unseen: so the hand-off happens here.)
          hand_off(true);
          co_return true;
        case look::skipped: co_return true;
      }
    }
    boost::system::error_code ec;
    if (client_.is_plain()) {
      // Plain TCP reads the next request into a small block rather than waiting for
      // readiness: Asio's wait re-arms the socket in epoll (an epoll_ctl per request), a read
      // whose last try drained the socket simply waits for the next edge. The bytes move to
      // cbuf_ (a head larger than the block is read on from there).
      warm_block blk;
      std::size_t n = 0;
      std::tie(ec, n) = co_await client_.async_read_request(asio::buffer(blk.data, warm_block::size), false, tok);
      if (n > 0) {
        std::memcpy(cbuf_.prepare(read_chunk).data(), blk.data, n);
        cbuf_.commit(n);
      }
    } else {
      std::tie(ec) = co_await asio::async_initiate<decltype(tok), void(boost::system::error_code)>(
          [this](auto handler) { client_.async_wait_readable(std::move(handler)); }, tok);
    }
    w_.warm_leave(warm_);
    if (closed_) co_return false;
    // Cancelled: end_warm_wait() (or a deadline of the last request) hands the connection to
    // an idle_conn, the worker's drain() to go_idle(), which closes it. (A request already on
    // its way is served, with Connection: close when draining.)
    if (ec) co_return ec == asio::error::operation_aborted && client_.is_open();
    warm_expired_ = false;
    w_.warm_resumed();
  }
}

// With every warm wait of the worker taken (many connections between requests at once), the
// connection would go to an idle_conn: unless its next request is already here, which one
// recv() without waiting finds (into the receive buffer the session still has), and this
// session serves it like a pipelined one. The trip through an idle_conn and back into a
// session cost more than that recv (bench/causes.md, keepalive-256).
http_session::look http_session::next_request_here() {
  if (!w_.warm_full() || h2_stream_ || w_.draining() || !client_.is_plain()) return look::skipped;
  const auto b = cbuf_.prepare(read_chunk);
  const net::recv_result r = net::recv_now(client_.socket().native_handle(), b.data(), b.size());
  if (r.what == net::recv_result::bytes) {
    cbuf_.commit(r.n);
    return look::here;
  }
  if (r.what == net::recv_result::nothing) return look::empty;
  return look::ended;  // closed as when a warm wait's read ends so
}

bool http_session::begin_warm_wait() {
  warm_expired_ = false;
  if (h2_stream_ || w_.draining() || w_.warm_full() ||
      w_.settings().keep_alive < 2 * worker::tick_period)
    return false;
  close_upstream();  // (normally already pooled or closed)
  // The receive buffers (32 KiB blocks) go back to the thread's cache while the session waits:
  // taking them again costs a few instructions, keeping them cost 64 KiB per warm connection
  // (tests/system/idle_memory_test.py).
  if (cbuf_.capacity() > 0) cbuf_.shrink_to_fit();  // empty here
  if (ubuf_.capacity() > 0) {
    ubuf_.clear();
    ubuf_.shrink_to_fit();
  }
  phase_ = session_phase::warm;
  timed_out_ = false;
  warm_tick_ = w_.ticks();
  w_.warm_enter(warm_);
  return true;
}

bool http_session::end_warm_wait(std::uint64_t tick) {
  if (tick < warm_tick_ + 2) return false;
  w_.warm_leave(warm_);
  warm_expired_ = true;
  boost::system::error_code ec;
  client_.cancel(ec);  // serve() resumes with operation_aborted and returns true: go_idle()
  return true;
}

void http_session::look_at_blind_read(std::uint64_t tick) {
  if (blind_read_tick_ == 0 || tick < blind_read_tick_) return;
  blind_read_tick_ = 0;  // one look per read: a FIN that comes later has its own event
  char c;
  const auto r = net::recv_now(up_.socket().native_handle(), &c, 1, MSG_PEEK);
  if (r.what != net::recv_result::end && r.what != net::recv_result::failed) return;
  // read_response_head() resumes with operation_aborted, nothing received: retry_fresh.
  boost::system::error_code ec;
  up_.cancel(ec);
}

void http_session::begin_request() {
  first_request_ = false;
  grpc_ = false;
  length_body_sent_ = false;
  ++requests_;
  snap_ = w_.snapshot();  // pinned until the request is finished
  if (trusted_version_ != w_.trusted_version() || requests_ == 1) {
    trusted_version_ = w_.trusted_version();
    peer_trusted_ = w_.trusted().contains(peer_ip_);
  }
  string_pool::fill(out_);
  string_pool::fill(cout_);
  t_start_ = clock_type::now();
  deadline_cap_ = clock_type::time_point::max();
  rec_.emplace();
  rec_->start = std::chrono::system_clock::now();
  status_ = 0;
  head_request_ = false;
  request_id_.clear();
  method_.clear();
  target_.clear();
  upstream_target_.clear();
  host_.clear();
  if (!auth_upstream_.empty()) auth_upstream_.clear();
  auth_cookies_.clear();
  arm(session_phase::client_header, cfg().client_header_timeout);
  const std::size_t limit = w_.options().max_header_bytes;
  if (!req_head_) req_head_.emplace();
  if (!resp_head_) resp_head_.emplace();
  req_sink_ = body_sink{};
  rp_.emplace(*req_head_, static_cast<std::uint32_t>(limit + 64));
  scan_ = head_scanner(limit, w_.options().max_header_fields);
}

// The request head from what is buffered, or `incomplete`.
head_status http_session::parse_head() {
  if (cbuf_.size() == 0) return head_status::incomplete;
  const std::size_t limit = w_.options().max_header_bytes;
  std::string_view raw{static_cast<const char*>(cbuf_.data().data()), cbuf_.size()};
  auto sc = scan_.scan(raw);  // only the bytes not examined before
  if (sc.state == head_scan::malformed) return head_status::bad_request;
  if (sc.state == head_scan::too_many_fields) return head_status::too_large;
  if (sc.state == head_scan::complete) {
    beast::error_code ec;
    string_pool::fill(head_bytes_);
    head_bytes_.assign(raw.data(), sc.length);
    const std::size_t n = rp_->take_head(head_bytes_, ec);
    if (ec || !rp_->is_header_done()) {
      // RFC 9112 6.1: a transfer coding we do not implement is 501 (HTTP/1.0 with any
      // Transfer-Encoding is faulty framing: 400).
      if (rp_->error == head_error::unsupported_transfer_coding && rp_->version >= 11)
        return head_status::not_implemented;
      return head_status::bad_request;
    }
    cbuf_.consume(n);  // the views point into head_bytes_, not into cbuf_
    rec_->request_bytes = n;
    return head_status::ok;
  }
  if (raw.size() >= limit) return head_status::too_large;
  return head_status::incomplete;
}

bool http_session::prepare_request() {
  auto& p = *rp_;
  const auto& opts = w_.options();
  method_.assign(p.method_text);
  // Decided once: the head's views go stale as soon as body bytes are read after it.
  std::string_view ctype = find_header(*req_head_, "content-type");
  while (!ctype.empty() && (ctype.front() == ' ' || ctype.front() == '\t')) ctype.remove_prefix(1);
  grpc_ = ascii::istarts_with(ctype, "application/grpc");
  const auto pt = parse_target(p.target);
  absolute_form_ = pt.form == target_form::absolute;
  if (absolute_form_) {
    // RFC 9112 3.2.2: the target's authority is the host; Host is replaced upstream and the
    // request goes on in origin-form.
    host_.assign(pt.authority);
    if (pt.origin.empty() || pt.origin.front() != '/') target_.assign("/", 1);
    else target_.clear();
    target_.append(pt.origin);
  } else {
    target_.assign(p.target);
    host_.assign(req_head_->host);
  }
  version_ = p.version;
  head_request_ = method_ == "HEAD";
  idempotent_ = is_idempotent(method_);
  const auto& conn = req_head_->conn;
  client_closes_ = version_ >= 11 ? conn.close : !conn.keep_alive;
  keep_alive_ = !client_closes_ && !w_.draining();
  // keep-alive-requests: the connection closes after this many requests.
  const unsigned max_requests = cfg().keep_alive_requests;
  if (max_requests != 0 && requests_ >= max_requests) keep_alive_ = false;
  // Upgrade only to an allowed protocol (websocket by default): "h2c" and the like would open
  // a tunnel past the route table.
  upgrade_protocol_ = {};
  if (conn.upgrade && !req_head_->upgrade.empty() && version_ >= 11)
    upgrade_protocol_ = allowed_upgrade(req_head_->upgrade, opts.upgrade_protocols);
  upgrade_ = !upgrade_protocol_.empty();
  if (p.chunked()) {
    req_framing_ = body_framing::chunked;
  } else if (auto cl = p.content_length(); cl) {  // "Content-Length: 0" is forwarded as such
    req_framing_ = body_framing::length;
    req_length_ = *cl;
  } else {
    req_framing_ = body_framing::none;
    req_length_ = 0;
  }
  if (usable_request_id(req_head_->x_request_id)) {
    request_id_.assign(req_head_->x_request_id);
  } else {
    request_id_.resize(32);
    w_.next_request_id(request_id_.data());
  }
  return request_is_well_formed(pt);
}

// What makes a parsed request 400 beyond the parser's own checks.
bool http_session::request_is_well_formed(const parsed_target& pt) const {
  const auto& h = *req_head_;
  if (pt.form == target_form::invalid) return false;
  if (pt.form == target_form::asterisk && method_ != "OPTIONS") return false;  // RFC 9112 3.2.4
  // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing.
  if (version_ < 11 && h.has_transfer_encoding) return false;
  if (version_ >= 11 && h.host_count == 0) return false;  // RFC 9112 3.2
  if (h.host_count > 0) {
    // An invalid Host is never routed nor forwarded; an absolute-form target must agree with
    // the Host sent beside it.
    if (!valid_host_value(h.host)) return false;
    if (pt.form == target_form::absolute && !same_authority(h.host, pt.authority, pt.https))
      return false;
  }
  return true;
}

// Routes the request. Returns the route to forward to, or null when cout_ holds the answer
// (status_ set): default backend, redirect, or an error. Not a coroutine: one frame less per
// request.
const config::route* http_session::route_request() {
  // Routing matches the normalized path (nginx location matching); the target goes upstream
  // as received. `path` may point into a per-thread scratch string: used before returning.
  thread_local std::string scratch;
  std::string_view path = path_of(target_);
  switch (normalize_path(path, scratch)) {
    case path_status::unchanged: break;
    case path_status::normalized: path = scratch; break;
    case path_status::invalid: return prepare_local(400, true);
  }
  // block-cidrs: these clients get 403 on every host.
  if (const auto& block = cfg().block_cidrs; block && block->contains(client_ip()))
    return prepare_local(403, req_framing_ == body_framing::chunked || req_length_ > 0 || !keep_alive_);
  // "OPTIONS *" asks about the server, not a path: no route matches it.
  const bool asterisk = target_.size() == 1 && target_[0] == '*';
  if (snap_ && !asterisk) {
    if (const std::string* to = snap_->www_redirect(host_)) return redirect_www(*to);
  }
  const config::route* r = nullptr;
  if (snap_ && !asterisk) {
    r = snap_->gateway_ptr()
            ? snap_->find(host_, path,
                          gateway_request_attrs(*req_head_, method_, target_, client_.is_tls(), listener_port_))
            : snap_->find(host_, path);
  }
  rec_->route = r;
  const auto& settings = cfg();
  const auto max_body = r != nullptr ? r->policy->body_size : settings.proxy_body_size;
  if (req_framing_ == body_framing::length && max_body != 0 && req_length_ > max_body)
    return prepare_local(413, true);
  const bool has_body = req_framing_ == body_framing::chunked || req_length_ > 0;
  if (r == nullptr) {
    // The built-in default backend. A request body is not read: the connection then closes.
    if (has_body) keep_alive_ = false;
    if (grpc_request()) return prepare_local(404, !keep_alive_);  // no gRPC service here
    cout_.clear();
    char hsts[112];
    status_ = write_default_backend(cout_, path, request_id_, !keep_alive_, head_request_,
                                    hsts_line(hsts));
    return nullptr;
  }
  // The phases that may answer the request themselves (proxy/phases.hpp).
  const auto& pol = *r->policy;
  if (!pol.denied.empty() || pol.cors.enabled || pol.source.allow || pol.source.deny ||
      pol.basic_auth.users || pol.limits.any() || client_auth_possible()) {
    if (access_checks(*r, path, has_body)) return nullptr;
  }
  const request_view req{method_, host_, target_, path, client_.is_tls(), w_.options().https_port,
                         std::string_view{}, listener_port_};  // no client address needed from here
  local_answer answer;
  if (redirect_phase(*r, req, settings, answer) == phase_result::answered) {
    if (has_body) keep_alive_ = false;  // the body is not read
    if (answer.location.empty()) return prepare_local(answer.status, !keep_alive_);
    return prepare_redirect(answer.status, answer.location);
  }
  if (pol.rewrite.gateway_path.k != config::path_edit::kind::none) {
    const auto q = target_.find('?');
    gateway_rewrite_uri(*r, path, q == std::string::npos ? std::string_view{} : std::string_view(target_).substr(q + 1),
                        upstream_target_);
  } else if (r->rewrite_regex) {
    const auto q = target_.find('?');
    const std::string_view query =
        q == std::string::npos ? std::string_view{} : std::string_view(target_).substr(q + 1);
    if (rewrite_uri(*r, path, query, upstream_target_) == uri_rewrite::redirect) {
      if (has_body) keep_alive_ = false;
      prepare_redirect(302, upstream_target_);
      upstream_target_.clear();
      return nullptr;
    }
  }
  pick_backend_phase(*r, *req_head_, w_.lb().random(), pick_);
  // An HTTPRoute backendRef that cannot be used: 500; a GRPCRoute's: 503 (gRPC UNAVAILABLE).
  if (pick_.cluster == nullptr) return prepare_local(r->grpc ? 503 : 500, has_body || !keep_alive_);
  if (pick_.variant != nullptr) rec_->route = r = pick_.variant;  // the backendRef's filters, protocol
  if (pick_.canary != nullptr) rec_->canary = pick_.canary->upstream_name;
  if (pick_.cluster->endpoints.empty()) {
    const config::cluster* eb = r->error_backend.get();
    if (eb != nullptr && !r->policy->default_backend.empty() && !eb->endpoints.empty()) {
      // default-backend: while the rule's Service has no endpoints, its Service serves.
      pick_.cluster = eb;
      pick_.affinity = nullptr;
      pick_.canary = nullptr;
      return r;
    }
    if (intercepts(*r, 503)) {
      if (has_body) keep_alive_ = false;  // the body is not read
      error_code_ = 503;
      return r;
    }
    return prepare_local(503, has_body || !keep_alive_);
  }
  return r;
}

// from-to-www-redirect, as ingress-nginx's redirect server answers: <scheme>://<to>:<port>
// and the request URI without a trailing '/', with the ConfigMap's http-redirect-code.
const config::route* http_session::redirect_www(const std::string& to) {
  const bool has_body = req_framing_ == body_framing::chunked || req_length_ > 0;
  if (has_body) keep_alive_ = false;  // the body is not read
  std::string_view uri = target_;  // origin-form (an absolute-form target was reduced)
  if (uri.ends_with('/')) uri.remove_suffix(1);
  std::string location = client_.is_tls() ? "https://" : "http://";
  location.append(to).append(":").append(w_.port_text_of(listener_port_, client_.is_tls()));
  location.append(uri);
  return prepare_redirect(cfg().http_redirect_code, location);
}

forward_params http_session::forwarding() const {
  forward_params fp;
  fp.peer_ip = peer_ip_;
  fp.peer_trusted = peer_trusted_;
  fp.trusted = &w_.trusted();
  if (client_.is_tls()) fp.scheme = "https";
  fp.server_port = w_.port_text_of(listener_port_, client_.is_tls());  // the listener that accepted it
  fp.request_id = request_id_;
  fp.fallback_host = host_;
  if (absolute_form_) fp.host_override = host_;
  fp.upgrade = upgrade_protocol_;
  const auto& settings = cfg();
  fp.allow_underscores = settings.enable_underscores_in_headers;
  fp.compute_full_forwarded_for = settings.compute_full_forwarded_for;
  fp.forwarded_for = forwarded_for_value(*req_head_, settings.forwarded_for_header);
  fp.framing = req_framing_;
  fp.content_length = req_length_;
  return fp;
}

http_session::task<bool> http_session::send_prepared() {
  conn_slot_.reset();  // the whole answer is in cout_: the request ends with this write
  arm(session_phase::client_send, send_timeout());
  const bool ok = co_await write_client(cout_);
  finish_request();
  co_return ok && keep_alive_;
}

// HTTPS with HSTS on: the Strict-Transport-Security line for local answers.
std::string_view http_session::hsts_line(char (&buf)[112]) const {
  if (!client_.is_tls()) return {};
  char value[80];
  const auto v = hsts_value(cfg(), value);
  if (v.empty()) return {};
  constexpr std::string_view name = "Strict-Transport-Security: ";
  std::memcpy(buf, name.data(), name.size());
  std::memcpy(buf + name.size(), v.data(), v.size());
  std::memcpy(buf + name.size() + v.size(), "\r\n", 2);
  return {buf, name.size() + v.size() + 2};
}

http_session::task<bool> http_session::send_local(unsigned status, bool close) {
  prepare_local(status, close);
  co_return co_await send_prepared();
}

const config::route* http_session::prepare_local(unsigned status, bool close, std::string_view extra,
                                                 std::string_view detail) {
  if (close) keep_alive_ = false;
  cout_.clear();
  char hsts[112];
  std::string_view lines = hsts_line(hsts);
  thread_local std::string joined;
  // The authentication service's cookies, as nginx's add_header (always, or by status).
  const bool cookies = !auth_cookies_.empty() && (auth_cookies_always_ || cookie_status(status));
  if (!extra.empty() || cookies) {
    joined.assign(lines).append(extra);
    if (cookies) joined.append(auth_cookies_);
    lines = joined;
  }
  // A 2xx of the proxy's own (a CORS preflight, /healthz) stays as it is for gRPC too.
  if (status >= 300 && grpc_request())
    write_grpc_error(cout_, status, deadline_, request_id_, !keep_alive_, lines, detail);
  else
    write_error_response(cout_, status, request_id_, !keep_alive_, head_request_, lines, detail);
  status_ = status;
  return nullptr;
}

http_session::task<bool> http_session::write_client(std::string& data) {
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(data), tok);
  rec_->response_bytes += n;
  if (ec) keep_alive_ = false;
  co_return !ec;
}

void http_session::finish_request() {
  orderly_end_ =
      client_closes_ && rp_ && (rp_->is_done() || length_body_sent_) && cbuf_.size() == 0;
  if (auto* obs = w_.observer()) {
    rec_->host = host_without_port(host_);
    rec_->method = method_;
    rec_->target = target_;
    rec_->remote_addr = real_ip_.empty() ? std::string_view(peer_ip_) : std::string_view(real_ip_);
    rec_->request_id = request_id_;
    rec_->http2 = h2_stream_;
    rec_->upstream_addr = ep_ ? std::string_view(ep_->key) : std::string_view{};
    rec_->upstream_protocol = upstream_protocol();
    rec_->request_bytes += req_sink_.total;  // the body as received (the head was counted)
    rec_->status = status_;
    rec_->request_seconds =
        std::chrono::duration<double>(clock_type::now() - t_start_).count();
    obs->on_request(*rec_);
  }
  snap_.reset();
  ep_.reset();
  pick_ = backend_pick{};
  set_cookie_.clear();
  error_code_ = 0;
  error_page_ = false;
  deadline_ = false;
  real_ip_.clear();
  conn_slot_.reset();  // limit-connections: this request is no longer in progress
  client_cert_headers_ = false;
  rp_.reset();
  sp_.reset();
  spool_.reset();
  head_len_ = 0;
}

void http_session::close_upstream() {
  boost::system::error_code ec;
  if (up_.is_open() || up_.is_h2()) up_.close(ec);  // a finished HTTP/2 stream is released too
  ubuf_.clear();
}

}  // namespace portico::proxy
