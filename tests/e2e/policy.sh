#!/usr/bin/env bash
# e2e: the policy commands on a real guest: create --policy, policy show,
# set, log and check. Whether a policy is in force is seen from the guest:
# its curl goes to a listener in a network of the test's own
# (tests/netlab.sh), 198.51.100.10, which api.test is pinned to.
source "$(dirname "$0")/../netlab.sh"

API=198.51.100.10
NAME=policy-e2e
netlab_start "$NAME"
WORK=$SMOLVM_HOME/work
mkdir -p "$WORK"

netlab_up "$API"
netlab_listen "$SEEN" "http:$API:80" || { fail "listener starts"; exit 1; }
ok "listener starts"

run() { OUT=$("$@" 2>&1); RC=$?; }
# allow PATH...: an allowlist with one rule for api.test and these paths.
allow() {
	local p list=
	for p in "$@"; do list+="${list:+, }\"$p\""; done
	printf '{"mode": "allowlist", "rules": [{"id": "api", "scheme": "http", "host": "api.test", "paths": [%s], "resolve": ["%s"]}]}\n' \
		"$list" "$API"
}

# --- policy check and create --policy, before any guest -------------------------------
allow /v1/ok >"$WORK/good.json"
printf '{"mode": "allowlist", "rules": [{"id": "api", "scheme": "http", "host": "api.test", "port": "80"}]}\n' \
	>"$WORK/bad.json"
run "$SMOLVM" policy check "$WORK/good.json"
check_match "policy check accepts a good file" "$RC $OUT" \
	'^0 .*good\.json: valid: mode allowlist, 1 rule, 0 published ports'
run "$SMOLVM" policy check "$WORK/bad.json"
check_match "policy check names the field at fault" "$RC $OUT" \
	'^1 smolvm policy check: .*bad\.json: rules\[0\]\.port: must be a number, not a string'
run "$SMOLVM" create --name "$NAME" --policy "$WORK/bad.json"
check_match "create with a bad policy fails naming the field" "$RC $OUT" \
	'^1 smolvm create: .*bad\.json: rules\[0\]\.port: must be a number, not a string'
check_eq "... and nothing was created" "$("$SMOLVM" ls --json)" "[]"
check_eq "... not even a directory" "$(ls "$SMOLVM_HOME/vms" 2>/dev/null)" ""

t_create "create with a good policy" --name "$NAME" --policy "$WORK/good.json"
PROXY=$(cat "$VM_DIR/proxy.pid")
QEMU=$(cat "$VM_DIR/qemu.pid")

# --- show --------------------------------------------------------------------------------
check_eq "policy show --json is the policy, every default written out" \
	"$("$SMOLVM" policy show "$NAME" --json)" \
	'{"mode": "allowlist", "rules": [{"id": "api", "scheme": "http", "host": "api.test", "port": 80, "paths": ["/v1/ok"], "methods": ["GET", "HEAD"], "websocket": false, "resolve": ["198.51.100.10"]}], "ingress": []}'
"$SMOLVM" policy show "$NAME" >"$WORK/shown.json"
check_match "policy show is indented JSON" "$(cat "$WORK/shown.json")" '^  "rules": \[$'
check "... that loads back" "$SMOLVM" policy set "$NAME" "$WORK/shown.json"
check_eq "... unchanged" "$("$SMOLVM" policy show "$NAME")" "$(cat "$WORK/shown.json")"

check_eq "the policy is in force: an allowed path passes" "$(code http://api.test/v1/ok)" 200
check_eq "... another is refused" "$(code http://api.test/v1/new)" 403
check_unseen "... and never reached the listener" "GET /v1/new$"

# --- set: refused files change nothing ------------------------------------------------------
cp "$VM_DIR/policy.json" "$WORK/before.json"
allow /v1/ok /v1/new | sed 's/"resolve"/"methods": ["get"], "resolve"/' >"$WORK/bad2.json"
run "$SMOLVM" policy set "$NAME" "$WORK/bad2.json"
check_match "policy set refuses a bad file with the loader's message" "$RC $OUT" \
	'^1 smolvm policy set: .*bad2\.json: rules\[0\]\.methods\[0\]: "get" is not a method'
check "... the policy file is untouched" cmp "$VM_DIR/policy.json" "$WORK/before.json"
check_eq "... and the old policy stays in force" "$(code http://api.test/v1/new)" 403
run "$SMOLVM" policy set "$NAME" - <<<'{"mode": "allowlist", "rules": [{"id": "x"}]'
check_match "policy set refuses broken JSON from stdin" "$RC $OUT" \
	'^1 smolvm policy set: stdin: policy: is not valid JSON'
