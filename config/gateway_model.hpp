// Typed structs for the Gateway API v1 kinds Portico reads (gateway.networking.k8s.io:
// GatewayClass, Gateway, HTTPRoute, GRPCRoute, ReferenceGrant). Field names and defaults follow
// apis/v1/*_types.go of kubernetes-sigs/gateway-api; decoded by config/decode_gateway.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/model.hpp"

namespace portico::config {

inline constexpr const char* gateway_group = "gateway.networking.k8s.io";

struct gateway_class {
  object_meta meta;
  std::string controller_name;  // spec.controllerName
  bool operator==(const gateway_class&) const = default;
};

// A reference to a Secret (listener tls.certificateRefs) or to a backend (backendRefs).
struct object_reference {
  std::string group;  // "" is the core group
  std::string kind;
  std::string name;
  std::optional<std::string> namespace_name;  // absent: the referring object's namespace
  bool operator==(const object_reference&) const = default;
};

struct label_selector_requirement {
  std::string key;
  std::string op;  // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
  bool operator==(const label_selector_requirement&) const = default;
};

struct label_selector {
  std::map<std::string, std::string> match_labels;
  std::vector<label_selector_requirement> match_expressions;
  bool operator==(const label_selector&) const = default;
};

enum class routes_from : std::uint8_t { same, all, selector };

struct route_group_kind {
  std::string group = gateway_group;
  std::string kind;
  bool operator==(const route_group_kind&) const = default;
};

struct allowed_routes {
  routes_from from = routes_from::same;  // spec default: Same
  label_selector selector;               // from == selector
  std::vector<route_group_kind> kinds;   // empty: the kinds of the listener's protocol
  bool operator==(const allowed_routes&) const = default;
};

struct gateway_listener {
  std::string name;
  std::optional<std::string> hostname;
  std::int32_t port = 0;
  std::string protocol;  // HTTP, HTTPS, TLS, TCP, UDP (or a domain-prefixed protocol)
  std::string tls_mode = "Terminate";  // tls.mode
  std::vector<object_reference> certificate_refs;  // tls.certificateRefs
  allowed_routes routes;
  bool operator==(const gateway_listener&) const = default;
};

struct gateway {
  object_meta meta;
  std::string gateway_class_name;
  std::vector<gateway_listener> listeners;
  bool operator==(const gateway&) const = default;
};

struct parent_reference {
  std::string group = gateway_group;
  std::string kind = "Gateway";
  std::optional<std::string> namespace_name;
  std::string name;
  std::optional<std::string> section_name;
  std::optional<std::int32_t> port;
  bool operator==(const parent_reference&) const = default;
};

enum class gw_path_type : std::uint8_t { exact, path_prefix, regular_expression };
enum class gw_value_type : std::uint8_t { exact, regular_expression };

struct http_path_match {
  gw_path_type type = gw_path_type::path_prefix;  // spec default: PathPrefix "/"
  std::string value = "/";
  bool operator==(const http_path_match&) const = default;
};

struct http_value_match {  // a header or query parameter match
  gw_value_type type = gw_value_type::exact;
  std::string name;
  std::string value;
  bool operator==(const http_value_match&) const = default;
};

struct http_route_match {
  http_path_match path;
  std::vector<http_value_match> headers;
  std::vector<http_value_match> query_params;
  std::optional<std::string> method;
  bool operator==(const http_route_match&) const = default;
};

struct header_modifier {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::pair<std::string, std::string>> add;
  std::vector<std::string> remove;
  bool operator==(const header_modifier&) const = default;
};

enum class path_modifier_type : std::uint8_t { replace_full_path, replace_prefix_match };

struct path_modifier {
  path_modifier_type type = path_modifier_type::replace_full_path;
  std::string value;  // replaceFullPath or replacePrefixMatch
  bool operator==(const path_modifier&) const = default;
};

struct request_redirect_filter {
  std::optional<std::string> scheme;  // http, https
  std::optional<std::string> hostname;
  std::optional<path_modifier> path;
  std::optional<std::int32_t> port;
  std::int32_t status_code = 302;
  bool operator==(const request_redirect_filter&) const = default;
};

struct url_rewrite_filter {
  std::optional<std::string> hostname;
  std::optional<path_modifier> path;
  bool operator==(const url_rewrite_filter&) const = default;
};

enum class http_filter_type : std::uint8_t {
  request_header_modifier,
  response_header_modifier,
  request_redirect,
  url_rewrite,
  request_mirror,
  extension_ref,   // not served
  cors,            // not served
};

// Fraction (apis/v1/shared_types.go): numerator out of denominator.
struct gw_fraction {
  std::int32_t numerator = 0;
  std::int32_t denominator = 100;
  bool operator==(const gw_fraction&) const = default;
};

// HTTPRequestMirrorFilter: a copy of each request (or percent / fraction of them) goes to one
// endpoint of backendRef; its answer is ignored.
struct request_mirror_filter {
  object_reference ref;  // group "" kind "Service" by default
  std::optional<std::int32_t> port;
  std::optional<std::int32_t> percent;
  std::optional<gw_fraction> fraction;
  bool operator==(const request_mirror_filter&) const = default;
};

struct http_route_filter {
  http_filter_type type = http_filter_type::request_header_modifier;
  std::string type_name;  // as written, for status messages
  header_modifier headers;  // request_header_modifier / response_header_modifier
  request_redirect_filter redirect;
  url_rewrite_filter rewrite;
  request_mirror_filter mirror;
  bool operator==(const http_route_filter&) const = default;
};

struct http_backend_ref {
  object_reference ref;  // group "" kind "Service" by default
  std::optional<std::int32_t> port;
  std::int32_t weight = 1;
  // Filters applied when this backend is picked (HTTPBackendRef.Filters): RequestHeaderModifier
  // and ResponseHeaderModifier are served, after the rule's.
  std::vector<http_route_filter> filters;
  bool operator==(const http_backend_ref&) const = default;
};

struct http_route_rule {
  std::vector<http_route_match> matches;  // empty: one match, PathPrefix "/"
  std::vector<http_route_filter> filters;
  std::vector<http_backend_ref> backend_refs;
  // timeouts (HTTPRouteTimeouts, GEP-1742), in milliseconds; absent: the proxy's own. 0: none.
  std::optional<std::int64_t> request_timeout_ms;
  std::optional<std::int64_t> backend_request_timeout_ms;
  bool operator==(const http_route_rule&) const = default;
};

struct http_route {
  object_meta meta;
  std::vector<parent_reference> parent_refs;
  std::vector<std::string> hostnames;
  std::vector<http_route_rule> rules;
  bool operator==(const http_route&) const = default;
};

// GRPCMethodMatch (apis/v1/grpcroute_types.go): service and/or method, Exact (default) or
// RegularExpression; an absent one matches any.
struct grpc_method_match {
  gw_value_type type = gw_value_type::exact;
  std::optional<std::string> service;
  std::optional<std::string> method;
  bool operator==(const grpc_method_match&) const = default;
};

struct grpc_route_match {
  std::optional<grpc_method_match> method;  // absent: every service and method
  std::vector<http_value_match> headers;
  bool operator==(const grpc_route_match&) const = default;
};

// A GRPCRouteRule: its filters (RequestHeaderModifier, ResponseHeaderModifier, RequestMirror,
// ExtensionRef) and backendRefs have the HTTPRoute types they are written as.
struct grpc_route_rule {
  std::vector<grpc_route_match> matches;  // empty: every gRPC request
  std::vector<http_route_filter> filters;
  std::vector<http_backend_ref> backend_refs;
  bool operator==(const grpc_route_rule&) const = default;
};

struct grpc_route {
  object_meta meta;
  std::vector<parent_reference> parent_refs;
  std::vector<std::string> hostnames;
  std::vector<grpc_route_rule> rules;
  bool operator==(const grpc_route&) const = default;
};

struct reference_grant_from {
  std::string group;
  std::string kind;
  std::string namespace_name;
  bool operator==(const reference_grant_from&) const = default;
};

struct reference_grant_to {
  std::string group;
  std::string kind;
  std::optional<std::string> name;  // absent: every object of the kind
  bool operator==(const reference_grant_to&) const = default;
};

struct reference_grant {
  object_meta meta;
  std::vector<reference_grant_from> from;
  std::vector<reference_grant_to> to;
  bool operator==(const reference_grant&) const = default;
};

}  // namespace portico::config
