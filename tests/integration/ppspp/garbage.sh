#!/usr/bin/env bash
# Random garbage datagrams at both ends during a transfer: from the relay on live channels
# (both directions) and from outside to both ports. No crash, counted, transfer completes.
. "$(dirname "$0")/lib.sh"
f=$TMP/in
random_file "$f" $((8 * 1024 * 1024))
swarm=$("$SRC" hash "$f")
serve "$f" 127.0.0.1:47500 "$TMP/src.log"
src=$LAST_PID
relay 127.0.0.1:47501 127.0.0.1:47500 "$TMP/relay.log" --garbage 3 --seed 11
rl=$LAST_PID
noise() { # PORT COUNT: random datagrams from a stranger
	local i
	for i in $(seq 1 "$2"); do
		head -c $((RANDOM % 200 + 1)) /dev/urandom >/dev/udp/127.0.0.1/"$1" 2>/dev/null || true
	done
}
"$GET" --peer 127.0.0.1:47501 --bind 127.0.0.1:47502 --swarm "$swarm" -o "$TMP/out" \
	--log-level info 2>"$TMP/get.log" &
g=$!
noise 47500 300 &
n1=$!
noise 47502 300 &
n2=$!
wait "$g" || { tail -40 "$TMP/get.log" >&2; fail "download"; }
wait "$n1" "$n2"
cmp "$f" "$TMP/out" || fail "file differs"
noise 47500 100
stop "$rl"
stop "$src"
cat "$TMP/relay.log"
gs=$(sed -n 's/.*garbage \([0-9]*\).*/\1/p' "$TMP/relay.log")
[ "$gs" -gt 0 ] || fail "relay sent no garbage"
ms=$(counter "$TMP/src.log" malformed_total)
mg=$(summary_num "$TMP/get.log" "malformed datagrams")
us=$(counter "$TMP/src.log" unknown_channel)
bs=$(counter "$TMP/src.log" bad_handshakes)
[ "$ms" -gt 0 ] || fail "source counted no malformed datagrams"
[ "${mg:-0}" -gt 0 ] || fail "pcdn-get counted no malformed datagrams"
[ $((us + bs + ms)) -ge 100 ] || fail "source counted only $((us + bs + ms)) bad datagrams"
[ "$(counter "$TMP/get.log" chunks_rejected)" -eq 0 ] || fail "garbage caused rejections"
echo "ok: relay garbage $gs; source malformed $ms unknown-channel $us bad-handshake $bs; get malformed $mg"
