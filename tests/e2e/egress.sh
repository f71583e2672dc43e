#!/usr/bin/env bash
# e2e: the egress policy on a real guest with real curl, in a network of the
# test's own (tests/netlab.sh): whatever a policy bug lets out reaches only
# this test's listeners, which is how the test sees it.
#
#   198.51.100.10  the allowed API (api.test and tunnel.test are pinned to it)
#   198.51.100.20  a forbidden target; no packet may ever arrive there
source "$(dirname "$0")/../netlab.sh"

API=198.51.100.10
FORBIDDEN=198.51.100.20
NAME=egress-e2e
netlab_start "$NAME"
NS_SEEN=$SMOLVM_HOME/ns-seen.log

netlab_up "$API" "$FORBIDDEN"
netlab_count "$FORBIDDEN"

netlab_listen "$SEEN" "http:$API:80" "http:$API:8443" \
	"tcp:$API:2222" "http:$FORBIDDEN:80" "tcp:$FORBIDDEN:2222" "udp:$FORBIDDEN:5353" \
	"http:127.0.0.1:2200" || { fail "listeners start"; exit 1; }
ok "listeners start"

t_create "create a sandbox" --name "$NAME"


# --- mode none: the default without a policy ---------------------------------
check_eq "mode none: exec still works (host to guest is not egress)" \
	"$("$SMOLVM" exec "$NAME" -- echo up)" "up"
check_eq "mode none: curl to an outside address is refused" "$(code "http://$API/v1/x")" 403
check_unseen "mode none: the listener saw nothing" "$API"
check_match "mode none: the refusal is logged" "$(last_log)" \
	'"decision":"deny".*"reason":"policy mode is none: no outbound traffic".*"status":403'
check_eq "mode none: a request by name reaches the proxy and is refused there" \
	"$(code "http://api.test/v1/x")" 403
check_match "mode none: that refusal is logged with the name" "$(last_log)" \
	'"host":"api.test".*"decision":"deny".*"status":403'

# --- an allowlist ---------------------------------------------------------------
set_policy '{"mode": "allowlist", "rules": [
 {"id": "api", "scheme": "http", "host": "api.test", "paths": ["/v1/x", "/v1/chat", "/v1/echo"],
  "methods": ["GET", "POST"], "resolve": ["'"$API"'"]},
 {"id": "tunnel", "scheme": "https", "host": "tunnel.test", "port": 8443, "methods": ["*"],
  "websocket": true, "resolve": ["'"$API"'"]},
 {"id": "local", "scheme": "http", "host": "api.test", "port": 2200, "resolve": ["'"$API"'"]}
]}'
LINES=$(wc -l <"$PLOG")
g "nslookup api.test $HOST_IP"
check_match "DNS answers a name with the synthetic address" "$OUT" "198\.18\.0\.1"
# (a question the guest sent again is logged again)
DNSLOG=$(tail -n +$((LINES + 1)) "$PLOG" | grep '"kind":"dns"')
check_match "... and logs the question with its answer" "$DNSLOG" \
	'"sandbox":"'"$ID"'","kind":"dns","name":"api.test","type":"A","rcode":"NOERROR","answer":"198\.18\.0\.1"}$'
check_match "... an AAAA question too, answered with no record" "$DNSLOG" \
	'"kind":"dns","name":"api.test","type":"AAAA","rcode":"NOERROR","answer":null}$'
g "nslookup -type=txt nothing.test $HOST_IP; true"
check_match "... every type of question" "$(grep '"kind":"dns"' "$PLOG" | tail -1)" \
	'"name":"nothing.test","type":"TXT","rcode":"NOERROR","answer":null}$'
g "curl -sS -m 10 http://api.test/v1/x"
check_eq "an allowed request goes through" "$OUT" "hello /v1/x from $API:80 host=api.test"
check "... and reached the API" seen "^http $API:80 GET /v1/x$"
LINE=$(grep '"path":"/v1/x"' "$PLOG" | grep '"decision":"allow"' | tail -1)
check_match "... and is logged with its rule" "$LINE" \
	'"sandbox":"'"$ID"'","kind":"http","method":"GET","scheme":"http","host":"api.test","port":80,"path":"/v1/x","decision":"allow","rule":"api"'
check_match "... with status, bytes, address and duration" "$LINE" \
	'"status":200,"bytes_up":0,"bytes_down":[1-9][0-9]*,"address":"198\.51\.100\.10","duration_ms":[0-9]+'
