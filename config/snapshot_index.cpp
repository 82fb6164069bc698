#include "config/snapshot_index.hpp"

#include <string_view>
#include <utility>

namespace portico::config {

std::shared_ptr<const snapshot_index> index_of(
    const std::vector<std::shared_ptr<const route>>& routes,
    const std::vector<std::shared_ptr<const cluster>>& clusters) {
  auto ix = std::make_shared<snapshot_index>();
  std::unordered_map<const cluster*, std::uint32_t> position;
  position.reserve(clusters.size());
  ix->cluster_by_id.reserve(clusters.size());
  for (std::uint32_t i = 0; i < clusters.size(); ++i) {
    const cluster& c = *clusters[i];
    position.emplace(&c, i);
    ix->cluster_by_id.emplace(c.id, i);
    std::string_view id = c.id;  // "ns/service:port..."; names never hold ':'
    std::string_view svc = id.substr(0, id.find(':'));
    auto it = ix->clusters_by_service.find(svc);
    if (it == ix->clusters_by_service.end())
      it = ix->clusters_by_service.emplace(std::string(svc), std::vector<std::uint32_t>{}).first;
    it->second.push_back(i);
  }
  // (cluster, route) pairs, counted then placed (one pass each, no per-cluster vectors).
  std::vector<std::pair<std::uint32_t, std::uint32_t>> uses;
  std::size_t first_of_route = 0;
  // Each (cluster, route) pair once: a route may name one cluster twice (backend and error
  // backend).
  auto use = [&](const cluster* c, std::uint32_t r) {
    if (!c) return;
    auto it = position.find(c);
    if (it == position.end()) return;
    for (std::size_t k = first_of_route; k < uses.size(); ++k)
      if (uses[k].first == it->second) return;
    uses.emplace_back(it->second, r);
  };
  for (std::uint32_t r = 0; r < routes.size(); ++r) {
    const route& rt = *routes[r];
    first_of_route = uses.size();
    use(rt.backend.get(), r);
    if (rt.canary) use(rt.canary->backend.get(), r);
    use(rt.error_backend.get(), r);
    for (const auto& w : rt.weighted) use(w.backend.get(), r);
    for (const auto& m : rt.mirrors) use(m.backend.get(), r);
  }
  ix->route_begin.assign(clusters.size() + 1, 0);
  for (const auto& u : uses) ++ix->route_begin[u.first + 1];
  for (std::size_t c = 0; c < clusters.size(); ++c) ix->route_begin[c + 1] += ix->route_begin[c];
  ix->route_refs.resize(uses.size());
  std::vector<std::uint32_t> next(ix->route_begin.begin(), ix->route_begin.end() - 1);
  for (const auto& u : uses) ix->route_refs[next[u.first]++] = u.second;
  return ix;
}

}  // namespace portico::config
