#!/usr/bin/env bash
# e2e: `smolvm s3 mount|umount|ls` against a real S3-compatible server on
# loopback (s3rver from npm, started here with a fresh data folder): an
# object put through the S3 API shows in the guest, a read-only mount
# refuses writes even after a remount in the guest, an --rw mount's writes
# reach the bucket, the credentials are nowhere in the guest, umount, stop
# and rm leave no FUSE mount (and rm never deletes objects), and the errors:
# missing secret, secret not meant for the endpoint, wrong key, dead
# endpoint, missing bucket, bad names.
source "$(dirname "$0")/../lib.sh"
t_setup_home

NAME=s3-e2e
WORK=$(mktemp -d "${TMPDIR:-/tmp}/smolvm-s3.XXXXXX")
S3_PID=
trap '"$SMOLVM" rm --force "$NAME" >/dev/null 2>&1; [ -z "$S3_PID" ] || kill "$S3_PID";
	rm -rf "$WORK"; t_cleanup_home' EXIT

# The vault's key file must be this home's own, not the shared image keys'.
if [ -L "$SMOLVM_HOME/keys" ]; then
	shared=$(readlink "$SMOLVM_HOME/keys")
	rm "$SMOLVM_HOME/keys"
	mkdir "$SMOLVM_HOME/keys"
	for f in "$shared"/*; do
		[ "${f##*/}" = vault.key ] || ln -s "$f" "$SMOLVM_HOME/keys/"
	done
fi

# --- s3rver on a free loopback port -----------------------------------------
# .ci/run installs it into build/s3rver; elsewhere it is installed there now.
S3RVER=$SRC_DIR/build/s3rver/node_modules/.bin/s3rver
if [ ! -x "$S3RVER" ] && command -v npm >/dev/null; then
	npm install --prefix "$SRC_DIR/build/s3rver" --no-audit --no-fund s3rver >/dev/null 2>&1
fi
if [ ! -x "$S3RVER" ] || ! command -v s3fs >/dev/null; then
	fail "s3rver (npm) and s3fs are installed"
	exit 1
fi
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
EP=http://127.0.0.1:$PORT
mkdir "$WORK/data"
"$S3RVER" -d "$WORK/data" -a 127.0.0.1 -p "$PORT" -s --configure-bucket bkt \
	--configure-bucket other >"$WORK/s3rver.log" 2>&1 &
