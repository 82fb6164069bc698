// The file source: Kubernetes objects from a directory of YAML/JSON manifests, re-read on
// change (inotify). It is how Portico runs on a laptop, in tests and in the demo.
//
// Every *.yaml, *.yml and *.json under the directory is read (recursively, in sorted path
// order); names starting with '.' are skipped, which also skips the `..data` and
// `..<timestamp>` directories of a Kubernetes ConfigMap volume (whose visible files are
// symlinks through `..data`, swapped atomically by the kubelet).
//
// Errors never throw away good state: a file that cannot be read or parsed keeps the objects
// of its last good version (and is reported with file and line); an object that fails to
// decode is reported and the file's other objects are used; a deleted file removes its objects.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/cluster_state.hpp"

namespace portico::watch {

struct source_update {
  config::cluster_state state;
  // Every problem of this load, one line each: "dir/x.yaml:12: Ingress default/web: field: msg".
  std::vector<std::string> errors;
  // True when at least one file could not be read or parsed as a whole (its last good objects,
  // if any, are in `state`): the caller should mark the reload as failed.
  bool file_failed = false;
  std::size_t files = 0;  // manifest files found
  // "Kind namespace/name" (as config::build_error names objects) -> the file it came from.
  std::map<std::string, std::string> origin;

  // The file an object came from, or "" (for prefixing build errors).
  std::string file_of(const std::string& kind, const std::string& namespace_name,
                      const std::string& name) const;
};

// Reads the directory once, synchronously (used by `portico routes`).
source_update load_dir(const std::filesystem::path& dir);

// The manifest files under `dir` as described above. Directory walk errors are appended to
// `errors` when given.
std::vector<std::filesystem::path> list_manifests(const std::filesystem::path& dir,
                                                  std::vector<std::string>* errors = nullptr);

struct file_source_options {
  // A burst of changes gives one reload: the reload runs `debounce` after the last event, but
  // never later than `max_delay` after the first event of the burst.
  std::chrono::milliseconds debounce{200};
  std::chrono::milliseconds max_delay{1000};
};

class file_source {
 public:
  using change_handler = std::function<void(const source_update&)>;

  // Runs on `ctx` (the control thread's io_context); `on_change` is called on it.
  file_source(boost::asio::io_context& ctx, std::filesystem::path dir, change_handler on_change,
              file_source_options opts = {});
  ~file_source();
  file_source(const file_source&) = delete;
  file_source& operator=(const file_source&) = delete;

  // Loads the directory (calling on_change once, synchronously) and starts watching.
  // Throws std::system_error when inotify cannot be set up.
  void start();
  // Stops watching; pending work is cancelled. on_change is not called afterwards.
  void stop();

  // Number of times on_change has been called (the initial load counts).
  std::size_t reloads() const;
  // Number of re-scans triggered by events, including those that found nothing changed.
  std::size_t scans() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace portico::watch
