#!/usr/bin/env python3
"""Per-variant CPU profiles of the `load` benchmark's server, from one `perf record` of a run.

`load` runs its variants one after the other, 20 ms apart, on one server thread
(`load-server`). This script cuts the thread's samples into runs at those idle gaps, tells the
runs apart by what their samples contain, and compares two kinds of run symbol by symbol, per
call. It is how BENCHMARKS.md ("Findings") attributes end-to-end server CPU to mcp-auth's own
code (cached tokens) and to the kernel (first sight).

    perf record -e cpu-clock -F 10000 -o perf.data ./target/release/load --rounds 15 \\
        --only "seen before ES256" --only "empty interceptor"
    perf script -i perf.data --comm load-server -F comm,tid,time,ip,sym,dso > samples.txt
    python3 bench-support/perf_windows.py cached samples.txt
    python3 bench-support/perf_windows.py cached samples.txt --against empty-interceptor

    perf record -e cpu-clock -F 10000 -o perf.data \\
        ./target/release/load --rounds 7 --only "first sight ES256"
    perf script -i perf.data --comm load-server -F comm,tid,time,ip,sym,dso > samples.txt
    python3 bench-support/perf_windows.py first-sight samples.txt --calls 2000 --hz 10000

`cached`: runs holding mcp-auth's symbols (`--variant`; or tonic's interceptor's, with
`--only "empty interceptor"`) against plain tonic's runs with the same ES256 token (`--against`;
told from the RS256 token's runs by the share of HPACK Huffman decoding, the token being sent
whole on every call) or against the empty interceptor's runs. Both are normalized by their
Huffman samples, which cost the same per call for the same token: the columns are samples per
1,000 Huffman samples. The first line nets the symbols only one side runs (its own code, and
generic code named after its service type) against those only the other side runs, as a share
of the baseline's per-call total: the difference that shared code's noise does not blur.

`first-sight`: every such run makes exactly `--calls` calls, so samples convert to microseconds
per call. Runs are told apart by the ECDSA code (`ecp_nistz256`), jsonwebtoken's symbols and the
burning interceptor's; each is compared with plain tonic given new tokens, by shared object
(kernel against user space) and by symbol.
"""

import argparse
import collections
import re
import sys

SAMPLE = re.compile(r"\s*\S+\s+\d+\s+(\d+\.\d+):\s+[0-9a-f]+\s+(.*?)(?:\s+\((\S*)\))?\s*$")
IDLE_GAP = 0.010  # seconds without a server sample between two runs (load waits 20 ms)


def runs(path, min_seconds):
    """The server thread's samples cut at idle gaps: (start, end, Counter of (symbol, dso))."""
    samples = []
    with open(path, errors="replace") as lines:
        for line in lines:
            m = SAMPLE.match(line)
            if m:
                samples.append((float(m.group(1)), m.group(2), m.group(3) or ""))
    samples.sort()
    cut = []
    for t, symbol, dso in samples:
        if cut and t - cut[-1][1] < IDLE_GAP:
            cut[-1][1] = t
            cut[-1][2][(symbol, dso)] += 1
        else:
            cut.append([t, t, collections.Counter({(symbol, dso): 1})])
    return [r for r in cut if r[1] - r[0] >= min_seconds]


def share(counter, needle):
    return sum(v for (symbol, _), v in counter.items() if needle in symbol)


def diff(a, a_norm, b, b_norm, top):
    rows = []
    for key in set(a) | set(b):
        x, y = a[key] * a_norm, b[key] * b_norm
        rows.append((x - y, x, y, key[0]))
    rows.sort(reverse=True)
    for row in rows[:top]:
        print("%+9.2f %9.2f %9.2f  %s" % (row[0], row[1], row[2], row[3][:120]))


MARKERS = {
    "mcp-auth": ("mcp_auth::", "AuthorizedStreams"),
    # Its own frames are few (about 0.1 % of a call each): the URI it clones and the request it
    # rebuilds mark short runs too.
    "empty-interceptor": ("InterceptedService", "Uri as core::clone::Clone", "Request<T>::into_http"),
}


