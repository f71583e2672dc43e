#!/usr/bin/env bash
# e2e: the overlay layout with real guests. A sandbox's root is overlayfs
# over the image's read-only root.img with its changes on its own sparse
# disk.img: what the guest writes survives stop/start; `smolvm diff` lists
# additions, changes and deletions (a deleted directory, a file in a new
# directory, a directory replaced as a whole) the same way running, stopped
# and after a crash, as text and as JSON; the base is never written (its
# checksum, and QEMU holds it read-only); ten sandboxes add only their small
# writable layers to the disk.
source "$(dirname "$0")/../lib.sh"
t_setup_home

IMG=$SMOLVM_HOME/images/tiny
BASE=$IMG/root.img
# Run alone (not from tests/run), the script builds the image it tests.
[ -e "$BASE" ] || "$SMOLVM" image build >/dev/null 2>&1

# alloc_k PATH...: allocated KiB (what the files cost on the host's disk).
alloc_k() { du -sk "$@" | awk '{ s += $1 } END { print s + 0 }'; }
gexec() { "$SMOLVM" exec "$ID" -- sh -c "$1"; }

# --- usage and errors that need no guest ---------------------------------
run "$SMOLVM" diff --help
check_match "diff --help" "$RC $OUT" "^0 usage: smolvm diff ID \[--json\]"
run "$SMOLVM" diff
check_match "diff without an id is a usage error" "$RC $OUT" "^2 .*which sandbox"
run "$SMOLVM" diff a b
check_match "diff of two ids is a usage error" "$RC $OUT" "^2 .*one sandbox at a time"
run "$SMOLVM" diff nosuchbox
check_match "diff of an unknown id says so" "$RC $OUT" \
	"^1 smolvm diff: no sandbox with id or name 'nosuchbox'"
run "$SMOLVM" diff --bogus x
check_match "diff --bogus is a usage error" "$RC $OUT" "^2 .*unknown option '--bogus'"
run "$SMOLVM" create --disk lots
check_match "create --disk lots is refused before anything is made" "$RC $OUT" \
	"^1 smolvm create: disk size 'lots' is not a size"
run "$SMOLVM" create --disk 1M
check_match "create --disk 1M is too small" "$RC $OUT" "^1 smolvm create: disk size 1M is out of range"
check "nothing was made for the refused creates" test -z "$(ls -A "$SMOLVM_HOME/vms" 2>/dev/null | grep -v '^\.lock$')"

base_sum=$(sha256sum "$BASE" | cut -d' ' -f1)
base_mtime=$(stat -c %Y "$BASE")

# --- one sandbox: the layers ---------------------------------------------
t_create "create --disk 1G" --name ovl-$$ --disk 1G
DISK=$VM_DIR/disk.img
check_eq "disk.img is as big as --disk asked" "$(stat -c %s "$DISK")" 1073741824
check "disk.img is sparse: under 8 MiB allocated after the first boot ($(alloc_k "$DISK") KiB)" \
	test "$(alloc_k "$DISK")" -lt 8192
run "$SMOLVM" diff "$ID"
check_eq "a new sandbox has no changes" "$RC:$OUT" "0:"
run "$SMOLVM" diff "$ID" --json
check_eq "and its diff --json is an empty list" "$RC:$(tr -d ' \n\t' <<<"$OUT")" "0:[]"

mounts=$(gexec 'cat /proc/mounts')
check_match "the guest's / is the overlay of lower and upper" "$mounts" \
	"^overlay / overlay .*lowerdir=/run/smolvm/lower,upperdir=/run/smolvm/upper/root,workdir=/run/smolvm/upper/work"
check_match "the base is mounted read-only" "$mounts" "^/dev/vd[a-z] /run/smolvm/lower ext4 ro[ ,]"
check_match "the writable layer is mounted read-write" "$mounts" "^/dev/vd[a-z] /run/smolvm/upper ext4 rw[ ,]"
run gexec 'echo x >/run/smolvm/lower/x'
check_match "the guest cannot write to the base" "$RC $OUT" "Read-only file system"

