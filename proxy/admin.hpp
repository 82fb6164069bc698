// The admin HTTP server (default port 10254) on the control io_context:
//   GET /healthz        200 "ok" when healthy(), else 500
//   GET /metrics        Prometheus text format (metrics_registry::render())
//   GET /debug/snapshot the live routing table as JSON (snapshot_json())
// Anything else is 404; a malformed request gets 400 and the connection is closed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace portico::proxy {

class metrics_registry;

class admin_server {
 public:
  // Binds and starts accepting at once. Throws boost::system::system_error on bind failure.
  admin_server(boost::asio::io_context& control, const std::string& address, std::uint16_t port,
               metrics_registry& reg, std::function<bool()> healthy,
               std::function<std::string()> snapshot_json);
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
