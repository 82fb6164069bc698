// Resolving an Ingress backend (service name + port) to the endpoints of a cluster:
// Service port by number or name, then the Service's EndpointSlices (label
// kubernetes.io/service-name) or, when it has none, its legacy Endpoints.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/cluster_state.hpp"
#include "config/snapshot.hpp"

namespace portico::config {

inline constexpr std::string_view service_name_label = "kubernetes.io/service-name";

// The clusters of one build: each "ns/service:port" resolved once and shared by every route
// that names it; clusters whose id, version and TLS settings equal the previous Snapshot's
// are reused. A backend spoken to over TLS is a cluster of its own (see cluster_id).
class cluster_builder {
 public:
  cluster_builder(const cluster_state& state, const snapshot* previous);

  struct result {
    std::shared_ptr<const cluster> backend;  // never null; may have no endpoints (503)
    std::string error_field;                 // relative: ".service.name" / ".service.port"
    std::string error;                       // empty when the backend resolved
  };
  // `tls`: non-null for backend-protocol HTTPS (shared by the routes of one Ingress).
  // Settings that cannot work (upstream_tls_unusable) leave the cluster without endpoints,
  // so its routes answer 503.
  // `service_upstream`: the Service's ClusterIP and port are the one endpoint (its endpoints
  // when it has no ClusterIP, with an error saying so).
  result resolve(const std::string& ns, const ingress_backend& b,
                 std::shared_ptr<const upstream_tls> tls = nullptr, bool service_upstream = false);

  // Every cluster resolved so far, sorted by id.
  std::vector<std::shared_ptr<const cluster>> clusters() const;

 private:
  result compute(const std::string& ns, const ingress_backend& b, std::string id,
                 std::shared_ptr<const upstream_tls> tls, bool service_upstream);
  void slice_endpoints(const std::string& ns, const service& svc, const service_port& sp,
                       std::vector<endpoint>& out, bool& has_slices) const;
  void legacy_endpoints(const std::string& ns, const service& svc, const service_port& sp,
                        std::vector<endpoint>& out) const;

  const cluster_state& state_;
  std::unordered_map<std::string, std::vector<const endpoint_slice*>> slices_by_service_;
  std::unordered_map<std::string_view, std::shared_ptr<const cluster>> previous_;
  std::unordered_map<std::string, result> done_;
};

// The identity of a backend's cluster: "ns/service:port" (port number or name as written).
// Over TLS: "ns/service:port+tls" with default settings (no verification, no CA Secret, no
// proxy-ssl-name), else "ns/service:port+tls-<16 hex digits>", a hash of (verify, CA Secret
// name, proxy-ssl-name). Unusable settings add "-unusable" (their cluster has no endpoints).
std::string cluster_id(const std::string& ns, const ingress_backend& b,
                       const upstream_tls* tls = nullptr);
// Verification is on but there is no CA to verify against: such a cluster never gets
// endpoints (503), and a connection must never be attempted with these settings.
inline bool upstream_tls_unusable(const upstream_tls* t) {
  return t && ((t->verify && t->ca_pem.empty()) || t->client_cert_unusable);
}
// Equal TLS settings (both null, or equal fields).
bool same_upstream_tls(const upstream_tls* a, const upstream_tls* b);
// Hash of an endpoint list (order-sensitive; build() sorts endpoints first).
std::uint64_t endpoints_version(const std::vector<endpoint>& eps);

}  // namespace portico::config
