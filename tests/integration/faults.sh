#!/usr/bin/env bash
# Full disks and a cut audit log (issue 18), with the real eml-agent (sim),
# eml-proxy and eml infer. The disks are small tmpfs mounts (root); where
# mounting is not allowed the audit cases use the file size limit instead
# (RLIMIT_FSIZE on the proxy, raised again with prlimit), and the output
# case is skipped with a message.
#
#   1 audit disk full, --audit-failure close (default): the next request
#     is refused with EML_ERR_AUDIT_DOWN (757); /status says
#     audit.healthy false with the error, /metrics eml_proxy_audit_healthy
#     0; once space returns the service resumes by itself and an audit_gap
#     line records the lost lines; audit verify passes
#   2 --audit-failure serve: the same full disk, requests still served,
#     /status and /metrics still say the log is unhealthy
#   3 a log whose last line was cut: the proxy starts, the tail is in a
#     side file, an audit_repair line records the cut, audit verify passes
#     and says where
#   4 output disk full: eml infer exits non-zero and leaves no file
#
# One PASS/FAIL line per case; exit status 1 when any failed.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: faults: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
MOUNTS=()
faults_cleanup() {
	local rc=$? m
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
	e2e_cleanup
	return $rc
}
trap faults_cleanup EXIT
export EML_LOG_LEVEL=info

