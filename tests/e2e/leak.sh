#!/usr/bin/env bash
# e2e: a secret used by a real guest appears nowhere in the sandbox. The
# guest calls an API through the egress proxy with the placeholder, the API
# gets the real key and echoes it back (scrubbed on the way), and then the
# key, its base64 (at each of the three alignments) and its hex are looked
# for in: the guest's whole file system, every /proc/*/environ in the
# guest, a dump of guest memory taken through QMP, the serial log, the
# sandbox's directory (record, policy, secrets file, logs, disk) and every
# snapshot file. Each search must find zero hits, and must find the
# placeholder (or a marker) that was put where it looks, to show that it
# really reads that place.
source "$(dirname "$0")/../netlab.sh"

API=198.51.100.10
NAME=leak-e2e
netlab_start "$NAME"
WORK=$SMOLVM_HOME/search	# outside the sandbox's directory

mkdir -p "$WORK"
netlab_upstream_ca api api.test
netlab_up "$API"
netlab_listen "$SEEN" python3 "$TESTS_DIR/e2e/secrets_upstream.py" "$SEEN" \
	"$API:443:$PKI/api.pem:$PKI/api.key" || { fail "the upstream starts"; exit 1; }
ok "the upstream starts"

KEY=sk-leak-$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
check "vault add LEAK_KEY" eval 'printf %s "$KEY" | "$SMOLVM" vault add LEAK_KEY --hosts api.test \
	--header Authorization --format "Bearer %s" --body'
# The key and its encodings, one a line, for grep -F -f. Base64 is cut to the
# groups that hold only key bytes, for each alignment the key could have.
NEEDLES=$WORK/needles
python3 - "$KEY" >"$NEEDLES" <<'EOF'
import base64, sys
k = sys.argv[1].encode()
print(k.decode())
print(k.hex())
print(k.hex().upper())
for o in range(3):
    n = (len(k) - o) // 3 * 3
    print(base64.b64encode(k[o:o + n]).decode())
    print(base64.urlsafe_b64encode(k[o:o + n]).decode())
EOF
check "the needles: the key, hex both cases, base64 and base64url at three alignments" \
	test "$(wc -l <"$NEEDLES")" = 9

cat >"$SMOLVM_HOME/policy.json" <<EOF
{"mode": "allowlist", "rules": [
 {"id": "api", "scheme": "https", "host": "api.test", "methods": ["GET", "POST"], "resolve": ["$API"]}
]}
EOF
# A small disk: every byte of it (and of its snapshot copies) is read below.
t_create "create a sandbox with the secret" --name "$NAME" --policy "$SMOLVM_HOME/policy.json" \
	--secret LEAK_KEY --disk 256M
PH=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secrets"][0]["placeholder"])' \
	"$VM_DIR/secrets.json")
check_match "its placeholder" "$PH" '^smolvm-ph-[0-9a-f]{32}$'

# --- the key goes through the proxy both ways -------------------------------------------
g 'for p in echo/a json drip; do curl -sS -m 20 -H "Authorization: Bearer $LEAK_KEY" \
	-H "X-Copy: $LEAK_KEY" https://api.test/$p; done;
   curl -sS -m 20 --data-binary "key=$LEAK_KEY" https://api.test/echo/body'
check "the API received the key in every request" \
	test "$(grep -cF "Bearer $KEY" "$SEEN")" -ge 4
check "... and in the body" grep -qF "\"body\": \"key=$KEY\"" "$SEEN"
check_match "the guest got the echoes, scrubbed to the placeholder" "$OUT" "Bearer $PH"
check "... and kept them: written to a file in the guest" \
	"$SMOLVM" exec "$NAME" -- sh -c 'curl -sS -m 20 https://api.test/echo/file >/root/echoed &&
		curl -sS -m 20 https://api.test/drip >>/root/echoed && sync'
check "the guest kept a copy of its placeholder in a file, and on its console" \
	"$SMOLVM" exec "$NAME" -- sh -c 'echo "marker $LEAK_KEY" >/root/marker &&
		echo "console-marker $LEAK_KEY" >/dev/console && sync'

# hits FILE: how many lines of FILE hold a needle; proven: how many hold PH.
# NULs become line ends first, so that a disk image of zeros is not one
# line of gigabytes for grep to hold.
hits() { tr '\0' '\n' <"$1" | grep -caF -f "$NEEDLES"; }
proven() { tr '\0' '\n' <"$1" | grep -caF -- "$PH"; }
# search PLACE FILE: zero hits, and the placeholder found.
search() {
	local n p
	n=$(hits "$2")
	p=$(proven "$2")
	check_eq "$1: no key (nor its base64 or hex)" "$n" 0
	[ "$n" = 0 ] || tr '\0' '\n' <"$2" | grep -aoF -f "$NEEDLES" | sort | uniq -c | sed 's/^/#   /' | head -5
	check "$1: the search finds the placeholder there ($p)" test "$p" -gt 0
}

