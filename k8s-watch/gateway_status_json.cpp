#include "k8s-watch/gateway_status_json.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>
#include <ctime>

namespace portico::watch {

namespace json = boost::json;

std::string rfc3339(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

const json::value* field(const json::value* v, std::string_view key) {
  if (!v || !v->is_object()) return nullptr;
  return v->get_object().if_contains(key);
}

std::string str(const json::value* v) {
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// The previous condition of `type` in a conditions array.
const json::object* find_condition(const json::value* conditions, const std::string& type) {
  if (!conditions || !conditions->is_array()) return nullptr;
  for (const auto& c : conditions->get_array()) {
    if (c.is_object() && str(c.get_object().if_contains("type")) == type) return &c.get_object();
  }
  return nullptr;
}

status_update if_changed(const json::value& current, json::object next) {
  json::value v(std::move(next));
  if (current.is_object() && current == v) return std::nullopt;
  return v;
}

// The status object as it is now, minus nothing: fields Portico does not write are kept.
json::object base_of(const json::value& current) {
  return current.is_object() ? current.get_object() : json::object();
}

json::array supported_kinds(const config::gateway_listener* l) {
  json::array out;
  if (!l || (l->protocol != "HTTP" && l->protocol != "HTTPS")) return out;
  // The kinds Portico serves on HTTP and HTTPS listeners, as far as allowedRoutes.kinds lets them.
  for (const char* kind : {"HTTPRoute", "GRPCRoute"}) {
    const bool allowed = l->routes.kinds.empty() ||
        std::any_of(l->routes.kinds.begin(), l->routes.kinds.end(), [&](const auto& k) {
          return k.group == config::gateway_group && k.kind == kind;
        });
    if (allowed) out.push_back(json::object{{"group", config::gateway_group}, {"kind", kind}});
  }
  return out;
}

json::array addresses_json(std::vector<std::string> addresses) {
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  json::array out;
  for (const auto& a : addresses) {
    if (a.empty()) continue;
    boost::system::error_code ec;
    boost::asio::ip::make_address(a, ec);
    out.push_back(json::object{{"type", ec ? "Hostname" : "IPAddress"}, {"value", a}});
  }
  return out;
}

bool is_ours(const json::value& parent, const std::string& controller_name) {
  return parent.is_object() && str(parent.get_object().if_contains("controllerName")) == controller_name;
}

json::object parent_ref(const config::gw_parent_status& p) {
  auto slash = p.gateway.find('/');
  json::object ref{{"group", config::gateway_group},
                   {"kind", "Gateway"},
                   {"namespace", p.gateway.substr(0, slash)},
                   {"name", p.gateway.substr(slash == std::string::npos ? 0 : slash + 1)}};
  if (p.section_name) ref["sectionName"] = *p.section_name;
  return ref;
}

}  // namespace

json::array merge_conditions(const json::value* current,
                             const std::vector<config::gw_condition>& desired,
                             std::int64_t generation, const std::string& now) {
  json::array out;
  for (const auto& c : desired) {
    std::string since = now;
    if (const json::object* old = find_condition(current, c.type);
        old && str(old->if_contains("status")) == c.status &&
        !str(old->if_contains("lastTransitionTime")).empty()) {
      since = str(old->if_contains("lastTransitionTime"));
    }
    out.push_back(json::object{{"type", c.type},
                               {"status", c.status},
                               {"reason", c.reason},
                               {"message", c.message},
                               {"lastTransitionTime", since},
                               {"observedGeneration", generation}});
  }
  return out;
}

status_update gateway_class_status(const json::value& current_status, std::int64_t generation,
                                   const std::string& now) {
  json::object next = base_of(current_status);
  next["conditions"] = merge_conditions(
      field(&current_status, "conditions"),
      {{"Accepted", "True", "Accepted", "GatewayClass is accepted by Portico"}}, generation, now);
  return if_changed(current_status, std::move(next));
}

status_update gateway_object_status(const json::value& current_status,
                                    const config::gw_gateway_status& desired,
                                    const config::gateway& spec,
                                    const std::vector<std::string>& addresses,
                                    std::int64_t generation, const std::string& now) {
  json::object next = base_of(current_status);
  json::array addrs = addresses_json(addresses);
  if (addrs.empty()) {
    next.erase("addresses");
  } else {
    next["addresses"] = std::move(addrs);
  }
  next["conditions"] =
      merge_conditions(field(&current_status, "conditions"), desired.conditions, generation, now);
  const json::value* old_listeners = field(&current_status, "listeners");
  json::array listeners;
  for (const auto& l : desired.listeners) {
    const json::value* old_conditions = nullptr;
    if (old_listeners && old_listeners->is_array()) {
      for (const auto& ol : old_listeners->get_array()) {
        if (str(field(&ol, "name")) == l.name) old_conditions = field(&ol, "conditions");
      }
    }
    const config::gateway_listener* ls = nullptr;
    for (const auto& s : spec.listeners) {
      if (s.name == l.name) ls = &s;
    }
    listeners.push_back(json::object{
        {"name", l.name},
        {"supportedKinds", supported_kinds(ls)},
        {"attachedRoutes", l.attached_routes},
        {"conditions", merge_conditions(old_conditions, l.conditions, generation, now)}});
  }
  next["listeners"] = std::move(listeners);
  return if_changed(current_status, std::move(next));
}

status_update route_object_status(const json::value& current_status,
                                  const config::gw_route_status* desired,
                                  const std::string& controller_name, std::int64_t generation,
                                  const std::string& now) {
  json::object next = base_of(current_status);
  const json::value* old = field(&current_status, "parents");
  json::array parents;
  std::vector<const json::value*> old_ours;
  if (old && old->is_array()) {
    for (const auto& p : old->get_array()) {
      if (is_ours(p, controller_name)) {
        old_ours.push_back(&p);
      } else {
        parents.push_back(p);  // another controller's entry: as it is
      }
    }
  }
  for (const auto& p : desired ? desired->parents : std::vector<config::gw_parent_status>{}) {
    json::object ref = parent_ref(p);
    const json::value* previous = nullptr;
    for (const json::value* o : old_ours) {
      if (const json::value* r = field(o, "parentRef"); r && r->is_object() &&
          str(field(r, "namespace")) == str(ref.if_contains("namespace")) &&
          str(field(r, "name")) == str(ref.if_contains("name")) &&
          str(field(r, "sectionName")) == str(ref.if_contains("sectionName")))
        previous = o;
    }
    parents.push_back(json::object{
        {"parentRef", std::move(ref)},
        {"controllerName", controller_name},
        {"conditions", merge_conditions(field(previous, "conditions"), p.conditions, generation, now)}});
  }
  next["parents"] = std::move(parents);
  return if_changed(current_status, std::move(next));
}

}  // namespace portico::watch
