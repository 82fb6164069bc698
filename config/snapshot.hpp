// The immutable routing Snapshot that config::build() produces and proxy/ reads.
// A Snapshot never changes after build; unchanged clusters are shared between Snapshots.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portico::config {

enum class match_kind : std::uint8_t { exact, prefix };

// One address a request can be sent to.
struct endpoint {
  std::string ip;  // numeric IPv4 or IPv6 text, no brackets
  std::uint16_t port = 0;
  std::string node_name;
  bool ready = true;        // false: serving-but-terminating fallback
  std::string to_string() const;  // "10.0.0.1:8080" / "[fd00::1]:8080"
};

// The endpoints behind one Service port. Identity (id) is stable across Snapshots so that
// balancer and health state keyed by it survive a swap.
struct cluster {
  std::string id;              // "namespace/service:port" (port as written in the Ingress)
  std::string namespace_name;
  std::string service_name;
  std::string service_port;    // the Ingress's port: number or name, as text
  std::vector<endpoint> endpoints;  // ready ones; serving+terminating only when none is ready
  std::uint64_t version = 0;   // hash of the endpoint list; equal version => equal endpoints
};

// What a matched request is sent to, and the names metrics and logs report.
struct route {
  std::uint32_t index = 0;     // position in snapshot::routes(); per-Snapshot side tables use it
  std::string host;            // rule host as written ("" for any host, "*.foo.com" wildcard)
  std::string path;            // rule path ("" for an Ingress default backend)
  match_kind kind = match_kind::prefix;
  std::string path_type;       // "Exact", "Prefix", "ImplementationSpecific" (for display)
  std::string namespace_name;
  std::string ingress_name;
  std::string service_name;
  std::string service_port;
  bool is_default_backend = false;  // from an Ingress's spec.defaultBackend
  // Never null. An empty endpoint list means the route answers 503.
  std::shared_ptr<const cluster> backend;
};

// An error found while building, attached to one object. The object is skipped (or the part
// named by `field`), every other object keeps serving.
struct build_error {
  std::string kind;            // "Ingress", "Service", ...
  std::string namespace_name;
  std::string name;
  std::string field;           // "spec.rules[0].http.paths[1].backend.service.port"
  std::string message;
  std::string to_string() const;  // "Ingress default/web: spec.rules[0]...: message"
};

class snapshot;

// Builder-side host table; defined in config/route_table.hpp.
struct host_table;

class snapshot {
 public:
  snapshot(std::vector<std::shared_ptr<const route>> routes,
           std::vector<std::shared_ptr<const cluster>> clusters,
           std::shared_ptr<const host_table> hosts, std::uint64_t hash);
  ~snapshot();

  // The route for a request, or nullptr: the built-in default backend answers 404.
  // `host` is the Host header as received (any case, may carry ":port");
  // `path` is the request target's path (no query).
  const route* find(std::string_view host, std::string_view path) const;

  const std::vector<std::shared_ptr<const route>>& routes() const { return routes_; }
  const std::vector<std::shared_ptr<const cluster>>& clusters() const { return clusters_; }
  const cluster* find_cluster(std::string_view id) const;
  std::uint64_t hash() const { return hash_; }  // config hash, as in nginx_ingress_controller_config_hash

 private:
  std::vector<std::shared_ptr<const route>> routes_;
  std::vector<std::shared_ptr<const cluster>> clusters_;
  std::shared_ptr<const host_table> hosts_;
  std::unordered_map<std::string_view, const cluster*> cluster_by_id_;
  std::uint64_t hash_ = 0;
};

using snapshot_ptr = std::shared_ptr<const snapshot>;

}  // namespace portico::config
