// portico-upstream: the project's small HTTP/1.1 upstream for tests, benchmarks and the demo.
// It reports what it received as JSON (see README of bench/upstream in the --help text) and
// has special paths for status codes, delays, large and chunked bodies, closing, WebSocket echo.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <thread>
#include <vector>

#include "bench/upstream/session.hpp"

namespace asio = boost::asio;
namespace po = boost::program_options;
using tcp = asio::ip::tcp;

namespace {

constexpr const char* usage =
    "portico-upstream: a small HTTP/1.1 server that reports what it received.\n"
    "\n"
    "Responses (path prefix, or the same name as a query parameter, e.g. ?status=503&delay=10):\n"
    "  any other path   200, JSON {name, method, target, http_version, headers: [[name, value]],\n"
    "                   body_bytes, remote_addr, connection_id, request_on_connection}\n"
    "  /status/NNN      respond with status NNN (JSON echo body unless 1xx/204/304)\n"
    "  /delay/MS        wait MS milliseconds, then respond\n"
    "  /bytes/N         N body bytes with Content-Length, streamed\n"
    "  /chunked/N       N body bytes, chunked\n"
    "  /close           close the connection without responding\n"
    "  /small           tiny fixed body (benchmarks)\n"
    "  /stats           {\"connections\": accepted, \"requests\": served}\n"
    "  Upgrade: websocket  echo every message\n"
    "Request bodies are read and counted, never stored.\n\n";

struct options {
  std::string address = "127.0.0.1";
  unsigned short port = 0;
  unsigned threads = 1;
  upstream::server_config cfg;
};

bool parse(int argc, char** argv, options& o) {
  po::options_description desc("Options");
  std::string mode = "echo";
  desc.add_options()("help,h", "show this help")(
      "address", po::value(&o.address)->default_value(o.address), "listen address")(
      "port", po::value(&o.port)->default_value(0),
      "listen port; 0 = ephemeral (the first stdout line is `listening on ADDR:PORT`)")(
      "threads", po::value(&o.threads)->default_value(1), "worker threads")(
      "name", po::value(&o.cfg.name)->default_value("upstream"), "name reported in responses")(
      "default", po::value(&mode)->default_value(mode),
      "answer for ordinary paths: echo (JSON report) or small (tiny fixed body)");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, desc), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << usage << desc << "\n";
    return false;
  }
  if (mode != "echo" && mode != "small") throw std::runtime_error("--default: echo or small");
  o.cfg.small_default = mode == "small";
  if (o.threads == 0) o.threads = 1;
  return true;
}

// Accepts on the first io_context and hands sockets to the others round robin.
asio::awaitable<void> accept_loop(tcp::acceptor& acc, std::vector<asio::io_context>& ctxs,
                                  upstream::shared_state& st) {
  std::size_t next = 0;
  for (;;) {
    auto& ctx = ctxs[next++ % ctxs.size()];
    auto [ec, sock] = co_await acc.async_accept(ctx, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;  // e.g. EMFILE: keep accepting
    }
    upstream::spawn_session(std::move(sock), st);
  }
}

}  // namespace

int main(int argc, char** argv) try {
  options o;
  if (!parse(argc, argv, o)) return 0;
  std::vector<asio::io_context> ctxs(o.threads);
  upstream::shared_state st{o.cfg};

  tcp::acceptor acc(ctxs[0]);
  tcp::endpoint ep(asio::ip::make_address(o.address), o.port);
  acc.open(ep.protocol());
  acc.set_option(asio::socket_base::reuse_address(true));
  acc.bind(ep);
  acc.listen(asio::socket_base::max_listen_connections);
  auto bound = acc.local_endpoint();
  std::printf("listening on %s:%u\n", bound.address().to_string().c_str(), bound.port());
  std::fflush(stdout);

  asio::signal_set signals(ctxs[0], SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) {
    for (auto& c : ctxs) c.stop();
  });
  asio::co_spawn(ctxs[0], accept_loop(acc, ctxs, st), asio::detached);

  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (std::size_t i = 1; i < ctxs.size(); ++i) {
    guards.emplace_back(ctxs[i].get_executor());
    threads.emplace_back([&c = ctxs[i]] { c.run(); });
  }
  ctxs[0].run();
  for (auto& c : ctxs) c.stop();
  for (auto& t : threads) t.join();
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "portico-upstream: %s\n", e.what());
  return 1;
}
