// The upstream side of a session: endpoint choice and retries, connection (pooled or new),
// response head. The bodies both ways are relayed in http_body.cpp.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <tuple>
#include <cstring>
#include <ctime>

#include "proxy/ascii.hpp"
#include "proxy/default_backend.hpp"
#include "proxy/http_session.hpp"
#include "proxy/https_policy.hpp"
#include "proxy/mirror.hpp"
#include "proxy/net/socket_state.hpp"
#include "proxy/phases.hpp"
#include "proxy/request_target.hpp"
#include "proxy/response_head.hpp"
#include "proxy/tls_client.hpp"
#include "proxy/h2_upstream.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {
// co_await of a deferred operation runs it inside the awaiting frame (Asio's
// awaitable_async_op); use_awaitable would make a coroutine frame for each operation.
constexpr auto tok = asio::as_tuple(asio::deferred);
constexpr std::size_t read_chunk = session_read_chunk;
constexpr std::size_t body_buffer = session_body_buffer;
// A Content-Length body longer than this after its first bytes is relayed from the upstream
// receive buffer straight to the client (relay_length_body): no copy through the parser.
constexpr std::uint64_t direct_relay_above = body_buffer;

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

// The upstream TLS settings of the cluster the request is sent to (null: plain HTTP).
const config::upstream_tls* upstream_tls_of(const config::cluster* c) {
  return c != nullptr ? c->tls.get() : nullptr;
}

// The pool identity of the request's upstream connections: 0 plain, else TLS settings + SNI.
std::uint64_t pool_key(const config::cluster* c, std::string_view host) {
  const auto* t = upstream_tls_of(c);
  return t == nullptr ? 0 : upstream_tls_key(*t, upstream_server_name(*t, host));
}
}  // namespace

namespace {
// The proxy-next-upstream flag of a response status (0: none names it).
std::uint16_t status_flag(unsigned status) {
  namespace nu = config::next_upstream;
  switch (status) {
    case 500: return nu::http_500;
    case 502: return nu::http_502;
    case 503: return nu::http_503;
    case 504: return nu::http_504;
    case 403: return nu::http_403;
    case 404: return nu::http_404;
    case 429: return nu::http_429;
    default: return 0;
  }
}
}  // namespace

bool http_session::grpc_request() const { return grpc_; }

std::string_view http_session::upstream_protocol() const {
  if (!ep_) return {};
  if (!up_h2_) return rewrite_.http_version == 10 ? "HTTP/1.0" : "HTTP/1.1";
  return upstream_tls_of(pick_.cluster) != nullptr ? "h2" : "h2c";
}

const config::route* http_session::prepare_redirect(unsigned status, std::string_view location,
                                                    std::string_view extra) {
  if (grpc_request()) return prepare_local(status, !keep_alive_);
  cout_.clear();
  write_redirect(cout_, status, location, request_id_, !keep_alive_, extra);
  status_ = status;
  return nullptr;
}

// custom-http-errors: a gRPC call is never given the error backend's page (it could not read
// it); the proxy's own gRPC answer goes instead.
bool http_session::intercepts(const config::route& r, unsigned status) const {
  if (error_page_ || grpc_request() || r.error_backend == nullptr || r.error_backend->endpoints.empty()) return false;
  const auto& codes = r.policy->custom_http_errors;
  return std::find(codes.begin(), codes.end(), status) != codes.end();
}