run "$SMOLVM" policy set "$NAME" "$WORK/missing.json"
check_match "policy set refuses a file that is not there" "$RC $OUT" '^1 .*cannot open'
check "... the policy file is still untouched" cmp "$VM_DIR/policy.json" "$WORK/before.json"

# --- set: a new policy is in force for the next request ----------------------------------------
allow /v1/ok /v1/new | "$SMOLVM" policy set "$NAME" -
check "policy set from stdin" test "${PIPESTATUS[1]}" = 0
check_eq "the next request from the guest follows it at once" "$(code http://api.test/v1/new)" 200
check "... it reached the listener" seen "^http $API:80 GET /v1/new$"
check_eq "... with the same proxy (no restart)" "$(cat "$VM_DIR/proxy.pid")" "$PROXY"
check "... which still runs" kill -0 "$PROXY"
check_eq "... and the same guest" "$(cat "$VM_DIR/qemu.pid")" "$QEMU"

# --- log -------------------------------------------------------------------------------------------
run "$SMOLVM" policy log "$NAME" --json
LOG=$OUT
check_match "policy log --json has the refusal" "$(grep '"path":"/v1/new"' <<<"$LOG" | head -1)" \
	'"decision":"deny","rule":null,"reason":"no rule for this host allows this path","status":403'
check_match "... and the request allowed after the change" "$(grep '"path":"/v1/new"' <<<"$LOG" | tail -1)" \
	'"decision":"allow","rule":"api","reason":"allowed by rule","status":200'
check_eq "... line for line the decision log" "$LOG" "$(cat "$VM_DIR/policy.log")"
run "$SMOLVM" policy log "$NAME" --json --denied
check_match "policy log --denied keeps the refusals" "$OUT" '"path":"/v1/new".*"decision":"deny"'
check_eq "... and only them" "$(grep -vc '"decision":"deny"' <<<"$OUT")" 0
run "$SMOLVM" policy log "$NAME"
check_match "policy log prints a table" "$(head -1 <<<"$OUT")" \
	'^TIME +DECISION +METHOD +URL +RULE/REASON +STATUS +BYTES +MS$'
check_match "... with a row per decision" "$OUT" \
	'^[0-9]{2}-[0-9]{2} [0-9:]{8} +deny +GET +http://api\.test/v1/new +no rule for this host allows this path +403 +0/[0-9]+ +[0-9]+$'
check_match "... naming the rule of an allowed one" "$OUT" \
	'^[0-9]{2}-[0-9]{2} [0-9:]{8} +allow +GET +http://api\.test/v1/new +api +200 +0/[0-9]+ +[0-9]+$'
check_match "... and a row for each DNS question the guest's resolver answered" "$OUT" \
	'^[0-9]{2}-[0-9]{2} [0-9:]{8} +dns +A +api\.test +answered 198\.18\.0\.1 +- +- +-$'
check_eq "... one row for each line of the log" "$(($(wc -l <<<"$OUT") - 1))" \
	"$(wc -l <"$VM_DIR/policy.log")"

# -f prints what is there, then follows, until the sandbox is removed.
"$SMOLVM" policy log -f "$NAME" >"$WORK/follow.out" 2>&1 &
FOLLOW=$!
"$SMOLVM" policy log -f --json --denied "$NAME" >"$WORK/follow.json" 2>&1 &
FOLLOW_JSON=$!
NETLAB_PIDS+=("$FOLLOW" "$FOLLOW_JSON")
code http://api.test/v1/ok/followed >/dev/null
code http://api.test/v1/denied-later >/dev/null
check "policy log -f prints new decisions as they happen" \
	wait_until 5 grep -q 'allow .*http://api\.test/v1/ok/followed' "$WORK/follow.out"
check "... --json --denied too, and only refusals" \
	wait_until 5 grep -q '"path":"/v1/denied-later"' "$WORK/follow.json"
check_eq "... the allowed one is not among them" "$(grep -c followed "$WORK/follow.json")" 0
check "... and it keeps following" kill -0 "$FOLLOW"
check "rm --force removes the sandbox" "$SMOLVM" rm --force "$NAME"
follow_ended() { ! kill -0 "$FOLLOW" 2>/dev/null && ! kill -0 "$FOLLOW_JSON" 2>/dev/null; }
check "... and policy log -f ends with it" wait_until 5 follow_ended
exit 0
