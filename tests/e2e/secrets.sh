#!/usr/bin/env bash
# e2e: vault secrets injected by the egress proxy on real guests with real
# curl. The guest holds only a placeholder (NAME in its environment); the
# proxy puts the value into requests to the secret's hosts over intercepted
# TLS and scrubs it out of what comes back. In a network of the test's own
# (tests/netlab.sh):
#
#   198.51.100.10  api.test: HTTPS (a certificate from the test CA) and plain HTTP
#   198.51.100.20  other.test: HTTPS, a host no secret is for
source "$(dirname "$0")/../netlab.sh"

API=198.51.100.10
OTHER=198.51.100.20
NAME=secrets-e2e
NAME2=secrets-e2e-2
netlab_start "$NAME" "$NAME2"

# --- the test's CA, upstreams and vault ---------------------------------------------
netlab_upstream_ca api api.test other.test

netlab_up "$API" "$OTHER"
netlab_listen "$SEEN" python3 "$TESTS_DIR/e2e/secrets_upstream.py" "$SEEN" \
	"$API:443:$PKI/api.pem:$PKI/api.key" "$API:80" "$OTHER:443:$PKI/api.pem:$PKI/api.key" ||
	{ fail "the upstreams start"; exit 1; }
ok "the upstreams start"

rnd() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }
KEY=sk-test-$(rnd)
HKEY=hk-test-$(rnd)
BKEY=bk-test-$(rnd)
add() { printf '%s' "$2" | "$SMOLVM" vault add "$1" "${@:3}"; }
check "vault add API_KEY (placeholder replaced where the guest puts it)" \
	add API_KEY "$KEY" --hosts api.test
check "vault add HDR_KEY (a header set outright)" \
	add HDR_KEY "$HKEY" --hosts api.test --header X-Api-Key --format 'Key %s'
check "vault add BODY_KEY (bodies too, plain HTTP too)" \
	add BODY_KEY "$BKEY" --hosts api.test --body --plain-http

POLICY=$SMOLVM_HOME/policy.json
cat >"$POLICY" <<EOF
{"mode": "allowlist", "rules": [
 {"id": "api", "scheme": "https", "host": "api.test", "methods": ["GET", "POST"], "resolve": ["$API"]},
 {"id": "api-http", "scheme": "http", "host": "api.test", "methods": ["GET", "POST"], "resolve": ["$API"]},
 {"id": "other", "scheme": "https", "host": "other.test", "resolve": ["$OTHER"]}
], "secrets": ["HDR_KEY"]}
EOF

# --- attaching ---------------------------------------------------------------------
run "$SMOLVM" create --name bad-secret --secret NO_SUCH_KEY
check_match "create --secret with an unknown name fails, naming it" "$OUT" \
	'secret NO_SUCH_KEY is not in the vault'
check_fails "... and leaves no sandbox" "$SMOLVM" logs bad-secret
run "$SMOLVM" create --name bad-secret --secret lower_case
check_match "a name that is not one of the vault's is refused" "$OUT" \
	'secrets\[[0-9]+\]: "lower_case" is not a secret.s name'

t_create "create with --policy naming a secret and --secret for two more" --name "$NAME" \
	--policy "$POLICY" --secret API_KEY --secret BODY_KEY --secret API_KEY
