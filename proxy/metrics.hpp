// The process-wide metrics registry behind the admin port's /metrics (control thread).
//
// Two sources are serialized together at scrape time:
//  - a prometheus::Registry with the process-level metrics (reload status, config hash, build
//    info, leader election, snapshot build time), written only by the control thread;
//  - the per-worker request shards (proxy/metric_shards.hpp): each worker_observer writes its
//    own shard without locks and the scrape sums every shard under the shard mutex.
// Names, types, labels and buckets are ingress-nginx's so its dashboards keep working.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "config/snapshot.hpp"
#include "proxy/observe.hpp"
#include "proxy/server_options.hpp"

namespace portico::proxy {

class shard_set;  // proxy/metric_shards.hpp

class metrics_registry {
 public:
  explicit metrics_registry(const server_options& opts);
  ~metrics_registry();
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  // Prometheus text exposition format 0.0.4. Sums the per-worker shards at call time. The
  // text is written into the buffer recycle() gave back, when there is one.
  std::string render();
  // A rendered text that has been sent: its buffer is kept for the next render(), whose
  // pages are then already mapped (at 2,000 label sets the text is ~45 MB; writing it into
  // fresh memory cost more CPU in page faults than the writing itself). One buffer is kept.
  void recycle(std::string&& text);

  // A Snapshot went live: config_hash, config_last_reload_successful(+timestamp) and the
  // success/errors reload counters, portico_snapshot_build_seconds. Also records the set of
  // route label sets that are live, so series of deleted Ingresses stop being exported (as
  // ingress-nginx removes them); their counters continue if the route comes back. Sets
  // ssl_expire_time_seconds for every TLS host with a usable certificate.
  void on_publish(const config::snapshot& snap, double build_seconds, bool success);
  // A source failed to produce a Snapshot; the last good one stays.
  void on_reload_failed();
  // nginx_ingress_controller_leader_election_status{name=election_id}.
  void set_leader(bool leader, const std::string& election_id = "ingress-controller-leader");
  // Extra gauges (besides each worker_observer's own) that are summed at scrape time. The
  // pointer must stay valid for the registry's lifetime.
  void add_worker_gauges(worker_gauges* g);

  // For worker_observer: the shards every observer writes into.
  shard_set& shards();
  const server_options& options() const { return opts_; }

 private:
  struct process_metrics;
  server_options opts_;
  std::unique_ptr<shard_set> shards_;
  std::unique_ptr<process_metrics> process_;
  std::mutex spare_mu_;  // render() runs on the scrape thread, recycle() where it was sent
  std::string spare_;
};

}  // namespace portico::proxy
