#include "deploy/dns-sync/rfc2136.hpp"

#include <ldns/ldns.h>

#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace portico::dnssync {

namespace {

struct rr_list_deleter {
  void operator()(ldns_rr_list* l) const { ldns_rr_list_deep_free(l); }
};
using rr_list_ptr = std::unique_ptr<ldns_rr_list, rr_list_deleter>;
struct pkt_deleter {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using pkt_ptr = std::unique_ptr<ldns_pkt, pkt_deleter>;

std::string fqdn(const std::string& name) { return name + "."; }

std::string quoted(const std::string& txt) {
  std::string out = "\"";
  for (char c : txt) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string rdf_text(const ldns_rdf* rdf) {
  char* s = ldns_rdf2str(rdf);
  std::string out = s ? s : "";
  free(s);
  return out;
}

// A TXT rdata string as ldns prints it ("..." with \" \\ \DDD escapes) back to its bytes.
std::string unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    if (i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      int v = 0;
      std::from_chars(s.data() + i + 1, s.data() + i + 4, v);
      out += static_cast<char>(v);
      i += 3;
    } else {
      out += s[++i];
    }
  }
  return out;
}

// An RR without rdata: "RRset does not exist" (class NONE) or "delete RRset" (class ANY).
ldns_rr* empty_rr(const std::string& name, const std::string& type, ldns_rr_class cls) {
  ldns_rr* rr = ldns_rr_new();
  ldns_rr_set_owner(rr, ldns_dname_new_frm_str(fqdn(name).c_str()));
  ldns_rr_set_type(rr, ldns_get_rr_type_by_name(type.c_str()));
  ldns_rr_set_class(rr, cls);
  ldns_rr_set_ttl(rr, 0);
  return rr;
}

// One record from its presentation form; `cls`/`ttl` then override (NONE/0 for deletes of
// one record, IN/0 for value-dependent prerequisites).
ldns_rr* value_rr(const std::string& name, const std::string& type, std::uint32_t ttl,
                  const std::string& value, ldns_rr_class cls) {
  std::string text = fqdn(name) + " " + std::to_string(ttl) + " IN " + type + " " +
                     (type == "TXT" ? quoted(value) : value);
  ldns_rr* rr = nullptr;
  ldns_status st = ldns_rr_new_frm_str(&rr, text.c_str(), ttl, nullptr, nullptr);
  if (st != LDNS_STATUS_OK) throw provider_error("bad record '" + text + "': " + ldns_get_errorstr_by_id(st));
  ldns_rr_set_class(rr, cls);
  if (cls != LDNS_RR_CLASS_IN) ldns_rr_set_ttl(rr, 0);
  return rr;
}

void push(ldns_rr_list* l, ldns_rr* rr) { ldns_rr_list_push_rr(l, rr); }

// The error field of a response's TSIG record (0 when none).
int tsig_error(const ldns_pkt* pkt) {
  const ldns_rr* tsig = pkt ? ldns_pkt_tsig(pkt) : nullptr;
  if (!tsig || ldns_rr_rd_count(tsig) < 6) return 0;
  return ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5));
}

std::string response_problem(const ldns_pkt* pkt) {
  if (!pkt) return "no response";
  std::string out = rcode_text(ldns_pkt_get_rcode(pkt));
  if (int te = tsig_error(pkt)) out += " (TSIG error " + rcode_text(te) + ")";
  return out;
}

std::string hint_for(const ldns_pkt* pkt, bool transfer) {
  if (!pkt) return "";
  int rc = ldns_pkt_get_rcode(pkt);
  if (rc == LDNS_RCODE_NOTAUTH || tsig_error(pkt))
    return ": the server rejected the TSIG key (check --tsig-key-name, --tsig-secret and "
           "--tsig-algorithm)";
  if (rc == LDNS_RCODE_REFUSED)
    return transfer ? ": the key may not transfer the zone (allow-transfer)"
                    : ": the key may not update the zone (allow-update / update-policy)";
  if (rc == LDNS_RCODE_YXRRSET || rc == LDNS_RCODE_NXRRSET || rc == LDNS_RCODE_YXDOMAIN ||
      rc == LDNS_RCODE_NXDOMAIN)
    return ": a prerequisite failed (the name changed since it was read; retried next sync)";
  return "";
}

}  // namespace

