#!/usr/bin/env bash
# screen: the network pane driven in tmux at 80x24 against a real guest and
# its real egress proxy: the pane opens from the list; a request the guest
# makes under mode none shows as denied, one key offers the narrowest rule
# for it, Enter writes it, and the same request is then judged by that rule;
# rules are added through the form (a bad one names the field and writes
# nothing), full internet goes on and off after asking, a rule is deleted,
# the log is filtered, a policy file that does not load shows why, and the
# prefix key opens the pane from a shell; a rule edited in the pane lets
# the guest's refused request through to a real upstream.
#
# The whole test runs in a network namespace of its own (unshare -n), so the
# proxy's upstream lookups for the test's made-up names go nowhere.
if [ -z "${SMOLVM_NETPANE_UNSHARED:-}" ]; then
	export SMOLVM_NETPANE_UNSHARED=1
	exec unshare -n -- bash "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
t_setup_home
ip link set lo up
# The upstream for the edit test: a listener on this namespace's loopback,
# which a rule reaches through its resolve pin.
SEEN=$SMOLVM_HOME/seen.log
python3 "$TESTS_DIR/e2e/egress_listener.py" "$SEEN" http:127.0.0.1:8080 &
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; tm_stop; t_cleanup_home' EXIT
wait_until 10 grep -qx ready "$SEEN" || { fail "the upstream listener starts"; exit 1; }

# The screen line holding TEXT (first match).
tm_line() { tm_screen | grep -F -- "$1" | head -1; }
line_has() { tm_line "$1" | grep -Eq -- "$2"; }
wait_line() { wait_until "$1" line_has "$2" "$3"; }
tm_lacks() { ! tm_has "$1"; }
expect_screen() {
	if tm_wait "$2" "$3"; then ok "$1"
	else fail "$1"; tm_screen | sed 's/^/#   /'; fi
}
expect_line() {
	if wait_line "$2" "$3" "$4"; then ok "$1"
	else fail "$1"; tm_screen | sed 's/^/#   /'; fi
}
expect_gone() {
	if wait_until "$2" tm_lacks "$3"; then ok "$1"
	else fail "$1"; tm_screen | sed 's/^/#   /'; fi
}

NAME=netpane
t_create "create a sandbox" --name "$NAME"
POLICY=$VM_DIR/policy.json

# A request from the guest, sent to its proxy explicitly (an address the
# test knows, whatever the guest's resolver answers).
blocked() {
	"$SMOLVM" exec "$NAME" -- curl -s -o /dev/null -m 10 -w '%{http_code}' \
		-x "http://$HOST_IP:3128" http://blocked.test/x
}
# The same request without naming the proxy: resolved by the guest's
# resolver and redirected to the proxy, as an agent's would be.
blocked_direct() {
	"$SMOLVM" exec "$NAME" -- curl -s -o /dev/null -m 10 -w '%{http_code}' http://blocked.test/x
}
policy_has() { compact 2>/dev/null | grep -Eq -- "$1"; }
compact() { tr -d ' \n\t' <"$POLICY"; }
log_has() { grep -Eq -- "$1" "$PLOG" 2>/dev/null; }
sum() { md5sum "$POLICY" 2>/dev/null | cut -d' ' -f1; }

tm_start 80 24 "TERM=tmux-256color $SMOLVM tui; echo TUI-EXIT=\$?"
expect_screen "the list shows the sandbox" 10 "$NAME"
check_match "the footer names the network key" "$(tm_screen | sed -n 24p)" "w network"

# --- the pane -------------------------------------------------------------------
tm_keys w
expect_screen "w opens the network pane" 5 "Network of $NAME ($ID)"
check_match "mode none without a policy file" "$(tm_line "Network of")" "mode none"
check_match "the proxy is named" "$(tm_line "Network of")" "proxy pid [0-9]+"
check_match "no rules yet" "$(tm_screen)" "No rules\."
check_match "no ingress" "$(tm_screen)" "Ingress: none"
check_match "the tab names the pane" "$(tm_screen | sed -n 1p)" "network $NAME"
check_match "the footer shows the pane's keys" "$(tm_screen | sed -n 24p)" \
	"a allow .*n add .*e edit .*d delete .*f internet .*/ filter"

# --- a denied request, allowed from the log ------------------------------------------
check_eq "mode none: the proxy refuses the request" "$(blocked)" 403
check "... and logs it" wait_until 5 log_has '"host":"blocked.test".*"decision":"deny"'
expect_line "the denied request shows in the log" 5 "blocked.test/x" "DENY +GET"
if tm capture-pane -p -e -t t | grep -F "blocked.test/x" | grep -q '38;5;203m\|38;2;255;95;95m'; then
	ok "... in the denied colour"
else
	fail "... in the denied colour"
	tm capture-pane -p -e -t t | grep -F "blocked.test/x" | cat -v | sed 's/^/#   /'
