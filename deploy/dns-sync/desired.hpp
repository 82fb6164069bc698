// Desired DNS state from the Ingresses: every rule host inside the zone maps to the IP
// addresses in status.loadBalancer.ingress of the Ingresses that name it (the nodes Portico
// publishes, so only they receive traffic). Host names in the status are not published
// (no CNAME records): they are reported in `notes`. Pure: no I/O.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/build.hpp"
#include "config/cluster_state.hpp"

namespace portico::dnssync {

struct address_set {
  std::set<std::string> v4;  // canonical text
  std::set<std::string> v6;
  bool empty() const { return v4.empty() && v6.empty(); }
  bool operator==(const address_set&) const = default;
};

using desired_state = std::map<std::string, address_set>;  // host (normalised) -> addresses

struct desired_options {
  std::string zone;                      // normalised, e.g. "example.com"
  bool all_classes = false;              // every Ingress, not only those Portico serves
  config::build_options classes;         // --controller-class / --ingress-class
};

desired_state desired_records(const config::cluster_state& state, const desired_options& opts,
                              std::vector<std::string>* notes = nullptr);

}  // namespace portico::dnssync
