// Label selectors (allowedRoutes.namespaces) and ReferenceGrant checks, declared in
// config/gateway_build.hpp.
#include <algorithm>

#include "config/gateway_build.hpp"

namespace portico::config {

bool selector_matches(const label_selector& s, const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : s.match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& e : s.match_expressions) {
    auto it = labels.find(e.key);
    const bool has = it != labels.end();
    const bool in = has && std::find(e.values.begin(), e.values.end(), it->second) != e.values.end();
    if (e.op == "In" && !in) return false;
    if (e.op == "NotIn" && in) return false;
    if (e.op == "Exists" && !has) return false;
    if (e.op == "DoesNotExist" && has) return false;
  }
  return true;
}

bool reference_permitted(const cluster_state& state, std::string_view from_group,
                         std::string_view from_kind, std::string_view from_ns,
                         std::string_view to_group, std::string_view to_kind,
                         std::string_view to_ns, std::string_view to_name) {
  if (from_ns == to_ns) return true;
  for (const auto& [key, g] : state.reference_grants) {
    if (g.meta.namespace_name != to_ns) continue;
    const bool from = std::any_of(g.from.begin(), g.from.end(), [&](const auto& f) {
      return f.group == from_group && f.kind == from_kind && f.namespace_name == from_ns;
    });
    const bool to = std::any_of(g.to.begin(), g.to.end(), [&](const auto& t) {
      return t.group == to_group && t.kind == to_kind && (!t.name || *t.name == to_name);
    });
    if (from && to) return true;
  }
  return false;
}

}  // namespace portico::config