fi
tm_keys a
expect_screen "a offers to allow it" 5 "Allow this request"
expect_screen "... with the narrowest rule" 5 "Narrowest: only GET http://blocked.test:80/x"
check_match "... saying the mode changes" "$(tm_screen)" "mode is none: saving turns on the allowlist"
check_match "... id from the host" "$(tm_line "Id ")" "blocked\.test"
check_match "... the path as the prefix" "$(tm_line "Paths")" "/x"
check_match "... the method only" "$(tm_line "Methods")" "GET"
check "nothing is written before it is accepted" test ! -e "$POLICY"
PROXY_LINES=$(wc -l <"$VM_DIR/proxy.log")
tm_keys Enter
expect_gone "Enter accepts" 5 "Allow this request"
expect_line "the rule is listed" 5 "blocked.test " "http +blocked\.test +80 +/x +GET"
check_match "the title shows the new mode" "$(tm_line "Network of")" "mode allowlist"
check "policy.json holds the narrowest rule" policy_has '"id":"blocked.test"'
check_match "... exactly the request's scheme, host, port, path and method" "$(compact)" \
	'"mode":"allowlist".*"id":"blocked.test","scheme":"http","host":"blocked.test","port":80,"paths":\["/x"\],"methods":\["GET"\],"websocket":false'
proxy_reread() { tail -n +$((PROXY_LINES + 1)) "$VM_DIR/proxy.log" | grep -q "policy: mode allowlist, 1 rule"; }
check "the proxy re-read the policy at once (SIGHUP)" wait_until 5 proxy_reread
check_match "the status line says so" "$(tm_screen | sed -n 23p)" "rule blocked.test added.*applies it now"

# The upstream does not exist: allowed by the rule, then the lookup fails.
check_eq "the same request now passes the policy (upstream: 502)" "$(blocked)" 502
check_match "... judged by the new rule" "$(tail -1 "$PLOG")" \
	'"host":"blocked.test".*"path":"/x","decision":"error","rule":"blocked.test".*"status":502'
expect_line "... and the pane shows the rule that allowed it" 5 "rule blocked.test" "error +GET"
check_eq "the guest's own lookup works now and reaches the same rule" "$(blocked_direct)" 502
check_match "... the log says so" "$(tail -1 "$PLOG")" '"decision":"error","rule":"blocked.test"'

expect_line "the guest's DNS questions show in the log, with the answer" 5 \
	"answered 198.18.0.1" "dns +A +blocked\.test +answered"

# --- the filter ----------------------------------------------------------------------
ENTRIES=$(wc -l <"$PLOG")	# every line is an entry: requests and DNS questions
tm_keys /
expect_screen "/ starts a filter" 5 "Filter"
tm_keys -l "mode is none"
expect_screen "the filter applies as it is typed" 5 "1 of $ENTRIES match"
check_match "only the matching request is shown" "$(tm_screen | grep -c 'blocked.test/x')" "^1$"
tm_keys Enter
check_match "Enter keeps it" "$(tm_screen)" "1 of $ENTRIES match"
tm_keys Escape
expect_gone "Esc clears it" 5 "match \""
check_match "everything is shown again" "$(tm_screen | grep -c 'blocked.test/x')" "^3$"

# --- a rule through the form ---------------------------------------------------------------
tm_keys n
expect_screen "n opens the rule form" 5 "New rule"
BEFORE=$(sum)
tm_keys -l docs
tm_keys Tab Tab
tm_keys -l '*.com'
tm_keys Enter
expect_screen "a bad host is refused, naming the field" 5 'host: "*.com" is too broad'
check_eq "... and nothing is written" "$(sum)" "$BEFORE"
check_match "the form stays open" "$(tm_screen)" "New rule"
tm_keys C-u
tm_keys -l docs.example.org
tm_keys Tab
tm_keys -l 8443
tm_keys Tab
tm_keys -l '/api/, /v2'
tm_keys Tab
tm_keys -l 'GET POST'
tm_keys Enter
expect_gone "a good rule closes the form" 5 "New rule"
expect_line "it is listed" 5 "docs " "https +docs\.example\.org +8443 +/api/ /v2 +GET POST"
check_match "it is in policy.json" "$(compact)" \
	'"id":"docs","scheme":"https","host":"docs.example.org","port":8443,"paths":\["/api/","/v2"\],"methods":\["GET","POST"\]'

# --- full internet -----------------------------------------------------------------------
tm_keys f
expect_screen "f asks first" 5 "reach any public address?"
tm_keys n
expect_gone "n keeps the mode" 5 "reach any public address?"
check "... in the file too" policy_has '"mode":"allowlist"'
tm_keys f
tm_wait 5 "reach any public address?"
tm_keys y
expect_line "y turns full internet on" 5 "Network of" "mode full internet"
check "... in policy.json" policy_has '"mode":"full_internet"'
check "the rules are kept" policy_has '"id":"docs"'
tm_keys f
expect_screen "turning it off asks too" 5 "Turn full internet off"
tm_keys y
expect_line "... and goes back to the allowlist" 5 "Network of" "mode allowlist"
check "... in policy.json" policy_has '"mode":"allowlist"'

