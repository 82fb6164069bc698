// Bodies through a session: the request body to the upstream (streamed, buffered or spooled,
// or relayed straight from the client receive buffer) and the response body to the client
// (re-framed, relayed straight from the upstream receive buffer, or paced by limit-rate).
// Content-Length bodies between plain TCP sockets move through a pipe with splice(2).
#include <boost/asio/deferred.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "proxy/body_splice.hpp"
#include "proxy/h2_upstream.hpp"
#include "proxy/http_session.hpp"
#include "proxy/net/socket_state.hpp"
#include "proxy/tls_client.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
using clock_type = std::chrono::steady_clock;

namespace {
// As in http_forward.cpp: a deferred operation co_awaited needs no coroutine frame of its own.
constexpr auto tok = asio::as_tuple(asio::deferred);
constexpr std::size_t read_chunk = session_read_chunk;
constexpr std::size_t body_buffer = session_body_buffer;
// Read size of the direct response relay: the recycled block size of io_buffer.
constexpr std::size_t direct_chunk = 32 * 1024;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}
}  // namespace

attempt_result http_session::parse_body_bytes(bool& need_read) {
  beast::error_code ec;
  auto n = rp_->put(cbuf_.data(), ec);
  cbuf_.consume(n);
  need_read = false;
  if (req_sink_.too_large || ec == beast::http::error::body_limit) {
    status_ = 413;
    keep_alive_ = false;
    return attempt_result::client_error;
  }
  if (ec == beast::http::error::need_more) {
    // Only a chunk-size line or the trailer section waits unconsumed: bounded like a head.
    if (cbuf_.size() > w_.options().max_header_bytes) {
      status_ = 400;
      keep_alive_ = false;
      return attempt_result::client_error;
    }
    need_read = true;
  } else if (ec && ec != beast::http::error::need_buffer) {
    status_ = 400;
    keep_alive_ = false;
    return attempt_result::client_error;
  }
  if (rp_->is_done()) {
    if (req_framing_ == body_framing::chunked) req_sink_.end_chunked();
  } else if (cbuf_.size() == 0) {
    need_read = true;
  }
  return attempt_result::ok;
}

http_session::task<attempt_result> http_session::read_client_body_bytes(std::size_t size) {
  arm_body_read();
  auto [ec, n] = co_await client_.async_read_some(cbuf_.prepare(size), tok);
  if (ec) {
    keep_alive_ = false;
    if (!timed_out_) co_return attempt_result::client_gone;
    status_ = 408;
    co_return attempt_result::client_error;
  }
  cbuf_.commit(n);
  co_return attempt_result::ok;
}

// proxy-request-buffering: receives the rest of the body before any upstream connection.
// out_ keeps the head and up to client_body_buffer_size of body; beyond that the body so far
// moves to spool_, so memory per connection stays bounded whatever the body size.
http_session::task<attempt_result> http_session::buffer_request_body() {
  const auto& opts = w_.options();
  const std::size_t mem_limit = head_len_ + cfg().client_body_buffer_size;
  bool need_read = cbuf_.size() == 0;
  for (;;) {
    if (need_read) {
      const auto r = co_await read_client_body_bytes();
      if (r != attempt_result::ok) co_return r;
    }
    req_sink_.capacity = mem_limit;
    if (parse_body_bytes(need_read) != attempt_result::ok) co_return attempt_result::client_error;
    if (rp_->is_done()) co_return attempt_result::ok;
    if ((!need_read || out_.size() >= mem_limit) && out_.size() > head_len_) {
      // The memory part is full: spill it.
      if (!spool_.append(opts.client_body_temp_path, std::string_view(out_).substr(head_len_))) {
        std::fprintf(stderr, "portico: cannot buffer a request body in %s: %s\n",
                     opts.client_body_temp_path.c_str(), std::strerror(errno));
        status_ = 500;
        keep_alive_ = false;
        co_return attempt_result::client_error;
      }
      out_.resize(head_len_);
    }
  }
}