http_session::task<bool> http_session::serve_error_page(const config::route& r, unsigned code) {
  if (!body_complete_) keep_alive_ = false;  // the rest of the request body is not read
  error_code_ = 0;
  error_page_ = true;
  const config::cluster& eb = *r.error_backend;
  pick_ = backend_pick{};
  pick_.cluster = &eb;
  up_h2_ = false;  // the error backend speaks HTTP/1.1
  set_cookie_.clear();
  // ingress-nginx's @custom_<upstream>_<code> location: "/" with the request's names.
  const std::string_view accept = find_header(*req_head_, "accept");
  char num[8];
  const int n = std::snprintf(num, sizeof num, "%u", code);
  out_.clear();
  out_.append(head_request_ ? "HEAD" : "GET").append(" / HTTP/1.1\r\nHost: ").append(host_);
  auto field = [this](std::string_view name, std::string_view value) {
    out_.append("\r\n").append(name).append(": ").append(value);
  };
  field("X-Code", std::string_view(num, static_cast<std::size_t>(n)));
  field("X-Format", accept);
  field("X-Original-URI", target_);
  field("X-Namespace", r.namespace_name);
  field("X-Ingress-Name", r.ingress_name);
  field("X-Service-Name", r.service_name);
  field("X-Service-Port", r.service_port);
  field("X-Request-ID", request_id_);
  field("X-Forwarded-For", real_ip_.empty() ? std::string_view(peer_ip_) : std::string_view(real_ip_));
  if (!accept.empty()) field("Accept", accept);
  out_.append("\r\n\r\n");
  head_len_ = static_cast<std::uint32_t>(out_.size());
  spool_.reset();
  body_complete_ = true;  // no body goes to the error backend
  replayable_ = true;     // a GET without a body, retried on a new connection below
  tried_set tried;
  attempt_result res = attempt_result::failed;
  for (unsigned i = 0; i < 2 && i < eb.endpoints.size(); ++i) {
    ep_ = w_.lb().pick(eb, tried, clock_type::now());
    tried.add(ep_.get());
    res = co_await attempt(false);
    if (res == attempt_result::retry_fresh) res = co_await attempt(true);
    if (res == attempt_result::ok || res == attempt_result::client_gone ||
        res == attempt_result::client_error)
      break;
    w_.lb().on_failure(*ep_, clock_type::now());
  }
  if (res == attempt_result::ok) {
    w_.lb().on_success(*ep_);
    co_return co_await relay_response();
  }
  close_upstream();
  if (res == attempt_result::client_gone) {
    finish_request();
    co_return false;
  }
  co_return co_await send_local(code, true);  // the error backend failed too: a plain page
}

