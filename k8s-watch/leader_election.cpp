#include "k8s-watch/leader_election.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <ctime>
#include <iostream>

namespace portico::watch {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using asio::use_awaitable;
using clock = std::chrono::steady_clock;

std::string default_identity() {
  if (const char* pod = std::getenv("POD_NAME"); pod && *pod) return pod;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + "_" + std::to_string(::getpid());
}

std::string micro_time_now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
            1000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(us));
  return buf;
}

leader_election::leader_election(asio::any_io_executor ex, api_client& client,
                                 leader_election_options opts, std::function<void(bool)> on_change)
    : client_(client), opts_(std::move(opts)), on_change_(std::move(on_change)), timer_(ex) {
  if (opts_.identity.empty()) opts_.identity = default_identity();
}

void leader_election::log(const std::string& m) const {
  std::string line = "leader election " + opts_.namespace_name + "/" + opts_.lease_name + ": " + m;
  if (opts_.log) {
    opts_.log(line);
  } else {
    std::cerr << line << "\n";
  }
}

std::string leader_election::lease_path() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + opts_.namespace_name + "/leases/" +
         opts_.lease_name;
}

void leader_election::set_leading(bool v) {
  if (v == leading_) return;
  leading_ = v;
  log(v ? opts_.identity + " is the leader" : opts_.identity + " is no longer the leader");
  if (on_change_) on_change_(v);
}

void leader_election::start() {
  asio::co_spawn(timer_.get_executor(), [self = shared_from_this()] { return self->run(); },
                 asio::detached);
}

void leader_election::stop(std::function<void()> done) {
  if (stopped_) {
    if (done) done();
    return;
  }
  stopped_ = true;
  on_stopped_ = std::move(done);
  timer_.cancel();
}

awaitable<void> leader_election::run() {
  while (!stopped_) {
    attempt a = attempt::failed;
    try {
      a = co_await try_acquire_or_renew();
    } catch (const std::exception& e) {
      log(e.what());
    }
    auto now = clock::now();
    if (a == attempt::acquired) {
      last_renew_ = now;
      set_leading(true);
    } else if (leading_ && (a == attempt::held_by_other || now - last_renew_ > opts_.renew_deadline)) {
      set_leading(false);
    }
    if (stopped_) break;
    timer_.expires_after(leading_ && a == attempt::acquired ? opts_.renew_interval
                                                             : opts_.retry_period);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  if (leading_) {
    try {
      co_await release();
    } catch (const std::exception& e) {
      log(std::string("release: ") + e.what());
    }
    set_leading(false);
  }
  if (on_stopped_) on_stopped_();
}

namespace {

std::string str_at(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

awaitable<leader_election::attempt> leader_election::try_acquire_or_renew() {
  auto now = clock::now();
  api_response got = co_await client_.call("GET", lease_path());
  std::string stamp = micro_time_now();
  json::object lease;
  if (got.status == 404) {
    lease = {{"apiVersion", "coordination.k8s.io/v1"},
             {"kind", "Lease"},
             {"metadata", {{"name", opts_.lease_name}, {"namespace", opts_.namespace_name}}},
             {"spec",
              {{"holderIdentity", opts_.identity},
               {"leaseDurationSeconds", opts_.lease_duration.count()},
               {"acquireTime", stamp},
               {"renewTime", stamp},
               {"leaseTransitions", 0}}}};
    std::string collection = lease_path().substr(0, lease_path().rfind('/'));
    api_response r = co_await client_.call("POST", collection, json::serialize(lease));
    if (r.status == 201 || r.status == 200) co_return attempt::acquired;
    if (r.status == 409) co_return attempt::held_by_other;
    log("create: HTTP " + std::to_string(r.status));
    co_return attempt::failed;
  }
  if (got.status != 200) {
    log("get: HTTP " + std::to_string(got.status));
    co_return attempt::failed;
  }
  lease = json::parse(got.body).as_object();
  json::object& spec = lease["spec"].is_object() ? lease["spec"].as_object()
                                                 : lease["spec"].emplace_object();
  std::string holder = str_at(spec, "holderIdentity");
  std::string record = holder + "|" + str_at(spec, "renewTime");
  if (record != observed_record_) {
    observed_record_ = record;
    observed_at_ = now;
  }
  std::chrono::seconds duration = opts_.lease_duration;
  if (auto* d = spec.if_contains("leaseDurationSeconds"); d && d->is_int64()) {
    duration = std::chrono::seconds(d->as_int64());
  }
  bool mine = holder == opts_.identity;
  if (!holder.empty() && !mine && now - observed_at_ < duration) co_return attempt::held_by_other;
  if (!mine) {
    std::int64_t transitions = 0;
    if (auto* t = spec.if_contains("leaseTransitions"); t && t->is_int64()) transitions = t->as_int64();
    spec["leaseTransitions"] = holder.empty() && transitions == 0 ? 0 : transitions + 1;
    spec["acquireTime"] = stamp;
  }
  spec["holderIdentity"] = opts_.identity;
  spec["leaseDurationSeconds"] = opts_.lease_duration.count();
  spec["renewTime"] = stamp;
  api_response r = co_await client_.call("PUT", lease_path(), json::serialize(lease));
  if (r.status == 200) {
    observed_record_ = opts_.identity + "|" + stamp;
    observed_at_ = now;
    co_return attempt::acquired;
  }
  if (r.status == 409) co_return attempt::failed;  // someone wrote in between: read again
  log("update: HTTP " + std::to_string(r.status));
  co_return attempt::failed;
}

awaitable<void> leader_election::release() {
  api_response got = co_await client_.call("GET", lease_path());
  if (got.status != 200) co_return;
  json::object lease = json::parse(got.body).as_object();
  json::object& spec = lease["spec"].as_object();
  if (str_at(spec, "holderIdentity") != opts_.identity) co_return;
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["renewTime"] = micro_time_now();
  api_response r = co_await client_.call("PUT", lease_path(), json::serialize(lease));
  log(r.status == 200 ? "released" : "release: HTTP " + std::to_string(r.status));
}

}  // namespace portico::watch
