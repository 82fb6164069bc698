// Starts the project's test API server (tests/k8s-watch/apiserver) as a child process for the
// k8s-watch tests that need a real wire protocol, and drives it through its admin port.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "k8s-watch/api_client.hpp"

namespace portico::watch::testing {

// The source tree (tests/CMakeLists.txt defines it: __FILE__ may be relative, e.g. when a
// compiler cache rewrites paths).
inline std::string source_dir() { return PORTICO_SOURCE_DIR; }

class test_apiserver {
 public:
  explicit test_apiserver(std::vector<std::string> extra = {}) {
    dir_ = std::filesystem::temp_directory_path() /
           ("portico-kt-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir_);
    extra_ = std::move(extra);
    start();
  }
  ~test_apiserver() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void start() {
    std::string out_path = (dir_ / "stdout.log").string();
    std::vector<std::string> args{"/usr/bin/python3",
                                  source_dir() + "/tests/k8s-watch/apiserver/kube_test_apiserver.py",
                                  "--host", "127.0.0.1", "--port", std::to_string(port_),
                                  "--kubeconfig-out", kubeconfig(), "--pki-dir",
                                  (dir_ / "pki").string(), "--token", "unit-token",
                                  "--admin-port", "0", "--no-namespace-check"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* f = std::fopen(out_path.c_str(), "w");
      if (f) ::dup2(::fileno(f), 1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while ((url_.empty() || admin_.empty()) && std::chrono::steady_clock::now() < deadline) {
      ::usleep(20000);
      std::ifstream in(out_path);
      std::string s;
      while (std::getline(in, s)) {
        if (s.starts_with("listening on ")) url_ = s.substr(s.rfind(' ') + 1);
        if (s.starts_with("admin on ")) admin_ = s.substr(s.rfind(' ') + 1);
      }
    }
    if (url_.empty() || admin_.empty()) throw std::runtime_error("test API server did not start");
    port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
  }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      pid_ = -1;
    }
    url_.clear();
    admin_.clear();
  }

  std::string kubeconfig() const { return (dir_ / "kubeconfig").string(); }
  const std::string& url() const { return url_; }
  int port() const { return port_; }
  // A plain-HTTP configuration of the admin port (no auth): the API and /_test/.
  kube_config admin_config() const {
    kube_config c;
    set_server(c, admin_);
    return c;
  }
  std::filesystem::path dir() const { return dir_; }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path dir_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string url_, admin_;
};

// Runs the io_context until pred() holds; false after `limit` (a hang guard, not a timing
// assertion).
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& pred,
                      std::chrono::seconds limit = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
  }
  return true;
}

// After a test stopped what it started: runs the io_context until no work is left, so every
// coroutine has finished before the fixture destroys the objects they use (a frame still
// pending when ~io_context destroys it would touch an api_client already gone). True when it
// drained within `limit` (a hang guard, not a timing assertion).
inline bool drain(boost::asio::io_context& io, std::chrono::seconds limit = std::chrono::seconds(10)) {
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(50));
    if (io.stopped()) return true;
  }
  return false;
}

// One request through `client`, run to completion on `io`.
inline api_response call(boost::asio::io_context& io, api_client& client, std::string method,
                         std::string target, std::string body = {},
                         std::string ctype = "application/json") {
  std::optional<api_response> out;
  std::exception_ptr err;
  boost::asio::co_spawn(
      io, client.call(method, target, body, ctype),
      [&](std::exception_ptr e, api_response r) {
        err = e;
        out = std::move(r);
      });
  run_until(io, [&] { return out.has_value() || err; });
  if (err) std::rethrow_exception(err);
  if (!out) throw std::runtime_error("call did not complete");
  return *out;
}

}  // namespace portico::watch::testing
