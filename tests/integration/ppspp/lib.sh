# Shared helpers for the PPSPP integration tests (sourced). Arguments of every test:
#   $1 pcdn-source  $2 pcdn-get  $3 ppspp_relay
set -euo pipefail
SRC=$1
GET=$2
RELAY=${3:-}
TMP=$(mktemp -d /tmp/pcdn-ppspp-it.XXXXXX)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# wait_for FILE PATTERN: until the log shows the pattern (the program is ready)
wait_for() {
	local i
	for i in $(seq 1 400); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	cat "$1" >&2 || true
	fail "timed out waiting for '$2' in $1"
}

# serve FILE LISTEN LOG [OPTIONS...]: starts a seeder, returns when it listens; its pid is in
# $LAST_PID. The fixed test ports lie in the kernel's ephemeral range, so another program's
# client socket may hold one for a moment: a bind failure is retried.
serve() {
	local f=$1 l=$2 log=$3 try i
	shift 3
	for try in $(seq 1 20); do
		"$SRC" serve "$f" --listen "$l" "$@" 2>"$log" &
		LAST_PID=$!
		for i in $(seq 1 400); do
			grep -q serving "$log" 2>/dev/null && { PIDS+=("$LAST_PID"); return 0; }
			kill -0 "$LAST_PID" 2>/dev/null || break
			sleep 0.05
		done
		wait "$LAST_PID" 2>/dev/null || true
		grep -q "Address already in use" "$log" || break
		sleep 0.5
	done
	cat "$log" >&2
	fail "seeder on $l did not start"
}

# relay LISTEN UPSTREAM LOG OPTIONS...: starts the lossy relay
relay() {
	local l=$1 u=$2 log=$3
	shift 3
	"$RELAY" --listen "$l" --upstream "$u" "$@" 2>"$log" &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
	sleep 0.1
}

# stop PID: SIGTERM and wait (the program prints its counters)
stop() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# counter LOG NAME: a "name value" counter line from a program's exit report
counter() {
	awk -v n="$2" '$1 == n { v = $2 } END { print v + 0 }' "$1"
}

# summary_field LOG REGEX: the number right after a phrase of pcdn-get's summary
summary_num() {
	sed -n "s/.*$2 \([0-9][0-9]*\).*/\1/p" "$1" | tail -1
}

random_file() { # PATH BYTES
	head -c "$2" /dev/urandom >"$1"
}
