#!/usr/bin/env bash
# e2e: `smolvm upload` and `smolvm download` with a real guest: round trips
# checked by sha256 (empty, 100 MB, odd names, a folder tree with modes and
# a link), replacing, temporary names never left behind (full disk, Ctrl-C),
# the errors (missing file, bad destination, unknown sandbox, no such file in
# the sandbox, missing or read-only local folder), and a progress bar only on
# a terminal.
source "$(dirname "$0")/../lib.sh"
t_setup_home

NAME=files-e2e
WORK=$(mktemp -d "${TMPDIR:-/tmp}/smolvm-files.XXXXXX")
trap '"$SMOLVM" rm --force "$NAME" >/dev/null 2>&1; rm -rf "$WORK"; t_cleanup_home' EXIT

# run CMD...: sets OUT (stdout), ERR (stderr) and RC.
run() {
	OUT=$("$@" 2>"$WORK/stderr")
	RC=$?
	ERR=$(cat "$WORK/stderr")
}
# gx CMD...: run CMD in the guest, its stdout.
gx() { "$SMOLVM" exec "$NAME" -- "$@"; }
gsum() { gx sha256sum "$1" | grep -o '^[0-9a-f]\{64\}'; }
lsum() { sha256sum <"$1" | cut -d' ' -f1; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# A size in MB/s from bytes and milliseconds.
rate() { awk -v b="$1" -v ms="$2" 'BEGIN { printf "%.1f", ms ? b / 1e6 / (ms / 1000) : 0 }'; }

# --- without a guest ----------------------------------------------------
run "$SMOLVM" upload --help
check_match "upload --help" "$RC $OUT" "^0 usage: smolvm upload FILE\.\.\. --vm-id ID"
run "$SMOLVM" download --help
check_match "download --help" "$RC $OUT" "^0 usage: smolvm download ID:PATH"
echo x >"$WORK/x"
run "$SMOLVM" upload "$WORK/x"
check_match "upload without --vm-id is a usage error" "$RC $ERR" "^2 .*--vm-id ID"
run "$SMOLVM" upload --vm-id foo
check_match "upload without a file is a usage error" "$RC $ERR" "^2 .*no file given"
run "$SMOLVM" download foo
check_match "download without ID:PATH is a usage error" "$RC $ERR" "^2 .*ID:PATH"
run "$SMOLVM" upload "$WORK/x" --vm-id no-such-sandbox
check_match "upload to an unknown sandbox" "$RC $ERR" "^1 .*no sandbox .*no-such-sandbox"
run "$SMOLVM" download no-such-sandbox:/etc/hostname "$WORK"
check_match "download from an unknown sandbox" "$RC $ERR" "^1 .*no sandbox .*no-such-sandbox"

# --- a guest, with room for 100 MB in its RAM-backed root ---------------
T0=$(date +%s%N)
if ! REC=$("$SMOLVM" create --name "$NAME" --mem 640 2>&1); then
	fail "create a sandbox"
	printf '%s\n' "$REC" | sed 's/^/#   /' | tail -20
	exit 1
fi
ok "create a sandbox"
echo "# boot: $(ms "$T0") ms"

# A missing file is found before anything is sent: the other one does not arrive.
echo present >"$WORK/present"
run "$SMOLVM" upload "$WORK/present" "$WORK/no-such-file" --vm-id "$NAME"
check_match "upload of a missing file fails" "$RC $ERR" "^1 .*no such file.*no-such-file"
check_eq "nothing is sent when a file is missing" "$(gx ls -A /root)" ".ssh"

# Empty file, to the default destination (the home folder).
: >"$WORK/empty"
run "$SMOLVM" upload "$WORK/empty" --vm-id "$NAME"
check_eq "upload an empty file" "$RC/$(gx stat -c %s /root/empty)" "0/0"
run "$SMOLVM" download "$NAME:/root/empty" "$WORK/empty.back"
check_eq "download an empty file" "$RC/$(stat -c %s "$WORK/empty.back")" "0/0"

# 100 MB both ways, timed.
head -c 100000000 /dev/urandom >"$WORK/big"
WANT=$(lsum "$WORK/big")
T0=$(date +%s%N)
run "$SMOLVM" upload "$WORK/big" --vm-id "$NAME" --dest /root
UP_MS=$(ms "$T0")
check_eq "upload 100 MB" "$RC/$(gsum /root/big)" "0/$WANT"
check_eq "piped upload prints nothing" "$OUT$ERR" ""
echo "# 100 MB upload: $UP_MS ms, $(rate 100000000 "$UP_MS") MB/s"
mkdir "$WORK/down"
T0=$(date +%s%N)
run "$SMOLVM" download "$NAME:big" "$WORK/down"
DOWN_MS=$(ms "$T0")
check_eq "download 100 MB (relative path, into a folder)" "$RC/$(lsum "$WORK/down/big")" \
	"0/$WANT"
check_eq "piped download prints nothing" "$OUT$ERR" ""
echo "# 100 MB download: $DOWN_MS ms, $(rate 100000000 "$DOWN_MS") MB/s"
rm -f "$WORK/down/big"
gx rm -f /root/big

# Odd names: spaces, UTF-8, a newline, a leading dash.
mkdir "$WORK/odd"
ODD=("with space" "h€llo-ünïcødé" $'new\nline' "-dash" "'quote\"")
for n in "${ODD[@]}"; do printf '%s' "content of $n" >"$WORK/odd/$n"; done
run "$SMOLVM" upload --vm-id "$NAME" --dest /tmp -- "${ODD[@]/#/$WORK/odd/}"
check_eq "upload files with odd names" "$RC" 0
for n in "${ODD[@]}"; do
	check_eq "odd name arrives: $(printf %q "$n")" "$(gsum "/tmp/$n")" "$(lsum "$WORK/odd/$n")"
done
mkdir "$WORK/oddback"
for n in "${ODD[@]}"; do
	run "$SMOLVM" download "$NAME:/tmp/$n" "$WORK/oddback"
	check_eq "odd name comes back: $(printf %q "$n")" "$RC/$(lsum "$WORK/oddback/$n")" \
		"0/$(lsum "$WORK/odd/$n")"
done

# A folder tree: modes, times and a link kept, a FIFO left out.
T=$WORK/tree
mkdir -p "$T/sub/deep" "$T/empty-dir"
printf '#!/bin/sh\necho ran\n' >"$T/run.sh"
chmod 0755 "$T/run.sh"
echo secret >"$T/sub/key"
chmod 0600 "$T/sub/key"
chmod 0700 "$T/sub/deep"
head -c 300000 /dev/urandom >"$T/sub/deep/blob"
touch -d '2020-01-02 03:04:05' "$T/sub/key"
ln -s ../run.sh "$T/sub/link"
mkfifo "$T/fifo"
run "$SMOLVM" upload "$T" --vm-id "$NAME"
check_eq "upload a folder" "$RC" 0
check_match "a FIFO is left out, and said so" "$ERR" "left out 1 special file"
check_eq "modes arrive" "$(gx stat -c '%a %n' /root/tree/run.sh /root/tree/sub/key \
	/root/tree/sub/deep)" $'755 /root/tree/run.sh\n600 /root/tree/sub/key\n700 /root/tree/sub/deep'
check_eq "the script runs in the guest" "$(gx /root/tree/run.sh)" "ran"
check_eq "the time arrives" "$(gx date -r /root/tree/sub/key +%Y-%m-%d)" "2020-01-02"
check_eq "the link arrives as a link" "$(gx readlink /root/tree/sub/link)" "../run.sh"
check_eq "the nested file arrives" "$(gsum /root/tree/sub/deep/blob)" "$(lsum "$T/sub/deep/blob")"
check_eq "no FIFO in the guest" "$(gx ls /root/tree)" $'empty-dir\nrun.sh\nsub'
run "$SMOLVM" download "$NAME:/root/tree" "$WORK/treeback"
check_eq "download a folder to a new name" "$RC" 0
rm "$T/fifo"
check "the folder comes back the same" diff -r "$T" "$WORK/treeback"
check_eq "modes come back" "$(cd "$WORK/treeback" && stat -c '%a %n' run.sh sub/key sub/deep)" \
	$'755 run.sh\n600 sub/key\n700 sub/deep'
check_eq "the time comes back" "$(date -r "$WORK/treeback/sub/key" +%Y-%m-%d)" "2020-01-02"
check_eq "the link comes back as a link" "$(readlink "$WORK/treeback/sub/link")" "../run.sh"

# An existing file is replaced, an existing folder merged into; no
# temporary names are left.
echo new >"$T/run.sh"
echo more >"$T/added"
run "$SMOLVM" upload "$T" --vm-id "$NAME"
check_eq "upload over an existing folder" "$RC/$(gx cat /root/tree/run.sh)/$(gx cat \
	/root/tree/added)" "0/new/more"
check_eq "no temporary names left in the guest" "$(gx find /root -name '*.smolvm-*')" ""
run "$SMOLVM" upload "$WORK/x" --vm-id "$NAME" --dest /root/tree/sub
check_eq "a file into a nested folder" "$RC/$(gx cat /root/tree/sub/x)" "0/x"
mkdir -p "$WORK/folder/x"
run "$SMOLVM" upload "$WORK/folder/x" --vm-id "$NAME" --dest /root/tree/sub
check_match "a folder never replaces a file" "$RC $ERR" "^1 .*is not a folder; not replacing it"
mkdir "$WORK/file"
echo not-a-folder >"$WORK/file/tree"
run "$SMOLVM" upload "$WORK/file/tree" --vm-id "$NAME"
check_match "a file never replaces a folder" "$RC $ERR" "^1 .*is a folder; not replacing it"

# Bad destinations.
run "$SMOLVM" upload "$WORK/x" --vm-id "$NAME" --dest /no/such/dir
check_match "upload to a missing folder" "$RC $ERR" "^1 .*no folder /no/such/dir in sandbox $NAME"
run "$SMOLVM" upload "$WORK/x" --vm-id "$NAME" --dest /root/tree/run.sh
check_match "upload to a file as the folder" "$RC $ERR" "^1 .*is not a folder"
run "$SMOLVM" download "$NAME:/no/such/file" "$WORK"
check_match "download of a missing file" "$RC $ERR" "^1 .*no such file .*in sandbox $NAME: /no/such/file"
run "$SMOLVM" download "$NAME:/root/tree/run.sh" "$WORK/no/such/dir/"
check_match "download into a missing local folder" "$RC $ERR" "^1 .*no folder $WORK/no/such on the host"

# A read-only local folder (root is not stopped by permissions, a
# read-only mount is).
RO=$WORK/ro
mkdir "$RO"
run unshare -m sh -c 'mount -t tmpfs -o ro tmpfs "$1" && exec "$2" download "$3" "$1"' sh \
	"$RO" "$SMOLVM" "$NAME:/root/tree/run.sh"
check_match "download into a read-only folder" "$RC $ERR" "^1 .*Read-only file system"

# A full file system in the guest: said so, and nothing partial left.
gx mkdir -p /mnt/small
gx mount -t tmpfs -o size=1m tmpfs /mnt/small
head -c 3000000 /dev/urandom >"$WORK/three-mb"
run "$SMOLVM" upload "$WORK/three-mb" --vm-id "$NAME" --dest /mnt/small
check_match "no space in the sandbox is named" "$RC $ERR" \
	"^1 .*no space left in the sandbox at /mnt/small"
check_eq "the partial file is removed" "$(gx ls -A /mnt/small)" ""
mkdir "$WORK/two"
head -c 700000 /dev/urandom >"$WORK/two/a"
head -c 700000 /dev/urandom >"$WORK/two/b"
run "$SMOLVM" upload "$WORK/two" --vm-id "$NAME" --dest /mnt/small
check_match "a folder that does not fit" "$RC $ERR" "^1 .*no space left in the sandbox at /mnt/small"
check_eq "the partial folder is removed" "$(gx ls -A /mnt/small)" ""
run "$SMOLVM" upload "$WORK/x" --vm-id "$NAME" --dest /mnt/small
check_eq "the session and the space are fine afterwards" "$RC/$(gx cat /mnt/small/x)" "0/x"
gx umount /mnt/small

# Interrupted: the temporary file goes too.
head -c 30000000 /dev/urandom >"$WORK/thirty"
"$SMOLVM" upload "$WORK/thirty" --vm-id "$NAME" --dest /tmp 2>"$WORK/int.err" &
PID=$!
wait_until 20 gx sh -c 'ls -A /tmp | grep -q smolvm-'
kill -INT "$PID"
wait "$PID"
check_eq "Ctrl-C stops an upload (130)" "$?" 130
check_match "and says so" "$(cat "$WORK/int.err")" "interrupted"
check_eq "no partial file after Ctrl-C" "$(gx ls -A /tmp | grep -c smolvm-)" 0

# On a terminal (of 120 columns): a bar redrawn in place, then a summary.
head -c 8000000 /dev/urandom >"$WORK/eight"
script -qec "stty cols 120; '$SMOLVM' upload '$WORK/eight' --vm-id $NAME" /dev/null \
	>"$WORK/tty.out" 2>&1
TTY=$(tr '\r' '\n' <"$WORK/tty.out")
check_match "a terminal gets a progress bar" "$TTY" "^eight +\[[#.]+\] +[0-9]+% .* MiB/s +ETA 0:"
check_match "redrawn in place" "$(grep -c $'\r' "$WORK/tty.out")" "^[1-9]"
check_match "and a summary" "$TTY" "uploaded 1 file \(7\.6 MiB\) to $NAME:/root in [0-9.]+ s"

check "rm --force removes the sandbox" "$SMOLVM" rm --force "$NAME"
exit 0
