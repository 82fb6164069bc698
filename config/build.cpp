// config::build(): served Ingresses -> routes -> host table -> Snapshot.
//
// Choices, where the Ingress API leaves room:
// - Ingresses are taken oldest first (creationTimestamp, then namespace/name). On a conflict
//   (same host, same path, same path type from two Ingresses) the older one keeps the path;
//   the younger gets a build_error naming its field. An invalid Ingress is skipped whole.
// - Default backend: the spec.defaultBackend of the oldest served Ingress that has one
//   answers every request that finds no path (known host or not); without one, find()
//   returns nullptr and the built-in default backend answers 404. Younger defaultBackends
//   get a build_error.
// - Prefix paths "/foo" and "/foo/" of one host are two paths, not a conflict. Both match
//   "/foo" and "/foo/" (trailing slashes are ignored for matching); the longer as written,
//   "/foo/", wins both requests: the Ingress API's "longest matching path". Exact beats Prefix.
// - ImplementationSpecific paths are matched as Prefix, unless the host's paths are regexes
//   (use-regex, rewrite-target: config/regex_paths.hpp).
// - Routes are sorted by (host, path, path type) so `portico routes` is stable; the default
//   backend route, if any, comes last.
// - TLS (config/tls_table_builder.hpp, config/tls_annotations.hpp): route::ssl_redirect is
//   true when TLS is configured for the route's host (by any served Ingress: ingress-nginx
//   redirects per server, not per Ingress) and the route's Ingress does not say ssl-redirect
//   "false"; or when its Ingress says force-ssl-redirect "true". Routes without a host and the
//   spec.defaultBackend route never get the default redirect; the latter not even a forced
//   one (as ingress-nginx's catch-all location).
#include "config/build.hpp"

#include "config/external_auth.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "config/annotations.hpp"
#include "config/annotations_mirror.hpp"
#include "config/backends.hpp"
#include "config/client_auth.hpp"
#include "config/gateway_build.hpp"
#include "config/ingress_check.hpp"
#include "config/regex_paths.hpp"
#include "config/route_table.hpp"
#include "config/snapshot_hash.hpp"
#include "config/snapshot_index.hpp"
#include "config/tls_annotations.hpp"
#include "config/tls_table_builder.hpp"

namespace portico::config {
namespace {

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::vector<const ingress*> served_oldest_first(const cluster_state& state,
                                                const build_options& opts) {
  std::vector<const ingress*> out;
  for (const auto& [key, ing] : state.ingresses) {
    if (ingress_is_served(ing, state, opts)) out.push_back(&ing);
  }
  std::sort(out.begin(), out.end(), [](const ingress* a, const ingress* b) {
    return std::tie(a->meta.creation_timestamp, a->meta.namespace_name, a->meta.name) <
           std::tie(b->meta.creation_timestamp, b->meta.namespace_name, b->meta.name);
  });
  return out;
}

class route_collector {
 public:
  route_collector(const cluster_state& state, const build_options& opts,
                  const controller_config& settings, std::vector<build_error>& errors)
      : state_(state),
        clusters_(state, opts.previous.get()),
        annotations_(state, errors),
        policies_(state, settings, errors),
        settings_(settings),
        prefix_(opts.annotations_prefix),
        errors_(errors) {}

  // Returns false for a canary Ingress: it is merged into other Ingresses' routes once all
  // are added (merge_canaries) and serves no routes nor TLS hosts of its own.
  bool add_ingress(const ingress& ing) {
    const our_annotations anns = collect_annotations(ing, prefix_, errors_);
    anns_ = &anns;  // for errors naming an annotation as written (prefix or alias)
    annotations_.allow_cross_namespace(settings_.allow_cross_namespace_resources);
    policy_ = annotations_.read(ing, anns, {settings_.ssl_redirect, settings_.force_ssl_redirect, nullptr});
    route_policy_ = policies_.read(ing, anns);
    if (route_policy_->canary.enabled) {
      canaries_.push_back({&ing, route_policy_});
      anns_ = nullptr;
      return false;
    }
    mirror_ = ingress_mirror_for(ing);
    for (std::size_t i = 0; i < ing.rules.size(); ++i) {
      const auto& rule = ing.rules[i];
      for (std::size_t j = 0; j < rule.paths.size(); ++j) {
        std::string field = "spec.rules[" + std::to_string(i) + "].http.paths[" +
                            std::to_string(j) + "]";
        add_path(ing, rule.host, rule.paths[j], field);
      }
      add_host_settings(ing, lower(rule.host));
    }
    if (ing.default_backend) add_default(ing);
    anns_ = nullptr;
    return true;
  }

