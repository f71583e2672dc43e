# tests/lib.sh: helpers for the screen and e2e tests (bash).
# Each check prints "ok - NAME" or "not ok - NAME"; tests/run counts them.
# Source it from a test script; SMOLVM is the binary under test.

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$TESTS_DIR/.." && pwd)
SMOLVM=${SMOLVM:-$SRC_DIR/smolvm}
T_FAILED=0

ok()   { echo "ok - $*"; }
fail() { echo "not ok - $*"; T_FAILED=$((T_FAILED + 1)); }

# check NAME CMD...: passes if CMD exits 0.
check() {
	local name=$1; shift
	if "$@" >/tmp/smolvm-check.$$ 2>&1; then ok "$name"
	else fail "$name"; sed 's/^/#   /' /tmp/smolvm-check.$$ | tail -20; fi
	rm -f /tmp/smolvm-check.$$
}

# check_fails NAME CMD...: passes if CMD exits non-zero.
check_fails() {
	local name=$1; shift
	if "$@" >/dev/null 2>&1; then fail "$name (expected failure)"; else ok "$name"; fi
}

# check_eq NAME GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"
	else fail "$1"; echo "#   got:  $(printf %q "$2")"; echo "#   want: $(printf %q "$3")"; fi
}

# check_match NAME TEXT REGEX (extended regex, grep -E)
check_match() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"
	else fail "$1"; echo "#   no match for /$3/ in:"; printf '%s\n' "$2" | sed 's/^/#   /' | tail -20; fi
}

# run CMD...: sets OUT (stdout+stderr) and RC.
run() { OUT=$("$@" 2>&1); RC=$?; }

# jfield JSON KEY: a string or number field of a one-level JSON record.
jfield() {
	printf '%s\n' "$1" | grep -o "\"$2\":[[:space:]]*[^,}[:space:]]*" | head -1 |
		sed 's/^[^:]*:[[:space:]]*//; s/^"//; s/"$//'
}

# Is the QEMU of sandbox ID running? Is nothing of it left (process,
# namespace, files)?
qemu_running() { pgrep -f "qemu-system.*smolvm-$1" >/dev/null; }
gone() {
	! qemu_running "$1" && [ ! -e "/run/netns/smolvm-$1" ] && [ ! -e "$SMOLVM_HOME/vms/$1" ]
}

# t_create CHECK ARGS...: `smolvm create ARGS` as the check CHECK; the script
# ends if it fails. Sets ID, VM_DIR (its state directory), HOST_IP (the host
# end of its tap, where its proxy listens) and PLOG (the proxy's decisions).
t_create() {
	local check=$1; shift
	if ! ID=$("$SMOLVM" create "$@" 2>&1); then
		fail "$check"
		printf '%s\n' "$ID" | sed 's/^/#   /' | tail -20
		exit 1
	fi
	ok "$check"
	VM_DIR=$SMOLVM_HOME/vms/$ID
	HOST_IP=$(jfield "$(cat "$VM_DIR/record.json")" host_ip)
	PLOG=$VM_DIR/policy.log
}

# wait_until TIMEOUT_S CMD...: polls CMD every 0.1 s until it succeeds.
wait_until() {
	local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s%N)" -gt "$deadline" ] && return 1
		sleep 0.1
	done
}

# A private state directory per test script, removed (with its sandboxes)
# at exit.
t_setup_home() {
	export SMOLVM_HOME=$(mktemp -d "${TMPDIR:-/tmp}/smolvm-test.XXXXXX")
	# The image is built once and shared between test homes.
	if [ -n "$SMOLVM_TEST_IMAGES" ]; then
		mkdir -p "$SMOLVM_HOME"
		ln -s "$SMOLVM_TEST_IMAGES/images" "$SMOLVM_HOME/images"
		# The install's keys one by one, so that what a test makes there
		# (the vault's key file) stays in its own home.
		mkdir -m 0700 "$SMOLVM_HOME/keys"
		ln -s "$SMOLVM_TEST_IMAGES"/keys/* "$SMOLVM_HOME/keys/"
		rm -f "$SMOLVM_HOME/keys/vault.key"
	fi
	trap t_cleanup_home EXIT
}

t_cleanup_home() {
	local id
	for id in $("$SMOLVM" ls --json 2>/dev/null | grep -o '"id":[[:space:]]*"[0-9a-f]*"' | grep -o '[0-9a-f]\{8\}'); do
		"$SMOLVM" rm --force "$id" >/dev/null 2>&1
	done
	rm -rf "$SMOLVM_HOME"
}

# --- tmux screen helpers ------------------------------------------------
# One tmux server per test script, on its own socket.
TMUX_SOCK=smolvm-test-$$
tm() { tmux -L "$TMUX_SOCK" "$@"; }

# tm_start COLS ROWS CMD: start CMD in a detached session "t".
tm_start() {
	local cols=$1 rows=$2; shift 2
	tm kill-server 2>/dev/null
	tm -f /dev/null new-session -d -s t -x "$cols" -y "$rows" \
		"env SMOLVM_HOME='$SMOLVM_HOME' TERM=xterm-256color $*; sleep 600"
	tm set-option -t t -g remain-on-exit on 2>/dev/null
}
tm_screen() { tm capture-pane -p -t t; }
tm_keys() { tm send-keys -t t "$@"; }
tm_has() { tm_screen | grep -Fq -- "$1"; }
# tm_wait TIMEOUT_S TEXT: wait until TEXT is on screen.
tm_wait() { wait_until "$1" tm_has "$2"; }
tm_stop() { tm kill-server 2>/dev/null; }
tm_lacks() { ! tm_has "$1"; }
screen_match() { tm_screen | grep -Eq -- "$1"; }
# tm_line TEXT: the first screen line holding TEXT.
tm_line() { tm_screen | grep -F -- "$1" | head -1; }
line_has() { tm_line "$1" | grep -Eq -- "$2"; }

# expect_* NAME TIMEOUT_S ...: ok once the screen shows it in time, else not
# ok with the screen as it was.
tm_fail() { fail "$1"; tm_screen | sed 's/^/#   /'; }
# expect_screen NAME TIMEOUT_S TEXT: TEXT on screen.
expect_screen() { if tm_wait "$2" "$3"; then ok "$1"; else tm_fail "$1"; fi; }
# expect_match NAME TIMEOUT_S ERE: a line matching ERE on screen.
expect_match() { if wait_until "$2" screen_match "$3"; then ok "$1"; else tm_fail "$1"; fi; }
# expect_gone NAME TIMEOUT_S TEXT: TEXT no longer on screen.
expect_gone() { if wait_until "$2" tm_lacks "$3"; then ok "$1"; else tm_fail "$1"; fi; }
# expect_line NAME TIMEOUT_S TEXT ERE: the line holding TEXT matches ERE.
expect_line() { if wait_until "$2" line_has "$3" "$4"; then ok "$1"; else tm_fail "$1"; fi; }
# expect_quit: q with a shell open asks first, y quits the workbench with 0.
expect_quit() {
	tm_keys q
	expect_screen "quitting asks, a shell being open" 5 "Quit smolvm?"
	tm_keys y
	expect_screen "quit" 10 "TUI-EXIT=0"
}
