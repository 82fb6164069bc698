// The file source: directory walk, per-file last good objects, inotify reloads with debounce.
// Watch tests drive a real inotify in a temp dir by running the io_context until the expected
// reload count is reached (bounded so a broken source fails instead of hanging; nothing asserts
// on elapsed time).
#include "k8s-watch/file_source.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace fs = std::filesystem;
using portico::watch::file_source;
using portico::watch::file_source_options;
using portico::watch::load_dir;
using portico::watch::source_update;

namespace {

std::string service_yaml(const std::string& name, int port = 80) {
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name +
         "\n  namespace: default\nspec:\n  ports:\n  - name: http\n    port: " +
         std::to_string(port) + "\n";
}

std::string class_json() {
  return R"({"apiVersion":"networking.k8s.io/v1","kind":"IngressClass",)"
         R"("metadata":{"name":"portico"},"spec":{"controller":"portico.dev/ingress-controller"}})";
}

class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("portico-fs-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

bool has_error_containing(const source_update& u, const std::string& needle) {
  for (const auto& e : u.errors)
    if (e.find(needle) != std::string::npos) return true;
  return false;
}

// Runs the context until `done()`; the bound only turns a hang into a failure.
template <class Pred>
bool run_until(boost::asio::io_context& ctx, Pred done) {
  auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done() && std::chrono::steady_clock::now() < bound) {
    ctx.run_one_for(std::chrono::milliseconds(50));
  }
  return done();
}

file_source_options quick() {
  file_source_options o;
  o.debounce = std::chrono::milliseconds(50);
  o.max_delay = std::chrono::milliseconds(500);
  return o;
}

// A watched directory that keeps every update it was given.
struct watched {
  explicit watched(const fs::path& dir, file_source_options o = quick())
      : source(ctx, dir, [this](const source_update& u) { updates.push_back(u); }, o) {}
  const source_update& last() const { return updates.back(); }
  bool wait_reloads(std::size_t n) {
    return run_until(ctx, [&] { return source.reloads() >= n; });
  }

