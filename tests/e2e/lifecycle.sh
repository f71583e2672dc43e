#!/usr/bin/env bash
# e2e: the sandbox lifecycle with real guests: create, ls, stop, start, logs,
# crash detection, rm leaving nothing behind, interrupted and failed boots,
# and the errors for bad arguments, unknown ids, duplicate names and non-root.
source "$(dirname "$0")/../lib.sh"
t_setup_home

no_qemu() { ! qemu_running "$1"; }
# A QEMU booting a sandbox of this name (pgrep, so no shell matches itself).
qemu_named() { pgrep -f "qemu-system.*smolvm[.]name=$1" >/dev/null; }
no_qemu_named() { ! qemu_named "$1"; }
ls_line() { "$SMOLVM" ls | awk -v id="$1" '$1 == id'; }

# --- usage and errors that need no guest ---------------------------------
for cmd in create ls start stop rm logs; do
	run "$SMOLVM" "$cmd" --help
	check_match "$cmd --help" "$RC $OUT" "^0 usage: smolvm $cmd"
done
run "$SMOLVM" create --bogus
check_match "create --bogus is a usage error" "$RC $OUT" "^2 .*unknown option '--bogus'"
run "$SMOLVM" create --mem lots
check_match "create --mem lots is a usage error" "$RC $OUT" "^2 .*--mem takes a whole number"
run "$SMOLVM" create --cpus 0
check_match "create --cpus 0 is a usage error" "$RC $OUT" "^2 .*--cpus"
run "$SMOLVM" create --name 'no/slash'
check_match "create with a bad name is a usage error" "$RC $OUT" "^2 .*--name 'no/slash' may hold only letters"
run "$SMOLVM" create stray
check_match "create with an argument is a usage error" "$RC $OUT" "^2 "
run "$SMOLVM" create --image nosuchkind
check_match "create --image of an unknown kind" "$RC $OUT" "^2 .*nosuchkind"
for cmd in start stop rm logs; do
	run "$SMOLVM" "$cmd"
	check_match "$cmd without an id is a usage error" "$RC $OUT" "^2 .*needs a sandbox id"
	run "$SMOLVM" "$cmd" nosuchbox
	check_match "$cmd of an unknown id fails" "$RC $OUT" "^1 .*no sandbox with id or name 'nosuchbox'"
done
run "$SMOLVM" ls extra
check_match "ls with an argument is a usage error" "$RC" "^2$"
check_eq "ls with no sandboxes: just the header" "$("$SMOLVM" ls)" \
	"ID        NAME  STATE     UPTIME   MEM     CPUS  ADDRESS"
check_eq "ls --json with no sandboxes" "$("$SMOLVM" ls --json | tr -d ' \n\t')" "[]"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	run setpriv --reuid=65534 --regid=65534 --clear-groups env SMOLVM_HOME="$SMOLVM_HOME" \
		"$SMOLVM" create
	check_match "create without root says why" "$RC $OUT" \
		"^1 smolvm create needs root: it creates a network namespace and a tap device; run it with sudo"
else
	ok "create without root says why # SKIP needs root and setpriv to drop it"
fi

# --- create ----------------------------------------------------------------
T0=$(date +%s%N)
if ! REC=$("$SMOLVM" create --name lc-one --json 2>"$SMOLVM_HOME/create.err"); then
	fail "create a sandbox"
	sed 's/^/#   /' "$SMOLVM_HOME/create.err" | tail -20
	exit 1
fi
T1=$(date +%s%N)
ok "create a sandbox"
ID=$(jfield "$REC" id)
GIP=$(jfield "$REC" guest_ip)
HIP=$(jfield "$REC" host_ip)
READY_MS=$(jfield "$REC" ready_ms)
echo "# create took $(( (T1 - T0) / 1000000 )) ms; ready_ms $READY_MS; accel $(jfield "$REC" accel)"
check_match "create --json: an 8-digit hex id" "$ID" '^[0-9a-f]{8}$'
check_eq "create --json: name" "$(jfield "$REC" name)" lc-one
check_eq "create --json: state running" "$(jfield "$REC" state)" running
check_eq "create --json: defaults 256 MiB, 1 cpu" "$(jfield "$REC" mem_mib)/$(jfield "$REC" cpus)" \
	"256/1"
check_match "create --json: guest in 10.77.0.0/16" "$GIP" '^10\.77\.[0-9]+\.[0-9]+$'
check_eq "create --json: a /30" "$(jfield "$REC" prefix_len)" 30
check_match "create --json: ready_ms measured" "$READY_MS" '^[1-9][0-9]*$'
check "the namespace exists" test -e "/run/netns/smolvm-$ID"
check "QEMU runs, named by the id" qemu_running "$ID"
check_match "the tap has the host address" "$(ip netns exec "smolvm-$ID" ip -4 addr show tap0)" \
	"inet $HIP/30 "
QPID=$(jfield "$REC" pid)
check_match "QEMU runs in a session of its own" "$(ps -o sid= -p "$QPID")" "^ *[0-9]+$"
[ "$(ps -o sid= -p "$QPID" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')" ] &&
	ok "QEMU is not in our session" || fail "QEMU is not in our session"
