#include "k8s-watch/status_writer.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <iostream>
#include <set>

#include "k8s-watch/reflector.hpp"

namespace portico::watch {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using asio::use_awaitable;

std::string load_balancer_json(std::vector<std::string> addresses) {
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  json::array out;
  for (const auto& a : addresses) {
    if (a.empty()) continue;
    boost::system::error_code ec;
    asio::ip::make_address(a, ec);
    out.push_back(json::object{{ec ? "hostname" : "ip", a}});
  }
  return json::serialize(out);
}

status_writer::status_writer(asio::any_io_executor ex, api_client& client,
                             const config::cluster_state& state, const config::build_options& build,
                             status_writer_options opts)
    : client_(client),
      state_(state),
      build_(build),
      opts_(std::move(opts)),
      wake_(ex),
      gateway_(client, state, build, [this](const std::string& m) { log(m); }) {}

void status_writer::log(const std::string& m) const {
  std::string line = "status: " + m;
  if (opts_.log) {
    opts_.log(line);
  } else {
    std::cerr << line << "\n";
  }
}

void status_writer::start() {
  asio::co_spawn(wake_.get_executor(), [self = shared_from_this()] { return self->run(); },
                 asio::detached);
}

void status_writer::stop() {
  stopped_ = true;
  wake_.cancel();
}

void status_writer::set_leader(bool leader) {
  leader_ = leader;
  known_.clear();  // a new term re-reads what is in place
  gateway_.reset();
  dirty_ = true;
  wake_.cancel();
}

void status_writer::state_changed() {
  dirty_ = true;
  wake_.cancel();
}

awaitable<void> status_writer::run() {
  while (!stopped_) {
    if (leader_ && dirty_) {
      dirty_ = false;
      std::vector<std::string> addrs;
      try {
        addrs = co_await addresses();
        if (addrs.empty()) {
          log("no address to publish yet");
        } else if (leader_ && !stopped_) {
          co_await sync(load_balancer_json(addrs));
        }
      } catch (const std::exception& e) {
        log(e.what());
      }
      try {  // Gateway status: conditions are worth writing even before there is an address
        if (leader_ && !stopped_) co_await gateway_.sync(addrs, [this] { return leader_ && !stopped_; });
      } catch (const std::exception& e) {
        log(e.what());
      }
    }
    if (stopped_) break;
    // A rebuild (or a new term) during that pass: its cancel() found no wait to end, so the
    // next pass starts now, not at the next resync.
    if (leader_ && dirty_) continue;
    wake_.expires_after(opts_.resync);
    boost::system::error_code ec;
    co_await wake_.async_wait(asio::redirect_error(use_awaitable, ec));
    if (!ec) dirty_ = true;  // periodic resync
  }
}

namespace {

void add_lb_entries(const json::value* lb, std::vector<std::string>& out) {
  if (!lb || !lb->is_array()) return;
  for (const auto& e : lb->get_array()) {
    if (!e.is_object()) continue;
    for (const char* k : {"ip", "hostname"}) {
      if (auto* v = e.get_object().if_contains(k); v && v->is_string()) out.emplace_back(v->get_string());
    }
  }
}

const json::value* path(const json::value& v, std::initializer_list<const char*> keys) {
  const json::value* cur = &v;
  for (const char* k : keys) {
    if (!cur->is_object()) return nullptr;
    cur = cur->get_object().if_contains(k);
    if (!cur) return nullptr;
  }
  return cur;
}

}  // namespace

awaitable<std::vector<std::string>> status_writer::addresses() {
  std::vector<std::string> out = opts_.publish_addresses;
  if (!out.empty()) co_return out;
  if (!opts_.publish_service.empty()) {
    auto slash = opts_.publish_service.find('/');
    std::string ns = slash == std::string::npos ? "default" : opts_.publish_service.substr(0, slash);
    std::string name = opts_.publish_service.substr(slash == std::string::npos ? 0 : slash + 1);
    api_response r = co_await client_.call("GET", "/api/v1/namespaces/" + ns + "/services/" + name);
    if (r.status != 200) throw api_error("publish service " + opts_.publish_service + ": HTTP " + std::to_string(r.status));
    json::value svc = json::parse(r.body);
    add_lb_entries(path(svc, {"status", "loadBalancer", "ingress"}), out);
    if (auto* ext = path(svc, {"spec", "externalIPs"}); out.empty() && ext && ext->is_array()) {
      for (auto& ip : ext->get_array()) if (ip.is_string()) out.emplace_back(ip.get_string());
    }
    if (!out.empty()) co_return out;
    // The endpoints' nodes (a hostPort DaemonSet): node addresses, else the endpoint addresses.
    std::string key_prefix = ns + "/";
    for (const auto& [key, slice] : state_.endpoint_slices) {
      auto it = slice.meta.labels.find("kubernetes.io/service-name");
      if (slice.meta.namespace_name != ns || it == slice.meta.labels.end() || it->second != name) continue;
      for (const auto& ep : slice.endpoints) {
        std::string node_ip;
        if (!ep.node_name.empty()) {
          api_response n = co_await client_.call("GET", "/api/v1/nodes/" + ep.node_name);
          if (n.status == 200) {
            json::value node = json::parse(n.body);
            if (auto* addrs = path(node, {"status", "addresses"}); addrs && addrs->is_array()) {
              for (auto& a : addrs->get_array()) {
                auto* type = path(a, {"type"});
                auto* addr = path(a, {"address"});
                if (type && addr && type->is_string() && addr->is_string() &&
                    (node_ip.empty() || type->get_string() == "ExternalIP")) {
                  if (type->get_string() == "InternalIP" || type->get_string() == "ExternalIP")
                    node_ip = std::string(addr->get_string());
                }
              }
            }
          }
        }
        if (!node_ip.empty()) {
          out.push_back(node_ip);
        } else {
          out.insert(out.end(), ep.addresses.begin(), ep.addresses.end());
        }
      }
    }
    co_return out;
  }
  if (opts_.pod_name.empty() || opts_.pod_namespace.empty()) co_return out;
  // The host IPs of the pods that carry our labels.
  std::string pods = "/api/v1/namespaces/" + opts_.pod_namespace + "/pods";
  api_response me = co_await client_.call("GET", pods + "/" + opts_.pod_name);
  if (me.status != 200) throw api_error("pod " + opts_.pod_name + ": HTTP " + std::to_string(me.status));
  json::value pod = json::parse(me.body);
  std::string selector;
  if (auto* labels = path(pod, {"metadata", "labels"}); labels && labels->is_object()) {
    for (auto& [k, v] : labels->get_object()) {
      if (k == "pod-template-hash" || k == "controller-revision-hash" || !v.is_string()) continue;
      if (!selector.empty()) selector += ",";
      selector += std::string(k) + "=" + std::string(v.get_string());
    }
  }
  api_response list = co_await client_.call("GET", pods + "?labelSelector=" + url_encode(selector));
  if (list.status != 200) throw api_error("pods: HTTP " + std::to_string(list.status));
  json::value all = json::parse(list.body);
  if (auto* items = path(all, {"items"}); items && items->is_array()) {
    for (auto& p : items->get_array()) {
      if (auto* ip = path(p, {"status", "hostIP"}); ip && ip->is_string()) out.emplace_back(ip->get_string());
    }
  }
  if (auto* ip = path(pod, {"status", "hostIP"}); out.empty() && ip && ip->is_string()) {
    out.emplace_back(ip->get_string());
  }
  co_return out;
}

awaitable<void> status_writer::sync(const std::string& desired) {
  std::vector<std::pair<std::string, std::string>> served;  // namespace, name
  std::set<std::string> keys;
  for (const auto& [key, ing] : state_.ingresses) {
    if (!config::ingress_is_served(ing, state_, build_)) continue;
    keys.insert(key);
    auto it = known_.find(key);
    if (it == known_.end() || it->second != desired) served.emplace_back(ing.meta.namespace_name, ing.meta.name);
  }
  // Ingresses whose status this leader put in place and that it no longer serves (class
  // changed, IngressClass deleted): the status is cleared, unless another writer changed
  // it since (it belongs to that one now).
  std::vector<std::pair<std::string, std::string>> dropped;  // key, the status we wrote
  for (const auto& [key, ours] : known_) {
    if (!keys.count(key)) dropped.emplace_back(key, ours);
  }
  for (const auto& [key, ours] : dropped) {
    if (!leader_ || stopped_) co_return;
    auto it = state_.ingresses.find(key);
    if (it == state_.ingresses.end() ||
        co_await write_one(it->second.meta.namespace_name, it->second.meta.name, "[]", &ours)) {
      known_.erase(key);
    }
  }
  for (const auto& [ns, name] : served) {
    if (!leader_ || stopped_) co_return;
    if (co_await write_one(ns, name, desired)) known_[ns + "/" + name] = desired;
  }
}

awaitable<bool> status_writer::write_one(const std::string& ns, const std::string& name,
                                         const std::string& desired, const std::string* only_if) {
  std::string target = "/apis/networking.k8s.io/v1/namespaces/" + ns + "/ingresses/" + name;
  for (int attempt = 0; attempt < 4; ++attempt) {
    api_response got = co_await client_.call("GET", target);
    if (got.status == 404) co_return false;
    if (got.status != 200) throw api_error("get " + ns + "/" + name + ": HTTP " + std::to_string(got.status));
    json::value obj = json::parse(got.body);
    const json::value* cur = path(obj, {"status", "loadBalancer", "ingress"});
    std::string current = json::serialize(cur ? *cur : json::value(json::array()));
    if (current == desired) co_return true;
    if (only_if && current != *only_if) co_return true;  // not ours to change any more
    json::object& o = obj.as_object();
    if (!o["status"].is_object()) o["status"].emplace_object();
    json::value list = json::parse(desired);
    if (list.as_array().empty()) {
      o["status"].as_object()["loadBalancer"] = json::object{};  // as the API stores it (omitempty)
    } else {
      o["status"].as_object()["loadBalancer"] = json::object{{"ingress", std::move(list)}};
    }
    api_response put = co_await client_.call("PUT", target + "/status", json::serialize(obj));
    if (put.status == 200) {
      ++writes_;
      log("Ingress " + ns + "/" + name + " status.loadBalancer.ingress = " + desired +
          (only_if ? " (no longer served)" : ""));
      co_return true;
    }
    if (put.status != 409) {
      throw api_error("update status of " + ns + "/" + name + ": HTTP " + std::to_string(put.status));
    }
  }
  co_return false;
}

}  // namespace portico::watch
