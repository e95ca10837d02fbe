"""Mixed load (issue 17): N concurrent users for a bounded time, half
interactive (attest once, then infer in a loop), half batch (submit a job,
collect its result), against two proxies sharing one job queue and two
agents sharing one job key. Meanwhile a chaos thread SIGKILLs and restarts
a proxy and an agent (the bash driver does the restarting; this script
asks for it through the control files). Figures only: nothing here asserts
a timing. Prints one JSON object with the figures and the accounting.

Usage: load_mixed.py WORLD_JSON SECONDS USERS
"""
import json
import os
import random
import statistics
import sys
import threading
import time

import numpy as np

import ephemeralml as eml

world = json.load(open(sys.argv[1]))
SECONDS = float(sys.argv[2])
USERS = int(sys.argv[3])
stop = threading.Event()
lock = threading.Lock()
inter_lat, job_lat = [], []
inter_err, job_errs = [], []
submitted, collected = {}, {}
wrong = []

rng0 = np.random.default_rng(7)
X = (rng0.random((1, 3, 48, 192), dtype=np.float32) * 2 - 1).astype(np.float32)
REF = None


def pick():
    i = random.randrange(len(world["proxies"]))
    return world["proxies"][i], world["apis"][i]


def connect():
    proxy, api = pick()
    return eml.Client(proxy=proxy, policy=world["policy"], model=world["model"], jobs=api,
                      timeout_ms=30000)


def interactive(uid):
    c = None
    while not stop.is_set():
        try:
            if c is None:
                c = connect()
            t0 = time.monotonic()
            out = c.infer({"x": X})
            dt = time.monotonic() - t0
            with lock:
                inter_lat.append(dt)
                if REF is not None and not all(np.array_equal(out[k], REF[k]) for k in REF):
                    wrong.append(("interactive", uid))
        except eml.EmlError as e:
            with lock:
                inter_err.append(e.name)
            if c is not None:
                c.close()
            c = None
            time.sleep(0.2)
    if c is not None:
        c.close()


def batch(uid):
    c = None
    while not stop.is_set():
        try:
            if c is None:
                c = connect()
            t0 = time.monotonic()
            jid = c.submit({"x": X})
            with lock:
                submitted[jid] = c.ticket(jid)
            _, api = pick()  # collect from either proxy
            out = eml.fetch_result(api, jid, submitted[jid], wait=True, timeout=300)
            dt = time.monotonic() - t0
            with lock:
                job_lat.append(dt)
                collected[jid] = True
                if not all(np.array_equal(out[k], REF[k]) for k in REF):
                    wrong.append(("job", jid))
        except eml.EmlError as e:
            with lock:
                job_errs.append(e.name)
            if c is not None:
                c.close()
            c = None
            time.sleep(0.2)
    if c is not None:
        c.close()


def pct(v, p):
    if not v:
        return None
    s = sorted(v)
    return round(s[min(len(s) - 1, int(p / 100 * len(s)))] * 1000, 1)


with connect() as c0:
    REF = c0.infer({"x": X})

threads = [threading.Thread(target=interactive if u % 2 == 0 else batch, args=(u,))
           for u in range(USERS)]
t_start = time.monotonic()
for t in threads:
    t.start()
# Chaos at 1/3 and 2/3 of the run: the bash driver watches these files.
for frac, what in ((1 / 3, "kill-proxy"), (2 / 3, "kill-agent")):
    time.sleep(max(0.0, t_start + SECONDS * frac - time.monotonic()))
    open(os.path.join(world["dir"], what), "w").close()
time.sleep(max(0.0, t_start + SECONDS - time.monotonic()))
stop.set()
for t in threads:
    t.join(timeout=400)
elapsed = time.monotonic() - t_start

# Jobs acknowledged but not collected when the run stopped: collect now.
late = 0
for jid, ticket in list(submitted.items()):
    if jid in collected:
        continue
    try:
        out = eml.fetch_result(world["apis"][0], jid, ticket, wait=True, timeout=300)
        collected[jid] = True
        late += 1
        if not all(np.array_equal(out[k], REF[k]) for k in REF):
            wrong.append(("job", jid))
    except eml.EmlError as e:
        job_errs.append("late:" + e.name)

print(json.dumps({
    "users": USERS, "seconds": round(elapsed, 1),
    "interactive": {"n": len(inter_lat), "p50_ms": pct(inter_lat, 50),
                    "p95_ms": pct(inter_lat, 95), "p99_ms": pct(inter_lat, 99),
                    "errors": len(inter_err),
                    "error_kinds": sorted(set(inter_err))},
    "jobs": {"submitted": len(submitted), "collected": len(collected),
             "collected_after_stop": late,
             "per_second": round(len(job_lat) / elapsed, 2),
             "p50_ms": pct(job_lat, 50), "p95_ms": pct(job_lat, 95),
             "p99_ms": pct(job_lat, 99), "errors": len(job_errs),
             "error_kinds": sorted(set(job_errs))},
    "lost": sorted(set(submitted) - set(collected)),
    "wrong": wrong,
    "job_ids": sorted(submitted),
}))
