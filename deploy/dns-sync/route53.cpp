#include "deploy/dns-sync/route53.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

extern char** environ;

namespace portico::dnssync {

namespace json = boost::json;

namespace {

std::string quoted(const std::string& txt) {
  std::string out = "\"";
  for (char c : txt) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

json::object change(const char* action, const rrset& s) {
  json::array records;
  for (const auto& v : s.values) records.push_back(json::object{{"Value", s.type == "TXT" ? quoted(v) : v}});
  json::object set{{"Name", s.name + "."}, {"Type", s.type}, {"TTL", s.ttl}, {"ResourceRecords", std::move(records)}};
  return json::object{{"Action", action}, {"ResourceRecordSet", std::move(set)}};
}

std::string batch_text(json::array changes, std::string_view comment) {
  json::object batch{{"Comment", comment}, {"Changes", std::move(changes)}};
  return json::serialize(batch) + "\n";
}

// "\052.example.com." -> "*.example.com" (Route 53 escapes some characters as \ooo).
std::string decode_r53_name(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      std::string oct(s.substr(i + 1, 3));
      if (oct.size() == 3 && oct.find_first_not_of("01234567") == std::string::npos) {
        out += static_cast<char>(std::strtol(oct.c_str(), nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// A TXT value as Route 53 shows it ("\"a\" \"b\"", strings concatenated) to its text.
std::string txt_text(std::string_view v) {
  std::string out;
  bool in = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '"') in = !in;
    else if (c == '\\' && in && i + 1 < v.size()) out += v[++i];
    else if (in) out += c;
  }
  return out;
}

}  // namespace

std::vector<std::string> route53_change_batches(const plan& p, std::string_view comment,
                                                std::size_t max_changes) {
  std::vector<std::string> out;
  json::array changes;
  for (const auto& c : p.changes) {
    json::array mine;
    for (const auto& s : c.del) mine.push_back(change("DELETE", s));
    for (const auto& s : c.put) mine.push_back(change("UPSERT", s));
    if (!changes.empty() && changes.size() + mine.size() > max_changes) {
      out.push_back(batch_text(std::move(changes), comment));
      changes = {};
    }
    for (auto& m : mine) changes.push_back(std::move(m));
  }
  if (!changes.empty()) out.push_back(batch_text(std::move(changes), comment));
  return out;
}

zone_records parse_route53_record_sets(std::string_view text) {
  zone_records out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) throw provider_error("list-resource-record-sets: output is not a JSON object");
  const auto* sets = v.as_object().if_contains("ResourceRecordSets");
  if (!sets || !sets->is_array()) throw provider_error("list-resource-record-sets: no ResourceRecordSets array");
  for (const auto& item : sets->as_array()) {
    const auto* o = item.if_object();
    if (!o) continue;
    const auto* name = o->if_contains("Name");
    const auto* type = o->if_contains("Type");
    const auto* ttl = o->if_contains("TTL");
    const auto* recs = o->if_contains("ResourceRecords");
    if (!name || !name->is_string() || !type || !type->is_string() || !recs || !recs->is_array()) continue;
    auto n = normalize_name(decode_r53_name(name->as_string()));
    std::string t(type->as_string());
    if (!n || (t != "A" && t != "AAAA" && t != "CNAME" && t != "TXT")) continue;
    std::uint32_t ttl_v = ttl && ttl->is_int64() ? static_cast<std::uint32_t>(ttl->as_int64()) : 0;
    for (const auto& r : recs->as_array()) {
      const auto* val = r.is_object() ? r.as_object().if_contains("Value") : nullptr;
      if (!val || !val->is_string()) continue;
      std::string value(val->as_string());
      if (t == "TXT") value = txt_text(value);
      else if (t == "CNAME" && value.ends_with(".")) value.pop_back();
      else if (auto ip = canonical_ip(value)) value = *ip;
      out.add(*n, t, ttl_v, std::move(value));
    }
  }
  return out;
}

std::string find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string_view p = path ? path : "/usr/bin:/bin";
  while (!p.empty()) {
    auto colon = p.find(':');
    std::string dir(p.substr(0, colon));
    p = colon == std::string_view::npos ? std::string_view{} : p.substr(colon + 1);
    if (dir.empty()) continue;
    std::string full = dir + "/" + name;
    if (access(full.c_str(), X_OK) == 0) return full;
  }
  return "";
}

process_result run_process(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) throw provider_error("pipe failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    throw provider_error("pipe failed");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out_pipe[1]);
  close(err_pipe[1]);
  process_result r;
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    throw provider_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* bufs[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0 && poll(fds, 2, -1) >= 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        bufs[i]->append(buf, static_cast<std::size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace portico::dnssync

namespace portico::dnssync {

route53_provider::route53_provider(route53_options opts) : opts_(std::move(opts)) {
  if (!opts_.zone_id.empty()) aws_ = find_executable(opts_.aws_cli.empty() ? "aws" : opts_.aws_cli);
  if (opts_.out_dir.empty()) {
    if (aws_.empty()) throw provider_error("route53: --route53-out is required unless batches are sent with the aws CLI");
    std::string tmpl = (std::filesystem::temp_directory_path() / "portico-route53-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw provider_error("route53: cannot create a directory for the batches");
    opts_.out_dir = tmpl;
  }
  std::error_code ec;
  std::filesystem::create_directories(opts_.out_dir, ec);
  if (ec) throw provider_error("route53: cannot create " + opts_.out_dir + ": " + ec.message());
  for (const auto& e : std::filesystem::directory_iterator(opts_.out_dir, ec)) {
    std::string f = e.path().filename().string();
    unsigned n = 0;
    if (std::sscanf(f.c_str(), "batch-%u.json", &n) == 1 && n > seq_) seq_ = n;
  }
}

std::string route53_provider::describe() const {
  std::string d = "route53 batches in " + opts_.out_dir;
  if (!aws_.empty()) d += ", sent to hosted zone " + opts_.zone_id + " with " + aws_;
  else if (!opts_.zone_id.empty()) d += " (aws CLI not found: not sent)";
  return d;
}

std::string route53_provider::next_batch_path() {
  char name[32];
  std::snprintf(name, sizeof name, "batch-%06u.json", ++seq_);
  return (std::filesystem::path(opts_.out_dir) / name).string();
}

zone_records route53_provider::read() {
  if (aws_.empty()) return written_;
  auto r = run_process({aws_, "route53", "list-resource-record-sets", "--hosted-zone-id", opts_.zone_id,
                        "--output", "json"});
  if (r.exit_code != 0)
    throw provider_error("aws route53 list-resource-record-sets failed (exit " + std::to_string(r.exit_code) +
                         "): " + r.err);
  zone_records all = parse_route53_record_sets(r.out), out;
  for (const auto& [name, types] : all.names())
    if (in_zone(name, opts_.zone))
      for (const auto& [type, set] : types) out.put(set);
  return out;
}

apply_result route53_provider::apply(const plan& p) {
  apply_result res;
  // One plan per batch (the same grouping route53_change_batches makes), so that a refused
  // batch names the changes that did not happen: its own and every later one.
  std::vector<plan> chunks;
  std::size_t in_chunk = 0;
  for (const auto& c : p.changes) {
    std::size_t n = c.put.size() + c.del.size();
    if (chunks.empty() || (in_chunk > 0 && in_chunk + n > 1000)) {
      chunks.emplace_back();
      in_chunk = 0;
    }
    chunks.back().changes.push_back(c);
    in_chunk += n;
  }
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    std::string error = send_batch(route53_change_batches(chunks[i], "portico dns-sync").at(0));
    if (error.empty()) {
      res.applied += chunks[i].changes.size();
      apply_to(written_, chunks[i]);
      continue;
    }
    res.errors.push_back(error);
    for (std::size_t j = i; j < chunks.size(); ++j)
      for (const auto& c : chunks[j].changes) res.failed.insert(c.name);
    break;  // later batches wait for the next sync (which reads the zone again)
  }
  return res;
}

std::string route53_provider::send_batch(const std::string& batch) {
  std::string path = next_batch_path();
  // Written beside it under a hidden name, then renamed: whoever watches the directory for
  // new batches never reads one half written.
  const std::filesystem::path final_path(path);
  std::string tmp_name(1, '.');
  tmp_name += final_path.filename().string();
  tmp_name += ".tmp";
  const std::filesystem::path tmp = final_path.parent_path() / tmp_name;
  std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
  f << batch;
  f.close();
  std::error_code ec;
  if (f) std::filesystem::rename(tmp, final_path, ec);
  if (!f || ec) {
    std::filesystem::remove(tmp, ec);
    return path + ": cannot write the change batch";
  }
  if (aws_.empty()) return "";
  auto r = run_process({aws_, "route53", "change-resource-record-sets", "--hosted-zone-id", opts_.zone_id,
                        "--change-batch", "file://" + path});
  if (r.exit_code == 0) return "";
  while (!r.err.empty() && std::isspace(static_cast<unsigned char>(r.err.back()))) r.err.pop_back();
  return path + ": aws route53 change-resource-record-sets failed (exit " + std::to_string(r.exit_code) +
         "): " + r.err;
}

}  // namespace portico::dnssync
