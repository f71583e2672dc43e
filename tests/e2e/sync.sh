#!/usr/bin/env bash
# e2e: `smolvm sync` with a real guest: the first pass (what differs is
# copied, links and FIFOs left out, guest-only files kept, or removed with
# --delete), then events: create, modify (a burst of writes copied once),
# delete, rename, a new folder tree, folders moved in and out; a clean end
# on SIGTERM with a summary, JSON lines, and a clear end when the sandbox
# stops.
source "$(dirname "$0")/../lib.sh"
t_setup_home

NAME=sync-e2e
WORK=$(mktemp -d "${TMPDIR:-/tmp}/smolvm-sync.XXXXXX")
SRC=$WORK/src
SYNC_PID=
stop_sync() {
	[ -n "$SYNC_PID" ] || return 0
	kill -TERM "$SYNC_PID" 2>/dev/null
	wait "$SYNC_PID"
	SYNC_RC=$?
	SYNC_PID=
}
trap 'stop_sync; "$SMOLVM" rm --force "$NAME" >/dev/null 2>&1; rm -rf "$WORK"; t_cleanup_home' EXIT

gx() { "$SMOLVM" exec "$NAME" -- "$@"; }
gsum() { gx sha256sum "$1" 2>/dev/null | grep -o '^[0-9a-f]\{64\}'; }
lsum() { sha256sum <"$1" | cut -d' ' -f1; }
# same REL: the guest's copy of REL has the host's contents.
same() { [ "$(gsum "/root/dst/$1")" = "$(lsum "$SRC/$1")" ]; }
gmissing() { ! gx test -e "/root/dst/$1"; }
# start_sync ARGS...: sync in the background until it says it is watching.
start_sync() {
	: >"$WORK/out"
	: >"$WORK/err"
	"$SMOLVM" sync "$@" >"$WORK/out" 2>"$WORK/err" &
	SYNC_PID=$!
	wait_until 60 grep -q -e 'watching' "$WORK/err" "$WORK/out"
}
lines() { grep -c -- "$1" "$WORK/out"; }

# --- without a guest ----------------------------------------------------
run "$SMOLVM" sync --help
check_match "sync --help" "$RC $OUT" "^0 usage: smolvm sync HOSTDIR ID:GUESTDIR"
check_match "sync --help states the rules" "$OUT" "host wins"
run "$SMOLVM" sync "$WORK"
check_match "sync without ID:GUESTDIR is a usage error" "$RC $OUT" "^2 .*HOSTDIR ID:GUESTDIR"
run "$SMOLVM" sync "$WORK" no-such-sandbox:/root/x
check_match "sync to an unknown sandbox" "$RC $OUT" "^1 .*no sandbox .*no-such-sandbox"

# --- a guest --------------------------------------------------------------
if ! REC=$("$SMOLVM" create --name "$NAME" 2>&1); then
	fail "create a sandbox"
	printf '%s\n' "$REC" | sed 's/^/#   /' | tail -20
	exit 1
fi
ok "create a sandbox"

run "$SMOLVM" sync "$WORK/no-such-dir" "$NAME:/root/x"
check_match "sync of a missing host folder" "$RC $OUT" "^1 .*no-such-dir"
check_fails "a failed sync makes no guest folder" gx test -e /root/x

# Never the login key, never the whole guest.
mkdir -p "$WORK/empty"
run "$SMOLVM" sync "$WORK/empty" "$NAME:/"
check_match "sync onto the whole guest is refused" "$RC $OUT" "^1 .*name a folder below /"
start_sync "$WORK/empty" "$NAME:/root" --delete
stop_sync
check_match "--delete into /root keeps the login key, saying why" "$(cat "$WORK/err")" \
	'\.ssh.*kept: smolvm logs in to the sandbox with the key in /root/\.ssh'
check "... and smolvm still gets in" gx test -s /root/.ssh/authorized_keys