http_session::task<bool> http_session::forward(const config::route& r) {
  if (error_code_ != 0) {  // no endpoint, and 503 is a custom error: nothing was read yet
    body_complete_ = rp_->is_done();
    co_return co_await serve_error_page(r, error_code_);
  }
  const auto& pol = *r.policy;
  forward_params fp = forwarding();
  rewrite_phase(r, cfg(), rewrite_);
  if (client_cert_headers_) {
    // auth-tls-*: what the handshake said, replacing anything the client sent by these names.
    auto& set = rewrite_.set_headers;
    // (Empty without auth-tls-pass-certificate-to-upstream: a client's own is removed.)
    set.emplace_back("ssl-client-cert", client_cert_.escaped_cert);
    set.emplace_back("ssl-client-verify", client_cert_.verify);
    set.emplace_back("ssl-client-subject-dn", client_cert_.subject);
    set.emplace_back("ssl-client-issuer-dn", client_cert_.issuer);
  }
  // auth-response-headers: the service's values, replacing the client's (a header the
  // service did not send is removed: an empty value).
  for (const auto& [name, value] : auth_upstream_) rewrite_.set_headers.emplace_back(name, value);
  fp.upstream_host = rewrite_.host;
  fp.set_headers = rewrite_.set_headers.empty() ? nullptr : &rewrite_.set_headers;
  if (!pol.request_edits.add.empty()) fp.add_headers = &pol.request_edits.add;
  fp.connection = rewrite_.connection;
  fp.http_version = rewrite_.http_version;
  // An HTTP/1.0 upstream cannot take a chunked body: it is received whole and sent with its
  // length (the head is rewritten once the length is known).
  up_h2_ = r.upstream_h2;
  unprocessed_ = false;
  pumped_ = false;
  pump_failed_ = false;
  pump_status_ = 0;
  const bool unchunk = !up_h2_ && fp.http_version == 10 && req_framing_ == body_framing::chunked;
  out_.clear();
  write_upstream_request(out_, method_, upstream_target(), *req_head_, fp);
  head_len_ = static_cast<std::uint32_t>(out_.size());
  real_ip_.assign(real_client_ip(*req_head_, fp));

  // Whatever part of the body is already here goes out with the head.
  body_complete_ = rp_->is_done();
  body_started_ = false;
  if (!body_complete_) {
    t_body_ = clock_type::now();
    req_sink_ = body_sink{&out_, out_.size() + body_buffer,
                          req_framing_ == body_framing::chunked && !unchunk, 0, pol.body_size};
    req_sink_.allow_underscores = cfg().enable_underscores_in_headers;
    // A chunk announcing more than the body may still hold is refused at its size line.
    if (pol.body_size != 0) rp_->body_limit(pol.body_size);
    rp_->set_sink(&req_sink_);
    rp_->eager(true);
    if (cbuf_.size() > 0) {
      bool need_read = false;
      if (parse_body_bytes(need_read) == attempt_result::client_error)
        co_return co_await send_local(status_, true);
    }
    body_complete_ = rp_->is_done();
    if (!body_complete_ && req_head_->expect_continue && cbuf_.size() == 0) {
      std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
      arm(session_phase::client_send, pol.send_timeout);
      const bool sent = co_await write_client(cont);
      if (!sent) {
        finish_request();
        co_return false;
      }
    }
    // An HTTP/2 upstream gets the body as it comes (gRPC streams: nginx's grpc_pass does not
    // buffer either).
    if (!body_complete_ && ((pol.request_buffering && !up_h2_) || unchunk)) {
      // The whole body before an upstream connection is taken: a slow client holds no
      // upstream connection (ingress-nginx proxy-request-buffering on).
      switch (co_await buffer_request_body()) {
        case attempt_result::ok: body_complete_ = true; break;
        case attempt_result::client_error: co_return co_await send_local(status_, true);
        default:
          finish_request();
          co_return false;
      }
    }
    if (unchunk) {
      std::string head;
      fp.framing = body_framing::length;
      fp.content_length = req_sink_.total;
      write_upstream_request(head, method_, upstream_target(), *req_head_, fp);
      out_.replace(0, head_len_, head);
      head_len_ = static_cast<std::uint32_t>(head.size());
    }
  }
  const auto flags = pol.next_upstream;
  namespace nu = config::next_upstream;
  const bool off = (flags & nu::off) != 0;
  const bool replayable = body_complete_ && (idempotent_ || (flags & nu::non_idempotent) != 0);
  replayable_ = replayable;
  const config::cluster& backend = *pick_.cluster;
  const auto endpoints = backend.endpoints.size();
  const unsigned max_tries =
      off ? 1 : (pol.next_upstream_tries == 0 ? static_cast<unsigned>(endpoints) : pol.next_upstream_tries);
  // (The clock is read only when a limit needs it: each read is a vDSO call of some 50
  // instructions, several per request.)
  const auto retry_deadline = pol.next_upstream_timeout.count() == 0
                                  ? clock_type::time_point::max()
                                  : clock_type::now() + pol.next_upstream_timeout;
  // HTTPRoute timeouts.request: from the first attempt (the body is here), across retries.
  const auto request_deadline = pol.request_timeout.count() > 0 ? clock_type::now() + pol.request_timeout
                                                                : clock_type::time_point::max();
  auto more = [&](unsigned tried_so_far, std::size_t distinct) {
    return !off && tried_so_far < max_tries && distinct < endpoints &&
           (pol.next_upstream_timeout.count() == 0 || clock_type::now() < retry_deadline) &&
           clock_type::now() < request_deadline;
  };
  if (!r.mirrors.empty()) {
    thread_local std::string upath;  // $uri: the normalized path, as routing matched it
    std::string_view path = std::string_view(target_).substr(0, target_.find('?'));
    if (normalize_path(path, upath) == path_status::normalized) path = upath;
    const mirror_source src{&*req_head_, template_vars(path),
                            std::string_view(out_).substr(head_len_), req_sink_.chunked_out,
                            cfg().enable_underscores_in_headers};
    mirror_request(w_, r, out_, body_complete_ && spool_.empty(), src);
  }

  tried_set tried;
  unsigned tries = 0;
  bool fresh = false;
  attempt_result res = attempt_result::failed;
  // Cookie affinity: the cookie's endpoint while it is listed; without change-on-failure a
  // retry goes to it again (ingress-nginx's sticky balancer), otherwise a new pick gets a new
  // cookie.
  const config::affinity_policy* aff = pick_.affinity;
  std::shared_ptr<endpoint_state> sticky;
  if (aff != nullptr && !pick_.sticky_key.empty())
    sticky = w_.lb().pick_sticky(backend, aff->persistent, pick_.sticky_key);
  // Without affinity: upstream-hash-by, else load-balance (ingress-nginx's order).
  const config::route_policy& bal = pick_.balance != nullptr ? *pick_.balance : pol;
  thread_local std::string hash;
  if (aff == nullptr && !bal.hash_by.empty()) {
    thread_local std::string upath;  // $uri: the normalized path, as routing matched it
    std::string_view path = std::string_view(target_).substr(0, target_.find('?'));
    if (normalize_path(path, upath) == path_status::normalized) path = upath;
    hash_key(bal.hash_by, *req_head_, template_vars(path), hash);
  }
  for (;;) {
    if (!fresh) {
      const auto now = clock_type::now();
      if (aff == nullptr) {
        if (!bal.hash_by.empty())
          ep_ = w_.lb().pick_hash(backend, hash, bal.hash_by_subset_size, tried);
        else if (bal.load_balance == config::balance_mode::ewma)
          ep_ = w_.lb().pick_ewma(backend, tried, now);
        else
          ep_ = w_.lb().pick(backend, tried, now);
      } else if (sticky && (tries == 0 || !aff->change_on_failure)) {
        ep_ = sticky;
      } else {
        std::string key;
        ep_ = w_.lb().pick_new_sticky(backend, aff->persistent, tried, now, key);
        const std::string_view path = r.path.empty() ? std::string_view("/") : std::string_view(r.path);
        affinity_cookie(*aff, key, backend.affinity_key, path, client_.is_tls(),
                        find_header(*req_head_, "user-agent"), std::time(nullptr), set_cookie_);
      }
      tried.add(ep_.get());
      ++tries;
    }
    connect_failed_ = false;
    deadline_cap_ = request_deadline;  // HTTPRoute timeouts.backendRequest: per attempt
    if (pol.attempt_timeout.count() > 0)
      deadline_cap_ = std::min(deadline_cap_, clock_type::now() + pol.attempt_timeout);
    res = co_await attempt(fresh);
    if (res == attempt_result::ok) {
      // An answer the route retries elsewhere (http_502, ...): discarded when another
      // endpoint may still take the request, else relayed as it is.
      const std::uint16_t st = status_flag(sp_->status);
      if ((flags & st) != 0 && replayable && more(tries, tried.count)) {
        if (st == nu::http_403 || st == nu::http_404) w_.lb().on_success(*ep_);
        else w_.lb().on_failure(*ep_, clock_type::now());
        close_upstream();
        fresh = false;
        continue;
      }
      w_.lb().on_success(*ep_);
      break;
    }
    if (res == attempt_result::client_gone || res == attempt_result::client_error) break;
    if (res != attempt_result::timed_out && pump_failed_) {
      // The client's side of the call failed, not the upstream: the body was refused
      // (status_ answers it) or the client went away.
      if (pump_running_) co_await end_pump();  // (a coroutine frame less when no pump runs)
      if (pump_status_ != 0) status_ = pump_status_;
      res = pump_status_ != 0 ? attempt_result::client_error : attempt_result::client_gone;
      break;
    }
    // A stream the HTTP/2 upstream refused unprocessed may go again whatever its method, when
    // the whole request is still in out_.
    const bool resend = replayable || (unprocessed_ && body_complete_ && !pumped_);
    if (res == attempt_result::retry_fresh && !fresh && resend) {
      fresh = true;  // a reused connection died under us: once more on a new one
      continue;
    }
    fresh = false;
    w_.lb().on_failure(*ep_, clock_type::now());
    // Another endpoint is tried when the policy names the failure and nothing reached this
    // one, or the request can be replayed.
    const bool timeout = res == attempt_result::timed_out;
    const bool early = res == attempt_result::retry_next || res == attempt_result::retry_fresh ||
                       (timeout && connect_failed_);
    const bool named = (flags & (timeout ? nu::timeout : nu::error)) != 0;
    const bool may_retry = named && early && (replayable || (connect_failed_ && !body_started_));
    if (may_retry && more(tries, tried.count)) continue;
    if (res == attempt_result::retry_fresh) res = attempt_result::retry_next;
    break;
  }
  if (res != attempt_result::ok && pump_running_) co_await end_pump();
  switch (res) {
    case attempt_result::ok:
      if (intercepts(r, sp_->status)) {
        if (pump_running_) co_await end_pump();  // (a coroutine frame less when no pump runs)
        close_upstream();  // its answer is not read
        co_return co_await serve_error_page(r, sp_->status);
      }
      co_return co_await relay_response();
    case attempt_result::client_gone:
      close_upstream();
      finish_request();
      co_return false;
    case attempt_result::client_error:
      close_upstream();
      co_return co_await send_local(status_, true);
    case attempt_result::timed_out:
      close_upstream();
      deadline_ = true;  // a gRPC call hears DEADLINE_EXCEEDED
      if (intercepts(r, 504)) co_return co_await serve_error_page(r, 504);
      co_return co_await send_local(504, !body_complete_);
    default:
      close_upstream();
      if (intercepts(r, 502)) co_return co_await serve_error_page(r, 502);
      co_return co_await send_local(502, !body_complete_);
  }
}

