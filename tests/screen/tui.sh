#!/usr/bin/env bash
# screen: the workbench driven in tmux at 80x24 against real guests: the
# list, live updates from another terminal, shells (prompt, commands,
# resize reaching the guest's pty, two shells and switching, exit), the new
# and delete dialogs, help, themes, the mouse, and quitting with the
# terminal restored.
source "$(dirname "$0")/../lib.sh"
t_setup_home
trap 'tm_stop; t_cleanup_home' EXIT

tm_lacks() { ! tm_has "$1"; }
# The screen line holding TEXT (first match).
tm_line() { tm_screen | grep -F -- "$1" | head -1; }
line_has() { tm_line "$1" | grep -Eq -- "$2"; }
wait_line() { wait_until "$1" line_has "$2" "$3"; }
# No list row for sandbox NAME (its name followed by an id).
row_gone() { ! tm_screen | grep -Eq -- " $1 +[0-9a-f]{8} "; }
in_ls() { "$SMOLVM" ls | awk '{print $2}' | grep -qx "$1"; }
not_in_ls() { ! in_ls "$1"; }
# mouse_click COL ROW (from 1): a press and a release in X10 mouse codes
# (32 + button, 32 + column, 32 + row), as tmux-256color's terminfo has them.
mouse_click() {
	local xy
	xy=$(printf "\\$(printf %o $((32 + $1)))\\$(printf %o $((32 + $2)))")
	tm_keys -l $'\e[M '"$xy"$'\e[M#'"$xy"
}
# Is screen line N drawn in the dark theme's selection colour?
selected_row() { tm capture-pane -p -e -t t | sed -n "$1p" | grep -q '48;5;24m'; }

# expect_screen NAME TIMEOUT TEXT: wait for TEXT, show the screen if it never comes.
expect_screen() {
	if tm_wait "$2" "$3"; then ok "$1"
	else fail "$1"; tm_screen | sed 's/^/#   /'; fi
}

OUT=$("$SMOLVM" create --name alpha --json 2>&1)
check_match "a sandbox to look at" "$OUT" '"state": *"running"'

STTY_DIR=$(mktemp -d)
# tmux's own terminal type, so that its key and mouse codes are the ones
# terminfo describes (tm_start's TERM reaches only the first command).
tm_start 80 24 "stty -g >$STTY_DIR/before; TERM=tmux-256color $SMOLVM tui; echo TUI-EXIT=\$?;" \
	"stty -g >$STTY_DIR/after"

# --- the list ---------------------------------------------------------------
expect_screen "list shows the sandbox" 10 "alpha"
check_match "list has a column header" "$(tm_screen | sed -n 2p)" \
	"NAME +ID +STATE +UPTIME +MEMORY +vCPUs +ADDRESS"
check_match "row shows id, state, memory, vCPUs, address" "$(tm_line alpha)" \
	"alpha +[0-9a-f]{8} +running +[0-9]+[smh] +256 MiB +1 +10\.77\.[0-9]+\.[0-9]+"
check_match "header names the program and counts" "$(tm_screen | sed -n 1p)" \
	"smolvm .*sandboxes .*1 sandbox, 1 running"
check_match "footer shows the keys" "$(tm_screen | sed -n 24p)" \
	"Enter shell .*n new .*d delete .*\? help .*q quit"
if wait_line 15 alpha "●"; then ok "the SSH session is warmed (dot in the row)"
else fail "the SSH session is warmed (dot in the row)"; tm_screen | sed 's/^/#   /'; fi

# --- a shell ----------------------------------------------------------------
tm_keys Enter
expect_screen "Enter opens a shell with a prompt" 15 "~#"
check_match "a tab for the shell" "$(tm_screen | sed -n 1p)" "1 alpha"
tm_keys 'uname -a; echo "HN=$(hostname)"' Enter
expect_screen "commands run in the guest" 10 "Linux alpha"
expect_screen "the guest's hostname is the sandbox's name" 5 "HN=alpha"
tm_keys 'echo "SZ=$(stty size)"' Enter
expect_screen "the pty has the pane's size (21x80)" 10 "SZ=21 80"
tm resize-window -t t -x 100 -y 30
tm_keys 'echo "SZ=$(stty size)"' Enter
expect_screen "a resize reaches the guest (27x100)" 10 "SZ=27 100"
check_match "the footer moved to the new last line" "$(tm_screen | sed -n 30p)" "list"
tm_keys "printf '\\033[1;31mRED\\033[0m wide:\\346\\227\\245\\346\\234\\254 end\\n'" Enter
expect_screen "UTF-8 and wide characters keep their columns" 10 "wide:日本 end"
if tm capture-pane -p -e -t t | grep -q $'\e\[1m\e\[31mRED\|\e\[31m\e\[1mRED\|\e\[1;31mRED'; then
	ok "bold and colour reach the screen"
