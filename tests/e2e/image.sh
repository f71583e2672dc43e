#!/usr/bin/env bash
# e2e: the guest image. The shared image is current (a second build is a
# no-op) and listed; it holds what the guest contract promises (a small
# initrd that mounts the root, and root.img, a read-only ext4 with the
# rest, every file root's); it boots under plain QEMU from the base disk
# alone, in a namespace of our own, to SMOLVM_READY, takes the
# pinned host key and the user key, and `poweroff -f` ends QEMU. In a
# private home: the guest host key is made once per install, --force
# rebuilds offline from the cached kernel package with a sandbox running and
# keeps that key (so `smolvm exec` on the sandbox still passes the pin), a
# changed guest init (either one) triggers a rebuild, a killed build leaves the old image
# working, and a missing host tool is named with its package.
source "$(dirname "$0")/../lib.sh"
t_setup_home

NS=t-img-$$
QPID=
SB=img-e2e-$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/smolvm-image.XXXXXX")
cleanup() {
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null
	[ -d "$WORK/home" ] && SMOLVM_HOME=$WORK/home "$SMOLVM" rm --force "$SB" >/dev/null 2>&1
	ip netns delete "$NS" 2>/dev/null
	rm -rf "$WORK"
	t_cleanup_home
}
trap cleanup EXIT

