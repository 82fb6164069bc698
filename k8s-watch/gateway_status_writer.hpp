// Writes the Gateway API status of what Portico serves through the API server, for the
// status_writer (leader only, same addresses as the Ingress status): GatewayClasses with
// our controllerName get Accepted; their Gateways get addresses, conditions and per-listener
// conditions with attachedRoutes; HTTPRoutes and GRPCRoutes attached to them get our status.parents entries.
// The content is the Snapshot's config::gateway_status (what file mode serves at
// /debug/gateway-status), rendered by gateway_status_json.hpp.
//
// Read-modify-write: GET the object, compute its new status, PUT .../status with the read
// resourceVersion only when it differs, again on 409. observedGeneration is the read
// metadata.generation; an object read at another resourceVersion than the watched copy the
// status was computed from is left for the next sync (the watch catches up first). Routes whose parents
// entries this leader wrote and that are no longer attached get ours removed; the first pass
// of a term also reads every other Route not attached (one GET each) and removes entries an
// earlier leader left there.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/fwd.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/build.hpp"
#include "config/gateway_status.hpp"
#include "k8s-watch/api_client.hpp"
#include "k8s-watch/gateway_status_json.hpp"

namespace portico::watch {

class gateway_status_writer {
 public:
  using log_fn = std::function<void(const std::string&)>;
  gateway_status_writer(api_client& client, const config::cluster_state& state,
                        const config::build_options& build, log_fn log);

  // The status of the latest Snapshot (null: nothing served).
  void set_status(std::shared_ptr<const config::gateway_status> s) { status_ = std::move(s); }
  // A new leadership term: what is in place is read again.
  void reset() {
    known_.clear();
    routes_written_.clear();
    sweep_ = true;
  }
  // One pass over every object; `active` is asked between writes (leadership, stop).
  boost::asio::awaitable<void> sync(const std::vector<std::string>& addresses,
                                    std::function<bool()> active);
  std::uint64_t writes() const { return writes_; }

 private:
  // The new status from the current one and the object's metadata.generation.
  using compute_fn =
      std::function<status_update(const boost::json::value& current_status, std::int64_t generation)>;
  struct task {
    std::string key;          // "Gateway ns/name"
    std::string fingerprint;  // what is desired, compactly
    std::string path;         // the object's API path
    std::string resource_version;  // of the state's copy the status was computed from
    compute_fn compute;
  };
  enum class outcome { done, unchanged, gone, behind };
  struct result {
    outcome what;
    std::string resource_version;  // the object's, after done / unchanged
  };
  boost::asio::awaitable<result> write(const task& t);
  boost::asio::awaitable<void> write_known(const task& t);
  // Removes our parents entries from Route `id` ("Kind ns/name").
  task detach_task(const std::string& id, const std::string& kind, const config::object_meta& meta,
                   const std::string& now) const;
  // Every Route of the state not in `attached`, once per term (sweep_).
  void plan_sweep(const std::set<std::string>& attached, const std::string& now, std::vector<task>& tasks) const;

  api_client& client_;
  const config::cluster_state& state_;
  const config::build_options& build_;
  log_fn log_;
  std::shared_ptr<const config::gateway_status> status_;
  std::map<std::string, std::string> known_;  // "Kind ns/name" -> fingerprint@resourceVersion
  std::set<std::string> routes_written_;      // Routes ("Kind ns/name") with our entries
  bool sweep_ = true;  // the next sync reads every unattached Route once (a new term)
  std::uint64_t writes_ = 0;
};

}  // namespace portico::watch
