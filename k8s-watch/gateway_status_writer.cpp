#include "k8s-watch/gateway_status_writer.hpp"

#include <boost/json.hpp>
#include <ctime>

namespace portico::watch {

namespace json = boost::json;
using boost::asio::awaitable;

namespace {

const std::string api = "/apis/gateway.networking.k8s.io/v1";

std::string now_text() { return rfc3339(static_cast<std::int64_t>(std::time(nullptr))); }

const json::value* metadata_field(const json::value& obj, std::string_view key) {
  const json::object* o = obj.if_object();
  const json::value* md = o ? o->if_contains("metadata") : nullptr;
  return md && md->is_object() ? md->get_object().if_contains(key) : nullptr;
}

std::int64_t generation_of(const json::value& obj) {
  const json::value* g = metadata_field(obj, "generation");
  return g && g->is_int64() ? g->get_int64() : 0;
}

std::string resource_version_of(const json::value& obj) {
  const json::value* v = metadata_field(obj, "resourceVersion");
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// A compact description of what is desired, to skip objects known to be in place.
std::string fingerprint(const config::gw_gateway_status& g, const std::vector<std::string>& addrs) {
  config::gateway_status one;
  one.gateways.push_back(g);
  std::string out = config::gateway_status_json(one);
  for (const auto& a : addrs) out += "|" + a;
  return out;
}

std::string fingerprint(const config::gw_route_status& r) {
  config::gateway_status one;
  one.routes.push_back(r);
  return config::gateway_status_json(one);
}

}  // namespace

gateway_status_writer::gateway_status_writer(api_client& client, const config::cluster_state& state,
                                             const config::build_options& build, log_fn log)
    : client_(client), state_(state), build_(build), log_(std::move(log)) {}

// GET, compute, PUT when different; 409: again. Only an object at the resourceVersion the
// state holds is written (its generation is then the one the status was computed from).
awaitable<gateway_status_writer::result> gateway_status_writer::write(const task& t) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    api_response got = co_await client_.call("GET", t.path);
    if (got.status == 404) co_return result{outcome::gone, {}};
    if (got.status != 200) throw api_error("get " + t.key + ": HTTP " + std::to_string(got.status));
    json::value obj = json::parse(got.body);
    const std::string rv = resource_version_of(obj);
    if (rv != t.resource_version) co_return result{outcome::behind, {}};  // the watch catches up
    const std::int64_t generation = generation_of(obj);
    json::object& o = obj.as_object();
    const json::value* cur = o.if_contains("status");
    status_update next = t.compute(cur ? *cur : json::value(json::object()), generation);
    if (!next) co_return result{outcome::unchanged, rv};
    o["status"] = std::move(*next);
    api_response put = co_await client_.call("PUT", t.path + "/status", json::serialize(obj));
    if (put.status == 200) {
      ++writes_;
      log_(t.key + " status written (observedGeneration " + std::to_string(generation) + ")");
      co_return result{outcome::done, resource_version_of(json::parse(put.body))};
    }
    if (put.status != 409) {
      throw api_error("update status of " + t.key + ": HTTP " + std::to_string(put.status) + ": " +
                      put.body.substr(0, 200));
    }
  }
  co_return result{outcome::behind, {}};  // conflicts persisted: the next sync tries again
}

// known_ holds, per object, what was last found or put in place and the resourceVersion it
// has then: while the state's copy is still at that version, there is nothing to check.
awaitable<void> gateway_status_writer::write_known(const task& t) {
  auto it = known_.find(t.key);
  if (it != known_.end() && it->second == t.fingerprint + "@" + t.resource_version) co_return;
  try {
    result r = co_await write(t);
    if (r.what == outcome::done || r.what == outcome::unchanged) {
      known_[t.key] = t.fingerprint + "@" + r.resource_version;
    } else if (r.what == outcome::gone) {
      known_.erase(t.key);
    }
  } catch (const std::exception& e) {
    log_(e.what());  // one object's failure (RBAC on its /status, say) stops no other
  }
}

