#include "k8s-watch/api_source.hpp"

#include <iostream>

namespace portico::watch {

using clock = std::chrono::steady_clock;

api_source::api_source(boost::asio::any_io_executor ex, api_client& client,
                       api_source_options opts, snapshot_fn on_snapshot)
    : client_(client), opts_(std::move(opts)), on_snapshot_(std::move(on_snapshot)), timer_(ex) {
  if (!opts_.reflector.log) opts_.reflector.log = opts_.log;
  auto specs = standard_resources(opts_.watch_namespace, opts_.configmap);
  if (opts_.watch_gateway_api) {
    for (auto& spec : gateway_api_resources(opts_.watch_namespace)) specs.push_back(std::move(spec));
  }
  for (auto& spec : specs) {
    reflectors_.push_back(std::make_shared<reflector>(ex, client_, spec, *this, opts_.reflector));
  }
}

api_source::~api_source() { stop(); }

void api_source::start() {
  for (auto& r : reflectors_) r->start();
}

void api_source::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& r : reflectors_) r->stop();
  timer_.cancel();
}

bool api_source::synced() const {
  for (auto& r : reflectors_) {
    if (!r->synced()) return false;
  }
  return true;
}

void api_source::on_built(
    std::function<void(const config::cluster_state&, const config::build_result&)> fn) {
  observers_.push_back(std::move(fn));
}

void api_source::log(const std::string& line) const {
  if (opts_.log) {
    opts_.log(line);
  } else {
    std::cerr << line << "\n";
  }
}

void api_source::replace_all(const resource_spec& spec, std::vector<config::any_object> objects) {
  changes_.before_replace_all(spec.kind);
  replace_kind(state_, spec, std::move(objects));
  changed();
}

void api_source::upsert(config::any_object obj) {
  changes_.before_upsert(state_, obj);
  config::apply(state_, std::move(obj));
  changed();
}

void api_source::erase(config::object_kind kind, const std::string& key) {
  changes_.before_erase(state_, kind, key);
  state_.erase(kind, key);
  changed();
}

void api_source::decode_failed(const config::decode_error& err) {
  log("invalid object: " + err.to_string());
}

void api_source::list_synced(config::object_kind kind) {
  if (synced()) log("all resources listed: building the first Snapshot");
  changed();
}

// One line when the Gateway API goes missing (the first absent kind names the cause), one
// when every kind is served again; the retries in between are quiet.
void api_source::resource_absent(const resource_spec& spec, int http_status) {
  const bool first = absent_.empty();
  absent_.insert(spec.plural);
  if (!first) return;
  const std::string why = http_status == 403 ? "forbidden (HTTP 403: no RBAC for it?)"
                                             : "not served (HTTP 404: CRDs not installed?)";
  const auto retry = std::chrono::duration_cast<std::chrono::seconds>(opts_.reflector.absent_retry);
  log("Gateway API: " + spec.collection_path() + " " + why + ": serving without it, " +
      "checking again every " + std::to_string(retry.count()) + " s (--watch-gateway-api=false " +
      "turns this off)");
}

void api_source::resource_present(const resource_spec& spec) {
  if (!absent_.erase(spec.plural) || !absent_.empty()) return;
  log("Gateway API: every kind is served now: watching");
}

// Re-arms the timer at min(max(now + window, last build + min interval),
// first pending change + max delay), with the endpoint window and interval while every
// pending change is endpoint-only.
void api_source::changed() {
  if (stopped_) return;
  if (changes_.empty() && !pending_) return;  // nothing Portico reads changed
  auto now = clock::now();
  if (!pending_) {
    pending_ = true;
    first_change_ = now;
  }
  const bool fast = !changes_.full() && last_;
  auto window = fast ? opts_.endpoint_coalesce_window : opts_.coalesce_window;
  auto interval = fast ? opts_.endpoint_coalesce_min_interval : opts_.coalesce_min_interval;
  auto deadline = std::min(std::max(now + window, last_build_ + interval),
                           first_change_ + opts_.coalesce_max_delay);
  std::uint64_t gen = ++generation_;
  timer_.expires_at(deadline);
  timer_.async_wait([this, gen](boost::system::error_code ec) {
    if (ec || gen != generation_ || stopped_) return;
    rebuild();
  });
}

void api_source::rebuild() {
  pending_ = false;
  if (!synced()) return;  // the last list_synced() triggers the first build
  config::build_options bo = opts_.build;
  if (bo.configmap.empty()) bo.configmap = opts_.configmap;
  bo.previous = last_;
  bo.now = opts_.unix_now ? opts_.unix_now()
                          : std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  auto t0 = clock::now();
  std::optional<config::build_result> inc;
  if (last_) inc = config::build_incremental(state_, bo, last_, last_errors_, changes_);
  config::build_result r = inc ? std::move(*inc) : config::build(state_, bo);
  changes_.clear();
  last_build_ = clock::now();
  double secs = std::chrono::duration<double>(last_build_ - t0).count();
  ++builds_;
  last_incremental_ = inc.has_value();
  if (last_incremental_) ++incremental_builds_;
  if (r.snap == last_) return;  // nothing routing-relevant changed: nothing to publish
  last_ = r.snap;
  if (!last_incremental_) {  // the endpoint-only build carries the error list over as it was
    last_errors_ = r.errors;
    std::set<std::string> now_errors;
    for (const auto& e : r.errors) {
      std::string text = e.to_string();
      if (!reported_errors_.count(text)) log("invalid: " + text);
      now_errors.insert(std::move(text));
    }
    reported_errors_ = std::move(now_errors);
  }
  if (on_snapshot_) on_snapshot_(r, secs);
  for (auto& fn : observers_) fn(state_, r);
}

}  // namespace portico::watch
