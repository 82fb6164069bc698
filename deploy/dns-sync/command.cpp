#include "deploy/dns-sync/command.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "deploy/dns-sync/controller.hpp"
#include "deploy/dns-sync/log.hpp"
#include "deploy/dns-sync/rfc2136.hpp"
#include "deploy/dns-sync/route53.hpp"
#include "k8s-watch/api_client.hpp"
#include "k8s-watch/kube_config.hpp"

namespace portico::dnssync {

namespace po = boost::program_options;
namespace asio = boost::asio;

namespace {

struct flags {
  watch::kube_config_flags kube;
  std::string watch_namespace;
  std::string controller_class = "portico.dev/ingress-controller";
  std::string ingress_class = "portico";
  bool all_classes = false;
  std::string zone;
  std::string provider = "rfc2136";
  rfc2136_options rfc;
  std::string tsig_secret_file;
  unsigned rfc_timeout = 5;
  route53_options r53;
  std::string owner_id = "default";
  std::uint32_t ttl = 60;
  std::string interval = "60s", debounce = "1s", once_timeout = "120s";
  bool dry_run = false, once = false;
};

const char* about =
    "Keeps an A record set (AAAA for IPv6) for every Ingress host inside --zone, holding the IP\n"
    "addresses of the Ingress's status.loadBalancer (the nodes Portico publishes). Only names\n"
    "marked by this owner's TXT record (portico-owner.<name>) are changed or deleted.";

void add_options(po::options_description& d, flags& f) {
  auto str = [](std::string& s) { return po::value(&s)->default_value(s); };
  d.add_options()
    ("kubeconfig", po::value(&f.kube.kubeconfig), "kubeconfig file (default: in-cluster configuration)")
    ("context", po::value(&f.kube.context), "kubeconfig context (default: current-context)")
    ("apiserver-host", po::value(&f.kube.apiserver_host), "API server URL, overrides the configured one")
    ("watch-namespace", po::value(&f.watch_namespace), "only Ingresses of this namespace")
    ("controller-class", str(f.controller_class), "Ingresses whose IngressClass has this spec.controller")
    ("ingress-class", str(f.ingress_class), "Ingresses with this legacy kubernetes.io/ingress.class annotation")
    ("all-ingress-classes", po::bool_switch(&f.all_classes), "every Ingress with status addresses, whatever its class")
    ("zone", po::value(&f.zone)->required(), "the DNS zone managed (only hosts inside it get records)")
    ("provider", str(f.provider), "rfc2136 or route53")
    ("rfc2136-server", str(f.rfc.server), "authoritative server for updates and zone transfers (addr:port)")
    ("tsig-key-name", po::value(&f.rfc.tsig_key_name), "TSIG key name")
    ("tsig-secret", po::value(&f.rfc.tsig_secret), "TSIG secret, base64 (default: $PORTICO_TSIG_SECRET)")
    ("tsig-secret-file", po::value(&f.tsig_secret_file), "file holding the base64 TSIG secret")
    ("tsig-algorithm", str(f.rfc.tsig_algorithm), "hmac-sha256, hmac-sha512, hmac-sha1, hmac-md5, ...")
    ("rfc2136-timeout", po::value(&f.rfc_timeout)->default_value(f.rfc_timeout), "seconds per DNS exchange")
    ("route53-out", po::value(&f.r53.out_dir), "directory for the change batch files (batch-NNNNNN.json)")
    ("route53-zone-id", po::value(&f.r53.zone_id), "hosted zone id: send batches with the aws CLI when present")
    ("aws-cli", po::value(&f.r53.aws_cli), "the aws CLI (default: aws on PATH)")
    ("owner-id", str(f.owner_id), "this instance's owner id in the TXT ownership records")
    ("ttl", po::value(&f.ttl)->default_value(f.ttl), "TTL of the records, seconds")
    ("interval", str(f.interval), "full resync period (repairs drift)")
    ("debounce", str(f.debounce), "changes are synced this long after the first of a burst")
    ("dry-run", po::bool_switch(&f.dry_run), "print the planned changes on stdout; change nothing")
    ("once", po::bool_switch(&f.once), "sync once after the first list, then exit (1 on failure)")
    ("once-timeout", str(f.once_timeout), "with --once: exit 1 when the Ingresses are not listed by then");
}

std::chrono::milliseconds parse_duration(const std::string& text, const char* flag) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  std::string unit(p, text.data() + text.size());
  if (ec != std::errc{} || p == text.data()) throw po::error(std::string(flag) + ": '" + text + "' is not a duration");
  if (unit.empty() || unit == "s") return std::chrono::seconds(n);
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "m") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  throw po::error(std::string(flag) + ": unknown unit in '" + text + "' (ms, s, m, h)");
}