std::string rcode_text(int rcode) {
  switch (rcode) {
    case 16: return "BADSIG";
    case 17: return "BADKEY";
    case 18: return "BADTIME";
    case 22: return "BADTRUNC";
    default: break;
  }
  if (auto* lt = ldns_lookup_by_id(ldns_rcodes, rcode)) return lt->name;
  return "RCODE" + std::to_string(rcode);
}

void rfc2136_provider::resolver_deleter::operator()(void* r) const {
  ldns_resolver_deep_free(static_cast<ldns_resolver*>(r));
}

rfc2136_provider::rfc2136_provider(rfc2136_options opts) : opts_(std::move(opts)) {
  std::string_view s = opts_.server;
  std::string_view port;
  if (s.starts_with("[")) {
    auto close = s.find(']');
    if (close == std::string_view::npos) throw provider_error("--rfc2136-server: missing ']' in " + opts_.server);
    host_ = std::string(s.substr(1, close - 1));
    if (close + 1 < s.size() && s[close + 1] == ':') port = s.substr(close + 2);
  } else if (s.find(':') != s.rfind(':')) {
    host_ = std::string(s);  // a bare IPv6 address
  } else {
    auto colon = s.find(':');
    host_ = std::string(s.substr(0, colon));
    if (colon != std::string_view::npos) port = s.substr(colon + 1);
  }
  if (!port.empty()) {
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), port_);
    if (ec != std::errc{} || p != port.data() + port.size() || port_ == 0)
      throw provider_error("--rfc2136-server: bad port in " + opts_.server);
  }
  if (!canonical_ip(host_)) throw provider_error("--rfc2136-server: " + host_ + " is not an IP address");
  if (!opts_.tsig_key_name.empty() && opts_.tsig_secret.empty())
    throw provider_error("--tsig-secret is required with --tsig-key-name");
  make_resolver();  // validates the secret and algorithm early
}

std::string rfc2136_provider::describe() const {
  return "rfc2136 server " + opts_.server + " zone " + opts_.zone +
         (opts_.tsig_key_name.empty() ? " (unsigned)" : " key " + opts_.tsig_key_name + " (" + opts_.tsig_algorithm + ")");
}

rfc2136_provider::resolver_ptr rfc2136_provider::make_resolver() const {
  resolver_ptr holder(ldns_resolver_new());
  auto* res = static_cast<ldns_resolver*>(holder.get());
  bool v6 = false;
  canonical_ip(host_, &v6);
  ldns_rdf* addr = ldns_rdf_new_frm_str(v6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, host_.c_str());
  if (!addr) throw provider_error("bad server address " + host_);
  ldns_resolver_push_nameserver(res, addr);
  ldns_rdf_deep_free(addr);
  ldns_resolver_set_port(res, port_);
  ldns_resolver_set_usevc(res, true);  // TCP: transfers need it, updates gain no size limit
  ldns_resolver_set_recursive(res, false);
  ldns_resolver_set_retry(res, 1);
  ldns_resolver_set_timeout(res, timeval{static_cast<time_t>(opts_.timeout.count()), 0});
  if (!opts_.tsig_key_name.empty()) {
    std::string key = opts_.tsig_key_name;
    if (key.back() != '.') key += '.';
    std::string alg = opts_.tsig_algorithm;
    if (alg.back() != '.') alg += '.';
    if (alg == "hmac-md5.") alg = "hmac-md5.sig-alg.reg.int.";
    ldns_rdf* secret = nullptr;
    if (ldns_str2rdf_b64(&secret, opts_.tsig_secret.c_str()) != LDNS_STATUS_OK)
      throw provider_error("--tsig-secret is not valid base64");
    ldns_rdf_deep_free(secret);
    ldns_resolver_set_tsig_keyname(res, key.c_str());
    ldns_resolver_set_tsig_algorithm(res, alg.c_str());
    ldns_resolver_set_tsig_keydata(res, opts_.tsig_secret.c_str());
  }
  return holder;
}

}  // namespace portico::dnssync

