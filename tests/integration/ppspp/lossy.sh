#!/usr/bin/env bash
# Through the userspace relay dropping 10%, duplicating and reordering (both directions):
# still byte-identical, with the losses recovered by re-requests.
. "$(dirname "$0")/lib.sh"
f=$TMP/in
random_file "$f" $((4 * 1024 * 1024 + 333))
swarm=$("$SRC" hash "$f")
serve "$f" 127.0.0.1:47300 "$TMP/src.log"
src=$LAST_PID
relay 127.0.0.1:47301 127.0.0.1:47300 "$TMP/relay.log" --drop 10 --dup 5 --reorder 10 --seed 7
rl=$LAST_PID
"$GET" --peer 127.0.0.1:47301 --swarm "$swarm" -o "$TMP/out" --log-level info \
	2>"$TMP/get.log" || { tail -50 "$TMP/get.log" >&2; fail "download"; }
cmp "$f" "$TMP/out" || fail "file differs"
stop "$rl"
stop "$src"
cat "$TMP/relay.log"
dropped=$(sed -n 's/.*dropped \([0-9]*\).*/\1/p' "$TMP/relay.log")
dup=$(sed -n 's/.*duplicated \([0-9]*\).*/\1/p' "$TMP/relay.log")
reord=$(sed -n 's/.*reordered \([0-9]*\).*/\1/p' "$TMP/relay.log")
[ "$dropped" -gt 100 ] && [ "$dup" -gt 0 ] && [ "$reord" -gt 0 ] ||
	fail "relay did not impair enough: $dropped dropped, $dup duplicated, $reord reordered"
rr=$(counter "$TMP/get.log" rerequests)
[ "$rr" -gt 0 ] || fail "no re-requests recorded"
grep -q "chunks_verified 4097" "$TMP/get.log" || fail "verified count"
echo "ok: $dropped dropped, $dup duplicated, $reord reordered; $rr re-requests"