bool valid_owner_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (unsigned char c : id)
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

std::unique_ptr<provider> make_provider(flags& f, const std::string& zone) {
  if (f.provider == "route53") {
    f.r53.zone = zone;
    return std::make_unique<route53_provider>(f.r53);
  }
  if (f.provider != "rfc2136") throw po::error("--provider: must be rfc2136 or route53, got '" + f.provider + "'");
  f.rfc.zone = zone;
  f.rfc.owner_id = f.owner_id;
  f.rfc.timeout = std::chrono::seconds(f.rfc_timeout);
  if (f.rfc.tsig_secret.empty() && !f.tsig_secret_file.empty()) {
    f.rfc.tsig_secret = watch::read_file_text(f.tsig_secret_file);
    while (!f.rfc.tsig_secret.empty() && std::isspace(static_cast<unsigned char>(f.rfc.tsig_secret.back())))
      f.rfc.tsig_secret.pop_back();
  }
  if (f.rfc.tsig_secret.empty())
    if (const char* s = std::getenv("PORTICO_TSIG_SECRET")) f.rfc.tsig_secret = s;
  return std::make_unique<rfc2136_provider>(f.rfc);
}

// Dry run output: one line per change, and for Route 53 the batches that would be written.
void print_plan(const plan& p, bool route53) {
  if (p.changes.empty()) std::cout << "no changes\n";
  for (const auto& c : p.changes) std::cout << describe(c) << "\n";
  if (route53)
    for (const auto& b : route53_change_batches(p, "portico dns-sync (dry run)")) std::cout << b;
  std::cout.flush();
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
  flags f;
  po::options_description d("dns-sync options");
  add_options(d, f);
  d.add_options()("help,h", "show this help");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(d).run(), vm);
  if (vm.count("help")) {
    std::cout << "Usage: portico dns-sync --zone ZONE [options]\n" << about << "\n\n" << d << "\n";
    return 0;
  }
  po::notify(vm);
  auto zone = normalize_name(f.zone);
  if (!zone || zone->front() == '*') throw po::error("--zone: '" + f.zone + "' is not a DNS name");
  if (!valid_owner_id(f.owner_id)) throw po::error("--owner-id: letters, digits, '-', '_' and '.' only");

  controller_options o;
  o.desired.zone = *zone;
  o.desired.all_classes = f.all_classes;
  o.desired.classes.controller_class = f.controller_class;
  o.desired.classes.ingress_class = f.ingress_class;
  o.plan.owner_id = f.owner_id;
  o.plan.ttl = f.ttl;
  o.watch_namespace = f.watch_namespace;
  o.resync = parse_duration(f.interval, "--interval");
  o.debounce = parse_duration(f.debounce, "--debounce");
  o.dry_run = f.dry_run;
  o.once = f.once;
  o.once_list_timeout = parse_duration(f.once_timeout, "--once-timeout");
  bool route53 = f.provider == "route53";
  o.on_dry_run = [route53](const plan& p) { print_plan(p, route53); };

  std::unique_ptr<provider> prov;
  try {
    prov = make_provider(f, *zone);
  } catch (const provider_error& e) {
    log_line("fatal", e.what());
    return 1;
  }
  asio::io_context io;
  watch::api_client client(io.get_executor(), watch::resolve_kube_config(f.kube));
  dns_controller ctl(io, client, *prov, o);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    log_line("info", "stopping");
    ctl.stop();
    client.shutdown();
  });
  log_line("info", "dns-sync starting",
           {{"zone", *zone}, {"owner_id", f.owner_id}, {"provider", prov->describe()},
            {"server", client.config().server()}, {"dry_run", f.dry_run ? "true" : "false"}});
  ctl.on_done([&] { signals.cancel(); });  // --once: the signal wait is the last work left
  ctl.start();
  io.run();
  return ctl.exit_code();
}

}  // namespace portico::dnssync
