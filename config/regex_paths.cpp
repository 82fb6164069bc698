#include "config/regex_paths.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <re2/re2.h>

namespace portico::config {
namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// ingress-nginx's needsRewrite(): a target that differs from the path.
bool needs_rewrite(const route& r) {
  const auto& t = r.policy->rewrite.target;
  return !t.empty() && t != r.path;
}

bool asks_for_regex(const route& r) { return r.policy->rewrite.use_regex || needs_rewrite(r); }

std::string base_type(const std::string& path_type) {
  return path_type.substr(0, path_type.find(' '));  // "ImplementationSpecific (as Prefix)"
}

void error(std::vector<build_error>& errors, const route& r, std::string message) {
  errors.push_back({"Ingress", r.namespace_name, r.ingress_name, "spec.rules",
                    "host \"" + r.host + "\" path \"" + r.path + "\": " + std::move(message)});
}

}  // namespace

std::shared_ptr<const re2::RE2> compile_path_regex(const std::string& pattern, std::string* why) {
  re2::RE2::Options o;
  o.set_case_sensitive(false);
  o.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(pattern, o);
  if (!re->ok()) {
    if (why) *why = re->error();
    return nullptr;
  }
  return re;
}

void apply_regex_paths(std::vector<std::shared_ptr<route>>& routes, host_table& table,
                       std::vector<build_error>& errors) {
  std::map<std::string, std::vector<route*>> by_host;
  for (auto& r : routes)
    if (!r->is_default_backend) by_host[lower(r->host)].push_back(r.get());

  for (auto& [host, rs] : by_host) {
    if (std::none_of(rs.begin(), rs.end(), [](const route* r) { return asks_for_regex(*r); }))
      continue;
    path_table* t = table.table_of(host);
    if (t == nullptr) continue;
    std::set<std::string> exact_paths;
    for (const route* r : rs)
      if (r->kind == match_kind::exact) exact_paths.insert(r->path);

    struct loc {
      std::string pattern;
      route* r;
      std::size_t order;  // position before sorting: ties keep it
    };
    std::vector<loc> locs;
    for (route* r : rs) {
      const std::string type = base_type(r->path_type);
      r->path_type = type + " (regex)";
      if (type == "Prefix" && r->path != "/" && !asks_for_regex(*r)) {
        std::string dir = r->path;
        if (!dir.ends_with('/')) dir += '/';
        locs.push_back({dir, r, locs.size()});
        if (!exact_paths.contains(r->path) && dir != r->path)
          locs.push_back({r->path, r, locs.size()});
      } else {
        locs.push_back({r->path, r, locs.size()});
      }
    }
    // ingress-nginx: sort.SliceStable by path descending, then by length descending; the same
    // order in one std::sort: length descending, then path descending, then listed order.
    // (Not std::stable_sort: GCC 12's libstdc++ frees its temporary buffer in a way ASan
    // reports as an alloc-dealloc mismatch.)
    std::sort(locs.begin(), locs.end(), [](const loc& a, const loc& b) {
      if (a.pattern.size() != b.pattern.size()) return a.pattern.size() > b.pattern.size();
      if (a.pattern != b.pattern) return a.pattern > b.pattern;
      return a.order < b.order;
    });
    std::vector<regex_location> out;
    std::set<const route*> refused;
    for (auto& l : locs) {
      if (refused.contains(l.r)) continue;
      std::string why;
      auto re = compile_path_regex("^" + l.pattern, &why);
      if (!re) {
        error(errors, *l.r,
              "not a regular expression RE2 accepts (" + why +
                  "; lookaround and backreferences are not supported); the path is not served");
        refused.insert(l.r);
        continue;
      }
      out.push_back({l.pattern, std::move(re), l.r->index});
    }
    std::erase_if(out, [&](const regex_location& l) {
      return std::any_of(refused.begin(), refused.end(),
                         [&](const route* r) { return r->index == l.index; });
    });
    t->set_regex(std::move(out));

    for (route* r : rs) {
      if (!needs_rewrite(*r) || refused.contains(r)) continue;
      std::string why;
      r->rewrite_regex = compile_path_regex(r->path, &why);
      if (!r->rewrite_regex)
        error(errors, *r, "rewrite-target: the path is not a regular expression RE2 accepts (" + why +
                              "); not rewritten");
    }
  }
}

}  // namespace portico::config
