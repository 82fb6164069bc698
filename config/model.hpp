// Typed structs for the fields Portico reads of the Kubernetes objects it watches.
// Decoded from YAML or JSON by config/decode.hpp into exactly these types. Every struct
// compares by value (a watch event that changes nothing Portico reads is recognized).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portico::config {

enum class object_kind : std::uint8_t {
  ingress_class,
  ingress,
  service,
  endpoint_slice,
  endpoints,
  secret,
  config_map,
  namespace_,       // v1 Namespace (labels, for Gateway allowedRoutes selectors)
  gateway_class,    // gateway.networking.k8s.io
  gateway,
  http_route,
  reference_grant,
  grpc_route,
};

// "Ingress", "EndpointSlice", ... as Kubernetes spells the kind.
const char* kind_name(object_kind k);

struct object_meta {
  std::string name;
  std::string namespace_name;  // empty for cluster-scoped objects
  std::string uid;
  std::string resource_version;
  std::string creation_timestamp;  // RFC 3339 as sent; compared as text (fixed format)
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  bool operator==(const object_meta&) const = default;
};

// --- networking.k8s.io/v1 IngressClass ---
struct ingress_class {
  object_meta meta;
  std::string controller;  // spec.controller
  bool operator==(const ingress_class&) const = default;
};

// --- networking.k8s.io/v1 Ingress ---
struct service_backend_port {
  std::optional<std::int32_t> number;  // exactly one of number / name is set
  std::string name;
  bool operator==(const service_backend_port&) const = default;
};

struct ingress_backend {
  // spec.*.backend.service; a backend with only `resource` is kept but unsupported.
  std::string service_name;
  service_backend_port port;
  bool has_service = false;
  bool has_resource = false;
  bool operator==(const ingress_backend&) const = default;
};

enum class path_type : std::uint8_t { exact, prefix, implementation_specific };

struct http_ingress_path {
  std::string path;
  path_type type = path_type::prefix;
  ingress_backend backend;
  bool operator==(const http_ingress_path&) const = default;
};

struct ingress_rule {
  std::string host;  // empty: every host
  std::vector<http_ingress_path> paths;
  bool operator==(const ingress_rule&) const = default;
};

struct ingress_tls {
  std::vector<std::string> hosts;
  std::string secret_name;
  bool operator==(const ingress_tls&) const = default;
};

struct ingress {
  object_meta meta;
  std::optional<std::string> ingress_class_name;  // spec.ingressClassName
  std::optional<ingress_backend> default_backend;
  std::vector<ingress_rule> rules;
  std::vector<ingress_tls> tls;
  // status.loadBalancer.ingress[]: each entry's ip, or its hostname when it has no ip.
  std::vector<std::string> status_addresses;
  bool operator==(const ingress&) const = default;
};

// --- v1 Service ---
struct service_port {
  std::string name;
  std::string protocol = "TCP";
  std::int32_t port = 0;
  // targetPort: a number or a named container port.
  std::optional<std::int32_t> target_port_number;
  std::string target_port_name;
  // appProtocol (KEP-3726): "kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss" or
  // an IANA service name; "" absent. Gateway API backends honour it (config/gateway_backends.hpp).
  std::string app_protocol;
  bool operator==(const service_port&) const = default;
};

struct service {
  object_meta meta;
  std::string type = "ClusterIP";
  std::string cluster_ip;
  std::string external_name;  // type ExternalName
  std::vector<service_port> ports;
  bool operator==(const service&) const = default;
};

// --- discovery.k8s.io/v1 EndpointSlice ---
struct endpoint_conditions {
  // Per the API: a nil ready is treated as true, nil serving as ready, nil terminating as false.
  std::optional<bool> ready;
  std::optional<bool> serving;
  std::optional<bool> terminating;
  bool operator==(const endpoint_conditions&) const = default;
};

struct slice_endpoint {
  std::vector<std::string> addresses;
  endpoint_conditions conditions;
  std::string node_name;
  std::string target_ref;  // "Pod/namespace/name" when present
  bool operator==(const slice_endpoint&) const = default;
};

struct slice_port {
  std::string name;  // may be empty
  std::optional<std::int32_t> port;
  std::string protocol = "TCP";
  bool operator==(const slice_port&) const = default;
};

struct endpoint_slice {
  object_meta meta;
  std::string address_type = "IPv4";  // IPv4, IPv6, FQDN
  std::vector<slice_endpoint> endpoints;
  std::vector<slice_port> ports;
  // labels["kubernetes.io/service-name"] names the owning Service.
  bool operator==(const endpoint_slice&) const = default;
};

// --- v1 Endpoints (legacy) ---
struct endpoint_address {
  std::string ip;
  std::string node_name;
  bool operator==(const endpoint_address&) const = default;
};

struct endpoint_port {
  std::string name;
  std::int32_t port = 0;
  std::string protocol = "TCP";
  bool operator==(const endpoint_port&) const = default;
};

struct endpoint_subset {
  std::vector<endpoint_address> addresses;
  std::vector<endpoint_address> not_ready_addresses;
  std::vector<endpoint_port> ports;
  bool operator==(const endpoint_subset&) const = default;
};

struct endpoints {
  object_meta meta;
  std::vector<endpoint_subset> subsets;
  bool operator==(const endpoints&) const = default;
};

// --- v1 Secret ---
struct secret {
  object_meta meta;
  std::string type;
  std::map<std::string, std::string> data;  // base64-decoded bytes (data and stringData merged)
  bool operator==(const secret&) const = default;
};

// --- v1 ConfigMap ---
struct config_map {
  object_meta meta;
  std::map<std::string, std::string> data;
  bool operator==(const config_map&) const = default;
};

// --- v1 Namespace: only its labels are read ---
struct namespace_object {
  object_meta meta;
  bool operator==(const namespace_object&) const = default;
};

}  // namespace portico::config

