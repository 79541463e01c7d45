#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The module's own .deb (backend/pdns/package_deb.cmake, target pdns-module-deb): built into
a temp folder, it holds the module in PowerDNS's module-dir, the copyright (the module's GPL
licence) and the pdns.d example, and depends on exactly the pdns-server it was built for;
lintian -I --pedantic reports no error and no warning.

usage: pdns_module_package_test.py CMAKE SCRIPT BUILD SRC VERSION PDNS_VERSION MODULE_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, summary  # noqa: E402


def main():
    cmake, script, build, src, version, pdns_version, module_dir = sys.argv[1:8]
    out = tempfile.mkdtemp(prefix="pdns-module-deb-")
    try:
        p = subprocess.run([cmake, "-DBUILD=" + build, "-DSRC=" + src, "-DOUT=" + out,
                            "-DVERSION=" + version, "-DPDNS_VERSION=" + pdns_version,
                            "-DMODULE_DIR=" + module_dir, "-P", script],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "package_deb.cmake", p.stdout + p.stderr)
        arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                              text=True).stdout.strip()
        deb = "%s/automap-pdns-module_%s_%s.deb" % (out, version, arch)
        info = subprocess.run(["dpkg-deb", "-f", deb, "Package", "Depends"], capture_output=True,
                              text=True)
        check(info.returncode == 0, "dpkg-deb -f reads %s" % deb, info.stderr)
        depends = [d.strip() for d in info.stdout.partition("Depends:")[2].split(",")]
        check("pdns-server (= %s)" % pdns_version in depends,
              "depends on exactly pdns-server %s" % pdns_version, info.stdout)
        check(any(d.startswith("libyaml-cpp") for d in depends) and
              any(d.startswith("liblmdb") for d in depends),
              "shared-library dependencies (yaml-cpp, lmdb)", info.stdout)
        listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True).stdout
        for path in (module_dir + "/libautomapbackend.so",
                     "/usr/share/doc/automap-pdns-module/copyright",
                     "/usr/share/doc/automap-pdns-module/examples/automap-module.conf"):
            check(("." + path) in listing, "the package holds %s" % path, listing)
        for path in ("/usr/share/doc/automap-pdns-module/changelog.gz",):
            check(("." + path) in listing, "the package holds %s" % path, listing)
        sums = subprocess.run(["dpkg-deb", "-I", deb, "md5sums"], capture_output=True,
                              text=True).stdout
        check(module_dir.lstrip("/") + "/libautomapbackend.so" in sums, "DEBIAN/md5sums", sums)
        # The same check as the automap package's (package_test.py): -I --pedantic, every tag
        # printed; no error and no warning allowed (none is overridden).
        r = subprocess.run(["lintian", "-I", "--pedantic", "--tag-display-limit", "0", deb],
                           capture_output=True, text=True, timeout=300)
        tags = [l for l in r.stdout.splitlines() if re.match(r"^[EWIPXNO]: ", l)]
        for t in tags:
            print("     lintian: " + t)
        bad = [t for t in tags if t[0] in "EW"]
        check(r.returncode in (0, 1) and not bad, "lintian: no error, no warning (%s)" % bad,
              r.stdout + r.stderr)
        check(sorted(os.listdir(out)) ==
              ["automap-pdns-module_%s_%s.deb" % (version, arch)],
              "nothing else is left in the output folder")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return summary("pdns module package")


if __name__ == "__main__":
    sys.exit(main())
