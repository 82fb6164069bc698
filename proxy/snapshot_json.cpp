#include "proxy/snapshot_json.hpp"

#include <boost/json.hpp>

#include <algorithm>

#include "config/client_auth.hpp"
#include "config/external_auth.hpp"
#include "config/htpasswd.hpp"

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

// Who may use the route: the names of what protects it, never a Secret's content.
json::value access_json(const config::route& r) {
  const config::route_policy& p = *r.policy;
  auto text = [](const std::string& t) { return t.empty() ? json::value(nullptr) : json::value(t); };
  json::value cors = nullptr;
  if (p.cors.enabled) {
    json::array origins;
    if (p.cors.any_origin) origins.push_back("*");
    for (const auto& o : p.cors.origins) origins.push_back(json::value(o));
    cors = std::move(origins);
  }
  json::value basic = nullptr;
  if (p.basic_auth.users)
    basic = json::object{{"secret", p.basic_auth.secret},
                         {"realm", p.basic_auth.realm},
                         {"users", p.basic_auth.users->users.size()}};
  json::value client = nullptr;
  if (p.client_certs) {
    static constexpr const char* modes[] = {"on", "off", "optional", "optional_no_ca"};
    client = json::object{{"secret", p.client_certs->secret},
                          {"verify", modes[static_cast<int>(p.client_certs->verify)]},
                          {"match_cn", p.client_certs->match_cn}};
  }
  json::value ext = nullptr;
  if (const auto* a = p.ext_auth.get(); a != nullptr && !r.auth_exempt)
    ext = json::object{{"url", a->url},
                       {"method", a->method.empty() ? std::string("GET") : a->method},
                       {"signin", text(a->signin_text)},
                       {"global", a->global},
                       {"cached", !a->cache_key.empty()},
                       {"response_headers", json::value_from(a->response_headers)},
                       {"proxy_set_headers", text(a->proxy_set_headers_ref)}};
  return json::object{{"denied", text(p.denied)},
                      {"allow", text(p.source.allow_text)},
                      {"deny", text(p.source.deny_text)},
                      {"cors_origins", std::move(cors)},
                      {"basic_auth", std::move(basic)},
                      {"client_certificates", std::move(client)},
                      {"external_auth", std::move(ext)}};
}

}  // namespace

std::string snapshot_to_json(const config::snapshot& snap) {
  json::array routes;
  for (const auto& r : snap.routes()) {
    json::value canary = nullptr;
    if (const auto* c = r->canary.get()) {
      const auto& cp = c->policy->canary;
      canary = json::object{{"namespace", c->namespace_name},
                            {"ingress", c->ingress_name},
                            {"service", c->service_name},
                            {"service_port", c->service_port},
                            {"cluster", c->backend->id},
                            {"by_header", cp.header},
                            {"by_header_value", cp.header_value},
                            {"by_header_pattern", cp.header_pattern},
                            {"by_cookie", cp.cookie},
                            {"weight", cp.weight},
                            {"weight_total", std::max(cp.weight_total, 100u)}};
    }
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
        {"canary", std::move(canary)},
        {"affinity", r->policy->affinity.enabled
                         ? json::value(r->policy->affinity.persistent ? "persistent" : "balanced")
                         : json::value(nullptr)},
        {"access", access_json(*r)},
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
