#include "deploy/dns-sync/plan.hpp"

#include <algorithm>
#include <set>

namespace portico::dnssync {

const char* action_name(change_action a) {
  switch (a) {
    case change_action::create: return "create";
    case change_action::update: return "update";
    case change_action::remove: return "remove";
  }
  return "?";
}

namespace {

enum class ownership { ours, free, foreign_records, other_owner };

ownership owner_of(const std::string& name, const zone_records& current, const std::string& ours,
                   std::string* detail) {
  bool other = false;
  if (const auto* txt = current.find(owner_record_name(name), "TXT")) {
    for (const auto& v : txt->values) {
      if (v == ours) return ownership::ours;
      if (is_portico_owner_value(v)) {
        other = true;
        *detail = v;
      }
    }
  }
  for (const char* type : {"A", "AAAA", "CNAME"}) {
    if (const auto* set = current.find(name, type)) {
      *detail = std::string(type) + " " + (set->values.empty() ? "" : set->values.front());
      return ownership::foreign_records;
    }
  }
  return other ? ownership::other_owner : ownership::free;
}

// The A or AAAA set of `name` as desired: put it when it differs, delete it when now empty.
void reconcile_type(const std::string& name, const char* type, const std::set<std::string>& want,
                    const zone_records& current, std::uint32_t ttl, name_change& c) {
  const rrset* have = current.find(name, type);
  if (want.empty()) {
    if (have) c.del.push_back(*have);
    return;
  }
  rrset target{name, type, ttl, {want.begin(), want.end()}};
  if (!have || !(*have == target)) c.put.push_back(std::move(target));
}

std::string skip_reason(ownership o, const std::string& detail) {
  if (o == ownership::other_owner)
    return "owned by another Portico instance (" + detail + "); left alone";
  return "has a record not owned by Portico (" + detail + "); left alone";
}

}  // namespace

plan make_plan(const desired_state& desired, const zone_records& current, const plan_options& opts) {
  const std::string ours = owner_value(opts.owner_id);
  std::set<std::string> owned;
  for (const auto& [name, types] : current.names()) {
    auto t = types.find("TXT");
    if (t == types.end()) continue;
    for (const auto& v : t->second.values)
      if (v == ours)
        if (auto n = name_of_owner_record(name)) owned.insert(*n);
  }
  std::set<std::string> names = owned;
  for (const auto& [name, addrs] : desired) names.insert(name);

  plan p;
  for (const auto& name : names) {
    auto want = desired.find(name);
    std::string detail;
    ownership o = owned.count(name) ? ownership::ours : owner_of(name, current, ours, &detail);
    name_change c;
    c.name = name;
    if (want == desired.end() || want->second.empty()) {
      if (o != ownership::ours) continue;
      c.action = change_action::remove;
      for (const char* type : {"A", "AAAA"})
        if (const auto* set = current.find(name, type)) c.del.push_back(*set);
      // Only our string of the owner record goes (another value there is not ours).
      if (const auto* txt = current.find(owner_record_name(name), "TXT"))
        c.del.push_back({txt->name, "TXT", txt->ttl, {ours}});
      p.changes.push_back(std::move(c));
      continue;
    }
    if (o == ownership::foreign_records || o == ownership::other_owner) {
      p.skipped.push_back({name, skip_reason(o, detail)});
      continue;
    }
    c.action = o == ownership::ours ? change_action::update : change_action::create;
    reconcile_type(name, "A", want->second.v4, current, opts.ttl, c);
    reconcile_type(name, "AAAA", want->second.v6, current, opts.ttl, c);
    if (o == ownership::free) c.put.push_back({owner_record_name(name), "TXT", opts.ttl, {ours}});
    if (!c.put.empty() || !c.del.empty()) p.changes.push_back(std::move(c));
  }
  return p;
}

namespace {
std::string set_text(const rrset& s) {
  std::string out = s.type + " " + std::to_string(s.ttl) + " [";
  for (std::size_t i = 0; i < s.values.size(); ++i) out += (i ? " " : "") + s.values[i];
  return out + "]";
}
}  // namespace

std::string describe(const name_change& c) {
  std::string out = std::string(action_name(c.action)) + " " + c.name + ":";
  for (const auto& s : c.put) out += " put " + (s.name == c.name ? "" : s.name + " ") + set_text(s) + ";";
  for (const auto& s : c.del) out += " delete " + (s.name == c.name ? "" : s.name + " ") + set_text(s) + ";";
  out.pop_back();
  return out;
}

void apply_to(zone_records& current, const plan& p) {
  for (const auto& c : p.changes) {
    for (const auto& s : c.del) {
      const rrset* have = current.find(s.name, s.type);
      if (!have) continue;
      rrset left = *have;
      std::erase_if(left.values, [&](const std::string& v) {
        return std::find(s.values.begin(), s.values.end(), v) != s.values.end();
      });
      if (left.values.empty()) current.erase(s.name, s.type);
      else current.put(std::move(left));
    }
    for (const auto& s : c.put) current.put(s);
  }
}

}  // namespace portico::dnssync