mkdir -p "$SRC/sub/deeper"
echo alpha >"$SRC/a.txt"
printf 'script\n' >"$SRC/run.sh"
chmod 750 "$SRC/run.sh"
head -c 300000 /dev/urandom >"$SRC/sub/deeper/blob"
touch -d '2020-01-02 03:04:05' "$SRC/sub/deeper/blob"
ln -s a.txt "$SRC/link"
mkfifo "$SRC/fifo"
# The guest already has a folder with one file the host has (the same) and
# one it does not.
gx mkdir -p /root/dst/sub
gx sh -c 'echo old >/root/dst/old.txt'
# A folder in the guest where the host has a file: a conflict.
echo file >"$SRC/clash"
gx mkdir -p /root/dst/clash/inner

start_sync "$SRC" "$NAME:dst"
check "sync starts and reports that it watches" test -n "$SYNC_PID"
check "first pass: files copied" same a.txt
check "first pass: files in folders copied" same sub/deeper/blob
check_eq "first pass: modes kept" "$(gx stat -c %a /root/dst/run.sh)" "750"
check_eq "first pass: mtimes kept" "$(gx stat -c %Y /root/dst/sub/deeper/blob)" \
	"$(stat -c %Y "$SRC/sub/deeper/blob")"
check "first pass: links are left out" gmissing link
check "first pass: FIFOs are left out" gmissing fifo
check_eq "first pass without --delete keeps guest-only files" "$(gx cat /root/dst/old.txt)" "old"
check_match "first pass lists what it added" "$(cat "$WORK/out")" "^\+ sub/deeper/blob$"
check_match "a new folder is shown with a slash" "$(cat "$WORK/out")" "^\+ sub/deeper/$"
check_eq "an existing guest folder is not added again" "$(lines '^+ sub/$')" 0
check_match "without --delete a folder in the way is reported" "$(cat "$WORK/err")" \
	"^! clash: clash is a folder in the sandbox and a file on the host; left as it is"
check "and left" gx test -d /root/dst/clash/inner

# create
echo created >"$SRC/new.txt"
check "a new file is copied" wait_until 20 same new.txt
check_match "and shown as added" "$(cat "$WORK/out")" "^\+ new\.txt$"
# modify
echo changed >"$SRC/a.txt"
check "a changed file is copied" wait_until 20 same a.txt
check_match "and shown as changed" "$(cat "$WORK/out")" "^~ a\.txt$"
# a burst of writes (each one opens and closes the file)
for i in $(seq 1 200); do echo "line $i" >>"$SRC/burst.txt"; done
check "a burst of writes arrives whole" wait_until 20 same burst.txt
sleep 1
check_eq "a burst of writes is copied once" "$(lines 'burst\.txt')" 1
# delete
rm "$SRC/new.txt"
check "a deleted file is removed from the guest" wait_until 20 gmissing new.txt
check_match "and shown as removed" "$(cat "$WORK/out")" "^- new\.txt$"
# rename
mv "$SRC/run.sh" "$SRC/renamed.sh"
check "a renamed file appears under its new name" wait_until 20 same renamed.sh
check "and is gone under the old one" wait_until 20 gmissing run.sh
check_eq "a renamed file keeps its mode" "$(gx stat -c %a /root/dst/renamed.sh)" "750"
# a new folder tree, made at once
mkdir -p "$SRC/fresh/one/two"
echo deep >"$SRC/fresh/one/two/f.txt"
check "a new folder tree is copied" wait_until 20 same fresh/one/two/f.txt
# and a file added later to the new folder (it is watched)
sleep 0.5
echo later >"$SRC/fresh/one/later.txt"
check "a file in a new folder is copied" wait_until 20 same fresh/one/later.txt
# a folder moved in from outside, and one moved out
mkdir -p "$WORK/outside/inner"
echo moved >"$WORK/outside/inner/m.txt"
mv "$WORK/outside" "$SRC/movedin"
check "a folder moved in is copied" wait_until 20 same movedin/inner/m.txt
echo again >"$SRC/movedin/inner/m2.txt"
check "a folder moved in is watched" wait_until 20 same movedin/inner/m2.txt
mv "$SRC/sub" "$WORK/away"
check "a folder moved out is removed" wait_until 20 gmissing sub
echo not-synced >"$WORK/away/after.txt"
sleep 1
check "a folder moved out is no longer watched" gmissing sub/after.txt
# a folder renamed inside the tree keeps being watched under its new name
mv "$SRC/fresh" "$SRC/fresh2"
check "a folder renamed inside is copied under its new name" wait_until 20 \
	same fresh2/one/two/f.txt
