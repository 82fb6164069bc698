// Gateway API -> routes: the Gateways of Portico's GatewayClasses, their listeners (HTTP on
// port 80, HTTPS on 443), the HTTPRoutes and GRPCRoutes attached to them and the status of
// each. The routes join the Ingress routes in one Snapshot (config/build.cpp); their matches
// go to the gateway_table, their filters into the same route_policy the annotations decode
// into.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/backends.hpp"
#include "config/build.hpp"
#include "config/gateway_status.hpp"
#include "config/gateway_table.hpp"
#include "config/tls_table_builder.hpp"

namespace portico::config {

struct gateway_routes {
  // Routes in HTTPRoute order; the caller gives them their indices, then calls
  // table->finish() and assign_indices().
  std::vector<std::shared_ptr<route>> routes;
  std::shared_ptr<gateway_table> table;  // null: no served Gateway
  // Certificates of HTTPS listeners by host (lower-case, "*.x" wildcards): they replace the
  // Ingress spec.tls entries of the same host.
  std::vector<std::pair<std::string, std::shared_ptr<const tls_certificate>>> certificates;
  std::shared_ptr<const gateway_status> status;  // never null
};

gateway_routes build_gateway_routes(const cluster_state& state, const build_options& opts,
                                    const controller_config& settings, cluster_builder& clusters,
                                    tls_table_builder& tls, std::vector<build_error>& errors);

// Whether `labels` satisfy a label selector (matchLabels and matchExpressions, as the
// Kubernetes API defines them).
bool selector_matches(const label_selector& s, const std::map<std::string, std::string>& labels);

// Whether a reference from (group, kind) objects of namespace `from_ns` to the object
// (to_group, to_kind, to_ns/to_name) is allowed: always within one namespace, else by a
// ReferenceGrant in the target namespace (apis/v1beta1/referencegrant_types.go).
bool reference_permitted(const cluster_state& state, std::string_view from_group,
                         std::string_view from_kind, std::string_view from_ns,
                         std::string_view to_group, std::string_view to_kind,
                         std::string_view to_ns, std::string_view to_name);

}  // namespace portico::config