else
	fail "bold and colour reach the screen"
	tm capture-pane -p -e -t t | grep RED | cat -v | sed 's/^/#   /'
fi
tm resize-window -t t -x 80 -y 24
tm_keys 'clear; seq 1 60; echo END-$((1+1))' Enter
expect_screen "output scrolls" 10 "END-2"
tm_keys S-PPage
expect_screen "Shift-PgUp scrolls back" 5 "lines back"
check_match "older lines are shown" "$(tm_screen)" "(^|[^0-9])30([^0-9]|$)"
tm_keys Escape
if wait_until 5 tm_lacks "lines back"; then ok "Esc returns to the live screen"
else fail "Esc returns to the live screen"; fi

# --- a second shell, switching ----------------------------------------------
tm_keys C-b c
expect_screen "prefix c opens a second shell" 15 "2 alpha"
tm_wait 15 "~#"
tm_keys 'echo second-$((6*7))' Enter
expect_screen "the second shell runs commands" 10 "second-42"
tm_keys C-b 1
if wait_until 5 tm_lacks "second-42" && tm_has "60"; then ok "prefix 1 switches to the first shell"
else fail "prefix 1 switches to the first shell"; tm_screen | sed 's/^/#   /'; fi
tm_keys C-b n
expect_screen "prefix n goes to the next shell" 5 "second-42"
tm_keys 'read -r x; echo "GOT:$(printf %s "$x" | od -An -tx1 | tr -d " ")"' Enter
tm_keys C-b C-b Enter
expect_screen "the prefix twice sends it to the shell" 10 "GOT:02"
tm_keys C-b l
expect_screen "prefix l goes back to the list" 5 "NAME"
check_match "the list counts the open shells" "$(tm_screen)" "2 shells open"
tm_keys 2
expect_screen "a number key in the list opens that shell" 5 "second-42"
tm_keys 'exit' Enter
expect_screen "an ended shell says so" 10 "exited with status 0"
tm_keys x
if wait_until 5 tm_lacks "2 alpha"; then ok "a key closes the ended shell's tab"
else fail "a key closes the ended shell's tab"; tm_screen | sed 's/^/#   /'; fi

# --- a frozen guest does not freeze the workbench -------------------------
ALPHA_ID=$("$SMOLVM" ls | awk '$2 == "alpha" { print $1 }')
QPID=$(pgrep -f "qemu-system.*-name smolvm-$ALPHA_ID" | head -1)
check "the guest's QEMU is found" test -n "$QPID"
tm_keys 1
tm_wait 5 "END-2"
kill -STOP "$QPID"
tm_keys -l "$(printf 'x%.0s' $(seq 1 3000))"
tm_keys Enter
tm_keys C-b l
expect_screen "with the guest stopped, the list still answers" 5 "NAME"
tm_keys '?'
expect_screen "and so does the help" 5 "Sandbox list"
tm_keys z
kill -CONT "$QPID"
tm_keys 1
tm_keys C-c 'echo thawed-$((3*3))' Enter
expect_screen "the shell works again once the guest runs" 20 "thawed-9"
tm_keys C-b l
tm_wait 5 "NAME"

# --- another terminal creates a sandbox -------------------------------------
"$SMOLVM" create --name gamma >/dev/null 2>&1 &
CREATE_PID=$!
expect_screen "a sandbox created elsewhere appears without a key press" 10 "gamma"
wait "$CREATE_PID"
if wait_line 30 gamma "running"; then ok "its state follows to running"
else fail "its state follows to running"; tm_screen | sed 's/^/#   /'; fi

