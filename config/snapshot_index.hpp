// Which clusters a Service has and which routes use each cluster, by position in
// snapshot::clusters() and snapshot::routes(). build() makes one per Snapshot and hangs it on
// the host table; every Snapshot an endpoint-only build derives from it (same routes and
// clusters at the same positions, some objects replaced) shares both, so a change finds its
// clusters and routes without a pass over the cluster (config/incremental.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/snapshot.hpp"

namespace portico::config {

struct snapshot_index {
  // cluster id -> position in clusters().
  std::unordered_map<std::string, std::uint32_t, tls_host_hash, std::equal_to<>> cluster_by_id;
  // "namespace/service" -> positions in clusters() of that Service's clusters.
  std::unordered_map<std::string, std::vector<std::uint32_t>, tls_host_hash, std::equal_to<>>
      clusters_by_service;
  // The routes using the cluster at position c (backend, canary backend, error backend,
  // weighted and mirror backends), each once: route_refs[route_begin[c] .. route_begin[c + 1]).
  std::vector<std::uint32_t> route_begin;
  std::vector<std::uint32_t> route_refs;
};

std::shared_ptr<const snapshot_index> index_of(
    const std::vector<std::shared_ptr<const route>>& routes,
    const std::vector<std::shared_ptr<const cluster>>& clusters);

}  // namespace portico::config