check_eq "QEMU did not inherit create's stderr" \
	"$(ls -l "/proc/$QPID/fd" 2>/dev/null | grep -c create.err)" 0

if "$SMOLVM" exec --help >/dev/null 2>&1; then
	run "$SMOLVM" exec lc-one -- true
	check_eq "exec true in the new sandbox" "$RC" 0
fi

LINE=$(ls_line "$ID")
check_match "ls: running with its address" "$LINE" "^$ID +lc-one +running +[0-9]+[smhd] +256M +1 +$GIP$"
LSJ=$("$SMOLVM" ls --json)
check_match "ls --json: has uptime_s" "$LSJ" '"uptime_s":[[:space:]]*[0-9]+'
check_match "ls --json: has the record" "$LSJ" "\"id\":[[:space:]]*\"$ID\""

run "$SMOLVM" create --name lc-one
check_match "a duplicate name is refused" "$RC $OUT" "^1 .*'lc-one' already exists"
check_eq "the refused create left nothing" "$(ls "$SMOLVM_HOME/vms" | wc -l)" 1

run "$SMOLVM" start lc-one
check_match "start of a running sandbox fails" "$RC $OUT" "^1 .*already running"
run "$SMOLVM" rm lc-one
check_match "rm of a running sandbox needs --force" "$RC $OUT" "^1 .*stop it first"
check "... and left it running" qemu_running "$ID"

check_match "logs: the console" "$("$SMOLVM" logs lc-one)" "SMOLVM_READY"

# QEMU's own run state: a guest paused over QMP shows as paused, and a QMP
# socket that someone else holds does not make ls hang.
qmp_run() {
	python3 - "$SMOLVM_HOME/vms/$ID/qmp.sock" "$@" <<'EOF'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile('rw')
f.readline()
for c in ['qmp_capabilities'] + [a for a in sys.argv[2:] if a != 'hold']:
    f.write(json.dumps({'execute': c}) + '\n')
    f.flush()
    while 'return' not in json.loads(f.readline()):
        pass
if 'hold' in sys.argv:
    time.sleep(3)
EOF
}
if command -v python3 >/dev/null; then
	qmp_run stop
	check_match "ls: a guest paused over QMP shows paused" "$(ls_line "$ID")" "^$ID +lc-one +paused "
	qmp_run cont
	check_match "ls: running again after cont" "$(ls_line "$ID")" "^$ID +lc-one +running "
	qmp_run hold &
	HOLD=$!
	sleep 0.5
	S=$(date +%s%N)
	LINE=$(ls_line "$ID")
	E=$(( ($(date +%s%N) - S) / 1000000 ))
	check_match "ls with the QMP socket busy: the record's state" "$LINE" "^$ID +lc-one +running "
	[ "$E" -lt 2000 ] && ok "ls with the QMP socket busy does not hang (${E} ms)" ||
		fail "ls with the QMP socket busy does not hang (${E} ms)"
	wait "$HOLD"
else
	ok "ls shows a paused guest # SKIP no python3 for a QMP client"
fi

# --- stop and start ----------------------------------------------------------
"$SMOLVM" logs -f lc-one >"$SMOLVM_HOME/follow.out" 2>&1 &
FOLLOW=$!
run "$SMOLVM" stop lc-one
check_eq "stop" "$RC" 0
check "stop: QEMU is gone" no_qemu "$ID"
check_match "ls: stopped" "$(ls_line "$ID")" "^$ID +lc-one +stopped +- "
check_eq "stop: pid 0 in the record" "$(jfield "$(cat "$SMOLVM_HOME/vms/$ID/record.json")" pid)" 0
check "stop keeps the namespace" test -e "/run/netns/smolvm-$ID"
check_match "the guest powered off cleanly" "$("$SMOLVM" logs lc-one)" "reboot: Power down"
if wait_until 5 bash -c "! kill -0 $FOLLOW 2>/dev/null"; then ok "logs -f ends when the sandbox stops"
else fail "logs -f ends when the sandbox stops"; kill "$FOLLOW"; fi
check_match "logs -f printed the console" "$(cat "$SMOLVM_HOME/follow.out")" "SMOLVM_READY"
run "$SMOLVM" stop lc-one
check_match "stop of a stopped sandbox fails" "$RC $OUT" "^1 .*not running"

run "$SMOLVM" start lc-one
check_eq "start again" "$RC" 0
check_match "ls: running again" "$(ls_line "$ID")" "^$ID +lc-one +running .*$GIP$"
if "$SMOLVM" exec --help >/dev/null 2>&1; then
	run "$SMOLVM" exec lc-one -- true
	check_eq "exec after a restart" "$RC" 0
fi
check_eq "logs keeps both boots" "$("$SMOLVM" logs lc-one | grep -c SMOLVM_READY)" 2

run "$SMOLVM" stop --force "${ID:0:4}"
check_match "stop --force by id prefix" "$RC $(ls_line "$ID")" "^0 $ID +lc-one +stopped"

