// proxy::mirror_request(): see proxy/mirror.hpp.
#include "proxy/mirror.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "proxy/observe.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

thread_local std::size_t in_flight = 0;  // per worker thread
thread_local clock_type::time_point last_log{};

// One copy: its socket and the timer that closes it at the deadline.
struct mirror_call {
  explicit mirror_call(asio::io_context& ctx) : sock(ctx), timer(ctx) {}
  tcp::socket sock;
  asio::steady_timer timer;
  bool timed_out = false;
};

void note_failure(worker& w, const std::string& name, const std::string& what) {
  gauge_add(w.gauges().mirror_failed, 1);
  // At most one line a second per worker: a dead mirror under load must not flood the log.
  const auto now = clock_type::now();
  if (!w.options().log || now - last_log < std::chrono::seconds(1)) return;
  last_log = now;
  w.options().log("warning", "request mirror " + name + ": " + what + " (the client's request is not affected)");
}

asio::awaitable<void> run_copy(worker& w, tcp::endpoint to, std::string bytes, std::string name,
                               std::chrono::milliseconds connect_timeout, std::chrono::milliseconds timeout) {
  ++in_flight;
  auto call = std::make_shared<mirror_call>(w.context());
  auto arm = [&call](std::chrono::milliseconds d) {
    call->timer.expires_after(d);
    call->timer.async_wait([c = call](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: re-armed or done
      c->timed_out = true;
      boost::system::error_code ignore;
      c->sock.close(ignore);
    });
  };
  std::string what;
  arm(connect_timeout);
  auto [cec] = co_await call->sock.async_connect(to, tok);
  if (cec) {
    what = call->timed_out ? "connect timed out" : "connect failed: " + cec.message();
  } else {
    arm(timeout);
    auto [wec, wn] = co_await asio::async_write(call->sock, asio::buffer(bytes), tok);
    if (wec) {
      what = call->timed_out ? "timed out" : "send failed: " + wec.message();
    } else {
      // The answer's head, then the connection is closed: its body is not wanted.
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos && head.size() < 64 * 1024) {
        auto [rec, rn] = co_await call->sock.async_read_some(asio::buffer(buf), tok);
        if (rec) break;
        head.append(buf, rn);
      }
      if (!head.starts_with("HTTP/") || head.find("\r\n\r\n") == std::string::npos)
        what = call->timed_out ? "timed out" : "no answer";
    }
  }
  call->timer.cancel();
  boost::system::error_code ignore;
  call->sock.close(ignore);
  if (what.empty()) gauge_add(w.gauges().mirror_answered, 1);
  else note_failure(w, name, what);
  --in_flight;
}

}  // namespace

void mirror_request(worker& w, const config::route& r, std::string_view request, bool whole) {
  for (const auto& m : r.mirrors) {
    if (m.numerator < m.denominator && w.lb().random() % m.denominator >= m.numerator) continue;
    if (!whole || request.size() > mirror_max_bytes || in_flight >= mirror_max_in_flight) {
      gauge_add(w.gauges().mirror_skipped, 1);
      continue;
    }
    // One endpoint of the mirror backend, as the spec asks; its balancer state is the one
    // requests to that Service share.
    tried_set tried;
    auto ep = m.backend->endpoints.empty() ? nullptr : w.lb().pick(*m.backend, tried, clock_type::now());
    if (!ep) {
      note_failure(w, m.name, "no ready endpoint");
      continue;
    }
    const auto& pol = *r.policy;
    asio::co_spawn(w.context(),
                   run_copy(w, ep->address, std::string(request), m.name, pol.connect_timeout,
                            pol.read_timeout + pol.send_timeout),
                   asio::detached);
  }
}

}  // namespace portico::proxy
