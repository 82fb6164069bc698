#include "proxy/upstream_pool.hpp"

#include <sys/socket.h>

#include "proxy/net/socket_state.hpp"
#include "proxy/observe.hpp"

namespace portico::proxy {

upstream_pool::upstream_pool(std::size_t max_idle, std::chrono::milliseconds idle_timeout,
                             worker_gauges* gauges)
    : max_idle_(max_idle), idle_timeout_(idle_timeout), gauges_(gauges) {}

upstream_pool::~upstream_pool() { clear(); }

void upstream_pool::adjust(std::int64_t delta) {
  total_ = static_cast<std::size_t>(static_cast<std::int64_t>(total_) + delta);
  if (gauges_ != nullptr)
    gauges_->pooled_upstream_connections.store(static_cast<std::int64_t>(total_),
                                               std::memory_order_relaxed);
}

upstream_pool::slot* upstream_pool::find(const endpoint_state& ep, std::uint64_t tls_key) {
  for (auto& s : slots_)
    if (s.ep == ep.address && s.tls_key == tls_key) return &s;
  return nullptr;
}

std::size_t upstream_pool::idle_count(const endpoint_state& ep) const {
  std::size_t n = 0;
  for (const auto& s : slots_)
    if (s.ep == ep.address) n += s.conns.size();
  return n;
}

bool upstream_pool::still_open(boost::asio::ip::tcp::socket& sock) {
  char c;
  return net::recv_now(sock.native_handle(), &c, 1, MSG_PEEK).what == net::recv_result::nothing;
}

bool upstream_pool::still_open(byte_stream& conn) {
  if (auto* t = conn.tls(); t != nullptr && SSL_pending(t->native_handle()) > 0) return false;
  return still_open(conn.socket());
}

bool upstream_pool::take(const endpoint_state& ep, byte_stream& out, std::uint64_t tls_key,
                         unsigned* uses, reuse_check check, steady_time now) {
  slot* s = find(ep, tls_key);
  if (s == nullptr) return false;
  // The connection is moved once, from the list into `out`: a move out of the list first cost
  // another move and destructor of a byte_stream (about 80 instructions per keep-alive
  // request, bench/callgrind.sh).
  while (!s->conns.empty()) {
    idle_conn& c = s->conns.back();
    adjust(-1);
    const bool look = check == reuse_check::always || c.next == reuse_check::always ||
                      now - c.since >= recheck_after;
    // Decrypted bytes left over under TLS are never a clean start: no system call to see.
    const bool usable = look ? still_open(c.sock)
                             : (c.sock.tls() == nullptr || SSL_pending(c.sock.tls()->native_handle()) == 0);
    if (usable) {
      out = std::move(c.sock);
      if (uses != nullptr) *uses = c.uses;
      s->conns.pop_back();
      return true;
    }
    boost::system::error_code ec;
    c.sock.close(ec);
    s->conns.pop_back();
  }
  return false;
}

void upstream_pool::give_back(const endpoint_state& ep, byte_stream sock, steady_time now,
                              std::uint64_t tls_key, unsigned uses, reuse_check next) {
  boost::system::error_code ec;
  if (max_idle_ == 0) {
    sock.close(ec);
    return;
  }
  if (sock.is_tls() != (tls_key != 0)) {  // a caller's mistake: never mix them
    sock.close(ec);
    return;
  }
  slot* s = find(ep, tls_key);
  if (s == nullptr) {
    slots_.push_back(slot{ep.address, tls_key, {}});
    s = &slots_.back();
  }
  while (s->conns.size() >= max_idle_) {
    // Full: drop the oldest, keep the warm one.
    s->conns.front().sock.close(ec);
    s->conns.erase(s->conns.begin());
    adjust(-1);
  }
  s->conns.emplace_back(std::move(sock), now, uses, next);  // made in place: one move less
  adjust(+1);
}

void upstream_pool::sweep(steady_time now) {
  boost::system::error_code ec;
  for (auto it = slots_.begin(); it != slots_.end();) {
    auto& conns = it->conns;
    std::size_t keep = 0;
    for (auto& c : conns) {
      if (now - c.since < idle_timeout_) {
        if (&conns[keep] != &c) conns[keep] = std::move(c);
        ++keep;
      } else {
        c.sock.close(ec);
        adjust(-1);
      }
    }
    conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(keep), conns.end());
    it = conns.empty() ? slots_.erase(it) : it + 1;
  }
}

void upstream_pool::forget(const endpoint_state& ep) {
  boost::system::error_code ec;
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (it->ep != ep.address) {
      ++it;
      continue;
    }
    for (auto& c : it->conns) c.sock.close(ec);
    adjust(-static_cast<std::int64_t>(it->conns.size()));
    it = slots_.erase(it);
  }
}

void upstream_pool::clear() {
  boost::system::error_code ec;
  for (auto& s : slots_)
    for (auto& c : s.conns) c.sock.close(ec);
  slots_.clear();
  adjust(-static_cast<std::int64_t>(total_));
}

}  // namespace portico::proxy