ph() { python3 -c 'import json,sys
for e in json.load(open(sys.argv[1]))["secrets"]:
    if e["name"] == sys.argv[2]: print(e["placeholder"])' "$1/secrets.json" "$2"; }
PH=$(ph "$VM_DIR" API_KEY)
HPH=$(ph "$VM_DIR" HDR_KEY)
BPH=$(ph "$VM_DIR" BODY_KEY)
check_match "each secret has a placeholder in the sandbox's secrets file" "$PH $HPH $BPH" \
	'^smolvm-ph-[0-9a-f]{32} smolvm-ph-[0-9a-f]{32} smolvm-ph-[0-9a-f]{32}$'
check "... all different" test "$(printf '%s\n' "$PH" "$HPH" "$BPH" | sort -u | wc -l)" = 3
check_match "the policy lists the secrets by name, once each" \
	"$("$SMOLVM" policy show "$NAME" --json)" '"secrets": \["HDR_KEY", "API_KEY", "BODY_KEY"\]'
g 'echo "$API_KEY $HDR_KEY $BODY_KEY"'
check_eq "smolvm exec sees NAME=placeholder" "$OUT" "$PH $HPH $BPH"
OUT=$(printf 'echo "login:$API_KEY"\n' | "$SMOLVM" ssh "$NAME" 2>&1)
check_match "a login shell (smolvm ssh) sees it too" "$OUT" "login:$PH"

# --- injection ----------------------------------------------------------------------
# up FIELD-MATCH: the last request upstream logged whose line matches (grep -F).
up() { grep -F -- "$1" "$SEEN" | tail -1; }
g 'curl -sS -m 20 -H "Authorization: Bearer $API_KEY" https://api.test/echo/1'
LINE=$(up '"/echo/1"')
check_match "the upstream receives the real key in the guest's header" "$LINE" \
	"\"Authorization\", \"Bearer $KEY\""
check_match "... and the header set outright, with its format" "$LINE" "\"X-Api-Key\", \"Key $HKEY\""
check_match "... with Accept-Encoding identity, so that echoes can be scrubbed" "$LINE" \
	'"Accept-Encoding", "identity"'
check_match "the echo the guest gets back shows the placeholder" "$OUT" "Authorization: Bearer $PH"
check_match "... the header set outright too" "$OUT" "X-Api-Key: Key $HPH"
check "... and never the value" eval '! printf %s "$OUT" | grep -qF -e "$KEY" -e "$HKEY"'
check_match "the decision log names the secrets put in, never their values" \
	"$(grep -F '"/echo/1"' "$PLOG")" '"secrets":\["HDR_KEY","API_KEY"\]'
check_match "... and policy log's table shows them by name" \
	"$("$SMOLVM" policy log "$NAME" | grep -F /echo/1)" ' \+secrets HDR_KEY,API_KEY '

g 'curl -sS -m 20 -H "X-Api-Key: from-the-guest" -H "Connection: X-Api-Key" https://api.test/echo/2'
LINE=$(up '"/echo/2"')
check_match "the guest's own X-Api-Key is replaced, even when Connection names it" "$LINE" \
	"\"X-Api-Key\", \"Key $HKEY\""
check "... and sent once" test "$(printf '%s' "$LINE" | grep -o '"X-Api-Key"' | wc -l)" = 1

g 'curl -sS -m 20 -H "Authorization: Bearer $API_KEY" https://api.test/json'
check_match "a JSON echo is scrubbed" "$OUT" "\"Bearer $PH\""
check "... of every value" eval '! printf %s "$OUT" | grep -qF -e "$KEY" -e "$HKEY"'
g 'curl -sS -m 20 -H "Authorization: Bearer $API_KEY" https://api.test/drip'
check_eq "a value echoed one byte per chunk is scrubbed across the reads" "$OUT" \
	"auth=Bearer $PH"
g 'curl -sS -m 20 -x http://'"$HOST_IP"':3128 -H "Authorization: Bearer $API_KEY" https://api.test/echo/3'
check_match "through CONNECT too" "$(up '"/echo/3"')" "\"Bearer $KEY\""
check_match "... scrubbed on the way back" "$OUT" "Authorization: Bearer $PH"

# --- bodies -------------------------------------------------------------------------
g 'curl -sS -m 20 --data-binary "a=$BODY_KEY&b=$API_KEY" https://api.test/echo/body'
LINE=$(up '"/echo/body"')
check_match "a body gets the value of a secret that opts in, with its new length" "$LINE" \
	"\"body\": \"a=$BKEY&b=$PH\""
check_match "... only that one" "$OUT" "a=$BPH&b=$PH"
g 'head -c 1100000 /dev/zero | tr "\0" x >/tmp/big; printf "%s" "$BODY_KEY" >>/tmp/big;
   curl -sS -m 60 -o /dev/null -w "%{http_code}" --data-binary @/tmp/big https://api.test/big'
check_eq "a body over 1 MiB goes chunked, replaced as it streams" "$OUT" 200
check "... the value at its end reached upstream" eval 'up "\"/big\"" | grep -qF "x$BKEY\""'

# --- what is not replaced -------------------------------------------------------------
g 'curl -sS -m 20 -H "Authorization: Bearer $API_KEY" https://other.test/echo/out'
check_match "a placeholder sent to a host outside the secret's scope goes out unchanged" \
	"$(up '"/echo/out"')" "\"Bearer $PH\""
check "... and no header is set outright there" eval '! up "\"/echo/out\"" | grep -q X-Api-Key'
g 'curl -sS -m 20 -H "Authorization: Bearer $API_KEY" http://api.test/echo/plain'
LINE=$(up '"/echo/plain"')
check_match "over plain HTTP the placeholder goes out unchanged" "$LINE" "\"Bearer $PH\""
check "... and no header is set outright" eval '! printf %s "$LINE" | grep -q X-Api-Key'
g 'curl -sS -m 20 --data-binary "a=$BODY_KEY" http://api.test/echo/plainbody'
check_match "... unless the secret allows plain HTTP" "$(up '"/echo/plainbody"')" \
	"\"body\": \"a=$BKEY\""
g 'B64=$(printf %s "$API_KEY" | base64); HEX=$(printf %s "$API_KEY" | od -An -tx1 | tr -d " \n");
   UP=$(printf %s "$API_KEY" | tr a-z A-Z); CUT=${API_KEY%?};
   curl -sS -m 20 -H "X-B64: $B64" -H "X-Hex: $HEX" -H "X-Up: $UP" -H "X-Cut: $CUT" \
	-H "X-Url: $(printf %s "$API_KEY" | sed s/-/%2D/g)" https://api.test/echo/enc'
LINE=$(up '"/echo/enc"')
check "a placeholder in another encoding (base64, hex, upper case, cut, URL-escaped) is not replaced" \
	eval '! printf %s "$LINE" | grep -qF "$KEY"'
check_match "... it arrived as sent" "$LINE" "\"X-Cut\", \"${PH%?}\""

MARK=$(wc -l <"$SEEN")
g 'curl -sS -m 20 -L --location-trusted -H "Authorization: Bearer $API_KEY" \
	"https://api.test/redirect?to=https://other.test/echo/landed"'
check_match "a redirect to another host carries no key: it gets the placeholder" \
	"$(up '"/echo/landed?')" "\"Bearer $PH\""
check "... nothing that reached the other host held a value" \
	eval '! tail -n +$((MARK + 1)) "$SEEN" | grep -F "\"at\": \"$OTHER:" | grep -qF "$KEY"'
g 'curl -sS -m 20 -D - -o /dev/null -H "Authorization: Bearer $API_KEY" \
	"https://api.test/redirect?to=https://other.test/x"'
check_match "the redirect's Location and headers reach the guest scrubbed" "$OUT" \
	"X-Seen-Auth: Bearer $PH"
check "... never with the value" eval '! printf %s "$OUT" | grep -qF "$KEY"'

# --- use counts, rotation ---------------------------------------------------------------
check "vault ls counts the uses" python3 -c 'import json, sys
e = [e for e in json.load(sys.stdin) if e["name"] == "API_KEY"][0]
assert e["uses"] >= 6 and e["last_use"] > 0, e' < <("$SMOLVM" vault ls --json)
NEWKEY=sk-rotated-$(rnd)
check "vault rotate API_KEY" eval 'printf %s "$NEWKEY" | "$SMOLVM" vault rotate API_KEY'
g 'curl -sS -m 20 -H "Authorization: Bearer $API_KEY" https://api.test/echo/rotated'
check_match "the running proxy puts the new value in, with no restart" \
	"$(up '"/echo/rotated"')" "\"Bearer $NEWKEY\""
check_match "... and scrubs it" "$OUT" "Authorization: Bearer $PH"

# --- a second sandbox ----------------------------------------------------------------------
ID1=$ID
t_create "a second sandbox with the same secret" --name "$NAME2" --policy "$POLICY" \
	--secret API_KEY
PH2=$(ph "$VM_DIR" API_KEY)
check "... has a placeholder of its own" test -n "$PH2" -a "$PH2" != "$PH"
NAME=$NAME2 g 'curl -sS -m 20 -H "Authorization: Bearer $API_KEY" https://api.test/echo/second'
check_match "... which its proxy replaces" "$(up '"/echo/second"')" "\"Bearer $NEWKEY\""
g "curl -sS -m 20 -H 'Authorization: Bearer $PH2' https://api.test/echo/crossed"
check_match "the first sandbox sending the second's placeholder gets it sent unchanged" \
	"$(up '"/echo/crossed"')" "\"Bearer $PH2\""

# --- policy set ------------------------------------------------------------------------------
sed 's/"secrets": \["HDR_KEY"\]/"secrets": ["HDR_KEY", "NOT_THERE"]/' "$POLICY" >"$POLICY.bad"
run "$SMOLVM" policy set "$ID1" "$POLICY.bad"
check_match "policy set with an unknown secret fails, naming it" "$OUT" \
	'secret NOT_THERE is not in the vault'
check_match "... and leaves the policy in force" "$("$SMOLVM" policy show "$ID1" --json)" \
	'"secrets": \["HDR_KEY", "API_KEY", "BODY_KEY"\]'
sed 's/"secrets": \["HDR_KEY"\]/"secrets": ["API_KEY"]/' "$POLICY" >"$POLICY.one"
check "policy set detaching two secrets" "$SMOLVM" policy set "$ID1" "$POLICY.one"
g 'echo "[$API_KEY][$HDR_KEY]"'
check_eq "... new sessions keep the placeholder that stays and lose the others" "$OUT" "[$PH][]"
g 'curl -sS -m 20 -H "Authorization: Bearer $API_KEY" https://api.test/echo/detached'
check "... and the detached header is no longer set" eval '! up "\"/echo/detached\"" | grep -q X-Api-Key'
# A guest that cannot take the new placeholders (its SSH server's pid file is gone, so
# it cannot be restarted): the set fails and changes nothing.
VM1=$SMOLVM_HOME/vms/$ID1
cp "$VM1/policy.json" "$SMOLVM_HOME/policy.before"
cp "$VM1/secrets.json" "$SMOLVM_HOME/secrets.before"
g 'mv /var/run/dropbear.pid /var/run/dropbear.pid.away'
run "$SMOLVM" policy set "$ID1" "$POLICY"
check_match "policy set whose secrets the guest cannot take fails" "$RC $OUT" \
	"^1 .*cannot give the guest its secrets' placeholders.*the policy in force stays"
check "... and leaves policy.json as it was" cmp "$SMOLVM_HOME/policy.before" "$VM1/policy.json"
check "... and secrets.json" cmp "$SMOLVM_HOME/secrets.before" "$VM1/secrets.json"
g 'mv /var/run/dropbear.pid.away /var/run/dropbear.pid &&
	curl -sS -m 20 -H "Authorization: Bearer $API_KEY" https://api.test/echo/kept'
check_match "... and the proxy keeps the old policy: the secret it has still goes in" \
	"$(up '"/echo/kept"')" "\"Bearer $NEWKEY\""
check "... and the one the failed set named does not" eval '! up "\"/echo/kept\"" | grep -q X-Api-Key'

# --- a clone of a running state gets its own placeholders -------------------------------------
CLONE=secrets-e2e-clone
check "a memory snapshot of the first sandbox" "$SMOLVM" snapshot create "$ID1" --name live --memory
check "create --from it" "$SMOLVM" create --from "$ID1:live" --name "$CLONE"
CVM=$(dirname "$(grep -l "\"name\":[[:space:]]*\"$CLONE\"" "$SMOLVM_HOME"/vms/*/record.json)")
CPH=$(ph "$CVM" API_KEY)
check_match "the clone has a placeholder of its own" "$CPH" '^smolvm-ph-[0-9a-f]{32}$'
check "... not the original's" test "$CPH" != "$PH"
NAME=$CLONE g 'echo "[$API_KEY]"'
check_eq "... and the resumed guest's new sessions see it" "$OUT" "[$CPH]"
check "rm the clone" "$SMOLVM" rm --force "$CLONE"

# --- a vault sealed with a passphrase: the key is handed to the proxy on a pipe ----------------
check "vault init --passphrase re-seals the vault" \
	env SMOLVM_VAULT_PASSPHRASE=test-pass "$SMOLVM" vault init --passphrase
check "stop the second sandbox" "$SMOLVM" stop "$NAME2"
cp "$VM_DIR/policy.json" "$SMOLVM_HOME/policy.good"
printf '{"mode": "allowlist",' >"$VM_DIR/policy.json"
run env SMOLVM_VAULT_PASSPHRASE=test-pass "$SMOLVM" start "$NAME2"
check_match "start with a policy file that does not load fails, naming the file" "$RC $OUT" \
	"^1 .*$VM_DIR/policy.json: policy: is not valid JSON.*would have no network"
check_fails "... and leaves the sandbox stopped" qemu_running "$(basename "$VM_DIR")"
mv "$SMOLVM_HOME/policy.good" "$VM_DIR/policy.json"
run "$SMOLVM" start "$NAME2" </dev/null
check_match "start without the passphrase fails, saying the secrets need the vault" "$OUT" \
	"the sandbox's secrets need the vault"
check "start with the passphrase" env SMOLVM_VAULT_PASSPHRASE=test-pass "$SMOLVM" start "$NAME2"
PPID_=$(cat "$VM_DIR/proxy.pid")
check "... the proxy got the key on an inherited pipe" \
	grep -qz '^SMOLVM_VAULT_KEY_FD=4$' "/proc/$PPID_/environ"
NAME=$NAME2 g 'curl -sS -m 20 -H "Authorization: Bearer $API_KEY" https://api.test/echo/sealed'
check_match "... and puts the value in" "$(up '"/echo/sealed"')" "\"Bearer $NEWKEY\""

check "rm --force removes both sandboxes" "$SMOLVM" rm --force "$ID1" "$NAME2"
exit 0
