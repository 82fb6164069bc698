// The upstream side of a session: endpoint choice and retries, connection (pooled or new),
// request body streaming, response head, response body relay.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "proxy/http_session.hpp"
#include "proxy/https_policy.hpp"
#include "proxy/response_head.hpp"
#include "proxy/tls_client.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {
constexpr auto tok = session_tok;
constexpr std::size_t read_chunk = 16 * 1024;
// Body pieces are relayed through 64 KiB: large enough that a 1 GiB transfer costs few
// syscalls, small enough that memory per connection stays bounded.
constexpr std::size_t body_buffer = 64 * 1024;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

// The upstream TLS settings of the request's cluster (null: plain HTTP).
const config::upstream_tls* upstream_tls_of(const request_record& rec) {
  return rec.route != nullptr && rec.route->backend ? rec.route->backend->tls.get() : nullptr;
}

// The pool identity of the request's upstream connections: 0 plain, else TLS settings + SNI.
std::uint64_t pool_key(const request_record& rec, std::string_view host) {
  const auto* t = upstream_tls_of(rec);
  return t == nullptr ? 0 : upstream_tls_key(*t, upstream_server_name(*t, host));
}
}  // namespace

http_session::task<bool> http_session::forward(const config::route& r) {
  const auto& opts = w_.options();
  forward_params fp = forwarding();
  out_.clear();
  write_upstream_request(out_, method_, target_, *req_head_, fp);
  real_ip_.assign(real_client_ip(*req_head_, fp));

  // Whatever part of the body is already here goes out with the head.
  body_complete_ = rp_->is_done();
  body_started_ = false;
  if (!body_complete_) {
    req_sink_ = body_sink{&out_, out_.size() + body_buffer,
                          req_framing_ == body_framing::chunked, 0, opts.max_body_bytes};
    rp_->set_sink(&req_sink_);
    rp_->eager(true);
    beast::error_code ec;
    if (cbuf_.size() > 0) {
      auto n = rp_->put(cbuf_.data(), ec);
      cbuf_.consume(n);
    }
    if (req_sink_.too_large) co_return co_await send_local(413, true);
    if (ec && ec != beast::http::error::need_more && ec != beast::http::error::need_buffer)
      co_return co_await send_local(400, true);
    body_complete_ = rp_->is_done();
    if (body_complete_ && req_framing_ == body_framing::chunked) out_.append("0\r\n\r\n", 5);
    if (!body_complete_ && req_head_->expect_continue && cbuf_.size() == 0) {
      std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
      arm(session_phase::client_send, opts.send_timeout);
      const bool sent = co_await write_client(cont);
      if (!sent) {
        finish_request();
        co_return false;
      }
    }
  }
  const bool replayable = idempotent_ && body_complete_;

  tried_set tried;
  const unsigned max_tries = opts.max_tries == 0 ? 1 : opts.max_tries;
  unsigned tries = 0;
  bool fresh = false;
  attempt_result res = attempt_result::failed;
  for (;;) {
    if (!fresh) {
      ep_ = w_.lb().pick(*r.backend, tried, clock_type::now());
      tried.add(ep_.get());
      ++tries;
    }
    connect_failed_ = false;
    res = co_await attempt(fresh);
    if (res == attempt_result::ok) {
      w_.lb().on_success(*ep_);
      break;
    }
    if (res == attempt_result::client_gone || res == attempt_result::client_error) break;
    if (res == attempt_result::retry_fresh && !fresh && replayable) {
      fresh = true;  // a reused connection died under us: once more on a new one
      continue;
    }
    fresh = false;
    w_.lb().on_failure(*ep_, clock_type::now());
    // Another endpoint is tried when nothing reached this one, or the request can be replayed.
    const bool early = res == attempt_result::retry_next || res == attempt_result::retry_fresh ||
                       (res == attempt_result::timed_out && connect_failed_);
    const bool may_retry = early && (replayable || (connect_failed_ && !body_started_));
    if (may_retry && tries < max_tries && tried.count < r.backend->endpoints.size()) continue;
    if (res == attempt_result::retry_fresh) res = attempt_result::retry_next;
    break;
  }
  switch (res) {
    case attempt_result::ok: co_return co_await relay_response();
    case attempt_result::client_gone:
      close_upstream();
      finish_request();
      co_return false;
    case attempt_result::client_error:
      close_upstream();
      co_return co_await send_local(status_, true);
    case attempt_result::timed_out:
      close_upstream();
      co_return co_await send_local(504, !body_complete_);
    default:
      close_upstream();
      co_return co_await send_local(502, !body_complete_);
  }
}