S3_PID=$!
# s3rver checks that the access key id exists (S3RVER is its only account)
# but does not verify version 4 signatures, so the secret key can be a
# marker to look for: it must never show up in the guest.
MARKER=not-for-the-guest-$RANDOM$RANDOM
s3() { curl -s --aws-sigv4 "aws:amz:us-east-1:s3" --user "S3RVER:$MARKER" \
	-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
check "s3rver answers on $EP" wait_until 30 s3 -f "$EP/bkt"
check "an object is put through the S3 API" s3 -f -X PUT --data-binary 'hello from s3' "$EP/bkt/hello.txt"
check "and another, in a folder" s3 -f -X PUT --data-binary 'deep' "$EP/bkt/dir/deep.txt"

printf 'S3RVER:%s' "$MARKER" | "$SMOLVM" vault add S3_TEST --hosts 127.0.0.1 >/dev/null
printf 'NOBODY:secret' | "$SMOLVM" vault add S3_WRONG --hosts 127.0.0.1 >/dev/null
printf 'S3RVER:%s' "$MARKER" | "$SMOLVM" vault add S3_ELSEWHERE --hosts s3.example.com >/dev/null
printf 'no-colon' | "$SMOLVM" vault add S3_BAD --hosts 127.0.0.1 >/dev/null

# --- without a guest -------------------------------------------------------
run "$SMOLVM" s3 --help
check_match "s3 --help" "$RC $OUT" "^0 usage: smolvm s3 mount ID BUCKET GUESTDIR"
run "$SMOLVM" s3 mount onlyone
check_match "s3 mount with too few arguments is a usage error" "$RC $OUT" "^2 "
run "$SMOLVM" s3 frob
check_match "an unknown s3 command is a usage error" "$RC $OUT" "^2 .*no command frob"

# --- a guest -----------------------------------------------------------------
t_create "create a sandbox" --name "$NAME"
SHARE=$VM_DIR/share
gx() { "$SMOLVM" exec "$NAME" -- "$@"; }
fuse_mounts() { grep -c " fuse.s3fs " /proc/self/mountinfo; }
no_fuse_under_share() { ! grep -q " $SHARE" /proc/self/mountinfo; }
no_passwd_files() { [ -z "$(find "$VM_DIR" -name '*.passwd')" ]; }
s3fs_count() { pgrep -c -f "^s3fs .*$SHARE" || true; }
check_eq "the sandbox boots with its share folder, empty" "$(ls -A "$SHARE")" ""
check_match "and a virtio-9p device for it" "$(tr '\0' ' ' </proc/"$(jfield "$(cat "$VM_DIR/record.json")" pid)"/cmdline)" \
	"virtio-9p-device,fsdev=share,mount_tag=smolvm"
check_eq "9p is not mounted in the guest at boot" "$(gx sh -c 'grep -c " 9p " /proc/mounts')" 0
check_eq "nor are its modules loaded" "$(gx sh -c 'grep -c "^9p" /proc/modules')" 0

mount_fails() { # CHECK REGEX ARGS...
	local name=$1 re=$2; shift 2
	run "$SMOLVM" s3 mount "$NAME" "$@"
	check_match "$name" "$RC $OUT" "^1 .*$re"
}
mount_fails "a missing secret is named" "no secret NOPE in the vault" bkt /mnt/x --endpoint "$EP" --secret NOPE
mount_fails "a secret not meant for the endpoint is refused" "S3_ELSEWHERE may not be sent to 127.0.0.1" \
	bkt /mnt/x --endpoint "$EP" --secret S3_ELSEWHERE
mount_fails "a secret not of the form ACCESS:SECRET" "not of the form ACCESS_KEY:SECRET_KEY" \
	bkt /mnt/x --endpoint "$EP" --secret S3_BAD
mount_fails "a wrong access key is s3fs's error" "invalid credentials" \
	bkt /mnt/x --endpoint "$EP" --secret S3_WRONG
DEAD=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mount_fails "a dead endpoint is reported" "cannot mount bucket bkt from http://127.0.0.1:$DEAD: unable to connect" \
	bkt /mnt/x --endpoint "http://127.0.0.1:$DEAD" --secret S3_TEST
mount_fails "a missing bucket is reported" "bucket or key not found" nosuchbucket /mnt/x --endpoint "$EP" --secret S3_TEST
mount_fails "a bad bucket name" "not a bucket name" 'Bad_Bucket' /mnt/x --endpoint "$EP" --secret S3_TEST
mount_fails "a relative guest folder" "absolute path" bkt mnt/x --endpoint "$EP" --secret S3_TEST
mount_fails "a guest folder with .." "has a \. or \.\." bkt /mnt/../etc --endpoint "$EP" --secret S3_TEST
mount_fails "an endpoint that is no URL" "not an http:// or https:// URL" bkt /mnt/x --endpoint "ftp://x" --secret S3_TEST
check "failed mounts leave no FUSE mount" no_fuse_under_share
check "failed mounts leave no credentials file" no_passwd_files
check_eq "failed mounts leave no s3fs running" "$(s3fs_count)" 0
check_eq "failed mounts leave nothing in the share" "$(ls -A "$SHARE")" ""
check_eq "failed mounts leave nothing in the guest" "$(gx sh -c 'grep -c " 9p " /proc/mounts')" 0

# --- read-only ---------------------------------------------------------------
run "$SMOLVM" s3 mount "$NAME" bkt /mnt/ro --endpoint "$EP" --secret S3_TEST
check_eq "s3 mount (read-only)" "$RC $OUT" "0 "
check_eq "an object put through the API is in the guest" "$(gx cat /mnt/ro/hello.txt)" "hello from s3"
check_match "the first mount loaded the 9p modules" "$(gx cat /proc/modules)" "^9pnet_virtio "
check_eq "folders of the bucket are folders in the guest" "$(gx cat /mnt/ro/dir/deep.txt)" "deep"
s3 -f -X PUT --data-binary 'late' "$EP/bkt/late.txt"
check "an object put after the mount shows too" wait_until 20 gx test -f /mnt/ro/late.txt
check_fails "a write to a read-only mount fails" gx sh -c 'echo x >/mnt/ro/new.txt'
run gx sh -c 'mount -o remount,bind,rw /mnt/ro && echo y >/mnt/ro/new.txt'
check_match "and still fails after a remount in the guest (s3fs is read-only on the host)" \
	"$RC $OUT" "Read-only file system"
check_eq "the bucket has no new.txt" "$(s3 -o /dev/null -w '%{http_code}' "$EP/bkt/new.txt")" 404
run "$SMOLVM" s3 mount "$NAME" other /mnt/ro --endpoint "$EP" --secret S3_TEST
check_match "s3 mount of a taken folder" "$RC $OUT" "^1 .*has bucket bkt mounted already"

# --- read-write ---------------------------------------------------------------
run "$SMOLVM" s3 mount "$NAME" other /mnt/rw --endpoint "$EP" --secret S3_TEST --rw
check_eq "s3 mount --rw" "$RC $OUT" "0 "
check "a file written in the guest" gx sh -c 'echo "from the guest" >/mnt/rw/out.txt && sync'
check_eq "is an object in the bucket" "$(s3 "$EP/other/out.txt")" "from the guest"
check "a folder made in the guest" gx sh -c 'mkdir -p /mnt/rw/sub && echo n >/mnt/rw/sub/n.txt'
check_eq "holds objects in the bucket" "$(s3 "$EP/other/sub/n.txt")" "n"
check "a file removed in the guest" gx rm /mnt/rw/out.txt
check_eq "is gone from the bucket" "$(s3 -o /dev/null -w '%{http_code}' "$EP/other/out.txt")" 404

run "$SMOLVM" s3 ls "$NAME"
check_match "s3 ls lists both mounts" "$OUT" "/mnt/ro +bkt +ro +S3_TEST"
check_match "s3 ls shows --rw" "$OUT" "/mnt/rw +other +rw +S3_TEST"
run "$SMOLVM" s3 ls "$NAME" --json
check_match "s3 ls --json" "$OUT" '"guest_dir":[[:space:]]*"/mnt/rw"'

# --- credentials ----------------------------------------------------------
# In processes the marker is looked for in two halves, so that no command
# line of the search itself holds it whole.
HALF1=${MARKER:0:12} HALF2=${MARKER:12}
find_files="find / \( -path /proc -o -path /sys -o -path /dev -o -path /mnt -o -path /run/smolvm-share \) -prune -o -type f -print0 | xargs -0 grep -lF '$MARKER' 2>/dev/null | wc -l"
find_marker="awk -v a=$HALF1 -v b=$HALF2 'index(\$0, a b) { n++ } END { print n + 0 }'"
check_eq "the credentials are in no file of the guest" \
	"$(gx sh -c "$find_files")" 0
check_eq "nor in any process's environment or command line in the guest" \
	"$(gx sh -c "cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' | $find_marker")" 0
printf '%s' "$MARKER" | gx sh -c 'cat >/root/planted'
check_match "the file search finds the marker where it is" "$(gx sh -c "$find_files")" "^[1-9]"
gx rm /root/planted
check_eq "the process search finds the marker where it is" \
	"$(printf 'x %s y\n' "$MARKER" | gx sh -c "$find_marker")" 1
check_eq "the guest's view of the share holds only the mounts" "$(gx ls -A /run/smolvm-share | tr '\n' ' ')" "s3-1 s3-2 "
check_eq "so does the share on the host" "$(ls -A "$SHARE" | tr '\n' ' ')" "s3-1 s3-2 "
check "no credentials file is left on the host" no_passwd_files
check_eq "s3fs's command line has no credentials" "$(pgrep -a s3fs | grep -c "$MARKER")" 0

# --- umount, stop, rm -------------------------------------------------------
run "$SMOLVM" s3 umount "$NAME" /mnt/ro
check_eq "s3 umount" "$RC $OUT" "0 "
check "umount leaves no FUSE mount of it" sh -c "! grep -q ' $SHARE/s3-1 ' /proc/self/mountinfo"
check_eq "and its s3fs has ended" "$(s3fs_count)" 1
check_eq "the guest folder is no mount any more" "$(gx sh -c 'grep -c " /mnt/ro " /proc/mounts')" 0
run "$SMOLVM" s3 umount "$NAME" /mnt/ro
check_match "s3 umount of what is not mounted" "$RC $OUT" "^1 .*no bucket is mounted at /mnt/ro"
check "s3 ls no longer lists it" sh -c "! '$SMOLVM' s3 ls '$NAME' | grep -q /mnt/ro"

"$SMOLVM" stop "$NAME" >/dev/null 2>&1
check "stop unmounts every bucket on the host" no_fuse_under_share
check_eq "and ends every s3fs" "$(s3fs_count)" 0
check_eq "and forgets the mounts" "$("$SMOLVM" s3 ls "$NAME" 2>&1)" "no buckets mounted in sandbox $NAME"
check "start" "$SMOLVM" start "$NAME"
check_eq "a sandbox starts without mounts" "$(gx sh -c 'grep -c " 9p " /proc/mounts')" 0
run "$SMOLVM" s3 mount "$NAME" other /mnt/rw --endpoint "$EP" --secret S3_TEST --rw
check_eq "a bucket mounts again after a restart" "$RC $OUT" "0 "
check_eq "with what the bucket has" "$(gx cat /mnt/rw/sub/n.txt)" "n"
"$SMOLVM" rm --force "$NAME" >/dev/null 2>&1
check "rm leaves no FUSE mount" sh -c "! grep -q ' $SHARE' /proc/self/mountinfo"
check_eq "rm ends every s3fs" "$(s3fs_count)" 0
check_eq "rm deletes no object of a mounted bucket" "$(s3 "$EP/other/sub/n.txt")" "n"
check "rm removes the sandbox" test ! -e "$VM_DIR"

exit $((T_FAILED > 0))
