#!/usr/bin/env bash
# e2e: the vault through the real binary in a private home (no guest): add, ls,
# rotate, rm; values never in argv, output or files in the clear; 0600 files;
# the passphrase mode; a corrupt file, a full disk and concurrent writers,
# each with a clear error and the previous vault intact.
source "$(dirname "$0")/../lib.sh"
# A home of its own, not sharing keys/ with the test images: the key file lives there.
SMOLVM_TEST_IMAGES='' t_setup_home
V=$SMOLVM_HOME/vault
SECRET='sk-live-Zq8v3JX0pTt9mWcR'
SECRET2='sk-rotated-4Hh1sN6bKu2y'

# Every form of a value a search could find: plain, base64, hex.
leaks() {	# leaks VALUE FILE... : true if any file holds VALUE in any form
	local v=$1; shift
	local b64 hex
	b64=$(printf %s "$v" | base64 -w0)
	hex=$(printf %s "$v" | od -An -tx1 | tr -d ' \n')
	grep -rqaF -e "$v" -e "$b64" -e "$hex" -e "${hex^^}" "$@" 2>/dev/null
}
mode() { stat -c %a "$1"; }

# --- add / ls / rotate / rm ------------------------------------------------
run bash -c "printf '%s\n' '$SECRET' | '$SMOLVM' vault add OPENAI_API_KEY --hosts api.openai.com,'*.openai.example.com' --header Authorization --format 'Bearer %s'"
check_match "add reads the value from stdin" "$RC $OUT" "^0 OPENAI_API_KEY added"
check_eq "the vault file is 0600" "$(mode "$V")" 600
check_eq "the key file is made at first use, 0600" "$(mode "$SMOLVM_HOME/keys/vault.key")" 600
check_eq "keys/ is 0700" "$(mode "$SMOLVM_HOME/keys")" 700
printf 'ghp_abc123' | "$SMOLVM" vault add GH_TOKEN --hosts api.github.com --body --plain-http >/dev/null
run "$SMOLVM" vault ls
check_match "ls shows names, hosts, header and format" "$OUT" \
	"OPENAI_API_KEY +api.openai.com,\*.openai.example.com +Authorization: Bearer %s +headers +0 +never"
check_match "ls shows the flags" "$OUT" "GH_TOKEN +api.github.com +- +body,http +0 +never"
json=$("$SMOLVM" vault ls --json)
check_match "ls --json has the fields" "$(printf %s "$json" | tr -d ' \t\n')" \
	'"name":"GH_TOKEN","hosts":\["api.github.com"\],"header":null,"format":null,"body":true,"plain_http":true,.*"uses":0,"last_use":null'
if leaks "$SECRET" <(printf '%s' "$OUT") <(printf '%s' "$json") || leaks ghp_abc123 <(printf '%s' "$OUT$json"); then
	fail "ls and ls --json never show a value"
else
	ok "ls and ls --json never show a value"
fi
if leaks "$SECRET" "$SMOLVM_HOME" || leaks ghp_abc123 "$SMOLVM_HOME"; then
	fail "no file in the home holds a value in the clear (or as base64 or hex)"
else
	ok "no file in the home holds a value in the clear (or as base64 or hex)"
fi
check "the sealed file does not even show the names" bash -c "! grep -qa OPENAI_API_KEY '$V'"

# A value that arrives on stdin a while after the command started.
mkfifo "$SMOLVM_HOME/fifo"
exec 7<>"$SMOLVM_HOME/fifo"
"$SMOLVM" vault add FIFO_KEY --hosts fifo.example.com <"$SMOLVM_HOME/fifo" >/dev/null 2>&1 7>&- &
adder=$!
sleep 0.3
printf 'fifo-value' >&7
exec 7>&-
wait "$adder"
check_eq "a value written to stdin later is waited for and stored" "$?" 0