// Sends spool_ to the upstream through the (empty) upstream receive buffer.
http_session::task<bool> http_session::send_spooled_body() {
  std::uint64_t off = 0;
  while (off < spool_.size()) {
    auto buf = ubuf_.prepare(read_chunk);
    const long n = spool_.read_at(off, static_cast<char*>(buf.data()), buf.size());
    if (n <= 0) co_return false;
    auto [ec, wn] = co_await asio::async_write(
        up_, asio::buffer(buf.data(), static_cast<std::size_t>(n)), tok);
    if (ec) co_return false;
    off += static_cast<std::uint64_t>(n);
  }
  co_return true;
}

// Streams the rest of the request body: client -> sink (re-framed) -> upstream.
http_session::task<attempt_result> http_session::stream_request_body() {
  if (req_framing_ == body_framing::length) co_return co_await stream_length_body();
  bool need_read = cbuf_.size() == 0;
  for (;;) {
    if (need_read) {
      const auto r = co_await read_client_body_bytes();
      if (r != attempt_result::ok) co_return r;
    }
    out_.clear();
    req_sink_.capacity = body_buffer;
    if (parse_body_bytes(need_read) != attempt_result::ok) co_return attempt_result::client_error;
    const bool done = rp_->is_done();
    if (!out_.empty()) {
      body_started_ = true;
      arm(session_phase::upstream_send, policy()->send_timeout);
      auto [wec, wn] = co_await asio::async_write(up_, asio::buffer(out_), tok);
      if (wec) co_return timed_out_ ? attempt_result::timed_out : attempt_result::failed;
    }
    if (done) {
      body_complete_ = true;
      co_return attempt_result::ok;
    }
  }
}

// The rest of a Content-Length request body, from the client receive buffer straight to the
// upstream: no copy through the parser's sink into out_ (the limit was checked against the
// Content-Length before). Bytes after the body (a pipelined request) stay in cbuf_.
http_session::task<attempt_result> http_session::stream_length_body() {
  std::uint64_t remaining = req_length_ - std::min<std::uint64_t>(req_length_, req_sink_.total);
  bool splice = true;  // until no pipe could be had
  while (remaining > 0) {
    if (splice && cbuf_.size() == 0 && can_splice(remaining)) {
      // The rest never enters user space (the bytes already received were written first).
      const std::uint64_t before = req_sink_.total;
      body_started_ = true;
      const splice_end e = co_await splice_body(client_, up_, remaining, true);
      remaining -= req_sink_.total - before;
      switch (e) {
        case splice_end::done: continue;
        case splice_end::unavailable: splice = false; break;
        case splice_end::source_closed:
          keep_alive_ = false;
          co_return attempt_result::client_gone;
        case splice_end::source_timeout:
          keep_alive_ = false;
          status_ = 408;
          co_return attempt_result::client_error;
        case splice_end::sink_failed: co_return attempt_result::failed;
        case splice_end::sink_timeout: co_return attempt_result::timed_out;
      }
    }
    if (cbuf_.size() == 0) {
      const auto r = co_await read_client_body_bytes(direct_chunk);
      if (r != attempt_result::ok) co_return r;
    }
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(cbuf_.size(), remaining));
    body_started_ = true;
    arm(session_phase::upstream_send, policy()->send_timeout);
    auto [wec, wn] = co_await asio::async_write(up_, asio::buffer(cbuf_.data().data(), take), tok);
    if (wec) co_return timed_out_ ? attempt_result::timed_out : attempt_result::failed;
    cbuf_.consume(take);
    remaining -= take;
    req_sink_.total += take;
  }
  body_complete_ = true;
  length_body_sent_ = true;  // rp_ never saw these bytes: it does not know the body ended
  co_return attempt_result::ok;
}

// splice(2) needs both sockets non-blocking at the file level (SPLICE_F_NONBLOCK covers only
// the pipe): the epoll backend of Asio has made them so at their first asynchronous operation
// (it says so without a system call); where it has not, the body goes through user space.
bool http_session::can_splice(std::uint64_t n) const {
  return n >= splice_min_bytes && w_.options().body_splice && !client_.is_tls() &&
         !client_.is_h2() && !up_.is_tls() && !up_.is_h2() &&
         client_.socket().native_non_blocking() && up_.socket().native_non_blocking();
}

