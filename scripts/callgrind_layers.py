#!/usr/bin/env python3
"""Instructions per message by layer, from a callgrind profile of examples/hotpath.rs.

    callgrind_layers.py CALLGRIND_OUT BINARY MESSAGES [--lines N]

Callgrind attributes cost to the *symbol* an instruction is in, and in a release build the
whole per-message path is inlined into a few symbols, so its own tables say little about
layers. This script takes the per-instruction costs (callgrind's --dump-instr=yes), asks
addr2line -i for each instruction's chain of inlined frames, and charges the instruction to
the innermost frame that is in the crate's src/ (skipping the accessors of layout.rs and
sync.rs, which are charged to their caller), then groups the files and functions into the
layers of docs/benchmarks.md ("Where the time goes"). Statistics lines (`stats.`) and the
failpoints are their own rows. Prints instructions per message (total / MESSAGES).
"""

import os
import re
import subprocess
import sys
from collections import defaultdict


def parse(path):
    """Self cost per (object, address) from a callgrind file with positions `instr line`."""
    costs = defaultdict(int)
    names = {"ob": {}, "fl": {}, "fn": {}}
    ob = None
    last = [0, 0]
    skip_next = False
    positions = ["line"]
    total = 0

    def name(kind, rest):
        m = re.match(r"\((\d+)\)\s*(.*)", rest)
        if not m:
            return rest
        if m.group(2):
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1), "?")

    def num(tok, prev):
        if tok == "*":
            return prev
        if tok[0] in "+-":
            v = int(tok[1:], 16) if tok[1:].startswith("0x") else int(tok[1:])
            return prev + v if tok[0] == "+" else prev - v
        return int(tok, 16) if tok.startswith("0x") else int(tok)

    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("positions:"):
                positions = line.split()[1:]
                continue
            if line.startswith("ob="):
                ob = name("ob", line[3:])
                continue
            if line.startswith(("cob=", "cfi=", "cfl=", "cfn=")):
                kind = {"cob": "ob", "cfi": "fl", "cfl": "fl", "cfn": "fn"}[line[:3]]
                name(kind, line[4:])
                continue
            if line.startswith(("fl=", "fi=", "fe=")):
                name("fl", line[3:])
                continue
            if line.startswith("fn="):
                name("fn", line[3:])
                continue
            if line.startswith("calls="):
                skip_next = True
                continue
            if not (line[0].isdigit() or line[0] in "+-*"):
                continue
            toks = line.split()
            pos = []
            for i, _ in enumerate(positions):
                pos.append(num(toks[i], last[i]))
            last = pos + last[len(pos):]
            if skip_next:
                skip_next = False
                continue
            c = int(toks[len(positions)]) if len(toks) > len(positions) else 0
            total += c
            costs[(ob, pos[0])] += c
    return costs, total


SKIP = ("src/layout.rs", "src/sync.rs")


def frames(binary, addrs):
    """addr -> [(function, file, line)] innermost first."""
    out = {}
    if not addrs:
        return out
    inp = "\n".join(hex(a) for a in addrs) + "\n"
    # One marker address after each query to split addr2line's output.
    p = subprocess.run(
        ["addr2line", "-i", "-f", "-C", "-a", "-e", binary],
        input=inp,
        capture_output=True,
        text=True,
        check=True,
    )
    cur = None
    lines = p.stdout.splitlines()
    i = 0
    while i < len(lines):
        l = lines[i]
        if l.startswith("0x") and re.fullmatch(r"0x[0-9a-f]+", l):
            cur = int(l, 16)
            out[cur] = []
            i += 1
            continue
        fn = l
        loc = lines[i + 1] if i + 1 < len(lines) else "??:0"
        file, _, ln = loc.rpartition(":")
        ln = re.sub(r"\s.*", "", ln)
        out[cur].append((fn, file, int(ln) if ln.isdigit() else 0))
        i += 2
    return out


def short_fn(fn):
    fn = re.sub(r"<[^<>]*>", "", fn)
    fn = re.sub(r"<[^<>]*>", "", fn)
    parts = fn.split("::")
    parts = [p for p in parts if p and not p.startswith("{{")]
    return "::".join(parts[-2:]) if len(parts) >= 2 else fn


