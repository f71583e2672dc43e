#!/usr/bin/env bash
# e2e attack tests: protocol switches and redirects, from a real guest with
# real curl (and raw requests through the guest's nc), in a network of the
# test's own (tests/netlab.sh):
#
#   - Upgrade: h2c is never passed on: curl --http2 (the h2c upgrade) gets
#     HTTP/1.1 from upstream, which never saw the Upgrade; HTTP/2 prior
#     knowledge is a 400; inside intercepted TLS the same holds, and ALPN
#     never agrees on h2; an upstream that switches protocols unasked is a 502.
#   - A websocket is refused unless the rule says "websocket": true (plain,
#     through the explicit proxy and inside intercepted TLS); when it
#     does, the handshake and a frame each way work.
#   - Redirects are never followed by the proxy: a 301/302 reaches the guest
#     as upstream sent it, the proxy never dials the Location, and curl -L's
#     next request is judged on its own.
#
#   198.51.100.10  the API (api.test, ws.test: HTTP on 80, HTTPS on 443)
#   198.51.100.20  a forbidden target; no packet may ever arrive there
source "$(dirname "$0")/../netlab.sh"

API=198.51.100.10
FORBIDDEN=198.51.100.20
NAME=attack-protocols
netlab_start "$NAME"

netlab_upstream_ca api api.test ws.test
netlab_up "$API" "$FORBIDDEN"
netlab_count "$FORBIDDEN"
netlab_listen "$SEEN" "http:$API:80" "https:$API:443:$PKI/api.pem:$PKI/api.key" \
	"http:$FORBIDDEN:80" || { fail "listeners start"; exit 1; }
ok "listeners start"

t_create "create a sandbox" --name "$NAME"
set_policy '{"mode": "allowlist", "rules": [
 {"id": "api", "scheme": "http", "host": "api.test", "paths": ["/v1/", "/ws"],
  "resolve": ["'"$API"'"]},
 {"id": "api-tls", "scheme": "https", "host": "api.test", "paths": ["/v1/", "/ws"],
  "resolve": ["'"$API"'"]},
 {"id": "ws-tls", "scheme": "https", "host": "ws.test", "paths": ["/ws"], "websocket": true,
  "resolve": ["'"$API"'"]},
 {"id": "ws", "scheme": "http", "host": "ws.test", "paths": ["/ws"], "websocket": true,
  "resolve": ["'"$API"'"]}
]}'
# since MARK: what the listeners saw after line MARK of $SEEN
since() { tail -n +$((MARK + 1)) "$SEEN"; }
# raw REQUEST [SECONDS]: REQUEST (printf format) sent by nc from the guest to
# api.test:80; OUT is the answer's printable text.
raw() {
	g "(printf '$1'; sleep ${2:-2}) | nc api.test 80 | tr -cd '\\11\\12\\15\\40-\\176'"
}

# --- h2c ----------------------------------------------------------------------------
MARK=$(wc -l <"$SEEN")
g "curl -sS -m 10 --http2 -w '%{http_version} %{http_code}\n' http://api.test/v1/headers"
check_match "curl --http2 (h2c upgrade) is answered in HTTP/1.1" "$(tail -1 <<<"$OUT")" '^1\.1 200$'
check_match "... upstream got the request" "$OUT" '^Host: api\.test$'
check_fails "... without the Upgrade" grep -qi '^upgrade:' <<<"$OUT"
check_fails "... or the HTTP2-Settings" grep -qi '^http2-settings:' <<<"$OUT"
check_fails "... or a Connection naming either" grep -Eqi '^connection:.*(upgrade|http2-settings)' <<<"$OUT"
raw 'GET /v1/headers HTTP/1.1\r\nHost: api.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n'
check_match "a raw h2c upgrade gets 200, not 101" "$(head -1 <<<"$OUT")" '^HTTP/1.1 200 OK'
check_fails "... and upstream never saw the Upgrade" grep -qi '^upgrade:' <<<"$OUT"

g "curl -sS -m 10 --http2-prior-knowledge -o /dev/null -w '%{http_code}' http://api.test/v1/x"
check "HTTP/2 with prior knowledge fails in the guest" test "$RC" != 0
check_match "... the proxy answered 400: not HTTP/1.x" "$(last_log)" \
	'"decision":"deny".*"reason":"not HTTP/1.0 or HTTP/1.1","status":400'
raw 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
check_match "the raw HTTP/2 preface gets a 400" "$(head -1 <<<"$OUT")" '^HTTP/1.1 400'

g "curl -sS -m 10 --http2 -o /dev/null -w '%{http_code}' http://api.test/v1/upgrade-anyway"
check_eq "an upstream that switches to h2c unasked is a 502" "$OUT" 502
check_match "... logged with the reason" "$(last_log)" \
	'"path":"/v1/upgrade-anyway","decision":"allow".*"reason":"upstream switched protocols unasked","status":502'