// A wait restarts the deadline of what is waited for: the client body's (or the upstream
// read's) when the pipe is empty and the source has nothing, the send's when the sink cannot
// take more.
http_session::task<http_session::splice_end> http_session::splice_body(byte_stream& from, byte_stream& to,
                                                                       std::uint64_t n, bool request) {
  using io = splice_pipe::io;
  splice_pipe pipe;
  if (!pipe.valid()) co_return splice_end::unavailable;
  const int in = from.socket().native_handle();
  const int out = to.socket().native_handle();
  const auto& pol = *policy();
  // Asked of one splice into the pipe: the kernel stops earlier when the pipe is full.
  constexpr std::uint64_t fill_max = 1 << 20;
  // Bytes moved without a wait before the other connections of the worker get a turn.
  constexpr std::size_t turn_bytes = 1 << 20;
  std::size_t since_wait = 0;
  for (;;) {
    if (n == 0 && pipe.held() == 0) co_return splice_end::done;
    bool moved = false;
    std::size_t k = 0;
    if (n > 0) {
      const io r = pipe.fill(in, static_cast<std::size_t>(std::min(n, fill_max)), k);
      if (r == io::moved) {
        n -= k;
        moved = true;
        if (request) req_sink_.total += k;
      } else if (r != io::would_block) {
        co_return splice_end::source_closed;  // FIN or reset before the body's end
      }
    }
    if (pipe.held() > 0) {
      const io r = pipe.drain(out, k);
      if (r == io::moved) {
        moved = true;
        if (!request) rec_->response_bytes += k;
      } else if (r != io::would_block) {
        co_return splice_end::sink_failed;
      }
    }
    if (moved) {
      since_wait += k;
      if (since_wait >= turn_bytes) {
        since_wait = 0;
        if (request) arm_body_read();
        else arm(session_phase::upstream_wait, pol.read_timeout);
        co_await asio::post(w_.context().get_executor(), tok);
      }
      continue;
    }
    since_wait = 0;
    if (pipe.held() > 0) {
      arm(request ? session_phase::upstream_send : session_phase::client_send, pol.send_timeout);
      auto [ec] = co_await to.socket().async_wait(asio::socket_base::wait_write, tok);
      if (ec) co_return timed_out_ ? splice_end::sink_timeout : splice_end::sink_failed;
    } else {
      if (request) arm_body_read();
      else arm(session_phase::upstream_wait, pol.read_timeout);
      // The splice into the pipe just found the source empty: no re-arming epoll_ctl.
      auto [ec] = co_await net::async_readable(from.socket(), true, tok);
      if (ec) co_return timed_out_ ? splice_end::source_timeout : splice_end::source_closed;
    }
  }
}

bool http_session::adopt_h2_upstream() {
  const config::upstream_tls* t = pick_.cluster != nullptr ? pick_.cluster->tls.get() : nullptr;
  const std::uint64_t key = t == nullptr ? 0 : upstream_tls_key(*t, upstream_server_name(*t, host_));
  byte_stream conn = std::move(up_);
  return w_.h2_pool().adopt(*ep_, key, std::move(conn), up_);
}

void http_session::touch() {
  if (!timed_out_ && !closed_ && phase_ != session_phase::idle) arm(phase_, armed_for_);
}

