// GRPCRoute (apis/v1/grpcroute_types.go) on the HTTPRoute machinery: a GRPCRoute's rules share
// the filter and backendRef types of HTTPRoute and are built by the same code
// (config/gateway_build.cpp); only its matches differ. A GRPCMethodMatch becomes a test of the
// request path "/<service>/<method>" in a gateway_match flagged `grpc`, which also asks for a
// POST with content-type application/grpc* (gRPC's doc/PROTOCOL-HTTP2.md).
#pragma once

#include <string>

#include "config/gateway_model.hpp"
#include "config/gateway_table.hpp"

namespace portico::config {

// The GRPCRoute as an HTTPRoute with the same metadata, parents, hostnames, and per rule the
// same filters and backendRefs (no matches: those are read from the GRPCRoute).
http_route grpc_route_as_http(const grpc_route& g);

// One GRPCRouteMatch into `gm` (path test, method POST, headers, precedence keys). False when
// a regular expression does not compile: `field` (relative to the match, e.g.
// ".method.service") and `message` say which and why.
bool make_grpc_match(const grpc_route_match& m, gateway_match& gm, std::string& field,
                     std::string& message);

// What `portico routes` shows for a match: "/helloworld.Greeter/SayHello", "*" for an absent
// service or method; and its type: Exact, RegularExpression or Any (no method match).
std::string grpc_match_path_text(const grpc_route_match& m);
const char* grpc_match_type_text(const grpc_route_match& m);

// Whether two Routes' hostnames on one listener intersect (the HTTPRoute/GRPCRoute conflict
// rule of GRPCRouteSpec.Hostnames). `any`: the Route serves every host of the listener.
bool route_hostnames_overlap(bool any_a, const std::vector<std::string>& a, bool any_b,
                             const std::vector<std::string>& b);

}  // namespace portico::config
