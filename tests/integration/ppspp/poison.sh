#!/usr/bin/env bash
# A poisoned seeder (the relay flips bits in every DATA payload it sends) next to an honest one:
# its chunks are rejected and counted, the poisoned peer is dropped, the file is correct.
. "$(dirname "$0")/lib.sh"
f=$TMP/in
random_file "$f" $((4 * 1024 * 1024))
swarm=$("$SRC" hash "$f")
serve "$f" 127.0.0.1:47400 "$TMP/honest.log"
h=$LAST_PID
serve "$f" 127.0.0.1:47401 "$TMP/bad.log"
b=$LAST_PID
relay 127.0.0.1:47402 127.0.0.1:47401 "$TMP/relay.log" --flip-data 100 --seed 3
rl=$LAST_PID
"$GET" --peer 127.0.0.1:47402 --peer 127.0.0.1:47400 --swarm "$swarm" -o "$TMP/out" \
	--log-level info 2>"$TMP/get.log" || { tail -40 "$TMP/get.log" >&2; fail "download"; }
cmp "$f" "$TMP/out" || fail "file differs"
stop "$rl"
stop "$h"
stop "$b"
grep "pcdn-get:" "$TMP/get.log" | grep -v "^pcdn-get: counters" || true
cat "$TMP/relay.log"
rej=$(summary_num "$TMP/get.log" "rejected chunks")
[ "${rej:-0}" -ge 1 ] || fail "no rejected chunks counted"
flipped=$(sed -n 's/.*flipped \([0-9]*\).*/\1/p' "$TMP/relay.log")
[ "$flipped" -ge "$rej" ] || fail "more rejections ($rej) than corrupted DATA ($flipped)"
grep -q "peer 127.0.0.1:47402: 0 chunks" "$TMP/get.log" || fail "poisoned peer supplied chunks"
grep -q "peer 127.0.0.1:47400: 4096 chunks" "$TMP/get.log" || fail "honest peer did not supply all"
[ "$(counter "$TMP/get.log" peers_poisoned)" -eq 1 ] || fail "poisoned peer not dropped"
echo "ok: $rej chunks rejected of $flipped corrupted; poisoned peer dropped"
