#!/usr/bin/env bash
# e2e: `smolvm exec` and `smolvm ssh` against a real sandbox: exit statuses,
# stream separation, stdin, bulk data, timeouts, and the pinned host key.
source "$(dirname "$0")/../lib.sh"
t_setup_home

NAME=exec-e2e
# Remove the sandbox by name too, should the script stop half-way.
trap '"$SMOLVM" rm --force "$NAME" >/dev/null 2>&1; t_cleanup_home' EXIT
if ! REC=$("$SMOLVM" create --name "$NAME" --json 2>&1); then
	fail "create a sandbox"
	printf '%s\n' "$REC" | sed 's/^/#   /' | tail -20
	exit 1
fi
ok "create a sandbox"
ID=$(printf '%s\n' "$REC" | grep -o '"id":[[:space:]]*"[0-9a-f]*"' | grep -o '[0-9a-f]\{8\}' | head -1)
IMAGE=$(printf '%s\n' "$REC" | grep -o '"image":[[:space:]]*"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' | head -1)
check_match "create --json names the sandbox" "$ID" '^[0-9a-f]{8}$'

# run_exec ARGS...: sets OUT, ERR, RC.
run_exec() {
	local e
	e=$(mktemp)
	OUT=$("$SMOLVM" exec "$@" 2>"$e")
	RC=$?
	ERR=$(cat "$e")
	rm -f "$e"
}

run_exec "$NAME" -- uname -s
check_eq "exec runs a command" "$OUT/$RC" "Linux/0"

run_exec "$ID" -- true
check_eq "exec by id" "$RC" 0
run_exec "${ID:0:5}" -- true
check_eq "exec by id prefix" "$RC" 0
run_exec "$NAME" uname -s
check_eq "exec without --" "$OUT/$RC" "Linux/0"

run_exec "$NAME" -- sh -c 'exit 3'
check_eq "exit status passed through" "$RC" 3
run_exec "$NAME" -- sh -c 'kill -KILL $$'
check_eq "killed by SIGKILL is 137" "$RC" 137
run_exec "$NAME" -- sh -c 'kill -TERM $$'
check_eq "killed by SIGTERM is 143" "$RC" 143

run_exec "$NAME" -- sh -c 'echo to-out; echo to-err >&2; echo more-out'
check_eq "stdout stays stdout" "$OUT" $'to-out\nmore-out'
check_eq "stderr stays stderr" "$ERR" "to-err"

run_exec "$NAME" -- printf '%s|' '' "it's" 'a  b' $'x\ny' '$HOME' 'h€llo'
check_eq "arguments arrive unchanged" "$OUT" "|it's|a  b|x"$'\n'"y|\$HOME|h€llo|"

check_eq "stdin is piped" "$(echo hi | "$SMOLVM" exec "$NAME" -- cat)" "hi"
check_eq "no stdin is an empty stdin" "$("$SMOLVM" exec "$NAME" -- cat </dev/null; echo rc=$?)" \
	"rc=0"

# Bulk data both ways, compared by checksum.
BIG=$(mktemp)
head -c 5000000 /dev/urandom >"$BIG"
WANT=$(md5sum <"$BIG" | cut -d' ' -f1)
GOT=$("$SMOLVM" exec "$NAME" -- md5sum <"$BIG" | cut -d' ' -f1)
check_eq "5 MB of stdin arrive intact" "$GOT" "$WANT"
rm -f "$BIG"
T0=$(date +%s%N)
N=$("$SMOLVM" exec "$NAME" -- head -c 20000000 /dev/zero | wc -c)
T1=$(date +%s%N)
check_eq "20 MB of stdout arrive" "$N" 20000000
echo "# 20 MB stdout took $(( (T1 - T0) / 1000000 )) ms"

T0=$(date +%s%N)
"$SMOLVM" exec "$NAME" -- true
T1=$(date +%s%N)
echo "# exec true (connect, auth, channel, command): $(( (T1 - T0) / 1000000 )) ms"

