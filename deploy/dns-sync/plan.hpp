// The plan: desired state (hosts -> addresses) against the zone's current records -> the
// changes that bring the zone in line, touching only names this owner has marked.
// Pure: no I/O.
//
// Per name:
//  - desired, owned by us: A/AAAA sets that differ (values or TTL) are replaced; a family
//    with no address any more is deleted (update).
//  - desired, unowned, free (no A, AAAA or CNAME, no owner record of another Portico): the
//    sets and our owner TXT record are created (create).
//  - desired, unowned, taken: left alone and reported in `skipped`.
//  - owned, no longer desired: our A/AAAA sets and owner TXT record are deleted (remove).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deploy/dns-sync/desired.hpp"
#include "deploy/dns-sync/records.hpp"

namespace portico::dnssync {

enum class change_action { create, update, remove };
const char* action_name(change_action a);

// All changes of one name (its A/AAAA sets and its owner TXT record), applied together.
struct name_change {
  change_action action = change_action::update;
  std::string name;
  std::vector<rrset> put;  // sets to be in place afterwards (each replaces the set of its type)
  std::vector<rrset> del;  // sets present now (exact contents) to delete
  bool operator==(const name_change&) const = default;
};

struct skipped_name {
  std::string name;
  std::string reason;
};

struct plan {
  std::vector<name_change> changes;  // ordered by name
  std::vector<skipped_name> skipped;
  bool empty() const { return changes.empty(); }
};

struct plan_options {
  std::string owner_id = "default";
  std::uint32_t ttl = 60;
};

plan make_plan(const desired_state& desired, const zone_records& current, const plan_options& opts);

// "create a.example.com: A 60 [1.2.3.4 5.6.7.8], TXT ..." one line per change, for logs and
// --dry-run.
std::string describe(const name_change& c);

// The zone after `p` has been applied to `current` (for providers that keep state locally).
void apply_to(zone_records& current, const plan& p);

}  // namespace portico::dnssync