http_session::task<attempt_result> http_session::attempt(bool fresh) {
  close_upstream();
  const config::upstream_tls* utls = upstream_tls_of(*rec_);
  std::string sni;
  std::uint64_t tls_key = 0;
  if (utls != nullptr) {
    sni = upstream_server_name(*utls, host_);
    tls_key = upstream_tls_key(*utls, sni);
  }
  if (!fresh && w_.pool().take(*ep_, up_, tls_key)) {
    up_reused_ = true;
    if (rec_->upstream_connect_seconds < 0) rec_->upstream_connect_seconds = 0;
  } else {
    up_reused_ = false;
    arm(session_phase::upstream_connect, w_.options().connect_timeout);
    const auto t0 = clock_type::now();
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
  }
  t_upstream_ = clock_type::now();
  arm(session_phase::upstream_send, w_.options().send_timeout);
  {
    auto [ec, n] = co_await asio::async_write(up_, asio::buffer(out_), tok);
    if (ec) {
      const bool t = timed_out_;
      close_upstream();
      if (t) co_return attempt_result::timed_out;
      co_return up_reused_ ? attempt_result::retry_fresh : attempt_result::retry_next;
    }
  }
  if (!body_complete_) {
    auto res = co_await stream_request_body();
    if (res != attempt_result::ok) co_return res;
  }
  co_return co_await read_response_head();
}

// Streams the rest of the request body: client -> sink (re-framed) -> upstream.
http_session::task<attempt_result> http_session::stream_request_body() {
  const auto& opts = w_.options();
  bool need_read = cbuf_.size() == 0;
  for (;;) {
    if (need_read) {
      arm(session_phase::client_body, opts.client_body_timeout);
      auto [ec, n] = co_await client_.async_read_some(cbuf_.prepare(read_chunk), tok);
      if (ec) {
        keep_alive_ = false;
        if (!timed_out_) co_return attempt_result::client_gone;
        status_ = 408;
        co_return attempt_result::client_error;
      }
      cbuf_.commit(n);
      need_read = false;
    }
    out_.clear();
    req_sink_.capacity = body_buffer;
    beast::error_code ec;
    auto n = rp_->put(cbuf_.data(), ec);
    cbuf_.consume(n);
    if (req_sink_.too_large) {
      status_ = 413;
      co_return attempt_result::client_error;
    }
    if (ec == beast::http::error::need_more) {
      need_read = true;
    } else if (ec && ec != beast::http::error::need_buffer) {
      status_ = 400;
      co_return attempt_result::client_error;
    }
    const bool done = rp_->is_done();
    if (done && req_framing_ == body_framing::chunked) out_.append("0\r\n\r\n", 5);
    if (!out_.empty()) {
      body_started_ = true;
      arm(session_phase::upstream_send, opts.send_timeout);
      auto [wec, wn] = co_await asio::async_write(up_, asio::buffer(out_), tok);
      if (wec) co_return timed_out_ ? attempt_result::timed_out : attempt_result::failed;
    }
    if (done) {
      body_complete_ = true;
      rec_->request_bytes += req_sink_.total;
      co_return attempt_result::ok;
    }
    if (cbuf_.size() == 0) need_read = true;
  }
}

