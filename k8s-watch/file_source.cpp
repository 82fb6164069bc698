#include "k8s-watch/file_source.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <system_error>

#include "config/decode.hpp"

namespace portico::watch {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

constexpr int max_depth = 16;  // guards against symlinked directory loops

bool hidden(const fs::path& p) {
  auto name = p.filename().native();
  return !name.empty() && name[0] == '.';
}

bool manifest_extension(const fs::path& p) {
  auto ext = p.extension().native();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

// Reads a whole file; nullopt and `err` set on failure.
std::optional<std::string> read_file(const fs::path& p, std::string& err) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = std::strerror(errno);
    return std::nullopt;
  }
  std::string out;
  std::array<char, 65536> buf;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      err = std::strerror(errno);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

struct walk_result {
  std::vector<fs::path> files;
  std::vector<fs::path> dirs;  // the top directory first, then non-hidden subdirectories
  std::vector<std::string> errors;
  bool top_ok = true;
};

walk_result walk(const fs::path& dir) {
  walk_result r;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    r.top_ok = false;
    r.errors.push_back(dir.string() + ": cannot read directory: " +
                       (ec ? ec.message() : std::string("not a directory")));
    return r;
  }
  r.dirs.push_back(dir);
  std::set<fs::path> seen{fs::canonical(dir, ec)};
  auto opts = fs::directory_options::follow_directory_symlink |
              fs::directory_options::skip_permission_denied;
  fs::recursive_directory_iterator it(dir, opts, ec), end;
  if (ec) {
    r.top_ok = false;
    r.errors.push_back(dir.string() + ": cannot read directory: " + ec.message());
    return r;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      r.errors.push_back(dir.string() + ": " + ec.message());
      break;
    }
    const fs::path& p = it->path();
    std::error_code sec;
    bool is_dir = fs::is_directory(p, sec);  // follows symlinks (ConfigMap files are symlinks)
    if (hidden(p)) {
      if (is_dir) it.disable_recursion_pending();
      continue;
    }
    if (is_dir) {
      // A directory reached twice through symlinks is walked once.
      auto real = fs::canonical(p, sec);
      if (it.depth() >= max_depth || sec || !seen.insert(real).second) {
        it.disable_recursion_pending();
      } else {
        r.dirs.push_back(p);
      }
      continue;
    }
    if (manifest_extension(p) && fs::is_regular_file(p, sec)) r.files.push_back(p);
  }
  std::sort(r.files.begin(), r.files.end());
  return r;
}

std::string object_label(const std::string& kind, const std::string& ns, const std::string& name) {
  return kind + " " + (ns.empty() ? name : ns + "/" + name);
}

// A syntax error (or an error about the stream rather than an object) makes the whole file
// invalid; so does a file where every document failed.
bool whole_file_failed(const config::decode_result& d) {
  if (d.errors.empty()) return false;
  if (d.objects.empty()) return true;
  for (const auto& e : d.errors) {
    if (e.object.empty() && e.field.empty()) return true;
  }
  return false;
}

// What is known about one manifest file: its last content and the objects of its last good
// version.
struct file_entry {
  std::string text;
  bool read_error = false;
  bool failed = false;  // the last read or parse failed; objects are from an older version
  std::vector<config::any_object> objects;
  std::vector<std::string> errors;
};

// The set of manifest files and their last good objects. Rescanning re-reads every file but
// decodes only those whose content changed.
class manifest_set {
 public:
  explicit manifest_set(fs::path dir) : dir_(std::move(dir)) {}

  // Returns true when anything visible (objects or errors) may have changed.
  bool rescan() {
    walk_result w = walk(dir_);
    dirs_ = w.dirs;
    bool changed = w.errors != walk_errors_;
    walk_errors_ = w.errors;
    if (!w.top_ok) return changed;  // keep every file's last good objects
    std::set<fs::path> present(w.files.begin(), w.files.end());
    for (auto it = files_.begin(); it != files_.end();) {
      if (present.count(it->first)) {
        ++it;
      } else {
        it = files_.erase(it);
        changed = true;
      }
    }
    for (const auto& f : w.files) changed |= refresh(f);
    return changed;
  }

  source_update current() const {
    source_update u;
    u.files = files_.size();
    u.errors = walk_errors_;
    u.file_failed = !walk_errors_.empty();
    std::map<std::pair<int, std::string>, std::string> origin;  // (kind, key) -> file
    for (const auto& [path, e] : files_) {
      u.errors.insert(u.errors.end(), e.errors.begin(), e.errors.end());
      u.file_failed |= e.failed;
      for (const auto& obj : e.objects) {
        auto key = std::make_pair(static_cast<int>(config::kind_of(obj)),
                                  config::object_key(config::meta_of(obj)));
        auto [it, fresh] = origin.emplace(key, path.string());
        if (!fresh) {
          u.errors.push_back(path.string() + ": " + config::kind_name(config::kind_of(obj)) + " " +
                             key.second + " is also defined in " + it->second +
                             "; the definition in " + path.string() + " is used");
          it->second = path.string();
        }
        const auto& m = config::meta_of(obj);
        u.origin[object_label(config::kind_name(config::kind_of(obj)), m.namespace_name, m.name)] =
            path.string();
        config::apply(u.state, obj);
      }
    }
    return u;
  }

  const std::vector<fs::path>& dirs() const { return dirs_; }

