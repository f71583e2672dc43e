#!/usr/bin/env bash
# screen: the vault pane against a real guest: v opens it; n adds a secret
# with its value typed masked (never on screen, stored so that smolvm vault
# ls lists it); a bad name is refused in the form; a attaches it to the
# sandbox (the guest's new shells get a placeholder in $NAME, never the
# value) and a again detaches it; use counts come live from the vault's
# counts file; d deletes it after asking.
source "$(dirname "$0")/../lib.sh"
t_setup_home
# The vault's key file goes into keys/: this home's own, not the shared one.
if [ -L "$SMOLVM_HOME/keys" ]; then
	rm "$SMOLVM_HOME/keys" && cp -a "$SMOLVM_TEST_IMAGES/keys" "$SMOLVM_HOME/keys"
fi
trap 'tm_stop; t_cleanup_home' EXIT
guest_env() { "$SMOLVM" exec "$NAME" -- sh -c 'echo "[$TEST_KEY]"'; }

NAME=vaultpane
VALUE=sk-test-$RANDOM$RANDOM-value
t_create "create a sandbox" --name "$NAME"

tm_start 120 30 "TERM=tmux-256color $SMOLVM tui; echo TUI-EXIT=\$?"
expect_screen "the list shows the sandbox" 10 "$NAME"
tm_keys v
expect_screen "v opens the vault pane" 5 "Vault: 0 secrets"
check_match "... for the selected sandbox" "$(tm_screen)" "for $NAME \($ID\): 0 attached"
check_match "the footer shows the pane's keys" "$(tm_screen | sed -n 30p)" \
	"n add .*d delete .*a attach/detach"

# --- add -----------------------------------------------------------------------
tm_keys n
expect_screen "n opens the form" 5 "New secret"
tm_keys -l "bad-name"
tm_keys Tab
tm_keys -l "api.test"
tm_keys Tab Tab Tab
tm_keys -l "$VALUE"
expect_screen "the value shows masked" 5 "$(printf '%*s' ${#VALUE} '' | tr ' ' '*')"
check "... never as text" tm_lacks "$VALUE"
tm_keys Enter
expect_match "a bad name is refused in the form" 5 "New secret"
check_match "... saying why" "$(tm_screen)" "[Nn]ame"
# Back to the name: Tab round the form (name, hosts, header, format, value, Add, Cancel).
tm_keys Tab Tab Tab Tab Tab Tab Tab
tm_keys C-u
tm_keys -l "TEST_KEY"
tm_keys Enter
expect_gone "a good one closes the form" 10 "New secret"
expect_match "it is listed with its host" 10 "TEST_KEY +api\.test +- +0 +never +-"
check_match "smolvm vault ls has it" "$("$SMOLVM" vault ls 2>&1)" "TEST_KEY.*api\.test"
check "the value is nowhere on the screen" tm_lacks "$VALUE"

# --- attach, live counts, detach ----------------------------------------------
tm_keys a
expect_match "a attaches it to the sandbox" 30 "TEST_KEY .* attached"
expect_screen "... and says so" 30 "TEST_KEY attached to $NAME"
check_match "the policy names it" "$(tr -d ' \n\t' <"$VM_DIR/policy.json")" '"secrets":\["TEST_KEY"\]'
ENV=$(guest_env)
check_match "the guest's shells get a placeholder" "$ENV" '^\[smolvm-ph-[0-9a-f]{32}\]$'
check "... never the value" bash -c "! printf %s '$ENV' | grep -qF -- '$VALUE'"
# What a proxy records for three injections ("NAME COUNT LAST", vault_uses.c).
printf 'TEST_KEY 3 %s\n' "$(date +%s)" >"$SMOLVM_HOME/vault.uses"
expect_match "use counts show live" 10 "TEST_KEY +api\.test +- +3 +[0-9]+s ago"
tm_keys a
expect_match "a again detaches it" 30 "TEST_KEY .*(ago|never) +-$"
check "... from the policy too" bash -c "! grep -q TEST_KEY '$VM_DIR/policy.json'"

# --- delete --------------------------------------------------------------------
tm_keys d
expect_screen "d asks before deleting" 5 "Delete TEST_KEY from the vault?"
tm_keys y
expect_screen "it is gone" 10 "Vault: 0 secrets"
check "smolvm vault ls agrees" bash -c "! '$SMOLVM' vault ls 2>&1 | grep -q TEST_KEY"
tm_keys Escape
expect_screen "Esc goes back to the list" 5 "NAME "
tm_keys q
expect_screen "quit" 10 "TUI-EXIT=0"
exit $T_FAILED
