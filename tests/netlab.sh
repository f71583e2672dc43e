# tests/netlab.sh: a network of its own for e2e tests whose guests send
# traffic out (bash). Source it first thing in a test script: the script
# runs again under `unshare -n`, so the "internet" is an interface in that
# namespace (dummy, or veth) with listeners on its addresses, and whatever a
# policy bug lets out reaches only the test's own listeners, which is how
# the test sees it. The host's loopback there is the namespace's too, so
# ports published on it cannot clash with anything else on the machine.
#
#   netlab_start NAME...        t_setup_home, with SEEN (for the listeners' log) and PKI (for
#                               the test CA) in it; on exit netlab_down, the sandboxes
#                               NAME... and the home are removed
#   netlab_up ADDR...           the outside interface, holding ADDR/32 each
#   netlab_count ADDR           count every packet that arrives for ADDR, whatever its kind;
#                               netlab_packets prints how many did
#   netlab_listen LOG SPEC...   start tests/e2e/egress_listener.py (see there)
#   netlab_down                 stop the listeners (call it from the EXIT trap)
#   seen PATTERN                did a listener log a line matching PATTERN?
#   check_unseen NAME PATTERN   a check that none did
#   g CMD                       run CMD in the guest $NAME; sets OUT and RC
#   code URL [CURL ARGS...]     the HTTP status curl in the guest got (000: none)
#   set_policy JSON             replace the policy of the sandbox in $VM_DIR
#   last_log                    its proxy's last decision line
#   netlab_resolver             the address of the resolver in /etc/resolv.conf, made
#                               one of the lab's (after netlab_up), to listen on it
#   netlab_ca DIR               a test CA for upstream TLS: DIR/ca.pem, DIR/ca.key
#   netlab_cert DIR NAME DNS... a certificate from it: DIR/NAME.pem, DIR/NAME.key
#   netlab_upstream_ca NAME DNS...  netlab_ca and netlab_cert in $PKI, checked; the proxy
#                               trusts that CA upstream
if [ -z "${SMOLVM_NETLAB_UNSHARED:-}" ]; then
	export SMOLVM_NETLAB_UNSHARED=1
	exec unshare -n -- bash "$0" "$@"
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NETLAB_LISTENER=$TESTS_DIR/e2e/egress_listener.py
NETLAB_PIDS=()
NETLAB_LOGS=()

netlab_start() {
	t_setup_home
	SEEN=$SMOLVM_HOME/seen.log
	PKI=$SMOLVM_HOME/pki
	NETLAB_VMS=("$@")
	trap netlab_cleanup EXIT
}
netlab_cleanup() {
	netlab_down
	"$SMOLVM" rm --force "${NETLAB_VMS[@]}" >/dev/null 2>&1
	t_cleanup_home
}

netlab_up() {
	local a
	ip link set lo up
	ip link add outside type dummy 2>/dev/null ||
		ip link add outside type veth peer name outside-peer
	ip link set outside up
	for a in "$@"; do ip addr add "$a/32" dev outside; done
}

netlab_count() {
	nft -f - <<EOT
table inet netlab_count {
	chain input {
		type filter hook input priority filter; policy accept;
		ip daddr $1 counter
	}
}
EOT
}
netlab_packets() {
	nft list chain inet netlab_count input | grep -o 'packets [0-9]*' | grep -o '[0-9]*'
}

netlab_resolver() {
	local a
	# The first one is asked first; without any, the C library asks 127.0.0.1.
	a=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2>/dev/null)
	case ${a:=127.0.0.1} in
	*:*) echo "netlab: the resolver $a is IPv6, which the lab's listeners cannot take" >&2
		return 1 ;;
	127.*) ;;
	*) ip addr add "$a/32" dev outside || return 1 ;;
	esac
	echo "$a"
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

# openssl's chatter goes to DIR/openssl.log.
netlab_openssl() { local dir=$1; shift; openssl "$@" >>"$dir/openssl.log" 2>&1; }
netlab_ec_key() { netlab_openssl "$1" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2"; }

netlab_ca() {
	mkdir -p "$1"
	netlab_ec_key "$1" "$1/ca.key" &&
		netlab_openssl "$1" req -x509 -new -key "$1/ca.key" -out "$1/ca.pem" -days 2 \
			-subj "/CN=smolvm test CA" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
}

netlab_cert() {
	local dir=$1 name=$2 san= d; shift 2
	for d in "$@"; do san+="${san:+,}DNS:$d"; done
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		"$san" >"$dir/$name.ext"
	netlab_ec_key "$dir" "$dir/$name.key" &&
		netlab_openssl "$dir" req -new -key "$dir/$name.key" -out "$dir/$name.csr" \
			-subj "/CN=$1" &&
		netlab_openssl "$dir" x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" \
			-CAkey "$dir/ca.key" -CAcreateserial -out "$dir/$name.pem" -days 2 \
			-extfile "$dir/$name.ext"
}

netlab_upstream_ca() {
	netlab_ca "$PKI" && netlab_cert "$PKI" "$@"
	check "the test CA and certificate are made" test -s "$PKI/$1.pem"
	cp "$PKI/ca.pem" "$SMOLVM_HOME/upstream-ca.pem"
}
