#!/usr/bin/env python3
"""File-level import cycles among src/**/*.rs (crate:: and super:: paths resolved to files).
Usage: import-cycles.py SRC_DIR. Prints each strongly connected component of more than one file; exit 1 if any.

Copied from the project's shared tools (../shared/tools/import-cycles.py, the check named in
issue 11 and STYLE.md) so that CI can run it: .ci/run fails on any cycle."""
import os
import re
import sys

src = sys.argv[1]
files = {}
for root, _, names in os.walk(src):
    for n in names:
        if n.endswith(".rs"):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, src)[:-3]
            parts = rel.split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            files[tuple(parts)] = p


def resolve(path):
    """Longest module prefix of path that is a file."""
    for k in range(len(path), 0, -1):
        if tuple(path[:k]) in files:
            return tuple(path[:k])
    return None


edges = {m: set() for m in files}
for mod, p in files.items():
    text = re.sub(r"//[^\n]*", "", open(p, encoding="utf-8").read())
    # test modules are not part of the architecture
    text = re.split(r"#\[cfg\(test\)\]", text)[0]
    for m in re.finditer(r"\bcrate::((?:\w+::)*\w+)", text):
        t = resolve(m.group(1).split("::"))
        if t and t != mod and t != ():
            edges[mod].add(t)
    for m in re.finditer(r"\buse crate::\{([^}]*)\}", text):
        for item in m.group(1).split(","):
            t = resolve(item.strip().split("::"))
            if t and t != mod and t != ():
                edges[mod].add(t)
    for m in re.finditer(r"\bsuper::((?:\w+::)*\w+)", text):
        t = resolve(list(mod[:-1]) + m.group(1).split("::"))
        if t and t != mod and t != ():
            edges[mod].add(t)

index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)


def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            strong(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            comps.append(comp)


for v in list(edges):
    if v not in index:
        strong(v)
for c in comps:
    print("cycle of %d files: %s" % (len(c), ", ".join(sorted("/".join(x) for x in c))))
print(f"{len(comps)} import cycles among {len(files)} files")
sys.exit(1 if comps else 0)
