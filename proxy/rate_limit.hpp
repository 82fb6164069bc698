// Rate and connection limits per client address (limit-rps, limit-rpm, limit-connections),
// with nginx's semantics as ingress-nginx configures them: limit_req with burst and nodelay
// (a leaky bucket: a new client may send burst + 1 requests at once, then `rate` per period;
// a client idle for a minute with a drained bucket is new again, as nginx expires its node),
// limit_conn (requests of one client in progress at once). One table for the whole process,
// so the workers share every client's budget and N workers do not multiply a limit by N: the
// limits are exact, as nginx's shared-memory zones are. Counters are keyed by zone (the
// Ingress) and client address and survive configuration changes.
//
// Memory is bounded: an entry whose bucket has drained and that holds no connection is
// state-free and is dropped when its shard fills; when a shard is full of live entries, the
// least recently used of a few sampled is evicted (that client's budget restarts), as nginx
// evicts the oldest nodes of a full zone.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace portico::proxy {

class rate_limits {
 public:
  // limit_req ... burst=<burst> nodelay: false when this request exceeds the bucket. `per`
  // requests each `period_ms`; `key` names the zone, the kind and the client.
  bool admit(std::string_view key, unsigned per, double period_ms, unsigned burst,
             std::int64_t now_ms);
  // limit_conn: false when `limit` requests of the key are already in progress; otherwise
  // one more is counted until release().
  bool acquire(std::string_view key, unsigned limit, std::int64_t now_ms);
  void release(std::string_view key);

  std::size_t size() const;  // entries held
  static constexpr std::size_t shards = 32;
  static constexpr std::size_t shard_capacity = 4096;  // 131,072 clients tracked at most

 private:
  struct entry {
    std::int64_t last_ms = 0;
    double excess = 0;   // requests above the rate, drained at `rate` (nginx's excess)
    double rate = 0;     // requests per ms of the last admit
    unsigned conns = 0;  // requests in progress (limit_conn)
  };
  // Looked up by the caller's string_view: no key string is made per request.
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
  };
  struct shard {
    mutable std::mutex m;
    std::unordered_map<std::string, entry, key_hash, std::equal_to<>> map;
  };
  shard& shard_of(std::string_view key);
  // Makes room for one more entry (the shard's mutex is held).
  static void make_room(shard& s, std::int64_t now_ms);
  std::array<shard, shards> shards_;
};

// The process's table.
rate_limits& process_rate_limits();

// A limit_conn slot held for one request; released when destroyed.
class conn_slot {
 public:
  conn_slot() = default;
  conn_slot(rate_limits& rl, std::string key) : rl_(&rl), key_(std::move(key)) {}
  conn_slot(conn_slot&& o) noexcept : rl_(o.rl_), key_(std::move(o.key_)) { o.rl_ = nullptr; }
  conn_slot& operator=(conn_slot&& o) noexcept {
    if (this != &o) {
      reset();
      rl_ = o.rl_;
      key_ = std::move(o.key_);
      o.rl_ = nullptr;
    }
    return *this;
  }
  conn_slot(const conn_slot&) = delete;
  conn_slot& operator=(const conn_slot&) = delete;
  ~conn_slot() { reset(); }
  void reset() {
    if (rl_ != nullptr) rl_->release(key_);
    rl_ = nullptr;
  }
  bool held() const { return rl_ != nullptr; }

 private:
  rate_limits* rl_ = nullptr;
  std::string key_;
};

}  // namespace portico::proxy
