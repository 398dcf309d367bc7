#!/usr/bin/env python3
"""Checks the docs against the tree (CI runs it): every file under src/ is listed in
docs/layout.md under its folder's heading, no listed .rs file is gone, and every
relative link and #anchor in README.md and docs/ resolves. Exits 1 naming each
problem."""
import os
import re
import subprocess
import sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
problems = []

# The layout: one "## src/<folder>/" section per folder, files named in backticks.
layout = open("docs/layout.md").read()
sections = {}
for part in re.split(r"^## ", layout, flags=re.M)[1:]:
    head, _, body = part.partition("\n")
    m = re.match(r"(src/[\w/]*)", head)
    key = "src" if head.startswith("src/ (top") else (m.group(1).rstrip("/") if m else head)
    # The names a bullet lists: the backticked ones before its first ": ".
    names = set()
    for bullet in re.findall(r"^- (.*(?:\n  .*)*)", body, flags=re.M):
        names.update(re.findall(r"`([^`]+)`", bullet.split(": ", 1)[0]))
    sections[key] = names
files = subprocess.run(
    ["git", "ls-files", "--cached", "--others", "--exclude-standard", "src"],
    capture_output=True, text=True, check=True,
).stdout.split()
for f in sorted(files):
    parts = f.split("/")
    top = "src" if len(parts) == 2 else "src/" + parts[1]
    rel = "/".join(parts[1:]) if top == "src" else "/".join(parts[2:])
    names = sections.get(top, set())
    listed = rel in names or any(
        n.endswith("/") and rel.startswith(n) for n in names
    )
    if not listed:
        problems.append(f"docs/layout.md does not list {f} (under '## {top}/')")
for key, names in sections.items():
    if key.startswith("src"):
        for n in names:
            if re.fullmatch(r"[\w/]+\.rs", n) and not os.path.exists(os.path.join(key, n)):
                problems.append(f"docs/layout.md lists {key}/{n}, which is gone")


def slug(heading):
    heading = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return heading.replace(" ", "-")


docs = ["README.md"] + ["docs/" + f for f in sorted(os.listdir("docs")) if f.endswith(".md")]
texts = {os.path.normpath(f): re.sub(r"```.*?```", "", open(f).read(), flags=re.S) for f in docs}
anchors = {f: {slug(h) for h in re.findall(r"^#+ (.*)$", t, flags=re.M)} for f, t in texts.items()}
for f, text in texts.items():
    for m in re.finditer(r"\]\(([^)\s]+)\)", text):
        target = m.group(1)
        if re.match(r"[a-z]+:", target):
            continue
        path, _, frag = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
        if not os.path.exists(resolved):
            problems.append(f"{f}: link to {target}: no such file")
        elif frag and frag not in anchors.get(resolved, set()):
            problems.append(f"{f}: link to {target}: no such heading")

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