check "every log line is one JSON object with the fields of its kind" python3 -c '
import json, sys
common = {"time", "sandbox", "kind"}
need = {"dns": common | {"name", "type", "rcode", "answer"},
        "request": common | {"method", "scheme", "host", "port", "path", "decision", "rule",
                             "reason", "status", "bytes_up", "bytes_down", "duration_ms"}}
for line in open(sys.argv[1]):
    j = json.loads(line)
    missing = need["dns" if j.get("kind") == "dns" else "request"] - set(j)
    assert not missing, (line, missing)' "$PLOG"

check_eq "/v1/chatty is not /v1/chat" "$(code http://api.test/v1/chatty)" 403
check_unseen "... and never reached the API" "GET /v1/chatty$"
check_match "... logged with the reason" "$(last_log)" '"path":"/v1/chatty".*"reason":"no rule for this host allows this path"'
check_eq "/v1/chat is allowed" "$(code http://api.test/v1/chat)" 200
check_eq "/v1/chat/completions is under /v1/chat" "$(code http://api.test/v1/chat/completions)" 200
check_eq "an encoded dot segment is refused" "$(code 'http://api.test/v1/chat/%2e%2e/admin' --path-as-is)" 403
check_eq "a method the rule does not list is refused" "$(code http://api.test/v1/x -X DELETE)" 403
check_eq "a host no rule names is refused" "$(code http://other.test/v1/x)" 403
check_eq "an address no rule names is refused" "$(code "http://$FORBIDDEN/v1/x")" 403
check_eq "the query string is not part of the path" "$(code 'http://api.test/v1/x?q=/v1/chatty')" 200
check_eq "the explicit proxy form works too" \
	"$(code http://api.test/v1/x -x "http://$HOST_IP:3128")" 200
check_eq "the explicit proxy judges the URL's host" \
	"$(code "http://$FORBIDDEN/v1/x" -x "http://$HOST_IP:3128")" 403
check_eq "a rule's resolve pin is where the request goes, whatever the guest dialed" \
	"$(code "http://$FORBIDDEN/v1/x" -H 'Host: api.test')" 200
check_unseen "... the address the guest dialed saw nothing" "$FORBIDDEN"

# Bodies both ways, compared by checksum.
g "head -c 3000000 /dev/urandom >/tmp/up; md5sum </tmp/up | cut -d' ' -f1"
WANT=$OUT
g "curl -sS -m 30 --data-binary @/tmp/up http://api.test/v1/echo"
check_eq "a 3 MB request body arrives intact" "$OUT" "3000000 $WANT"
g "curl -sS -m 30 -H 'Transfer-Encoding: chunked' --data-binary @/tmp/up http://api.test/v1/echo"
check_eq "a chunked request body arrives intact" "$OUT" "3000000 $WANT"
g "curl -sS -m 30 http://api.test/v1/x/big | md5sum | cut -d' ' -f1"
check_eq "a 5 MB response arrives intact" "$OUT" \
	"$(head -c 5000000 /dev/zero | tr '\0' x | md5sum | cut -d' ' -f1)"
g "curl -sS -m 10 http://api.test/v1/x/chunked"
check_eq "a chunked response arrives" "$OUT" "one,two,three"
g "curl -sS -m 10 http://api.test/v1/x/close http://api.test/v1/x"
check_eq "a response that ends at close, then the next request on the same connection" \
	"$OUT" "until-closehello /v1/x from $API:80 host=api.test"

# Several requests on one connection are each judged on their own.
REQS='GET /v1/x HTTP/1.1\r\nHost: api.test\r\n\r\nGET /v1/chatty HTTP/1.1\r\nHost: api.test\r\n\r\nGET /v1/chat HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n'
g "(printf '$REQS'; sleep 3) | nc api.test 80 | grep '^HTTP/1.1'"
check_eq "pipelined requests: allowed, denied, allowed" "$(printf '%s' "$OUT" | tr -d '\r')" \
	$'HTTP/1.1 200 OK\nHTTP/1.1 403 Forbidden\nHTTP/1.1 200 OK'
check_unseen "... the denied one never reached the API" "GET /v1/chatty$"

# Malformed requests get 400 and a closed connection, and reach nobody.
MARK=$(wc -l <"$SEEN")
bad_request() {
	g "(printf '$2'; sleep 2) | nc api.test 80 | head -1"
	check_match "malformed: $1 gets 400" "$OUT" '^HTTP/1.1 400'
}
bad_request "bare LF" 'GET /v1/x HTTP/1.1\nHost: api.test\n\n'
bad_request "Content-Length and Transfer-Encoding" \
	'POST /v1/echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/chatty HTTP/1.1\r\nHost: api.test\r\n\r\n'