  // ingress-nginx's mergeAlternativeBackends: each path of a canary Ingress (oldest first)
  // becomes the alternative backend of the route with the same host, path and path type; its
  // spec.defaultBackend that of the default backend route.
  void merge_canaries();

  build_result finish(std::shared_ptr<const tls_table> tls, controller_config_ptr settings,
                      gateway_routes gw);

  cluster_builder& clusters() { return clusters_; }
  // Hosts the Gateway API claims: Ingress rules for them are conflicts (README).
  void set_gateway(const gateway_table* g) { gateway_ = g; }

 private:
  void add_path(const ingress& ing, const std::string& host, const http_ingress_path& p,
                const std::string& field);
  void add_default(const ingress& ing);
  std::shared_ptr<route> make_route(const ingress& ing, const ingress_backend& b,
                                    const std::string& field);
  void error(const ingress& ing, std::string field, std::string message) {
    errors_.push_back({"Ingress", ing.meta.namespace_name, ing.meta.name, std::move(field),
                       std::move(message)});
  }

  void set_redirects(const tls_table& tls);
  // server-alias and from-to-www-redirect, which ingress-nginx applies per server (host).
  void add_host_settings(const ingress& ing, const std::string& host);
  std::shared_ptr<const tls_table> apply_host_settings(host_table& table,
                                                       std::shared_ptr<const tls_table> tls);
  struct alias_owner {
    const ingress* ing;
    std::vector<std::string> aliases;
    std::string field;  // metadata.annotations[<server-alias as written>]
  };
  // The error field of one of the current Ingress's annotations, under the key it was written
  // with (the prefix or the portico.dev/ alias).
  std::string annotation_field(const std::string& key) const {
    auto it = anns_ != nullptr ? anns_->find(key) : our_annotations::const_iterator{};
    const std::string written = anns_ != nullptr && it != anns_->end() ? it->second.written_key
                                                                        : prefix_ + "/" + key;
    return "metadata.annotations[" + written + "]";
  }
  const our_annotations* anns_ = nullptr;
  const gateway_table* gateway_ = nullptr;
  std::map<std::string, alias_owner> aliases_;  // by lowercased host: the first Ingress's
  std::set<std::string> www_hosts_;             // hosts asking for from-to-www-redirect
  struct client_auth_owner {
    const ingress* ing;
    std::shared_ptr<const client_auth> auth;
  };
  std::map<std::string, client_auth_owner> client_auth_;  // by host: the first Ingress's
  void attach_canary(const ingress& ing, route& main, const ingress_backend& b,
                     const route_policy_ptr& pol, const std::string& field);

  struct canary_ingress {
    const ingress* ing;
    route_policy_ptr policy;
  };
  std::vector<canary_ingress> canaries_;

  // The error backend of a route (custom-http-errors): its Ingress's default-backend Service,
  // else --default-backend-service; null when neither resolves.
  std::shared_ptr<const cluster> error_backend(const ingress& ing, const std::string& field);
  std::shared_ptr<const cluster> global_error_backend();

