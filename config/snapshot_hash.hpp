// The config hash of a Snapshot (nginx_ingress_controller_config_hash): routes in order, the
// upstream TLS settings of each cluster, the TLS table, the controller settings. build() and
// the incremental build (config/incremental.hpp) must agree on it bit for bit;
// tests/config/incremental_test.cpp compares them.
//
// It is a sum (mod 2^64) of one mixed digest per route (with its position), one per cluster
// and one of the TLS table and settings, so a build that replaces k routes and clusters
// updates it in O(k): subtract their old digests, add the new ones.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "config/snapshot.hpp"

namespace portico::config {

// One route at its position in snapshot::routes().
std::uint64_t route_digest(const route& r, std::uint32_t position);
// A cluster's upstream TLS settings; 0 for a plain cluster.
std::uint64_t cluster_digest(const cluster& c);

std::uint64_t snapshot_hash(const std::vector<std::shared_ptr<const route>>& routes,
                            const std::vector<std::shared_ptr<const cluster>>& clusters,
                            const tls_table& tls, const controller_config& settings);

}  // namespace portico::config