bad_request "two Content-Lengths" \
	'POST /v1/echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx'
bad_request "obs-fold" 'GET /v1/x HTTP/1.1\r\nHost: api.test\r\nX-A: a\r\n b\r\n\r\n'
bad_request "NUL in the Host header" 'GET /v1/x HTTP/1.1\r\nHost: api.test\000.evil\r\n\r\n'
bad_request "a Host port that is not the connection's" \
	'GET /v1/x HTTP/1.1\r\nHost: api.test:2200\r\n\r\n'
bad_request "not HTTP at all" 'hello there\r\n\r\n'
check_eq "malformed requests reached nobody" "$(tail -n +$((MARK + 1)) "$SEEN")" ""
check_match "... and are logged as 400" "$(last_log)" '"status":400'

# CONNECT: passed through only for a rule that allows an uninspected tunnel.
g "curl -sS -m 10 -p -x http://$HOST_IP:3128 http://tunnel.test:8443/tun"
check_eq "CONNECT to a tunnel rule passes through" "$OUT" \
	"hello /tun from $API:8443 host=tunnel.test:8443"
check_match "... logged as a connect" "$(grep '"kind":"connect"' "$PLOG" | tail -1)" \
	'"method":"CONNECT","scheme":"https","host":"tunnel.test","port":8443,"path":null,"decision":"allow","rule":"tunnel"'
check_eq "CONNECT under a rule with path and method limits is refused" \
	"$(code http://api.test:80/v1/x -p -x "http://$HOST_IP:3128")" 000
check_match "... with a 403" "$(last_log)" '"method":"CONNECT".*"status":403'

# Nothing but the proxy: raw TCP, UDP, ICMP and the host end's other ports.
g "echo hello | nc -w 3 $FORBIDDEN 2222; echo hello | nc -w 3 $API 2222; true"
check_unseen "raw TCP to another port reaches no listener" "^tcp "
g "echo hello | nc -u -w 2 $FORBIDDEN 5353; true"
check_unseen "UDP reaches no listener" "^udp "
g "ping -c 2 -W 2 $FORBIDDEN"
check "ICMP gets no answer" test "$RC" != 0
netlab_listen "$NS_SEEN" ip netns exec "smolvm-$ID" python3 "$NETLAB_LISTENER" "$NS_SEEN" \
	"tcp:$HOST_IP:9999" "udp:$HOST_IP:9998"
g "echo hello | nc -w 3 $HOST_IP 9999; echo hello | nc -u -w 2 $HOST_IP 9998; true"
check_unseen "the host end's other ports are out of reach" "^(tcp|udp) $HOST_IP"
g "curl -s -m 5 http://$HOST_IP:22/ -o /dev/null -w '%{http_code}'"
check_eq "the host end's SSH port is the proxy too, which refuses it" "$OUT" 403
check_eq "the host's loopback is refused through the explicit proxy" \
	"$(code http://127.0.0.1:2200/v1/x -x "http://$HOST_IP:3128")" 403
check_eq "a rule's pin decides the address: api.test:2200 is not the host's port 2200" \
	"$(code http://api.test:2200/v1/x)" 502
check_unseen "... the host's service saw nothing" "127\.0\.0\.1"

# full_internet still refuses the always-denied addresses.
set_policy '{"mode": "full_internet"}'
check_eq "full_internet: a private or reserved address is refused" \
	"$(code "http://$FORBIDDEN/v1/x")" 403
check_eq "full_internet: loopback is refused" \
	"$(code http://127.0.0.1:2200/v1/x -x "http://$HOST_IP:3128")" 403
check_eq "full_internet: an unresolvable name is a 502" "$(code http://api.test/v1/x)" 502

check_eq "no packet ever arrived for the forbidden address" "$(netlab_packets)" 0

# The proxy lives and dies with the sandbox.
PROXY=$(cat "$VM_DIR/proxy.pid")
proxy_running() { tr '\0' ' ' <"/proc/$PROXY/cmdline" 2>/dev/null | grep -q "__proxy $ID"; }
check "the proxy runs while the sandbox does" proxy_running
"$SMOLVM" stop --force "$NAME" >/dev/null 2>&1
check_fails "stop ends the proxy" proxy_running
check "rm --force removes the sandbox" "$SMOLVM" rm --force "$NAME"
exit 0