# --- the new-sandbox dialog ------------------------------------------------
tm_keys n
expect_screen "n opens the new-sandbox dialog" 5 "New sandbox"
tm_keys C-u '-bad' Enter
expect_screen "a bad name is refused in the dialog" 5 "the name may not start with '-' or '.'"
tm_keys C-u 'alpha' Enter
expect_screen "a taken name is refused" 5 "already a sandbox named alpha"
tm_keys C-u 'beta' Tab C-u 10 Enter
expect_screen "memory out of range is refused" 5 "memory is a number of MiB"
tm_keys C-u 192 Enter
if wait_until 5 tm_lacks "New sandbox"; then ok "a valid form closes the dialog"
else fail "a valid form closes the dialog"; tm_screen | sed 's/^/#   /'; fi
expect_screen "the new sandbox shows as booting" 10 "booting"
if wait_line 60 beta "running +[0-9]+s +192 MiB"; then ok "the new sandbox becomes running"
else fail "the new sandbox becomes running"; tm_screen | sed 's/^/#   /'; fi
check "smolvm ls has it" in_ls beta

tm_keys n
tm_wait 5 "New sandbox"
mv "$SMOLVM_HOME/images" "$SMOLVM_HOME/images.away"
tm_keys C-u 'delta' Enter
if wait_line 30 "creating delta failed" "image build"; then
	ok "a failed create shows its error in the status line"
else
	fail "a failed create shows its error in the status line"; tm_screen | sed 's/^/#   /'
fi
mv "$SMOLVM_HOME/images.away" "$SMOLVM_HOME/images"
check "the failed sandbox left nothing" not_in_ls delta

# --- delete with confirmation -----------------------------------------------
tm_keys Home
tm_keys j
tm_keys d
expect_screen "d asks before deleting" 5 "Delete gamma"
tm_keys n
if wait_until 5 tm_lacks "Delete gamma" && in_ls gamma; then ok "n keeps the sandbox"
else fail "n keeps the sandbox"; fi
tm_keys d
tm_wait 5 "Delete gamma"
tm_keys y
if wait_until 30 not_in_ls gamma; then ok "y deletes it"; else fail "y deletes it"; fi
if wait_until 5 row_gone gamma; then ok "the row goes away"
else fail "the row goes away"; tm_screen | sed 's/^/#   /'; fi

# --- mouse, help, theme -------------------------------------------------------
row=$(tm_screen | grep -n " beta " | head -1 | cut -d: -f1)
mouse_click 10 "$row"
if wait_until 5 selected_row "$row"; then ok "a click selects a row"
else fail "a click selects a row"; tm capture-pane -p -e -t t | sed -n "${row}p" | cat -v | sed 's/^/#   /'; fi
col=$(tm_screen | sed -n 1p | awk '{ print index($0, "1 alpha") }')
mouse_click "$col" 1
expect_screen "a click on a tab switches to it" 5 "thawed-9"
tm_keys C-b l
tm_wait 5 "NAME"
tm_keys '?'
expect_screen "? shows the help" 5 "In a shell, after the prefix Ctrl-b"
check_match "help lists the list keys" "$(tm_screen)" "d +delete"
tm_keys z
if wait_until 5 tm_lacks "after the prefix"; then ok "any key closes the help"
else fail "any key closes the help"; fi
tm_keys t
expect_screen "t switches the theme" 5 "theme light"

# --- a sandbox stops and starts under an open shell --------------------------
tm_keys Enter
expect_screen "Enter opens a shell in the clicked sandbox" 15 "root@beta:~#"
"$SMOLVM" stop beta >/dev/null 2>&1
expect_screen "stopping the sandbox ends its shell, saying why" 10 "beta was stopped"
tm_keys z
if wait_line 10 " beta " "stopped" && ! line_has " beta " "●"; then
	ok "the list shows it stopped, without a session"
else
	fail "the list shows it stopped, without a session"; tm_screen | sed 's/^/#   /'
fi
"$SMOLVM" start beta >/dev/null 2>&1
if wait_line 20 " beta " "● beta .*running"; then ok "started again, it gets a new warm session"
else fail "started again, it gets a new warm session"; tm_screen | sed 's/^/#   /'; fi
tm_keys Enter
expect_screen "and a shell opens in it" 15 "root@beta:~#"

# --- quit ------------------------------------------------------------------------
tm_keys C-b l
tm_keys q
expect_screen "q with a shell open asks first" 5 "Quit smolvm?"
tm_keys y
expect_screen "y quits" 10 "TUI-EXIT=0"
if wait_until 5 test -s "$STTY_DIR/after" && cmp -s "$STTY_DIR/before" "$STTY_DIR/after"; then
	ok "the terminal settings are restored"
else
	fail "the terminal settings are restored"
fi
check_match "the screen is the shell's again" "$(tm_screen)" "^TUI-EXIT=0"
rm -rf "$STTY_DIR"
exit 0
