// The Kubernetes side of `portico serve` in one object: the API client (from --kubeconfig,
// in-cluster configuration or --apiserver-host), the api_source (reflectors, coalesced
// rebuilds), the Warning Events on invalid Ingresses, and, with --update-status, the Lease
// election and the Ingress status writer.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "k8s-watch/api_source.hpp"
#include "k8s-watch/event_recorder.hpp"
#include "k8s-watch/kube_config.hpp"
#include "k8s-watch/leader_election.hpp"
#include "k8s-watch/status_writer.hpp"

namespace portico::watch {

struct controller_options {
  kube_config_flags kube;        // --kubeconfig, --context, --apiserver-host
  api_source_options source;     // --watch-namespace, --configmap, classes, coalescing
  bool update_status = true;     // --update-status
  leader_election_options election;  // lease_name from --election-id; namespace: the pod's
  status_writer_options status;  // --publish-status-address, --publish-service
  // Warning Events on Ingresses with errors (every replica, like ingress-nginx's).
  bool record_events = true;
};

class controller {
 public:
  // on_snapshot: every rebuild (after the first full sync). on_leader: leadership changes
  // (for nginx_ingress_controller_leader_election_status). Both on `io`'s thread.
  controller(boost::asio::io_context& io, controller_options opts,
             api_source::snapshot_fn on_snapshot, std::function<void(bool)> on_leader = {});
  ~controller();
  void start();
  // Stops watching, releases the Lease when leading, then calls done.
  void stop(std::function<void()> done = {});
  bool synced() const { return source_->synced(); }
  api_source& source() { return *source_; }
  const kube_config& config() const { return client_->config(); }

 private:
  controller_options opts_;
  std::unique_ptr<api_client> client_;
  std::unique_ptr<api_source> source_;
  std::shared_ptr<leader_election> election_;
  std::shared_ptr<status_writer> status_;
  std::shared_ptr<event_recorder> events_;
  bool stopping_ = false;
};

}  // namespace portico::watch
