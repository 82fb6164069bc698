#include "deploy/dns-sync/controller.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/decode.hpp"
#include "deploy/dns-sync/log.hpp"

namespace portico::dnssync {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using config::object_kind;

dns_controller::dns_controller(asio::io_context& io, watch::api_client& client, provider& prov,
                               controller_options opts)
    : io_(io), client_(client), provider_(prov), opts_(std::move(opts)), wake_(io),
      backoff_(opts_.backoff_base, opts_.backoff_cap) {
  if (!opts_.reflector.log) opts_.reflector.log = [](const std::string& m) { log_line("info", m); };
  const std::string net = "/apis/networking.k8s.io/v1";
  std::vector<watch::resource_spec> specs{
      {object_kind::ingress, net, "ingresses", true, opts_.watch_namespace, ""}};
  if (!opts_.desired.all_classes)
    specs.push_back({object_kind::ingress_class, net, "ingressclasses", false, "", ""});
  for (auto& spec : specs)
    reflectors_.push_back(std::make_shared<watch::reflector>(io.get_executor(), client_, spec, *this, opts_.reflector));
}

dns_controller::~dns_controller() {
  stop();
  pool_.join();
}

void dns_controller::start() {
  for (auto& r : reflectors_) r->start();
  asio::co_spawn(io_, run(), asio::detached);
}

void dns_controller::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& r : reflectors_) r->stop();
  wake_.cancel();
}

bool dns_controller::synced() const {
  for (const auto& r : reflectors_)
    if (!r->synced()) return false;
  return true;
}

void dns_controller::changed() {
  bool was_dirty = dirty_;
  dirty_ = true;
  if (!was_dirty || !synced()) wake_.cancel();
}

void dns_controller::replace_all(const watch::resource_spec& spec,
                                 std::vector<config::any_object> objects) {
  watch::replace_kind(state_, spec, std::move(objects));
  changed();
}

void dns_controller::upsert(config::any_object obj) {
  config::apply(state_, std::move(obj));
  changed();
}

void dns_controller::erase(object_kind kind, const std::string& key) {
  state_.erase(kind, key);
  changed();
}

void dns_controller::decode_failed(const config::decode_error& err) {
  log_line("warn", "invalid object ignored", {{"error", err.to_string()}});
}

void dns_controller::list_synced(object_kind) { changed(); }

dns_controller::outcome dns_controller::sync_now(const desired_state& desired) {
  outcome o;
  try {
    zone_records current = provider_.read();
    o.p = make_plan(desired, current, opts_.plan);
    if (!opts_.dry_run) o.applied = provider_.apply(o.p);
  } catch (const std::exception& e) {
    o.error = e.what();
  }
  return o;
}

// A coroutine (not a capturing lambda): its parameter lives in its own frame.
asio::awaitable<dns_controller::outcome> dns_controller::sync_on_pool(desired_state desired) {
  co_return sync_now(desired);
}

void dns_controller::report_skipped(const plan& p) {
  std::set<std::string> now;
  for (const auto& s : p.skipped) {
    std::string key = "skip " + s.name + " " + s.reason;
    now.insert(key);
    if (warned_.insert(key).second)
      log_line("warn", "name not owned by this dns-sync: left alone", {{"name", s.name}, {"reason", s.reason}});
  }
  std::erase_if(warned_, [&](const std::string& k) { return k.starts_with("skip ") && !now.count(k); });
}

bool dns_controller::report(const outcome& o) {
  if (!o.error.empty()) {
    log_line("error", "dns sync failed", {{"error", o.error}, {"provider", provider_.describe()}});
    return false;
  }
  report_skipped(o.p);
  if (opts_.dry_run) {
    if (opts_.on_dry_run) opts_.on_dry_run(o.p);
    else
      for (const auto& c : o.p.changes) log_line("info", "planned change (dry run)", {{"change", describe(c)}});
    return true;
  }
  for (const auto& e : o.applied.errors) log_line("error", "dns change failed", {{"error", e}});
  for (const auto& c : o.p.changes)
    if (!o.applied.failed.count(c.name)) log_line("info", "dns records changed", {{"name", c.name}, {"change", describe(c)}});
  return o.applied.errors.empty();
}

void dns_controller::finish(int code) {
  exit_code_ = code;
  stop();
  client_.shutdown();
  if (on_done_) on_done_();
}

asio::awaitable<void> dns_controller::run() {
  boost::system::error_code ec;
  auto next_resync = clock::now() + opts_.resync;
  const auto list_deadline = opts_.once ? clock::now() + opts_.once_list_timeout : clock::time_point::max();
  while (!stopped_) {
    if (!synced() || !dirty_) {
      wake_.expires_at(synced() ? next_resync : list_deadline);
      co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (synced() && clock::now() >= next_resync) dirty_ = true;
      if (!synced() && clock::now() >= list_deadline) {
        log_line("error", "the Kubernetes API objects were not listed in time",
                 {{"timeout_seconds", std::to_string(opts_.once_list_timeout.count() / 1000)}});
        finish(1);
        break;
      }
      continue;
    }
    if (!opts_.once && opts_.debounce.count() > 0) {
      wake_.expires_after(opts_.debounce);
      co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stopped_) break;
    }
    dirty_ = false;
    std::vector<std::string> notes;
    desired_state desired = desired_records(state_, opts_.desired, &notes);
    for (const auto& n : notes)
      if (warned_.insert("note " + n).second) log_line("warn", n);
    outcome o = co_await asio::co_spawn(pool_, sync_on_pool(std::move(desired)), asio::use_awaitable);
    ++syncs_;
    bool ok = report(o);
    next_resync = clock::now() + opts_.resync;
    if (opts_.once) {
      finish(ok ? 0 : 1);
      break;
    }
    if (ok) {
      backoff_.reset();
      continue;
    }
    dirty_ = true;
    auto wait = backoff_.next();
    log_line("info", "retrying the dns sync", {{"after_ms", std::to_string(wait.count())}});
    wake_.expires_after(wait);
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace portico::dnssync
