#!/usr/bin/env bash
# e2e: guest ports published on the host's loopback (create --publish, the
# policy's ingress list): a real guest serving HTTP, reached with curl from
# the host; ports added and removed while it runs; what is refused. It runs
# in a network namespace of its own (tests/netlab.sh), so its loopback ports
# clash with nothing on the machine.
source "$(dirname "$0")/../netlab.sh"
t_setup_home

NAME=ingress-e2e
WEB=18080	# the guest's web server (guest port 8000)
HOLD=18081	# a long connection to the guest's port 8002
ADDED=18082	# published later by policy set
BUSY=18083	# something else on the host listens here
WORK=$SMOLVM_HOME/work
mkdir -p "$WORK"

cleanup() {
	netlab_down
	"$SMOLVM" rm --force "$NAME" >/dev/null 2>&1
	t_cleanup_home
}
trap cleanup EXIT

netlab_up
run() { OUT=$("$@" 2>&1); RC=$?; }
nothing_created() { [ "$("$SMOLVM" ls --json)" = "[]" ]; }
get() { curl -sS -m 10 "http://127.0.0.1:$1$2" 2>&1; }
refused() { ! curl -s -m 5 -o /dev/null "http://127.0.0.1:$1/"; }
reachable() { curl -s -m 5 -o /dev/null "http://127.0.0.1:$1/"; }
set_ingress() { printf '{"mode": "none", "ingress": [%s]}\n' "$1" | "$SMOLVM" policy set "$NAME" -; }
entry() { printf '{"host_port": %d, "guest_port": %d}' "$1" "$2"; }

# --- refused before anything is made -------------------------------------------------
run "$SMOLVM" create --name "$NAME" --publish "0.0.0.0:$WEB:8000"
check_match "a publish on a non-loopback address is refused" "$RC $OUT" \
	'^1 .*--publish 0\.0\.0\.0:18080:8000: 0\.0\.0\.0 is not a loopback address'
run "$SMOLVM" create --name "$NAME" --publish "10.1.2.3:$WEB:8000"
check_match "... any non-loopback address" "$RC $OUT" '^1 .*10\.1\.2\.3 is not a loopback address'
run "$SMOLVM" create --name "$NAME" --publish "$WEB"
check_match "a publish without a guest port is refused" "$RC $OUT" \
	'^1 .*expected \[ADDR:\]HOST_PORT:GUEST_PORT'
run "$SMOLVM" create --name "$NAME" --publish "$WEB:8000" --publish "127.0.0.1:$WEB:8001"
check_match "the same host port twice is refused" "$RC $OUT" \
	"^1 .*--publish $WEB:8000 has that host port already"
netlab_listen "$WORK/busy.log" "tcp:127.0.0.1:$BUSY" || fail "a listener on the busy port"
run "$SMOLVM" create --name "$NAME" --publish "$BUSY:8000"
check_match "a host port in use is refused at create" "$RC $OUT" \
	"^1 smolvm create: 127\.0\.0\.1:$BUSY is in use on this host already"
check "... and nothing was created" nothing_created

# --- a published port ------------------------------------------------------------------
t_create "create with --publish" --name "$NAME" --publish "127.0.0.1:$WEB:8000" \
	--publish "$HOLD:8002"
PROXY_LOG=$VM_DIR/proxy.log
check_match "policy show lists the published ports" "$("$SMOLVM" policy show "$NAME" --json)" \
	"\"ingress\": \[\{\"host\": \"127\.0\.0\.1\", \"host_port\": $WEB, \"guest_port\": 8000\}, \{\"host\": \"127\.0\.0\.1\", \"host_port\": $HOLD, \"guest_port\": 8002\}\]"

check "nothing listens in the guest yet: the connection is closed" refused "$WEB"
check_match "... and the proxy says why" "$(cat "$PROXY_LOG")" \
	"ingress 127\.0\.0\.1:$WEB: cannot connect to guest port 8000: Connection refused"

g 'mkdir -p /www/cgi-bin && echo hello-from-guest >/www/index.html &&
head -c 3000000 /dev/urandom >/www/big && md5sum </www/big | cut -d" " -f1 >/www/big.md5 &&
printf "#!/bin/sh\necho Content-Type: text/plain\necho\nhead -c \$CONTENT_LENGTH | md5sum | cut -d\" \" -f1\n" >/www/cgi-bin/sum &&
chmod +x /www/cgi-bin/sum && busybox httpd -p 8000 -h /www && echo started'
check_eq "busybox httpd starts in the guest" "$OUT" started
check_eq "curl on the host reaches the guest's server" "$(get "$WEB" /)" hello-from-guest
check_eq "a 3 MB download arrives intact" "$(get "$WEB" /big | md5sum | cut -d' ' -f1)" \
	"$(get "$WEB" /big.md5)"