// The rest of the request body to an HTTP/2 upstream stream while the response is relayed
// (attempt() started it). It sets no deadline of its own: each piece it moves restarts the
// one the response side set. A failure either way ends the upstream stream, so the response
// side stops too.
http_session::awaitable http_session::pump_request_body() {
  auto self = shared_from_this();
  bool need_read = cbuf_.size() == 0;
  bool failed = false;
  while (!pump_stop_) {
    if (need_read) {
      auto [ec, n] = co_await client_.async_read_some(cbuf_.prepare(16 * 1024), tok);
      if (ec || pump_stop_) {
        failed = !pump_stop_ && !timed_out_;
        keep_alive_ = false;
        break;
      }
      cbuf_.commit(n);
      touch();
    }
    out_.clear();
    req_sink_.capacity = body_buffer;
    if (parse_body_bytes(need_read) != attempt_result::ok) {
      failed = true;
      pump_status_ = status_;
      break;
    }
    const bool done = rp_->is_done();
    if (!out_.empty()) {
      body_started_ = true;
      auto [wec, wn] = co_await asio::async_write(up_, asio::buffer(out_), tok);
      if (wec || pump_stop_) {
        failed = !pump_stop_;
        break;
      }
      touch();
    }
    if (done) {
      body_complete_ = true;
      break;
    }
  }
  pump_failed_ = failed;
  if (failed && up_.is_h2()) {
    boost::system::error_code ec;
    up_.close(ec);  // the client's part failed: the upstream stream is cancelled
  }
  pump_running_ = false;
  if (pump_join_ != nullptr) pump_join_->cancel();
}

http_session::task<void> http_session::end_pump() {
  if (!pump_running_) co_return;
  pump_stop_ = true;
  boost::system::error_code ec;
  client_.cancel(ec);  // its read of the client, if it waits in one
  if (up_.is_h2()) up_.close(ec);  // its write to the upstream, if it waits in one
  join_timer join(w_.context().get_executor());
  join.expires_at(clock_type::time_point::max());
  pump_join_ = &join;
  while (pump_running_) co_await join.async_wait(tok);
  pump_join_ = nullptr;
  // Stopped before the client's body was all read (the upstream answered early): what is
  // left of it is not a next request.
  if (!body_complete_) keep_alive_ = false;
}