// Every write is planned before the first co_await: the state's maps change while a request
// is out (the watch keeps applying events), so no iterator into them lives across one.
awaitable<void> gateway_status_writer::sync(const std::vector<std::string>& addresses,
                                            std::function<bool()> active) {
  const std::string ours = build_.gateway_controller_name;
  const std::string now = now_text();
  std::vector<task> tasks;
  for (const auto& [key, gc] : state_.gateway_classes) {
    if (gc.controller_name != ours) continue;
    tasks.push_back({"GatewayClass " + key, "Accepted", api + "/gatewayclasses/" + gc.meta.name,
                     gc.meta.resource_version, [now](const json::value& cur, std::int64_t gen) {
                       return gateway_class_status(cur, gen, now);
                     }});
  }
  auto status = status_;  // this pass's view, whatever a rebuild publishes meanwhile
  std::set<std::string> attached;
  for (const auto& g : status ? status->gateways : std::vector<config::gw_gateway_status>{}) {
    auto it = state_.gateways.find(g.namespace_name + "/" + g.name);
    if (it == state_.gateways.end()) continue;
    tasks.push_back({"Gateway " + g.namespace_name + "/" + g.name, fingerprint(g, addresses),
                     api + "/namespaces/" + g.namespace_name + "/gateways/" + g.name,
                     it->second.meta.resource_version,
                     [g, spec = it->second, addresses, now](const json::value& cur, std::int64_t gen) {
                       return gateway_object_status(cur, g, spec, addresses, gen, now);
                     }});
  }
  // A Route's metadata by kind ("HTTPRoute", "GRPCRoute") and "ns/name"; null when gone.
  auto route_meta = [this](const std::string& kind, const std::string& key) -> const config::object_meta* {
    if (kind == "GRPCRoute") {
      auto it = state_.grpc_routes.find(key);
      return it == state_.grpc_routes.end() ? nullptr : &it->second.meta;
    }
    auto it = state_.http_routes.find(key);
    return it == state_.http_routes.end() ? nullptr : &it->second.meta;
  };
  auto resource = [](const std::string& kind) { return kind == "GRPCRoute" ? "/grpcroutes/" : "/httproutes/"; };
  for (const auto& r : status ? status->routes : std::vector<config::gw_route_status>{}) {
    const std::string key = r.namespace_name + "/" + r.name;
    const config::object_meta* meta = route_meta(r.kind, key);
    if (meta == nullptr) continue;
    const std::string id = r.kind + " " + key;
    attached.insert(id);
    routes_written_.insert(id);
    tasks.push_back({id, fingerprint(r),
                     api + "/namespaces/" + r.namespace_name + resource(r.kind) + r.name,
                     meta->resource_version,
                     [r, ours, now](const json::value& cur, std::int64_t gen) {
                       return route_object_status(cur, &r, ours, gen, now);
                     }});
  }
  // Routes this term wrote entries for and that no longer attach to our Gateways.
  for (auto it = routes_written_.begin(); it != routes_written_.end();) {
    if (attached.count(*it)) {
      ++it;
      continue;
    }
    const std::string id = *it;  // "Kind ns/name"
    it = routes_written_.erase(it);
    const std::string kind = id.substr(0, id.find(' '));
    const config::object_meta* meta = route_meta(kind, id.substr(id.find(' ') + 1));
    if (meta == nullptr) {
      known_.erase(id);
      continue;
    }
    tasks.push_back(detach_task(id, kind, *meta, now));
  }
  // A new term: entries an earlier leader (or this process before) left on Routes that no
  // longer attach are found by reading each such Route once.
  // Only against a state a Snapshot was built from: a term can begin before every kind is
  // listed, and a sweep of a half-listed state would miss Routes and never come back.
  const bool sweep = sweep_ && status != nullptr;
  if (sweep) plan_sweep(attached, now, tasks);
  for (const auto& t : tasks) {
    if (!active()) co_return;
    co_await write_known(t);
  }
  if (sweep) sweep_ = false;  // every Route was read (a failed one logged)
}

gateway_status_writer::task gateway_status_writer::detach_task(const std::string& id, const std::string& kind,
                                                               const config::object_meta& meta,
                                                               const std::string& now) const {
  const std::string ours = build_.gateway_controller_name;
  return {id, "detached",
          api + "/namespaces/" + meta.namespace_name + (kind == "GRPCRoute" ? "/grpcroutes/" : "/httproutes/") +
              meta.name,
          meta.resource_version, [ours, now](const json::value& cur, std::int64_t gen) {
            return route_object_status(cur, nullptr, ours, gen, now);
          }};
}

void gateway_status_writer::plan_sweep(const std::set<std::string>& attached, const std::string& now,
                                       std::vector<task>& tasks) const {
  for (const auto& [key, rt] : state_.http_routes)
    if (!attached.count("HTTPRoute " + key)) tasks.push_back(detach_task("HTTPRoute " + key, "HTTPRoute", rt.meta, now));
  for (const auto& [key, rt] : state_.grpc_routes)
    if (!attached.count("GRPCRoute " + key)) tasks.push_back(detach_task("GRPCRoute " + key, "GRPCRoute", rt.meta, now));
}

}  // namespace portico::watch