# --- editing and deleting ------------------------------------------------------------------
tm_keys Tab
tm_keys End
tm_keys e
expect_screen "e edits the selected rule" 5 "Edit rule"
check_match "... filled in" "$(tm_line "Host ")" "docs\.example\.org"
tm_keys Escape
expect_gone "Esc leaves it unchanged" 5 "Edit rule"
tm_keys d
expect_screen "d asks before deleting" 5 "Delete rule docs"
tm_keys y
expect_gone "y deletes it" 5 "docs.example.org"
check_fails "... from policy.json" policy_has '"docs"'
check "the other rule stays" policy_has '"id":"blocked.test"'

# --- an edit in the pane applies to the running sandbox -------------------------------------
PROXY_PID=$(cat "$VM_DIR/proxy.pid")
api_get() {
	"$SMOLVM" exec "$NAME" -- curl -s -m 10 -w ' %{http_code}' http://api.test:8080/v1/new
}
python3 - "$POLICY" <<'EOF2'
import json, sys
p = json.load(open(sys.argv[1]))
p["rules"].append({"id": "api", "scheme": "http", "host": "api.test", "port": 8080,
                   "paths": ["/v1/ok"], "resolve": ["127.0.0.1"]})
json.dump(p, open(sys.argv[1] + ".tmp", "w"))
EOF2
mv "$POLICY.tmp" "$POLICY"
expect_line "a rule for an upstream that exists is listed" 5 "/v1/ok" "api +http +api\.test[^ ]* +8080 +/v1/ok"
check_match "the guest is refused a path it does not list" "$(api_get)" ' 403$'
check_fails "... which never reached the upstream" grep -q "GET /v1/new" "$SEEN"
tm_keys End
tm_keys e
expect_screen "e edits that rule" 5 "Edit rule"
check_match "... filled in" "$(tm_line "Host ")" "api\.test"
tm_keys Tab Tab Tab Tab
tm_keys C-u
tm_keys -l '/v1/ok, /v1/new'
tm_keys Enter
expect_gone "Enter saves the edit" 5 "Edit rule"
expect_line "the rule lists the new path" 5 "/v1/ok" "api +http +api\.test[^ ]* +8080 +/v1/ok /v1/new"
check_match "... in policy.json, with its pin kept" "$(compact)" \
	'"id":"api",.*"paths":\["/v1/ok","/v1/new"\],.*"resolve":\["127.0.0.1"\]'
OUT=$(api_get)
check_match "the guest's request now passes" "$OUT" ' 200$'
check_match "... and the upstream answered it" "$OUT" '^hello /v1/new from 127\.0\.0\.1:8080 host=api\.test:8080$'
check "... having seen it" grep -qx "http 127.0.0.1:8080 GET /v1/new" "$SEEN"
check_match "... judged by the edited rule" "$(grep '"path":"/v1/new"' "$PLOG" | tail -1)" \
	'"decision":"allow","rule":"api".*"status":200'
check_eq "... by the same proxy (no restart)" "$(cat "$VM_DIR/proxy.pid")" "$PROXY_PID"

# --- a policy file that does not load -------------------------------------------------------
GOOD=$(cat "$POLICY")
printf '{"mode": "allowlist", "rules": [{"id": "x", "scheme": "http", "host": "*.com"}]}\n' \
	>"$VM_DIR/policy.tmp"
mv "$VM_DIR/policy.tmp" "$POLICY"
expect_screen "a file that does not load shows the loader's error" 5 'rules[0].host: "*.com" is too broad'
tm_keys n
expect_screen "... and edits are refused" 5 "cannot be edited here"
printf '%s\n' "$GOOD" >"$VM_DIR/policy.tmp"
mv "$VM_DIR/policy.tmp" "$POLICY"
expect_line "a fixed file shows again" 5 "blocked.test " "http +blocked\.test"

# --- help and back -------------------------------------------------------------------------
tm_keys '?'
expect_screen "? shows the pane's keys" 5 "Allow this (a, or Enter in the log)"
tm_keys z
expect_gone "any key closes it" 5 "Allow this (a"
tm_keys Escape
expect_screen "Esc goes back to the list" 5 "NAME"
check_match "the tab is the list again" "$(tm_screen | sed -n 1p)" "sandboxes"

# --- from a shell ---------------------------------------------------------------------------
tm_keys Enter
expect_screen "a shell in the sandbox" 20 "~#"
tm_keys C-b w
expect_screen "prefix w opens its network pane" 5 "Network of $NAME ($ID)"
check_match "... in place of the list" "$(tm_screen | sed -n 1p)" "network $NAME .*1 $NAME"
tm_keys q
expect_screen "q goes back to the list" 5 "NAME"
tm_keys q
expect_screen "quitting asks while the shell is open" 5 "Quit smolvm?"
tm_keys y
expect_screen "y quits" 10 "TUI-EXIT=0"
exit 0
