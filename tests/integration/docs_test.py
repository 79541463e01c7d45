#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The man pages and bash completion against the code's own lists.

Usage: docs_test.py SOURCE_DIR BUILD_DIR AUTOMAPD MAPCTL

- automap.yaml(5) names every config key: the key lists of the loader's check_map(...) calls
  in mapper/config/config.cpp, as key paths (soa.mname, prefixes[].ttl, store.path);
- automapd(8) and mapctl(8) name every verb and option their --help lists;
- the built pages render with `man --warnings` silently;
- the bash completion, sourced in bash, offers every verb and every option of each verb;
- the README's examples hold: conf/overrides.csv imports into a scratch store with
  conf/automap.yaml and each of its names answers A/AAAA with its address (it lies in the
  forward zone), tools/examples/README.md uses the preset build paths, LICENSE is the MIT
  licence the SPDX headers name.
Whoever adds a key, verb or option documents and completes it, or this test fails.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import check, summary  # noqa: E402


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def config_keys(config_cpp):
    """Key paths from every check_map(node, path, {keys}) call of the loader."""
    src = open(config_cpp).read()
    keys = []
    for m in re.finditer(r"check_map\(\s*[^,()]+(?:\([^()]*\))?\s*,\s*([^,]+?)\s*,\s*\{([^}]*)\}",
                         src):
        path_arg, names = m.group(1), re.findall(r'"([^"]*)"', m.group(2))
        if path_arg.startswith('"'):
            section = path_arg.strip('"')
        else:
            # A list item: the path variable is built as "list[" + index + "]" just before.
            items = re.findall(r'"([\w.]+)\[" \+', src[:m.start()])
            check(items, "config.cpp:%d: the section of check_map(..., %s, ...) is known" %
                  (src.count("\n", 0, m.start()) + 1, path_arg))
            section = items[-1] + "[]" if items else "?"
        for name in names:
            keys.append(section + "." + name if section else name)
    return keys


def help_lists(binary, verb=None):
    """(verbs, long options) that CLI11's --help prints; `verb` may be "api-key add"."""
    r = run([binary] + (verb.split() if verb else []) + ["--help"])
    text = r.stdout
    options = set(re.findall(r"^  (?:-\w,)?(--[\w-]+)", text.split("Subcommands:", 1)[0], re.M))
    verbs = []
    if "Subcommands:" in text:
        verbs = re.findall(r"^  ([\w-]+) ", text.split("Subcommands:", 1)[1], re.M)
    return verbs, options


def completions(script, line):
    """What bash completion offers for the command line `line` (the last word is completed)."""
    words = line.split(" ")
    bash = r'''
source "$1"
COMP_LINE="$2"
read -r -a COMP_WORDS <<<"$2"
[[ "$2" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_POINT=${#COMP_LINE}
fn=$(complete -p "${COMP_WORDS[0]}" | sed -E 's/.*-F ([^ ]+).*/\1/')
"$fn"
printf '%s\n' "${COMPREPLY[@]}"
'''
    r = run(["bash", "--norc", "--noprofile", "-c", bash, "bash", script, line])
    check(r.returncode == 0 and not r.stderr, "completion of %r runs: %s" % (line, r.stderr))
    return set(w for w in r.stdout.splitlines() if w) if words else set()


def check_tool(binary, page_text, completion, name):
    verbs, global_options = help_lists(binary)
    check(verbs, "%s --help lists verbs" % name)
    offered = completions(completion, name + " ")
    for verb in verbs:
        check(re.search(r"^\*%s\*" % re.escape(verb), page_text, re.M),
              "%s(8) documents the verb %s" % (name, verb))
        check(verb in offered, "completion of '%s ' offers %s" % (name, verb))
        _, options = help_lists(binary, verb)
        # -c/--config may come before the verb in mapctl: documented once, globally.
        offered_options = completions(completion, "%s %s -" % (name, verb))
        for opt in sorted(options):
            check("*%s*" % opt in page_text, "%s(8) documents %s %s" % (name, verb, opt))
            check(opt in offered_options, "completion of '%s %s -' offers %s" % (name, verb, opt))
        # A verb with verbs of its own (mapctl api-key add|del|list).
        sub_verbs, _ = help_lists(binary, verb)
        offered_sub = completions(completion, "%s %s " % (name, verb)) if sub_verbs else set()
        for sub in sub_verbs:
            check(re.search(r"^\*%s %s\*" % (re.escape(verb), re.escape(sub)), page_text, re.M),
                  "%s(8) documents the verb %s %s" % (name, verb, sub))
            check(sub in offered_sub, "completion of '%s %s ' offers %s" % (name, verb, sub))
            _, sub_options = help_lists(binary, verb + " " + sub)
            offered_options = completions(completion, "%s %s %s -" % (name, verb, sub))
            for opt in sorted(sub_options):
                check("*%s*" % opt in page_text,
                      "%s(8) documents %s %s %s" % (name, verb, sub, opt))
                check(opt in offered_options,
                      "completion of '%s %s %s -' offers %s" % (name, verb, sub, opt))
    for opt in sorted(global_options):
        check("*%s*" % opt in page_text, "%s(8) documents %s" % (name, opt))