namespace portico::dnssync {

namespace {

// Adds one transferred record to `out` when it is of a type the plan looks at.
void add_transferred(const ldns_rr* rr, zone_records& out) {
  char* t = ldns_rr_type2str(ldns_rr_get_type(rr));
  std::string type = t ? t : "";
  free(t);
  if (type != "A" && type != "AAAA" && type != "CNAME" && type != "TXT") return;
  auto name = normalize_name(rdf_text(ldns_rr_owner(rr)));
  if (!name) return;
  std::string value;
  for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    std::string part = rdf_text(ldns_rr_rdf(rr, i));
    value += type == "TXT" ? unquote(part) : part;
  }
  if (type == "A" || type == "AAAA") {
    if (auto ip = canonical_ip(value)) value = *ip;
  } else if (type == "CNAME" && !value.empty() && value.back() == '.') {
    value.pop_back();
  }
  out.add(*name, type, ldns_rr_ttl(rr), std::move(value));
}

}  // namespace

// The transfer on a socket of our own (ldns's resolver-held AXFR state keeps a closed
// descriptor number around, which is unsafe in a threaded process): query made and signed by
// ldns, each response message read and parsed by ldns.
zone_records rfc2136_provider::read() {
  auto holder = make_resolver();
  auto* res = static_cast<ldns_resolver*>(holder.get());
  const std::string what = "zone transfer of " + opts_.zone + " from " + opts_.server;
  pkt_ptr query(ldns_pkt_query_new(ldns_dname_new_frm_str(fqdn(opts_.zone).c_str()), LDNS_RR_TYPE_AXFR,
                                   LDNS_RR_CLASS_IN, 0));
  if (!query) throw provider_error(what + ": bad zone name");
  ldns_pkt_set_random_id(query.get());
  if (!opts_.tsig_key_name.empty()) {
    ldns_status st = ldns_pkt_tsig_sign(query.get(), ldns_resolver_tsig_keyname(res), ldns_resolver_tsig_keydata(res),
                                        300, ldns_resolver_tsig_algorithm(res), nullptr);
    if (st != LDNS_STATUS_OK) throw provider_error(what + ": TSIG signing failed: " + ldns_get_errorstr_by_id(st));
  }
  std::unique_ptr<ldns_buffer, void (*)(ldns_buffer*)> wire(ldns_buffer_new(LDNS_MAX_PACKETLEN), ldns_buffer_free);
  if (ldns_pkt2buffer_wire(wire.get(), query.get()) != LDNS_STATUS_OK) throw provider_error(what + ": cannot encode the query");
  size_t to_len = 0;
  std::unique_ptr<sockaddr_storage, void (*)(void*)> to(
      ldns_rdf2native_sockaddr_storage(ldns_resolver_nameservers(res)[0], port_, &to_len), free);
  timeval timeout{static_cast<time_t>(opts_.timeout.count()), 0};
  int fd = ldns_tcp_connect2(to.get(), static_cast<socklen_t>(to_len), timeout);
  if (fd < 0) throw provider_error(what + " failed: cannot connect over TCP");
  struct closer {
    int fd;
    ~closer() { close(fd); }
  } guard{fd};
  if (ldns_tcp_send_query(wire.get(), fd, to.get(), static_cast<socklen_t>(to_len)) <= 0)
    throw provider_error(what + " failed: cannot send the query");
  const ldns_rdf* query_mac = ldns_pkt_tsig(query.get()) ? ldns_rr_rdf(ldns_pkt_tsig(query.get()), 3) : nullptr;
  zone_records out;
  int soa = 0;
  for (std::size_t message = 0; soa < 2; ++message) {
    if (message > 1000000) throw provider_error(what + " failed: too many messages");
    size_t size = 0;
    std::unique_ptr<uint8_t, void (*)(void*)> data(ldns_tcp_read_wire_timeout(fd, &size, timeout), free);
    if (!data) throw provider_error(what + " failed: connection closed or timed out after " + std::to_string(message) + " message(s)");
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, data.get(), size) != LDNS_STATUS_OK) throw provider_error(what + " failed: malformed response");
    pkt_ptr pkt(raw);
    if (ldns_pkt_get_rcode(pkt.get()) != LDNS_RCODE_NOERROR)
      throw provider_error(what + " failed: " + response_problem(pkt.get()) + hint_for(pkt.get(), true));
    if (message == 0 && query_mac &&
        !ldns_pkt_tsig_verify(pkt.get(), data.get(), size, ldns_resolver_tsig_keyname(res),
                              ldns_resolver_tsig_keydata(res), query_mac))
      throw provider_error(what + " failed: the response's TSIG signature did not verify");
    const ldns_rr_list* answer = ldns_pkt_answer(pkt.get());
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(answer) && soa < 2; ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(answer, i);
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) ++soa;
      add_transferred(rr, out);
    }
    if (ldns_rr_list_rr_count(answer) == 0) throw provider_error(what + " failed: empty response");
  }
  return out;
}

