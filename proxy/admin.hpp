// The admin HTTP server (default port 10254) on the control io_context:
//   GET /healthz        200 "ok" when healthy(), else 500
//   GET /metrics        Prometheus text format (metrics_registry::render())
//   GET /debug/snapshot the live routing table as JSON (snapshot_json()), to the peers
//                       admin_options::debug allows (others: 403, or 404 when off)
//   GET /debug/gateway-status  the Gateway API status Portico computed (config/
//                       gateway_status.hpp), to the same peers
// Anything else is 404; a malformed request gets 400 and the connection is closed.
//
// The probes must be answered whatever else reaches the port: a connection has
// request_timeout to deliver a complete request (idle keep-alive waits included; the
// deadline is not restarted by each byte), and past max_connections a new connection closes
// the oldest one that is waiting for a request (or, if none waits, the oldest one).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "proxy/server_options.hpp"

namespace portico::proxy {

class metrics_registry;
struct worker_gauges;

struct admin_options {
  debug_endpoints debug = debug_endpoints::loopback;
  // 256 connections: a few KiB each while waiting; probes and scrapes need a handful.
  std::size_t max_connections = 256;
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds write_timeout{30000};
  worker_gauges* gauges = nullptr;  // accept errors of the admin listener; outlives the server
  log_fn log;
  std::function<std::string()> gateway_status_json;  // null: 404
};

class admin_server {
 public:
  // Binds and starts accepting at once. Throws boost::system::system_error on bind failure.
  admin_server(boost::asio::io_context& control, const std::string& address, std::uint16_t port,
               metrics_registry& reg, std::function<bool()> healthy,
               std::function<std::string()> snapshot_json, admin_options opts = {});
  ~admin_server();
  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  std::uint16_t port() const;  // the bound port (useful when 0 was asked)
  // Stops accepting and closes every open admin connection. Control thread only.
  void close();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace portico::proxy
