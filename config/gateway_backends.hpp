// What one Gateway API backendRef asks of the proxy beyond its endpoints: the protocol its
// Service port speaks (appProtocol, KEP-3726) and its own filters (HTTPBackendRef.Filters).
//
// Protocols (README "Gateway API", backend protocols):
//   HTTPRoute:  absent, "http", "kubernetes.io/ws"   HTTP/1.1 (WebSocket upgrades included)
//               "kubernetes.io/h2c"                  HTTP/2 with prior knowledge, cleartext
//               "kubernetes.io/wss", "https"         HTTP/1.1 over TLS (not verified)
//   GRPCRoute:  absent, "kubernetes.io/h2c", "grpc"  HTTP/2 cleartext
//               "https"                              HTTP/2 over TLS (ALPN h2, not verified)
// Anything else (any case) cannot be served: the backendRef is invalid, its share answers 500
// (GRPCRoute 503) and the Route's ResolvedRefs is False with reason UnsupportedProtocol
// (apis/v1/httproute_types.go, HTTPBackendRef).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/cluster_state.hpp"
#include "config/gateway_model.hpp"
#include "config/route_policy.hpp"
#include "config/snapshot.hpp"

namespace portico::config {

enum class backend_protocol : std::uint8_t { http1, h2c, http1_tls, h2_tls, unsupported };

// The protocol for a Service port's appProtocol ("" absent) behind a route of either kind.
backend_protocol backend_protocol_for(std::string_view app_protocol, bool grpc_route);

// The appProtocol of port `port` of Service ns/name; nullopt when there is no such Service
// or port (the backend's own error says so).
std::optional<std::string> service_app_protocol(const cluster_state& state, const std::string& ns,
                                                const std::string& name, std::int32_t port);

// The message for a Service port whose appProtocol a route kind cannot serve.
std::string unsupported_protocol_message(const std::string& service, std::int32_t port,
                                         const std::string& app_protocol, bool grpc_route);

// The upstream TLS of a TLS appProtocol: no verification, the request's host as server name
// (as backend-protocol HTTPS without proxy-ssl-* annotations). Shared.
std::shared_ptr<const upstream_tls> app_protocol_tls();

// How one backendRef is served.
struct backend_choice {
  backend_protocol protocol = backend_protocol::http1;
  std::string app_protocol;
  std::shared_ptr<const route_policy> policy;  // non-null: the backendRef's filters over the rule's
};

// Fills `out` for backendRef `ref` of a rule whose policy is `rule_policy`; returns why the
// backendRef cannot be served as asked ("" it can), with `field` set to the part at fault
// (relative: ".filters[0]", or "" for the Service port).
std::string choose_backend(const cluster_state& state, const std::string& ns, const http_backend_ref& ref,
                           bool grpc_route, const route_policy& rule_policy, backend_choice& out,
                           std::string& field);

// The rule's header edits, then a backendRef's: a name the backend sets or removes replaces
// what the rule did to it; its additions follow the rule's.
header_edits merge_header_edits(const header_edits& rule, const header_modifier& backend);

}  // namespace portico::config