http_session::task<attempt_result> http_session::attempt(bool fresh) {
  close_upstream();
  const config::upstream_tls* utls = upstream_tls_of(pick_.cluster);
  std::string sni;
  std::uint64_t tls_key = 0;
  if (utls != nullptr) {
    sni = upstream_server_name(*utls, host_);
    tls_key = upstream_tls_key(*utls, sni);
  }
  // A request that can be sent again learns of a pooled connection the upstream closed from
  // its own read (retry_fresh: once more on a new connection), so a connection reused soon
  // after its last response is not checked first: one system call less per keep-alive
  // request (bench/syscalls.py). Others, and connections idle longer, are checked.
  const auto check = replayable_ ? reuse_check::when_idle_long : reuse_check::always;
  unprocessed_ = false;
  // One clock read for the pool's idle check and the start of a pooled attempt.
  const auto taken_at = clock_type::now();
  const bool pooled =
      !fresh && (up_h2_ ? w_.h2_pool().open_stream(*ep_, tls_key, up_)
                        : w_.pool().take(*ep_, up_, tls_key, &up_uses_, check, taken_at));
  if (pooled) {
    up_reused_ = true;
    if (rec_->upstream_connect_seconds < 0) rec_->upstream_connect_seconds = 0;
  } else {
    up_reused_ = false;
    up_uses_ = 0;
    arm(session_phase::upstream_connect, policy()->connect_timeout);
    const auto t0 = clock_type::now();
    boost::system::error_code oec;  // on an error async_connect opens it (and fails alike)
    net::open_nonblocking(up_.socket(), ep_->address.protocol(), oec);
    auto [ec] = co_await up_.socket().async_connect(ep_->address, tok);
    if (ec) {
      const bool t = timed_out_;
      close_upstream();
      connect_failed_ = true;
      co_return t ? attempt_result::timed_out : attempt_result::retry_next;
    }
    boost::system::error_code ignore;
    up_.socket().set_option(tcp::no_delay(true), ignore);
    if (utls != nullptr) {
      // TLS to the endpoint, under the same connect deadline; a failed handshake (refused
      // certificate included) counts as a failed connect: next endpoint, else 502.
      bool ready = false;
      try {
        up_.start_tls(w_.upstream_tls().context_for(*utls));
        ready = tls_client_contexts::prepare(up_.tls()->native_handle(), *utls, sni,
                                             ep_->address.address().to_string());
        // GRPCS: HTTP/2 is asked for by ALPN (a server that does not answer it is spoken to
        // in HTTP/2 all the same, as grpc_pass does).
        static constexpr unsigned char alpn_h2[] = {2, 'h', '2'};
        if (ready && up_h2_) ready = SSL_set_alpn_protos(up_.tls()->native_handle(), alpn_h2, 3) == 0;
      } catch (const std::exception&) {
        ready = false;
      }
      boost::system::error_code hec = asio::error::access_denied;
      if (ready)
        std::tie(hec) = co_await up_.tls()->async_handshake(asio::ssl::stream_base::client, tok);
      if (hec) {
        const bool t = timed_out_;
        close_upstream();
        connect_failed_ = true;
        co_return t ? attempt_result::timed_out : attempt_result::retry_next;
      }
    }
    rec_->upstream_connect_seconds = seconds_since(t0);
    if (up_h2_ && !adopt_h2_upstream()) {
      close_upstream();
      connect_failed_ = true;
      co_return attempt_result::retry_next;
    }
  }
  t_upstream_ = pooled ? taken_at : clock_type::now();
  arm(session_phase::upstream_send, policy()->send_timeout);
  {
    // A spooled body goes between the head and the in-memory rest of the body.
    const std::size_t first = spool_.empty() ? out_.size() : head_len_;
    // async_write_some until all is sent: a head is nearly always sent by the first, and
    // asio::async_write's composed operation cost about 270 instructions per write.
    boost::system::error_code ec;
    for (std::size_t sent = 0; sent < first && !ec;) {
      std::size_t n = 0;
      std::tie(ec, n) =
          co_await up_.async_write_some(asio::buffer(out_.data() + sent, first - sent), tok);
      sent += n;
    }
    bool ok = !ec;
    if (ok && !spool_.empty()) {
      ok = co_await send_spooled_body();
      if (ok) {
        auto [ec2, n2] = co_await asio::async_write(
            up_, asio::buffer(out_.data() + first, out_.size() - first), tok);
        ok = !ec2;
      }
    }
    if (!ok) {
      const bool t = timed_out_;
      unprocessed_ = ec == asio::error::connection_refused;
      close_upstream();
      if (t) co_return attempt_result::timed_out;
      co_return up_reused_ || unprocessed_ ? attempt_result::retry_fresh : attempt_result::retry_next;
    }
  }
  if (!body_complete_ && up_.is_h2()) {
    pumped_ = true;
    pump_stop_ = false;
    pump_running_ = true;
    asio::co_spawn(w_.context().get_executor(), pump_request_body(), asio::detached);
  } else if (!body_complete_) {
    auto res = co_await stream_request_body();
    if (res != attempt_result::ok) co_return res;
  }
  co_return co_await read_response_head();
}

