#!/usr/bin/env bash
# Files of 0 B, 1 B, 1 KiB, 1 KiB+1 and 10 MiB random: downloaded byte-identical; hash options.
. "$(dirname "$0")/lib.sh"
port=47100
for size in 0 1 1024 1025 10485760; do
	f=$TMP/in.$size
	random_file "$f" "$size"
	swarm=$("$SRC" hash "$f")
	[ ${#swarm} -eq 40 ] || fail "swarm ID of $size bytes: '$swarm'"
	serve "$f" "127.0.0.1:$port" "$TMP/src.$size.log"
	spid=$LAST_PID
	"$GET" --peer "127.0.0.1:$port" --swarm "$swarm" -o "$TMP/out.$size" 2>"$TMP/get.$size.log" ||
		{ cat "$TMP/get.$size.log" >&2; fail "download of $size bytes"; }
	cmp "$f" "$TMP/out.$size" || fail "$size bytes differ"
	[ ! -e "$TMP/out.$size.part" ] && [ ! -e "$TMP/out.$size.part.state" ] ||
		fail "temporary files left for $size bytes"
	grep -q "downloaded $size bytes" "$TMP/get.$size.log" || fail "summary for $size bytes"
	stop "$spid"
	grep -q "chunks_sent" "$TMP/src.$size.log" || [ "$size" -eq 0 ] ||
		fail "seeder counters for $size bytes"
	echo "ok: $size bytes, swarm $swarm"
	port=$((port + 1))
done
# SHA-256 trees and 4 KiB chunks: a different swarm ID, same bytes
f=$TMP/in.10485760
swarm=$("$SRC" hash "$f" --hash sha256 --chunk-size 4096)
[ ${#swarm} -eq 64 ] || fail "sha256 swarm ID '$swarm'"
serve "$f" "127.0.0.1:$port" "$TMP/src.256.log" --hash sha256 --chunk-size 4096
"$GET" --peer "127.0.0.1:$port" --swarm "$swarm" --hash sha256 --chunk-size 4096 \
	-o "$TMP/out.256" 2>"$TMP/get.256.log" || { cat "$TMP/get.256.log" >&2; fail "sha256"; }
cmp "$f" "$TMP/out.256" || fail "sha256 download differs"
echo "ok: sha256, 4 KiB chunks"
