#!/usr/bin/env bash
# screen: the snapshot pane against a real guest: S opens it; n takes a
# disk snapshot and a memory one (named in a small form), each listed with
# kind, time and size once the job is done; r restores one after asking
# (the guest's file is back as it was) and the tree marks it current; c
# clones one into a new sandbox that has the snapshot's files; d deletes one
# after asking.
source "$(dirname "$0")/../lib.sh"
t_setup_home
trap 'tm_stop; t_cleanup_home' EXIT
gexec() { "$SMOLVM" exec "$NAME" -- sh -c "$1"; }

NAME=snappane
t_create "create a sandbox" --name "$NAME"
gexec 'echo one >/root/state.txt'

tm_start 120 30 "TERM=tmux-256color $SMOLVM tui; echo TUI-EXIT=\$?"
expect_screen "the list shows the sandbox" 10 "$NAME"
check_match "the footer names the snapshot key" "$(tm_screen | sed -n 30p)" "S snapshots"
tm_keys S
expect_screen "S opens the snapshot pane" 5 "Snapshots of $NAME ($ID, running)"
check_match "none yet" "$(tm_screen)" "No snapshots yet"
check_match "the footer shows the pane's keys" "$(tm_screen | sed -n 30p)" \
	"n new .*r restore .*d delete .*c clone"

# --- a disk snapshot, then a memory one -----------------------------------------------
tm_keys n
expect_screen "n asks for a name and a kind" 5 "New snapshot of $NAME"
tm_keys -l "first"
tm_keys Enter
expect_match "the disk snapshot is listed" 60 "first +disk +[0-9-]+ [0-9:]+ +[0-9.]+ [KMG]?i?B"
expect_screen "... and the job said so" 30 "snapshotting $NAME: done"
check_match "smolvm snapshot ls agrees" "$("$SMOLVM" snapshot ls "$NAME")" "first +disk"
gexec 'echo two >/root/state.txt'
tm_keys n
expect_screen "again" 5 "New snapshot of $NAME"
tm_keys -l "mem1"
tm_keys Tab Space
expect_screen "Space picks the memory kind" 5 "(o) memory"
tm_keys Enter
expect_match "the memory snapshot is listed, under the first" 120 "mem1 +memory"
check_match "... as its child" "$(tm_screen)" "(└ |\`-)mem1"
check_match "... from first" "$(tm_screen | grep mem1)" "first *$"

# --- restore --------------------------------------------------------------------------
tm_keys Up
tm_keys r
expect_screen "r asks before restoring" 5 "Restore $NAME to first (disk)?"
tm_keys y
expect_screen "the restore runs and finishes" 180 "restoring $NAME: done"
check_eq "the guest's file is as it was in the snapshot" "$(gexec 'cat /root/state.txt')" one
expect_match "first is marked current" 10 "\* +first +disk"

# --- clone ----------------------------------------------------------------------------
tm_keys c
expect_screen "c asks for the new sandbox's name" 5 "Clone $NAME:first"
check_match "... with a default" "$(tm_screen | grep 'Name ')" "$NAME-first"
tm_keys Enter
expect_screen "the clone boots and is created" 180 "created $NAME-first"
check_eq "the clone has the snapshot's file" \
	"$("$SMOLVM" exec "$NAME-first" -- cat /root/state.txt)" one

# --- delete ---------------------------------------------------------------------------
tm_keys Down
tm_keys d
expect_screen "d asks before deleting" 5 "Delete snapshot mem1 of $NAME?"
tm_keys y
expect_gone "the snapshot goes from the pane" 60 "mem1"
check "... and from smolvm snapshot ls" bash -c "! '$SMOLVM' snapshot ls '$NAME' | grep -q mem1"

tm_keys Escape
expect_screen "Esc goes back to the list" 5 "NAME "
tm_keys q
expect_screen "quit" 10 "TUI-EXIT=0"
exit $T_FAILED