SRC_CACHE = {}


def src_line(file, ln):
    if file not in SRC_CACHE:
        try:
            with open(file) as f:
                SRC_CACHE[file] = f.read().splitlines()
        except OSError:
            SRC_CACHE[file] = []
    lines = SRC_CACHE[file]
    return lines[ln - 1].strip() if 0 < ln <= len(lines) else ""


def layer(rel, fn, text):
    """The row of docs/benchmarks.md's table an instruction belongs to."""
    if rel is None:
        return "outside the crate (libc, std)"
    if rel.startswith("examples/"):
        return "the example's loop (checks, black_box)"
    if "stats." in text:
        return "statistics"
    if rel == "src/failpoint.rs":
        return "failpoints"
    if rel == "src/copy.rs":
        return "payload copy (copy.rs)"
    if rel in ("src/spsc.rs", "src/mpmc.rs"):
        return "algorithm (spsc.rs / mpmc.rs)"
    if rel == "src/wait.rs" or "wake_" in fn or rel == "src/sys/count.rs":
        return "wake-up check (wake_*, wait::notify)"
    if rel == "src/endpoint.rs" or "check_receivers" in fn:
        return "receivers check (epoch)"
    if rel == "src/ring/mod.rs" and re.search(r"check_poison|note|guarded", fn):
        return "poison check (guarded)"
    if rel.startswith("src/channel/"):
        return "channel layer (Sender/Receiver, dispatch)"
    if rel.startswith("src/ring/"):
        return "ring end (RingSender/RingReceiver glue)"
    return "other crate code (" + rel + ")"


def main():
    args = sys.argv[1:]
    nlines = 0
    if "--lines" in args:
        k = args.index("--lines")
        nlines = int(args[k + 1])
        del args[k : k + 2]
    out, binary, msgs = args[0], args[1], int(args[2])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/"
    costs, total = parse(out)
    exe = os.path.realpath(binary)
    mine = sorted(a for (ob, a) in costs if ob and os.path.realpath(ob) == exe)
    fr = frames(binary, mine)
    rows = defaultdict(int)
    by_fn = defaultdict(int)
    by_line = defaultdict(int)
    for (ob, a), c in costs.items():
        if not ob or os.path.realpath(ob) != exe:
            key = ("outside the crate (libc, std)", os.path.basename(ob or "?"), "", 0)
        else:
            key = None
            chain = fr.get(a, [])
            for fn, file, ln in chain:
                if file.startswith(root):
                    rel = file[len(root):]
                    if rel in SKIP:
                        continue
                    text = src_line(file, ln)
                    key = (layer(rel, fn, text), rel, short_fn(fn), ln)
                    break
            if key is None:
                outer = chain[-1][0] if chain else "?"
                key = ("outside the crate (libc, std)", "std", short_fn(outer), 0)
        rows[key[0]] += c
        by_fn[(key[0], key[1], key[2])] += c
        by_line[(key[1], key[3])] += c
    print(f"total {total / msgs:.1f} instructions per message ({total} over {msgs})")
    print()
    print("| layer | instructions / message |")
    print("|---|---:|")
    for k, v in sorted(rows.items(), key=lambda kv: -kv[1]):
        print(f"| {k} | {v / msgs:.1f} |")
    print()
    print("| layer | file | function | instructions / message |")
    print("|---|---|---|---:|")
    for (l, rel, fn), v in sorted(by_fn.items(), key=lambda kv: -kv[1]):
        if v / msgs >= 0.5:
            print(f"| {l} | {rel} | {fn} | {v / msgs:.1f} |")
    if nlines:
        print()
        print("| file:line | instructions / message | source |")
        print("|---|---:|---|")
        for (rel, ln), v in sorted(by_line.items(), key=lambda kv: -kv[1])[:nlines]:
            print(f"| {rel}:{ln} | {v / msgs:.1f} | `{src_line(root + rel, ln)[:70]}` |")


if __name__ == "__main__":
    main()