 private:
  // Re-reads one file; returns true when its outcome changed.
  bool refresh(const fs::path& f) {
    auto [it, fresh] = files_.try_emplace(f);
    file_entry& e = it->second;
    std::string err;
    auto text = read_file(f, err);
    if (!text) {
      std::vector<std::string> errs{f.string() + ": cannot read: " + err};
      bool changed = fresh || !e.read_error || errs != e.errors;
      e.read_error = e.failed = true;
      e.errors = std::move(errs);
      return changed;
    }
    if (!fresh && !e.read_error && *text == e.text) return false;
    e.read_error = false;
    e.text = std::move(*text);
    bool json = f.extension() == ".json";
    auto d = json ? config::decode_json(e.text, f.string()) : config::decode_yaml(e.text, f.string());
    e.errors.clear();
    for (const auto& de : d.errors) e.errors.push_back(de.to_string());
    e.failed = whole_file_failed(d);
    if (e.failed && !e.objects.empty()) {
      e.errors.push_back(f.string() + ": invalid; keeping the objects of its last good version");
    }
    if (!e.failed) e.objects = std::move(d.objects);
    return true;
  }

  fs::path dir_;
  std::map<fs::path, file_entry> files_;
  std::vector<std::string> walk_errors_;
  std::vector<fs::path> dirs_;
};

}  // namespace

std::string source_update::file_of(const std::string& kind, const std::string& namespace_name,
                                   const std::string& name) const {
  auto it = origin.find(object_label(kind, namespace_name, name));
  return it == origin.end() ? std::string() : it->second;
}

std::vector<fs::path> list_manifests(const fs::path& dir, std::vector<std::string>* errors) {
  walk_result w = walk(dir);
  if (errors) errors->insert(errors->end(), w.errors.begin(), w.errors.end());
  return w.files;
}

source_update load_dir(const fs::path& dir) {
  manifest_set set(dir);
  set.rescan();
  return set.current();
}

// ------------------------------------------------------------------------------ file_source

struct file_source::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& ctx, fs::path dir, change_handler cb, file_source_options o)
      : set(dir), dir(std::move(dir)), on_change(std::move(cb)), opts(o), events(ctx),
        debounce(ctx), retry(ctx) {}

  manifest_set set;
  fs::path dir;
  change_handler on_change;
  file_source_options opts;
  asio::posix::stream_descriptor events;
  asio::steady_timer debounce;
  asio::steady_timer retry;  // re-watches the directory while it is missing
  std::map<int, fs::path> watches;  // wd -> directory
  alignas(inotify_event) std::array<char, 64 * 1024> buf{};
  bool stopped = false;
  bool pending = false;
  std::uint64_t generation = 0;
  clock::time_point burst_start{};
  std::size_t reloads = 0;
  std::size_t scans = 0;

  void start() {
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
    events.assign(fd);
    set.rescan();
    sync_watches();
    emit();
    read_events();
    arm_retry();
  }

  void stop() {
    stopped = true;
    boost::system::error_code ec;
    debounce.cancel();
    retry.cancel();
    events.close(ec);
  }

  void emit() {
    if (stopped) return;
    ++reloads;
    on_change(set.current());
  }

  // Watches exactly the directories of the last scan.
  void sync_watches() {
    constexpr std::uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
                                   IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB |
                                   IN_ONLYDIR | IN_EXCL_UNLINK;
    std::map<int, fs::path> next;
    for (const auto& d : set.dirs()) {
      int wd = ::inotify_add_watch(events.native_handle(), d.c_str(), mask);
      if (wd >= 0) next[wd] = d;
    }
    for (const auto& [wd, d] : watches) {
      if (!next.count(wd)) ::inotify_rm_watch(events.native_handle(), wd);
    }
    watches = std::move(next);
  }

  bool top_watched() const {
    for (const auto& [wd, d] : watches) {
      if (d == dir) return true;
    }
    return false;
  }

  // While the directory is missing (deleted, not yet mounted), look again every second.
  void arm_retry() {
    if (stopped || top_watched()) return;
    retry.expires_after(std::chrono::seconds(1));
    retry.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped) return;
      self->schedule();
    });
  }

  void read_events() {
    events.async_read_some(asio::buffer(buf), [self = shared_from_this()](
                                                  boost::system::error_code ec, std::size_t n) {
      if (ec || self->stopped) return;
      self->handle_events(n);
      self->read_events();
    });
  }

  void handle_events(std::size_t n) {
    bool any = false;
    for (std::size_t off = 0; off + sizeof(inotify_event) <= n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf.data() + off);
      off += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_IGNORED) {
        watches.erase(ev->wd);  // the directory is gone; the next scan decides
      }
      any = true;
    }
    if (any) schedule();
  }

  // Debounce: run `debounce` after the last event, at most `max_delay` after the first.
  void schedule() {
    auto now = clock::now();
    if (!pending) {
      pending = true;
      burst_start = now;
    }
    auto at = std::min(now + opts.debounce, burst_start + opts.max_delay);
    std::uint64_t gen = ++generation;
    debounce.expires_at(at);
    debounce.async_wait([self = shared_from_this(), gen](boost::system::error_code ec) {
      if (ec || self->stopped || gen != self->generation) return;
      self->pending = false;
      self->scan();
    });
  }

  void scan() {
    ++scans;
    bool changed = set.rescan();
    sync_watches();
    if (changed) emit();
    arm_retry();
  }
};

file_source::file_source(asio::io_context& ctx, fs::path dir, change_handler on_change,
                         file_source_options opts)
    : impl_(std::make_shared<impl>(ctx, std::move(dir), std::move(on_change), opts)) {}

file_source::~file_source() { impl_->stop(); }

void file_source::start() { impl_->start(); }
void file_source::stop() { impl_->stop(); }
std::size_t file_source::reloads() const { return impl_->reloads; }
std::size_t file_source::scans() const { return impl_->scans; }

}  // namespace portico::watch
