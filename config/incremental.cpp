#include "config/incremental.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "config/backends.hpp"
#include "config/route_table.hpp"
#include "config/snapshot_hash.hpp"
#include "config/snapshot_index.hpp"
#include "config/tls_certificate.hpp"

namespace portico::config {
namespace {

// Equal except for metadata.resourceVersion (a resync or a no-op update).
template <class T>
bool same_content(const T& before, const T& after) {
  if (before.meta.resource_version == after.meta.resource_version) return before == after;
  T copy = after;
  copy.meta.resource_version = before.meta.resource_version;
  return before == copy;
}

// An Ingress also ignores its status: it never affects routing (and the status writer's own
// writes come back as watch events).
bool same_ingress(const ingress& before, const ingress& after) {
  if (before.meta.resource_version == after.meta.resource_version &&
      before.status_addresses == after.status_addresses) {
    return before == after;
  }
  ingress copy = after;
  copy.meta.resource_version = before.meta.resource_version;
  copy.status_addresses = before.status_addresses;
  return before == copy;
}

template <class T>
const T* find_in(const object_map<T>& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? nullptr : &it->second;
}

template <class T>
bool same_in(const object_map<T>& map, const std::string& key, const T& after) {
  const T* old = find_in(map, key);
  return old && same_content(*old, after);
}

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The objects cluster_builder reads for one Service: the Service, its Endpoints, its slices.
cluster_state objects_of_service(const cluster_state& state, const std::string& key) {
  cluster_state mini;
  auto slash = key.find('/');
  std::string ns = key.substr(0, slash);
  std::string name = key.substr(slash + 1);
  if (const service* s = find_in(state.services, key)) mini.services.emplace(key, *s);
  if (const endpoints* e = find_in(state.endpoints_list, key)) mini.endpoints_list.emplace(key, *e);
  std::string prefix = ns + "/";
  const std::string label(service_name_label);
  for (auto it = state.endpoint_slices.lower_bound(prefix);
       it != state.endpoint_slices.end() && it->first.starts_with(prefix); ++it) {
    auto l = it->second.meta.labels.find(label);
    if (l != it->second.meta.labels.end() && l->second == name) {
      mini.endpoint_slices.emplace(it->first, it->second);
    }
  }
  return mini;
}

// The cluster `old` stands for, resolved again from `mini`: `fresh` is null when it did not
// change; `ok` is false when it cannot be reproduced (the full build decides then).
struct resolved {
  bool ok = false;
  std::shared_ptr<const cluster> fresh;
};

resolved resolve_again(const cluster_state& mini, const cluster& old) {
  ingress_backend b;
  b.has_service = true;
  b.service_name = old.service_name;
  if (all_digits(old.service_port)) {
    b.port.number = std::stoi(old.service_port);
  } else {
    b.port.name = old.service_port;
  }
  cluster_builder builder(mini, nullptr);
  auto r = builder.resolve(old.namespace_name, b, old.tls, old.service_upstream);
  if (!r.backend || r.backend->id != old.id) return {};
  if (r.backend->version == old.version && same_upstream_tls(r.backend->tls.get(), old.tls.get())) {
    return {true, nullptr};  // unchanged: the old one stays, with its identity
  }
  return {true, std::move(r.backend)};
}

// Whether `errors` holds the report of `c` being outside its validity period.
bool validity_reported(const std::vector<build_error>& errors, const tls_certificate& c) {
  for (const auto& e : errors) {
    if (e.kind != "Secret" || e.field != "data[tls.crt]") continue;
    if (c.secret != e.namespace_name + "/" + e.name) continue;
    if (e.message.starts_with("the certificate expired at ") ||
        e.message.starts_with("the certificate is not valid before "))
      return true;
  }
  return false;
}

// Whether a certificate of the previous build crossed a bound of its validity period since:
// the full build reports it (or stops reporting it).
bool time_sensitive(const snapshot& prev, const std::vector<build_error>& errors,
                    std::int64_t now) {
  if (now == 0) return false;
  for (const auto& c : prev.tls().certificates) {
    if (c && certificate_expiry_problem(*c, now).empty() == validity_reported(errors, *c))
      return true;
  }
  return false;
}

}  // namespace

void change_tracker::touch_slice_service(const endpoint_slice& s) {
  auto it = s.meta.labels.find(std::string(service_name_label));
  if (it != s.meta.labels.end()) endpoint_services_.insert(s.meta.namespace_name + "/" + it->second);
}

void change_tracker::before_upsert(const cluster_state& state, const any_object& obj) {
  if (full_) return;  // nothing finer matters any more until clear()
  const std::string key = object_key(meta_of(obj));
  if (const auto* o = std::get_if<ingress>(&obj)) {
    const ingress* old = find_in(state.ingresses, key);
    if (!old || !same_ingress(*old, *o)) full_ = true;
  } else if (const auto* o = std::get_if<ingress_class>(&obj)) {
    const ingress_class* old = find_in(state.ingress_classes, key);
    if (!old || !same_content(*old, *o)) full_ = true;
  } else if (const auto* o = std::get_if<secret>(&obj)) {
    const secret* old = find_in(state.secrets, key);
    if (!old || !same_content(*old, *o)) full_ = true;
  } else if (const auto* o = std::get_if<namespace_object>(&obj)) {
    // Gateway API objects (and Namespaces, for allowedRoutes): a full build, unless only the
    // resourceVersion changed (a status write, Portico's own included, or a resync).
    if (!same_in(state.namespaces, key, *o)) full_ = true;
  } else if (const auto* o = std::get_if<gateway_class>(&obj)) {
    if (!same_in(state.gateway_classes, key, *o)) full_ = true;
  } else if (const auto* o = std::get_if<gateway>(&obj)) {
    if (!same_in(state.gateways, key, *o)) full_ = true;
  } else if (const auto* o = std::get_if<http_route>(&obj)) {
    if (!same_in(state.http_routes, key, *o)) full_ = true;
  } else if (const auto* o = std::get_if<grpc_route>(&obj)) {
    if (!same_in(state.grpc_routes, key, *o)) full_ = true;
  } else if (const auto* o = std::get_if<reference_grant>(&obj)) {
    if (!same_in(state.reference_grants, key, *o)) full_ = true;
  } else if (const auto* o = std::get_if<config_map>(&obj)) {
    const config_map* old = find_in(state.config_maps, key);
    if (!old || !same_content(*old, *o)) full_ = true;
  } else if (const auto* o = std::get_if<service>(&obj)) {
    const service* old = find_in(state.services, key);
    if (!old || !same_content(*old, *o)) services_.insert(key);
  } else if (const auto* o = std::get_if<endpoint_slice>(&obj)) {
    const endpoint_slice* old = find_in(state.endpoint_slices, key);
    if (old && same_content(*old, *o)) return;
    if (old) touch_slice_service(*old);
    touch_slice_service(*o);
  } else if (const auto* o = std::get_if<endpoints>(&obj)) {
    const endpoints* old = find_in(state.endpoints_list, key);
    if (!old || !same_content(*old, *o)) endpoint_services_.insert(key);
  }
}

void change_tracker::before_erase(const cluster_state& state, object_kind kind,
                                  const std::string& key) {
  if (full_) return;
  switch (kind) {
    case object_kind::ingress: full_ = full_ || state.ingresses.count(key); break;
    case object_kind::ingress_class: full_ = full_ || state.ingress_classes.count(key); break;
    case object_kind::secret: full_ = full_ || state.secrets.count(key); break;
    case object_kind::config_map: full_ = full_ || state.config_maps.count(key); break;
    // Gateway API objects and Namespaces (allowedRoutes selectors): a full build.
    case object_kind::namespace_:
    case object_kind::gateway_class:
    case object_kind::gateway:
    case object_kind::http_route:
    case object_kind::grpc_route:
    case object_kind::reference_grant: full_ = true; break;
    case object_kind::service:
      if (state.services.count(key)) services_.insert(key);
      break;
    case object_kind::endpoint_slice:
      if (const endpoint_slice* s = find_in(state.endpoint_slices, key)) touch_slice_service(*s);
      break;
    case object_kind::endpoints:
      if (state.endpoints_list.count(key)) endpoint_services_.insert(key);
      break;
  }
}

void change_tracker::clear() {
  full_ = false;
  endpoint_services_.clear();
  services_.clear();
}

namespace {

// A copy of `r` with its replaced clusters swapped in (same index, host, path, policy, ...).
std::shared_ptr<const route> patched(
    const route& r,
    const std::unordered_map<const cluster*, std::shared_ptr<const cluster>>& replaced) {
  auto copy = std::make_shared<route>(r);
  if (auto it = replaced.find(r.backend.get()); it != replaced.end()) copy->backend = it->second;
  if (auto it = replaced.find(r.error_backend.get()); r.error_backend && it != replaced.end())
    copy->error_backend = it->second;
  for (auto& m : copy->mirrors)  // mirror-target to a Service
    if (auto it = replaced.find(m.backend.get()); it != replaced.end()) m.backend = it->second;
  if (r.canary) {
    if (auto it = replaced.find(r.canary->backend.get()); it != replaced.end()) {
      auto c = std::make_shared<canary_route>(*r.canary);
      c->backend = it->second;
      copy->canary = std::move(c);
    }
  }
  return copy;
}

}  // namespace

std::optional<build_result> build_incremental(const cluster_state& state,
                                              const build_options& opts,
                                              const snapshot_ptr& previous,
                                              const std::vector<build_error>& previous_errors,
                                              const change_tracker& changes) {
  if (changes.full() || !previous) return std::nullopt;
  const snapshot& prev = *previous;
  // HTTPRoute backends (weighted lists) are not patched here: a full build.
  if (prev.gateway_ptr()) return std::nullopt;
  // Only a Snapshot from build() carries the index (hand-made ones in tests do not).
  if (!prev.hosts_ptr() || !prev.hosts_ptr()->index) return std::nullopt;
  if (time_sensitive(prev, previous_errors, opts.now)) return std::nullopt;
  const snapshot_index& ix = *prev.hosts_ptr()->index;
  // A changed Service that a route uses may change a build error: the full build decides.
  for (const auto& svc : changes.services()) {
    if (ix.clusters_by_service.count(svc)) return std::nullopt;
  }
  // The clusters of the touched Services, resolved again: (position, new cluster).
  std::vector<std::pair<std::uint32_t, std::shared_ptr<const cluster>>> fresh;
  for (const auto& svc : changes.endpoint_services()) {
    auto it = ix.clusters_by_service.find(svc);
    if (it == ix.clusters_by_service.end()) continue;
    const cluster_state mini = objects_of_service(state, svc);
    for (std::uint32_t pos : it->second) {
      resolved r = resolve_again(mini, *prev.clusters()[pos]);
      if (!r.ok) return std::nullopt;
      if (r.fresh) fresh.emplace_back(pos, std::move(r.fresh));
    }
  }
  build_result out;
  out.errors = previous_errors;
  if (fresh.empty()) {
    out.snap = previous;
    return out;
  }
  // The hash is a sum of digests (config/snapshot_hash.hpp): swap the replaced ones.
  std::uint64_t hash = prev.hash();
  // Copies share every chunk; set() copies only the chunks it writes (config/chunked_ptrs.hpp).
  cluster_list clusters = prev.clusters();
  std::unordered_map<const cluster*, std::shared_ptr<const cluster>> replaced;
  std::vector<std::uint32_t> using_routes;
  for (auto& [pos, c] : fresh) {
    hash += cluster_digest(*c) - cluster_digest(*clusters[pos]);
    for (std::uint32_t k = ix.route_begin[pos]; k < ix.route_begin[pos + 1]; ++k)
      using_routes.push_back(ix.route_refs[k]);
    replaced.emplace(clusters[pos].get(), c);
    clusters.set(pos, std::move(c));
  }
  std::sort(using_routes.begin(), using_routes.end());
  using_routes.erase(std::unique(using_routes.begin(), using_routes.end()), using_routes.end());
  route_list routes = prev.routes();
  for (std::uint32_t pos : using_routes) {
    std::shared_ptr<const route> copy = patched(*routes[pos], replaced);
    hash += route_digest(*copy, pos) - route_digest(*routes[pos], pos);
    routes.set(pos, std::move(copy));
  }
  out.snap = std::make_shared<const snapshot>(std::move(routes), std::move(clusters),
                                              prev.hosts_ptr(), hash, prev.tls_ptr(),
                                              prev.settings_ptr());
  return out;
}

}  // namespace portico::config
