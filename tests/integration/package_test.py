#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The install tree and the Debian package, end to end.

Usage: package_test.py BUILD_DIR [HARDENED]

HARDENED=1 (a Release build with AMAP_HARDENING, cmake/hardening.cmake) also checks the ELF
files for what dpkg-buildflags' hardening=+all gives (BIND_NOW, PIE, RELRO, stack protector,
_FORTIFY_SOURCE, -fcf-protection's endbr64) and that lintian -I --pedantic reports no hardening-* tag.

- `cmake --install` into a staging DESTDIR lays out /usr/sbin/automapd, /usr/bin/mapctl,
  /etc/automap/automap.yaml, the unit, bash completion, man pages and /usr/share/doc/automap;
- `cpack -G DEB` packs the same tree (no rebuild) into automap_<version>_amd64.deb, whose
  dpkg-deb --info/--contents hold the conffile, the maintainer scripts, shlibdeps'
  Depends and every file above; lintian reports no error;
- the package unpacked into a scratch root: its automapd checks its own config, the unit passes
  `systemd-analyze verify` and `security` (exposure 2.0 or lower) with the paths pointed into
  that root, and `man --warnings` renders each man page silently.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, summary  # noqa: E402


def run(cmd, timeout=300, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


EXPECTED_FILES = [
    "usr/sbin/automapd",
    "usr/bin/mapctl",
    "etc/automap/automap.yaml",
    "lib/systemd/system/automap.service",
    "lib/systemd/system/automap-sync.service",
    "usr/lib/tmpfiles.d/automap.conf",
    "usr/share/bash-completion/completions/automapd",
    "usr/share/bash-completion/completions/mapctl",
    "usr/share/doc/automap/README.md",
    "usr/share/doc/automap/copyright",
    "usr/share/doc/automap/changelog.gz",
    "usr/share/doc/automap/examples/pdns.d/automap.conf",
    "usr/share/man/man8/automapd.8.gz",
    "usr/share/man/man8/mapctl.8.gz",
    "usr/share/man/man5/automap.yaml.5.gz",
    "var/lib/automap/",
]


def check_install_tree(build, tmp):
    stage = os.path.join(tmp, "stage")
    env = dict(os.environ, DESTDIR=stage)
    r = run(["cmake", "--install", build], env=env)
    check(r.returncode == 0, "cmake --install into DESTDIR: status %d %s" % (r.returncode, r.stderr))
    for f in EXPECTED_FILES:
        check(os.path.exists(os.path.join(stage, f)), "cmake --install: /%s" % f)


def build_package(build, tmp):
    out = os.path.join(tmp, "deb")
    r = run(["cpack", "-G", "DEB", "-B", out, "--config", os.path.join(build, "CPackConfig.cmake")],
            cwd=build)
    check(r.returncode == 0, "cpack -G DEB: status %d%s" %
          (r.returncode, "\n" + r.stdout + r.stderr if r.returncode else ""))
    debs = glob.glob(os.path.join(out, "automap_*_amd64.deb"))
    check(len(debs) == 1, "one automap_<version>_amd64.deb: %s" % debs)
    return debs[0] if debs else None


def check_info(deb):
    info = run(["dpkg-deb", "--info", deb]).stdout
    fields = dict(re.findall(r"^ ([A-Za-z-]+): (.*)$", info, re.M))
    check(fields.get("Package") == "automap", "Package: automap (%r)" % fields.get("Package"))
    depends = fields.get("Depends", "")
    # From dpkg-shlibdeps: versioned library packages, not a hand-written list.
    for lib in ("libc6 (>=", "liblmdb0 (>=", "libyaml-cpp0.7 (>=", "libstdc++6 (>=", "adduser"):
        check(lib in depends, "Depends has %s: %s" % (lib, depends))
    conffiles = run(["dpkg-deb", "--ctrl-tarfile", deb])
    check(conffiles.returncode == 0, "control tarball readable")
    with tempfile.TemporaryDirectory() as ctrl:
        r = run(["dpkg-deb", "--control", deb, ctrl])
        check(r.returncode == 0, "dpkg-deb --control: %s" % r.stderr)
        conf = open(os.path.join(ctrl, "conffiles")).read().split()
        check(conf == ["/etc/automap/automap.yaml"], "conffiles: %s" % conf)
        postinst = open(os.path.join(ctrl, "postinst")).read()
        check("adduser --system" in postinst and "chmod 0750 /var/lib/automap" in postinst
              and "chmod g+s /var/lib/automap" in postinst,
              "postinst creates the system user and /var/lib/automap 2750")
        check("adduser --quiet pdns automap" in postinst,
              "postinst puts user pdns in group automap (automapd pipe reads the store)")
        postrm = open(os.path.join(ctrl, "postrm")).read()
        check('"$1" = "purge"' in postrm and "rm -rf /var/lib/automap" in postrm,
              "postrm purge removes /var/lib/automap")
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(ctrl, script)
            check(os.access(path, os.X_OK) and run(["sh", "-n", path]).returncode == 0,
                  "%s is an executable, valid sh script" % script)
    contents = run(["dpkg-deb", "--contents", deb]).stdout
    listed = set(re.findall(r" \./(\S*)$", contents, re.M))
    for f in EXPECTED_FILES:
        check(f in listed, "dpkg-deb --contents: /%s" % f)
    # Nothing of the build or test tree leaks into the package.
    stray = [f for f in listed if not re.match(r"(etc|lib|usr|var)(/|$)", f)]
    check(not stray, "no stray files: %s" % stray)


HARDENED = len(sys.argv) > 2 and sys.argv[2] == "1"


def check_lintian(deb):
    # -I --pedantic: the hardening tags are info level.
    r = run(["lintian", "-I", "--pedantic", "--tag-display-limit", "0", deb], timeout=300)
    tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIPXNO]: ", l)]
    for t in tags:
        print("     lintian: " + t)
    errors = [t for t in tags if t.startswith("E: ")]
    check(r.returncode in (0, 1) and not errors, "lintian: no errors (%s)" % errors)
    hardening = [t for t in tags if re.search(r"\bhardening-", t)]
    check(not HARDENED or not hardening, "lintian -I --pedantic: no hardening-* tag (%s)" % hardening)


