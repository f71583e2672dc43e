#!/usr/bin/env bash
# screen: the files pane against a real guest: f opens what the sandbox
# added, changed and deleted against its image (the same as smolvm diff),
# each kind in its theme colour; r reads again after more changes; the
# prefix key opens it from a shell; Esc goes back.
source "$(dirname "$0")/../lib.sh"
t_setup_home
trap 'tm_stop; t_cleanup_home' EXIT
gexec() { "$SMOLVM" exec "$NAME" -- sh -c "$1"; }
# Is the row holding TEXT drawn in colour SGR (as tmux shows it)?
row_colour() { tm capture-pane -p -e -t t | grep -F -- "$1" | head -1 | grep -q -- "$2"; }

NAME=filespane
t_create "create a sandbox" --name "$NAME"
gexec 'echo new >/root/added.txt && echo changed >>/etc/profile && rm /etc/shells'
check_eq "the changes were made" "$?" 0

tm_start 100 30 "TERM=tmux-256color $SMOLVM tui; echo TUI-EXIT=\$?"
expect_screen "the list shows the sandbox" 10 "$NAME"
check_match "the footer names the files key" "$(tm_screen | sed -n 30p)" "f files"
tm_keys f
expect_screen "f opens the files pane" 5 "Files of $NAME ($ID)"
expect_match "... with the counts once read" 60 "3 changes against its image: 1 added, 1 changed, 1 deleted"
check_match "an added file, its size" "$(tm_screen)" "A +file +4 B +/root/added.txt"
check_match "a changed one" "$(tm_screen)" "M +file +[0-9.]+ [KM]?i?B +/etc/profile"
check_match "a deleted one" "$(tm_screen)" "D +file +/etc/shells"
check_match "the same as smolvm diff" "$("$SMOLVM" diff "$NAME" | tr '\n' ' ')" \
	"M /etc/profile D /etc/shells A /root/added.txt"
check "added rows in the added colour" row_colour "/root/added.txt" "38;5;77m\|38;2;95;215;95m"
check "deleted rows in the deleted colour" row_colour "/etc/shells" "38;5;203m\|38;2;255;95;95m"
check_match "the tab names the pane" "$(tm_screen | sed -n 1p)" "files $NAME"
check_match "the footer shows the pane's keys" "$(tm_screen | sed -n 30p)" "r read again"

gexec 'mkdir -p /newdir/sub && echo x >/newdir/sub/f && rm /root/added.txt'
tm_keys r
expect_match "r reads again: the new changes" 60 "A +dir +/newdir"
check_match "... counted" "$(tm_screen)" "5 changes against its image: 3 added, 1 changed, 1 deleted"
check "... the removed file is no longer listed" tm_lacks /root/added.txt

tm_keys '?'
expect_screen "? shows the pane's keys" 5 "Files pane"
tm_keys q
tm_keys Escape
expect_screen "Esc goes back to the list" 5 "NAME "

# From a shell, with the prefix key.
tm_keys Enter
expect_screen "a shell" 20 "~#"
tm_keys C-b f
expect_screen "prefix f opens the pane from the shell" 5 "Files of $NAME"
tm_keys Escape
expect_quit
exit $T_FAILED