before=$(cat "$V" | md5sum)
run bash -c "printf '%s' '$SECRET2' | '$SMOLVM' vault rotate OPENAI_API_KEY"
check_match "rotate takes a new value from stdin" "$RC $OUT" "^0 OPENAI_API_KEY rotated"
check "rotate rewrites the file (fresh nonce, new value)" test "$(md5sum <"$V")" != "$before"
if leaks "$SECRET2" "$SMOLVM_HOME"; then fail "the rotated value is not in the clear"; else ok "the rotated value is not in the clear"; fi
check_match "rotate keeps hosts and header" "$("$SMOLVM" vault ls)" "OPENAI_API_KEY +api.openai.com,\*.openai.example.com +Authorization: Bearer %s"
run bash -c "printf x | '$SMOLVM' vault rotate NOPE"
check_match "rotate of an unknown name says so" "$RC $OUT" "^1 .*no secret called NOPE"
run bash -c "printf x | '$SMOLVM' vault add GH_TOKEN --hosts a.example.com"
check_match "add of an existing name points at rotate and rm" "$RC $OUT" "^1 .*GH_TOKEN is in the vault already: .*vault rotate GH_TOKEN"
run "$SMOLVM" vault rm GH_TOKEN
check_match "rm" "$RC $OUT" "^0 GH_TOKEN removed"
check "rm takes it out of ls" bash -c "! '$SMOLVM' vault ls | grep -q GH_TOKEN"
run "$SMOLVM" vault rm GH_TOKEN
check_match "rm of a missing name says so" "$RC $OUT" "^1 .*no secret called GH_TOKEN"

# --- validation ---------------------------------------------------------------
run bash -c "printf x | '$SMOLVM' vault add openai-key --hosts a.example.com"
check_match "a name that is not an environment variable name is refused" "$RC $OUT" \
	"^1 .*\"openai-key\" is not a secret name.*upper-case letters, digits and '_'"
run bash -c "printf x | '$SMOLVM' vault add 1KEY --hosts a.example.com"
check_match "a name starting with a digit is refused" "$RC $OUT" "^1 .*\"1KEY\" is not a secret name"
run bash -c "printf x | '$SMOLVM' vault add K --hosts '*.com'"
check_match "a host too broad for a policy rule is refused the same way" "$RC $OUT" \
	'^1 .*--hosts: "\*.com" is too broad'
run bash -c "printf x | '$SMOLVM' vault add K --hosts 'https://api.example.com'"
check_match "a URL is not a host, and the message fits the vault" "$RC $OUT" \
	'^1 .*--hosts: "https://api.example.com" is a URL: give host names only, without https://'
check_fails "the URL message does not point at a policy key" bash -c "printf x | '$SMOLVM' vault add K --hosts https://x.test/ 2>&1 | grep -q 'put it in'"
run bash -c "printf x | '$SMOLVM' vault add K --hosts 'a.test,,b.test'"
check_match "an empty entry in --hosts is refused" "$RC $OUT" \
	'^1 .*--hosts "a.test,,b.test" has an empty entry'
run bash -c "printf x | '$SMOLVM' vault add K --hosts 'a.test, '"
check_match "a trailing empty entry in --hosts is refused" "$RC $OUT" '^1 .*has an empty entry'
for name in PATH HOME SHELL USER LOGNAME TERM PWD IFS ENV PS1 HOSTNAME TZ LANG _ \
	LC_ALL LD_PRELOAD SSH_AUTH_SOCK SMOLVM_X; do
	run bash -c "printf x | '$SMOLVM' vault add '$name' --hosts api.fake.test"
	check_match "a name the guest's shell needs is refused: $name" "$RC $OUT" \
		"^1 .*$name is a variable the guest's shell needs; pick another name"
done
run bash -c "printf x | '$SMOLVM' vault add PATH_TOKEN --hosts api.fake.test"
check_eq "a name that only starts like one is fine" "$RC" 0
"$SMOLVM" vault rm PATH_TOKEN >/dev/null
run bash -c "printf x | '$SMOLVM' vault add K --hosts 'a..example.com'"
check_match "a bad name is refused" "$RC $OUT" '^1 .*--hosts: "a..example.com"'
run bash -c "printf x | '$SMOLVM' vault add K"
check_match "--hosts is required" "$RC $OUT" "^2 .*--hosts is required"
run bash -c "printf x | '$SMOLVM' vault add K --hosts a.example.com --format 'Bearer %s'"
check_match "--format needs --header" "$RC $OUT" "^2 .*give --header too"
run bash -c "printf x | '$SMOLVM' vault add K --hosts a.example.com --header Authorization --format Bearer"
check_match "a format without %s is refused" "$RC $OUT" "^1 .*exactly one %s"
run bash -c "printf x | '$SMOLVM' vault add K --hosts a.example.com --header Content-Length"
check_match "a header the proxy owns is refused" "$RC $OUT" "^1 .*--header Content-Length is not one a secret can set"
run bash -c "printf 'a\r\nX-Injected: 1' | '$SMOLVM' vault add K --hosts a.example.com"
check_match "a value with a line break is refused (it would split a header)" "$RC $OUT" \
	"^1 .*control or non-ASCII byte at offset 1"