check_eq "upstream saw only the plain-HTTP requests" "$(since | sort -u)" \
	"http $API:80 GET /v1/headers
http $API:80 GET /v1/upgrade-anyway"

g "curl -sS -m 10 --http2 -x http://$HOST_IP:3128 http://api.test/v1/headers"
check_match "through the explicit proxy too, upstream got the request" "$OUT" '^Host: api\.test$'
check_fails "... without the Upgrade" grep -qi '^upgrade:' <<<"$OUT"

# Inside intercepted TLS.
MARK=$(wc -l <"$SEEN")
g "curl -sS -m 20 --http2 -w '%{http_version} %{http_code}\n' https://api.test/v1/headers"
check_match "HTTPS: curl --http2 gets HTTP/1.1 (ALPN never agrees on h2)" "$(tail -1 <<<"$OUT")" \
	'^1\.1 200$'
g "curl -sS -m 20 -v --http2 -o /dev/null https://api.test/v1/headers 2>&1 | grep -i 'ALPN'"
check_match "... curl offered h2 and the proxy chose http/1.1" "$OUT" \
	'ALPN.*(server accepted|: server accepted to use) http/1.1'
g "curl -sS -m 20 --http1.1 -H 'Connection: Upgrade, HTTP2-Settings' -H 'Upgrade: h2c' \
	-H 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA' -w '%{http_version} %{http_code}\n' \
	https://api.test/v1/headers"
check_match "HTTPS: an h2c upgrade inside TLS is answered in HTTP/1.1" "$(tail -1 <<<"$OUT")" \
	'^1\.1 200$'
check_fails "... upstream never saw the Upgrade" grep -qi '^upgrade:' <<<"$OUT"
check_fails "... or the HTTP2-Settings" grep -qi '^http2-settings:' <<<"$OUT"
g "curl -sS -m 20 --http2-prior-knowledge -w '%{http_version} %{http_code}\n' https://api.test/v1/headers"
check_match "HTTPS: prior knowledge over TLS still ends up in HTTP/1.1" "$(tail -1 <<<"$OUT")" \
	'^1\.1 200$'
g "curl -sS -m 20 --http1.1 -o /dev/null -w '%{http_code}' https://api.test/v1/upgrade-anyway"
check_eq "HTTPS: an upstream that switches protocols unasked is a 502" "$OUT" 502
check_eq "HTTPS: upstream saw only HTTP/1.1 requests" "$(since | sort -u)" \
	"http $API:443 GET /v1/headers
http $API:443 GET /v1/upgrade-anyway"

# --- websockets ---------------------------------------------------------------------------
# The key and the masked "Hello" frame of RFC 6455's examples.
WS_KEY=dGhlIHNhbXBsZSBub25jZQ==
WS_ACCEPT='s3pPLMBiTxaQ9kYGzzhZRbK\+xOo='	# as a regex
HELLO='\201\205\067\372\041\075\177\237\115\121\130'
ws_hello() { # HOST PATH
	printf 'GET %s HTTP/1.1\\r\\nHost: %s\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: %s\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n' \
		"$2" "$1" "$WS_KEY"
}
MARK=$(wc -l <"$SEEN")
raw "$(ws_hello api.test /ws)$HELLO" 3
check_match "a websocket under a rule without websocket: true is refused" "$(head -1 <<<"$OUT")" \
	'^HTTP/1.1 403'
check_match "... logged with the reason" "$(last_log)" \
	'"host":"api.test".*"path":"/ws","decision":"deny".*websocket.*"status":403'
check_eq "... and reached nobody" "$(since)" ""

g "(printf '$(ws_hello ws.test /ws)'; sleep 1; printf '$HELLO'; sleep 2) | nc ws.test 80 |
	tr -cd '\\11\\12\\15\\40-\\176'"
check_match "under a rule with websocket: true the handshake completes" "$(head -1 <<<"$OUT")" \
	'^HTTP/1.1 101 '
check_match "... with upstream's accept key" "$OUT" "Sec-WebSocket-Accept: $WS_ACCEPT"
check_match "... the guest's frame reached upstream" "$(since)" "^ws $API:80 Hello$"
check_match "... and upstream's frame came back" "$OUT" 'echo: Hello$'
check_match "... logged as allowed with status 101" "$(last_log)" \
	'"host":"ws.test".*"path":"/ws","decision":"allow","rule":"ws".*"status":101'
g "(printf '$(ws_hello ws.test /other)'; sleep 2) | nc ws.test 80 | head -1"
check_match "... but not on a path the rule does not list" "$OUT" '^HTTP/1.1 403'
g "(printf '$(ws_hello ws.test /ws/wrong)'; sleep 2) | nc ws.test 80 | head -1"
check_match "an upstream that answers a websocket with another protocol is a 502" "$OUT" \
	'^HTTP/1.1 502'
