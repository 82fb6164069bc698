#include "config/gateway_status.hpp"

#include <boost/json.hpp>

namespace portico::config {
namespace {

namespace json = boost::json;

json::array conditions_json(const std::vector<gw_condition>& cs) {
  json::array out;
  for (const auto& c : cs)
    out.push_back(json::object{{"type", c.type}, {"status", c.status}, {"reason", c.reason},
                               {"message", c.message}});
  return out;
}

}  // namespace

std::string gateway_status_json(const gateway_status& s) {
  json::array gateways;
  for (const auto& g : s.gateways) {
    json::array listeners;
    for (const auto& l : g.listeners)
      listeners.push_back(json::object{{"name", l.name},
                                       {"attachedRoutes", l.attached_routes},
                                       {"conditions", conditions_json(l.conditions)}});
    gateways.push_back(json::object{{"namespace", g.namespace_name},
                                    {"name", g.name},
                                    {"conditions", conditions_json(g.conditions)},
                                    {"listeners", std::move(listeners)}});
  }
  json::array routes;
  for (const auto& r : s.routes) {
    json::array parents;
    for (const auto& p : r.parents) {
      json::value section = nullptr;
      if (p.section_name) section = json::string(*p.section_name);
      parents.push_back(json::object{{"gateway", p.gateway},
                                     {"sectionName", std::move(section)},
                                     {"conditions", conditions_json(p.conditions)}});
    }
    routes.push_back(json::object{{"kind", r.kind},
                                  {"namespace", r.namespace_name},
                                  {"name", r.name},
                                  {"parents", std::move(parents)}});
  }
  return json::serialize(json::object{{"gateways", std::move(gateways)}, {"routes", std::move(routes)}});
}

}  // namespace portico::config
