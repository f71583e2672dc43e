#!/usr/bin/env bash
# e2e: HTTPS through the egress proxy on a real guest with real curl: TLS
# intercepted with a leaf from the install's CA (which the image trusts),
# each request inside judged like plain HTTP, upstream verified against a
# test CA given to the proxy as $SMOLVM_HOME/upstream-ca.pem, and TLS passed
# through unread only for a rule that allows an uninspected tunnel. In a
# network of the test's own (tests/netlab.sh):
#
#   198.51.100.10  the API: a certificate for api.test and other.test from the test CA
#   198.51.100.30  a server with a self-signed certificate (selfsigned.test)
source "$(dirname "$0")/../netlab.sh"

API=198.51.100.10
SELF=198.51.100.30
NAME=https-e2e
netlab_start "$NAME"

# --- the test's own CA and server certificates ---------------------------------
netlab_ca "$PKI" && netlab_cert "$PKI" api api.test other.test &&
	netlab_ec_key "$PKI" "$PKI/self.key" &&
	netlab_openssl "$PKI" req -x509 -new -key "$PKI/self.key" -out "$PKI/self.pem" -days 2 \
		-subj "/CN=selfsigned.test" -addext "subjectAltName=DNS:selfsigned.test,DNS:tunnel.test"
check "the test CA and certificates are made" test -s "$PKI/self.pem"
cp "$PKI/ca.pem" "$SMOLVM_HOME/upstream-ca.pem"

netlab_up "$API" "$SELF"
netlab_listen "$SEEN" python3 "$TESTS_DIR/e2e/https_upstream.py" "$SEEN" \
	"$API:443:$PKI/api.pem:$PKI/api.key" "$SELF:443:$PKI/self.pem:$PKI/self.key" ||
	{ fail "the HTTPS upstreams start"; exit 1; }
ok "the HTTPS upstreams start"

t_create "create a sandbox" --name "$NAME"
PROXY=http://$HOST_IP:3128
# last_log_of PATTERN: the last decision line matching PATTERN (grep -E)
last_log_of() { grep -E -- "$1" "$PLOG" | tail -1; }

# --- mode none: TLS is intercepted so that the refusal is readable -----------------
check_eq "mode none: HTTPS gets a 403 inside TLS" \
	"$(code https://api.test/v1/chat --resolve "api.test:443:$API")" 403
check_match "... logged as https with the reason" "$(last_log)" \
	'"kind":"http","method":"GET","scheme":"https","host":"api.test","port":443,"path":"/v1/chat","decision":"deny".*"reason":"policy mode is none: no outbound traffic","status":403'
check_unseen "... and reached nobody" "^https "

set_policy '{"mode": "allowlist", "rules": [
 {"id": "api", "scheme": "https", "host": "api.test", "paths": ["/v1/chat"],
  "methods": ["GET", "POST"], "resolve": ["'"$API"'"]},
 {"id": "other", "scheme": "https", "host": "other.test", "paths": ["/v1/"],
  "resolve": ["'"$API"'"]},
 {"id": "wrongname", "scheme": "https", "host": "wrongname.test", "resolve": ["'"$API"'"]},
 {"id": "selfsigned", "scheme": "https", "host": "selfsigned.test", "resolve": ["'"$SELF"'"]},
 {"id": "tunnel", "scheme": "https", "host": "tunnel.test", "methods": ["*"],
  "websocket": true, "resolve": ["'"$SELF"'"]}
]}'

# --- interception -----------------------------------------------------------------
g "curl -sS -m 20 https://api.test/v1/chat"
check_eq "an allowed HTTPS request goes through, curl trusting the proxy's leaf without -k" \
	"$OUT" "hello /v1/chat from $API:443 host=api.test sni=api.test"
check "... and reached the API once" test "$(grep -c "^https $API:443 GET /v1/chat " "$SEEN")" = 1
LINE=$(last_log_of '"path":"/v1/chat"')
check_match "... logged with scheme https, path and rule" "$LINE" \
	'"sandbox":"'"$ID"'","kind":"http","method":"GET","scheme":"https","host":"api.test","port":443,"path":"/v1/chat","decision":"allow","rule":"api"'
check_match "... with status, bytes and address" "$LINE" \
	'"status":200,"bytes_up":0,"bytes_down":[1-9][0-9]*,"address":"198\.51\.100\.10"'
g "curl -sS -m 20 -v -o /dev/null https://api.test/v1/chat 2>&1 | grep -i 'issuer:'"
check_match "the guest sees a leaf issued by the install's CA" "$OUT" \
	'issuer: O ?= ?smolvm; CN ?= ?smolvm egress proxy CA [0-9a-f]{8}'
FP=$(openssl x509 -in "$SMOLVM_HOME/keys/ca.pem" -noout -fingerprint -sha256 |
	sed 's/.*=//; s/://g' | tr A-F a-f)
check_match "... the CA the image was built with" "$(cat "$SMOLVM_HOME/images/tiny/manifest.json")" \
	"\"proxy_ca\":[[:space:]]*\"sha256:$FP\""

check_eq "/v1/chatty is refused inside TLS" "$(code https://api.test/v1/chatty)" 403
check_match "... logged with the reason" "$(last_log)" \
	'"scheme":"https","host":"api.test","port":443,"path":"/v1/chatty","decision":"deny","rule":null,"reason":"no rule for this host allows this path","status":403'
