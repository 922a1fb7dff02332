#!/usr/bin/env python3
"""Generate the scanner benchmark's synthetic repository as a git fast-import
stream on stdout: about 800 files of real source text (Rust crate sources from
the local cargo registry) and 4,600 commits, the size of tokio's main branch.

Deterministic (fixed seed, sorted inputs), so runs compare like with like.
The history is realistic in shape: a first commit with a quarter of the files,
then commits that each add a file or edit one to three files (a block of lines
replaced with text from another file), so blobs change gradually as in a real
project. A handful of fake credentials are planted in early commits and later
removed, so every tool has something to find in history.

Usage: scan_data.py SOURCE_DIR [FILES] [COMMITS] | git fast-import
"""
import os
import random
import sys

src = sys.argv[1]
n_files = int(sys.argv[2]) if len(sys.argv) > 2 else 800
n_commits = int(sys.argv[3]) if len(sys.argv) > 3 else 4600
rng = random.Random(4600)

paths = []
for root, dirs, files in os.walk(src):
    dirs.sort()
    for f in sorted(files):
        if f.endswith(".rs"):
            p = os.path.join(root, f)
            try:
                size = os.path.getsize(p)
            except OSError:
                continue
            if 500 < size < 60_000:
                paths.append(p)
rng.shuffle(paths)
paths = paths[: n_files + 200]
texts = []
for p in paths:
    with open(p, "rb") as fh:
        texts.append(fh.read().splitlines(keepends=True))
repo_paths = [f"src/{os.path.relpath(p, src).split(os.sep, 1)[-1]}" for p in paths]
# Unique repository paths.
seen = set()
for i, rp in enumerate(repo_paths):
    while rp in seen:
        rp = rp.replace(".rs", "_x.rs")
    seen.add(rp)
    repo_paths[i] = rp

out = sys.stdout.buffer
mark = 0


def blob(lines):
    global mark
    mark += 1
    data = b"".join(lines)
    out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
    out.write(data)
    out.write(b"\n")
    return mark


B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def fake_github_token():
    import zlib

    body = "".join(rng.choice(B62) for _ in range(30))
    n = zlib.crc32(body.encode())
    c = ""
    for _ in range(6):
        n, r = divmod(n, 62)
        c = B62[r] + c
    return "ghp_" + body + c


current = {}  # index -> lines
live = list(range(n_files // 4))
pending = list(range(n_files // 4, n_files))
t = 1_600_000_000
for c in range(n_commits):
    changes = []
    if c == 0:
        for i in live:
            current[i] = list(texts[i])
            changes.append(i)
    else:
        if pending and (rng.random() < len(pending) / (n_commits - c) or c > n_commits - len(pending) - 1):
            i = pending.pop(0)
            live.append(i)
            current[i] = list(texts[i])
            changes.append(i)
        else:
            for _ in range(rng.randint(1, 3)):
                i = rng.choice(live)
                lines = current[i]
                donor = texts[rng.randrange(len(texts))]
                at = rng.randrange(max(1, len(lines)))
                k = rng.randint(1, 12)
                d = rng.randrange(max(1, len(donor)))
                lines[at : at + rng.randint(0, k)] = donor[d : d + k]
                changes.append(i)
    # Plant and later remove a few fake secrets.
    plant = c in (100, 900, 2500, 4000)
    if plant:
        i = rng.choice(live)
        current[i] = current[i] + [f'const GITHUB_TOKEN: &str = "{fake_github_token()}";\n'.encode()]
        changes.append(i)
    if c in (300, 1200, 3000):
        for i in live:
            if current[i] and b"GITHUB_TOKEN" in current[i][-1]:
                current[i] = current[i][:-1]
                changes.append(i)
    marks = {i: blob(current[i]) for i in sorted(set(changes))}
    t += rng.randint(60, 20000)
    msg = f"commit {c}\n".encode()
    out.write(b"commit refs/heads/main\n")
    out.write(b"committer Bench <bench@example.org> %d +0000\n" % t)
    out.write(b"data %d\n%s" % (len(msg), msg))
    for i, m in marks.items():
        out.write(b"M 100644 :%d %s\n" % (m, repo_paths[i].encode()))
    out.write(b"\n")