http_session::task<attempt_result> http_session::read_response_head() {
  arm(session_phase::upstream_wait, policy()->read_timeout);
  std::size_t received = 0;
  for (;;) {
    sp_.emplace(*resp_head_, head_request_);  // parses the head only once it is whole
    for (;;) {
      if (ubuf_.size() > 0) {
        const auto st = sp_->take({static_cast<const char*>(ubuf_.data().data()), ubuf_.size()});
        if (st == response_head_state::complete) {
          ubuf_.consume(sp_->length());
          break;
        }
        if (st != response_head_state::incomplete) co_return attempt_result::failed;
      }
      // The first read on a reused connection may wait without a try (net::mark_empty when it
      // was pooled; look_at_blind_read).
      if (received == 0 && up_reused_ && up_.is_plain()) blind_read_tick_ = w_.ticks() + 1;
      auto [ec, n] = co_await up_.async_read_some(ubuf_.prepare(read_chunk), tok);
      blind_read_tick_ = 0;
      if (ec) {
        const bool t = timed_out_;
        unprocessed_ = received == 0 && ec == asio::error::connection_refused;
        close_upstream();
        if (t) co_return attempt_result::timed_out;
        if (received == 0)
          co_return up_reused_ || unprocessed_ ? attempt_result::retry_fresh : attempt_result::retry_next;
        co_return attempt_result::failed;
      }
      received += n;
      ubuf_.commit(n);
    }
    const unsigned st = sp_->status;
    if (st < 100 || st > 599) {  // "024" parses, but relaying it would send a broken status line
      close_upstream();
      co_return attempt_result::failed;
    }
    if (st >= 100 && st < 200 && st != 101) continue;  // 100 Continue, 103 Early Hints: skip
    break;
  }
  rec_->upstream_status = sp_->status;
  rec_->upstream_header_seconds = seconds_since(t_upstream_);
  co_return attempt_result::ok;
}

