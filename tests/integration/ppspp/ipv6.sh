#!/usr/bin/env bash
# IPv6: a seeder on [::1] and a download over IPv6, byte-identical.
. "$(dirname "$0")/lib.sh"
f=$TMP/in
random_file "$f" $((3 * 1024 * 1024 + 17))
swarm=$("$SRC" hash "$f")
serve "$f" "[::1]:47700" "$TMP/src.log"
src=$LAST_PID
"$GET" --peer "[::1]:47700" --swarm "$swarm" -o "$TMP/out" 2>"$TMP/get.log" ||
	{ cat "$TMP/get.log" >&2; fail "download over IPv6"; }
cmp "$f" "$TMP/out" || fail "file differs"
grep -q "peer \[::1\]:47700: 3073 chunks" "$TMP/get.log" || { cat "$TMP/get.log"; fail "peer line"; }
stop "$src"
echo "ok: IPv6"
