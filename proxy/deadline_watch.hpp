#pragma once
// One timer per connection whose deadline moves often (every read, every request) at the cost
// of a field write: a later deadline is noticed when the timer fires and waits again, an
// earlier one cancels the pending wait once. Used by http_session and h2_connection.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

namespace portico::proxy {

class deadline_watch {
 public:
  using clock = std::chrono::steady_clock;

  explicit deadline_watch(boost::asio::io_context& ctx) : timer_(ctx) {}

  clock::time_point deadline() const { return deadline_; }
  // Moves the deadline without touching the timer: only for a deadline later than the one
  // waited for (the wait ends early and owner.on_timer() calls wait() again).
  void postpone(clock::time_point d) { deadline_ = d; }

  // Sets the deadline; `owner.on_timer()` runs when the wait ends (at the deadline, when it
  // was cancelled, or earlier if the deadline moved later): it checks deadline() itself.
  template <class Owner>
  void set(clock::time_point d, Owner& owner) {
    deadline_ = d;
    if (!pending_) {
      wait(owner);
    } else if (deadline_ < expiry_) {
      timer_.cancel();  // on_timer() waits again for the earlier deadline
    }
  }

  // Waits for the current deadline. The owner (a shared_ptr-owned object holding this watch)
  // stays alive until the wait ends.
  template <class Owner>
  void wait(Owner& owner) {
    pending_ = true;
    expiry_ = deadline_;
    timer_.expires_at(deadline_);
    timer_.async_wait([this, self = owner.shared_from_this()](const boost::system::error_code&) {
      pending_ = false;
      self->on_timer();
    });
  }

  bool pending() const { return pending_; }
  void cancel() { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
  clock::time_point deadline_{};
  clock::time_point expiry_{};
  bool pending_ = false;
};

}  // namespace portico::proxy