check_unseen "... and never reached the API" "GET /v1/chatty "
g "curl -sS -m 20 --data-binary hello https://api.test/v1/chat/completions"
check_eq "a POST under the rule's path goes through with its body" "$OUT" \
	"hello /v1/chat/completions from $API:443 host=api.test sni=api.test body=5"
check_eq "a method the rule does not list is refused" \
	"$(code https://api.test/v1/chat -X DELETE)" 403
g "curl -s -m 20 -w '%{http_code} %{num_connects}\n' -o /dev/null https://api.test/v1/chat \
	-o /dev/null https://api.test/v1/chatty -o /dev/null https://api.test/v1/chat/x"
check_eq "requests on one kept-alive TLS connection are each judged" "$OUT" $'200 1\n403 0\n200 0'

# --- the explicit proxy: CONNECT, then interception -------------------------------
g "curl -sS -m 20 -x $PROXY https://api.test/v1/chat"
check_eq "through CONNECT: an allowed request goes through" "$OUT" \
	"hello /v1/chat from $API:443 host=api.test sni=api.test"
check_match "... the CONNECT is logged as intercepted" \
	"$(last_log_of '"kind":"connect"')" \
	'"method":"CONNECT","scheme":"https","host":"api.test","port":443,"path":null,"decision":"allow","rule":"api","reason":"intercepted: each request inside is judged on its own","status":200'
check_eq "through CONNECT: /v1/chatty is refused inside TLS" \
	"$(code https://api.test/v1/chatty -x "$PROXY")" 403
check_eq "CONNECT to a host no https rule names is refused" \
	"$(code https://nowhere.test/ -x "$PROXY")" 000
check_match "... with a 403" "$(last_log)" '"method":"CONNECT","scheme":"https","host":"nowhere.test".*"status":403'

# --- the hosts must agree: CONNECT, SNI, Host, the request target -----------------
MARK=$(wc -l <"$SEEN")
check_eq "CONNECT other.test with SNI api.test is refused" \
	"$(code https://api.test/v1/chat -x "$PROXY" --connect-to api.test:443:other.test:443)" 000
check_match "... logged as a deny naming the server name" "$(last_log)" \
	'"kind":"connect","method":"CONNECT","scheme":"https","host":"other.test".*"decision":"deny".*"reason":"the TLS server name \(SNI\) api.test is not the host the connection is for","status":400'
check_eq "an inner Host header naming another host is refused" \
	"$(code https://api.test/v1/chat -H 'Host: other.test')" 400
check_match "... logged with the reason" "$(last_log)" \
	'"host":"other.test".*"decision":"deny".*"reason":"the Host header names another host than the TLS connection is for","status":400'
check_eq "through CONNECT too" \
	"$(code https://api.test/v1/chat -x "$PROXY" -H 'Host: other.test')" 400
check_eq "an absolute URL naming another host inside TLS is refused" \
	"$(code https://api.test/ --request-target https://other.test/v1/x)" 400
check_eq "the refused requests reached nobody" "$(tail -n +$((MARK + 1)) "$SEEN")" ""
g "curl -sS -m 20 https://other.test/v1/x"
check_eq "... while other.test itself is fine" "$OUT" \
	"hello /v1/x from $API:443 host=other.test sni=other.test"

# --- upstream must verify -----------------------------------------------------------
MARK=$(wc -l <"$SEEN")
check_eq "an upstream with a self-signed certificate is a 502" \
	"$(code https://selfsigned.test/)" 502
check_match "... logged as an error with the verification failure" "$(last_log)" \
	'"host":"selfsigned.test".*"decision":"error","rule":"selfsigned","reason":"the upstream certificate does not verify: self-signed certificate","status":502'
check_eq "an upstream whose certificate is for other names is a 502" \
	"$(code https://wrongname.test/)" 502
check_match "... logged with the name mismatch" "$(last_log)" \
	'"host":"wrongname.test".*"decision":"error","rule":"wrongname","reason":"the upstream certificate does not verify: hostname mismatch","status":502'
check_eq "... and no request was passed to either" \
	"$(tail -n +$((MARK + 1)) "$SEEN" | grep '^https ')" ""

# --- passthrough, only for a rule that allows an uninspected tunnel ---------------
g "curl -sS -m 20 https://tunnel.test/anything 2>&1"
check_match "a tunnel rule passes TLS through: the guest sees upstream's own certificate" \
	"$OUT" "SSL certificate problem: self-signed certificate"
g "curl -sS -m 20 -k https://tunnel.test/anything"
check_eq "... and talks to upstream itself" "$OUT" \
	"hello /anything from $SELF:443 host=tunnel.test sni=tunnel.test"
check_match "... logged as a tls connection under the rule" "$(last_log)" \
	'"kind":"tls","method":"","scheme":"https","host":"tunnel.test","port":443,"path":null,"decision":"allow","rule":"tunnel"'
check_eq "... through CONNECT too" \
	"$(code https://tunnel.test/anything -k -x "$PROXY")" 200
check_match "... logged as a connect under the rule" "$(last_log)" \
	'"kind":"connect","method":"CONNECT","scheme":"https","host":"tunnel.test","port":443,"path":null,"decision":"allow","rule":"tunnel"'

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

check "rm --force removes the sandbox" "$SMOLVM" rm --force "$NAME"
exit 0