# The needles find the key where it is, and in each encoding at each alignment.
check "the search finds the key in the API's own log" test "$(hits "$SEEN")" -gt 0
for pre in "" x xy; do
	printf '%s%s' "$pre" "$KEY" | base64 -w0 >"$WORK/probe.b64"
	printf '%s%s' "$pre" "$KEY" | od -An -tx1 | tr -d ' \n' >"$WORK/probe.hex"
	printf '%s%s' "$pre" "$KEY" | basenc --base64url -w0 >"$WORK/probe.b64url"
	check "... and in its base64, base64url and hex after ${#pre} other bytes" \
		test "$(hits "$WORK/probe.b64")$(hits "$WORK/probe.hex")$(hits "$WORK/probe.b64url")" = 111
done

# --- the guest's file system, from inside ------------------------------------------------
"$SMOLVM" exec "$NAME" -- sh -c '{ find / \( -path /proc -o -path /sys -o -path /dev \) -prune \
	-o -type f -print; find /dev/shm -type f; } | while IFS= read -r f; do cat "$f"; done' \
	>"$WORK/fs" 2>"$WORK/fs.err"
check "the guest's file system was read whole (MiB: $(($(stat -c %s "$WORK/fs") >> 20)))" \
	test "$(stat -c %s "$WORK/fs")" -gt $((4 << 20))
search "the guest's file system" "$WORK/fs"

# --- every process's environment in the guest ----------------------------------------------
"$SMOLVM" exec "$NAME" -- sh -c 'for e in /proc/[0-9]*/environ; do cat "$e"; echo; done' \
	>"$WORK/environ" 2>/dev/null
check "the environments of the guest's processes were read ($(grep -ac . "$WORK/environ") lines)" \
	test "$(grep -ac . "$WORK/environ")" -gt 3
search "every /proc/*/environ" "$WORK/environ"

# --- guest memory, dumped through QMP ---------------------------------------------------------
qmp() {
	python3 - "$VM_DIR/qmp.sock" "$1" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(120)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
def cmd(c, args=None):
    f.write(json.dumps({"execute": c, **({"arguments": args} if args else {})}) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            return r
cmd("qmp_capabilities")
r = cmd("dump-guest-memory", {"paging": False, "protocol": "file:" + sys.argv[2]})
if "error" in r:
    sys.exit(r["error"]["desc"])
EOF
}
check "QMP dump-guest-memory" qmp "$WORK/memory.elf"
check "the dump holds the guest's RAM ($(($(stat -c %s "$WORK/memory.elf") >> 20)) MiB)" \
	test "$(stat -c %s "$WORK/memory.elf")" -gt $((200 << 20))
search "a dump of guest memory" "$WORK/memory.elf"
rm -f "$WORK/memory.elf"

# --- the serial log ------------------------------------------------------------------------------
search "the serial log" "$VM_DIR/console.log"

# --- snapshots, then the whole sandbox directory ---------------------------------------------------
check "a disk snapshot" "$SMOLVM" snapshot create "$NAME" --name disk1
check "a memory snapshot" "$SMOLVM" snapshot create "$NAME" --name mem1 --memory
SNAPS=$VM_DIR/snapshots
check "the snapshots have files ($(find "$SNAPS" -type f | wc -l))" \
	test "$(find "$SNAPS" -type f | wc -l)" -ge 2
N=0 P=0
while IFS= read -r -d '' f; do
	N=$((N + $(hits "$f")))
	P=$((P + $(proven "$f")))
done < <(find "$SNAPS" -type f -print0)
check_eq "every snapshot file: no key (nor its base64 or hex)" "$N" 0
check "every snapshot file: the search finds the placeholder there ($P)" test "$P" -gt 0
for f in record.json policy.json secrets.json policy.log proxy.log; do
	check "the sandbox's $f is there" test -s "$VM_DIR/$f"
done
# Every file of the sandbox's directory (the disk and snapshots too), one by one.
: >"$WORK/dir.hits"
: >"$WORK/dir.proven"
while IFS= read -r -d '' f; do
	[ "$(hits "$f")" = 0 ] || echo "$f" >>"$WORK/dir.hits"
	[ "$(proven "$f")" = 0 ] || echo "$f" >>"$WORK/dir.proven"
done < <(find "$VM_DIR" -type f -print0)
check_eq "the sandbox's directory, every file ($(find "$VM_DIR" -type f | wc -l)): no key" \
	"$(cat "$WORK/dir.hits")" ""
check "... the search finds the placeholder in its secrets file, disk and memory snapshot" \
	test "$(grep -c -e 'secrets.json$' -e 'disk' -e 'mem1' "$WORK/dir.proven")" -ge 3
check_match "the decision log names the secret" "$(cat "$VM_DIR/policy.log")" \
	'"secrets":\["LEAK_KEY"\]'
check "the policy file names it, the secrets file holds names and placeholders only" \
	python3 -c 'import json, sys
p = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
assert p["secrets"] == ["LEAK_KEY"], p
assert s == {"secrets": [{"name": "LEAK_KEY", "placeholder": sys.argv[3]}]}, s' \
	"$VM_DIR/policy.json" "$VM_DIR/secrets.json" "$PH"

check "rm --force removes the sandbox" "$SMOLVM" rm --force "$NAME"
exit 0