def check_hardening(root):
    """What dpkg-buildflags' hardening=+all gives (cmake/hardening.cmake), read from the ELF."""
    for tool in ("usr/sbin/automapd", "usr/bin/mapctl"):
        path = os.path.join(root, tool)
        dynamic = run(["readelf", "-d", "-W", path]).stdout
        segments = run(["readelf", "-l", "-W", path]).stdout
        symbols = run(["readelf", "--dyn-syms", "-W", path]).stdout
        # -fcf-protection: endbr64 at function entries. (The ELF's CET property note needs
        # every linked object marked, which Debian 12's startup files are not.)
        code = run(["objdump", "-d", "--no-show-raw-insn", path], timeout=120).stdout
        check(re.search(r"\(FLAGS\)\s.*\bBIND_NOW\b", dynamic) or
              re.search(r"\(FLAGS_1\)\s.*\bNOW\b", dynamic), "/%s: BIND_NOW (-z now)" % tool)
        check(re.search(r"\(FLAGS_1\)\s.*\bPIE\b", dynamic), "/%s: PIE" % tool)
        check("GNU_RELRO" in segments, "/%s: RELRO segment (-z relro)" % tool)
        check("__stack_chk_fail" in symbols, "/%s: stack protector (__stack_chk_fail)" % tool)
        check(re.search(r"\b__\w+_chk\b", symbols.replace("__stack_chk_fail", "")),
              "/%s: fortified calls (__*_chk, _FORTIFY_SOURCE)" % tool)
        endbr = code.count("endbr64")
        check(endbr > 100, "/%s: %d endbr64 (-fcf-protection)" % (tool, endbr))


