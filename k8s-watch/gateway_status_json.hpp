// The Gateway API status Portico writes through the API server, as the objects' `status`
// JSON: computed from config::gateway_status (the same content file mode serves at
// /debug/gateway-status) and merged into the status the object has now. Pure functions: the
// writer (gateway_status_writer.hpp) GETs the object, calls these, and PUTs .../status only
// when the result differs.
//
// Merging keeps what is not Portico's: an HTTPRoute's status.parents entries of other
// controllers stay as they are (only entries with controllerName = ours are replaced or
// removed). A condition keeps its lastTransitionTime while its status stays the same.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/gateway_model.hpp"
#include "config/gateway_status.hpp"

namespace portico::watch {

// Kubernetes metav1.Condition list: `desired` with lastTransitionTime taken from `current`
// (a JSON array of conditions, or null) where the type's status did not change, else `now`.
boost::json::array merge_conditions(const boost::json::value* current,
                                    const std::vector<config::gw_condition>& desired,
                                    std::int64_t generation, const std::string& now);

// The new status of an object, or nullopt when `current_status` already says it.
using status_update = std::optional<boost::json::value>;

// GatewayClass of our controllerName: Accepted.
status_update gateway_class_status(const boost::json::value& current_status,
                                   std::int64_t generation, const std::string& now);

// Gateway: addresses (IPs as IPAddress, others as Hostname), conditions, listeners (name,
// supportedKinds from the listener's protocol, attachedRoutes, conditions).
status_update gateway_object_status(const boost::json::value& current_status,
                                    const config::gw_gateway_status& desired,
                                    const config::gateway& spec,
                                    const std::vector<std::string>& addresses,
                                    std::int64_t generation, const std::string& now);

// HTTPRoute: status.parents with the entries of `controller_name` replaced by `desired`
// (null `desired`: ours removed); other controllers' entries kept in place.
status_update route_object_status(const boost::json::value& current_status,
                                  const config::gw_route_status* desired,
                                  const std::string& controller_name, std::int64_t generation,
                                  const std::string& now);

// RFC 3339 UTC seconds ("2026-01-02T03:04:05Z") of a Unix time.
std::string rfc3339(std::int64_t unix_seconds);

}  // namespace portico::watch