# QEMU's own view: the base drive is read-only and so is its open file.
pid=$(jfield "$(cat "$VM_DIR/record.json")" pid)
check_match "QEMU is given the base with readonly=on" "$(tr '\0' ' ' </proc/"$pid"/cmdline)" \
	"file=$BASE,format=raw,readonly=on"
base_fd_flags() {
	local fd
	for fd in /proc/"$pid"/fd/*; do
		[ "$(readlink "$fd")" = "$(readlink -f "$BASE")" ] || continue
		awk '/^flags:/ { print $2 }' /proc/"$pid"/fdinfo/"${fd##*/}"
	done
}
flags=$(base_fd_flags)
check "QEMU has root.img open" test -n "$flags"
bad=0
for f in $flags; do [ $((8#$f & 3)) = 0 ] || bad=1; done
check_eq "QEMU has root.img open read-only only (flags $(echo $flags))" "$bad" 0

# --- changes of every kind --------------------------------------------------
gexec 'echo new >/root/added.txt &&
	mkdir -p /newdir/sub && echo file >/newdir/sub/file &&
	echo changed >>/etc/profile &&
	rm /etc/shells &&
	rmdir /mnt &&
	rm -rf /etc/ssl/certs && mkdir /etc/ssl/certs && echo mine >/etc/ssl/certs/own.pem &&
	ln -s /root/added.txt "/root/a link with spaces"'
check_eq "the changes were made" "$?" 0
want="M /etc/profile
D /etc/shells
M /etc/ssl/certs
D /etc/ssl/certs/ca-certificates.crt
A /etc/ssl/certs/own.pem
D /mnt
A /newdir
A /newdir/sub
A /newdir/sub/file
A /root/a link with spaces
A /root/added.txt"
run "$SMOLVM" diff "$ID"
check_eq "diff of the running sandbox: A, M and D for each change" "$RC
$OUT" "0
$want"
check_eq "the guest is not left frozen: it can write again" \
	"$(gexec 'echo again >/root/again && cat /root/again')" again
gexec 'rm /root/again'
# Names are the guest's: control characters reach the terminal escaped.
gexec 'echo z >"$(printf "/root/esc\033[31mred\tnl\nx")"'
run "$SMOLVM" diff "$ID"
check_match "a name with control characters is escaped in diff's text" "$OUT" \
	'^A /root/esc\\033\[31mred\\011nl\\012x$'
check "... and no raw escape byte reaches the terminal" \
	eval '! printf %s "$OUT" | grep -q "$(printf "\033")"'
gexec 'rm "$(printf "/root/esc\033[31mred\tnl\nx")"'

run "$SMOLVM" diff "$ID" --json
json=$OUT
check "diff --json is a list of {change, path, type, size}" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert isinstance(d, list) and len(d) == 11, d
for e in d:
	assert set(e) == {"change", "path", "type", "size"}, e
	assert e["change"] in ("A", "M", "D") and e["path"].startswith("/"), e
by = {e["path"]: e for e in d}
assert by["/root/added.txt"] == {"change": "A", "path": "/root/added.txt", "type": "file", "size": 4}
assert by["/newdir"]["type"] == "dir" and by["/newdir"]["size"] == 0
assert by["/mnt"] == {"change": "D", "path": "/mnt", "type": "dir", "size": 0}
assert by["/etc/shells"]["type"] == "file" and by["/etc/shells"]["change"] == "D"
assert by["/root/a link with spaces"]["type"] == "symlink"
assert [e["path"] for e in d] == sorted(e["path"] for e in d)
' "$json"

# --- stopped, then started again -------------------------------------------
"$SMOLVM" stop "$ID" >/dev/null
run "$SMOLVM" diff "$ID"
check_eq "diff of the stopped sandbox is the same, read from disk.img" "$RC
$OUT" "0
$want"
check "a stopped sandbox's diff boots nothing" test -z "$(pgrep -f "qemu-system.*smolvm-$ID")"
"$SMOLVM" start "$ID" >/dev/null
check_eq "a file written in the guest survives stop and start" \
	"$(gexec 'cat /root/added.txt /newdir/sub/file')" "new
file"
check_eq "so do the changed and the deleted ones" \
	"$(gexec 'tail -1 /etc/profile; [ -e /etc/shells ] || echo gone; [ -d /mnt ] || echo gone')" \
	"changed
gone
gone"
check_eq "and the directory replaced as a whole" "$(gexec 'ls /etc/ssl/certs')" own.pem
check_eq "a boot adds no changes of its own" "$("$SMOLVM" diff "$ID")" "$want"

# --- a crash: QEMU killed, the journal not yet written back --------------------
gexec 'echo late >/root/late.txt && sync'
kill -9 "$(jfield "$(cat "$VM_DIR/record.json")" pid)"
wait_until 10 sh -c "! pgrep -f 'qemu-system.*smolvm-$ID' >/dev/null"
run "$SMOLVM" diff "$ID"
check_match "diff after a crash has what the guest had synced" "$RC $OUT" "A /root/late.txt"
"$SMOLVM" start "$ID" >/dev/null
check_eq "and the sandbox boots on it" "$(gexec 'cat /root/late.txt')" late
"$SMOLVM" rm --force "$ID" >/dev/null

check_eq "the base is never written (checksum)" "$(sha256sum "$BASE" | cut -d' ' -f1)" "$base_sum"
check_eq "the base is never written (mtime)" "$(stat -c %Y "$BASE")" "$base_mtime"

# --- ten sandboxes cost ten small writable layers ---------------------------------
vms_before=$(alloc_k "$SMOLVM_HOME/vms")
images_before=$(alloc_k "$IMG/")
base_k=$(alloc_k "$BASE")
ids=()
for i in $(seq 1 10); do
	id=$("$SMOLVM" create --name ten-$i-$$ 2>&1) || { fail "create sandbox $i of 10"; echo "# $id"; break; }
	ids+=("$id")
	"$SMOLVM" exec "$id" -- sh -c "echo $i >/root/mine" >/dev/null
	# They need not all run at once to count their disks.
	"$SMOLVM" stop "$id" >/dev/null
done
check_eq "ten sandboxes were created" "${#ids[@]}" 10
vms_after=$(alloc_k "$SMOLVM_HOME/vms")
images_after=$(alloc_k "$IMG/")
layers=0 biggest=0
for id in "${ids[@]}"; do
	k=$(alloc_k "$SMOLVM_HOME/vms/$id/disk.img")
	layers=$((layers + k))
	[ "$k" -gt "$biggest" ] && biggest=$k
done
echo "# root.img ${base_k} KiB; vms/ grew $((vms_after - vms_before)) KiB for 10 sandboxes" \
	"(disk.img total $layers KiB, biggest $biggest KiB); images/ grew $((images_after - images_before)) KiB"
check_eq "the image directory did not grow" "$images_after" "$images_before"
check "each writable layer is small (biggest $biggest KiB, under 8 MiB)" test "$biggest" -lt 8192
check "ten sandboxes cost less than one copy of the base ($((vms_after - vms_before)) KiB < $base_k KiB)" \
	test $((vms_after - vms_before)) -lt "$base_k"
check "what vms/ grew by is their layers and small files" \
	test $((vms_after - vms_before - layers)) -lt 1024
for id in "${ids[@]}"; do
	check_eq "sandbox $id kept its own change" "$("$SMOLVM" diff "$id")" "A /root/mine"
done
for id in "${ids[@]}"; do "$SMOLVM" rm --force "$id" >/dev/null; done
check_eq "the base is still unwritten after ten sandboxes" \
	"$(sha256sum "$BASE" | cut -d' ' -f1)" "$base_sum"

exit 0
