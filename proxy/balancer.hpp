// Per-worker round-robin balancing with passive health. State is keyed by cluster id (and
// endpoints by address) so it survives Snapshot swaps.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/snapshot.hpp"
#include "proxy/upstream_pool.hpp"

namespace portico::proxy {

struct health_options {
  unsigned eject_after_failures = 3;
  std::chrono::milliseconds eject_base{5000};
  std::chrono::milliseconds eject_max{60000};
};

// The endpoints already tried by one request (at most max_tries, which is small).
struct tried_set {
  std::array<const endpoint_state*, 8> eps{};
  unsigned count = 0;
  bool contains(const endpoint_state* e) const {
    for (unsigned i = 0; i < count; ++i)
      if (eps[i] == e) return true;
    return false;
  }
  void add(const endpoint_state* e) {
    if (count < eps.size()) eps[count++] = e;
  }
};

class balancer {
 public:
  balancer(health_options opts, std::uint64_t seed);

  // Next endpoint of the cluster in round-robin order, skipping ejected and already tried
  // endpoints while others remain; nullptr when the cluster has no endpoints. The returned
  // shared_ptr keeps the state alive while the request uses it.
  std::shared_ptr<endpoint_state> pick(const config::cluster& c, const tried_set& tried,
                                       steady_time now);

  void on_success(endpoint_state& ep);
  // A connect failure, reset or timeout before any response byte. Returns true when this
  // failure ejected the endpoint.
  bool on_failure(endpoint_state& ep, steady_time now);

  // Number of endpoints currently ejected.
  std::size_t ejected_count(steady_time now) const;
  // Drops state of clusters and endpoints no longer in `snap` (their pooled connections are
  // closed through `pool`).
  void retain_only(const config::snapshot& snap, upstream_pool& pool);

 private:
  struct cluster_lb {
    std::uint64_t version = 0;
    bool filled = false;
    std::size_t next = 0;
    std::vector<std::shared_ptr<endpoint_state>> eps;
  };
  cluster_lb& refresh(const config::cluster& c);
  std::shared_ptr<endpoint_state> endpoint(const config::endpoint& e);

  health_options opts_;
  std::uint64_t rng_;
  std::unordered_map<std::string, cluster_lb> clusters_;
  std::unordered_map<std::string, std::shared_ptr<endpoint_state>> endpoints_;
};

std::string endpoint_key(const config::endpoint& e);

}  // namespace portico::proxy