e2e_world request || { cat "$W"/*.log; echo "FAIL: faults: setup"; exit 1; }
mkdir -p "$W/store"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >"$W/put.log" 2>&1 ||
	{ cat "$W/put.log"; echo "FAIL: faults: blob put"; exit 1; }
e2e_make_input "$W/in.pb" 11
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >"$W/ref.log" 2>&1 ||
	{ cat "$W/ref.log"; echo "FAIL: faults: eml run --local"; exit 1; }

small_fs() { # DIR KB: a tmpfs of KB KiB at DIR; fails when not allowed
	mkdir -p "$1"
	mount -t tmpfs -o "size=${2}k,mode=0755" tmpfs "$1" 2>/dev/null || return 1
	MOUNTS+=("$1")
}

fill() { # DIR: fill the file system at DIR
	dd if=/dev/zero of="$1/fill" bs=4096 >/dev/null 2>&1
	sync
}

infer() { # PORT OUTDIR [extra]
	local port=$1 out=$2
	shift 2
	"$EML" infer --proxy "127.0.0.1:$port" --model "$W/model" --policy "$W/client.json" \
		--input "$W/in.pb" --output-dir "$out" --timeout 30000 --quiet "$@"
}

http_get() { # PORT PATH
	"$PY" - "$1" "$2" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(("GET %s HTTP/1.0\r\n\r\n" % sys.argv[2]).encode())
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
print(data.split(b"\r\n\r\n", 1)[1].decode())
EOF
}

rm -f "$W/agent.sock"
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: faults: agent"; exit 1; }

MODE=${EML_FAULTS_MODE:-tmpfs} # EML_FAULTS_MODE=fsize tries the fallback
[ "$MODE" = tmpfs ] && { small_fs "$W/auditfs" 256 || MODE=fsize; }

start_proxy() { # NAME AUDITLOG [extra]; sets PORT, APORT, PROXY_PID
	local name=$1 log=$2
	shift 2
	PORT=$(e2e_free_port)
	APORT=$(e2e_free_port)
	if [ "$MODE" = fsize ]; then
		# SIGXFSZ ignored (inherited), so a write past the limit fails
		# with EFBIG as a full disk fails with ENOSPC.
		(trap '' XFSZ; exec "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" \
			--agent "unix:$W/agent.sock" --weights "$W/store" --audit "$log" \
			--admin "tcp:127.0.0.1:$APORT" --health-ms 200 "$@") >"$W/$name.log" 2>&1 &
		E2E_PIDS+=($!)
		PROXY_PID=$!
	else
		e2e_start "$name" "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" \
			--agent "unix:$W/agent.sock" --weights "$W/store" --audit "$log" \
			--admin "tcp:127.0.0.1:$APORT" --health-ms 200 "$@"
		PROXY_PID=$E2E_LAST_PID
	fi
	e2e_wait_tcp "$PORT" || { cat "$W/$name.log"; return 1; }
}

disk_full() { # LOGFILE
	if [ "$MODE" = tmpfs ]; then
		fill "$(dirname "$1")"
	else
		prlimit --pid "$PROXY_PID" --fsize="$(stat -c %s "$1")":unlimited
	fi
}

disk_back() { # LOGFILE
	if [ "$MODE" = tmpfs ]; then
		rm -f "$(dirname "$1")/fill"
	else
		prlimit --pid "$PROXY_PID" --fsize=unlimited:unlimited
	fi
}

# Requests until one fails (a file system may still take a line or two
# into a page it already holds); prints the number tried, the last exit
# status and output in $W/$2.
until_refused() { # PORT TAG
	local i rc=0
	for i in $(seq 1 40); do
		rm -rf "$W/out-$2"
		infer "$1" "$W/out-$2" >"$W/$2.out" 2>&1
		rc=$?
		[ $rc -ne 0 ] && break
	done
	echo "$i $rc"
}

# ---------------------------------------------------------------- 1
LOG1="$W/auditfs/audit.log"
[ "$MODE" = fsize ] && LOG1="$W/audit1.log"
start_proxy proxy1 "$LOG1" || { echo "FAIL: faults: proxy1"; exit 1; }
infer "$PORT" "$W/out-1a" >"$W/1a.out" 2>&1
first=$?
disk_full "$LOG1"
read -r tried rc < <(until_refused "$PORT" 1b)
status=$(http_get "$APORT" /status)
metrics=$(http_get "$APORT" /metrics)
disk_back "$LOG1"
served=0
for _ in $(seq 1 50); do
	rm -rf "$W/out-1c"
	if infer "$PORT" "$W/out-1c" >"$W/1c.out" 2>&1 && cmp -s "$W/ref/output_0.pb" "$W/out-1c/output_0.pb"; then
		served=1
		break
	fi
	sleep 0.1
done
status2=$(http_get "$APORT" /status)
e2e_stop "$PROXY_PID"
"$EML_PROXY" audit verify "$LOG1" >"$W/verify1.out" 2>&1
vrc=$?
if [ $first -eq 0 ] && [ "$rc" -eq 3 ] && grep -q 'EML_ERR_AUDIT_DOWN' "$W/1b.out" &&
	echo "$status" | grep -q '"healthy":false,"last_error":"write: No space left on device\|"healthy":false,"last_error":"write: File too large' &&
	echo "$metrics" | grep -q '^eml_proxy_audit_healthy 0$' &&
	[ $served -eq 1 ] && echo "$status2" | grep -q '"healthy":true' &&
	[ $vrc -eq 0 ] && grep -q 'audit_gap' "$LOG1" && grep -q 'gap(s)' "$W/verify1.out"; then
	e2e_pass "audit disk full ($MODE): request $tried refused with EML_ERR_AUDIT_DOWN, /status and /metrics say so, service resumes with an audit_gap line, audit verify passes"
else
	echo "first=$first tried=$tried rc=$rc served=$served vrc=$vrc"
	cat "$W/1b.out" "$W/verify1.out"
	echo "$status" | tr ',' '\n' | grep -A3 '"audit"'
	e2e_fail "audit disk full ($MODE)"
fi

# ---------------------------------------------------------------- 2
LOG2="$W/auditfs/audit2.log"
[ "$MODE" = fsize ] && LOG2="$W/audit2.log"
[ "$MODE" = tmpfs ] && rm -f "$LOG1"
start_proxy proxy2 "$LOG2" --audit-failure serve || { echo "FAIL: faults: proxy2"; exit 1; }
infer "$PORT" "$W/out-2a" >"$W/2a.out" 2>&1
disk_full "$LOG2"
ok=0
for i in 1 2 3 4 5; do
	rm -rf "$W/out-2b"
	infer "$PORT" "$W/out-2b" >"$W/2b.out" 2>&1 && cmp -s "$W/ref/output_0.pb" "$W/out-2b/output_0.pb" &&
		ok=$((ok + 1))
done
status=$(http_get "$APORT" /status)
metrics=$(http_get "$APORT" /metrics)
disk_back "$LOG2"
e2e_stop "$PROXY_PID"
if [ $ok -eq 5 ] && echo "$status" | grep -q '"healthy":false' &&
	echo "$metrics" | grep -q '^eml_proxy_audit_healthy 0$' &&
	echo "$metrics" | grep -Eq '^eml_proxy_audit_write_failures_total [1-9]'; then
	e2e_pass "--audit-failure serve ($MODE): 5/5 served on a full audit disk, /status and /metrics say unhealthy"
else
	cat "$W/2b.out"
	e2e_fail "--audit-failure serve: $ok/5 served"
fi

# ---------------------------------------------------------------- 3
LOG3="$W/audit3.log"
start_proxy proxy3 "$LOG3" || { echo "FAIL: faults: proxy3"; exit 1; }
infer "$PORT" "$W/out-3a" >"$W/3a.out" 2>&1
e2e_stop "$PROXY_PID"
lines=$(wc -l <"$LOG3")
truncate -s -7 "$LOG3" # the last line loses its end, newline included
start_proxy proxy3b "$LOG3"
up=$?
infer "$PORT" "$W/out-3b" >"$W/3b.out" 2>&1
served=$?
e2e_stop "$PROXY_PID"
"$EML_PROXY" audit verify "$LOG3" >"$W/verify3.out" 2>&1
vrc=$?
side=$(ls "$W"/audit3.log.cut-* 2>/dev/null | head -1)
if [ $up -eq 0 ] && [ $served -eq 0 ] && [ $vrc -eq 0 ] && [ -n "$side" ] &&
	grep -q "\"kind\":\"audit_repair\",\"at_seq\":$lines," "$LOG3" &&
	grep -q "repaired cut" "$W/verify3.out" && grep -q "moved_to\":\"$(basename "$side")\"" "$LOG3"; then
	e2e_pass "cut last line: the proxy starts, tail moved to $(basename "$side"), audit_repair at seq $lines, audit verify passes and says where"
else
	cat "$W/proxy3b.log" | tail -3
	cat "$W/verify3.out"
	e2e_fail "cut last line: up=$up served=$served verify=$vrc side=$side"
fi

# ---------------------------------------------------------------- 4
if small_fs "$W/outfs" 64; then
	start_proxy proxy4 "$W/audit4.log" || { echo "FAIL: faults: proxy4"; exit 1; }
	mkdir -p "$W/outfs/out"
	fill "$W/outfs"
	rm -f "$W/outfs/fill.keep"
	infer "$PORT" "$W/outfs/out" >"$W/4.out" 2>&1
	rc=$?
	left=$(find "$W/outfs/out" -type f | wc -l)
	e2e_stop "$PROXY_PID"
	if [ $rc -ne 0 ] && [ "$left" -eq 0 ] && grep -q 'No space left on device' "$W/4.out"; then
		e2e_pass "output disk full: eml infer exits $rc (no space left on device) and leaves no file"
	else
		cat "$W/4.out"
		ls -la "$W/outfs/out"
		e2e_fail "output disk full: exit $rc, $left file(s) left"
	fi
else
	echo "SKIP: output disk full: cannot mount a tmpfs here (not root?)"
fi

exit $E2E_FAILED
