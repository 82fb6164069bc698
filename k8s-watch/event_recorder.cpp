#include "k8s-watch/event_recorder.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace portico::watch {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

std::string rfc3339(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string warning_event_json(const config::build_error& e, const config::ingress& ing,
                               const event_recorder_options& opts, std::int64_t now,
                               std::uint64_t serial) {
  const bool annotation = e.field.starts_with("metadata.annotations");
  // client-go names Events "<object>.<hex nanoseconds>"; the serial keeps two of one build apart.
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".%llx%04llx", static_cast<unsigned long long>(now),
                static_cast<unsigned long long>(serial & 0xffff));
  const std::string stamp = rfc3339(now);
  json::object ev{
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", json::object{{"name", e.name + suffix}, {"namespace", e.namespace_name}}},
      {"involvedObject", json::object{{"apiVersion", "networking.k8s.io/v1"},
                                      {"kind", "Ingress"},
                                      {"namespace", e.namespace_name},
                                      {"name", e.name},
                                      {"uid", ing.meta.uid},
                                      {"resourceVersion", ing.meta.resource_version}}},
      {"reason", annotation ? "AnnotationParsingFailed" : "Invalid"},
      {"message", (e.field.empty() ? std::string() : e.field + ": ") + e.message},
      {"type", "Warning"},
      {"source", json::object{{"component", opts.component}}},
      {"reportingComponent", opts.component},
      {"reportingInstance", opts.pod_name},
      {"firstTimestamp", stamp},
      {"lastTimestamp", stamp},
      {"count", 1},
  };
  return json::serialize(ev);
}

event_recorder::event_recorder(asio::any_io_executor ex, api_client& client,
                               event_recorder_options opts)
    : ex_(std::move(ex)), client_(client), opts_(std::move(opts)) {}

void event_recorder::log(const std::string& line) const {
  if (opts_.log) opts_.log(line);
  else std::cerr << line << "\n";
}

void event_recorder::stop() {
  stopped_ = true;
  queue_.clear();
}

void event_recorder::built(const config::cluster_state& state, const config::build_result& r) {
  if (stopped_) return;
  const std::int64_t now =
      opts_.unix_now ? opts_.unix_now()
                     : std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  std::set<std::string> now_known;
  std::size_t queued = 0, skipped = 0;
  for (const auto& e : r.errors) {
    if (e.kind != "Ingress") continue;
    std::string text = e.to_string();
    if (known_.contains(text) || now_known.contains(text)) {
      now_known.insert(std::move(text));
      continue;
    }
    auto it = state.ingresses.find(e.namespace_name + "/" + e.name);
    if (it == state.ingresses.end()) continue;
    if (queued == opts_.max_per_build) {
      ++skipped;
    } else {
      queue_.push_back({e.namespace_name, warning_event_json(e, it->second, opts_, now, ++serial_), text});
      ++queued;
    }
    now_known.insert(std::move(text));
  }
  known_ = std::move(now_known);
  if (skipped > 0)
    log("events: " + std::to_string(skipped) + " more Ingress errors than the " +
              std::to_string(opts_.max_per_build) + " Events recorded per build (logged only)");
  if (!queue_.empty() && !draining_) {
    draining_ = true;
    asio::co_spawn(ex_, [self = shared_from_this()] { return self->drain(); }, asio::detached);
  }
}

asio::awaitable<void> event_recorder::drain() {
  while (!queue_.empty() && !stopped_) {
    pending p = std::move(queue_.front());
    queue_.pop_front();
    try {
      api_response r = co_await client_.call("POST", "/api/v1/namespaces/" + p.ns + "/events",
                                             std::move(p.body));
      if (r.status == 201 || r.status == 200) {
        ++recorded_;
      } else {
        log("events: recording \"" + p.what + "\" failed: HTTP " + std::to_string(r.status));
      }
    } catch (const std::exception& ex) {
      log("events: recording \"" + p.what + "\" failed: " + ex.what());
    }
  }
  draining_ = false;
}

}  // namespace portico::watch
