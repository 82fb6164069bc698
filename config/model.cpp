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
  }
  return "Unknown";
}

}  // namespace portico::config
