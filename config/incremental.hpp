// The endpoint-only rebuild: when only EndpointSlices, Endpoints or Services changed since the
// last build, the next Snapshot reuses the previous one's host table, TLS table, error list
// and every untouched route and cluster; only the clusters of the touched Services (and the
// routes that point at them) are new. The result equals what build() would produce from the
// same state and options (tests/config/incremental_test.cpp compares them, config hash and
// errors included). Anything else (an Ingress, IngressClass, Secret or ConfigMap change, a
// relist, a Service change that could change a build error) asks for the full build.
//
// The work is the touched Services': their clusters and the routes using them are found
// through the index the host table carries (config/snapshot_index.hpp, shared), the config
// hash is patched from per-route and per-cluster digests (config/snapshot_hash.hpp), and the
// route and cluster lists share every chunk they do not write with the previous Snapshot's
// (config/chunked_ptrs.hpp). What still grows with the cluster: one reference count per
// chunk of 256 routes or clusters, and a scan of the touched Service's namespace for its
// EndpointSlices (bench/micro/incremental_bench.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/build.hpp"
#include "config/decode.hpp"

namespace portico::config {

// What changed in a cluster_state since the last build. Sources call before_* with the state
// as it is before they apply the change.
class change_tracker {
 public:
  void before_upsert(const cluster_state& state, const any_object& obj);
  void before_erase(const cluster_state& state, object_kind kind, const std::string& key);
  // A relist of `kind` (its objects replaced as a whole).
  void before_replace_all(object_kind kind) { full_ = true; }
  void require_full() { full_ = true; }

  // Something changed that only the full build handles.
  bool full() const { return full_; }
  // Nothing that could change the Snapshot happened.
  bool empty() const { return !full_ && endpoint_services_.empty() && services_.empty(); }
  // "ns/name" of Services whose endpoints may differ (EndpointSlice labels old and new,
  // Endpoints keys).
  const std::set<std::string>& endpoint_services() const { return endpoint_services_; }
  // "ns/name" of Services added, deleted or changed (other than resourceVersion).
  const std::set<std::string>& services() const { return services_; }
  void clear();

 private:
  void touch_slice_service(const endpoint_slice& s);

  bool full_ = false;
  std::set<std::string> endpoint_services_;
  std::set<std::string> services_;
};

// The endpoint-only build. `previous` and `previous_errors` are the last build's result from
// the state before the tracked changes, built with the same options except `now`. Returns
// nullopt when the full build is needed: tracker.full(), a changed Service that a route
// uses, or a carried certificate that entered or left its validity period since (its
// report in the error list changes). When nothing in the
// Snapshot changes, the result's snap is `previous` itself.
std::optional<build_result> build_incremental(const cluster_state& state,
                                              const build_options& opts,
                                              const snapshot_ptr& previous,
                                              const std::vector<build_error>& previous_errors,
                                              const change_tracker& changes);

}  // namespace portico::config
