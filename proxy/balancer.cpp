#include "proxy/balancer.hpp"

#include <algorithm>
#include <unordered_set>

namespace portico::proxy {

namespace {

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::string endpoint_key(const config::endpoint& e) {
  std::string k;
  const bool v6 = e.ip.find(':') != std::string::npos;
  if (v6) k += '[';
  k += e.ip;
  if (v6) k += ']';
  k += ':';
  k += std::to_string(e.port);
  return k;
}

balancer::balancer(health_options opts, std::uint64_t seed) : opts_(opts), rng_(seed) {}

std::shared_ptr<endpoint_state> balancer::endpoint(const config::endpoint& e) {
  auto key = endpoint_key(e);
  auto& slot = endpoints_[key];
  if (!slot) {
    slot = std::make_shared<endpoint_state>();
    slot->key = std::move(key);
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(e.ip, ec);
    slot->address = boost::asio::ip::tcp::endpoint(addr, e.port);
  }
  return slot;
}

balancer::cluster_lb& balancer::refresh(const config::cluster& c) {
  auto it = clusters_.find(c.id);
  if (it == clusters_.end()) {
    it = clusters_.emplace(c.id, cluster_lb{}).first;
    it->second.next = static_cast<std::size_t>(splitmix(rng_));  // per-worker random start
  }
  auto& lb = it->second;
  if (!lb.filled || lb.version != c.version || lb.eps.size() != c.endpoints.size()) {
    lb.eps.clear();
    for (const auto& e : c.endpoints) lb.eps.push_back(endpoint(e));
    lb.version = c.version;
    lb.filled = true;
  }
  return lb;
}

std::shared_ptr<endpoint_state> balancer::pick(const config::cluster& c, const tried_set& tried,
                                               steady_time now) {
  if (c.endpoints.empty()) return nullptr;
  auto& lb = refresh(c);
  const std::size_t n = lb.eps.size();
  // First choice: healthy and untried; then untried; then anything (all tried or ejected).
  for (int pass = 0; pass < 3; ++pass) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t idx = (lb.next + i) % n;
      auto& ep = lb.eps[idx];
      if (pass < 2 && tried.contains(ep.get())) continue;
      if (pass == 0 && ep->ejected(now)) continue;
      lb.next = idx + 1;
      return ep;
    }
  }
  return lb.eps[lb.next++ % n];
}

void balancer::on_success(endpoint_state& ep) {
  ep.consecutive_failures = 0;
  ep.ejections = 0;
}

bool balancer::on_failure(endpoint_state& ep, steady_time now) {
  if (opts_.eject_after_failures == 0) return false;
  if (++ep.consecutive_failures < opts_.eject_after_failures) return false;
  ep.consecutive_failures = 0;
  auto d = opts_.eject_base;
  for (unsigned i = 0; i < ep.ejections && d < opts_.eject_max; ++i) d *= 2;
  d = std::min(d, opts_.eject_max);
  ++ep.ejections;
  ep.ejected_until = now + d;
  return true;
}

std::size_t balancer::ejected_count(steady_time now) const {
  std::size_t n = 0;
  for (const auto& [k, ep] : endpoints_)
    if (ep->ejected(now)) ++n;
  return n;
}

void balancer::retain_only(const config::snapshot& snap, upstream_pool& pool) {
  std::unordered_set<std::string_view> ids;
  for (const auto& c : snap.clusters()) ids.insert(c->id);
  for (auto it = clusters_.begin(); it != clusters_.end();)
    it = ids.count(it->first) ? std::next(it) : clusters_.erase(it);
  std::unordered_set<const endpoint_state*> used;
  for (const auto& [id, lb] : clusters_)
    for (const auto& ep : lb.eps) used.insert(ep.get());
  for (const auto& c : snap.clusters())
    for (const auto& e : c->endpoints) used.insert(endpoint(e).get());
  for (auto it = endpoints_.begin(); it != endpoints_.end();) {
    if (used.count(it->second.get()) || it->second.use_count() > 1) {
      ++it;
    } else {
      pool.forget(*it->second);
      it = endpoints_.erase(it);
    }
  }
}

}  // namespace portico::proxy
