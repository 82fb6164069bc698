// The data plane: worker threads (one io_context each, SO_REUSEPORT listener each), the admin
// server on the control io_context, and Snapshot publishing by posting to every worker.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "config/snapshot.hpp"
#include "proxy/server_options.hpp"

namespace portico::proxy {

struct publish_info {
  double build_seconds = 0;
  std::size_t error_count = 0;  // per-object errors of this build (the Snapshot is still good)
};

class server {
 public:
  // `control` is the control thread's io_context: the admin server and signal handling run
  // on it, beside the configuration sources. The caller runs it.
  server(boost::asio::io_context& control, server_options opts);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds every listener and starts the worker threads. Throws on bind failure.
  void start();

  // Control thread only. Posts the Snapshot to every worker; the first publish makes /healthz
  // ok. Marks the last reload successful.
  void publish(config::snapshot_ptr snap, const publish_info& info);
  // Control thread only. A source failed to produce a Snapshot: the last good one stays;
  // config_last_reload_successful becomes 0.
  void reload_failed();
  // Control thread only. Leader election changed (nginx_ingress_controller_leader_election_status).
  void set_leader(bool leading, const std::string& election_id);

  // SIGTERM/SIGINT begin a graceful shutdown (the server installs the handlers). When it is
  // complete, `control` runs out of server work and on_stopped is called on the control thread.
  void on_stopped(std::function<void()> fn);

  std::uint16_t http_port() const;   // actual port (when 0 was asked)
  std::uint16_t https_port() const;  // 0 when HTTPS is off
  std::uint16_t admin_port() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace portico::proxy
