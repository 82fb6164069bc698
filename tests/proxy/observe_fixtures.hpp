// Routes, Snapshots and request records for the metrics and observer tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/route_table.hpp"
#include "config/snapshot.hpp"
#include "proxy/observe.hpp"

namespace portico::test {

inline std::shared_ptr<const config::route> make_route(std::uint32_t index, std::string ns,
                                                       std::string ingress, std::string service,
                                                       std::string host, std::string path) {
  auto c = std::make_shared<config::cluster>();
  c->id = ns + "/" + service + ":80";
  c->namespace_name = ns;
  c->service_name = service;
  c->service_port = "80";
  c->endpoints.push_back({"10.0.0.1", 8080, "", true});
  auto r = std::make_shared<config::route>();
  r->index = index;
  r->namespace_name = std::move(ns);
  r->ingress_name = std::move(ingress);
  r->service_name = std::move(service);
  r->service_port = "80";
  r->host = std::move(host);
  r->path = std::move(path);
  r->backend = std::move(c);
  return r;
}

// The routes, with the host table a build would make of them (rule hosts as written).
inline config::snapshot_ptr make_snapshot(std::vector<std::shared_ptr<const config::route>> routes,
                                          std::uint64_t hash = 1) {
  auto hosts = std::make_shared<config::host_table>();
  for (const auto& r : routes) hosts->add(r.get());
  return std::make_shared<const config::snapshot>(std::move(routes),
                                                  std::vector<std::shared_ptr<const config::cluster>>{},
                                                  std::move(hosts), hash);
}

// A proxied request: every upstream timing present.
inline proxy::request_record upstream_record(const config::route* r, unsigned status = 200,
                                             double seconds = 0.02) {
  proxy::request_record rec;
  rec.route = r;
  rec.host = "a.example";
  rec.method = "GET";
  rec.target = "/api/x";
  rec.remote_addr = "192.0.2.1";
  rec.request_id = "req-1";
  rec.upstream_addr = "10.0.0.1:8080";
  rec.status = status;
  rec.upstream_status = status;
  rec.request_bytes = 80;
  rec.response_bytes = 400;
  rec.request_seconds = seconds;
  rec.upstream_connect_seconds = 0.001;
  rec.upstream_header_seconds = seconds / 2;
  rec.upstream_response_seconds = seconds;
  rec.start = std::chrono::system_clock::now();
  return rec;
}

// Answered without an upstream (default backend, 4xx before routing): no upstream timings.
inline proxy::request_record local_record(const config::route* r, unsigned status) {
  proxy::request_record rec = upstream_record(r, status, 0.0001);
  rec.upstream_addr = {};
  rec.upstream_status = 0;
  rec.upstream_connect_seconds = -1;
  rec.upstream_header_seconds = -1;
  rec.upstream_response_seconds = -1;
  return rec;
}

}  // namespace portico::test
