// `portico dns-sync` as a controller: reflectors for Ingresses (and IngressClasses, for the
// class filter) fill a ClusterState; after a change (debounced) and every resync period the
// desired records are computed, the zone is read, and the plan is applied, on a thread of
// its own (provider calls block). A failed sync is retried with backoff. With `once`, one
// sync runs after the first full list and the controller stops (exit code 1 on failure).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/cluster_state.hpp"
#include "deploy/dns-sync/desired.hpp"
#include "deploy/dns-sync/plan.hpp"
#include "deploy/dns-sync/provider.hpp"
#include "k8s-watch/reflector.hpp"

namespace portico::dnssync {

struct controller_options {
  desired_options desired;
  plan_options plan;
  std::string watch_namespace;                 // "" = all
  std::chrono::milliseconds debounce{1000};    // a burst of changes is synced once, this long after its start
  std::chrono::milliseconds resync{60000};     // full sync this often without changes (repairs drift)
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{60000};
  bool dry_run = false;  // compute and report the plan; change nothing
  bool once = false;
  std::chrono::milliseconds once_list_timeout{120000};  // once: give up when not listed by then
  std::function<void(const dnssync::plan&)> on_dry_run;  // prints the plan (default: log lines)
  watch::reflector_options reflector;
};

class dns_controller final : public watch::reflector_sink {
 public:
  dns_controller(boost::asio::io_context& io, watch::api_client& client, provider& prov,
                 controller_options opts);
  ~dns_controller() override;
  void start();
  void stop();
  int exit_code() const { return exit_code_; }
  // Called once the controller has stopped by itself (after the sync of `once`).
  void on_done(std::function<void()> fn) { on_done_ = std::move(fn); }
  std::uint64_t syncs() const { return syncs_; }

  // reflector_sink
  void replace_all(const watch::resource_spec& spec, std::vector<config::any_object> objects) override;
  void upsert(config::any_object obj) override;
  void erase(config::object_kind kind, const std::string& key) override;
  void decode_failed(const config::decode_error& err) override;
  void list_synced(config::object_kind kind) override;

 private:
  struct outcome {
    plan p;
    apply_result applied;
    std::string error;  // reading the zone failed
  };
  boost::asio::awaitable<void> run();
  outcome sync_now(const desired_state& desired);  // on the pool thread
  boost::asio::awaitable<outcome> sync_on_pool(desired_state desired);
  bool report(const outcome& o);                   // on the io thread; false: failed
  void report_skipped(const plan& p);
  void changed();
  void finish(int exit_code);  // once: stop and report
  bool synced() const;

  boost::asio::io_context& io_;
  watch::api_client& client_;
  provider& provider_;
  controller_options opts_;
  std::vector<std::shared_ptr<watch::reflector>> reflectors_;
  config::cluster_state state_;
  boost::asio::steady_timer wake_;
  boost::asio::thread_pool pool_{1};
  watch::backoff backoff_;
  bool dirty_ = true;
  bool stopped_ = false;
  int exit_code_ = 0;
  std::uint64_t syncs_ = 0;
  std::set<std::string> warned_;
  std::function<void()> on_done_;  // skipped names and notes already logged
};

}  // namespace portico::dnssync