check "and removed under its old one" wait_until 20 gmissing fresh
echo post >"$SRC/fresh2/one/post.txt"
check "a folder renamed inside is still watched" wait_until 20 same fresh2/one/post.txt
check_eq "no temporary files are left in the guest" \
	"$(gx find /root/dst -name '*.smolvm-*' | wc -l)" 0

stop_sync
check_eq "SIGTERM ends sync cleanly" "$SYNC_RC" 0
check_match "with a summary" "$(cat "$WORK/err")" "added, [0-9]+ changed, [0-9]+ removed .* left out"
check_eq "nothing else failed" "$(grep -c '^!' "$WORK/err")" 1
check_match "the summary counts the failure" "$(cat "$WORK/err")" "1 failed"

# --- again, with --delete and --json --------------------------------------
gx sh -c 'mkdir -p /root/dst/guest-only-dir && echo x >/root/dst/guest-only-dir/f'
start_sync "$SRC" "$NAME:/root/dst" --delete --json
check "--delete removes guest-only files" gmissing old.txt
check "--delete removes guest-only folders" gmissing guest-only-dir
check "--delete replaces a guest folder by the host's file" same clash
check_eq "a second first pass copies nothing unchanged" \
	"$(grep -v '"path":"clash"' "$WORK/out" | grep -c '"event":"added"\|"event":"changed"')" 0
check_match "--json lines" "$(cat "$WORK/out")" '^\{"event":"removed","path":"old.txt","type":"file"\}$'
echo json >"$SRC/j.txt"
check "--json: a new file is copied" wait_until 20 same j.txt
check_match "--json: an added line with its size" "$(cat "$WORK/out")" \
	'^\{"event":"added","path":"j.txt","type":"file","bytes":5\}$'
# a file replaced by a folder of the same name
rm "$SRC/j.txt"
mkdir "$SRC/j.txt"
echo inside >"$SRC/j.txt/in"
check "a file replaced by a folder on the host" wait_until 20 same j.txt/in

stop_sync
# --quiet: no line per file, the summary still
echo quiet >"$SRC/q.txt"
start_sync "$SRC" "$NAME:/root/dst" --quiet
check "--quiet still copies" same q.txt
check_eq "--quiet prints no line per file" "$(cat "$WORK/out")" ""
# The guest's SFTP server dies: sync connects again and catches up.
gx sh -c 'kill $(pidof sftp-server)'
echo after >"$SRC/after-reconnect.txt"
check "a lost SFTP server is reconnected to" wait_until 30 grep -q reconnected "$WORK/err"
check "and what changed meanwhile is copied" wait_until 20 same after-reconnect.txt

# --- the sandbox stops while sync runs -----------------------------------
"$SMOLVM" stop "$NAME" >/dev/null 2>&1
check "sync ends soon after the sandbox stops (not after an idle timeout)" \
	wait_until 20 sh -c "! kill -0 $SYNC_PID 2>/dev/null"
wait "$SYNC_PID"
SYNC_RC=$?
SYNC_PID=
check_eq "sync ends when the sandbox stops" "$SYNC_RC" 1
check_match "and says why" "$(cat "$WORK/err")" "sandbox $NAME is stop(ped|ping)"
check_match "with a summary" "$(cat "$WORK/err")" "added, [0-9]+ changed"

exit $((T_FAILED > 0))