run bash -c "printf '' | '$SMOLVM' vault add K --hosts a.example.com"
check_match "an empty value is refused" "$RC $OUT" "^1 .*value is empty"
run "$SMOLVM" vault add K --hosts a.example.com "$SECRET"
check_match "a value as an argument is refused" "$RC $OUT" "^2 .*expected one NAME"
check "none of the refusals added anything" bash -c "! '$SMOLVM' vault ls | grep -q '^K '"

# --- masked terminal input ------------------------------------------------------
tm_start 100 10 "'$SMOLVM' vault add TTY_KEY --hosts tty.example.com"
if tm_wait 10 "Value for TTY_KEY:"; then
	tm_keys "tty-typed-secret-5" Enter
	tm_wait 5 "Again:"
	tm_keys "tty-typed-secret-5" Enter
	tm_wait 10 "TTY_KEY added"
	check_match "on a terminal it asks twice and adds" "$(tm_screen)" "TTY_KEY added"
	check "what was typed was not echoed" bash -c "! tmux -L '$TMUX_SOCK' capture-pane -p -t t | grep -q tty-typed"
else
	fail "on a terminal it asks for the value"
	tm_screen | sed 's/^/#   /'
fi
tm_stop
tm_start 100 10 "'$SMOLVM' vault add TTY_TWO --hosts tty.example.com"
if tm_wait 10 "Value for TTY_TWO:"; then
	tm_keys "one" Enter
	tm_wait 5 "Again:"
	tm_keys "two" Enter
	tm_wait 10 "differs"
	check_match "two different values typed are refused" "$(tm_screen)" "the second entry differs from the first"
else
	fail "on a terminal it asks for the value (twice)"
fi
tm_stop
check "the refused one was not added" bash -c "! '$SMOLVM' vault ls | grep -q TTY_TWO"

P=$SMOLVM_HOME/tty-home
tm_start 100 12 "env SMOLVM_HOME='$P' sh -c \"'$SMOLVM' vault init --passphrase; '$SMOLVM' vault ls\""
if tm_wait 10 "New vault passphrase:"; then
	tm_keys "typed pass phrase" Enter
	tm_wait 5 "Again:"
	tm_keys "typed pass phrase" Enter
	tm_wait 30 "Vault passphrase:"
	check_match "init --passphrase asks twice on the terminal" "$(tm_screen)" "made an empty vault sealed with a passphrase"
	tm_keys "not the phrase" Enter
	tm_wait 30 "wrong passphrase"
	check_match "a wrong passphrase typed is refused" "$(tm_screen)" "vault ls: wrong passphrase or key file"
	check "neither passphrase was echoed" bash -c "! tmux -L '$TMUX_SOCK' capture-pane -p -t t | grep -q 'typed pass\|not the phrase'"
else
	fail "init --passphrase asks on the terminal"
	tm_screen | sed 's/^/#   /'
fi
tm_stop
run env SMOLVM_HOME="$P" SMOLVM_VAULT_PASSPHRASE="typed pass phrase" "$SMOLVM" vault ls
check_match "the typed passphrase is the one that opens it" "$RC $OUT" "^0 the vault is empty"

