// The status Portico computes for the Gateway API objects it serves: Gateway and listener
// conditions, attached route counts, and each HTTPRoute's parent status (apis/v1/
// gateway_types.go and shared_types.go name the condition types and reasons). In file mode it
// is served as JSON at GET :10254/debug/gateway-status (proxy/admin.hpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace portico::config {

struct gw_condition {
  std::string type;    // Accepted, Programmed, ResolvedRefs
  std::string status;  // "True" / "False"
  std::string reason;
  std::string message;
  bool operator==(const gw_condition&) const = default;
};

struct gw_listener_status {
  std::string name;
  int attached_routes = 0;
  std::vector<gw_condition> conditions;
};

struct gw_gateway_status {
  std::string namespace_name, name;
  std::vector<gw_condition> conditions;
  std::vector<gw_listener_status> listeners;
};

struct gw_parent_status {
  std::string gateway;  // "namespace/name"
  std::optional<std::string> section_name;
  std::vector<gw_condition> conditions;
};

struct gw_route_status {
  std::string kind = "HTTPRoute";
  std::string namespace_name, name;
  std::vector<gw_parent_status> parents;
};

struct gateway_status {
  std::vector<gw_gateway_status> gateways;  // by namespace/name
  std::vector<gw_route_status> routes;      // by kind, namespace/name
};

// {"gateways":[{"namespace","name","conditions":[{"type","status","reason","message"}],
//   "listeners":[{"name","attachedRoutes","conditions":[...]}]}],
//  "routes":[{"kind","namespace","name","parents":[{"gateway","sectionName","conditions"}]}]}
// sectionName is null when the parentRef names none.
std::string gateway_status_json(const gateway_status& s);

}  // namespace portico::config