def check_unpacked(deb, tmp):
    root = os.path.join(tmp, "root")
    r = run(["dpkg", "-x", deb, root])
    check(r.returncode == 0, "dpkg -x: %s" % r.stderr)
    if HARDENED:
        check_hardening(root)
    automapd = os.path.join(root, "usr/sbin/automapd")
    config = os.path.join(root, "etc/automap/automap.yaml")
    r = run([automapd, "checkconf", "-c", config])
    check(r.returncode == 0 and r.stdout.endswith("store: /var/lib/automap\n"),
          "installed automapd checkconf accepts the installed config: %d %r %r" %
          (r.returncode, r.stdout, r.stderr))
    # The example's commented pipe.counters_dir is the directory the tmpfiles.d entry makes.
    text = open(config).read()
    check("#pipe: { counters_dir: /run/automap/pipe }" in text, "the config names the counters dir")
    tmpfiles = open(os.path.join(root, "usr/lib/tmpfiles.d/automap.conf")).read()
    check(re.search(r"(?m)^d /run/automap/pipe +2770 automap automap -$", tmpfiles) is not None,
          "tmpfiles.d makes /run/automap/pipe (2770 automap:automap): %r" % tmpfiles)
    with_pipe = os.path.join(tmp, "with-pipe.yaml")
    with open(with_pipe, "w") as f:
        f.write(text.replace("#pipe: {", "pipe: {"))
    r = run([automapd, "checkconf", "-c", with_pipe])
    check(r.returncode == 0, "the config with pipe.counters_dir set passes checkconf: %d %r" %
          (r.returncode, r.stderr))
    for tool in ("usr/sbin/automapd", "usr/bin/mapctl"):
        r = run([os.path.join(root, tool), "--version"])
        check(r.returncode == 0 and re.match(r"^\S+ \d+\.\d+\.\d+ \(git \S+\)$", r.stdout.strip()),
              "/%s --version: %r" % (tool, r.stdout))

    snippet = open(os.path.join(root, "usr/share/doc/automap/examples/pdns.d/automap.conf")).read()
    command = re.search(r"(?m)^pipe-command=(\S+) pipe -c (\S+)$", snippet)
    check(command is not None and os.path.exists(root + command.group(1)) and
          os.path.exists(root + command.group(2)),
          "the PowerDNS snippet's pipe-command runs the installed automapd and config: %s" %
          (command and command.group(0)))

    # The unit as installed, its paths pointed into the scratch root.
    unit = open(os.path.join(root, "lib/systemd/system/automap.service")).read()
    for want in ("ExecStartPre=/usr/sbin/automapd checkconf -c /etc/automap/automap.yaml",
                 "ExecStart=/usr/sbin/automapd serve -c /etc/automap/automap.yaml",
                 "ExecReload=/bin/kill -HUP $MAINPID", "User=automap", "Type=notify", "WatchdogSec=", "Restart=on-failure",
                 "ReadWritePaths=/var/lib/automap", "ReadWritePaths=-/run/automap",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ProtectSystem=strict",
                 "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes", "LimitNOFILE="):
        check(want in unit, "unit has %s" % want)
    units = os.path.join(tmp, "units")
    os.makedirs(units)
    test_unit = os.path.join(units, "automap.service")
    with open(test_unit, "w") as f:
        f.write(unit.replace("/usr/sbin/automapd", automapd).replace("/etc/automap/", root +
                                                                        "/etc/automap/"))
    sync_unit = os.path.join(units, "automap-sync.service")
    with open(sync_unit, "w") as f:
        text = open(os.path.join(root, "lib/systemd/system/automap-sync.service")).read()
        check("ExecStart=/usr/sbin/automapd sync -c /etc/automap/automap.yaml" in text,
              "automap-sync.service runs automapd sync")
        f.write(text.replace("/usr/sbin/automapd", automapd).replace("/etc/automap/", root +
                                                                        "/etc/automap/"))
    env = dict(os.environ, MANPATH=os.path.join(root, "usr/share/man"))
    r = run(["systemd-analyze", "verify", sync_unit], env=env, timeout=60)
    check(r.returncode == 0 and not r.stderr.strip(),
          "systemd-analyze verify automap-sync.service: status %d %s" % (r.returncode, r.stderr))
    r = run(["systemd-analyze", "verify", test_unit], env=env, timeout=60)
    check(r.returncode == 0 and not r.stderr.strip(),
          "systemd-analyze verify: status %d %s" % (r.returncode, r.stderr))
    r = run(["systemd-analyze", "security", "--offline=true", "--threshold=20", test_unit],
            timeout=60)
    score = re.search(r"Overall exposure level for automap.service: (\S+)", r.stdout)
    check(r.returncode == 0 and score is not None,
          "systemd-analyze security: exposure %s (at most 2.0)" % (score and score.group(1)))

    pages = sorted(glob.glob(os.path.join(root, "usr/share/man/man*/*.gz")))
    check(len(pages) == 3, "three man pages: %s" % pages)
    for page in pages:
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        r = run(["man", "--warnings", "-l", page], env=env, timeout=60)
        check(r.returncode == 0 and not r.stderr.strip() and len(r.stdout) > 500,
              "man --warnings -l %s: silent (%r)" % (os.path.basename(page), r.stderr[:300]))


def main():
    build = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="automap-package-") as tmp:
        check_install_tree(build, tmp)
        deb = build_package(build, tmp)
        if deb:
            print("     package: %s, %d bytes" % (os.path.basename(deb), os.path.getsize(deb)))
            check_info(deb)
            check_lintian(deb)
            check_unpacked(deb, tmp)
    sys.exit(summary())


if __name__ == "__main__":
    main()
