# tests/netlab.sh: a network of its own for e2e tests whose guests send
# traffic out (bash). Source it first thing in a test script: the script
# runs again under `unshare -n`, so the "internet" is an interface in that
# namespace (dummy, or veth) with listeners on its addresses, and whatever a
# policy bug lets out reaches only the test's own listeners, which is how
# the test sees it. The host's loopback there is the namespace's too, so
# ports published on it cannot clash with anything else on the machine.
#
#   netlab_up ADDR...           the outside interface, holding ADDR/32 each
#   netlab_listen LOG SPEC...   start tests/e2e/egress_listener.py (see there)
#   netlab_down                 stop the listeners (call it from the EXIT trap)
#   seen PATTERN                did a listener log a line matching PATTERN?
#   check_unseen NAME PATTERN   a check that none did
#   g CMD                       run CMD in the guest $NAME; sets OUT and RC
#   code URL [CURL ARGS...]     the HTTP status curl in the guest got (000: none)
#   set_policy JSON             replace the policy of the sandbox in $VM_DIR
#   last_log                    its proxy's last decision line
if [ -z "${SMOLVM_NETLAB_UNSHARED:-}" ]; then
	export SMOLVM_NETLAB_UNSHARED=1
	exec unshare -n -- bash "$0" "$@"
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NETLAB_LISTENER=$TESTS_DIR/e2e/egress_listener.py
NETLAB_PIDS=()
NETLAB_LOGS=()

netlab_up() {
	local a
	ip link set lo up
	ip link add outside type dummy 2>/dev/null ||
		ip link add outside type veth peer name outside-peer
	ip link set outside up
	for a in "$@"; do ip addr add "$a/32" dev outside; done
}

# netlab_listen LOG CMD... (CMD runs the listener, perhaps in another
# namespace) or netlab_listen LOG SPEC...; waits until it listens.
netlab_listen() {
	local log=$1; shift
	: >"$log"
	NETLAB_LOGS+=("$log")
	case $1 in
	http:* | tcp:* | udp:*) python3 "$NETLAB_LISTENER" "$log" "$@" & ;;
	*) "$@" & ;;
	esac
	NETLAB_PIDS+=($!)
	wait_until 10 grep -qx ready "$log"
}

netlab_down() {
	local p
	for p in "${NETLAB_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	NETLAB_PIDS=()
}

seen() { grep -Eq -- "$1" "${NETLAB_LOGS[@]}" 2>/dev/null; }

check_unseen() {
	if seen "$2"; then
		fail "$1"
		grep -E -- "$2" "${NETLAB_LOGS[@]}" | sed 's/^/#   /'
	else
		ok "$1"
	fi
}

g() {
	OUT=$("$SMOLVM" exec "$NAME" -- sh -c "$1" 2>&1)
	RC=$?
}

code() {
	local url=$1 a args=; shift
	for a in "$@"; do args+=" '$a'"; done
	g "curl -s -o /dev/null -m 10 -w '%{http_code}'$args '$url'"
	printf '%s' "$OUT"
}

set_policy() {
	printf '%s\n' "$1" >"$VM_DIR/policy.tmp"
	mv "$VM_DIR/policy.tmp" "$VM_DIR/policy.json"
}
last_log() { tail -1 "$PLOG"; }
