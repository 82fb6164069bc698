#include "proxy/rate_limit.hpp"

#include <algorithm>
#include <functional>

namespace portico::proxy {

namespace {

// The bucket after `now_ms`: drained at the entry's rate since its last request.
double drained(double excess, double rate, std::int64_t last_ms, std::int64_t now_ms) {
  const double elapsed = static_cast<double>(std::max<std::int64_t>(0, now_ms - last_ms));
  return std::max(0.0, excess - rate * elapsed);
}

}  // namespace

rate_limits::shard& rate_limits::shard_of(std::string_view key) {
  return shards_[std::hash<std::string_view>{}(key) % shards];
}

void rate_limits::make_room(shard& s, std::int64_t now_ms) {
  if (s.map.size() < shard_capacity) return;
  std::erase_if(s.map, [&](const auto& kv) {
    const entry& e = kv.second;
    return e.conns == 0 && drained(e.excess, e.rate, e.last_ms, now_ms) == 0;
  });
  if (s.map.size() < shard_capacity) return;
  // Full of live entries: evict the least recently used of a few.
  auto victim = s.map.end();
  int sampled = 0;
  for (auto it = s.map.begin(); it != s.map.end() && sampled < 8; ++it) {
    if (it->second.conns != 0) continue;
    ++sampled;
    if (victim == s.map.end() || it->second.last_ms < victim->second.last_ms) victim = it;
  }
  if (victim != s.map.end()) s.map.erase(victim);
}

bool rate_limits::admit(std::string_view key, unsigned per, double period_ms, unsigned burst,
                        std::int64_t now_ms) {
  shard& s = shard_of(key);
  const double rate = static_cast<double>(per) / period_ms;
  std::lock_guard lock(s.m);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    make_room(s, now_ms);
    // nginx: a new client's first request leaves the bucket empty.
    s.map.emplace(std::string(key), entry{now_ms, 0.0, rate, 0});
    return true;
  }
  entry& e = it->second;
  const double left = drained(e.excess, e.rate, e.last_ms, now_ms);
  if (left == 0 && now_ms - e.last_ms >= 60000) {
    // nginx expires a drained node a minute after its last request: a new client again.
    e = entry{now_ms, 0.0, rate, e.conns};
    return true;
  }
  const double excess = left + 1.0;
  if (excess > static_cast<double>(burst)) return false;  // refused: the bucket is unchanged
  e.excess = excess;
  e.rate = rate;
  e.last_ms = now_ms;
  return true;
}

bool rate_limits::acquire(std::string_view key, unsigned limit, std::int64_t now_ms) {
  shard& s = shard_of(key);
  std::lock_guard lock(s.m);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    make_room(s, now_ms);
    it = s.map.emplace(std::string(key), entry{now_ms, 0.0, 0.0, 0}).first;
  }
  if (it->second.conns >= limit) return false;
  ++it->second.conns;
  it->second.last_ms = now_ms;
  return true;
}

void rate_limits::release(std::string_view key) {
  shard& s = shard_of(key);
  std::lock_guard lock(s.m);
  auto it = s.map.find(key);
  if (it != s.map.end() && it->second.conns > 0) --it->second.conns;
}

std::size_t rate_limits::size() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.m);
    n += s.map.size();
  }
  return n;
}

rate_limits& process_rate_limits() {
  static rate_limits table;
  return table;
}

}  // namespace portico::proxy
