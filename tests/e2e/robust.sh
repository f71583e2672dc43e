#!/usr/bin/env bash
# e2e: what goes wrong around a sandbox: a record that cannot be read, a stop
# while a create is still booting, names that would shadow ids, too little
# memory. Each must give a clear message and lose nothing.
source "$(dirname "$0")/../lib.sh"
t_setup_home

run "$SMOLVM" create --name ad
check_match "a name of hex digits is refused (it would shadow an id prefix)" "$RC $OUT" \
	"^2 .*--name 'ad' is all hex digits, which reads as a sandbox id"
run "$SMOLVM" create --mem 128
check_match "too little memory for the image is refused up front" "$RC $OUT" \
	"^2 .*--mem takes a whole number from 192"

# --- a stop while the create is still booting --------------------------------
"$SMOLVM" create --name early >"$SMOLVM_HOME/early.out" 2>&1 &
creator=$!
starting() { "$SMOLVM" ls | grep -q '^[0-9a-f]\{8\} *early *creating'; }
if wait_until 60 starting; then
	run "$SMOLVM" stop early
	check_match "stop of a sandbox still starting is refused" "$RC $OUT" \
		"^1 .*early is still starting: wait for it, or use stop --force"
	run "$SMOLVM" rm early
	check_match "rm of a sandbox still starting says so" "$RC $OUT" "^1 .*early is still starting"
else
	fail "the create was seen starting"
fi
wait "$creator"
check_eq "the create it did not stop finished" "$?" 0
check_match "and the sandbox runs" "$("$SMOLVM" ls)" "early +running"

# --- an egress proxy that died ---------------------------------------------
id=$("$SMOLVM" ls --json | grep -o '"id":[[:space:]]*"[0-9a-f]*"' | grep -o '[0-9a-f]\{8\}' | head -1)
proxy=$(cat "$SMOLVM_HOME/vms/$id/proxy.pid" 2>/dev/null)
check_match "the sandbox has an egress proxy" "$proxy" '^[0-9]+$'
kill -9 "$proxy"
wait_until 10 test ! -d "/proc/$proxy"
run "$SMOLVM" ls
check_match "ls warns that a sandbox runs without its egress proxy" "$RC $OUT" \
	"^0 .*warning: the egress proxy of early is not running.*smolvm start early"
check_match "ls --json says so" "$("$SMOLVM" ls --json 2>/dev/null)" '"proxy_running":[[:space:]]*false'
run "$SMOLVM" start early
check_match "start on it restarts the proxy" "$RC $OUT" "^0 .*restarted it"
check_match "ls --json sees it running" "$("$SMOLVM" ls --json)" '"proxy_running":[[:space:]]*true'
run "$SMOLVM" exec early -- curl -s -o /dev/null -w '%{http_code}' http://example.test/
check_match "the guest reaches its proxy again (it answers, here with a denial)" "$OUT" '^4[0-9][0-9]$'

# --- a record that cannot be read -------------------------------------------
id=$("$SMOLVM" ls --json | grep -o '"id":[[:space:]]*"[0-9a-f]*"' | grep -o '[0-9a-f]\{8\}' | head -1)
check_match "the running sandbox has an id" "$id" '^[0-9a-f]{8}$'
printf '{"id": "%s", "name": ' "$id" >"$SMOLVM_HOME/vms/$id/record.json"
run "$SMOLVM" ls
check_match "ls warns about the unreadable record and names the way out" "$RC $OUT" \
	"^0 .*warning: .*$id/record.json.*smolvm rm --force $id"
run "$SMOLVM" rm "$id"
check_match "rm without --force says how to remove it" "$RC $OUT" "^1 .*use rm --force $id"
check "its QEMU is still there after the refusal" qemu_running "$id"
run "$SMOLVM" rm --force "$id"
check_eq "rm --force removes what it left" "$RC" 0
check "nothing of it is left: process, namespace, files" wait_until 10 gone "$id"
run "$SMOLVM" rm --force ../../etc
check_match "an id that is a path is not looked for on disk" "$RC $OUT" "^1 .*no sandbox with id or name"
