#!/usr/bin/env bash
# e2e attack tests: the request tricks that the unit tests check in the
# parser, matcher and classifier (tests/unit/test_http.c, test_match.c,
# test_addr.c), sent on the wire from a real guest, so that the proxy is
# seen to use those checks where it counts. Each is refused and reaches
# none of the test's listeners (tests/netlab.sh):
#
#   198.51.100.10  the API (api.test, *.wild.test are pinned to it)
#   198.51.100.20  a forbidden target (also an "outside" DNS resolver)
#   127.0.0.1:2200, :80 services on the host's loopback
#   the resolver of /etc/resolv.conf, made the lab's own: it answers
#     loopback.*, metadata.*, private.*, forbidden.* and v6loopback.* with such addresses
source "$(dirname "$0")/../netlab.sh"

API=198.51.100.10
FORBIDDEN=198.51.100.20
NAME=attack-requests
netlab_start "$NAME"

netlab_up "$API" "$FORBIDDEN"
RESOLVER=$(netlab_resolver) || { fail "the lab takes the resolver's address"; exit 1; }
netlab_listen "$SEEN" "http:$API:80" "http:$FORBIDDEN:80" "udp:$FORBIDDEN:53" \
	"tcp:$FORBIDDEN:53" "http:127.0.0.1:2200" "http:127.0.0.1:80" "dns:$RESOLVER:53" ||
	{ fail "listeners start"; exit 1; }
ok "listeners start"

