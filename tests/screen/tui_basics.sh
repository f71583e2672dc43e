#!/usr/bin/env bash
# screen: the workbench without guests: option and theme errors, the empty
# list, records appearing and going away while it runs, NO_COLOR, another
# prefix key, running without root, too small and resized screens, and a
# missing image.
source "$(dirname "$0")/../lib.sh"

BASE=$(mktemp -d "${TMPDIR:-/tmp}/smolvm-test.XXXXXX")
# The unprivileged run needs a home it can reach: not under a private TMPDIR.
NOBODY_HOME=$(mktemp -d /tmp/smolvm-test-nobody.XXXXXX)
trap 'tm_stop; rm -rf "$BASE" "$NOBODY_HOME"' EXIT
export SMOLVM_HOME=$BASE/home
mkdir -p "$SMOLVM_HOME"

tm_lacks() { ! tm_has "$1"; }
expect_screen() {
	if tm_wait "$2" "$3"; then ok "$1"
	else fail "$1"; tm_screen | sed 's/^/#   /'; fi
}
expect_gone() {
	if wait_until "$2" tm_lacks "$3"; then ok "$1"
	else fail "$1"; tm_screen | sed 's/^/#   /'; fi
}
# A fresh tmux server for the next run: a server that was just told to
# exit may still accept a connection and then drop it.
tm_next() { tm_stop; TMUX_SOCK=smolvm-test-$$-$1; }

# write_record ID NAME STATE: a sandbox record as the store keeps it (written
# aside and renamed in, as the store does).
write_record() {
	mkdir -p "$SMOLVM_HOME/vms/$1"
	printf '{"id":"%s","name":"%s","state":"%s","image":"tiny","accel":"tcg","mem_mib":128,' \
		"$1" "$2" "$3" >"$SMOLVM_HOME/vms/$1/.record.tmp"
	printf '"cpus":2,"pid":0,"created":%s,"started":0,"ready_ms":0,"netns":"smolvm-%s",' \
		"$(date +%s)" "$1" >>"$SMOLVM_HOME/vms/$1/.record.tmp"
	printf '"host_ip":"10.77.9.1","guest_ip":"10.77.9.2","prefix_len":30}\n' \
		>>"$SMOLVM_HOME/vms/$1/.record.tmp"
	mv "$SMOLVM_HOME/vms/$1/.record.tmp" "$SMOLVM_HOME/vms/$1/record.json"
}

# --- options and theme files ------------------------------------------------
run "$SMOLVM" tui --help
check_match "tui --help" "$RC $OUT" "^0 usage: smolvm tui .*--theme NAME"
run "$SMOLVM" tui --theme dark extra
check_match "an extra argument is refused by name" "$RC $OUT" "^2 smolvm tui: unexpected argument 'extra'"
run "$SMOLVM" tui --theme nope
check_match "an unknown theme is refused and the installed ones named" "$RC $OUT" \
	"^2 smolvm: no theme 'nope' .*nope\.theme.*installed themes: .*dark.*light"
mkdir -p "$BASE/data/themes"
printf '# broken\nlist = default default\nheader = purple black\n' >"$BASE/data/themes/broken.theme"
run env SMOLVM_DATADIR="$BASE/data" "$SMOLVM" tui --theme broken
check_match "a bad theme file names the file and line" "$RC $OUT" \
	"^2 smolvm: .*/data/themes/broken\.theme:3: 'purple' is not a colour"
run "$SMOLVM" tui --prefix x
check_match "a bad prefix key is refused" "$RC $OUT" "^2 smolvm: --prefix takes a control key"
run "$SMOLVM" tui </dev/null
check_match "without a terminal it says what to do" "$RC $OUT" "^2 smolvm: the workbench needs a terminal"

