#include "proxy/balancer.hpp"

#include <algorithm>
#include <cmath>

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
  auto& entry = endpoints_[key];
  if (!entry.state) {
    entry.state = std::make_shared<endpoint_state>();
    entry.state->key = std::move(key);
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(e.ip, ec);
    entry.state->address = boost::asio::ip::tcp::endpoint(addr, e.port);
  }
  ++entry.cluster_refs;
  return entry.state;
}

void balancer::fill(cluster_lb& lb, const config::cluster& c) {
  lb.eps.clear();
  lb.eps.reserve(c.endpoints.size());
  for (const auto& e : c.endpoints) lb.eps.push_back(endpoint(e));
  lb.version = c.version;
  lb.filled = true;
  lb.persistent.clear();
  lb.ring.clear();
  lb.subset_ring.clear();
}

balancer::cluster_lb& balancer::refresh(const config::cluster& c) {
  auto it = clusters_.find(c.id);
  if (it == clusters_.end()) {
    it = clusters_.emplace(c.id, cluster_lb{}).first;
    it->second.next = static_cast<std::size_t>(splitmix(rng_));  // per-worker random start
  }
  auto& lb = it->second;
  if (!lb.filled || lb.version != c.version || lb.eps.size() != c.endpoints.size()) {
    // A request pinned to another Snapshot than the last swap's: endpoints it drops are
    // forgotten at the next swap.
    std::vector<std::shared_ptr<endpoint_state>> old = std::move(lb.eps);
    fill(lb, c);
    release(old, nullptr);
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

namespace {
constexpr unsigned ring_points = 160;

std::uint64_t ring_hash(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ULL;
  return splitmix(h);  // FNV alone clusters similar keys ("...#1", "...#2")
}

// The position of `key` on a sorted consistent-hash ring: the first point at or after its
// hash, wrapping around. The ring is never empty here.
std::size_t ring_position(const std::vector<std::pair<std::uint64_t, std::uint32_t>>& ring,
                          std::string_view key) {
  const std::uint64_t h = ring_hash(key);
  auto it = std::lower_bound(ring.begin(), ring.end(), h,
                             [](const auto& e, std::uint64_t v) { return e.first < v; });
  return it == ring.end() ? 0 : static_cast<std::size_t>(it - ring.begin());
}

// ingress-nginx's node name of an endpoint: "<ip>:<port>", IPv6 without brackets.
std::string node_name(const config::endpoint& e) { return e.ip + ":" + std::to_string(e.port); }
}  // namespace

void balancer::build_sticky(cluster_lb& lb, const config::cluster& c, bool persistent) {
  if (persistent) {
    if (!lb.persistent.empty()) return;
    lb.persistent.reserve(c.endpoints.size());
    for (std::uint32_t i = 0; i < c.endpoints.size(); ++i)
      lb.persistent.emplace_back(config::md5_hex(c.upstream_name + node_name(c.endpoints[i])), i);
    std::sort(lb.persistent.begin(), lb.persistent.end());
  } else {
    if (!lb.ring.empty()) return;
    lb.ring.reserve(c.endpoints.size() * ring_points);
    for (std::uint32_t i = 0; i < c.endpoints.size(); ++i) {
      const std::string base = node_name(c.endpoints[i]) + "#";
      for (unsigned v = 0; v < ring_points; ++v)
        lb.ring.emplace_back(ring_hash(base + std::to_string(v)), i);
    }
    std::sort(lb.ring.begin(), lb.ring.end());
  }
}

std::shared_ptr<endpoint_state> balancer::pick_sticky(const config::cluster& c, bool persistent,
                                                      std::string_view key) {
  if (c.endpoints.empty() || key.empty()) return nullptr;
  auto& lb = refresh(c);
  build_sticky(lb, c, persistent);
  if (persistent) {
    auto it = std::lower_bound(lb.persistent.begin(), lb.persistent.end(), key,
                               [](const auto& e, std::string_view k) { return e.first < k; });
    if (it == lb.persistent.end() || it->first != key) return nullptr;
    return lb.eps[it->second];
  }
  return lb.eps[lb.ring[ring_position(lb.ring, key)].second];
}

std::shared_ptr<endpoint_state> balancer::pick_new_sticky(const config::cluster& c,
                                                          bool persistent, const tried_set& tried,
                                                          steady_time now, std::string& key) {
  if (c.endpoints.empty()) return nullptr;
  auto& lb = refresh(c);
  build_sticky(lb, c, persistent);
  if (persistent) {
    // A random endpoint: healthy and untried first, then untried, then any.
    const std::size_t n = lb.persistent.size();
    const std::size_t start = static_cast<std::size_t>(splitmix(rng_) % n);
    for (int pass = 0; pass < 3; ++pass) {
      for (std::size_t i = 0; i < n; ++i) {
        const auto& [k, idx] = lb.persistent[(start + i) % n];
        const auto& ep = lb.eps[idx];
        if (pass < 2 && tried.contains(ep.get())) continue;
        if (pass == 0 && ep->ejected(now)) continue;
        key = k;
        return ep;
      }
    }
    return nullptr;
  }
  // Balanced: random keys until one lands on a healthy untried endpoint (then untried; then
  // the last one drawn), as ingress-nginx draws up to 20.
  static constexpr char hex[] = "0123456789abcdef";
  std::shared_ptr<endpoint_state> last;
  for (int draw = 0; draw < 40; ++draw) {
    std::uint64_t r = splitmix(rng_);
    char buf[16];
    for (char& ch : buf) {
      ch = hex[r & 15];
      r >>= 4;
    }
    const std::string_view k(buf, sizeof buf);
    auto ep = lb.eps[lb.ring[ring_position(lb.ring, k)].second];
    last = ep;
    key.assign(k);
    if (tried.contains(ep.get())) continue;
    if (draw < 20 && ep->ejected(now)) continue;
    return ep;
  }
  return last;
}

std::uint64_t balancer::random() { return splitmix(rng_); }

std::shared_ptr<endpoint_state> balancer::pick_hash(const config::cluster& c, std::string_view key,
                                                    unsigned subset_size, const tried_set& tried) {
  if (c.endpoints.empty()) return nullptr;
  auto& lb = refresh(c);
  const std::size_t n = lb.eps.size();
  if (subset_size == 0) {
    build_sticky(lb, c, false);
    // The key's endpoint; a retry walks the ring to the next endpoint not tried yet.
    std::size_t pos = ring_position(lb.ring, key);
    for (std::size_t step = 0; step < lb.ring.size(); ++step) {
      const auto& ep = lb.eps[lb.ring[pos].second];
      if (!tried.contains(ep.get())) return ep;
      if (++pos == lb.ring.size()) pos = 0;
    }
    return lb.eps[lb.ring[pos].second];
  }
  // chashsubset: ceil(n / size) subsets of `size` consecutive endpoints (the last filled up
  // from the first ones); the key picks a subset on a ring of subset names.
  const std::size_t sets = (n + subset_size - 1) / subset_size;
  if (lb.subset_size != subset_size || lb.subset_ring.empty()) {
    lb.subset_ring.clear();
    lb.subset_ring.reserve(sets * ring_points);
    for (std::uint32_t s = 0; s < sets; ++s) {
      const std::string base = "set" + std::to_string(s + 1) + "#";
      for (unsigned v = 0; v < ring_points; ++v)
        lb.subset_ring.emplace_back(ring_hash(base + std::to_string(v)), s);
    }
    std::sort(lb.subset_ring.begin(), lb.subset_ring.end());
    lb.subset_size = subset_size;
  }
  const std::size_t set = lb.subset_ring[ring_position(lb.subset_ring, key)].second;
  const std::size_t start = static_cast<std::size_t>(splitmix(rng_) % subset_size);
  for (std::size_t i = 0; i < subset_size; ++i) {
    const auto& ep = lb.eps[(set * subset_size + (start + i) % subset_size) % n];
    if (!tried.contains(ep.get())) return ep;
  }
  return lb.eps[(set * subset_size + start) % n];
}

namespace {
constexpr double ewma_decay_seconds = 10.0;
}

double balancer::ewma_score(const endpoint_state& ep, steady_time now) {
  if (ep.ewma_at == steady_time{}) return -1;  // no sample
  const double td = std::max(0.0, std::chrono::duration<double>(now - ep.ewma_at).count());
  return ep.ewma * std::exp(-td / ewma_decay_seconds);
}

void balancer::observe_ewma(endpoint_state& ep, double seconds, steady_time now) {
  if (ep.ewma_at == steady_time{}) {
    ep.ewma = seconds;
  } else {
    const double td = std::max(0.0, std::chrono::duration<double>(now - ep.ewma_at).count());
    const double w = std::exp(-td / ewma_decay_seconds);
    ep.ewma = ep.ewma * w + seconds * (1.0 - w);
  }
  ep.ewma_at = now;
}

std::shared_ptr<endpoint_state> balancer::pick_ewma(const config::cluster& c, const tried_set& tried,
                                                    steady_time now) {
  if (c.endpoints.empty()) return nullptr;
  auto& lb = refresh(c);
  // Candidates: untried (and not ejected while others remain).
  thread_local std::vector<std::uint32_t> cand;
  cand.clear();
  for (int pass = 0; pass < 3 && cand.empty(); ++pass) {
    for (std::uint32_t i = 0; i < lb.eps.size(); ++i) {
      const auto& ep = lb.eps[i];
      if (pass < 2 && tried.contains(ep.get())) continue;
      if (pass == 0 && ep->ejected(now)) continue;
      cand.push_back(i);
    }
  }
  if (cand.size() == 1) return lb.eps[cand[0]];
  // Slow start: an endpoint without a sample scores the average of those with one.
  double sum = 0;
  unsigned with = 0;
  for (auto i : cand) {
    if (double s = ewma_score(*lb.eps[i], now); s >= 0) sum += s, ++with;
  }
  const double fresh = with == 0 ? 0 : sum / with;
  auto score = [&](std::uint32_t i) {
    const double s = ewma_score(*lb.eps[i], now);
    return s < 0 ? fresh : s;
  };
  const std::size_t a = splitmix(rng_) % cand.size();
  std::size_t b = splitmix(rng_) % (cand.size() - 1);
  if (b >= a) ++b;
  return score(cand[b]) < score(cand[a]) ? lb.eps[cand[b]] : lb.eps[cand[a]];
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
  if (auto it = endpoints_.find(ep.key); it != endpoints_.end() && it->second.state.get() == &ep) {
    bool listed = false;
    for (const auto& w : ejected_) listed = listed || w.lock().get() == &ep;
    if (!listed) ejected_.push_back(it->second.state);
  }
  return true;
}

std::size_t balancer::ejected_count(steady_time now) const {
  std::erase_if(ejected_, [&](const std::weak_ptr<endpoint_state>& w) {
    auto ep = w.lock();
    return !ep || !ep->ejected(now);
  });
  return ejected_.size();
}

void balancer::diff(const config::snapshot& snap,
                    std::vector<std::pair<std::string_view, const config::cluster*>>& touched) const {
  const auto& now = snap.clusters();
  if (seen_.size() == now.size()) {
    // The usual swap: the same cluster ids in the same order, a few objects replaced. A chunk
    // the two lists share holds the same clusters: skipped whole.
    bool aligned = true;
    for (std::size_t i = 0; i < now.size() && aligned; ++i) {
      const std::size_t k = i >> config::cluster_list::chunk_bits;
      if ((i & config::cluster_list::chunk_mask) == 0 && seen_.chunks()[k] == now.chunks()[k]) {
        i += config::cluster_list::chunk_mask;
        continue;
      }
      if (seen_[i] == now[i]) continue;
      if (seen_[i]->id != now[i]->id) {
        aligned = false;
      } else if (seen_[i]->version != now[i]->version) {
        touched.emplace_back(now[i]->id, now[i].get());
      }
    }
    if (aligned) return;
    touched.clear();
  }
  // Clusters came or went: compare every cluster that has state with the new Snapshot's.
  for (const auto& [id, lb] : clusters_) {
    const config::cluster* c = snap.find_cluster(id);
    if (!c || c->version != lb.version) touched.emplace_back(id, c);
  }
}

void balancer::release(std::vector<std::shared_ptr<endpoint_state>>& eps, upstream_pool* pool) {
  for (auto& ep : eps) {
    std::string key = ep->key;
    ep.reset();
    auto it = endpoints_.find(key);
    if (it == endpoints_.end() || --it->second.cluster_refs > 0) continue;
    if (pool && it->second.state.use_count() == 1) {
      pool->forget(*it->second.state);
      endpoints_.erase(it);
    } else {
      orphans_.push_back(std::move(key));
    }
  }
  eps.clear();
}

void balancer::forget_unused(upstream_pool& pool) {
  std::sort(orphans_.begin(), orphans_.end());
  orphans_.erase(std::unique(orphans_.begin(), orphans_.end()), orphans_.end());
  std::erase_if(orphans_, [&](const std::string& key) {
    auto it = endpoints_.find(key);
    if (it == endpoints_.end() || it->second.cluster_refs > 0) return true;  // gone, or listed again
    if (it->second.state.use_count() > 1) return false;  // a request still uses it
    pool.forget(*it->second.state);
    endpoints_.erase(it);
    return true;
  });
}

void balancer::retain_only(const config::snapshot& snap, upstream_pool& pool) {
  std::vector<std::pair<std::string_view, const config::cluster*>> touched;
  diff(snap, touched);
  for (const auto& [id_view, c] : touched) {
    std::string id(id_view);
    auto it = clusters_.find(id);
    if (it == clusters_.end()) continue;  // no request used it: nothing to update
    std::vector<std::shared_ptr<endpoint_state>> old = std::move(it->second.eps);
    if (c) {
      fill(it->second, *c);  // endpoints kept by the new list keep their health state
    } else {
      clusters_.erase(it);
    }
    release(old, &pool);
  }
  seen_ = snap.clusters();
  forget_unused(pool);
}

}  // namespace portico::proxy
