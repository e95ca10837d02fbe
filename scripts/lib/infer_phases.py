"""Min and median per phase of an agent's infer.phases debug lines.

    infer_phases.py LOG LABEL [--by-weights]

One line "LABEL n=N (us, min/median) open=a/b fetch=..." over all the
log's infer.phases lines (none when there are none); with --by-weights,
one line per model instead, by the size of its weights:
"LABEL weights=X.XMiB n=N ...". Durations and sizes only, as the log has
them. Used by scripts/bench-e2e.sh and scripts/bench-infer-ab.sh.
"""
import json
import statistics
import sys

KEYS = ["open_us", "fetch_us", "assemble_us", "plan_us", "idwait_us", "run_us", "reply_us",
        "evidence_us", "wipe_us", "total_us"]


def read_rows(path):
    rows = []
    for line in open(path):
        if '"infer.phases"' in line:
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    return rows


def cells(rows):
    return " ".join("%s=%d/%d" % (k[:-3], min(r.get(k, 0) for r in rows),
                                  statistics.median([r.get(k, 0) for r in rows])) for k in KEYS)


def main(argv):
    rows = read_rows(argv[1])
    label = argv[2]
    if len(argv) > 3 and argv[3] == "--by-weights":
        for wb in sorted({r.get("weight_bytes", 0) for r in rows}):
            rs = [r for r in rows if r.get("weight_bytes", 0) == wb]
            print("%s weights=%.1fMiB n=%d (us, min/median) %s" %
                  (label, wb / 1048576.0, len(rs), cells(rs)))
    elif rows:
        print("%s n=%d (us, min/median) %s" % (label, len(rows), cells(rows)))


if __name__ == "__main__":
    main(sys.argv)
