#include "k8s-watch/controller.hpp"

#include <cstdlib>

#include "config/snapshot.hpp"

namespace portico::watch {

controller::controller(boost::asio::io_context& io, controller_options opts,
                       api_source::snapshot_fn on_snapshot, std::function<void(bool)> on_leader)
    : opts_(std::move(opts)) {
  kube_config cfg = resolve_kube_config(opts_.kube);
  client_ = std::make_unique<api_client>(io.get_executor(), cfg);
  source_ = std::make_unique<api_source>(io.get_executor(), *client_, opts_.source,
                                         std::move(on_snapshot));
  if (opts_.status.pod_name.empty()) {
    if (const char* p = std::getenv("POD_NAME")) opts_.status.pod_name = p;
  }
  if (opts_.record_events) {
    event_recorder_options eo;
    eo.pod_name = opts_.status.pod_name;
    eo.log = opts_.source.log;
    events_ = std::make_shared<event_recorder>(io.get_executor(), *client_, std::move(eo));
    source_->on_built([events = events_](const config::cluster_state& st, const config::build_result& r) {
      events->built(st, r);
    });
  }
  if (!opts_.update_status) return;
  if (opts_.status.pod_namespace.empty()) opts_.status.pod_namespace = cfg.namespace_name;
  if (!opts_.status.log) opts_.status.log = opts_.source.log;
  status_ = std::make_shared<status_writer>(io.get_executor(), *client_, source_->state(),
                                            source_->build_options(), opts_.status);
  if (opts_.election.namespace_name == "default" || opts_.election.namespace_name.empty()) {
    opts_.election.namespace_name = cfg.namespace_name;
  }
  if (!opts_.election.log) opts_.election.log = opts_.source.log;
  election_ = std::make_shared<leader_election>(
      io.get_executor(), *client_, opts_.election,
      [status = status_, on_leader = std::move(on_leader)](bool leading) {
        status->set_leader(leading);
        if (on_leader) on_leader(leading);
      });
  source_->on_built([status = status_](const config::cluster_state&, const config::build_result& r) {
    if (r.snap) status->set_gateway_status(r.snap->gateway_status_ptr());
    status->state_changed();
  });
}

controller::~controller() {
  if (events_) events_->stop();
  if (election_) election_->stop();
  if (status_) status_->stop();
  source_->stop();
  client_->shutdown();
}

void controller::start() {
  source_->start();
  if (election_) election_->start();
  if (status_) status_->start();
}

void controller::stop(std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  source_->stop();
  if (events_) events_->stop();
  if (status_) status_->stop();
  auto finish = [this, done = std::move(done)] {
    client_->shutdown();
    if (done) done();
  };
  if (election_) {
    election_->stop(std::move(finish));
  } else {
    finish();
  }
}

}  // namespace portico::watch
