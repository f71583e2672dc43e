#!/usr/bin/env bash
# screen: drag-in. Files dragged onto the terminal arrive as a bracketed
# paste of their paths (tmux's paste-buffer -p stands in for the terminal):
# on a shell in a real guest they are offered for upload into the shell's
# current folder (busybox ash says nothing of it: the workbench asks the
# guest), uploaded with progress on the status line, and land with the same
# checksums; quoting, an escaped space and a file:// URI are understood. A
# paste that is not only existing paths is typed into the shell, bracketed
# only if the program in it asked for that; "Paste as text" types the
# paths; Esc uploads nothing; a drop on the list goes to /root.
source "$(dirname "$0")/../lib.sh"
t_setup_home
FILES=$(mktemp -d)
trap 'tm_stop; t_cleanup_home; rm -rf "$FILES"' EXIT

# paste TEXT: into the pane as the terminal would paste it, bracketed.
paste() { tm set-buffer -- "$1" && tm paste-buffer -p -d -t t; }
host_sum() { sha256sum "$1" | cut -d' ' -f1; }
# sum_is PATH SUM: the guest's file has that checksum (else what the guest said).
sum_is() {
	local out
	out=$("$SMOLVM" exec "$NAME" -- sha256sum "$1" 2>&1)
	[ "${out%% *}" = "$2" ] && return 0
	printf 'the guest says: %s\n' "$out"
	return 1
}

NAME=dragin
t_create "create a sandbox" --name "$NAME"

head -c 300000 /dev/urandom >"$FILES/with space.txt"
head -c 1234 /dev/urandom >"$FILES/uri name.txt"
# Big enough that the upload is seen running.
head -c $((48 * 1048576)) /dev/urandom >"$FILES/big.bin"
mkdir "$FILES/dir" && echo inside >"$FILES/dir/in.txt"

tm_start 100 30 "TERM=tmux-256color $SMOLVM tui; echo TUI-EXIT=\$?"
expect_screen "the list shows the sandbox" 10 "$NAME"
tm_keys Enter
expect_screen "a shell opens" 20 "~#"
tm_keys -l "mkdir -p '/tmp/drop zone' && cd '/tmp/drop zone'"
tm_keys Enter
expect_screen "the shell is in the new folder" 10 "drop zone#"

# --- a drop of three files on the shell -----------------------------------------
paste "'$FILES/with space.txt' file://$FILES/uri%20name.txt $FILES/big.bin"
expect_screen "a paste of paths offers an upload" 5 "Upload to $NAME"
check_match "... naming the three files" "$(tm_line "3 items")" \
	"3 items: with space.txt, uri name.txt, big.bin"
expect_line "... into the shell's current folder, asked of the guest" 10 "To " "/tmp/drop zone"
check_match "... and says where that comes from" "$(tm_screen)" "the shell's current folder"
check_match "the footer shows the dialog's keys" "$(tm_screen | sed -n 30p)" \
	"Enter upload .*Tab buttons .*Esc cancel"
tm_keys Enter
expect_gone "Enter starts the upload" 5 "Upload to $NAME"
expect_line "the status line shows the running file and how far it is" 30 "big.bin" \
	"big\.bin [0-9]+% 3/3"
expect_screen "... and then that all three arrived" 120 "uploaded 3 items"
check_match "... where" "$(tm_line "uploaded 3 items")" "to $NAME:/tmp/drop zone"
check "the file with a space has the same checksum in the guest" \
	sum_is "/tmp/drop zone/with space.txt" "$(host_sum "$FILES/with space.txt")"
check "the file:// one (percent-decoded) too" \
	sum_is "/tmp/drop zone/uri name.txt" "$(host_sum "$FILES/uri name.txt")"
check "the big one too" sum_is "/tmp/drop zone/big.bin" "$(host_sum "$FILES/big.bin")"

# --- a folder, with an escaped space in the path ---------------------------------
mkdir "$FILES/a folder" && echo deep >"$FILES/a folder/f.txt"
paste "$FILES/a\\ folder"
expect_screen "an escaped space: a folder offered" 5 "1 item: a folder"
tm_keys Enter
expect_screen "... uploaded" 60 "uploaded 1 item"
check "... with what is in it" sum_is "/tmp/drop zone/a folder/f.txt" \
	"$(host_sum "$FILES/a folder/f.txt")"

# --- pastes that are not files ---------------------------------------------------
paste "echo pasted-\$((6*7))"
expect_screen "other text is typed into the shell" 5 "echo pasted-\$((6*7))"
check "... with no dialog" tm_lacks "Upload to"
tm_keys Enter
expect_screen "... and runs there" 5 "pasted-42"
paste "$FILES/no-such-file"
expect_screen "a path that does not exist is typed too" 5 "$FILES/no-such-file"
tm_keys C-c
# A program that asks for bracketed paste gets the markers (cat -v shows them).
tm_keys -l "printf '\\033[?2004h'; cat -v"
tm_keys Enter
sleep_until_cat() { tm_screen | tail -3 | grep -q "cat -v"; }
wait_until 5 sleep_until_cat
paste "hello"
tm_keys Enter
expect_screen "a guest that asked for bracketed paste gets it bracketed" 5 "^[[200~hello^[[201~"
tm_keys C-c
tm_keys -l "printf '\\033[?2004l'; clear"
tm_keys Enter

# --- paste as text; Esc ----------------------------------------------------------
paste "'$FILES/uri name.txt'"
expect_screen "a file again: the dialog" 5 "Upload to $NAME"
check_match "... with a button to type the path instead" "$(tm_screen)" "Paste as text"
tm_keys Tab Tab Enter
expect_gone "Paste as text closes the dialog" 5 "Upload to $NAME"
# (ash may scroll a long line sideways: its end shows the quoting kept)
expect_screen "... and types the paste as it was, quotes and all" 5 "/uri name.txt'"
tm_keys C-c
paste "$FILES/big.bin"
expect_screen "Esc: the dialog" 5 "Upload to $NAME"
"$SMOLVM" exec "$NAME" -- rm -f "/tmp/drop zone/big.bin"
tm_keys Escape
expect_gone "Esc closes it" 5 "Upload to $NAME"
sleep_check() { "$SMOLVM" exec "$NAME" -- test ! -e "/tmp/drop zone/big.bin"; }
check "... and uploads nothing" sleep_check

# --- a drop on the list: into /root ----------------------------------------------
tm_keys C-b l
expect_screen "back to the list" 5 "NAME "
paste "$FILES/with\ space.txt"
expect_screen "a drop on the list offers an upload to the selected sandbox" 5 "Upload to $NAME"
expect_line "... into the home folder" 5 "To " "/root"
tm_keys Enter
expect_screen "... uploaded" 60 "to $NAME:/root"
check "... with the same checksum" sum_is "/root/with space.txt" \
	"$(host_sum "$FILES/with space.txt")"

# --- the upload pane lists them all ----------------------------------------------
tm_keys u
expect_screen "u opens the upload pane" 5 "Upload to $NAME ($ID)"
check_match "... listing each file as done" "$(tm_line "big.bin")" "done +$NAME:/tmp/drop zone"
check_match "... the folder too" "$(tm_line "a folder")" "done"
tm_keys Escape
expect_quit
exit $T_FAILED