http_session::task<bool> http_session::relay_response() {
  const unsigned st = sp_->status;
  status_ = st;
  if (st == 101) {
    // A tunnel only to the protocol the client asked for and we allow.
    if (upgrade_ && ascii::iequals(trim_ows(resp_head_->upgrade), upgrade_protocol_) && !pumped_)
      co_return co_await run_tunnel();
    if (pump_running_) co_await end_pump();  // (a coroutine frame less when no pump runs)
    close_upstream();
    co_return co_await send_local(502, true);
  }
  const bool client10 = version_ < 11;
  const bool no_body = head_request_ || st == 204 || st == 304;
  if (!no_body && resp_head_->other_transfer_coding) {
    // "gzip, chunked" (or "gzip" alone, read to EOF) cannot be re-framed without dropping a
    // coding the client must undo: refuse rather than corrupt the body.
    if (pump_running_) co_await end_pump();  // (a coroutine frame less when no pump runs)
    close_upstream();
    co_return co_await send_local(502, !body_complete_);
  }
  body_framing framing = body_framing::none;
  if (!no_body) {
    if (auto cl = sp_->content_length(); cl && !sp_->chunked())
      framing = body_framing::length;
    else
      framing = client10 ? body_framing::until_close : body_framing::chunked;
  }
  if (framing == body_framing::until_close || w_.draining()) keep_alive_ = false;
  response_params p;
  p.status = st;
  p.reason = sp_->reason;
  p.request_id = request_id_;
  p.framing = framing;
  p.content_length = framing == body_framing::length ? *sp_->content_length() : 0;
  p.keep_alive = keep_alive_;
  p.client_http10 = client10;
  p.no_body = no_body;
  char hsts[80];
  if (client_.is_tls()) p.hsts = hsts_value(cfg(), hsts);
  response_phase(rec_->route, cfg(), resp_set_);
  if (rec_->route != nullptr && rec_->route->policy->cors.enabled)
    cors_phase(rec_->route->policy->cors, find_header(*req_head_, "origin"), resp_set_);
  if (!resp_set_.empty()) p.set_headers = &resp_set_;
  if (rec_->route != nullptr && !rec_->route->policy->response_edits.add.empty())
    p.add_headers = &rec_->route->policy->response_edits.add;
  p.set_cookie = set_cookie_;
  if (!auth_cookies_.empty() && (auth_cookies_always_ || cookie_status(st))) p.extra_lines = auth_cookies_;
  cout_.clear();
  write_client_response(cout_, *resp_head_, p);
  const bool direct = framing == body_framing::length && policy()->limit_rate == 0 &&
                      p.content_length > ubuf_.size() &&
                      p.content_length - ubuf_.size() > direct_relay_above;
  const bool ok = direct ? co_await relay_length_body(p.content_length)
                         : co_await relay_body(framing == body_framing::chunked);
  rec_->upstream_response_seconds = seconds_since(t_upstream_);
  if (pick_.balance != nullptr && pick_.balance->load_balance == config::balance_mode::ewma && ep_)
    balancer::observe_ewma(*ep_,
                           std::max(0.0, rec_->upstream_connect_seconds) +
                               rec_->upstream_response_seconds,
                           clock_type::now());
  if (pump_running_) co_await end_pump();  // (a coroutine frame less when no pump runs)
  finish_request();
  co_return ok && keep_alive_;
}