# expect NAME STATUS REGEX: the last run exited with STATUS and a line of its
# output matches REGEX (grep -E).
expect() {
	if [ "$RC" = "$2" ] && printf '%s\n' "$OUT" | grep -Eq -- "$3"; then
		ok "$1"
	else
		fail "$1"
		echo "#   exit status $RC (want $2); no line matches /$3/ in:"
		printf '%s\n' "$OUT" | sed 's/^/#   /' | tail -20
	fi
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

IMG=$SMOLVM_HOME/images/tiny

# --- the CLI ---------------------------------------------------------------
run "$SMOLVM" image --help
expect "image --help" 0 "^usage: smolvm image build"
run "$SMOLVM" image frobnicate
expect "image with an unknown subcommand is a usage error" 2 "unknown subcommand 'frobnicate'"
run "$SMOLVM" image build --kind nosuch
expect "image build --kind nosuch names the known kinds" 1 "unknown image kind 'nosuch'.*tiny"
run "$SMOLVM" image build extra
expect "image build takes no arguments" 2 "unexpected argument"

# Run alone (not from tests/run), the script builds the image it tests.
if [ ! -e "$IMG/manifest.json" ]; then
	run "$SMOLVM" image build
	expect "image build in a fresh home" 0 "^built image tiny"
fi

# --- a second build is a no-op ----------------------------------------------
before=$(stat -c %Y.%i "$IMG/initrd.img")
t0=$(now_ms)
run "$SMOLVM" image build
t1=$(now_ms)
expect "second image build is a no-op" 0 \
	"^image tiny is up to date \(built [0-9-]+ [0-9:]+\); use --force to rebuild$"
check "the no-op build took under 2 s ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 2000
check_eq "the no-op build left the image alone" "$(stat -c %Y.%i "$IMG/initrd.img")" "$before"

# --- image ls ---------------------------------------------------------------
release=$(grep -o '"release":[[:space:]]*"[^"]*"' "$IMG/manifest.json" | grep -o '[0-9][^"]*')
run "$SMOLVM" image ls --json
expect "image ls --json lists tiny" 0 '"kind":[[:space:]]*"tiny"'
check_match "image ls --json has the kernel release" "$OUT" "\"kernel\":[[:space:]]*\"$release\""
check_match "image ls --json has a size" "$OUT" '"size":[[:space:]]*[1-9][0-9]{6,}'
check "image ls --json is valid JSON" python3 -c 'import json,sys; json.loads(sys.argv[1])' "$OUT"
run "$SMOLVM" image ls
expect "image ls shows a table row for tiny" 0 "^tiny +[0-9-]+ [0-9:]+ +$release +[0-9.]+ MiB$"
run env SMOLVM_HOME="$WORK/empty" "$SMOLVM" image ls --json
expect "image ls --json with no images is an empty list" 0 '^\[\]$'
check "image ls --json does not create a home" test ! -e "$WORK/empty"

# --- what is in the image -----------------------------------------------------
check_match "host_ed25519.pub is one OpenSSH line" "$(cat "$IMG/host_ed25519.pub")" \
	'^ssh-ed25519 AAAA[A-Za-z0-9+/=]+$'
check_eq "host_ed25519.pub has exactly one line" "$(wc -l <"$IMG/host_ed25519.pub")" 1
check_eq "initrd.img is an uncompressed newc cpio" "$(head -c 6 "$IMG/initrd.img")" 070701
check "initrd.img is small: only what mounts the root (under 8 MiB)" \
	test "$(stat -c %s "$IMG/initrd.img")" -lt $((8 << 20))
list=$(cpio -it --quiet <"$IMG/initrd.img" 2>&1)
for f in init bin/busybox bin/sh bin/mount bin/modprobe bin/switch_root dev/console \
	etc/smolvm/modules "lib/modules/$release/modules.dep"; do
	check "the initrd has /$f" grep -qxF "$f" <<<"$list"
done
for m in virtio_mmio virtio_blk crc32c_generic ext4 jbd2 overlay; do
	check "the initrd has the $m module" grep -q "/$m\.ko$" <<<"$list"
done
for f in usr/sbin/dropbear etc/dropbear/dropbear_ed25519_host_key root/.ssh/authorized_keys; do
	check "the initrd has no /$f (it is in root.img)" test -z "$(grep -xF "$f" <<<"$list")"
done
(cd "$WORK" && cpio -i --quiet --to-stdout init <"$IMG/initrd.img") >"$WORK/boot"
check "the initrd's /init is fs/guest/boot" cmp -s "$WORK/boot" "$SRC_DIR/fs/guest/boot"

sb=$(dumpe2fs -h "$IMG/root.img" 2>/dev/null)
check_match "root.img is an ext4 file system labelled smolvm-base" "$sb" \
	"^Filesystem volume name: +smolvm-base$"
check "root.img has no journal (it is never written)" test -z "$(grep -E '^Filesystem features:.*has_journal' <<<"$sb")"
# path_in_root PATH: is PATH (a file, link or directory) in root.img?
path_in_root() { debugfs -R "stat \"$1\"" "$IMG/root.img" 2>&1 | grep -q '^Inode: '; }
for f in init bin/busybox bin/sh sbin/modprobe usr/sbin/dropbear usr/lib/sftp-server usr/bin/curl \
	etc/ssl/certs/ca-certificates.crt etc/dropbear/dropbear_ed25519_host_key \
	root/.ssh/authorized_keys etc/passwd etc/profile lib64/ld-linux-x86-64.so.2 \
	etc/smolvm/hosts "lib/modules/$release/modules.dep"; do
	check "root.img has /$f" path_in_root "/$f"
done
mods=$(debugfs -R "rdump /lib/modules $WORK" "$IMG/root.img" >/dev/null 2>&1; find "$WORK/modules" -name '*.ko')
for m in virtio_net virtio_blk ext4 jbd2 9pnet_virtio 9p overlay vmw_vsock_virtio_transport; do
	check "root.img has the $m module" grep -q "/$m\.ko$" <<<"$mods"
done
for f in hostname hosts resolv.conf; do
	check_match "/etc/$f in root.img is a link into /run (made at boot)" \
		"$(debugfs -R "stat /etc/$f" "$IMG/root.img" 2>/dev/null)" \
		'Fast link dest: "\.\./run/smolvm/etc/'"$f"'"'
done
owners=$(debugfs -R "ls -p /usr/sbin" "$IMG/root.img" 2>/dev/null; debugfs -R "ls -p /root/.ssh" "$IMG/root.img" 2>/dev/null)
check "root.img's files belong to root" test -z "$(awk -F/ 'NF > 5 && ($4 != 0 || $5 != 0)' <<<"$owners")"
mkdir -p "$WORK/root/.ssh" "$WORK/etc"
debugfs -R "dump /root/.ssh/authorized_keys $WORK/root/.ssh/authorized_keys" "$IMG/root.img" 2>/dev/null
debugfs -R "dump /etc/passwd $WORK/etc/passwd" "$IMG/root.img" 2>/dev/null
check_eq "the user key is authorised for root" "$(cat "$WORK/root/.ssh/authorized_keys")" \
	"$(cat "$SMOLVM_HOME/keys/id_ed25519.pub")"
check_eq "the user key is private" "$(stat -L -c %a "$SMOLVM_HOME/keys/id_ed25519")" 600
check_match "root logs in to /bin/sh" "$(cat "$WORK/etc/passwd")" '^root:x:0:0:[^:]*:/root:/bin/sh$'

# --- boot it by hand --------------------------------------------------------------
khz=$(awk '/cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add tap0 mode tap
ip -n "$NS" addr add 10.77.0.1/30 dev tap0
ip -n "$NS" link set tap0 up
echo "10.77.0.2 $(cat "$IMG/host_ed25519.pub")" >"$WORK/known_hosts"
t0=$(now_ms)
ip netns exec "$NS" qemu-system-x86_64 -M microvm -accel tcg -cpu max -m 256 -smp 1 \
	-nodefaults -no-user-config -display none -no-reboot \
	-kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" \
	-drive if=none,id=base,file="$IMG/root.img",format=raw,readonly=on \
	-device virtio-blk-device,drive=base,serial=smolvm-base \
	-append "console=ttyS0 quiet panic=-1 tsc_early_khz=$khz smolvm.ip=10.77.0.2/30 smolvm.gw=10.77.0.1 smolvm.name=imgtest" \
	-serial "file:$WORK/console.log" \
	-netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-device,netdev=n0 &
QPID=$!
if wait_until 60 grep -q '^SMOLVM_READY' "$WORK/console.log"; then
	ok "the guest prints SMOLVM_READY"
	echo "# QEMU start to SMOLVM_READY: $(( $(now_ms) - t0 )) ms"
else
	fail "the guest prints SMOLVM_READY"
	sed 's/^/#   /' "$WORK/console.log" | tail -20
fi
gssh() {
	ip netns exec "$NS" ssh -i "$SMOLVM_HOME/keys/id_ed25519" -o BatchMode=yes \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$WORK/known_hosts" \
		-o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 root@10.77.0.2 "$@"
}
run gssh 'curl --version; ls -l /usr/lib/sftp-server; hostname'
expect "ssh with the pinned host key runs curl" 0 "^curl [0-9]"
check_match "the guest has /usr/lib/sftp-server" "$OUT" "x .* /usr/lib/sftp-server"
check_match "the hostname comes from smolvm.name" "$OUT" "^imgtest$"
run gssh 'ip -4 addr show eth0; ip route; echo $PATH; echo $HOME; id -u'
check_match "eth0 has smolvm.ip" "$OUT" "inet 10.77.0.2/30"
check_match "the default route is via smolvm.gw" "$OUT" "default via 10.77.0.1"
check_match "PATH includes the sbin directories" "$OUT" "(^|:)/sbin(:|$)"
run gssh 'cat /proc/1/comm; mount'
expect "PID 1 is busybox init once booted" 0 "^init$"
expect "the root is the overlay over the base disk" 0 "^overlay on / type overlay .*lowerdir=/run/smolvm/lower"
expect "without a writable disk the changes go to RAM" 0 "^tmpfs on /run/smolvm/upper type tmpfs"
check_match "and the console says so" "$(cat "$WORK/console.log")" "changes are kept in RAM only"
expect "/dev/pts is mounted with ptmxmode=666" 0 "^devpts on /dev/pts .*ptmxmode=666"
expect "/tmp is a tmpfs" 0 "^tmpfs on /tmp type tmpfs"
# The last modules load once SSH is up.
modules_loaded() {
	local m out
	out=$(gssh lsmod) || return 1
	for m in virtio_net virtio_blk ext4 overlay vmw_vsock_virtio_transport; do
		grep -q "^$m " <<<"$out" || return 1
	done
}
wait_until 30 modules_loaded
run gssh 'lsmod'
for m in virtio_net virtio_blk ext4 overlay vmw_vsock_virtio_transport; do
	check_match "module $m is loaded" "$OUT" "^$m "
done
ssh-keygen -q -t ed25519 -N '' -f "$WORK/other_key"
echo "10.77.0.2 $(cut -d' ' -f1,2 "$WORK/other_key.pub")" >"$WORK/wrong_hosts"
run ip netns exec "$NS" ssh -i "$SMOLVM_HOME/keys/id_ed25519" -o BatchMode=yes \
	-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$WORK/wrong_hosts" \
	-o GlobalKnownHostsFile=/dev/null root@10.77.0.2 true
expect "a different pinned host key is refused" 255 "HOST IDENTIFICATION HAS CHANGED"
run ip netns exec "$NS" ssh -o BatchMode=yes -o PubkeyAuthentication=no \
	-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$WORK/known_hosts" \
	-o GlobalKnownHostsFile=/dev/null root@10.77.0.2 true
expect "password logins are off" 255 "Permission denied \(publickey\)"
gssh 'poweroff -f' >/dev/null 2>&1 </dev/null &
spid=$!
if wait_until 20 eval '! kill -0 $QPID'; then
	ok "poweroff -f in the guest ends QEMU"
	wait "$QPID"
	check_eq "QEMU exits with status 0 after poweroff" "$?" 0
	QPID=
else
	fail "poweroff -f in the guest ends QEMU"
fi
kill "$spid" 2>/dev/null
ip netns delete "$NS"

# --- a private home: --force, offline, changed init, a killed build --------------
H=$WORK/home
mkdir -p "$H"
# Reuse the kernel package the shared image was built from.
shared_cache=$(dirname "$(readlink -f "$SMOLVM_HOME/images")")/cache
[ -d "$shared_cache" ] && cp -r "$shared_cache" "$H/cache"
priv() { SMOLVM_HOME=$H "$SMOLVM" "$@"; }

run priv image build
expect "a build in a private home succeeds" 0 "^built image tiny"
expect "the build numbers its steps" 0 "^\[1/9\] checking the host's tools$"
expect "a step packs the initrd" 0 "^\[8/9\] packing the initrd$"
expect "the last step makes root.img" 0 "^\[9/9\] making root.img$"
expect "the build says where the image went and its size" 0 \
	"^built image tiny in [0-9.]+s: $H/images/tiny \(vmlinuz [0-9.]+ MiB, initrd.img [0-9.]+ MiB, root.img [0-9.]+ MiB\)$"
check "the private home got its own user key" test -s "$H/keys/id_ed25519"
expect "the first build makes the guest host key" 0 "^ +made the guest SSH host key $H/keys/guest_host_ed25519$"
check_eq "the guest host key is private" "$(stat -c %a "$H/keys/guest_host_ed25519")" 600
check_eq "the image pins the install's guest host key" \
	"$(cat "$H/images/tiny/host_ed25519.pub")" "$(cat "$H/keys/guest_host_ed25519.pub")"
key1=$(cat "$H/images/tiny/host_ed25519.pub")
user1=$(cat "$H/keys/id_ed25519.pub")

# A sandbox booted from the image keeps its base open across a rebuild.
run priv create --name "$SB"
expect "create a sandbox in the private home" 0 "^[0-9a-f]{8}$"
run unshare -n env SMOLVM_HOME="$H" "$SMOLVM" image build --force
expect "--force rebuilds offline with a sandbox running" 0 "^built image tiny"
expect "--force offline uses the cached kernel package" 0 "^ +linux-image-.* \(cached\)$"
check_eq "the rebuild kept the guest host key" "$(cat "$H/images/tiny/host_ed25519.pub")" "$key1"
check_eq "the rebuild kept the user key" "$(cat "$H/keys/id_ed25519.pub")" "$user1"
debugfs -R "dump /etc/dropbear/dropbear_ed25519_host_key $WORK/host_key" "$H/images/tiny/root.img" 2>/dev/null
check "the rebuilt root.img holds the install's guest host key" \
	cmp -s "$WORK/host_key" "$H/keys/guest_host_ed25519"
run priv exec "$SB" -- uname -s
expect "exec on the sandbox still passes the host key pin after the rebuild" 0 "^Linux$"
run priv rm --force "$SB"
check_eq "remove the sandbox" "$RC" 0
run priv image build
expect "after --force the image is up to date" 0 "^image tiny is up to date"
rm "$H/keys/guest_host_ed25519.pub"
run priv image build
expect "a missing guest host key .pub triggers a rebuild" 0 \
	"^building image tiny \(the guest SSH host key changed\)$"
check_eq "and the rebuild kept the guest host key" "$(cat "$H/keys/guest_host_ed25519.pub")" "$key1"

data=$WORK/data
mkdir -p "$data/fs/guest"
ln -s "$SRC_DIR/themes" "$data/themes"
{ cat "$SRC_DIR/fs/guest/init"; echo "# changed"; } >"$data/fs/guest/init"
cp "$SRC_DIR/fs/guest/boot" "$data/fs/guest/boot"
run env SMOLVM_DATADIR="$data" SMOLVM_HOME="$H" "$SMOLVM" image build
expect "a changed guest init triggers a rebuild" 0 "^building image tiny \(the guest init changed\)$"
expect "and the rebuild succeeds" 0 "^built image tiny"
echo "# changed" >>"$data/fs/guest/boot"
run env SMOLVM_DATADIR="$data" SMOLVM_HOME="$H" "$SMOLVM" image build
expect "a changed initrd init triggers a rebuild" 0 "^building image tiny \(the guest init changed\)$"

# Kill a build half way: the old image must stay whole, and the next build
# must clear what the killed one left.
manifest=$(cat "$H/images/tiny/manifest.json")
SMOLVM_HOME=$H "$SMOLVM" image build --force 2>"$WORK/killed.log" &
bpid=$!
wait_until 60 grep -q '^\[4/9\]' "$WORK/killed.log"
kill -KILL "$bpid"
wait "$bpid" 2>/dev/null
check_eq "a killed build leaves the old image in place" \
	"$(cat "$H/images/tiny/manifest.json")" "$manifest"
check "a killed build leaves a complete image" \
	test -s "$H/images/tiny/vmlinuz" -a -s "$H/images/tiny/initrd.img" -a -s "$H/images/tiny/root.img" \
	-a -s "$H/images/tiny/manifest.json"
run priv image build --force
expect "the next build succeeds" 0 "^built image tiny"
check_eq "and leaves no work directories behind" \
	"$(find "$H/images" -mindepth 1 -maxdepth 1 -name '.tiny.build-*' | wc -l)" 0

# --- a missing host tool ---------------------------------------------------------
# A PATH with every host program except dropbearkey.
bin=$WORK/bin
mkdir -p "$bin"
for d in /usr/local/bin /usr/bin /bin; do
	for p in "$d"/*; do
		n=$(basename "$p")
		[ "$n" = dropbearkey ] || [ -e "$bin/$n" ] || ln -s "$p" "$bin/$n"
	done
done
run env PATH="$bin" SMOLVM_HOME="$WORK/nokey" "$SMOLVM" image build
expect "a missing dropbearkey is named with its package" 1 \
	"missing dropbearkey \(from dropbear-bin\); install with \`apt-get install dropbear-bin\`$"
check "the failed build left no image" test ! -e "$WORK/nokey/images/tiny"
check_eq "the failed build left no work directories" \
	"$(find "$WORK/nokey/images" -mindepth 1 -maxdepth 1 -name '.tiny.build-*' | wc -l)" 0

# --- image_require, as `smolvm create` sees it -------------------------------------
run env SMOLVM_HOME="$WORK/noimage" "$SMOLVM" create --name x
check_match "create without an image says to build one" "$OUT" \
	"no image 'tiny' yet: run \`smolvm image build\` first"

exit 0