http_session::task<attempt_result> http_session::read_response_head() {
  arm(session_phase::upstream_wait, w_.options().read_timeout);
  std::size_t received = 0;
  for (;;) {
    sp_.emplace(*resp_head_);
    sp_->header_limit(64 * 1024);
    sp_->body_limit(boost::none);
    if (head_request_) sp_->skip(true);
    response_head_reader head{64 * 1024};  // the parser sees the head only once it is whole
    for (;;) {
      if (ubuf_.size() > 0) {
        const auto st =
            head.take(*sp_, {static_cast<const char*>(ubuf_.data().data()), ubuf_.size()});
        if (st == response_head_state::complete) {
          ubuf_.consume(head.length);
          break;
        }
        if (st != response_head_state::incomplete) co_return attempt_result::failed;
      }
      auto [ec, n] = co_await up_.async_read_some(ubuf_.prepare(read_chunk), tok);
      if (ec) {
        const bool t = timed_out_;
        close_upstream();
        if (t) co_return attempt_result::timed_out;
        if (received == 0)
          co_return up_reused_ ? attempt_result::retry_fresh : attempt_result::retry_next;
        co_return attempt_result::failed;
      }
      received += n;
      ubuf_.commit(n);
    }
    const unsigned st = sp_->status;
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
    if (upgrade_) co_return co_await run_tunnel();
    close_upstream();
    co_return co_await send_local(502, true);
  }
  const bool client10 = version_ < 11;
  const bool no_body = head_request_ || st == 204 || st == 304;
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
  if (client_.is_tls()) p.hsts = hsts_value(w_.options(), hsts);
  cout_.clear();
  write_client_response(cout_, *resp_head_, p);
  const bool ok = co_await relay_body(framing == body_framing::chunked);
  rec_->upstream_response_seconds = seconds_since(t_upstream_);
  finish_request();
  co_return ok && keep_alive_;
}

http_session::task<bool> http_session::relay_body(bool chunked_out) {
  const auto& opts = w_.options();
  resp_sink_ = body_sink{&cout_, cout_.size() + body_buffer, chunked_out, 0, 0};
  sp_->set_sink(&resp_sink_);
  sp_->eager(true);
  for (;;) {
    bool need_read = ubuf_.size() == 0;
    bool full = false;
    if (!sp_->is_done() && ubuf_.size() > 0) {
      beast::error_code ec;
      auto n = sp_->put(ubuf_.data(), ec);
      ubuf_.consume(n);
      if (ec == beast::http::error::need_more) need_read = true;
      else if (ec == beast::http::error::need_buffer) full = true;
      else if (ec) break;  // upstream framing broken
      if (ubuf_.size() == 0) need_read = true;
    }
    const bool done = sp_->is_done();
    if (done) {
      if (chunked_out) cout_.append("0\r\n\r\n", 5);
      // The upstream connection goes back to the pool before the client write completes.
      if (sp_->keep_alive() && !sp_->need_eof() && ubuf_.size() == 0 && up_.is_open())
        w_.pool().give_back(*ep_, std::move(up_), clock_type::now(), pool_key(*rec_, host_));
      close_upstream();
      arm(session_phase::client_send, opts.send_timeout);
      // Written here rather than through write_client(): one coroutine frame less per response.
      auto [wec, wn] = co_await asio::async_write(client_, asio::buffer(cout_), tok);
      rec_->response_bytes += wn;
      if (wec) keep_alive_ = false;
      co_return !wec;
    }
    if (!cout_.empty() && (need_read || full)) {
      arm(session_phase::client_send, opts.send_timeout);
      const bool sent = co_await write_client(cout_);
      if (!sent) break;
      cout_.clear();
      resp_sink_.capacity = body_buffer;
    }
    if (need_read) {
      arm(session_phase::upstream_wait, opts.read_timeout);
      auto [ec, n] = co_await up_.async_read_some(ubuf_.prepare(read_chunk), tok);
      if (ec == asio::error::eof && sp_->need_eof()) {
        beast::error_code pec;
        sp_->put_eof(pec);
        if (pec) break;
        continue;
      }
      if (ec) break;
      ubuf_.commit(n);
    }
  }
  // The response cannot be completed: the client sees the connection close.
  close_upstream();
  keep_alive_ = false;
  co_return false;
}

}  // namespace portico::proxy
