#include "config/backends.hpp"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "config/fnv.hpp"

namespace portico::config {

std::string cluster_id(const std::string& ns, const ingress_backend& b, const upstream_tls* tls) {
  std::string id = ns;
  id += '/';
  id += b.service_name;
  id += ':';
  id += b.port.number ? std::to_string(*b.port.number) : b.port.name;
  if (!tls) return id;
  id += "+tls";
  if (tls->verify || !tls->ca_secret.empty() || !tls->server_name.empty() ||
      tls->verify_depth != 0 || tls->protocols != 0 || !tls->ciphers.empty()) {
    std::uint64_t h = fnv1a()
                          .add(tls->verify ? 1 : 0)
                          .add(tls->ca_secret)
                          .add(tls->server_name)
                          .add(tls->verify_depth)
                          .add(tls->protocols)
                          .add(tls->ciphers)
                          .value();
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    id += '-';
    id += hex;
  }
  if (upstream_tls_unusable(tls)) id += "-unusable";
  return id;
}

bool same_upstream_tls(const upstream_tls* a, const upstream_tls* b) {
  if (!a || !b) return a == b;
  return a->verify == b->verify && a->ca_pem == b->ca_pem && a->ca_secret == b->ca_secret &&
         a->server_name == b->server_name && a->client_cert_pem == b->client_cert_pem &&
         a->client_key_pem == b->client_key_pem && a->verify_depth == b->verify_depth &&
         a->protocols == b->protocols && a->ciphers == b->ciphers &&
         a->client_cert_unusable == b->client_cert_unusable;
}

std::uint64_t endpoints_version(const std::vector<endpoint>& eps) {
  fnv1a h;
  for (const auto& e : eps) h.add(e.ip).add(e.port).add(e.node_name).add(e.ready ? 1 : 0);
  return h.value();
}

cluster_builder::cluster_builder(const cluster_state& state, const snapshot* previous)
    : state_(state) {
  const std::string label(service_name_label);
  slices_by_service_.reserve(state.endpoint_slices.size());
  for (const auto& [key, slice] : state.endpoint_slices) {
    auto it = slice.meta.labels.find(label);
    if (it == slice.meta.labels.end()) continue;
    slices_by_service_[slice.meta.namespace_name + "/" + it->second].push_back(&slice);
  }
  if (previous) {
    previous_.reserve(previous->clusters().size());
    for (const auto& c : previous->clusters()) previous_.emplace(c->id, c);
  }
  done_.reserve(state.services.size());
}

cluster_builder::result cluster_builder::resolve(const std::string& ns, const ingress_backend& b,
                                                 std::shared_ptr<const upstream_tls> tls,
                                                 bool service_upstream) {
  std::string id = cluster_id(ns, b, tls.get());
  if (service_upstream) id += "+svc";
  if (auto it = done_.find(id); it != done_.end()) return it->second;
  result r = compute(ns, b, id, std::move(tls), service_upstream);
  done_.emplace(std::move(id), r);
  return r;
}

std::vector<std::shared_ptr<const cluster>> cluster_builder::clusters() const {
  std::vector<std::shared_ptr<const cluster>> out;
  out.reserve(done_.size());
  for (const auto& [id, r] : done_) out.push_back(r.backend);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  return out;
}

namespace {

const service_port* find_port(const service& svc, const service_backend_port& p) {
  for (const auto& sp : svc.ports) {
    if (p.number ? sp.port == *p.number : sp.name == p.name) return &sp;
  }
  return nullptr;
}

void sort_unique(std::vector<endpoint>& eps) {
  auto key = [](const endpoint& e) { return std::tie(e.ip, e.port); };
  std::sort(eps.begin(), eps.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
  eps.erase(std::unique(eps.begin(), eps.end(),
                        [&](const auto& a, const auto& b) { return key(a) == key(b); }),
            eps.end());
}

}  // namespace

void cluster_builder::slice_endpoints(const std::string& ns, const service& svc,
                                      const service_port& sp, std::vector<endpoint>& out,
                                      bool& has_slices) const {
  auto it = slices_by_service_.find(ns + "/" + svc.meta.name);
  has_slices = it != slices_by_service_.end();
  if (!has_slices) return;
  std::vector<endpoint> ready, fallback;
  std::size_t count = 0;
  for (const endpoint_slice* s : it->second) count += s->endpoints.size();
  ready.reserve(count);
  for (const endpoint_slice* s : it->second) {
    if (s->address_type == "FQDN") continue;  // not resolved here
    const slice_port* port = nullptr;
    for (const auto& p : s->ports) {
      if (p.name == sp.name && p.port) port = &p;
    }
    if (!port) continue;
    for (const auto& e : s->endpoints) {
      if (e.addresses.empty()) continue;
      // The API: nil ready means ready; nil serving means as ready; nil terminating false.
      bool is_ready = e.conditions.ready.value_or(true);
      bool serving = e.conditions.serving.value_or(is_ready);
      bool terminating = e.conditions.terminating.value_or(false);
      // Addresses of one endpoint are fungible: the first is the one used.
      endpoint ep{e.addresses.front(), static_cast<std::uint16_t>(*port->port), e.node_name, true};
      if (is_ready) {
        ready.push_back(std::move(ep));
      } else if (serving && terminating) {
        ep.ready = false;
        fallback.push_back(std::move(ep));
      }
    }
  }
  out = ready.empty() ? std::move(fallback) : std::move(ready);
}

void cluster_builder::legacy_endpoints(const std::string& ns, const service& svc,
                                       const service_port& sp, std::vector<endpoint>& out) const {
  auto it = state_.endpoints_list.find(ns + "/" + svc.meta.name);
  if (it == state_.endpoints_list.end()) return;
  for (const auto& subset : it->second.subsets) {
    const endpoint_port* port = nullptr;
    for (const auto& p : subset.ports) {
      if (p.name == sp.name) port = &p;
    }
    if (!port) continue;
    for (const auto& a : subset.addresses) {  // notReadyAddresses are never used
      out.push_back({a.ip, static_cast<std::uint16_t>(port->port), a.node_name, true});
    }
  }
}

cluster_builder::result cluster_builder::compute(const std::string& ns, const ingress_backend& b,
                                                 std::string id,
                                                 std::shared_ptr<const upstream_tls> tls,
                                                 bool service_upstream) {
  auto c = std::make_shared<cluster>();
  c->id = std::move(id);
  c->namespace_name = ns;
  c->service_name = b.service_name;
  c->service_port = b.port.number ? std::to_string(*b.port.number) : b.port.name;
  result r;
  auto svc_it = state_.services.find(ns + "/" + b.service_name);
  if (svc_it == state_.services.end()) {
    r.error_field = ".service.name";
    r.error = "Service " + ns + "/" + b.service_name + " not found";
  } else if (svc_it->second.type == "ExternalName") {
    r.error_field = ".service.name";
    r.error = "Service " + ns + "/" + b.service_name + " is of type ExternalName (unsupported)";
  } else if (const service_port* sp = find_port(svc_it->second, b.port); !sp) {
    r.error_field = ".service.port";
    r.error = "Service " + ns + "/" + b.service_name + " has no port " + c->service_port;
  } else if (const auto& ip = svc_it->second.cluster_ip;
             service_upstream && !ip.empty() && ip != "None") {
    c->service_upstream = true;
    c->endpoints.push_back({ip, static_cast<std::uint16_t>(sp->port), "", true});
  } else {
    if (service_upstream) {
      r.error_field = ".service.name";
      r.error = "service-upstream: Service " + ns + "/" + b.service_name +
                " has no ClusterIP; its endpoints are used";
      c->service_upstream = true;  // the id says so; the endpoints stand in
    }
    bool has_slices = false;
    slice_endpoints(ns, svc_it->second, *sp, c->endpoints, has_slices);
    if (!has_slices) legacy_endpoints(ns, svc_it->second, *sp, c->endpoints);
    sort_unique(c->endpoints);
  }
  if (upstream_tls_unusable(tls.get())) c->endpoints.clear();  // 503, never unverified
  c->tls = std::move(tls);
  c->version = endpoints_version(c->endpoints);
  if (auto prev = previous_.find(c->id);
      prev != previous_.end() && prev->second->version == c->version &&
      same_upstream_tls(prev->second->tls.get(), c->tls.get())) {
    r.backend = prev->second;  // unchanged: share it, with its identity
  } else {
    c->upstream_name = upstream_name(ns, c->service_name, c->service_port);
    c->affinity_key = md5_hex(md5_hex(c->upstream_name) + c->upstream_name);
    r.backend = std::move(c);
  }
  return r;
}

}  // namespace portico::config