# --- a corrupt file -------------------------------------------------------------
cp "$V" "$SMOLVM_HOME/good"
cp "$V" "$SMOLVM_HOME/bad"
printf '\x55' | dd of="$SMOLVM_HOME/bad" bs=1 seek=120 conv=notrunc status=none
cp "$SMOLVM_HOME/bad" "$V"
run "$SMOLVM" vault ls
check_match "a damaged file is reported as corrupt" "$RC $OUT" "^1 .*vault file is corrupt: .*checksum mismatch"
run bash -c "printf v | '$SMOLVM' vault add NEW_KEY --hosts a.example.com"
check_match "add to a corrupt vault fails the same way" "$RC $OUT" "^1 .*vault file is corrupt"
run bash -c "printf v | '$SMOLVM' vault rotate OPENAI_API_KEY"
check_match "so does rotate" "$RC $OUT" "^1 .*vault file is corrupt"
run "$SMOLVM" vault rm OPENAI_API_KEY
check_match "and rm" "$RC $OUT" "^1 .*vault file is corrupt"
check "the corrupt file is never overwritten" cmp "$V" "$SMOLVM_HOME/bad"
head -c 50 "$SMOLVM_HOME/good" >"$V"
cp "$V" "$SMOLVM_HOME/bad"
run bash -c "printf v | '$SMOLVM' vault add NEW_KEY --hosts a.example.com"
check_match "a truncated file is reported as corrupt" "$RC $OUT" "^1 .*vault file is corrupt: .*too short"
check "and not written over" cmp "$V" "$SMOLVM_HOME/bad"
cp "$SMOLVM_HOME/good" "$V"
check "the restored file opens again" "$SMOLVM" vault ls

# --- a wrong or missing key file -----------------------------------------------
cp "$SMOLVM_HOME/keys/vault.key" "$SMOLVM_HOME/key.good"
head -c 32 /dev/urandom >"$SMOLVM_HOME/keys/vault.key"
run "$SMOLVM" vault ls
check_match "another key file: wrong passphrase or key file" "$RC $OUT" "^1 .*wrong passphrase or key file"
run bash -c "printf v | '$SMOLVM' vault add NEW_KEY --hosts a.example.com"
check_match "add with it fails the same way" "$RC $OUT" "^1 .*wrong passphrase or key file"
check "and changes nothing" cmp "$V" "$SMOLVM_HOME/good"
rm "$SMOLVM_HOME/keys/vault.key"
run bash -c "printf v | '$SMOLVM' vault add NEW_KEY --hosts a.example.com"
check_match "a missing key file is said to be missing, not made anew" "$RC $OUT" \
	"^1 .*wrong passphrase or key file: .*vault.key, which is missing"
check "no new key file was made" test ! -e "$SMOLVM_HOME/keys/vault.key"
cp "$SMOLVM_HOME/key.good" "$SMOLVM_HOME/keys/vault.key"
chmod 644 "$SMOLVM_HOME/keys/vault.key"
run "$SMOLVM" vault ls
check_match "a key file others can read is refused" "$RC $OUT" "^1 .*can be read by others.*chmod 600"
chmod 600 "$SMOLVM_HOME/keys/vault.key"

# --- two writers at once ----------------------------------------------------------
pids=()
for i in 1 2 3 4 5 6; do
	(printf 'parallel-%s' "$i" | "$SMOLVM" vault add "PAR_$i" --hosts "p$i.example.com" \
		>"$SMOLVM_HOME/par.$i" 2>&1) &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
check_eq "six concurrent adds all succeed (the second waits for the first)" "$bad" 0
check_eq "and all six are in the vault" "$("$SMOLVM" vault ls | grep -c '^PAR_')" 6
flock -x "$V.lock" sleep 15 &
holder=$!
sleep 0.2
cp "$V" "$SMOLVM_HOME/before-lock"
run bash -c "printf v | '$SMOLVM' vault add LOCKED_OUT --hosts a.example.com"
check_match "a writer that cannot get the lock gives up with a clear error" "$RC $OUT" \
	"^1 .*another smolvm is writing the vault"