t_create "create a sandbox" --name "$NAME"
PROXY=http://$HOST_IP:3128
set_policy '{"mode": "allowlist", "rules": [
 {"id": "chat", "scheme": "http", "host": "api.test", "paths": ["/v1/chat"],
  "resolve": ["'"$API"'"]},
 {"id": "wild", "scheme": "http", "host": "*.wild.test", "resolve": ["'"$API"'"]}
]}'
since() { tail -n +$((MARK + 1)) "$SEEN"; }
# statuses HOST PATH...: for each PATH, a raw GET to HOST:80 on a connection
# of its own; OUT gets one "PATH STATUS" line each.
statuses() {
	local host=$1 p script=; shift
	for p in "$@"; do
		script+="printf '%s ' '$p'; (printf 'GET %s HTTP/1.1\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n' '$p' '$host'; sleep 1) | nc $host 80 | head -1 | cut -d' ' -f2;"
	done
	g "$script"
}
# proxy_statuses URL...: the same for raw GETs of absolute URLs to the
# explicit proxy (curl would tidy some of them), with the URL's authority as Host.
proxy_statuses() {
	local u a script=
	for u in "$@"; do
		a=${u#http://}
		a=${a%%/*}
		script+="printf '%s ' '$u'; (printf 'GET %s HTTP/1.1\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n' '$u' '$a'; sleep 1) | nc $HOST_IP 3128 | head -1 | cut -d' ' -f2;"
	done
	g "$script"
}
# want STATUS ITEM...: the OUT that statuses would give if every ITEM got STATUS.
want() {
	local st=$1 i out=; shift
	for i in "$@"; do out+="$i $st"$'\n'; done
	printf '%s' "${out%$'\n'}"
}

# --- paths ----------------------------------------------------------------------------
check_eq "the rule's own path passes" "$(code http://api.test/v1/chat/x)" 200
TRICKS=('/v1/chat/../admin' '/v1/chat/%2e%2e/admin' '/v1/chat/%2E%2e/admin' '/v1/chat/.%2e/admin'
	'/v1/chat%2f..%2fadmin' '/v1/chat%2Fx' '/v1/chat/%5c..%5cadmin' '/v1/chat\..\admin'
	'/v1/chat//x' '//v1/chat' '/v1//chat' '/v1/chat/%252e%252e/admin' '/v1/chat/%25252e'
	'/v1/chat/%c0%ae%c0%ae/admin' '/v1/chat/%ef%bc%8e%ef%bc%8e/x' '/v1/chatty' '/v1/chat.json'
	'/v1/chat%00')
MARK=$(wc -l <"$SEEN")
statuses api.test "${TRICKS[@]}"
check_eq "path tricks against a prefix are all refused (403)" "$OUT" "$(want 403 "${TRICKS[@]}")"
check_eq "... and none reached the API" "$(since)" ""

# --- host names -------------------------------------------------------------------------
MARK=$(wc -l <"$SEEN")
statuses API.TEST /v1/chat
check_eq "an allowed name in capitals is the same host" "$OUT" "/v1/chat 200"
statuses api.test. /v1/chat
check_eq "... and with a trailing dot" "$OUT" "/v1/chat 200"
check_eq "... both reached the API" "$(since | grep -c "GET /v1/chat$")" 2
MARK=$(wc -l <"$SEEN")
LOOKALIKES=(evilapi.test api.test.evil.test xapi.test api-test api.tes api.testx wild.test
	evilwild.test a.wild.test.evil.test)
URLS=()
for h in "${LOOKALIKES[@]}"; do URLS+=("http://$h/v1/chat"); done
proxy_statuses "${URLS[@]}"
check_eq "look-alike prefixes and suffixes of allowed names are refused" "$OUT" \
	"$(want 403 "${URLS[@]}")"
proxy_statuses http://a..wild.test/v1/chat http://.wild.test/v1/chat
check_eq "... and names with empty labels" "$(sed -E 's/ 40[03]$/ refused/' <<<"$OUT")" \
	"$(want refused http://a..wild.test/v1/chat http://.wild.test/v1/chat)"
check_eq "... and reached nobody" "$(since)" ""
check_eq "a strict subdomain of a *.domain rule passes" "$(code http://a.wild.test/v1/x)" 200

# --- IP targets -------------------------------------------------------------------------
MARK=$(wc -l <"$SEEN")
SPELLINGS=(127.0.0.1 2130706433 0x7f000001 0177.0.0.1 127.1 0x7f.1 '[::1]' '[::ffff:127.0.0.1]'
	'[::ffff:7f00:1]' 169.254.169.254 '[fd00:ec2::254]' 0.0.0.0 "$FORBIDDEN" 3325256724 "$HOST_IP")
URLS=()
for a in "${SPELLINGS[@]}"; do URLS+=("http://$a:2200/v1/chat"); done
proxy_statuses "${URLS[@]}"
check_eq "every spelling of a denied address is refused" "$OUT" "$(want 403 "${URLS[@]}")"
g "curl -s -o /dev/null -m 10 -w '%{http_code}' -x $PROXY http://$HOST_IP:3128/"
check_eq "the proxy's own address is refused" "$OUT" 403
REBIND=(http://loopback.rebind.test/v1/chat http://metadata.rebind.test/v1/chat
	http://private.rebind.test/v1/chat http://forbidden.rebind.test/v1/chat
	http://v6loopback.rebind.test/v1/chat)
set_policy '{"mode": "allowlist", "rules": [{"id": "rebind", "scheme": "http", "host": "*.rebind.test"}]}'
proxy_statuses "${REBIND[@]}"
check_eq "a rule for a name does not open the denied addresses it resolves to" "$OUT" \
	"$(want 403 "${REBIND[@]}")"
check_match "... the proxy did resolve them" "$(grep -c '^dns .* [a-z0-9]*\.rebind\.test$' "$SEEN")" \
	'^([5-9]|[1-9][0-9]+)$'
check_match "... and says why" "$(grep '"host":"loopback.rebind.test"' "$PLOG" | tail -1)" \
	'"decision":"deny","rule":null,"reason":"[^"]*loopback[^"]*","status":403'
set_policy '{"mode": "full_internet"}'
proxy_statuses "${REBIND[@]}"
check_eq "full_internet: names that resolve to denied addresses are refused" "$OUT" \
	"$(want 403 "${REBIND[@]}")"
check_match "... metadata named as such" "$(grep '"host":"metadata.rebind.test"' "$PLOG" | tail -1)" \
	'"reason":"[^"]*metadata[^"]*","status":403'
check_eq "... and no address or name reached an HTTP listener" "$(since | grep -v '^dns ')" ""

# --- malformed requests --------------------------------------------------------------------
set_policy '{"mode": "allowlist", "rules": [
 {"id": "chat", "scheme": "http", "host": "api.test", "paths": ["/v1/chat"], "methods": ["GET", "POST"],
  "resolve": ["'"$API"'"]}]}'
MARK=$(wc -l <"$SEEN")
bad_request() {
	g "(printf '$2'; sleep 2) | nc api.test 80 | head -1"
	check_match "malformed: $1 gets 400" "$OUT" '^HTTP/1.1 400'
}
bad_request "a bare CR in a header" 'GET /v1/chat HTTP/1.1\r\nHost: api.test\r\nX-A: a\rb\r\n\r\n'
bad_request "a bare LF inside the Host" 'GET /v1/chat HTTP/1.1\r\nHost: api.test\nHost: evil.test\r\n\r\n'
bad_request "a CR in the Host" 'GET /v1/chat HTTP/1.1\r\nHost: api.test\revil.test\r\n\r\n'
bad_request "NUL in a header" 'GET /v1/chat HTTP/1.1\r\nHost: api.test\r\nX-A: a\000b\r\n\r\n'
bad_request "two Hosts" 'GET /v1/chat HTTP/1.1\r\nHost: api.test\r\nHost: evil.test\r\n\r\n'
bad_request "a Transfer-Encoding other than chunked" \
	'POST /v1/chat HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'
bad_request "a space before a header's colon" \
	'POST /v1/chat HTTP/1.1\r\nHost: api.test\r\nContent-Length : 5\r\n\r\nhello'
bad_request "an absolute URL on a redirected connection" \
	'GET http://api.test/v1/chat HTTP/1.1\r\nHost: evil.test\r\n\r\n'
g "(printf 'GET http://api.test/v1/chat HTTP/1.1\r\nHost: evil.test\r\n\r\n'; sleep 2) |
	nc $HOST_IP 3128 | head -1"
check_match "an absolute URL whose Host names another host, to the explicit proxy, gets 400" "$OUT" '^HTTP/1.1 400'
check_match "... which says why" "$(last_log)" '"reason":"the Host header does not match the URL","status":400'
check_eq "malformed requests reached nobody" "$(since)" ""

# --- escaping the proxy: DNS to an outside resolver --------------------------------------
g "nslookup api.test $FORBIDDEN"
check_match "DNS to an outside resolver is answered by the sandbox's own" "$OUT" "198\.18\.0\.1"
g "echo x | nc -w 3 $FORBIDDEN 53; true"
check_unseen "... and neither UDP nor TCP port 53 outside saw anything" "^(udp|tcp) $FORBIDDEN"

check "rm --force removes the sandbox" "$SMOLVM" rm --force "$NAME"
exit 0
