#!/usr/bin/env bash
# Failure cases: unreachable peer, bad swarm IDs, disk full, and resume after pcdn-get is
# killed mid-download.
. "$(dirname "$0")/lib.sh"
f=$TMP/in
random_file "$f" $((20 * 1024 * 1024))
swarm=$("$SRC" hash "$f")

# nobody listens on 47600
rc=0
"$GET" --peer 127.0.0.1:47600 --swarm "$swarm" -o "$TMP/x" --timeout 2 2>"$TMP/unreach.log" || rc=$?
cat "$TMP/unreach.log"
[ "$rc" -ne 0 ] || fail "unreachable peer: exit 0"
grep -q "no peer answered: 127.0.0.1:47600 unreachable" "$TMP/unreach.log" || fail "unreachable message"
[ ! -e "$TMP/x" ] || fail "output created for an unreachable peer"

# bad swarm IDs: too short, not hex, wrong length for the hash
for bad in abc "zz${swarm:2}" "${swarm}00"; do
	rc=0
	"$GET" --peer 127.0.0.1:47601 --swarm "$bad" -o "$TMP/x" 2>"$TMP/bad.log" || rc=$?
	[ "$rc" -eq 2 ] || fail "bad swarm '$bad': exit $rc"
	grep -q "bad swarm ID '$bad': expected 40 hex digits" "$TMP/bad.log" || fail "message for '$bad'"
done
cat "$TMP/bad.log"

serve "$f" 127.0.0.1:47602 "$TMP/src.log"

# disk full: a 1 MiB tmpfs for a 20 MiB download
mkdir -p "$TMP/small"
if mount -t tmpfs -o size=1m pcdn-it-small "$TMP/small"; then
	rc=0
	"$GET" --peer 127.0.0.1:47602 --swarm "$swarm" -o "$TMP/small/out" 2>"$TMP/full.log" || rc=$?
	umount "$TMP/small"
	cat "$TMP/full.log"
	[ "$rc" -ne 0 ] || fail "disk full: exit 0"
	grep -q "No space left on device (disk full)" "$TMP/full.log" || fail "disk full message"
else
	fail "cannot mount a tmpfs for the disk-full case"
fi

# resume: interrupt once the state file exists (through a lossy relay, so it takes a while)
relay 127.0.0.1:47603 127.0.0.1:47602 "$TMP/relay.log" --drop 30 --seed 5
"$GET" --peer 127.0.0.1:47603 --swarm "$swarm" -o "$TMP/out" 2>"$TMP/first.log" &
g=$!
for i in $(seq 1 400); do
	# saved every second; past the header it holds verified hashes
	[ "$(stat -c %s "$TMP/out.part.state" 2>/dev/null || echo 0)" -gt 1000 ] && break
	kill -0 "$g" 2>/dev/null || break
	sleep 0.05
done
kill -KILL "$g" 2>/dev/null || true
wait "$g" 2>/dev/null || true
[ -e "$TMP/out.part.state" ] || fail "no state file after the first run"
[ ! -e "$TMP/out" ] || fail "the first run finished: cannot test resume"
"$GET" --peer 127.0.0.1:47602 --swarm "$swarm" -o "$TMP/out" 2>"$TMP/second.log" ||
	{ cat "$TMP/second.log" >&2; fail "resumed download"; }
cat "$TMP/second.log"
grep -q "(resumed)" "$TMP/second.log" || fail "second run did not resume"
had=$(sed -n 's/.*resuming .*: \([0-9]*\) chunks already verified.*/\1/p' "$TMP/second.log")
[ "${had:-0}" -gt 0 ] && [ "$had" -lt 20480 ] || fail "resumed with $had chunks verified"
cmp "$f" "$TMP/out" || fail "resumed file differs"
fetched=$(sed -n 's/.*, \([0-9]*\) of 20480 chunks verified.*/\1/p' "$TMP/second.log")
[ "$fetched" -eq 20480 ] || fail "verified count after resume: $fetched"
[ ! -e "$TMP/out.part.state" ] || fail "state file left after completion"
# every peer gone mid-download: the seeder behind the lossy relay is killed
serve "$f" 127.0.0.1:47604 "$TMP/src2.log"
s2=$LAST_PID
relay 127.0.0.1:47605 127.0.0.1:47604 "$TMP/relay2.log" --drop 30 --seed 9
rc=0
"$GET" --peer 127.0.0.1:47605 --swarm "$swarm" -o "$TMP/out2" --timeout 1 2>"$TMP/dead.log" &
g=$!
for i in $(seq 1 400); do
	[ "$(stat -c %s "$TMP/out2.part.state" 2>/dev/null || echo 0)" -gt 1000 ] && break
	sleep 0.05
done
kill -KILL "$s2"
wait "$g" || rc=$?
cat "$TMP/dead.log"
[ "$rc" -eq 1 ] || fail "all peers dead: exit $rc"
grep -q "all peers are dead or gone before the download completed" "$TMP/dead.log" ||
	fail "all-peers-dead message"
[ ! -e "$TMP/out2" ] || fail "output created although incomplete"
echo "ok: unreachable, bad swarm IDs, disk full, resume after $had chunks, all peers dead"
