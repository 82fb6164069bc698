#include "config/cluster_state.hpp"

namespace portico::config {

std::string object_key(const object_meta& m) {
  if (m.namespace_name.empty()) return m.name;
  std::string key;
  key.reserve(m.namespace_name.size() + 1 + m.name.size());
  key += m.namespace_name;
  key += '/';
  key += m.name;
  return key;
}

namespace {
template <class T>
void put(object_map<T>& map, T&& o) {
  std::string key = object_key(o.meta);
  map.insert_or_assign(std::move(key), std::move(o));
}
}  // namespace

void cluster_state::upsert(ingress_class o) { put(ingress_classes, std::move(o)); }
void cluster_state::upsert(ingress o) { put(ingresses, std::move(o)); }
void cluster_state::upsert(service o) { put(services, std::move(o)); }
void cluster_state::upsert(endpoint_slice o) { put(endpoint_slices, std::move(o)); }
void cluster_state::upsert(endpoints o) { put(endpoints_list, std::move(o)); }
void cluster_state::upsert(secret o) { put(secrets, std::move(o)); }
void cluster_state::upsert(config_map o) { put(config_maps, std::move(o)); }
void cluster_state::upsert(namespace_object o) { put(namespaces, std::move(o)); }
void cluster_state::upsert(gateway_class o) { put(gateway_classes, std::move(o)); }
void cluster_state::upsert(gateway o) { put(gateways, std::move(o)); }
void cluster_state::upsert(http_route o) { put(http_routes, std::move(o)); }
void cluster_state::upsert(grpc_route o) { put(grpc_routes, std::move(o)); }
void cluster_state::upsert(reference_grant o) { put(reference_grants, std::move(o)); }

void cluster_state::erase(object_kind kind, const std::string& key) {
  switch (kind) {
    case object_kind::ingress_class: ingress_classes.erase(key); break;
    case object_kind::ingress: ingresses.erase(key); break;
    case object_kind::service: services.erase(key); break;
    case object_kind::endpoint_slice: endpoint_slices.erase(key); break;
    case object_kind::endpoints: endpoints_list.erase(key); break;
    case object_kind::secret: secrets.erase(key); break;
    case object_kind::config_map: config_maps.erase(key); break;
    case object_kind::namespace_: namespaces.erase(key); break;
    case object_kind::gateway_class: gateway_classes.erase(key); break;
    case object_kind::gateway: gateways.erase(key); break;
    case object_kind::http_route: http_routes.erase(key); break;
    case object_kind::grpc_route: grpc_routes.erase(key); break;
    case object_kind::reference_grant: reference_grants.erase(key); break;
  }
}

std::size_t cluster_state::size() const {
  return ingress_classes.size() + ingresses.size() + services.size() + endpoint_slices.size() +
         endpoints_list.size() + secrets.size() + config_maps.size() + namespaces.size() +
         gateway_classes.size() + gateways.size() + http_routes.size() + grpc_routes.size() +
         reference_grants.size();
}

}  // namespace portico::config