def check_examples(source, mapctl, tmp):
    readme = open(os.path.join(source, "README.md")).read()
    check("import conf/overrides.csv" in readme, "README imports conf/overrides.csv")
    examples = open(os.path.join(source, "tools/examples/README.md")).read()
    check("build/tools/" not in examples and "build/release/tools/hello" in examples,
          "tools/examples/README.md uses the preset paths (build/release/tools)")
    path = os.path.join(source, "LICENSE")
    licence = open(path).read() if os.path.exists(path) else ""
    check(licence.startswith("MIT License") and "Permission is hereby granted" in licence,
          "LICENSE is the MIT licence")
    config = os.path.join(tmp, "automap.yaml")
    text = open(os.path.join(source, "conf/automap.yaml")).read()
    with open(config, "w") as f:
        f.write(re.sub(r"(?m)^store:.*$", "store: { path: %s/store }" % tmp, text))
    csv = os.path.join(source, "conf/overrides.csv")
    check(os.path.exists(csv), "conf/overrides.csv exists")
    if not os.path.exists(csv):
        return
    r = run([mapctl, "-c", config, "import", csv])
    check(r.returncode == 0 and "imported" in r.stdout,
          "conf/overrides.csv imports: %d %r %r" % (r.returncode, r.stdout, r.stderr))
    names = []
    for line in open(csv):
        fields = line.strip().split(",")
        if len(fields) >= 3 and fields[1] == "name":
            names.append((fields[2], fields[0]))
    check(len(names) >= 2, "conf/overrides.csv has names: %s" % names)
    for name, address in names:
        qtype = "AAAA" if ":" in address else "A"
        r = run([mapctl, "-c", config, "lookup", name, qtype])
        check(r.returncode == 0 and "IN %s %s" % (qtype, address) in r.stdout,
              "%s answers %s %s (inside a forward zone): %r" % (name, qtype, address, r.stdout))
    for line in readme.splitlines():
        m = re.search(r"mapctl -c conf/automap.yaml add (\S+) ([a-z0-9.-]+\.) ", line)
        if m:
            check(m.group(2).endswith(".pool.example.net."),
                  "README's add example %s lies in pool.example.net." % m.group(2))


def main():
    source, build, automapd, mapctl = sys.argv[1:5]
    doc = os.path.join(source, "doc")
    completion_dir = os.path.join(source, "conf/package/bash-completion")

    yaml_page = open(os.path.join(doc, "automap.yaml.5.scd")).read()
    keys = config_keys(os.path.join(source, "mapper/config/config.cpp"))
    check(len(keys) >= 20 and "store.path" in keys and "prefixes[].name" in keys,
          "config.cpp yields the key list (%d keys)" % len(keys))
    for key in keys:
        check("*%s*" % key in yaml_page, "automap.yaml(5) documents %s" % key)

    check_tool(automapd, open(os.path.join(doc, "automapd.8.scd")).read(),
               os.path.join(completion_dir, "automapd"), "automapd")
    check_tool(mapctl, open(os.path.join(doc, "mapctl.8.scd")).read(),
               os.path.join(completion_dir, "mapctl"), "mapctl")
    comp = os.path.join(completion_dir, "mapctl")
    check(completions(comp, "mapctl comp") == {"compact"}, "'mapctl comp' completes to compact")
    check(completions(comp, "mapctl -c x.yaml imp") == {"import"},
          "'mapctl -c x.yaml imp' completes to import")
    check(completions(comp, "mapctl import --format j") == {"jsonl", "json"},
          "'mapctl import --format j' offers the formats")

    pages = sorted(glob.glob(os.path.join(build, "man", "*.[0-9]")))
    check([os.path.basename(p) for p in pages] == ["automap.yaml.5", "automapd.8", "mapctl.8"],
          "built man pages: %s" % pages)
    for page in pages:
        r = run(["man", "--warnings", "-l", page], env=dict(os.environ, MANWIDTH="80",
                                                            LC_ALL="C.UTF-8"))
        check(r.returncode == 0 and not r.stderr, "man --warnings -l %s: silent (%r)" %
              (os.path.basename(page), r.stderr[:400]))
    with tempfile.TemporaryDirectory(prefix="automap-docs-") as tmp:
        check_examples(source, mapctl, tmp)
    sys.exit(summary())


if __name__ == "__main__":
    main()
