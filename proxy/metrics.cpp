#include "proxy/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <map>
#include <sstream>

#include "proxy/metric_shards.hpp"
#include "proxy/process_stats.hpp"

#ifndef PORTICO_RELEASE
#define PORTICO_RELEASE "0.1.0"
#endif
#ifndef PORTICO_BUILD
#define PORTICO_BUILD "unknown"
#endif
#ifndef PORTICO_REPOSITORY
#define PORTICO_REPOSITORY "portico"
#endif

namespace portico::proxy {

namespace {

const std::string prefix = "nginx_ingress_controller_";

prometheus::Labels controller_const_labels(const server_options& o) {
  return {{"controller_namespace", o.controller_namespace},
          {"controller_class", o.controller_class},
          {"controller_pod", o.controller_pod}};
}

double unix_now() {
  using namespace std::chrono;
  return static_cast<double>(duration_cast<seconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace

// Everything the control thread writes; a prometheus::Registry serializes it.
struct metrics_registry::process_metrics {
  // The host table of the Snapshot the live route labels were taken from (held, so a new
  // table never takes its address).
  std::shared_ptr<const config::host_table> live_from;
  explicit process_metrics(const server_options& o) {
    auto cl = controller_const_labels(o);
    auto gauge = [&](const std::string& name, const std::string& help) -> prometheus::Gauge& {
      return prometheus::BuildGauge().Name(prefix + name).Help(help).Labels(cl).Register(registry).Add({});
    };
    auto counter = [&](const std::string& name, const std::string& help) -> prometheus::Counter& {
      return prometheus::BuildCounter().Name(prefix + name).Help(help).Register(registry).Add(cl);
    };
    config_hash = &gauge("config_hash", "Running configuration hash actually running");
    reload_ok = &gauge("config_last_reload_successful",
                       "Whether the last configuration reload attempt was successful");
    reload_ok_time = &gauge("config_last_reload_successful_timestamp_seconds",
                            "Timestamp of the last successful configuration reload.");
    reloads = &counter("success", "Cumulative number of Ingress controller reload operations");
    reload_errors = &counter("errors",
                             "Cumulative number of Ingress controller errors during reload operations");
    auto info_labels = cl;
    info_labels.emplace("release", PORTICO_RELEASE);
    info_labels.emplace("build", PORTICO_BUILD);
    info_labels.emplace("repository", PORTICO_REPOSITORY);
    prometheus::BuildGauge()
        .Name(prefix + "build_info")
        .Help("A metric with a constant '1' labeled with information about the build.")
        .Register(registry)
        .Add(info_labels)
        .Set(1);
    leader = &prometheus::BuildGauge()
                  .Name(prefix + "leader_election_status")
                  .Help("Gauge reporting status of the leader election, 0 indicates follower, 1 "
                        "indicates leader. 'name' is the string used to identify the lease")
                  .Labels(cl)
                  .Register(registry);
    ssl_expire = &prometheus::BuildGauge()
                      .Name(prefix + "ssl_expire_time_seconds")
                      .Help("Number of seconds since 1970 to the SSL Certificate expire. An "
                            "example to check if this certificate will expire in 10 days is: "
                            "\"nginx_ingress_controller_ssl_expire_time_seconds < (time() + (10 "
                            "* 24 * 3600))\"")
                      .Labels(cl)
                      .Register(registry);
    build_seconds = &prometheus::BuildGauge()
                         .Name("portico_snapshot_build_seconds")
                         .Help("Seconds spent building the last published Snapshot")
                         .Labels(cl)
                         .Register(registry)
                         .Add({});
  }

  prometheus::Registry registry;
  prometheus::Gauge* config_hash = nullptr;
  prometheus::Gauge* reload_ok = nullptr;
  prometheus::Gauge* reload_ok_time = nullptr;
  prometheus::Counter* reloads = nullptr;
  prometheus::Counter* reload_errors = nullptr;
  prometheus::Family<prometheus::Gauge>* leader = nullptr;
  prometheus::Gauge* build_seconds = nullptr;
  prometheus::Family<prometheus::Gauge>* ssl_expire = nullptr;
  std::map<std::string, prometheus::Gauge*> ssl_expire_live;  // by "host\nnamespace/secret"

  void set_certificates(const config::snapshot& snap);
};

// One series per TLS host and usable certificate (hosts on the default certificate have none;
// a host with an RSA and an ECDSA Secret has two), labelled like ingress-nginx's: namespace and
// secret_name of the Secret, host.
void metrics_registry::process_metrics::set_certificates(const config::snapshot& snap) {
  std::map<std::string, prometheus::Gauge*> live;
  for (const auto& [host, set] : snap.tls().by_host) {
    for (const auto& cert : set) {
      const auto slash = cert->secret.find('/');
      const std::string ns = slash == std::string::npos ? "" : cert->secret.substr(0, slash);
      const std::string name =
          slash == std::string::npos ? cert->secret : cert->secret.substr(slash + 1);
      auto* g = &ssl_expire->Add({{"namespace", ns}, {"host", host}, {"secret_name", name}});
      g->Set(static_cast<double>(cert->not_after));
      std::string key = host + '\n' + cert->secret;  // one key per label set
      ssl_expire_live.erase(key);                     // still served: not removed below
      live.emplace(std::move(key), g);
    }
  }
  for (auto& [key, g] : ssl_expire_live) ssl_expire->Remove(g);  // labels no longer served
  ssl_expire_live = std::move(live);
}

metrics_registry::metrics_registry(const server_options& opts)
    : opts_(opts),
      shards_(std::make_unique<shard_set>(
          controller_labels{opts.controller_namespace, opts.controller_class,
                            opts.controller_pod},
          resolve_metric_options(opts))),
      process_(std::make_unique<process_metrics>(opts)) {}

metrics_registry::~metrics_registry() = default;

shard_set& metrics_registry::shards() { return *shards_; }

std::string metrics_registry::render() {
  auto serialize = [](std::string& out, const std::vector<prometheus::MetricFamily>& families) {
    std::ostringstream text;
    prometheus::TextSerializer().Serialize(text, families);
    out += text.view();
  };
  std::string out;
  {
    std::lock_guard lock(spare_mu_);
    out.swap(spare_);
  }
  out.clear();
  serialize(out, process_->registry.Collect());
  shards_->render(out);  // most of the text: the request families, written without copies
  serialize(out, collect_process_stats(shards_->labels()));
  return out;
}

void metrics_registry::recycle(std::string&& text) {
  std::lock_guard lock(spare_mu_);
  if (text.capacity() > spare_.capacity()) spare_ = std::move(text);
}

void metrics_registry::on_publish(const config::snapshot& snap, double build_seconds,
                                  bool success) {
  process_->build_seconds->Set(build_seconds);
  // The hash of the configuration actually running (the gauge is a double, as in
  // ingress-nginx, so very large hashes lose their low bits).
  process_->config_hash->Set(static_cast<double>(snap.hash()));
  if (success) {
    process_->reload_ok->Set(1);
    process_->reload_ok_time->Set(unix_now());
    process_->reloads->Increment();
  } else {
    process_->reload_ok->Set(0);
    process_->reload_errors->Increment();
  }
  // An endpoint-only successor (config/incremental.hpp) shares the host table, and with it
  // every route's labels: the live label sets stay (50,000 routes: most of a change's CPU).
  if (snap.hosts_ptr() == nullptr || snap.hosts_ptr() != process_->live_from) {
    shards_->set_live_routes(snap);
    process_->live_from = snap.hosts_ptr();
  }
  process_->set_certificates(snap);
}

void metrics_registry::on_reload_failed() {
  process_->reload_ok->Set(0);
  process_->reload_errors->Increment();
}

void metrics_registry::set_leader(bool leader, const std::string& election_id) {
  process_->leader->Add({{"name", election_id}}).Set(leader ? 1 : 0);
}

void metrics_registry::add_worker_gauges(worker_gauges* g) { shards_->add_gauges(g); }

}  // namespace portico::proxy
