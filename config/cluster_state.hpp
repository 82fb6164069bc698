// The current set of Kubernetes objects, by kind, namespace and name. Sources (the file
// source, the API watch) fill it; config::build() reads it. Plain data: copying is the
// way to take a consistent view.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "config/gateway_model.hpp"
#include "config/model.hpp"

namespace portico::config {

// Key: namespace + "/" + name ("" namespace for cluster-scoped objects).
template <class T>
using object_map = std::map<std::string, T>;

std::string object_key(const object_meta& m);  // "ns/name" or "name"

struct cluster_state {
  object_map<ingress_class> ingress_classes;
  object_map<ingress> ingresses;
  object_map<service> services;
  object_map<endpoint_slice> endpoint_slices;
  object_map<endpoints> endpoints_list;
  object_map<secret> secrets;
  object_map<config_map> config_maps;
  object_map<namespace_object> namespaces;
  object_map<gateway_class> gateway_classes;
  object_map<gateway> gateways;
  object_map<http_route> http_routes;
  object_map<grpc_route> grpc_routes;
  object_map<reference_grant> reference_grants;

  // Inserts or replaces by key. Returns false when the object was identical.
  void upsert(ingress_class o);
  void upsert(ingress o);
  void upsert(service o);
  void upsert(endpoint_slice o);
  void upsert(endpoints o);
  void upsert(secret o);
  void upsert(config_map o);
  void upsert(namespace_object o);
  void upsert(gateway_class o);
  void upsert(gateway o);
  void upsert(http_route o);
  void upsert(grpc_route o);
  void upsert(reference_grant o);
  void erase(object_kind kind, const std::string& key);
  std::size_t size() const;
};

}  // namespace portico::config