# --- a second sandbox ----------------------------------------------------------
if REC2=$("$SMOLVM" create --mem 320 --cpus 2 --json 2>"$SMOLVM_HOME/create.err"); then
	ID2=$(jfield "$REC2" id)
	ok "create with --mem and --cpus"
	check_match "default name: adjective-animal" "$(jfield "$REC2" name)" '^[a-z]+-[a-z]+'
	check_eq "--mem/--cpus recorded" "$(jfield "$REC2" mem_mib)/$(jfield "$REC2" cpus)" "320/2"
	check_match "QEMU got -m 320 -smp 2" "$(pgrep -af "qemu-system.*smolvm-$ID2")" "-m 320 -smp 2 "
	if [ "$(jfield "$REC2" guest_ip)" != "$GIP" ] && [ "$(jfield "$REC2" host_ip)" != "$HIP" ]
	then ok "the second sandbox has its own /30"
	else fail "the second sandbox has its own /30"; fi

	# A QEMU killed behind our back: ls says so, rm needs no --force.
	kill -KILL "$(jfield "$REC2" pid)"
	wait_until 5 no_qemu "$ID2"
	check_match "ls: a killed QEMU shows crashed" "$(ls_line "$ID2")" "^$ID2 .* crashed +- "
	check_match "ls --json: crashed" "$("$SMOLVM" ls --json)" '"state":[[:space:]]*"crashed"'
	run "$SMOLVM" rm "$ID2"
	check_eq "rm of a crashed sandbox without --force" "$RC" 0
	check "rm left no process, namespace or files" gone "$ID2"
else
	fail "create with --mem and --cpus"
	sed 's/^/#   /' "$SMOLVM_HOME/create.err" | tail -20
fi

# --- two creates racing for one name: exactly one wins ----------------------------
"$SMOLVM" create --name lc-race >/dev/null 2>&1 &
R1=$!
"$SMOLVM" create --name lc-race >/dev/null 2>&1 &
R2=$!
wait "$R1"; S1=$?
wait "$R2"; S2=$?
check_eq "racing creates of one name: one succeeds, one is refused" "$(( S1 + S2 ))/$(( S1 * S2 ))" \
	"1/0"
check_eq "... and one lc-race exists" "$("$SMOLVM" ls | awk '$2 == "lc-race"' | wc -l)" 1
"$SMOLVM" rm --force lc-race >/dev/null 2>&1

# --- rm --force ------------------------------------------------------------------
run "$SMOLVM" start lc-one
check_eq "start for rm --force" "$RC" 0
run "$SMOLVM" rm --force lc-one
check_eq "rm --force a running sandbox" "$RC" 0
check "rm --force left no process, namespace or files" gone "$ID"
check_eq "ls is empty again" "$("$SMOLVM" ls | wc -l)" 1

# --- an interrupted create cleans up ----------------------------------------------
"$SMOLVM" create --name lc-intr >/dev/null 2>"$SMOLVM_HOME/intr.err" &
CPID=$!
if wait_until 30 qemu_named lc-intr; then
	IID=$(pgrep -af 'qemu-system.*smolvm.name=lc-intr' | grep -o 'smolvm-[0-9a-f]\{8\}' | head -1)
	IID=${IID#smolvm-}
	kill -INT "$CPID"
	wait "$CPID"
	check_eq "Ctrl-C during create exits 130" "$?" 130
	check "an interrupted create leaves nothing" gone "$IID"
else
	fail "an interrupted create starts QEMU"
	kill "$CPID" 2>/dev/null
fi

# --- a guest that cannot boot: its console explains, nothing is left --------------
SRC_IMG=$(readlink -f "$SMOLVM_HOME/images")
if [ -d "$SRC_IMG/tiny" ]; then
	BAD=$(mktemp -d "${TMPDIR:-/tmp}/smolvm-test.XXXXXX")
	mkdir -p "$BAD/images/tiny"
	cp "$SRC_IMG/tiny/vmlinuz" "$SRC_IMG/tiny/host_ed25519.pub" "$SRC_IMG/tiny/manifest.json" \
		"$SRC_IMG/tiny/root.img" "$BAD/images/tiny/"
	head -c 65536 /dev/urandom >"$BAD/images/tiny/initrd.img"
	ln -s "$(readlink -f "$SMOLVM_HOME/keys")" "$BAD/keys"
	run env SMOLVM_HOME="$BAD" "$SMOLVM" create --name lc-bad
	check_match "a guest that panics: create fails at once" "$RC $OUT" \
		"^1 .*QEMU exited while the guest was booting"
	check_match "... and shows the console tail" "$OUT" "Kernel panic"
	check_eq "... and leaves no sandbox" "$(ls "$BAD/vms" 2>/dev/null | grep -v '^\.' | wc -l)" 0
	BID=$(printf '%s\n' "$OUT" | grep -o 'lc-bad ([0-9a-f]\{8\})' | grep -o '[0-9a-f]\{8\}')
	check_match "... naming the sandbox" "$BID" '^[0-9a-f]{8}$'
	check "... and no namespace" test ! -e "/run/netns/smolvm-$BID"
	check "... and no QEMU" no_qemu_named lc-bad
	rm -rf "$BAD"
fi

exit 0
