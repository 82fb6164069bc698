// The live source: one reflector per resource feeding one ClusterState, events coalesced into
// one rebuild (short window, bounded maximum delay), no Snapshot before every reflector has
// listed once. Runs on the control thread's executor.
//
// Every event is recorded in a config::change_tracker before it is applied. When only
// endpoints changed since the last build (EndpointSlices, Endpoints, Services nothing routes
// to) the rebuild is config::build_incremental (a few ms at 10,000 Ingresses) on a shorter
// coalescing schedule; anything else runs the full config::build(). Events that change
// nothing Portico reads (resyncs, Ingress status) rebuild nothing.
//
// Lifetime: stop() closes the watches and timers; the object must outlive the executor's
// run() (the pending coroutines finish during the next turns of the loop).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/build.hpp"
#include "config/incremental.hpp"
#include "k8s-watch/reflector.hpp"

namespace portico::watch {

struct api_source_options {
  std::string watch_namespace;  // --watch-namespace ("" = all)
  std::string configmap;        // --configmap "ns/name" ("" = none)
  config::build_options build;  // controller/ingress class; `previous` is managed here
  // --watch-gateway-api: also watch the Gateway API kinds and Namespaces (gateway_api_resources:
  // a cluster without the CRDs or the RBAC for them keeps serving Ingress).
  bool watch_gateway_api = true;
  // Coalescing: a rebuild runs once events have been quiet for `coalesce_window`, never
  // sooner than `coalesce_min_interval` after the previous rebuild, and at the latest
  // `coalesce_max_delay` after the first pending change (a steady stream cannot starve it).
  std::chrono::milliseconds coalesce_window{20};
  std::chrono::milliseconds coalesce_min_interval{100};
  std::chrono::milliseconds coalesce_max_delay{1000};
  // The same for a pending change that is endpoint-only (the incremental build).
  std::chrono::milliseconds endpoint_coalesce_window{5};
  std::chrono::milliseconds endpoint_coalesce_min_interval{25};
  // build_options::now for each build (certificate expiry); default: the system clock.
  std::function<std::int64_t()> unix_now;
  reflector_options reflector;
  std::function<void(const std::string&)> log;  // default: stderr
};

class api_source final : public reflector_sink {
 public:
  // Called on the executor after each rebuild, with the build's duration in seconds.
  using snapshot_fn = std::function<void(const config::build_result&, double build_seconds)>;

  api_source(boost::asio::any_io_executor ex, api_client& client, api_source_options opts,
             snapshot_fn on_snapshot);
  ~api_source() override;
  api_source(const api_source&) = delete;
  api_source& operator=(const api_source&) = delete;

  void start();
  void stop();

  // Every reflector has completed its first list.
  bool synced() const;
  const config::cluster_state& state() const { return state_; }
  const config::build_options& build_options() const { return opts_.build; }
  config::snapshot_ptr current() const { return last_; }
  std::uint64_t builds() const { return builds_; }
  std::uint64_t incremental_builds() const { return incremental_builds_; }
  // Whether the last build was the endpoint-only one.
  bool last_build_incremental() const { return last_incremental_; }

  // Extra observers of each rebuild (the status writer), called after on_snapshot.
  void on_built(std::function<void(const config::cluster_state&, const config::build_result&)> fn);

  // reflector_sink
  void replace_all(const resource_spec& spec, std::vector<config::any_object> objects) override;
  void upsert(config::any_object obj) override;
  void erase(config::object_kind kind, const std::string& key) override;
  void decode_failed(const config::decode_error& err) override;
  void list_synced(config::object_kind kind) override;
  void resource_absent(const resource_spec& spec, int http_status) override;
  void resource_present(const resource_spec& spec) override;
  // The optional resources the API server does not serve (or allow) now, by plural.
  const std::set<std::string>& absent() const { return absent_; }

 private:
  void changed();
  void rebuild();
  void log(const std::string& line) const;

  api_client& client_;
  api_source_options opts_;
  snapshot_fn on_snapshot_;
  std::vector<std::function<void(const config::cluster_state&, const config::build_result&)>>
      observers_;
  std::vector<std::shared_ptr<reflector>> reflectors_;
  config::cluster_state state_;
  config::change_tracker changes_;  // since the last build
  config::snapshot_ptr last_;
  std::vector<config::build_error> last_errors_;
  boost::asio::steady_timer timer_;
  bool pending_ = false;
  std::uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point first_change_{};
  std::chrono::steady_clock::time_point last_build_{};
  std::uint64_t builds_ = 0;
  std::uint64_t incremental_builds_ = 0;
  bool last_incremental_ = false;
  std::set<std::string> reported_errors_;
  std::set<std::string> absent_;
  bool stopped_ = false;
};

}  // namespace portico::watch
