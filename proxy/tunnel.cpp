// Upgrade tunnels (WebSocket and others): after the upstream's 101 the two sockets are joined
// both ways through fixed buffers until either side closes or the tunnel stays idle too long.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>

#include "proxy/http_session.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {
constexpr auto tok = session_tok;
constexpr std::size_t tunnel_buffer = 16 * 1024;

// Copies `from` -> `to` until EOF or error; every transfer pushes the idle deadline.
asio::awaitable<void, session_executor> pump(byte_stream& from, byte_stream& to, std::function<void()> touch) {
  auto buf = std::make_unique<char[]>(tunnel_buffer);
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buf.get(), tunnel_buffer), tok);
    if (ec) break;
    touch();
    auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf.get(), n), tok);
    if (wec) break;
  }
  boost::system::error_code ignore;
  to.shutdown_send(ignore);
}
}  // namespace

http_session::task<bool> http_session::run_tunnel() {
  const auto& opts = w_.options();
  response_params p;
  p.status = 101;
  p.reason = sp_->reason;
  p.request_id = request_id_;
  p.upgrade = true;
  cout_.clear();
  write_client_response(cout_, *resp_head_, p);
  // Bytes that arrived behind the heads belong to the tunnel.
  cout_.append(static_cast<const char*>(ubuf_.data().data()), ubuf_.size());
  ubuf_.consume(ubuf_.size());
  arm(session_phase::client_send, send_timeout());
  const bool sent = co_await write_client(cout_);
  if (!sent) {
    finish_request();
    co_return false;
  }
  if (cbuf_.size() > 0) {
    arm(session_phase::upstream_send, send_timeout());
    auto [ec, n] = co_await asio::async_write(up_, cbuf_.data(), tok);
    cbuf_.consume(cbuf_.size());
    if (ec) {
      finish_request();
      co_return false;
    }
  }
  // The request is logged when the tunnel is established; the tunnel itself is counted.
  rec_->upstream_response_seconds = -1;
  finish_request();
  release_idle_memory();
  auto& gauges = w_.gauges();
  gauge_add(gauges.tunnels, 1);
  const auto idle = opts.tunnel_idle_timeout;
  arm(session_phase::tunnel, idle);
  auto touch = [this, idle] { watch_.postpone(std::chrono::steady_clock::now() + idle); };
  co_await (pump(client_, up_, touch) || pump(up_, client_, touch));
  gauge_add(gauges.tunnels, -1);
  close_upstream();
  keep_alive_ = false;
  co_return false;
}

}  // namespace portico::proxy
