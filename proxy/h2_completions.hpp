// The completions of one HTTP/2 connection's stream reads and writes (downstream:
// proxy/h2_session.cpp; upstream: proxy/h2_upstream.cpp), queued and handed to the sessions
// by one posted handler per batch instead of one posted handler each: a frame batch read
// from the socket completes many streams' reads at once (bench/callgrind.sh --grpc, 64 x 10:
// about ten posts per call went through Asio's scheduler, each with its own operation).
// A handler is never called from inside the function that queues it, as with a post; the
// order among the queued ones is kept.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "proxy/byte_stream.hpp"

namespace portico::proxy {

class h2_completions {
 public:
  explicit h2_completions(boost::asio::io_context& ctx) : ctx_(ctx) {}
  h2_completions(const h2_completions&) = delete;
  h2_completions& operator=(const h2_completions&) = delete;

  // Queues h(ec, n). `owner` (enable_shared_from_this) holds this object; it is kept until
  // the batch has run.
  template <class Owner>
  void post(Owner& owner, io_handler h, const boost::system::error_code& ec, std::size_t n) {
    queue_.push_back(item{std::move(h), ec, n});
    if (posted_) return;
    posted_ = true;
    boost::asio::post(ctx_, runner(owner.shared_from_this(), this));
  }

 private:
  struct item {
    io_handler h;
    boost::system::error_code ec;
    std::size_t n = 0;
  };
  // The posted handler; destroyed unrun (the io_context went away), it destroys the queued
  // handlers, which would otherwise keep their sessions, and through them the owner, alive.
  class runner {
   public:
    runner(std::shared_ptr<void> owner, h2_completions* q) : owner_(std::move(owner)), q_(q) {}
    runner(runner&& o) noexcept : owner_(std::move(o.owner_)), q_(std::exchange(o.q_, nullptr)) {}
    runner& operator=(runner&&) = delete;
    ~runner() {
      if (q_ != nullptr) q_->drop();
    }
    void operator()() { std::exchange(q_, nullptr)->run(); }

   private:
    std::shared_ptr<void> owner_;
    h2_completions* q_;
  };

  // Runs what was queued; what these handlers queue goes in the next batch.
  void run() {
    posted_ = false;
    running_.swap(queue_);
    for (auto& i : running_) i.h(i.ec, i.n);
    running_.clear();
  }
  void drop() noexcept {
    posted_ = false;
    auto q = std::move(queue_);
    queue_.clear();
  }

  boost::asio::io_context& ctx_;
  std::vector<item> queue_;
  std::vector<item> running_;  // the batch being run (kept for its capacity)
  bool posted_ = false;
};

}  // namespace portico::proxy