  boost::asio::io_context ctx;
  std::vector<source_update> updates;
  file_source source;
};

// ------------------------------------------------------------------------------ load_dir

TEST(file_source_load, reads_yaml_yml_and_json_recursively) {
  temp_dir d;
  write(d.path() / "a.yaml", service_yaml("a"));
  write(d.path() / "sub" / "b.yml", service_yaml("b"));
  write(d.path() / "sub" / "deeper" / "class.json", class_json());
  write(d.path() / "notes.txt", service_yaml("ignored-txt"));
  auto u = load_dir(d.path());
  EXPECT_TRUE(u.errors.empty()) << u.errors.front();
  EXPECT_FALSE(u.file_failed);
  EXPECT_EQ(u.files, 3u);
  EXPECT_TRUE(u.state.services.count("default/a"));
  EXPECT_TRUE(u.state.services.count("default/b"));
  EXPECT_TRUE(u.state.ingress_classes.count("portico"));
  EXPECT_FALSE(u.state.services.count("default/ignored-txt"));
  EXPECT_EQ(u.file_of("Service", "default", "b"), (d.path() / "sub" / "b.yml").string());
  EXPECT_EQ(u.file_of("IngressClass", "", "portico"),
            (d.path() / "sub" / "deeper" / "class.json").string());
  EXPECT_EQ(u.file_of("Service", "default", "nope"), "");
}

TEST(file_source_load, skips_hidden_files_and_directories) {
  temp_dir d;
  write(d.path() / ".hidden.yaml", service_yaml("hidden-file"));
  write(d.path() / ".git" / "x.yaml", service_yaml("hidden-dir"));
  write(d.path() / "visible.yaml", service_yaml("visible"));
  auto u = load_dir(d.path());
  EXPECT_EQ(u.files, 1u);
  EXPECT_TRUE(u.state.services.count("default/visible"));
  EXPECT_EQ(u.state.services.size(), 1u);
}

TEST(file_source_load, symlinked_directory_loop_is_walked_once) {
  temp_dir d;
  write(d.path() / "sub" / "a.yaml", service_yaml("a"));
  fs::create_directory_symlink("..", d.path() / "sub" / "loop");
  auto u = load_dir(d.path());
  EXPECT_EQ(u.files, 1u);
  EXPECT_TRUE(u.errors.empty()) << u.errors.front();
  EXPECT_TRUE(u.state.services.count("default/a"));
}

TEST(file_source_load, lists_manifests_in_sorted_order) {
  temp_dir d;
  write(d.path() / "b.yaml", service_yaml("b"));
  write(d.path() / "a" / "z.yaml", service_yaml("z"));
  write(d.path() / "a.yaml", service_yaml("a"));
  auto files = portico::watch::list_manifests(d.path());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_TRUE(std::is_sorted(files.begin(), files.end()));
}

TEST(file_source_load, syntax_error_names_file_and_line_and_other_files_still_load) {
  temp_dir d;
  write(d.path() / "good.yaml", service_yaml("good"));
  write(d.path() / "bad.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n");
  auto u = load_dir(d.path());
  EXPECT_TRUE(u.file_failed);
  EXPECT_TRUE(u.state.services.count("default/good"));
  EXPECT_TRUE(has_error_containing(u, (d.path() / "bad.yaml").string() + ":"));
}

TEST(file_source_load, object_error_keeps_the_files_other_objects) {
  temp_dir d;
  write(d.path() / "mixed.yaml", service_yaml("fine") +
                                     "---\napiVersion: v1\nkind: Service\nmetadata:\n"
                                     "  name: broken\n  namespace: default\nspec:\n"
                                     "  ports: 12\n");
  auto u = load_dir(d.path());
  EXPECT_FALSE(u.file_failed);
  EXPECT_TRUE(u.state.services.count("default/fine"));
  EXPECT_TRUE(has_error_containing(u, "broken")) << (u.errors.empty() ? "" : u.errors.front());
}

TEST(file_source_load, duplicate_object_in_two_files_is_reported_and_the_later_file_wins) {
  temp_dir d;
  write(d.path() / "1.yaml", service_yaml("dup", 80));
  write(d.path() / "2.yaml", service_yaml("dup", 81));
  auto u = load_dir(d.path());
  ASSERT_TRUE(u.state.services.count("default/dup"));
  EXPECT_EQ(u.state.services.at("default/dup").ports.at(0).port, 81);
  EXPECT_TRUE(has_error_containing(u, "also defined in"));
}

TEST(file_source_load, missing_directory_is_an_error) {
  temp_dir d;
  auto u = load_dir(d.path() / "nope");
  EXPECT_TRUE(u.file_failed);
  EXPECT_EQ(u.files, 0u);
  EXPECT_FALSE(u.errors.empty());
}

// The layout of a Kubernetes ConfigMap volume: files are symlinks through `..data`, which
// points at a hidden timestamped directory and is swapped atomically on update.
void configmap_version(const fs::path& dir, const std::string& version, const std::string& text) {
  write(dir / ("..v" + version) / "objects.yaml", text);
  fs::create_directory_symlink("..v" + version, dir / "..data_tmp");
  fs::rename(dir / "..data_tmp", dir / "..data");
  if (!fs::is_symlink(dir / "objects.yaml"))
    fs::create_symlink("..data/objects.yaml", dir / "objects.yaml");
}

TEST(file_source_load, configmap_volume_objects_are_read_once_through_the_symlink) {
  temp_dir d;
  configmap_version(d.path(), "1", service_yaml("cm"));
  auto u = load_dir(d.path());
  EXPECT_EQ(u.files, 1u);
  EXPECT_TRUE(u.errors.empty());
  EXPECT_TRUE(u.state.services.count("default/cm"));
}

// ------------------------------------------------------------------------------ watching

TEST(file_source_watch, start_loads_once_synchronously) {
  temp_dir d;
  write(d.path() / "a.yaml", service_yaml("a"));
  watched w(d.path());
  w.source.start();
  ASSERT_EQ(w.updates.size(), 1u);
  EXPECT_TRUE(w.last().state.services.count("default/a"));
}

TEST(file_source_watch, new_file_is_picked_up) {
  temp_dir d;
  watched w(d.path());
  w.source.start();
  write(d.path() / "new.yaml", service_yaml("new"));
  ASSERT_TRUE(w.wait_reloads(2));
  EXPECT_TRUE(w.last().state.services.count("default/new"));
}

TEST(file_source_watch, file_in_new_subdirectory_is_picked_up) {
  temp_dir d;
  watched w(d.path());
  w.source.start();
  fs::create_directories(d.path() / "team");
  // The new directory is watched after the scan its creation triggers; a file written
  // there later must be seen too.
  ASSERT_TRUE(run_until(w.ctx, [&] { return w.source.scans() >= 1; }));
  write(d.path() / "team" / "svc.yaml", service_yaml("team-svc"));
  ASSERT_TRUE(w.wait_reloads(2));
  EXPECT_TRUE(w.last().state.services.count("default/team-svc"));
}

TEST(file_source_watch, broken_file_keeps_its_last_good_objects_until_fixed) {
  temp_dir d;
  write(d.path() / "a.yaml", service_yaml("a", 80));
  write(d.path() / "b.yaml", service_yaml("b"));
  watched w(d.path());
  w.source.start();
  write(d.path() / "a.yaml", "kind: Service\nmetadata: {name: [oops\n");
  ASSERT_TRUE(w.wait_reloads(2));
  EXPECT_TRUE(w.last().file_failed);
  ASSERT_TRUE(w.last().state.services.count("default/a"));
  EXPECT_EQ(w.last().state.services.at("default/a").ports.at(0).port, 80);
  EXPECT_TRUE(w.last().state.services.count("default/b"));
  EXPECT_TRUE(has_error_containing(w.last(), (d.path() / "a.yaml").string()));

  write(d.path() / "a.yaml", service_yaml("a", 8080));
  ASSERT_TRUE(w.wait_reloads(3));
  EXPECT_FALSE(w.last().file_failed);
  EXPECT_TRUE(w.last().errors.empty());
  EXPECT_EQ(w.last().state.services.at("default/a").ports.at(0).port, 8080);
}

TEST(file_source_watch, deleted_file_removes_its_objects) {
  temp_dir d;
  write(d.path() / "a.yaml", service_yaml("a"));
  write(d.path() / "b.yaml", service_yaml("b"));
  watched w(d.path());
  w.source.start();
  fs::remove(d.path() / "a.yaml");
  ASSERT_TRUE(w.wait_reloads(2));
  EXPECT_FALSE(w.last().state.services.count("default/a"));
  EXPECT_TRUE(w.last().state.services.count("default/b"));
}

TEST(file_source_watch, burst_of_changes_gives_one_reload) {
  temp_dir d;
  file_source_options o;
  o.debounce = std::chrono::seconds(2);  // far longer than the burst takes to write
  o.max_delay = std::chrono::seconds(30);
  watched w(d.path(), o);
  w.source.start();
  // Twenty writes (in place and by rename), with the source reading the events of each
  // write before the next one: without the debounce every write would give its own reload.
  for (int i = 0; i < 20; ++i) {
    std::string name = std::string("s").append(std::to_string(i));
    auto p = d.path() / (name + ".yaml");
    if (i % 2) {
      write(d.path() / ".tmp", service_yaml(name));
      fs::rename(d.path() / ".tmp", p);
    } else {
      write(p, service_yaml(name));
    }
    w.ctx.poll();
  }
  ASSERT_TRUE(w.wait_reloads(2));
  EXPECT_EQ(w.last().state.services.size(), 20u);
  // A later marker change gives exactly one more reload: nothing of the burst was left over.
  write(d.path() / "marker.yaml", service_yaml("marker"));
  ASSERT_TRUE(w.wait_reloads(3));
  EXPECT_EQ(w.updates.size(), 3u);
  EXPECT_TRUE(w.last().state.services.count("default/marker"));
  EXPECT_FALSE(w.updates[1].state.services.count("default/marker"));
}

TEST(file_source_watch, max_delay_bounds_the_wait_for_a_quiet_moment) {
  temp_dir d;
  file_source_options o;
  o.debounce = std::chrono::hours(1);  // never quiet long enough
  o.max_delay = std::chrono::milliseconds(100);
  watched w(d.path(), o);
  w.source.start();
  write(d.path() / "a.yaml", service_yaml("a"));
  ASSERT_TRUE(w.wait_reloads(2));
  EXPECT_TRUE(w.last().state.services.count("default/a"));
}

TEST(file_source_watch, event_without_content_change_does_not_reload) {
  temp_dir d;
  write(d.path() / "a.yaml", service_yaml("a"));
  watched w(d.path());
  w.source.start();
  write(d.path() / "a.yaml", service_yaml("a"));  // same bytes again
  ASSERT_TRUE(run_until(w.ctx, [&] { return w.source.scans() >= 1; }));
  EXPECT_EQ(w.source.reloads(), 1u);
  // The source still works after the no-op scan.
  write(d.path() / "a.yaml", service_yaml("a", 81));
  ASSERT_TRUE(w.wait_reloads(2));
  EXPECT_EQ(w.last().state.services.at("default/a").ports.at(0).port, 81);
}

TEST(file_source_watch, configmap_symlink_swap_is_picked_up) {
  temp_dir d;
  configmap_version(d.path(), "1", service_yaml("cm", 80));
  watched w(d.path());
  w.source.start();
  ASSERT_EQ(w.last().state.services.at("default/cm").ports.at(0).port, 80);
  configmap_version(d.path(), "2", service_yaml("cm", 81));
  fs::remove_all(d.path() / "..v1");  // the kubelet removes the old version
  ASSERT_TRUE(w.wait_reloads(2));
  EXPECT_FALSE(w.last().file_failed);
  EXPECT_EQ(w.last().state.services.at("default/cm").ports.at(0).port, 81);
}

TEST(file_source_watch, stop_prevents_further_reloads) {
  temp_dir d;
  watched w(d.path());
  w.source.start();
  w.source.stop();
  write(d.path() / "late.yaml", service_yaml("late"));
  w.ctx.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(w.source.reloads(), 1u);
}

}  // namespace
