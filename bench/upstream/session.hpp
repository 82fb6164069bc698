// One client connection of portico-upstream (HTTP/1.1 keep-alive, WebSocket echo on Upgrade).
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>

namespace upstream {

struct server_config {
  std::string name = "upstream";
  bool small_default = false;  // ordinary paths answer like /small
};

// Shared by every thread; counters are the only mutable part.
struct shared_state {
  server_config cfg;
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> open_connections{0};
};

// Runs the connection as a coroutine on the socket's executor.
void spawn_session(boost::asio::ip::tcp::socket sock, shared_state& st);

}  // namespace upstream
