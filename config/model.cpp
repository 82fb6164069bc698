#include "config/model.hpp"

namespace portico::config {

const char* kind_name(object_kind k) {
  switch (k) {
    case object_kind::ingress_class: return "IngressClass";
    case object_kind::ingress: return "Ingress";
    case object_kind::service: return "Service";
    case object_kind::endpoint_slice: return "EndpointSlice";
    case object_kind::endpoints: return "Endpoints";
    case object_kind::secret: return "Secret";
    case object_kind::config_map: return "ConfigMap";
    case object_kind::namespace_: return "Namespace";
    case object_kind::gateway_class: return "GatewayClass";
    case object_kind::gateway: return "Gateway";
    case object_kind::http_route: return "HTTPRoute";
    case object_kind::grpc_route: return "GRPCRoute";
    case object_kind::reference_grant: return "ReferenceGrant";
  }
  return "Unknown";
}

}  // namespace portico::config
