// DNS record sets as DNS sync sees them, and the names it derives: host normalisation, zone
// membership, and the owner TXT record that marks a name as managed by one Portico instance.
//
// Ownership (as external-dns does it, with a separate name so that no TXT record of the
// managed name itself is ever touched): name `a.example.com` is ours when
// `portico-owner.a.example.com` has the TXT string "heritage=portico,portico/owner=<id>".
// A wildcard `*.x.example.com` is marked at `portico-owner._wildcard.x.example.com`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace portico::dnssync {

// One record set (RRset): every record of one name and type. Names are lower case without
// the trailing dot; values are sorted (addresses in canonical text form, TXT strings
// without quotes).
struct rrset {
  std::string name;
  std::string type;  // "A", "AAAA", "TXT", "CNAME", ...
  std::uint32_t ttl = 0;
  std::vector<std::string> values;
  bool operator==(const rrset&) const = default;
};

// What a zone holds now, by name then type.
class zone_records {
 public:
  void add(const std::string& name, const std::string& type, std::uint32_t ttl, std::string value);
  void put(rrset set);  // replaces the set of that name and type (values sorted, deduplicated)
  void erase(const std::string& name, const std::string& type);
  const rrset* find(const std::string& name, const std::string& type) const;
  const std::map<std::string, std::map<std::string, rrset>>& names() const { return by_name_; }
  std::size_t size() const;

 private:
  std::map<std::string, std::map<std::string, rrset>> by_name_;
};

// Lower case, no trailing dot; nullopt when not a valid host name (a `*` only as the whole
// first label; labels of letters, digits, '-' and '_', 1..63 bytes; at most 253 bytes).
std::optional<std::string> normalize_name(std::string_view name);
// `name` is the zone itself or below it (both normalised).
bool in_zone(std::string_view name, std::string_view zone);

constexpr std::string_view owner_prefix = "portico-owner.";
constexpr std::string_view wildcard_label = "_wildcard";
std::string owner_record_name(std::string_view name);
// The managed name of an owner record name; nullopt when `owner_name` is not one.
std::optional<std::string> name_of_owner_record(std::string_view owner_name);
std::string owner_value(std::string_view owner_id);  // heritage=portico,portico/owner=<id>
// Whether a TXT string says heritage=portico (of any owner).
bool is_portico_owner_value(std::string_view txt);

// Canonical text of an IP address (inet_ntop of inet_pton), nullopt when not an address.
// `v6` tells which family it was.
std::optional<std::string> canonical_ip(std::string_view text, bool* v6 = nullptr);

}  // namespace portico::dnssync