head -c 2000000 /dev/urandom >"$WORK/up"
check_eq "a 2 MB upload arrives intact" \
	"$(curl -sS -m 30 --data-binary @"$WORK/up" "http://127.0.0.1:$WEB/cgi-bin/sum")" \
	"$(md5sum <"$WORK/up" | cut -d' ' -f1)"
check_eq "ten connections at once" "$(for i in 1 2 3 4 5 6 7 8 9 10; do get "$WEB" / & done |
	sort | uniq -c | tr -s ' ')" " 10 hello-from-guest"

# A long connection through $HOLD: the guest's nc writes down what arrives.
g 'sleep 600 | nc -l -p 8002 >/tmp/held 2>&1 & echo ok'
python3 - "$HOLD" "$WORK/hold" >"$WORK/hold.out" 2>&1 <<'PY' &
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"ping\n")
print("connected", flush=True)
while not os.path.exists(sys.argv[2] + ".go"):
    time.sleep(0.05)
s.sendall(b"pong\n")
s.settimeout(60)
print("closed" if s.recv(100) == b"" else "data", flush=True)
PY
NETLAB_PIDS+=($!)
guest_got() { g 'cat /tmp/held'; [ "$OUT" = "$1" ]; }
check "a connection through a published port reaches the guest" wait_until 10 guest_got ping

# --- ports follow policy set ---------------------------------------------------------------
check "a port not yet published is closed" refused "$ADDED"
check "policy set adds a port" set_ingress "$(entry $WEB 8000), $(entry $HOLD 8002), $(entry $ADDED 8000)"
check "... which is reachable within a second" wait_until 1 reachable "$ADDED"
check_eq "... and serves the guest's page" "$(get "$ADDED" /)" hello-from-guest
check_eq "the ports that stayed still work" "$(get "$WEB" /)" hello-from-guest
touch "$WORK/hold.go"
check "... and a connection through one of them stays open" wait_until 10 guest_got $'ping\npong'

check "policy set removes a port" set_ingress "$(entry $WEB 8000), $(entry $ADDED 8000)"
hold_closed() { grep -qx closed "$WORK/hold.out"; }
check "... the connection through it is closed" wait_until 2 hold_closed
check "... and it takes no new ones" wait_until 2 refused "$HOLD"
check_eq "the others still work" "$(get "$ADDED" /)" hello-from-guest

check "a port moved to another guest port follows it" set_ingress "$(entry $WEB 8001), $(entry $ADDED 8000)"
moved() { ! [ "$(get "$WEB" /)" = hello-from-guest ]; }
check "... the old guest port is no longer behind it" wait_until 2 moved
g 'busybox httpd -p 8001 -h /www && echo started'
check_eq "... the new one is" "$(get "$WEB" /)" hello-from-guest

run set_ingress '{"host": "0.0.0.0", "host_port": 18090, "guest_port": 8000}'
check_match "policy set refuses a non-loopback address" "$RC $OUT" \
	'^1 smolvm policy set: stdin: ingress\[0\]\.host: "0\.0\.0\.0" is not a loopback address'
run set_ingress "$(entry $WEB 8001), $(entry $ADDED 8000), $(entry $BUSY 8000)"
check_match "policy set refuses a host port in use" "$RC $OUT" \
	"^1 smolvm policy set: 127\.0\.0\.1:$BUSY is in use on this host already.*the policy was not changed"
check_eq "... and the policy in force stays" \
	"$("$SMOLVM" policy show "$NAME" --json | grep -o '"host_port": [0-9]*' | tr '\n' ' ')" \
	'"host_port": 18080 "host_port": 18082 '
if ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128'; then
	check "an IPv6 loopback port can be published" \
		set_ingress "$(entry $ADDED 8000), {\"host\": \"::1\", \"host_port\": $WEB, \"guest_port\": 8000}"
	v6() { [ "$(curl -s -m 5 "http://[::1]:$WEB/")" = hello-from-guest ]; }
	check "... and is reachable" wait_until 2 v6
	check "... the IPv4 one of the same port is gone" wait_until 2 refused "$WEB"
else
	ok "an IPv6 loopback port can be published # SKIP no ::1 here"
fi

# --- across a restart, and after rm ----------------------------------------------------------
"$SMOLVM" stop --force "$NAME" >/dev/null 2>&1
check "a stopped sandbox publishes nothing" refused "$ADDED"
check "start publishes its ports again" "$SMOLVM" start "$NAME"
g 'mkdir -p /www && echo after-restart >/www/index.html && busybox httpd -p 8000 -h /www'
check_eq "... and they lead to the new boot" "$(get "$ADDED" /)" after-restart
check "rm --force removes the sandbox" "$SMOLVM" rm --force "$NAME"
check "... and its ports are closed" refused "$ADDED"
exit 0
