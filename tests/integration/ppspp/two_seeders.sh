#!/usr/bin/env bash
# Two seeders at once: chunks come from both (per-peer counts in pcdn-get's summary and the
# seeders' own counters), the file is byte-identical.
. "$(dirname "$0")/lib.sh"
f=$TMP/in
random_file "$f" $((10 * 1024 * 1024))
swarm=$("$SRC" hash "$f")
serve "$f" 127.0.0.1:47200 "$TMP/s1.log"
s1=$LAST_PID
serve "$f" 127.0.0.1:47201 "$TMP/s2.log"
s2=$LAST_PID
"$GET" --peer 127.0.0.1:47200 --peer 127.0.0.1:47201 --swarm "$swarm" -o "$TMP/out" \
	2>"$TMP/get.log" || { cat "$TMP/get.log" >&2; fail "download"; }
cmp "$f" "$TMP/out" || fail "file differs"
stop "$s1"
stop "$s2"
cat "$TMP/get.log"
c1=$(sed -n 's/.*peer 127.0.0.1:47200: \([0-9]*\) chunks.*/\1/p' "$TMP/get.log")
c2=$(sed -n 's/.*peer 127.0.0.1:47201: \([0-9]*\) chunks.*/\1/p' "$TMP/get.log")
[ "${c1:-0}" -gt 0 ] && [ "${c2:-0}" -gt 0 ] || fail "chunks per peer: $c1 and $c2"
[ $((c1 + c2)) -eq 10240 ] || fail "chunks from both add up to $((c1 + c2)), not 10240"
d1=$(counter "$TMP/s1.log" msgs_out.data)
d2=$(counter "$TMP/s2.log" msgs_out.data)
[ "$d1" -gt 0 ] && [ "$d2" -gt 0 ] || fail "seeders sent $d1 and $d2 DATA"
echo "ok: $c1 chunks from seeder 1, $c2 from seeder 2 (DATA sent: $d1, $d2)"
