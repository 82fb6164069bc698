// Writes status.loadBalancer.ingress of every served Ingress while this process leads, and
// (gateway_status_writer.hpp) the status of Portico's GatewayClasses, Gateways and HTTPRoutes.
// Addresses: --publish-status-address when given; else --publish-service's load-balancer
// status, external IPs or the node addresses of its endpoints; else the host IPs of the pods
// that carry this pod's labels. Writes only what differs from the object's current status
// (read before writing), PUT to .../status with the read resourceVersion, retried on 409.
// When an Ingress whose status this leader wrote stops being served (its class changed, or
// its IngressClass was deleted), the leader clears that status again, unless it has been
// changed by someone else meanwhile. (A new leader does not know what an earlier one wrote:
// it clears nothing it did not write itself.)
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/build.hpp"
#include "k8s-watch/api_client.hpp"
#include "k8s-watch/gateway_status_writer.hpp"

namespace portico::watch {

struct status_writer_options {
  std::vector<std::string> publish_addresses;  // IPs or host names
  std::string publish_service;                 // "ns/name"
  std::string pod_name;                        // $POD_NAME
  std::string pod_namespace;                   // $POD_NAMESPACE
  std::chrono::milliseconds resync{30000};     // addresses re-resolved and checked this often
  std::function<void(const std::string&)> log;
};

// [{"ip": ...} | {"hostname": ...}] for a list of addresses (sorted, deduplicated).
std::string load_balancer_json(std::vector<std::string> addresses);

class status_writer : public std::enable_shared_from_this<status_writer> {
 public:
  // `state` and `build` (the class filter) are read on the executor whenever a sync runs.
  status_writer(boost::asio::any_io_executor ex, api_client& client,
                const config::cluster_state& state, const config::build_options& build,
                status_writer_options opts);
  void start();
  void stop();
  void set_leader(bool leader);
  void state_changed();  // after a rebuild: new or changed Ingresses may need a status
  // After a rebuild: the Gateway API status of the new Snapshot (written with the same
  // addresses, by gateway_status_writer).
  void set_gateway_status(std::shared_ptr<const config::gateway_status> s) {
    gateway_.set_status(std::move(s));
  }
  std::uint64_t gateway_writes() const { return gateway_.writes(); }
  std::uint64_t writes() const { return writes_; }

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<std::vector<std::string>> addresses();
  boost::asio::awaitable<void> sync(const std::string& desired);
  // Writes `desired` unless it is in place; with `only_if`, only when the current status
  // is exactly that. Returns true when done (or nothing to do), false when the Ingress is
  // gone or conflicts persisted.
  boost::asio::awaitable<bool> write_one(const std::string& ns, const std::string& name,
                                         const std::string& desired,
                                         const std::string* only_if = nullptr);
  void log(const std::string& m) const;

  api_client& client_;
  const config::cluster_state& state_;
  const config::build_options& build_;
  status_writer_options opts_;
  boost::asio::steady_timer wake_;
  bool leader_ = false;
  bool dirty_ = true;
  bool stopped_ = false;
  std::map<std::string, std::string> known_;  // key -> status known to be in place (ours)
  std::uint64_t writes_ = 0;
  gateway_status_writer gateway_;
};

}  // namespace portico::watch
