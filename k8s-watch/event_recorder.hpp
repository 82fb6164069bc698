// Warning Events on the Ingresses a build found errors in, as ingress-nginx records them
// (`kubectl describe ingress` shows them): reason AnnotationParsingFailed for an annotation
// (metadata.annotations[...]), Invalid for anything else in the Ingress; the message is the
// error with its field. Each error is recorded once while it persists: a build that still has
// it records nothing, one that fixed it forgets it (so it is recorded again if it returns).
// At most `max_per_build` new Events per build (the rest are only logged, as every error
// is), written one at a time in the background; a failed write is logged and not retried.
// Every replica records, as ingress-nginx's do; reportingInstance says which.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "config/build.hpp"
#include "config/cluster_state.hpp"
#include "k8s-watch/api_client.hpp"

namespace portico::watch {

struct event_recorder_options {
  std::string pod_name;                 // reportingInstance; $POD_NAME
  std::string component = "portico";   // source.component
  std::size_t max_per_build = 50;
  std::function<void(const std::string&)> log;
  std::function<std::int64_t()> unix_now;  // default: the system clock
};

// The Event object for an error of `ing` (v1 core Event, JSON).
std::string warning_event_json(const config::build_error& e, const config::ingress& ing,
                               const event_recorder_options& opts, std::int64_t now,
                               std::uint64_t serial);

class event_recorder : public std::enable_shared_from_this<event_recorder> {
 public:
  event_recorder(boost::asio::any_io_executor ex, api_client& client, event_recorder_options opts);
  // After each build, on the executor.
  void built(const config::cluster_state& state, const config::build_result& r);
  void stop();
  std::uint64_t recorded() const { return recorded_; }

 private:
  struct pending {
    std::string ns;
    std::string body;
    std::string what;  // for the log
  };
  boost::asio::awaitable<void> drain();
  void log(const std::string& line) const;

  boost::asio::any_io_executor ex_;
  api_client& client_;
  event_recorder_options opts_;
  std::set<std::string> known_;  // error texts already recorded (or skipped over the cap)
  std::deque<pending> queue_;
  bool draining_ = false;
  bool stopped_ = false;
  std::uint64_t serial_ = 0;
  std::uint64_t recorded_ = 0;
};

}  // namespace portico::watch
