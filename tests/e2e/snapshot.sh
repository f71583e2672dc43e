#!/usr/bin/env bash
# e2e: snapshots with real guests. Memory snapshots: processes started before
# one (a sleep, a counter loop) run on after its restore, files written after
# it are gone; restore of a running and of a stopped sandbox, and after its
# namespace went away (as after a host restart); a damaged memory file is
# refused and the sandbox runs on as it was. Disk snapshots (when the image
# has a writable disk): restore running and stopped. ls --json, parents,
# rm, clones from both kinds, and the errors for unknown names and ids.
source "$(dirname "$0")/../lib.sh"
t_setup_home

NAME=snap-e2e
CLONE=snap-e2e-clone
WORK=$(mktemp -d "${TMPDIR:-/tmp}/smolvm-snap.XXXXXX")
# The full-disk case runs in a home of its own on a small tmpfs.
cleanup() {
	if mountpoint -q "$WORK/full"; then
		SMOLVM_HOME=$WORK/full/home "$SMOLVM" rm --force full >/dev/null 2>&1
		umount "$WORK/full"
	fi
	rm -rf "$WORK"
	t_cleanup_home
}
trap cleanup EXIT

# run CMD...: sets OUT (stdout), ERR (stderr) and RC.
run() {
	OUT=$("$@" 2>"$WORK/stderr")
	RC=$?
	ERR=$(cat "$WORK/stderr")
}
gx() { "$SMOLVM" exec "$1" -- sh -c "$2"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
state() { jfield "$("$SMOLVM" ls --json | tr '{' '\n' | grep "\"name\":\"$1\"")" state; }
# pyjson EXPR: EXPR evaluated over the JSON on stdin as `d`, printed.
pyjson() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# Is the sleep started before the first snapshot running in sandbox $1? (By
# its command line: a fresh boot may give its pid to something else.)
sleeping() { gx "$1" "[ \"\$(tr '\\0' ' ' </proc/$SPID/cmdline)\" = 'sleep 1000 ' ]"; }
# The guest's counter, written every 0.2 s by a loop started before the snapshot.
count() { gx "$1" 'cat /tmp/count'; }
counting() {
	local a b
	a=$(count "$1") && sleep 1 && b=$(count "$1") && [ -n "$a" ] && [ "$b" -gt "$a" ]
}

# --- without a guest ----------------------------------------------------------
run "$SMOLVM" snapshot --help
check_match "snapshot --help" "$RC $OUT" "^0 usage: smolvm snapshot create ID"
run "$SMOLVM" snapshot
check_match "snapshot without a subcommand is a usage error" "$RC" "^2$"
run "$SMOLVM" snapshot bogus
check_match "snapshot bogus is a usage error" "$RC $ERR" "^2 .*unknown subcommand 'bogus'"
run "$SMOLVM" snapshot ls
check_match "snapshot ls without an id" "$RC $ERR" "^2 .*needs a sandbox id"
run "$SMOLVM" snapshot restore x
check_match "snapshot restore needs two arguments" "$RC $ERR" "^2 .*a sandbox id and a snapshot"
for sub in "ls nosuchbox" "create nosuchbox" "rm nosuchbox s" "restore nosuchbox s"; do
	run "$SMOLVM" snapshot $sub
	check_match "snapshot $sub: unknown sandbox" "$RC $ERR" "^1 .*no sandbox with id or name 'nosuchbox'"
done
run "$SMOLVM" create --from nosuchbox:s
check_match "create --from an unknown sandbox" "$RC $ERR" "^1 .*no sandbox with id or name 'nosuchbox'"
run "$SMOLVM" create --from nocolon
check_match "create --from without ID:SNAP" "$RC $ERR" "^1 .*'nocolon' is not ID:SNAPSHOT"
run "$SMOLVM" create --from a:b --mem 512
check_match "create --from with --mem is a usage error" "$RC $ERR" "^2 .*--from takes only --name"

# --- a guest with processes ----------------------------------------------------
t_create "create a sandbox" --name "$NAME"
check_eq "no snapshots yet: ls --json" "$("$SMOLVM" snapshot ls "$NAME" --json)" "[]"
run "$SMOLVM" snapshot create "$NAME" --name 'bad/name'
check_match "a bad snapshot name is a usage error" "$RC $ERR" "^2 .*--name 'bad/name' may hold only"
run "$SMOLVM" snapshot restore "$NAME" nope
check_match "restore of an unknown snapshot" "$RC $ERR" "^1 .*has no snapshot 'nope'"
run "$SMOLVM" snapshot rm "$NAME" nope
check_match "rm of an unknown snapshot" "$RC $ERR" "^1 .*has no snapshot 'nope'"

gx "$NAME" 'sleep 1000 </dev/null >/dev/null 2>&1 & echo $! >/tmp/sleep.pid
	(i=0; while :; do i=$((i + 1)); echo $i >/tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.2; done) </dev/null >/dev/null 2>&1 &
	echo before >/tmp/before'
SPID=$(gx "$NAME" 'cat /tmp/sleep.pid')
check_match "a sleep runs in the guest" "$SPID" '^[0-9]+$'

T0=$(date +%s%N)
run "$SMOLVM" snapshot create "$NAME" --memory --name m1
check_eq "memory snapshot m1" "$RC $OUT" "0 m1"
M1_AT=$(date +%s)
echo "# memory snapshot: $(ms "$T0") ms"
check_eq "the sandbox runs on after the snapshot" "$(state "$NAME")" running
check "... its processes too" counting "$NAME"
check "... and exec works" gx "$NAME" true
run "$SMOLVM" snapshot create "$NAME" --memory --name m1
check_match "a duplicate name is refused" "$RC $ERR" "^1 .*already has a snapshot named 'm1'"

LS=$("$SMOLVM" snapshot ls "$NAME" --json)
check_eq "ls --json: one memory snapshot named m1, current, no parent" \
	"$(pyjson '[(s["name"], s["kind"], s["parent"], s["current"]) for s in d]' <<<"$LS")" \
	"[('m1', 'memory', '', True)]"
check_eq "ls --json: created is now, size in bytes" \
	"$(pyjson '[type(s["created"]).__name__ + " " + str(abs(s["created"] - '"$(date +%s)"') < 120) + " " + str(s["size"] > 1000000) for s in d]' <<<"$LS")" \
	"['int True True']"
check_match "ls: a table with the current snapshot starred" "$("$SMOLVM" snapshot ls "$NAME")" \
	"\* m1 +memory +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +[0-9.]+ MiB +-"

gx "$NAME" "echo after >/tmp/after; kill $SPID"
# Long enough after m1 that a clock left as saved would show.
while [ $(( $(date +%s) - M1_AT )) -lt 10 ]; do sleep 1; done
T0=$(date +%s%N)
run "$SMOLVM" snapshot restore "$NAME" m1
check_eq "restore m1 while running" "$RC $ERR" "0 "
echo "# memory restore (running): $(ms "$T0") ms"
check_eq "exec works right after the restore" "$(gx "$NAME" 'echo hi')" hi
check_eq "a file from before the snapshot is there" "$(gx "$NAME" 'cat /tmp/before')" before
check_eq "a file written after it is gone" "$(gx "$NAME" 'ls /tmp/after 2>/dev/null')" ""
check "the sleep killed after the snapshot runs again" sleeping "$NAME"
check "the counter loop goes on counting" counting "$NAME"
# Within the host's time before and after asking, give or take what setting it
# over SSH costs on a busy host (unset, it would be 10 s behind or more).
clock_set() {
	local before after guest
	before=$(date +%s); guest=$(gx "$NAME" 'date +%s'); after=$(date +%s)
	[ "$guest" -ge $((before - 4)) ] && [ "$guest" -le $((after + 1)) ] ||
		{ echo "guest $guest, host $before..$after"; return 1; }
}
check "the guest's clock is the host's" clock_set

# A default name, and the parent: the state came from m1.
run "$SMOLVM" snapshot create "$NAME" --memory
check_eq "the default name is snap-1" "$RC $OUT" "0 snap-1"
check_eq "snap-1's parent is m1, and it is current now" \
	"$("$SMOLVM" snapshot ls "$NAME" --json | pyjson '[(s["name"], s["parent"], s["current"]) for s in d]')" \
	"[('m1', '', False), ('snap-1', 'm1', True)]"

# --- a damaged memory file: refused, and the sandbox runs on as it was -----------
VM=$SMOLVM_HOME/vms/$ID/snapshots
"$SMOLVM" snapshot create "$NAME" --memory --name broken >/dev/null 2>&1
printf 'XXXXXXXXXXXXXXXX' | dd of="$VM/broken/memory.bin" bs=1 conv=notrunc 2>/dev/null
gx "$NAME" 'echo mark >/tmp/mark'
run "$SMOLVM" snapshot restore "$NAME" broken
check_match "a damaged memory file: the restore fails, saying why" "$RC $ERR" \
	"^1 .*QEMU refused the saved state.*runs on as it was"
check_eq "... the sandbox is running" "$(state "$NAME")" running
check_eq "... with its files as before" "$(gx "$NAME" 'cat /tmp/mark')" mark
check "... and its processes" sleeping "$NAME"
check "... still counting" counting "$NAME"
truncate -s 1M "$VM/broken/memory.bin"
run "$SMOLVM" snapshot restore "$NAME" broken
check_match "a truncated memory file is found before anything stops" "$RC $ERR" \
	"^1 .*the snapshot is damaged"
check "... the sandbox still runs" gx "$NAME" "test -e /tmp/mark"
run "$SMOLVM" snapshot rm "$NAME" broken
check_eq "snapshot rm" "$RC" 0
check_eq "... it is gone from ls" \
	"$("$SMOLVM" snapshot ls "$NAME" --json | pyjson '[s["name"] for s in d]')" "['m1', 'snap-1']"
check "... and from the disk" test ! -e "$VM/broken"
run "$SMOLVM" snapshot rm "$NAME" broken
check_match "rm of a removed snapshot" "$RC $ERR" "^1 .*has no snapshot 'broken'"

# --- stop/start, restore of a stopped sandbox, a lost namespace ---------------------
run "$SMOLVM" stop "$NAME"
check_eq "stop" "$RC" 0
run "$SMOLVM" snapshot create "$NAME" --memory
check_match "a memory snapshot of a stopped sandbox is refused" "$RC $ERR" \
	"^1 .*needs a running sandbox"
run "$SMOLVM" start "$NAME"
check_eq "start (a cold boot)" "$RC" 0
check_eq "snapshots survive stop and start" \
	"$("$SMOLVM" snapshot ls "$NAME" --json | pyjson '[s["name"] for s in d]')" "['m1', 'snap-1']"
check_fails "the cold boot has no sleep" sleeping "$NAME"
"$SMOLVM" stop "$NAME" >/dev/null 2>&1
# A host restart takes the namespaces (they live in /run); the tap comes back
# with a new MAC address, which the guest's cache must not trip over.
ip netns delete "smolvm-$ID"
T0=$(date +%s%N)
run "$SMOLVM" snapshot restore "$NAME" m1
check_eq "restore m1 of a stopped sandbox whose namespace is gone" "$RC $ERR" "0 "
echo "# memory restore (stopped): $(ms "$T0") ms"
check_eq "... it runs" "$(state "$NAME")" running
check "... with the sleep from before the snapshot" sleeping "$NAME"
check "... and the counter" counting "$NAME"

# --- a clone of the running state -------------------------------------------------
GIP=$(jfield "$(cat "$SMOLVM_HOME/vms/$ID/record.json")" guest_ip)
run "$SMOLVM" create --from "$NAME:m1" --name "$CLONE" --json
check_eq "create --from a memory snapshot" "$RC" 0
CID=$(jfield "$OUT" id)
check_eq "... the clone is a new sandbox" "$(jfield "$OUT" name) $( [ "$CID" != "$ID" ] && echo new)" \
	"$CLONE new"
check_eq "... with the original's guest address" "$(jfield "$OUT" guest_ip)" "$GIP"
check "... in a namespace of its own" test -e "/run/netns/smolvm-$CID"
check "... its copy of the sleep runs" sleeping "$CLONE"
check "... and its copy of the counter" counting "$CLONE"
check_eq "... with the original's files" "$(gx "$CLONE" 'cat /tmp/before')" before
gx "$CLONE" 'echo clone-only >/tmp/clone-only'
check_eq "the clone's files are its own" "$(gx "$NAME" 'ls /tmp/clone-only 2>/dev/null')" ""
check "the original runs on beside it" counting "$NAME"
run "$SMOLVM" snapshot create "$CLONE" --memory --name c1
check_eq "the clone's first snapshot has the origin as parent" \
	"$("$SMOLVM" snapshot ls "$CLONE" --json | pyjson '[s["parent"] for s in d]')" "['$ID:m1']"
run "$SMOLVM" create --from "$NAME:nope"
check_match "create --from an unknown snapshot" "$RC $ERR" "^1 .*has no snapshot 'nope'"
run "$SMOLVM" rm --force "$CLONE"
check "rm of the clone leaves nothing" gone "$CID"

# --- disk snapshots --------------------------------------------------------------------
if [ -e "$SMOLVM_HOME/vms/$ID/disk.img" ]; then
	gx "$NAME" 'echo keep >/root/keep'
	run "$SMOLVM" snapshot create "$NAME" --name d1
	check_eq "disk snapshot d1 of the running sandbox" "$RC $OUT" "0 d1"
	check "... it runs on" gx "$NAME" true
	check_eq "... ls: kind disk" \
		"$("$SMOLVM" snapshot ls "$NAME" --json | pyjson '[s["kind"] for s in d if s["name"] == "d1"]')" \
		"['disk']"
	gx "$NAME" 'echo later >/root/later; rm /root/keep'
	run "$SMOLVM" snapshot restore "$NAME" d1
	check_eq "restore d1 (running: stop, disk, boot)" "$RC $ERR" "0 "
	check_eq "... it runs" "$(state "$NAME")" running
	check_eq "... the file from before the snapshot is back" "$(gx "$NAME" 'cat /root/keep')" keep
	check_eq "... the file written after it is gone" "$(gx "$NAME" 'ls /root/later 2>/dev/null')" ""

	"$SMOLVM" stop "$NAME" >/dev/null 2>&1
	run "$SMOLVM" snapshot create "$NAME" --name d-stopped
	check_eq "disk snapshot of a stopped sandbox" "$RC $OUT" "0 d-stopped"
	run "$SMOLVM" snapshot restore "$NAME" d1
	check_eq "restore of a disk snapshot while stopped" "$RC $(state "$NAME")" "0 stopped"
	"$SMOLVM" start "$NAME" >/dev/null 2>&1
	check_eq "... it boots with the restored disk" "$(gx "$NAME" 'cat /root/keep')" keep

	run "$SMOLVM" create --from "$NAME:d1" --name "$CLONE" --json
	check_eq "create --from a disk snapshot" "$RC" 0
	check_eq "... the clone has the snapshot's files" "$(gx "$CLONE" 'cat /root/keep')" keep
	[ "$(jfield "$OUT" guest_ip)" != "$GIP" ] && ok "... and an address of its own" ||
		fail "... and an address of its own"
	"$SMOLVM" rm --force "$CLONE" >/dev/null 2>&1
else
	run "$SMOLVM" snapshot create "$NAME"
	check_match "a disk snapshot of a sandbox without a disk says why not" "$RC $ERR" \
		"^1 .*has no writable disk to snapshot.*--memory"
	ok "disk snapshots # SKIP the sandbox has no disk.img"
fi

# --- a full host disk during a restore: nothing changes ------------------------------
FULL=$WORK/full
mkdir -p "$FULL"
if mount -t tmpfs -o size=200m smolvm-test "$FULL"; then
	mkdir "$FULL/home"
	ln -s "$(readlink -f "$SMOLVM_HOME/images")" "$FULL/home/images"
	ln -s "$(readlink -f "$SMOLVM_HOME/keys")" "$FULL/home/keys"
	F() { SMOLVM_HOME=$FULL/home "$SMOLVM" "$@"; }
	if F create --name full >/dev/null 2>"$WORK/full.err"; then
		F exec full -- sh -c 'echo kept >/root/kept' &&
			F snapshot create full --memory --name m >/dev/null 2>&1
		# What is left: room for the disk's copy, not for saving the running state.
		avail=$(df --output=avail -k "$FULL" | tail -1)
		fallocate -l $(( (avail - 16384) * 1024 )) "$FULL/filler"
		F exec full -- sh -c 'echo later >/root/later'
		run F snapshot restore full m
		check_match "a restore with the host's disk full fails, changing nothing" "$RC $ERR" \
			"^1 .*cannot save the running state before the restore, so nothing was changed"
		check_eq "... the sandbox runs on with its files" \
			"$(F exec full -- cat /root/kept /root/later | tr '\n' ' ')" "kept later "
		check_eq "... and no copy is left behind" \
			"$(ls "$FULL/home/vms/"*/ | grep -c '\.new\|\.old')" 0
		rm -f "$FULL/filler"
		F rm --force full >/dev/null 2>&1
	else
		fail "create a sandbox on a small disk"
		sed 's/^/#   /' "$WORK/full.err" | tail -10
	fi
	umount "$FULL"
else
	ok "a restore with the host's disk full # SKIP cannot mount a tmpfs"
fi

# --- rm of the sandbox takes its snapshots -------------------------------------------
run "$SMOLVM" rm --force "$NAME"
check "rm of the sandbox removes its snapshots" gone "$ID"
exit 0