def cached(path, top, variant, against):
    """Per-call symbol costs of `variant`'s runs against `against`'s (or plain tonic's)."""
    groups = collections.defaultdict(collections.Counter)
    for _, _, counter in runs(path, 0.2):
        n = sum(counter.values())
        huffman = share(counter, "huffman") / n
        if huffman < 0.02:
            continue  # a stream run
        kinds = [k for k, marker in MARKERS.items() if sum(share(counter, m) for m in marker) > 2]
        if len(kinds) == 1:
            groups[kinds[0]].update(counter)
        elif not kinds and huffman < 0.085:
            groups["plain"].update(counter)  # the ES256 token (the RS256 token's decode more)
    this, base = groups[variant], groups[against]
    h_this, h_base = share(this, "huffman"), share(base, "huffman")
    if not h_this or not h_base:
        sys.exit("no %s runs, or no %s runs, found (see `load --only`)" % (variant, against))
    per_this, per_base = 1000 / h_this, 1000 / h_base
    total = sum(base.values()) * per_base
    # Symbols only one side has (its own code, and generic code named after its service type),
    # net of those only the other side has: what one variant runs that the other does not.
    only_this = sum(v for key, v in this.items() if base[key] == 0) * per_this
    only_base = sum(v for key, v in base.items() if this[key] == 0) * per_base
    print(
        "per 1,000 Huffman samples: %s %.0f, %s %.0f in all; symbols only %s runs %.1f, only %s "
        "runs %.1f: net %+.1f (%+.2f %% of %s's per-call total)"
        % (variant, sum(this.values()) * per_this, against, total, variant, only_this, against,
           only_base, only_this - only_base, 100 * (only_this - only_base) / total, against)
    )
    print("  change  %8s  %8s  symbol" % (variant[:8], against[:8]))
    diff(this, per_this, base, per_base, top)


def first_sight(path, calls, hz, top):
    groups = collections.defaultdict(collections.Counter)
    count = collections.Counter()
    for _, _, counter in runs(path, 0.02):
        n = sum(counter.values())
        if n < 50:
            continue
        ecdsa = share(counter, "ecp_nistz") + share(counter, "aws_lc")
        if ecdsa > 0.2 * n:
            kind = "mcp-auth" if share(counter, "mcp_auth::") > share(counter, "jsonwebtoken") else "interceptor"
        elif share(counter, "interceptor::Inter") + share(counter, "burn_cpu") > 0.02 * n:
            kind = "burning interceptor"
        elif share(counter, "huffman") > 0.01 * n and n < 0.2 * hz:
            kind = "plain"
        else:
            continue
        groups[kind].update(counter)
        count[kind] += 1
    if not count["plain"]:
        sys.exit("no plain tonic first-sight runs found")
    micros = 1e6 / hz / calls
    base = groups["plain"]

    def by_dso(kind):
        split = collections.Counter()
        for (_, dso), v in groups[kind].items():
            split["kernel" if "kernel" in dso else "user"] += v * micros / count[kind]
        return split

    plain_dso = by_dso("plain")
    for kind in ("mcp-auth", "interceptor", "burning interceptor"):
        if not count[kind]:
            continue
        this_dso = by_dso(kind)
        print(
            "== %s: %d runs, µs per call: user %.1f (plain %.1f), kernel %.1f (plain %.1f)"
            % (kind, count[kind], this_dso["user"], plain_dso["user"], this_dso["kernel"], plain_dso["kernel"])
        )
        print("  change      this     plain  symbol")
        diff(groups[kind], micros / count[kind], base, micros / count["plain"], top)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["cached", "first-sight"])
    parser.add_argument("samples", help="`perf script -F comm,tid,time,ip,sym,dso` of the server thread")
    parser.add_argument("--calls", type=int, default=2000, help="calls per first-sight run (load's --first-sight-calls)")
    parser.add_argument("--hz", type=float, default=10000, help="perf record's -F")
    parser.add_argument("--top", type=int, default=30, help="symbols to list")
    parser.add_argument("--variant", choices=sorted(MARKERS), default="mcp-auth", help="cached: the runs measured")
    parser.add_argument(
        "--against",
        choices=["plain"] + sorted(MARKERS),
        default="plain",
        help="cached: the runs they are compared with (`load --only` must have run both)",
    )
    args = parser.parse_args()
    if args.mode == "cached":
        if args.variant == args.against:
            sys.exit("--variant and --against name the same runs")
        cached(args.samples, args.top, args.variant, args.against)
    else:
        first_sight(args.samples, args.calls, args.hz, args.top)


if __name__ == "__main__":
    main()
