#!/usr/bin/env bash
# make bench, proxy section: resident memory of eml-proxy per connected
# client. Starts the real binary on 127.0.0.1 with a do-nothing agent on a
# unix socket (python, accepts and holds connections), opens N idle
# clients, and reports the RSS growth. Figures only.
#   BUILD=build scripts/bench-proxy-mem.sh [N]     (default 100)
set -u
BUILD=${BUILD:-build}
BIN="$BUILD/bin/eml-proxy"
N=${1:-100}
[ -x "$BIN" ] || { echo "bench-proxy-mem: $BIN not built; skipped"; exit 0; }
W=$(mktemp -d "${TMPDIR:-/tmp}/eml-pmem.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/store"
python3 - "$BIN" "$N" "$W" <<'PY'
import os, re, socket, subprocess, sys, time
binary, n, w = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sp = w + "/agent.sock"
ag = socket.socket(socket.AF_UNIX)
ag.bind(sp)
ag.listen(1024)
ag.setblocking(False)
log = open(w + "/proxy.log", "w")
p = subprocess.Popen([binary, "--listen", "tcp:127.0.0.1:0", "--agent", "unix:" + sp,
                      "--weights", w + "/store", "--health", "connect",
                      "--max-clients", str(n + 10)], stderr=log)
port = None
for _ in range(200):
    time.sleep(0.05)
    for line in open(w + "/proxy.log"):
        m = re.search(r'proxy.listening.*"addr":"tcp:127.0.0.1:(\d+)"', line)
        if m:
            port = int(m.group(1))
    if port:
        break
if not port:
    print("bench-proxy-mem: proxy did not start")
    p.kill()
    sys.exit(1)
def rss():
    with open("/proc/%d/status" % p.pid) as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
held = []
def drain():
    while True:
        try:
            held.append(ag.accept()[0])
        except BlockingIOError:
            return
time.sleep(0.5)
drain()
base = rss()
clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
time.sleep(1.0)
drain()
after = rss()
print("proxy memory: %d idle clients: RSS %d KiB -> %d KiB, %.0f KiB per client"
      % (n, base, after, (after - base) / n))
p.terminate()
p.wait()
PY
