// The config hash of a Snapshot (nginx_ingress_controller_config_hash): routes in order, the
// upstream TLS settings of each cluster, the TLS table. build() and the incremental build
// (config/incremental.hpp) must agree on it bit for bit; tests/config/incremental_test.cpp
// compares them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "config/snapshot.hpp"

namespace portico::config {

std::uint64_t snapshot_hash(const std::vector<std::shared_ptr<const route>>& routes,
                            const std::vector<std::shared_ptr<const cluster>>& clusters,
                            const tls_table& tls, const controller_config& settings);

}  // namespace portico::config