# gone_in_guest WORDS: no live process in the guest has WORDS in its
# command line (a killed one lingers as a zombie, with an empty command
# line, until init reaps it).
gone_in_guest() {
	local n
	n=$("$SMOLVM" exec "$NAME" -- sh -c 'for f in /proc/[0-9]*/cmdline; do
		{ tr "\0" " " <"$f"; } 2>/dev/null; echo; done | grep -v grep | grep -c -- "$0"' "$1")
	[ "$n" = 0 ]
}

T0=$(date +%s)
run_exec --timeout 2 "$NAME" -- sleep 30
T1=$(date +%s)
check_eq "--timeout exits 124" "$RC" 124
check "--timeout returns in time" test $((T1 - T0)) -le 5
check_match "--timeout says so" "$ERR" "timed out after 2 s"
check "--timeout stops the command in the guest" wait_until 10 gone_in_guest "sleep 30"
run_exec --timeout 2 "$NAME" -- sh -c 'sleep 33 | cat'
check_eq "--timeout on a pipeline exits 124" "$RC" 124
check "--timeout stops every process of the pipeline" wait_until 10 gone_in_guest "sleep 33"

# Ctrl-C (SIGINT, as a terminal sends it) stops the command in the guest
# too, the whole pipeline; a second one kills what ignores SIGINT.
BG=$(mktemp)
"$SMOLVM" exec "$NAME" -- sh -c 'echo started; sleep 31 | cat' >"$BG" 2>&1 &
PID=$!
wait_until 30 grep -q started "$BG"
kill -INT $PID
wait $PID
check_eq "Ctrl-C on exec exits 130" "$?" 130
check "Ctrl-C stops the whole command in the guest" wait_until 10 gone_in_guest "sleep 31"
"$SMOLVM" exec "$NAME" -- sh -c "trap '' INT; echo started; sleep 32" >"$BG" 2>&1 &
PID=$!
wait_until 30 grep -q started "$BG"
# Interrupt until it ends: the first one is ignored, the next one kills.
for _ in $(seq 20); do
	kill -INT $PID 2>/dev/null || break
	wait_until 1 test ! -d /proc/$PID
done
wait $PID
check_eq "a second Ctrl-C kills a command that ignores SIGINT" "$?" 137
check "nothing is left of it in the guest" wait_until 10 gone_in_guest "sleep 32"
run_exec "$NAME" -- sh -c 'ls /run | grep -c smolvm-exec'
check_eq "the interrupt bookkeeping leaves no file behind" "$OUT" 1
rm -f "$BG"

run_exec no-such-sandbox -- true
check_eq "unknown sandbox exits 255" "$RC" 255
check_match "unknown sandbox is named" "$ERR" "no sandbox .*no-such-sandbox"
run_exec "$NAME"
check_eq "missing command exits 255" "$RC" 255

# A non-tty stdin feeds the shell.
OUT=$(printf 'echo from-ssh\nexit 7\n' | "$SMOLVM" ssh "$NAME")
RC=$?
check_eq "ssh with piped stdin" "$OUT/$RC" "from-ssh/7"

# A terminal: pty of the terminal's size, exit status through.
tm_start 100 30 "'$SMOLVM' ssh $NAME; echo SSH-EXIT=\$?"
if tm_wait 20 '#'; then
	tm_keys 'stty size; echo TERM=$TERM' Enter
	tm_wait 10 "TERM=xterm-256color" && tm_has "30 100"
	check "ssh gets a pty of the terminal's size" test $? = 0
	tm_keys 'exit 5' Enter
	tm_wait 10 "SSH-EXIT=5"
	check "ssh passes the shell's exit status" test $? = 0
else
	fail "ssh shows a prompt"
	tm_screen | sed 's/^/#   /'
fi
tm_stop

# A different pinned key must be refused, not accepted or prompted for.
# The test home's images/ may be shared, so the forged key lives in a home
# of its own that points at the same sandbox record.
FORGED=$(mktemp -d)
mkdir -p "$FORGED/images/$IMAGE"
mkdir -p "$FORGED/vms/$ID"
cp "$SMOLVM_HOME/vms/$ID/record.json" "$FORGED/vms/$ID/"
ln -s "$(readlink -f "$SMOLVM_HOME/keys")" "$FORGED/keys"
ssh-keygen -q -t ed25519 -N '' -C forged -f "$FORGED/forged"
cp "$FORGED/forged.pub" "$FORGED/images/$IMAGE/host_ed25519.pub"
OUT=$(SMOLVM_HOME=$FORGED "$SMOLVM" exec "$ID" -- echo reached 2>&1)
RC=$?
check_eq "a wrong pinned host key is refused" "$RC" 255
check_match "the refusal says why" "$OUT" "does not match the key pinned for image $IMAGE"
check "nothing ran past a wrong host key" test "${OUT#*reached}" = "$OUT"
rm -rf "$FORGED"

# A stopped sandbox is reported as such.
if "$SMOLVM" stop "$NAME" >/dev/null 2>&1; then
	run_exec "$NAME" -- true
	check_eq "exec on a stopped sandbox exits 255" "$RC" 255
	check_match "exec on a stopped sandbox says how to start it" "$ERR" \
		"is stopped; run .smolvm start $NAME."
else
	fail "stop the sandbox"
fi

check "rm --force removes the sandbox" "$SMOLVM" rm --force "$NAME"
exit 0
