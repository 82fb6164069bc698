// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
// acquire when the Lease is free or its holder has not renewed for leaseDurationSeconds (as
// observed on our own clock), renew while leading, lose leadership when renewals keep failing
// past the renew deadline, release on shutdown (empty holderIdentity). Every write carries the
// resourceVersion read just before it (optimistic concurrency).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "k8s-watch/api_client.hpp"

namespace portico::watch {

struct leader_election_options {
  std::string namespace_name = "default";
  std::string lease_name = "ingress-controller-leader";  // --election-id
  std::string identity;                                   // default: $POD_NAME or host name + pid
  std::chrono::seconds lease_duration{30};
  std::chrono::milliseconds renew_interval{10000};  // a leader renews this often
  std::chrono::milliseconds renew_deadline{20000};  // leadership is lost after failing this long
  std::chrono::milliseconds retry_period{2000};     // a follower tries this often
  std::function<void(const std::string&)> log;
};

std::string default_identity();
// "2026-01-02T03:04:05.123456Z" (metav1.MicroTime)
std::string micro_time_now();

class leader_election : public std::enable_shared_from_this<leader_election> {
 public:
  // on_change(true) when leadership is gained, on_change(false) when lost or released.
  leader_election(boost::asio::any_io_executor ex, api_client& client,
                  leader_election_options opts, std::function<void(bool)> on_change);
  void start();
  // Releases the Lease when leading, then calls done (on the executor).
  void stop(std::function<void()> done = {});
  bool leading() const { return leading_; }
  const std::string& identity() const { return opts_.identity; }

 private:
  enum class attempt { acquired, held_by_other, failed };
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<attempt> try_acquire_or_renew();
  boost::asio::awaitable<void> release();
  void set_leading(bool v);
  void log(const std::string& m) const;
  std::string lease_path() const;

  api_client& client_;
  leader_election_options opts_;
  std::function<void(bool)> on_change_;
  boost::asio::steady_timer timer_;
  bool leading_ = false;
  bool stopped_ = false;
  std::function<void()> on_stopped_;
  std::string observed_record_;
  std::chrono::steady_clock::time_point observed_at_{};
  std::chrono::steady_clock::time_point last_renew_{};
};

}  // namespace portico::watch
