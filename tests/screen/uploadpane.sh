#!/usr/bin/env bash
# screen: the upload pane against a real guest: it opens from the list; Tab
# completes host paths (one match in full, several to what they share, the
# names shown); Enter asks for the destination and the file lands with the
# same checksum; a bad destination fails with the guest's reason in the
# queue; a running upload is cancelled with Ctrl-X and leaves nothing behind;
# a paste of files in the pane offers them; Ctrl-L forgets finished rows.
source "$(dirname "$0")/../lib.sh"
t_setup_home
# A short folder of its own: the File field shows the end of a long path, and
# the checks below read the whole of it.
FILES=$(mktemp -d /tmp/upl.XXXXXX)
trap 'tm_stop; t_cleanup_home; rm -rf "$FILES"' EXIT

expect_screen() {
	if tm_wait "$2" "$3"; then ok "$1"
	else fail "$1"; tm_screen | sed 's/^/#   /'; fi
}
tm_line() { tm_screen | grep -F -- "$1" | head -1; }
line_has() { tm_line "$1" | grep -Eq -- "$2"; }
expect_line() {
	if wait_until "$2" line_has "$3" "$4"; then ok "$1"
	else fail "$1"; tm_screen | sed 's/^/#   /'; fi
}
tm_lacks() { ! tm_has "$1"; }
expect_gone() {
	if wait_until "$2" tm_lacks "$3"; then ok "$1"
	else fail "$1"; tm_screen | sed 's/^/#   /'; fi
}
guest_sum() { "$SMOLVM" exec "$NAME" -- sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
sum_is() { [ "$(guest_sum "$1")" = "$2" ]; }
host_sum() { sha256sum "$1" | cut -d' ' -f1; }

NAME=upane
t_create "create a sandbox" --name "$NAME"
head -c 5000 /dev/urandom >"$FILES/alpha-one.txt"
head -c 7000 /dev/urandom >"$FILES/alpha-two.txt"
mkdir "$FILES/beta"
head -c 64 /dev/urandom >"$FILES/beta/inner.bin"
# Slow enough to catch running under TCG, small enough for the guest's RAM.
head -c $((96 * 1048576)) /dev/urandom >"$FILES/huge.bin"

tm_start 100 30 "TERM=tmux-256color $SMOLVM tui; echo TUI-EXIT=\$?"
expect_screen "the list shows the sandbox" 10 "$NAME"
check_match "the footer names the upload key" "$(tm_screen | sed -n 30p)" "u upload"
tm_keys u
expect_screen "u opens the upload pane" 5 "Upload to $NAME ($ID)"
check_match "the tab names it" "$(tm_screen | sed -n 1p)" "upload $NAME"
check_match "the queue is empty" "$(tm_screen)" "Transfers: none yet"
check_match "the footer shows the pane's keys" "$(tm_screen | sed -n 30p)" \
	"Tab complete .*Enter upload .*\\^X cancel it .*\\^L clear finished .*Esc back"

# --- completion ------------------------------------------------------------------
tm_keys -l "$FILES/al"
tm_keys Tab
expect_line "Tab extends to what the matches share" 5 "File " "$FILES/alpha-\$"
check_match "... and lists them" "$(tm_screen)" "2 match: alpha-one.txt alpha-two.txt"
tm_keys -l "o"
tm_keys Tab
expect_line "one match: completed in full" 5 "File " "$FILES/alpha-one.txt\$"
tm_keys Enter
expect_screen "Enter asks where it goes" 5 "Upload to $NAME"
expect_line "... by default the home folder" 5 "To " "/root"
tm_keys Enter
expect_line "the queue shows it done" 60 "alpha-one.txt" "done +$NAME:/root"
check "... and it is there with the same checksum" sum_is /root/alpha-one.txt \
	"$(host_sum "$FILES/alpha-one.txt")"

# --- a folder, completed with a slash ---------------------------------------------
tm_keys -l "$FILES/be"
tm_keys Tab
expect_line "a folder completes with a slash" 5 "File " "$FILES/beta/\$"
tm_keys Enter
expect_screen "... Enter asks where" 5 "Upload to $NAME"
tm_keys C-u
tm_keys -l "/tmp"
tm_keys Enter
expect_line "the folder is done" 60 "beta" "done +$NAME:/tmp"
check "... with its file" sum_is /tmp/beta/inner.bin "$(host_sum "$FILES/beta/inner.bin")"

# --- a destination that is not there ------------------------------------------------
tm_keys -l "$FILES/alpha-two.txt"
tm_keys Enter
expect_screen "another one" 5 "Upload to $NAME"
tm_keys C-u
tm_keys -l "/no/such/place"
tm_keys Enter
expect_line "a missing folder fails, with the reason" 60 "alpha-two.txt" \
	"FAILED +$NAME:/no/such/place +alpha-two.txt: no folder /no/such/place in sandbox $NAME"
expect_screen "... also on the status line" 5 "upload of alpha-two.txt to $NAME failed"

# --- cancel ----------------------------------------------------------------------
tm_keys -l "$FILES/huge.bin"
tm_keys Enter
expect_screen "a big one" 5 "Upload to $NAME"
tm_keys Enter
expect_line "it runs, showing how far it is" 30 "huge.bin" "running .*huge\.bin +.*[0-9]+%"
tm_keys C-x
expect_line "Ctrl-X cancels it" 30 "huge.bin" "cancelled"
no_leftover() { "$SMOLVM" exec "$NAME" -- sh -c 'ls -a /root | grep -q huge && exit 1; exit 0'; }
check "... and nothing of it is left in the guest" no_leftover

# --- a paste in the pane ------------------------------------------------------------
tm set-buffer -- "$FILES/alpha-two.txt" && tm paste-buffer -p -d -t t
expect_screen "a paste of a file in the pane offers it" 5 "Upload to $NAME"
tm_keys Enter
screen_match() { tm_screen | grep -Eq -- "$1"; }
if wait_until 60 screen_match "done +$NAME:/root +alpha-two.txt"; then ok "... and it goes"
else fail "... and it goes"; tm_screen | sed 's/^/#   /'; fi
check "... with the same checksum" sum_is /root/alpha-two.txt "$(host_sum "$FILES/alpha-two.txt")"

# --- clearing, leaving ------------------------------------------------------------
tm_keys C-l
expect_gone "Ctrl-L forgets the finished ones" 5 "huge.bin"
check_match "... all of them" "$(tm_screen)" "Transfers: none yet"
tm_keys Escape
expect_screen "Esc goes back to the list" 5 "NAME "
tm_keys q
expect_screen "quit" 10 "TUI-EXIT=0"
exit $T_FAILED
