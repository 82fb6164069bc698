#include "deploy/dns-sync/desired.hpp"

#include "deploy/dns-sync/records.hpp"

namespace portico::dnssync {

namespace {

// The addresses of one Ingress's status; host names and junk go to notes.
address_set status_addresses(const config::ingress& ing, const std::string& key,
                             std::vector<std::string>* notes) {
  address_set out;
  for (const auto& a : ing.status_addresses) {
    bool v6 = false;
    if (auto ip = canonical_ip(a, &v6)) {
      (v6 ? out.v6 : out.v4).insert(*ip);
    } else if (notes) {
      notes->push_back("Ingress " + key + ": status hostname " + a +
                       " is not published (only IP addresses become A/AAAA records)");
    }
  }
  return out;
}

}  // namespace

desired_state desired_records(const config::cluster_state& state, const desired_options& opts,
                              std::vector<std::string>* notes) {
  desired_state out;
  for (const auto& [key, ing] : state.ingresses) {
    if (!opts.all_classes && !config::ingress_is_served(ing, state, opts.classes)) continue;
    address_set addrs = status_addresses(ing, key, notes);
    if (addrs.empty()) continue;
    for (const auto& rule : ing.rules) {
      if (rule.host.empty()) continue;
      auto host = normalize_name(rule.host);
      if (!host) {
        if (notes) notes->push_back("Ingress " + key + ": host " + rule.host + " is not a valid DNS name");
        continue;
      }
      if (!in_zone(*host, opts.zone)) continue;
      auto& slot = out[*host];
      slot.v4.insert(addrs.v4.begin(), addrs.v4.end());
      slot.v6.insert(addrs.v6.begin(), addrs.v6.end());
    }
  }
  return out;
}

}  // namespace portico::dnssync