check_match "... logged with the reason" "$(last_log)" \
	'"path":"/ws/wrong".*"reason":"upstream switched protocols unasked","status":502'

# Through the explicit proxy, and inside intercepted TLS (curl does the handshake there).
MARK=$(wc -l <"$SEEN")
g "(printf '$(ws_hello api.test http://api.test/ws)'; sleep 2) | nc $HOST_IP 3128 | head -1"
check_match "explicit proxy: a websocket without websocket: true is refused" "$OUT" '^HTTP/1.1 403'
g "(printf '$(ws_hello ws.test http://ws.test/ws)'; sleep 1; printf '$HELLO'; sleep 2) |
	nc $HOST_IP 3128 | tr -cd '\\11\\12\\15\\40-\\176'"
check_match "explicit proxy: under websocket: true the handshake completes" "$(head -1 <<<"$OUT")" \
	'^HTTP/1.1 101 '
check_match "... and a frame goes each way" "$OUT" 'echo: Hello$'
WS_CURL="curl -s -m 5 --http1.1 -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' \
	-H 'Upgrade: websocket' -H 'Sec-WebSocket-Key: $WS_KEY' -H 'Sec-WebSocket-Version: 13'"
g "$WS_CURL https://api.test/ws"
check_eq "HTTPS: a websocket without websocket: true is refused inside TLS" "$OUT" 403
check_match "... logged with the reason" "$(last_log)" \
	'"scheme":"https","host":"api.test".*"path":"/ws","decision":"deny".*websocket.*"status":403'
g "$WS_CURL https://ws.test/ws"
check_eq "HTTPS: under websocket: true the handshake completes inside TLS" "$OUT" 101
check_eq "... and only the allowed handshakes reached upstream" "$(since | grep -c 'GET /ws$')" 2

# --- redirects ----------------------------------------------------------------------------
MARK=$(wc -l <"$SEEN")
g "curl -sS -m 10 -D - -o /dev/null http://api.test/v1/redirect/other | tr -d '\r'"
check_match "a 302 to another host reaches the guest" "$(head -1 <<<"$OUT")" '^HTTP/1.1 302 '
check_match "... with upstream's Location unchanged" "$OUT" '^Location: http://other\.test/v1/landing$'
check_match "... logged once, as the 302 it was" "$(last_log)" \
	'"path":"/v1/redirect/other","decision":"allow","rule":"api".*"status":302'
check_eq "... and the proxy went nowhere else" "$(since)" "http $API:80 GET /v1/redirect/other"
LINES=$(wc -l <"$PLOG")
g "curl -sS -m 10 -L -o /dev/null -w '%{http_code} %{num_redirects}' http://api.test/v1/redirect/other"
check_eq "curl -L: the request to the new host is judged on its own and refused" "$OUT" "403 1"
check_eq "... two decisions: the 302 allowed, then other.test denied" \
	"$(tail -n +$((LINES + 1)) "$PLOG" | grep '"kind":"http"' |
		sed -E 's/.*"host":"([^"]*)".*"decision":"([a-z]*)".*/\1 \2/')" \
	"api.test allow
other.test deny"
check_fails "... the landing page was never asked for" seen "GET /v1/landing"

g "curl -sS -m 10 -L -o /dev/null -w '%{http_code}' http://api.test/v1/redirect/forbidden"
check_eq "curl -L: a 301 to a forbidden address is refused" "$OUT" 403
check_match "... judged as that address" "$(last_log)" \
	"\"host\":\"$FORBIDDEN\".*\"decision\":\"deny\".*\"status\":403"
g "curl -sS -m 10 -L http://api.test/v1/redirect/same"
check_eq "curl -L: a redirect to an allowed path is followed by curl, not the proxy" "$OUT" \
	"hello /v1/x/after-redirect from $API:80 host=api.test"
check_match "... two requests reached upstream, each judged" \
	"$(since | grep -c -e 'GET /v1/redirect/same$' -e 'GET /v1/x/after-redirect$')" '^2$'

MARK=$(wc -l <"$SEEN")
g "curl -sS -m 20 -D - -o /dev/null https://api.test/v1/redirect/other | tr -d '\r'"
check_match "HTTPS: the 302 reaches the guest with its Location" "$OUT" \
	'^Location: http://other\.test/v1/landing$'
check_eq "... and the proxy went nowhere else" "$(since)" "http $API:443 GET /v1/redirect/other"
check_eq "no packet ever arrived for the forbidden address" "$(netlab_packets)" 0

check "rm --force removes the sandbox" "$SMOLVM" rm --force "$NAME"
exit 0