// The upstream connection goes back to the pool once its response is read, before the client
// write completes, unless it carried upstream-keepalive-requests, the route asked to close it,
// or bytes came after the response.
void http_session::pool_upstream_if_reusable() {
  if (up_.is_h2()) return close_upstream();  // the stream is done; its connection stays
  const unsigned max_uses = cfg().upstream_keepalive_requests;
  // After a response without a body (HEAD, 204, 304) some servers send one anyway, a moment
  // later: that connection is looked at before its next use, however soon.
  const bool bodiless = head_request_ || status_ == 204 || status_ == 304;
  if (sp_->keep_alive() && !sp_->need_eof() && ubuf_.size() == 0 && up_.is_open() &&
      (max_uses == 0 || up_uses_ + 1 < max_uses) && rewrite_.connection != "close") {
    // The answer was read to its end: the read of the next one, right after its request is
    // sent, waits for the reactor's event instead of trying recv() first (a failed read per
    // keep-alive request otherwise). A FIN that came with the answer's last bytes has no event
    // left: an upstream that closed answers the next request with a reset, which wakes that
    // read; one that half-closed and lingers is found by the worker tick's look
    // (look_at_blind_read). Only here, after the whole answer: inside an answer such a FIN
    // must end the next read at once.
    if (up_.is_plain()) net::mark_empty(up_.socket());
    w_.pool().give_back(*ep_, std::move(up_), clock_type::now(), pool_key(pick_.cluster, host_),
                        up_uses_ + 1, bodiless ? reuse_check::always : reuse_check::when_idle_long);
  }
  close_upstream();
}

}  // namespace portico::proxy