  const cluster_state& state_;
  cluster_builder clusters_;
  bool global_resolved_ = false;
  std::shared_ptr<const cluster> global_error_;
  tls_annotation_reader annotations_;
  annotation_reader policies_;
  const controller_config& settings_;
  std::string prefix_;
  ingress_tls_policy policy_;  // of the Ingress being added
  route_policy_ptr route_policy_;  // of the Ingress being added
  // mirror-target of the Ingress being added (no backend: none).
  mirror_backend mirror_;
  mirror_backend ingress_mirror_for(const ingress& ing) {
    if (!route_policy_->mirror) return {};
    std::string why;
    auto mb = ingress_mirror_backend(route_policy_->mirror, clusters_, state_, why);
    if (!why.empty()) error(ing, annotation_field("mirror-target"), why);
    return mb;
  }
  std::vector<build_error>& errors_;
  std::vector<std::shared_ptr<route>> routes_;
  std::shared_ptr<route> default_;
  // Conflict detection: lowercased host, '\n', kind, normalized path -> the owner.
  std::unordered_map<std::string, const route*> owners_;
  std::vector<const route*> forced_;  // force-ssl-redirect "true"
};

void route_collector::set_redirects(const tls_table& tls) {
  std::sort(forced_.begin(), forced_.end());
  for (auto& r : routes_) {
    // no-auth-locations: global authentication skips these paths (ingress-nginx: a prefix of
    // the location's path).
    if (r->policy->ext_auth && r->policy->ext_auth->global) {
      for (const auto& p : settings_.no_auth_locations)
        if (r->path.starts_with(p)) r->auth_exempt = true;
    }
    if (!r->ssl_redirect) continue;
    r->ssl_redirect = std::binary_search(forced_.begin(), forced_.end(), r.get()) ||
                      tls_configured_for(tls, lower(r->host));
  }
}

std::shared_ptr<route> route_collector::make_route(const ingress& ing, const ingress_backend& b,
                                                   const std::string& field) {
  auto r = std::make_shared<route>();
  r->namespace_name = ing.meta.namespace_name;
  r->ingress_name = ing.meta.name;
  r->service_name = b.service_name;
  r->service_port = b.port.number ? std::to_string(*b.port.number) : b.port.name;
  r->policy = route_policy_;
  r->preserve_trailing_slash = route_policy_->redirect.preserve_trailing_slash;
  auto res = clusters_.resolve(ing.meta.namespace_name, b, policy_.upstream,
                               route_policy_->service_upstream);
  if (!res.error.empty()) error(ing, field + ".backend" + res.error_field, res.error);
  r->backend = std::move(res.backend);
  r->upstream_h2 = policy_.upstream_h2;
  if (mirror_.backend) r->mirrors.push_back(mirror_);
  if (!route_policy_->custom_http_errors.empty() || !route_policy_->default_backend.empty())
    r->error_backend = error_backend(ing, field);
  return r;
}

std::shared_ptr<const cluster> route_collector::global_error_backend() {
  if (global_resolved_) return global_error_;
  global_resolved_ = true;
  const std::string& ref = settings_.default_backend_service;
  const auto slash = ref.find('/');
  if (ref.empty() || slash == std::string::npos) return nullptr;
  auto svc = state_.services.find(ref);
  if (svc == state_.services.end() || svc->second.ports.empty()) {
    errors_.push_back({"Service", ref.substr(0, slash), ref.substr(slash + 1), "",
                       "--default-backend-service: Service not found or without ports; "
                       "custom-http-errors pass through"});
    return nullptr;
  }
  ingress_backend b;
  b.has_service = true;
  b.service_name = ref.substr(slash + 1);
  b.port.number = svc->second.ports.front().port;
  global_error_ = clusters_.resolve(ref.substr(0, slash), b).backend;
  return global_error_;
}

std::shared_ptr<const cluster> route_collector::error_backend(const ingress& ing,
                                                              const std::string& field) {
  const std::string& name = route_policy_->default_backend;
  if (name.empty()) return global_error_backend();
  const std::string key = ing.meta.namespace_name + "/" + name;
  auto svc = state_.services.find(key);
  if (svc == state_.services.end() || svc->second.ports.empty()) {
    error(ing, annotation_field("default-backend"),
          "Service " + key + " not found or without ports; ignored");
    return global_error_backend();
  }
  ingress_backend b;
  b.has_service = true;
  b.service_name = name;
  b.port.number = svc->second.ports.front().port;
  return clusters_.resolve(ing.meta.namespace_name, b).backend;
}

void route_collector::add_path(const ingress& ing, const std::string& host,
                               const http_ingress_path& p, const std::string& field) {
  match_kind kind = p.type == path_type::exact ? match_kind::exact : match_kind::prefix;
  std::string path = p.path.empty() ? "/" : p.path;  // ImplementationSpecific without a path
  if (gateway_ != nullptr && !host.empty() && gateway_->claims(lower(host))) {
    error(ing, field,
          "conflict: host \"" + host + "\" is served by a Gateway listener or HTTPRoute (the Gateway "
          "API claims the host); this path is not served");
    return;
  }
  std::string key = lower(host);
  key += '\n';
  key += kind == match_kind::exact ? 'E' : 'P';
  key += path;  // "/foo" and "/foo/" are two paths; the table prefers the longer
  if (auto it = owners_.find(key); it != owners_.end()) {
    const route* o = it->second;
    bool same = o->namespace_name == ing.meta.namespace_name && o->ingress_name == ing.meta.name;
    error(ing, field + ".path",
          "host \"" + host + "\" path \"" + path + "\" (" + path_type_text(p.type) + ") " +
              (same ? std::string("is listed twice in this Ingress")
                    : "is already served by Ingress " + o->namespace_name + "/" +
                          o->ingress_name + " (older)") +
              "; ignored");
    return;
  }
  auto r = make_route(ing, p.backend, field);
  r->host = host;
  // Decided in finish() once every Ingress's spec.tls is known; this bit says "allowed".
  r->ssl_redirect = policy_.force_ssl_redirect || (!host.empty() && policy_.ssl_redirect);
  if (policy_.force_ssl_redirect) forced_.push_back(r.get());
  r->path = std::move(path);
  r->kind = kind;
  r->path_type = path_type_text(p.type);
  owners_.emplace(std::move(key), r.get());
  routes_.push_back(std::move(r));
}

void route_collector::add_default(const ingress& ing) {
  if (default_) {
    error(ing, "spec.defaultBackend",
          "ignored: Ingress " + default_->namespace_name + "/" + default_->ingress_name +
              " (older) already provides the default backend");
    return;
  }
  default_ = make_route(ing, *ing.default_backend, "spec.defaultBackend");
  default_->is_default_backend = true;
}

void route_collector::add_host_settings(const ingress& ing, const std::string& host) {
  if (host.empty()) return;
  if (route_policy_->client_certs && route_policy_->denied.empty()) {
    auto [it, inserted] = client_auth_.try_emplace(host, client_auth_owner{&ing, route_policy_->client_certs});
    if (!inserted && it->second.ing != &ing && it->second.auth->id != route_policy_->client_certs->id)
      error(ing, annotation_field("auth-tls-secret"),
            "host \"" + host + "\" already has the client certificate settings of Ingress " +
                it->second.ing->meta.namespace_name + "/" + it->second.ing->meta.name +
                " (older); they apply to this host");
  }
  if (route_policy_->redirect.from_to_www && !host.starts_with("*.")) www_hosts_.insert(host);
  if (route_policy_->aliases.empty()) return;
  auto [it, inserted] =
      aliases_.try_emplace(host, alias_owner{&ing, route_policy_->aliases, annotation_field("server-alias")});
  if (!inserted && it->second.ing != &ing) {
    error(ing, annotation_field("server-alias"),
          "host \"" + host + "\" already has the aliases of Ingress " +
              it->second.ing->meta.namespace_name + "/" + it->second.ing->meta.name +
              " (older); ignored for this host");
  }
}

std::shared_ptr<const tls_table> route_collector::apply_host_settings(
    host_table& table, std::shared_ptr<const tls_table> tls) {
  std::vector<std::pair<std::string, std::string>> tls_aliases;  // alias, host
  for (const auto& [host, owner] : aliases_) {
    for (const auto& alias : owner.aliases) {
      if (alias == host) continue;
      if (!table.add_alias(alias, host)) {
        error(*owner.ing, owner.field,
              "alias \"" + alias + "\" of host \"" + host +
                  "\" is a host of its own or another host's alias; ignored");
        continue;
      }
      tls_aliases.emplace_back(alias, host);
    }
  }
  for (const auto& to : www_hosts_) {
    std::string from = to.starts_with("www.") ? to.substr(4) : "www." + to;
    if (table.has_host(from)) continue;  // served by an Ingress of its own: no redirect
    table.www_redirects.emplace(from, to);
  }
  // Client certificates are asked for by every host that wants them and by its aliases.
  if (!client_auth_.empty()) {
    auto t = std::make_shared<tls_table>(*tls);
    for (const auto& [host, owner] : client_auth_) t->client_auth_by_host.emplace(host, owner.auth);
    for (const auto& [alias, host] : tls_aliases) {
      auto it = client_auth_.find(host);
      if (it != client_auth_.end()) t->client_auth_by_host.emplace(alias, it->second.auth);
    }
    tls = std::move(t);
  }
  // An alias is served with its host's certificates (ingress-nginx's certificate lookup
  // lists aliases beside their server's name); a name with its own spec.tls keeps its own.
  bool copy = false;
  for (const auto& [alias, host] : tls_aliases)
    copy = copy || (tls->by_host.count(host) != 0 && tls->by_host.count(alias) == 0);
  if (!copy) return tls;
  auto t = std::make_shared<tls_table>(*tls);
  for (const auto& [alias, host] : tls_aliases) {
    auto it = t->by_host.find(host);
    if (it != t->by_host.end() && t->by_host.count(alias) == 0) {
      tls_certificates certs = it->second;
      t->by_host.emplace(alias, std::move(certs));
    }
  }
  return t;
}

void route_collector::attach_canary(const ingress& ing, route& main, const ingress_backend& b,
                                    const route_policy_ptr& pol, const std::string& field) {
  const std::string where = main.is_default_backend
                                ? std::string("the default backend")
                                : "host \"" + main.host + "\" path \"" + main.path + "\"";
  if (main.canary) {
    error(ing, field,
          "canary: " + where + " already has the canary of Ingress " +
              main.canary->namespace_name + "/" + main.canary->ingress_name +
              " (older; one canary per path); ignored");
    return;
  }
  const std::string port = b.port.number ? std::to_string(*b.port.number) : b.port.name;
  if (ing.meta.namespace_name == main.namespace_name && b.service_name == main.service_name &&
      port == main.service_port) {
    error(ing, field,
          "canary: Service " + b.service_name + ":" + port + " is the main backend of " + where +
              " (Ingress " + main.namespace_name + "/" + main.ingress_name + "); ignored");
    return;
  }
  // The location is the main route's: its backend-protocol (upstream TLS) applies, as in
  // ingress-nginx.
  auto res = clusters_.resolve(ing.meta.namespace_name, b, main.backend->tls,
                               pol->service_upstream);
  if (!res.error.empty()) error(ing, field + ".backend" + res.error_field, res.error);
  auto c = std::make_shared<canary_route>();
  c->backend = std::move(res.backend);
  c->namespace_name = ing.meta.namespace_name;
  c->ingress_name = ing.meta.name;
  c->service_name = b.service_name;
  c->service_port = port;
  c->upstream_name = upstream_name(ing.meta.namespace_name, b.service_name, port);
  c->policy = pol;
  main.canary = std::move(c);
}

void route_collector::merge_canaries() {
  for (const auto& ci : canaries_) {
    const ingress& ing = *ci.ing;
    for (std::size_t i = 0; i < ing.rules.size(); ++i) {
      const auto& rule = ing.rules[i];
      for (std::size_t j = 0; j < rule.paths.size(); ++j) {
        const auto& p = rule.paths[j];
        const std::string field =
            "spec.rules[" + std::to_string(i) + "].http.paths[" + std::to_string(j) + "]";
        const match_kind kind = p.type == path_type::exact ? match_kind::exact : match_kind::prefix;
        const std::string path = p.path.empty() ? "/" : p.path;
        std::string key = lower(rule.host);
        key += '\n';
        key += kind == match_kind::exact ? 'E' : 'P';
        key += path;
        auto it = owners_.find(key);
        if (it == owners_.end()) {
          error(ing, field,
                "canary: no Ingress serves host \"" + rule.host + "\" path \"" + path + "\" (" +
                    path_type_text(p.type) + ") to be the canary of; ignored");
          continue;
        }
        attach_canary(ing, *const_cast<route*>(it->second), p.backend, ci.policy, field);
      }
    }
    if (ing.default_backend) {
      if (!default_) {
        error(ing, "spec.defaultBackend",
              "canary: no Ingress has a spec.defaultBackend to be the canary of; ignored");
      } else {
        attach_canary(ing, *default_, *ing.default_backend, ci.policy, "spec.defaultBackend");
      }
    }
  }
}

// HTTPS listener certificates replace what Ingress spec.tls gave their hosts.
std::shared_ptr<const tls_table> with_gateway_certificates(
    std::shared_ptr<const tls_table> tls,
    const std::vector<std::pair<std::string, std::shared_ptr<const tls_certificate>>>& certs) {
  if (certs.empty()) return tls;
  auto t = std::make_shared<tls_table>(*tls);
  std::map<std::string, tls_certificates> by_host;
  for (const auto& entry : certs) {
    const auto& cert = entry.second;  // a named variable: clang 14 cannot capture a structured binding
    auto& set = by_host[entry.first];
    const bool type_taken = std::any_of(set.begin(), set.end(), [&](const auto& c) { return c->key_type == cert->key_type; });
    if (!type_taken) set.push_back(cert);  // one per key type: the first listener's
  }
  for (auto& [host, set] : by_host) {
    std::sort(set.begin(), set.end(), [](const auto& a, const auto& b) { return a->key_type < b->key_type; });
    t->certificates.insert(t->certificates.end(), set.begin(), set.end());
    if (host.starts_with("*.")) t->multi_label_wildcards.insert(host);  // Gateway wildcard semantics
    t->by_host.insert_or_assign(host, std::move(set));
  }
  auto& cs = t->certificates;
  std::sort(cs.begin(), cs.end(), [](const auto& a, const auto& b) {
    return std::tie(a->secret, a->version) < std::tie(b->secret, b->version);
  });
  cs.erase(std::unique(cs.begin(), cs.end()), cs.end());
  return t;
}

build_result route_collector::finish(std::shared_ptr<const tls_table> tls,
                                     controller_config_ptr settings, gateway_routes gw) {
  merge_canaries();
  set_redirects(*tls);
  std::sort(routes_.begin(), routes_.end(), [](const auto& a, const auto& b) {
    return std::tie(a->host, a->path, a->kind) < std::tie(b->host, b->path, b->kind);
  });
  if (!default_) {
    // --default-backend-service answers what no rule matches, as ingress-nginx's
    // upstream-default-backend (the built-in 404 otherwise).
    if (auto c = global_error_backend()) {
      auto r = std::make_shared<route>();
      r->namespace_name = c->namespace_name;
      r->service_name = c->service_name;
      r->service_port = c->service_port;
      r->is_default_backend = true;
      auto pol = settings_.route_defaults();
      pol.custom_http_errors.clear();  // it is the error backend
      pol.ext_auth = nullptr;  // ingress-nginx's default server has no global authentication
      r->policy = std::make_shared<const route_policy>(std::move(pol));
      r->backend = std::move(c);
      default_ = std::move(r);
    }
  }
  if (default_) routes_.push_back(default_);
  auto table = std::make_shared<host_table>();
  std::vector<std::shared_ptr<const route>> routes;
  routes.reserve(routes_.size());
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    auto& r = routes_[i];
    r->index = static_cast<std::uint32_t>(i);
    if (r->is_default_backend) {
      table->default_route_ = r.get();
    } else {
      table->add(r.get());  // conflicts were resolved above: always inserts
    }
  }
  tls = apply_host_settings(*table, std::move(tls));
  apply_regex_paths(routes_, *table, errors_);  // use-regex / rewrite-target hosts
  // HTTPRoute routes follow the Ingress routes; the gateway table refers to them by index.
  for (auto& r : gw.routes) {
    r->index = static_cast<std::uint32_t>(routes_.size());
    routes_.push_back(std::move(r));
  }
  if (gw.table) {
    gw.table->finish();
    gw.table->assign_indices();
  }
  tls = with_gateway_certificates(std::move(tls), gw.certificates);
  for (auto& r : routes_) routes.push_back(std::move(r));
  auto clusters = clusters_.clusters();
  table->index = index_of(routes, clusters);
  std::uint64_t hash = snapshot_hash(routes, clusters, *tls, *settings);  // as build_incremental()
  build_result out;
  out.snap = std::make_shared<const snapshot>(std::move(routes), std::move(clusters),
                                              std::move(table), hash, std::move(tls),
                                              std::move(settings), std::move(gw.table),
                                              std::move(gw.status));
  return out;
}

}  // namespace

build_result build(const cluster_state& state, const build_options& opts) {
  std::vector<build_error> errors;
  const config_map* cm = nullptr;
  if (!opts.configmap.empty()) {
    if (auto it = state.config_maps.find(opts.configmap); it != state.config_maps.end())
      cm = &it->second;
  }
  auto settings = std::make_shared<const controller_config>(
      decode_controller_config(cm, opts.defaults, state, errors));
  route_collector collector(state, opts, *settings, errors);
  tls_table_builder tls(state, opts, errors);
  gateway_routes gw = build_gateway_routes(state, opts, *settings, collector.clusters(), tls, errors);
  collector.set_gateway(gw.table.get());
  for (const ingress* ing : served_oldest_first(state, opts)) {
    if (!validate_ingress(*ing, errors)) continue;
    if (collector.add_ingress(*ing)) tls.add_ingress(*ing);
  }
  build_result out = collector.finish(tls.finish(), std::move(settings), std::move(gw));
  out.errors = std::move(errors);
  return out;
}

}  // namespace portico::config