check "and leaves the vault as it was" cmp "$V" "$SMOLVM_HOME/before-lock"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# --- passphrase mode ----------------------------------------------------------------
export SMOLVM_VAULT_PASSPHRASE='correct horse battery'
run "$SMOLVM" vault init --passphrase
check_match "init --passphrase re-seals the existing vault" "$RC $OUT" "^0 the vault is sealed with the new passphrase"
check "the key file is gone: nothing on disk opens the vault" test ! -e "$SMOLVM_HOME/keys/vault.key"
check_match "every secret is still there" "$("$SMOLVM" vault ls)" "PAR_6"
check_eq "still 0600" "$(mode "$V")" 600
cp "$V" "$SMOLVM_HOME/pass-good"
SMOLVM_VAULT_PASSPHRASE='wrong horse' run "$SMOLVM" vault ls
check_match "a wrong passphrase is said to be one" "$RC $OUT" "^1 .*wrong passphrase or key file"
SMOLVM_VAULT_PASSPHRASE='wrong horse' run bash -c "printf v | '$SMOLVM' vault add NEW_KEY --hosts a.example.com"
check_match "add under a wrong passphrase fails" "$RC $OUT" "^1 .*wrong passphrase or key file"
check "and changes nothing" cmp "$V" "$SMOLVM_HOME/pass-good"
run env -u SMOLVM_VAULT_PASSPHRASE setsid -w "$SMOLVM" vault ls
check_match "with no passphrase and no terminal, it says how to give one" "$RC $OUT" \
	"^1 .*SMOLVM_VAULT_PASSPHRASE"
run bash -c "printf 'pass-value' | '$SMOLVM' vault add PASS_KEY --hosts a.example.com"
check_match "add under the right passphrase" "$RC $OUT" "^0 PASS_KEY added"
if leaks pass-value "$SMOLVM_HOME" || leaks "$SECRET2" "$SMOLVM_HOME"; then
	fail "no value in the clear under a passphrase"
else
	ok "no value in the clear under a passphrase"
fi
run "$SMOLVM" vault init
check_match "init re-seals it with a key file again" "$RC $OUT" "^0 the vault is sealed with .*vault.key now"
unset SMOLVM_VAULT_PASSPHRASE
check_eq "the new key file is 0600" "$(mode "$SMOLVM_HOME/keys/vault.key")" 600
check_match "and opens it without a passphrase" "$("$SMOLVM" vault ls 2>&1)" "PASS_KEY"

# --- a first use in a home that does not exist yet ------------------------------------
N=$SMOLVM_HOME/new/home
run env SMOLVM_HOME="$N" SMOLVM_VAULT_PASSPHRASE=pw "$SMOLVM" vault init --passphrase
check_match "init --passphrase makes the home it needs" "$RC $OUT" "^0 made an empty vault sealed with a passphrase"
check_eq "the home is 0700 and the vault 0600" "$(mode "$N") $(mode "$N/vault")" "700 600"
check "and no key file is made for it" test ! -e "$N/keys/vault.key"

# --- a full disk ----------------------------------------------------------------------
OUTER=$SMOLVM_HOME
D=$(mktemp -d)
trap 'umount "$D" 2>/dev/null; rmdir "$D" 2>/dev/null; t_cleanup_home' EXIT
if mount -t tmpfs -o size=256k,mode=0700 smolvm-vault-test "$D"; then
	(
		export SMOLVM_HOME=$D
		printf 'small' | "$SMOLVM" vault add FIRST --hosts a.example.com >/dev/null
		dd if=/dev/zero of="$D/fill" bs=4k status=none 2>/dev/null
		cp "$D/vault" "$OUTER/vault-before-full"
		big=$(head -c 6000 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 5000)
		run bash -c "printf '%s' '$big' | '$SMOLVM' vault add BIG --hosts b.example.com"
		check_match "a full disk during the write is a clear error" "$RC $OUT" \
			"^1 .*No space left on device.*the vault is unchanged"
		check "the previous vault is intact" cmp "$D/vault" "$OUTER/vault-before-full"
		check_eq "and no temporary file is left" "$(ls "$D" | grep -c tmp)" 0
		check_match "it still opens" "$("$SMOLVM" vault ls 2>&1)" "FIRST"
		rm -f "$D/fill"
		run bash -c "printf '%s' '$big' | '$SMOLVM' vault add BIG --hosts b.example.com"
		check_match "with room again the same add works" "$RC $OUT" "^0 BIG added"
		exit "$T_FAILED"
	)
	T_FAILED=$((T_FAILED + $?))
	umount "$D"
else
	fail "a small tmpfs for the full-disk test mounts"
fi
rmdir "$D"

exit "$T_FAILED"
