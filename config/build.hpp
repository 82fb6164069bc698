// build(ClusterState) -> Snapshot: pure, no I/O, no clocks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/cluster_state.hpp"
#include "config/controller_config.hpp"
#include "config/snapshot.hpp"

namespace portico::config {

struct build_options {
  // IngressClass spec.controller values we serve (flag --controller-class).
  std::string controller_class = "portico.dev/ingress-controller";
  // Legacy annotation kubernetes.io/ingress.class value we serve (flag --ingress-class).
  std::string ingress_class = "portico";
  // --default-ssl-certificate "namespace/name" (a kubernetes.io/tls Secret); empty: none.
  std::string default_ssl_certificate;
  // Seconds since the epoch, for certificate expiry checks; 0: expiry is not checked.
  // (build() reads no clock: the caller passes the time.)
  std::int64_t now = 0;
  // Optional: the previous Snapshot, whose unchanged clusters are reused (shared).
  snapshot_ptr previous;
  // Controller settings from the flags; the ConfigMap `configmap` ("ns/name", flag
  // --configmap; "" none) overrides them key by key.
  controller_config defaults;
  std::string configmap;
  // --annotations-prefix; portico.dev/ is read as an alias.
  std::string annotations_prefix = "nginx.ingress.kubernetes.io";
  // GatewayClass spec.controllerName values we serve (flag --gateway-controller-name).
  std::string gateway_controller_name = "portico.dev/gateway-controller";
  // Gateway listener ports besides 80 and 443 that the process listens on (flags
  // --gateway-http-ports, --gateway-https-ports): a listener of that protocol there is served.
  std::vector<std::uint16_t> gateway_http_ports, gateway_https_ports;
};

struct build_result {
  snapshot_ptr snap;  // never null (may be empty)
  std::vector<build_error> errors;
};

build_result build(const cluster_state& state, const build_options& opts = {});

// Whether build() serves this Ingress: spec.ingressClassName naming an IngressClass whose
// spec.controller is opts.controller_class; or the legacy annotation kubernetes.io/ingress.class
// equal to opts.ingress_class (the annotation wins when both are set, as in ingress-nginx); or
// no class at all while one of our IngressClasses is annotated
// ingressclass.kubernetes.io/is-default-class: "true".
bool ingress_is_served(const ingress& ing, const cluster_state& state, const build_options& opts);

}  // namespace portico::config
