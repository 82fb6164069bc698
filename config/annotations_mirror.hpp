// ingress-nginx request mirroring (nginx.ingress.kubernetes.io/mirror-target, mirror-host,
// mirror-request-body): a copy of each request of the Ingress's routes goes to another URL;
// its answer is thrown away. Decoded here into an ingress_mirror (route_policy::mirror); the
// build resolves where the copies go (mirror_backend::target, ingress_mirror_backend()); the
// proxy sends them (proxy/mirror.hpp).
//
// What a copy is, as ingress-nginx's nginx mirror location makes it:
//   - the request's method and header fields as received (hop-by-hop and framing fields
//     aside), Host set to mirror-host or else the target's host without port, and the
//     request's body unless mirror-request-body is "off" (then no body and no length);
//   - the URI: the target's path with its nginx variables expanded ("$request_uri": the
//     request's URI as received), sent as is; a path without variables gets the request's
//     query appended; a target without path sends nginx's internal location
//     "/_mirror-<Ingress UID>" (plus the query), as ingress-nginx does.
// Variables are allowed after the host only (the host and port are fixed per build).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/route_policy.hpp"
#include "config/snapshot.hpp"

namespace portico::config {

struct cluster_state;
class cluster_builder;

struct ingress_mirror {
  std::string target;         // mirror-target as written (logs, errors)
  bool https = false;
  std::string host;           // lower-case DNS name or IP address (IPv6 without brackets)
  std::uint16_t port = 80;
  request_template uri;       // the path and query after the host; empty: none written
  bool uri_has_variables = false;
  std::string location;       // "/_mirror-<uid>": the URI sent when `uri` is empty
  std::string host_header;    // mirror-host, else the target's host without port
  bool body = true;           // mirror-request-body (default "on")
  // The target's host is an IP address (no DNS lookup) or names a Service of the cluster
  // state (<service>.<namespace>.svc[.cluster.local]): the copies go to that cluster's
  // endpoints. False: the worker resolves `host` (cached, off the request path).
  bool fixed_address = false;
};

// The parts of a mirror-target value, or nullopt with `why`. `uid`: the Ingress's
// metadata.uid (for `location`).
std::optional<ingress_mirror> parse_mirror_target(std::string_view value, std::string_view uid,
                                                  std::string& why);

// A mirror-host value: a host name or address with an optional port, nothing else.
bool valid_mirror_host(std::string_view v);

// "<service>.<namespace>.svc" or "<service>.<namespace>.svc.cluster.local" (any case):
// {namespace, service}; nullopt for any other name.
std::optional<std::pair<std::string, std::string>> cluster_service_of(std::string_view host);

// Where the copies of an Ingress's routes go: an IP address as the one endpoint of a cluster
// of its own; a Service DNS name of the cluster state as that Service port's cluster (the
// URL's port is the Service's port); any other name, or a Service the state does not hold, by
// DNS at request time (the cluster then has no endpoints; a Service that appears later comes
// with a full build). Empty `error` unless the Service exists without that port: then the
// Ingress is not mirrored (`error` says why).
mirror_backend ingress_mirror_backend(std::shared_ptr<const ingress_mirror> m, cluster_builder& clusters,
                                      const cluster_state& state, std::string& error);

}  // namespace portico::config