# --- the empty list, records coming and going ------------------------------------
# tmux's own terminal type, so that its key and mouse codes are the ones
# terminfo describes (tm_start's TERM reaches only the first command).
tm_start 80 24 "TERM=tmux-256color $SMOLVM tui; echo TUI-EXIT=\$?"
expect_screen "an empty list says how to start" 10 "No sandboxes yet. Press n to create one."
check_match "the footer fits 80 columns" "$(tm_screen | sed -n 24p)" "q quit"
footer_has() { tm_screen | sed -n 24p | grep -Eq -- "$1"; }
tm resize-window -t t -x 52 -y 24
if wait_until 5 footer_has "^ Enter shell .*\? help +q quit *$"; then
	ok "narrow, the footer drops other hints but keeps help and quit"
else
	fail "narrow, the footer drops other hints but keeps help and quit"; tm_screen | sed 's/^/#   /'
fi
tm resize-window -t t -x 80 -y 24
write_record 0badc0de first stopped
expect_screen "a record written meanwhile shows up" 5 "first"
check_match "its row" "$(tm_screen | grep first | head -1)" \
	"first +0badc0de +stopped +- +128 MiB +2 +10\.77\.9\.2"
write_record 0badc0de first crashed
expect_screen "a state change shows up" 5 "crashed"
write_record 1badc0de second stopped
expect_screen "a second record shows up" 5 "second"
tm_keys j
tm_keys Enter
expect_screen "Enter on a stopped sandbox says to start it" 5 "second is stopped: start it first"
rm -rf "$SMOLVM_HOME/vms/1badc0de"
expect_gone "a removed sandbox goes away" 5 "1badc0de"
tm_keys n
expect_screen "n without an image says how to build one" 5 "smolvm image build"
tm resize-window -t t -x 30 -y 8
expect_screen "a too small screen says so" 5 "smolvm needs 52x12."
tm resize-window -t t -x 120 -y 40
expect_screen "growing back draws the list again" 5 "first"
check_match "the header spans the new width" "$(tm_screen | sed -n 1p)" \
	"^ smolvm .{60,}1 sandbox, 0 running ?$"
check_match "the footer is on the new last line" "$(tm_screen | sed -n 40p)" "q quit"
tm_keys q
expect_screen "q quits" 5 "TUI-EXIT=0"
tm_next nocolor

# --- NO_COLOR and another prefix ---------------------------------------------
tm_start 80 24 "NO_COLOR=1 $SMOLVM tui --prefix C-a"
tm_wait 10 "first"
SCREEN=$(tm capture-pane -p -e -t t)
if printf '%s' "$SCREEN" | grep -q $'\e\[[0-9;]*\(3[0-7]\|4[0-7]\|38;5\|48;5\|9[0-7]\)m'; then
	fail "NO_COLOR: no colours"
	printf '%s\n' "$SCREEN" | cat -v | head -5 | sed 's/^/#   /'
else
	ok "NO_COLOR: no colours"
fi
if printf '%s' "$SCREEN" | grep 'first' | grep -q $'\e\[[0-9;]*7m'; then
	ok "NO_COLOR: the selection is shown reversed"
else
	fail "NO_COLOR: the selection is shown reversed"
fi
tm_keys '?'
expect_screen "the help names the chosen prefix" 5 "^A is Ctrl-a"
tm_keys q
tm_keys q
tm_next nobody

# --- without root -------------------------------------------------------------------
if [ "$(id -u)" = 0 ]; then
	cp -r "$SMOLVM_HOME/vms" "$NOBODY_HOME/"
	chmod 755 "$NOBODY_HOME"
	chown -R 65534:65534 "$NOBODY_HOME"
	export SMOLVM_HOME=$NOBODY_HOME
	tm_start 80 24 "setpriv --reuid=65534 --regid=65534 --clear-groups $SMOLVM tui"
	expect_screen "without root the list still works" 10 "first"
	check_match "the header says it is read-only" "$(tm_screen | sed -n 1p)" "read-only \(not root\)"
	tm_keys Enter
	expect_screen "a shell needs root, and says why" 5 "opening a shell needs root"
	tm_keys n
	expect_screen "creating needs root" 5 "creating a sandbox needs root"
	tm_keys d
	expect_screen "deleting needs root" 5 "deleting a sandbox needs root"
	tm_keys q
	tm_stop
fi
exit 0
