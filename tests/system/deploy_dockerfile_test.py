"""deploy/Dockerfile: no container engine runs here, so the image is not built by the tests.
What is checked instead is that its commands are the ones the tests already run:
  - the build stage runs deploy/install-deps.sh and the Release configure/build commands of
    tests/run.sh, in the same order;
  - the runtime stage installs exactly the Debian packages that own the shared libraries in
    `ldd` of the built binary (beyond what debian:12-slim already has), and no -dev package;
  - the image's user and entrypoint are what the DaemonSet expects, and `portico serve`
    accepts every argument the DaemonSet passes."""

import os
import re
import shlex
import subprocess
import sys
import unittest

import deploy_render as dr

# In debian:12-slim already (Priority: required, or pulled in by apt).
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "libzstd1", "zlib1g"}
# Sanitizer runtimes appear only in the instrumented test build.
SANITIZER_PACKAGES = re.compile(r"^lib(asan|ubsan|lsan|tsan)\d+$")


def dockerfile_stages():
    """[(from_line, [instruction, ...])] with continuation lines joined and comments dropped."""
    text = (dr.source_dir() / "deploy" / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append((line, []))
        else:
            stages[-1][1].append(line)
    return stages


def run_commands(instructions):
    """The shell commands of RUN instructions, split on `&&`, whitespace normalised."""
    out = []
    for ins in instructions:
        if ins.upper().startswith("RUN "):
            out += [" ".join(c.split()) for c in ins[4:].split("&&")]
    return out


def run_sh_release_commands():
    """tests/run.sh's dependency and CMake commands, expanded for its `release` build."""
    text = (dr.source_dir() / "tests" / "run.sh").read_text()
    flags = re.search(r"^\s*release\)\s*flags=\(([^)]*)\)", text, re.M).group(1).split()
    assert re.search(r'^\s*dir="build/\$v"', text, re.M), "run.sh: build dir layout changed"
    assert re.search(r"^\s*jobs=\$\(nproc\)", text, re.M), "run.sh: job count changed"
    cmds = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("bash deploy/install-deps.sh") or line.startswith("cmake "):
            line = re.sub(r"\s*>/dev/null$", "", line)
            line = line.replace('"$dir"', "build/release").replace('"$jobs"', '"$(nproc)"')
            line = line.replace('"${flags[@]}"', " ".join(flags))
            # The compiler launcher (ccache) changes where objects come from, not what is
            # built; an image build has no cache to reuse.
            line = line.replace('"${launcher[@]}"', "")
            cmds.append(" ".join(line.split()))
    return cmds


def apt_install_packages(instructions):
    pkgs = []
    for cmd in run_commands(instructions):
        words = shlex.split(cmd)
        if words[:2] == ["apt-get", "install"]:
            pkgs += [w for w in words[2:] if not w.startswith("-")]
    return pkgs


def linked_packages(binary):
    """Debian packages owning the shared libraries `ldd binary` resolves."""
    p = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    paths = re.findall(r"=> (/\S+)", p.stdout)
    assert paths, f"ldd found no shared libraries:\n{p.stdout}"
    pkgs = set()
    for path in paths:
        real = os.path.realpath(path)
        q = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True, timeout=60)
        if q.returncode != 0:  # the file may be registered under its /usr-merged or link path
            q = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, timeout=60)
        assert q.returncode == 0, f"no Debian package owns {path}: {q.stderr}"
        pkgs.add(q.stdout.split(":", 1)[0].strip())
    return pkgs


def portico_bin():
    env = os.environ.get("PORTICO_BIN")
    if env:
        return env
    for build in ("build/release", "build"):
        p = dr.source_dir() / build / "proxy" / "portico"
        if p.exists():
            return str(p)
    raise unittest.SkipTest("PORTICO_BIN is not set and no build/release/proxy/portico exists")


def release_portico_bin():
    """The image ships a Release build, so its libraries are what the runtime stage needs;
    a sanitizer build links more (tests/run.sh builds Release first, beside it)."""
    if os.environ.get("PORTICO_BUILD_VARIANT", "release") == "release":
        return portico_bin()
    p = dr.source_dir() / "build" / "release" / "proxy" / "portico"
    if p.exists():
        return str(p)
    raise unittest.SkipTest("the image is a Release build and no build/release/proxy/portico exists")


class DockerfileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        stages = dockerfile_stages()
        assert len(stages) == 2, [s[0] for s in stages]
        (cls.build_from, cls.build), (cls.run_from, cls.runtime) = stages

    def test_stages_are_debian_12(self):
        self.assertRegex(self.build_from, r"^FROM debian:12 AS build$")
        self.assertRegex(self.run_from, r"^FROM debian:12-slim$")

    def test_build_stage_runs_the_commands_of_tests_run_sh(self):
        expected = run_sh_release_commands()
        self.assertEqual(len(expected), 3, expected)  # install-deps, configure, build
        got = [c for c in run_commands(self.build)
               if c.startswith("bash deploy/install-deps.sh") or c.startswith("cmake -S")
               or c.startswith("cmake --build")]
        self.assertEqual(got, expected)

    def test_runtime_stage_has_the_binary_and_no_build_tools(self):
        copies = [i for i in self.runtime if i.startswith("COPY")]
        self.assertEqual(copies, ["COPY --from=build /out/bin/portico /usr/bin/portico"])
        self.assertIn("cmake --install build/release --prefix /out --strip", run_commands(self.build))
        for pkg in apt_install_packages(self.runtime):
            self.assertFalse(pkg.endswith("-dev"), pkg)
            self.assertNotIn(pkg, ("g++", "cmake", "ninja-build", "build-essential"))

    def test_runtime_packages_are_exactly_what_the_binary_links(self):
        binary = release_portico_bin()
        linked = {p for p in linked_packages(binary) if not SANITIZER_PACKAGES.match(p)}
        needed = linked - BASE_IMAGE_PACKAGES
        listed = set(apt_install_packages(self.runtime))
        self.assertEqual(listed, needed,
                         f"missing from the image: {sorted(needed - listed)}; "
                         f"not linked by {binary}: {sorted(listed - needed)}")

    def test_user_and_entrypoint_match_the_daemonset(self):
        objs = dr.objects_of(dr.render("deploy/base"))
        c = dr.find(objs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
        self.assertIn(f"USER {c['securityContext']['runAsUser']}:101", self.runtime)
        self.assertIn('ENTRYPOINT ["/usr/bin/portico", "serve"]', self.runtime)
        self.assertNotIn("command", c)  # the DaemonSet passes only args to the entrypoint
        exposed = next(i for i in self.runtime if i.startswith("EXPOSE")).split()[1:]
        self.assertEqual(sorted(int(p) for p in exposed),
                         sorted(p["containerPort"] for p in c["ports"]))

    def test_portico_serve_accepts_the_daemonset_args(self):
        binary = portico_bin()
        p = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=30)
        usage = p.stdout + p.stderr
        self.assertIn("--http-port", usage, f"`portico serve --help` (exit {p.returncode})")
        objs = dr.objects_of(dr.render("deploy/base"))
        c = dr.find(objs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
        flags = [a.split("=", 1)[0] for a in c["args"]]
        missing = [f for f in flags if not re.search(re.escape(f) + r"\b", usage)]
        self.assertEqual(missing, [], f"`portico serve` does not accept these DaemonSet args:\n{usage}")

if __name__ == "__main__":
    dr.ensure_node_modules()
    unittest.main(verbosity=2)