void rfc2136_provider::send_update(void* resolver, const name_change& c) {
  auto* res = static_cast<ldns_resolver*>(resolver);
  rr_list_ptr pre(ldns_rr_list_new()), up(ldns_rr_list_new());
  const std::string owner = owner_record_name(c.name);
  if (c.action == change_action::create) {
    for (const char* type : {"A", "AAAA", "CNAME"}) push(pre.get(), empty_rr(c.name, type, LDNS_RR_CLASS_NONE));
    push(pre.get(), empty_rr(owner, "TXT", LDNS_RR_CLASS_NONE));
  } else {
    push(pre.get(), value_rr(owner, "TXT", 0, owner_value(opts_.owner_id), LDNS_RR_CLASS_IN));
  }
  for (const auto& s : c.del) {
    if (s.type == "TXT") {
      for (const auto& v : s.values) push(up.get(), value_rr(s.name, s.type, 0, v, LDNS_RR_CLASS_NONE));
    } else {
      push(up.get(), empty_rr(s.name, s.type, LDNS_RR_CLASS_ANY));
    }
  }
  for (const auto& s : c.put) {
    if (c.action != change_action::create) push(up.get(), empty_rr(s.name, s.type, LDNS_RR_CLASS_ANY));
    for (const auto& v : s.values) push(up.get(), value_rr(s.name, s.type, s.ttl, v, LDNS_RR_CLASS_IN));
  }
  pkt_ptr pkt(ldns_update_pkt_new(ldns_dname_new_frm_str(fqdn(opts_.zone).c_str()), LDNS_RR_CLASS_IN,
                                  pre.get(), up.get(), nullptr));
  if (!pkt) throw provider_error("could not build the update message");
  ldns_pkt_set_random_id(pkt.get());
  if (!opts_.tsig_key_name.empty()) {
    ldns_status st = ldns_update_pkt_tsig_add(pkt.get(), res);
    if (st != LDNS_STATUS_OK) throw provider_error(std::string("TSIG signing failed: ") + ldns_get_errorstr_by_id(st));
  }
  ldns_pkt* answer_raw = nullptr;
  ldns_status st = ldns_resolver_send_pkt(&answer_raw, res, pkt.get());
  pkt_ptr answer(answer_raw);
  if (answer && ldns_pkt_get_rcode(answer.get()) != LDNS_RCODE_NOERROR)
    throw provider_error("update refused by " + opts_.server + ": " + response_problem(answer.get()) +
                         hint_for(answer.get(), false));
  if (st != LDNS_STATUS_OK)
    throw provider_error("update to " + opts_.server + " failed: " + ldns_get_errorstr_by_id(st));
  if (!answer) throw provider_error("update to " + opts_.server + " failed: no response");
}

apply_result rfc2136_provider::apply(const plan& p) {
  apply_result r;
  if (p.changes.empty()) return r;
  auto holder = make_resolver();
  for (const auto& c : p.changes) {
    try {
      send_update(holder.get(), c);
      ++r.applied;
    } catch (const provider_error& e) {
      r.errors.push_back(c.name + ": " + e.what());
      r.failed.insert(c.name);
    }
  }
  return r;
}

}  // namespace portico::dnssync