http_session::task<bool> http_session::relay_body(bool chunked_out) {
  const auto& pol = *policy();
  resp_sink_ = body_sink{&cout_, cout_.size() + body_buffer, chunked_out, 0, 0};
  resp_sink_.allow_underscores = cfg().enable_underscores_in_headers;
  sp_->set_sink(&resp_sink_);
  for (;;) {
    bool need_read = ubuf_.size() == 0;
    bool full = false;
    if (!sp_->is_done() && ubuf_.size() > 0) {
      beast::error_code ec;
      auto n = sp_->put(ubuf_.data(), ec);
      ubuf_.consume(n);
      if (ec == beast::http::error::need_more) {
        need_read = true;
        if (ubuf_.size() > 64 * 1024) break;  // a chunk-size line or trailers without end
      } else if (ec == beast::http::error::need_buffer) {
        full = true;
      } else if (ec) {
        break;  // upstream framing broken
      }
      if (ubuf_.size() == 0) need_read = true;
    }
    const bool done = sp_->is_done();
    if (done) {
      if (chunked_out) resp_sink_.end_chunked();
      pool_upstream_if_reusable();
      // The response is complete: the client may start its next request as soon as these
      // bytes arrive, on any worker; limit-connections no longer counts this one.
      conn_slot_.reset();
      if (pol.limit_rate != 0) co_return co_await write_limited(cout_);
      arm(session_phase::client_send, pol.send_timeout);
      // Written here rather than through write_client(): one coroutine frame less per response;
      // async_write_some until all is sent rather than asio::async_write (as in attempt()).
      boost::system::error_code wec;
      for (std::size_t sent = 0; sent < cout_.size() && !wec;) {
        std::size_t wn = 0;
        std::tie(wec, wn) = co_await client_.async_write_some(
            asio::buffer(cout_.data() + sent, cout_.size() - sent), tok);
        sent += wn;
        rec_->response_bytes += wn;
      }
      if (wec) keep_alive_ = false;
      co_return !wec;
    }
    if (!cout_.empty() && (need_read || full)) {
      arm(session_phase::client_send, pol.send_timeout);
      const bool sent = pol.limit_rate != 0 ? co_await write_limited(cout_) : co_await write_client(cout_);
      if (!sent) break;
      cout_.clear();
      resp_sink_.capacity = body_buffer;
    }
    if (need_read) {
      arm(session_phase::upstream_wait, pol.read_timeout);
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

// A Content-Length body (`length` bytes, the first of them in ubuf_ after the head) relayed
// from the upstream receive buffer straight to the client: one copy in and one out, as the
// kernel makes them, instead of another through the parser's sink into cout_. cout_ holds
// the response head.
http_session::task<bool> http_session::relay_length_body(std::uint64_t length) {
  const auto& pol = *policy();
  const std::size_t first = static_cast<std::size_t>(std::min<std::uint64_t>(ubuf_.size(), length));
  cout_.append(static_cast<const char*>(ubuf_.data().data()), first);
  ubuf_.consume(first);
  std::uint64_t remaining = length - first;
  if (remaining == 0) conn_slot_.reset();  // the last bytes (see relay_body)
  arm(session_phase::client_send, pol.send_timeout);
  bool ok = co_await write_client(cout_);
  cout_.clear();
  if (ok && can_splice(remaining)) {
    // A failure either way ends the response: the client sees the connection close (what
    // reached the pipe but not the client goes with the pipe).
    const splice_end e = co_await splice_body(up_, client_, remaining, false);
    if (e == splice_end::done) {
      remaining = 0;
      // Bytes after the body stayed in the socket: that connection is not pooled.
      if (!socket_quiet(up_.socket().native_handle())) close_upstream();
    } else if (e != splice_end::unavailable) {
      ok = false;
    }
  }
  while (ok && remaining > 0) {
    arm(session_phase::upstream_wait, pol.read_timeout);
    // A whole chunk even near the end: bytes after the body stay in ubuf_, and a connection
    // with such bytes is not pooled.
    auto [ec, n] = co_await up_.async_read_some(ubuf_.prepare(direct_chunk), tok);
    if (ec) {
      ok = false;  // the upstream ended the body early: the client sees the connection close
      break;
    }
    ubuf_.commit(n);
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(n, remaining));
    remaining -= take;
    if (remaining == 0) conn_slot_.reset();  // the last bytes (see relay_body)
    arm(session_phase::client_send, pol.send_timeout);
    auto [wec, wn] = co_await asio::async_write(client_, asio::buffer(ubuf_.data().data(), take), tok);
    rec_->response_bytes += wn;
    ubuf_.consume(take);
    ok = !wec;
  }
  if (!ok) {
    close_upstream();
    keep_alive_ = false;
    co_return false;
  }
  pool_upstream_if_reusable();
  co_return true;
}

// limit-rate: nginx's limit_rate -- by now the response may have sent limit_rate_after bytes
// plus limit_rate per second since the request started, with one second of credit (nginx's
// "+ 1"). Pieces are written as the allowance grows; the waits are not client send time.
http_session::task<bool> http_session::write_limited(std::string& data) {
  const auto& pol = *policy();
  const double rate = static_cast<double>(pol.limit_rate);
  std::size_t off = 0;
  asio::basic_waitable_timer<clock_type, asio::wait_traits<clock_type>, session_executor> pause(
      w_.context().get_executor());
  while (off < data.size()) {
    const std::size_t left = data.size() - off;
    const double allowance = rate_allowance(pol.limit_rate, pol.limit_rate_after,
                                            seconds_since(t_start_), rec_->response_bytes);
    // At least an eighth of a second's worth at a time (or what is left), as nginx sends
    // whole buffers rather than trickling bytes.
    const double piece = std::min(static_cast<double>(left), std::max(rate / 8, 512.0));
    if (allowance < piece) {
      pause.expires_after(std::chrono::duration_cast<clock_type::duration>(
          std::chrono::duration<double>((piece - allowance) / rate)));
      auto [ec] = co_await pause.async_wait(tok);
      if (closed_ || ec) co_return false;
      continue;
    }
    const auto n = std::min(left, static_cast<std::size_t>(allowance));
    arm(session_phase::client_send, pol.send_timeout);
    auto [ec, wn] = co_await asio::async_write(client_, asio::buffer(data.data() + off, n), tok);
    rec_->response_bytes += wn;
    if (ec) {
      keep_alive_ = false;
      co_return false;
    }
    off += n;
  }
  co_return true;
}

}  // namespace portico::proxy
