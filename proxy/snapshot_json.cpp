#include "proxy/snapshot_json.hpp"

#include <boost/json.hpp>

namespace portico::proxy {

namespace json = boost::json;

namespace {

std::string endpoint_text(const config::endpoint& e) {
  const bool v6 = e.ip.find(':') != std::string::npos;
  return (v6 ? "[" + e.ip + "]" : e.ip) + ":" + std::to_string(e.port);
}

json::object cluster_json(const config::cluster& c) {
  json::array eps;
  for (const auto& e : c.endpoints) {
    eps.push_back(json::object{{"address", endpoint_text(e)},
                               {"node", e.node_name},
                               {"ready", e.ready}});
  }
  return json::object{{"id", c.id},
                      {"namespace", c.namespace_name},
                      {"service", c.service_name},
                      {"port", c.service_port},
                      {"version", c.version},
                      {"endpoints", std::move(eps)}};
}

}  // namespace

std::string snapshot_to_json(const config::snapshot& snap) {
  json::array routes;
  for (const auto& r : snap.routes()) {
    routes.push_back(json::object{
        {"index", r->index},
        {"host", r->host},
        {"path", r->path},
        {"path_type", r->path_type},
        {"match", r->kind == config::match_kind::exact ? "exact" : "prefix"},
        {"namespace", r->namespace_name},
        {"ingress", r->ingress_name},
        {"service", r->service_name},
        {"service_port", r->service_port},
        {"default_backend", r->is_default_backend},
        {"cluster", r->backend ? r->backend->id : std::string()},
    });
  }
  json::array clusters;
  for (const auto& c : snap.clusters()) clusters.push_back(cluster_json(*c));
  json::object root{{"hash", std::to_string(snap.hash())},
                    {"routes", std::move(routes)},
                    {"clusters", std::move(clusters)}};
  return json::serialize(root);
}

}  // namespace portico::proxy
