#!/usr/bin/env bash
# Asynchronous jobs (issue 17) with the real binaries, on both queue
# backends: SQLite (the default) and Redis Streams (a real redis-server on a
# local port, append-only file synced on every write).
#
#   1 eml job submit -> status -> fetch --wait: outputs equal eml infer's
#     and eml run --local's
#   2 the same job submitted again (same id, same bytes) is the same job and
#     runs once; other bytes under that id are refused (EML_ERR_JOB_CONFLICT)
#   3 a proxy killed with SIGKILL right after acknowledging a job, and
#     restarted, completes it
#   4 an agent killed mid-job: the job is retried and completes on the next
#     agent (attempt 2), once
#   5 no agent at all: the job fails after 1 + 3 deliveries with backoff
#   6 (redis) two proxies sharing one Redis serve one queue: every job
#     completes exactly once
#   7 no 16-byte window of the input, output, topology key or plaintext
#     weights in the queue's files, the sealed job bytes posted, the proxy's
#     relay capture or any log
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: jobs: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=info
e2e_world request || { cat "$W"/*.log; echo "FAIL: jobs: setup"; exit 1; }
CONFSCAN=$(e2e_build_confscan) || { echo "FAIL: jobs: cannot build confscan"; exit 1; }
head -c 32 /dev/urandom >"$W/job.key"
chmod 600 "$W/job.key"
mkdir -p "$W/store"
"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >"$W/put.log" 2>&1 ||
	{ cat "$W/put.log"; echo "FAIL: jobs: blob put"; exit 1; }

# Inputs and references: input 1 is a batch of 8 (long enough output for
# the confidentiality scan).
e2e_make_input "$W/in0.pb" 300
e2e_make_input "$W/in1.pb" 301 8
for i in 0 1; do
	"$EML" run --local "$E2E_MODEL" --input "$W/in$i.pb" --output-dir "$W/ref$i" \
		>"$W/ref$i.log" 2>&1 || { cat "$W/ref$i.log"; echo "FAIL: jobs: run --local"; exit 1; }
	e2e_raw_tensor "$W/in$i.pb" "$W/in$i.raw"
done
e2e_raw_tensor "$W/ref1/output_0.pb" "$W/out1.raw"
e2e_plain_weights "$E2E_MODEL" "$W/weights.raw"

start_agent() { # NAME SOCK
	rm -f "$2"
	e2e_start "$1" "$EML_AGENT" --listen "unix:$2" --attest sim --sim-dir "$W/sim" \
		--policy "$W/agent-policy.json" --job-key "$W/job.key"
	AGENT_PID=$E2E_LAST_PID
	e2e_wait_unix "$2" || { cat "$W/$1.log"; return 1; }
}

# start_proxy NAME QUEUE_URL AGENT_SOCK [extra]: sets PORT, API, PROXY_PID
start_proxy() {
	local name=$1 url=$2 sock=$3
	shift 3
	PORT=$(e2e_free_port)
	API=$(e2e_free_port)
	e2e_start "$name" "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$sock" \
		--weights "$W/store" --jobs "$url" --jobs-listen "tcp:127.0.0.1:$API" \
		--job-backoff-ms 200 --capture "$W/capture-$name.bin" "$@"
	PROXY_PID=$E2E_LAST_PID
	e2e_wait_tcp "$API" || { cat "$W/$name.log"; return 1; }
}

same_outputs() { cmp -s "$1/output_0.pb" "$2/output_0.pb"; }

# submit PORT API INPUT [--job-id ID]: prints the job id
submit() {
	local port=$1 api=$2 in=$3
	shift 3
	"$EML" job submit --proxy "127.0.0.1:$port" --jobs-api "127.0.0.1:$api" \
		--model "$W/model" --policy "$W/client.json" --input "$in" "$@"
}

fetch() { # PORT API ID OUTDIR
	"$EML" job fetch --proxy "127.0.0.1:$1" --jobs-api "127.0.0.1:$2" --job-id "$3" \
		--output-dir "$4" --wait --timeout 30000
}

completions() { # ID LOGS...: how many times a proxy stored this job's result
	local id=$1
	shift
	cat "$@" 2>/dev/null | grep -c "\"event\":\"job.completed\",\"cid\":\"$id\""
}

export EML_JOB_DIR="$W/tickets"

run_backend() { # NAME URL
	local B=$1 URL=$2 id id2 out st
	start_agent "agent-$B" "$W/agent-$B.sock" || { e2e_fail "jobs[$B]: agent"; return; }
	local APID=$AGENT_PID
	start_proxy "proxy-$B" "$URL" "$W/agent-$B.sock" || { e2e_fail "jobs[$B]: proxy"; return; }
	local P=$PORT A=$API PP=$PROXY_PID

	# 1 submit, poll, fetch = infer = run --local
	id=$(submit "$P" "$A" "$W/in0.pb" 2>"$W/sub1-$B.err")
	"$EML" job status --proxy "127.0.0.1:$P" --jobs-api "127.0.0.1:$A" --job-id "$id" \
		>"$W/st1-$B.out" 2>&1
	"$EML" infer --proxy "127.0.0.1:$P" --model "$W/model" --policy "$W/client.json" \
		--input "$W/in0.pb" --output-dir "$W/inf0-$B" --quiet >/dev/null 2>&1
	if [ -n "$id" ] && fetch "$P" "$A" "$id" "$W/job0-$B" >"$W/f1-$B.out" 2>&1 &&
		same_outputs "$W/job0-$B" "$W/ref0" && same_outputs "$W/job0-$B" "$W/inf0-$B" &&
		grep -Eq '^(queued|running|done)$' "$W/st1-$B.out"; then
		e2e_pass "jobs[$B]: submit -> status ($(cat "$W/st1-$B.out")) -> fetch equals eml infer and eml run --local"
	else
		cat "$W/sub1-$B.err" "$W/st1-$B.out" "$W/f1-$B.out"
		tail -5 "$W/proxy-$B.log"
		e2e_fail "jobs[$B]: submit/poll/fetch"
	fi

	# 2 duplicates
	local again conflict
	again=$(submit "$P" "$A" "$W/in0.pb" --job-id "$id" 2>&1 >/dev/null)
	sleep 0.5
	mv "$EML_JOB_DIR/$id.sealed" "$W/$id.sealed.keep"
	conflict=$(submit "$P" "$A" "$W/in0.pb" --job-id "$id" 2>&1)
	st=$?
	mv "$W/$id.sealed.keep" "$EML_JOB_DIR/$id.sealed"
	if [ "$(completions "$id" "$W/proxy-$B.log")" = 1 ] && echo "$again" | grep -q "done" &&
		[ $st -ne 0 ] && echo "$conflict" | grep -q EML_ERR_JOB_CONFLICT; then
		e2e_pass "jobs[$B]: resubmitted (same bytes) is the same job, run once; other bytes under the id: EML_ERR_JOB_CONFLICT"
	else
		echo "again: $again"; echo "conflict($st): $conflict"
		e2e_fail "jobs[$B]: duplicates (completions $(completions "$id" "$W/proxy-$B.log"))"
	fi

	# 3 proxy SIGKILL right after the ack: an API-only proxy on the same
	# queue acknowledges, dies, and a full proxy restarted on it completes.
	kill -9 "$PP"; wait "$PP" 2>/dev/null
	start_proxy "front-$B" "$URL" "$W/agent-$B.sock" --job-workers 0 ||
		{ e2e_fail "jobs[$B]: front proxy"; return; }
	id2=$(submit "$PORT" "$API" "$W/in1.pb" 2>"$W/sub3-$B.err")
	kill -9 "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null
	start_proxy "proxy2-$B" "$URL" "$W/agent-$B.sock" || { e2e_fail "jobs[$B]: restart"; return; }
	P=$PORT A=$API PP=$PROXY_PID
	if [ -n "$id2" ] && fetch "$P" "$A" "$id2" "$W/job1-$B" >"$W/f3-$B.out" 2>&1 &&
		same_outputs "$W/job1-$B" "$W/ref1"; then
		e2e_pass "jobs[$B]: proxy SIGKILLed after acknowledging; restarted, it completed the job"
	else
		cat "$W/sub3-$B.err" "$W/f3-$B.out"
		e2e_fail "jobs[$B]: proxy SIGKILL after ack"
	fi

	# 4 agent killed mid-job: the job is queued through an API-only proxy
	# (sealing needs the agent), the agent is stopped, a working proxy
	# hands it the job, the agent is killed; the next agent on that
	# address runs the retry.
	kill "$PP"; wait "$PP" 2>/dev/null
	start_proxy "front2-$B" "$URL" "$W/agent-$B.sock" --job-workers 0 ||
		{ e2e_fail "jobs[$B]: front proxy 2"; return; }
	id=$(submit "$PORT" "$API" "$W/in0.pb" 2>"$W/sub4-$B.err")
	kill -STOP "$APID"
	start_proxy "proxy3-$B" "$URL" "$W/agent-$B.sock" --health-ms 100 ||
		{ e2e_fail "jobs[$B]: proxy3"; return; }
	P=$PORT A=$API PP=$PROXY_PID
	for _ in $(seq 1 100); do
		grep -q "\"event\":\"job.claimed\",\"cid\":\"$id\"" "$W/proxy3-$B.log" && break
		sleep 0.05
	done
	sleep 0.2
	kill -9 "$APID"
	kill -CONT "$APID" 2>/dev/null
	wait "$APID" 2>/dev/null
	start_agent "agent2-$B" "$W/agent-$B.sock" || { e2e_fail "jobs[$B]: agent2"; return; }
	APID=$AGENT_PID
	local attempts=""
	if [ -n "$id" ] && fetch "$P" "$A" "$id" "$W/job4-$B" >"$W/f4-$B.out" 2>&1 &&
		same_outputs "$W/job4-$B" "$W/ref0" &&
		[ "$(completions "$id" "$W"/proxy*-$B.log "$W"/front*-$B.log)" = 1 ] &&
		grep -q "\"event\":\"job.attempt_failed\",\"cid\":\"$id\"" "$W/proxy3-$B.log" &&
		grep -q '"event":"job.done"' "$W/agent2-$B.log"; then
		attempts=$(grep -o "\"event\":\"job.completed\",\"cid\":\"$id\",[^}]*" \
			"$W/proxy3-$B.log" | grep -o '"attempt":[0-9]*' | cut -d: -f2)
		e2e_pass "jobs[$B]: agent killed mid-job; retried on the next agent, completed once (attempt $attempts)"
	else
		cat "$W/sub4-$B.err" "$W/f4-$B.out"; tail -8 "$W/proxy3-$B.log"
		e2e_fail "jobs[$B]: agent killed mid-job"
	fi

	# 5 no agent: 1 + 3 deliveries with backoff, then failed for good.
	kill "$PP"; wait "$PP" 2>/dev/null
	start_proxy "front3-$B" "$URL" "$W/agent-$B.sock" --job-workers 0 ||
		{ e2e_fail "jobs[$B]: front proxy 3"; return; }
	local NA=$PROXY_PID
	id=$(submit "$PORT" "$API" "$W/in0.pb" 2>"$W/sub5-$B.err")
	start_proxy "proxy4-$B" "$URL" "$W/nowhere-$B.sock" || { e2e_fail "jobs[$B]: proxy4"; return; }
	PP=$PROXY_PID
	out=""
	for _ in $(seq 1 100); do
		out=$("$EML" job status --proxy "127.0.0.1:$PORT" --jobs-api "127.0.0.1:$API" \
			--job-id "$id" 2>&1)
		case "$out" in failed*) break ;; esac
		sleep 0.1
	done
	local tries
	tries=$(grep -c "\"event\":\"job.attempt_failed\",\"cid\":\"$id\"" "$W/proxy4-$B.log")
	if [ -n "$id" ] && echo "$out" | grep -q "^failed 7[0-9][0-9] EML_ERR_" && [ "$tries" = 4 ]; then
		e2e_pass "jobs[$B]: no agent: failed after 4 deliveries (1 + 3 retries with backoff): $out"
	else
		echo "status: $out, attempts logged: $tries"; cat "$W/sub5-$B.err"
		e2e_fail "jobs[$B]: retries bounded"
	fi
	kill "$NA" "$PP"; wait "$NA" "$PP" 2>/dev/null
	kill "$APID"; wait "$APID" 2>/dev/null
}

# ---------------------------------------------------------------- SQLite
run_backend sqlite "sqlite:$W/queue.db"

# ---------------------------------------------------------------- Redis
RPORT=$(e2e_free_port)
mkdir -p "$W/redis"
e2e_start redis redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$W/redis" \
	--appendonly yes --appendfsync always --save "" --daemonize no
if ! e2e_wait_tcp "$RPORT"; then
	cat "$W/redis.log"
	e2e_fail "jobs[redis]: redis-server did not start"
else
	run_backend redis "redis://127.0.0.1:$RPORT"

	# 6 two proxies, one Redis, one queue
	start_agent agent-r2 "$W/agent-r2.sock"
	start_proxy proxyA redis://127.0.0.1:$RPORT "$W/agent-r2.sock"
	PA=$PORT AA=$API
	start_proxy proxyB redis://127.0.0.1:$RPORT "$W/agent-r2.sock"
	PB=$PORT AB=$API
	ids=()
	for k in 1 2 3 4 5 6; do
		if [ $((k % 2)) -eq 0 ]; then
			ids+=("$(submit "$PA" "$AA" "$W/in0.pb" 2>/dev/null)")
		else
			ids+=("$(submit "$PB" "$AB" "$W/in0.pb" 2>/dev/null)")
		fi
	done
	ok=0 once=0 byA=0 byB=0
	for k in "${!ids[@]}"; do
		id=${ids[$k]}
		if [ $((k % 2)) -eq 0 ]; then api=$AB; else api=$AA; fi # fetch from the other
		fetch "$PA" "$api" "$id" "$W/two-$k" >/dev/null 2>&1 && same_outputs "$W/two-$k" "$W/ref0" &&
			ok=$((ok + 1))
		[ "$(completions "$id" "$W/proxyA.log" "$W/proxyB.log")" = 1 ] && once=$((once + 1))
		[ "$(completions "$id" "$W/proxyA.log")" = 1 ] && byA=$((byA + 1))
		[ "$(completions "$id" "$W/proxyB.log")" = 1 ] && byB=$((byB + 1))
	done
	if [ $ok -eq 6 ] && [ $once -eq 6 ]; then
		e2e_pass "jobs[redis]: two proxies on one Redis: 6/6 jobs correct, each completed exactly once (A ran $byA, B ran $byB)"
	else
		e2e_fail "jobs[redis]: two proxies: ok=$ok once=$once"
	fi
fi

# ---------------------------------------------------------------- 7
# Everything the host held: the queues' files, the sealed jobs as posted,
# relay captures, every log (the agent's too, as forwarded to the host).
seen=("$W"/queue.db* "$W"/redis/* "$W"/redis/*/* "$EML_JOB_DIR"/*.sealed "$W"/capture-*.bin "$W"/*.log)
existing=()
for f in "${seen[@]}"; do [ -f "$f" ] && existing+=("$f"); done
if "$CONFSCAN" --secret "$W/in0.raw" "$W/in1.raw" "$W/out1.raw" "$W/model/model.topo" \
	"$W/weights.raw" --seen "${existing[@]}" >"$W/scan.log" 2>&1; then
	e2e_pass "jobs: no plaintext window in ${#existing[@]} files of queue store, posted jobs, captures and logs ($(tail -1 "$W/scan.log"))"
else
	cat "$W/scan.log"
	e2e_fail "jobs: plaintext found on the host"
fi
exit $E2E_FAILED
