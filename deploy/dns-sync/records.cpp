#include "deploy/dns-sync/records.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace portico::dnssync {

void zone_records::add(const std::string& name, const std::string& type, std::uint32_t ttl,
                       std::string value) {
  auto& set = by_name_[name][type];
  set.name = name;
  set.type = type;
  set.ttl = ttl;
  auto it = std::lower_bound(set.values.begin(), set.values.end(), value);
  if (it == set.values.end() || *it != value) set.values.insert(it, std::move(value));
}

void zone_records::put(rrset set) {
  std::sort(set.values.begin(), set.values.end());
  set.values.erase(std::unique(set.values.begin(), set.values.end()), set.values.end());
  auto name = set.name;
  auto type = set.type;
  by_name_[name][type] = std::move(set);
}

void zone_records::erase(const std::string& name, const std::string& type) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return;
  it->second.erase(type);
  if (it->second.empty()) by_name_.erase(it);
}

const rrset* zone_records::find(const std::string& name, const std::string& type) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return nullptr;
  auto t = it->second.find(type);
  return t == it->second.end() ? nullptr : &t->second;
}

std::size_t zone_records::size() const {
  std::size_t n = 0;
  for (const auto& [name, types] : by_name_) n += types.size();
  return n;
}

namespace {
bool valid_label(std::string_view l) {
  if (l.empty() || l.size() > 63) return false;
  return std::all_of(l.begin(), l.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_';
  });
}
}  // namespace

std::optional<std::string> normalize_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  std::size_t start = 0;
  for (bool first = true;; first = false) {
    auto dot = out.find('.', start);
    std::string_view label = std::string_view(out).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool ok = valid_label(label) || (first && label == "*" && dot != std::string::npos);
    if (!ok) return std::nullopt;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

bool in_zone(std::string_view name, std::string_view zone) {
  if (name == zone) return true;
  return name.size() > zone.size() && name.ends_with(zone) && name[name.size() - zone.size() - 1] == '.';
}

std::string owner_record_name(std::string_view name) {
  std::string out(owner_prefix);
  if (name.starts_with("*.")) {
    out += wildcard_label;
    name.remove_prefix(1);
  }
  out += name;
  return out;
}

std::optional<std::string> name_of_owner_record(std::string_view owner_name) {
  if (!owner_name.starts_with(owner_prefix) || owner_name.size() == owner_prefix.size())
    return std::nullopt;
  owner_name.remove_prefix(owner_prefix.size());
  std::string out;
  if (owner_name.starts_with(wildcard_label) && owner_name.substr(wildcard_label.size()).starts_with(".")) {
    out = "*";
    owner_name.remove_prefix(wildcard_label.size());
  }
  out += owner_name;
  return out;
}

std::string owner_value(std::string_view owner_id) {
  return "heritage=portico,portico/owner=" + std::string(owner_id);
}

bool is_portico_owner_value(std::string_view txt) { return txt.starts_with("heritage=portico,"); }

std::optional<std::string> canonical_ip(std::string_view text, bool* v6) {
  std::string s(text);
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    if (v6) *v6 = false;
    return inet_ntop(AF_INET, buf, out, sizeof out);
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    if (v6) *v6 = true;
    return inet_ntop(AF_INET6, buf, out, sizeof out);
  }
  return std::nullopt;
}

}  // namespace portico::dnssync
