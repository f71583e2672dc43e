#include "tui/shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/util.h"

struct shell *shell_new(struct session *s, const char *sb_name, int rows, int cols)
{
	struct shell *sh = xcalloc(1, sizeof *sh);

	sh->tp = termpane_new(rows, cols);
	sh->sess = s;
	s->users++;
	snprintf(sh->id, sizeof sh->id, "%s", s->id);
	snprintf(sh->name, sizeof sh->name, "%s", sb_name);
	sh->state = SHELL_WAITING;
	return sh;
}

/* Has the session under an open channel been dropped (freeing the channel)? */
static bool lost(struct shell *sh)
{
	if (sh->state != SHELL_OPENING && sh->state != SHELL_LIVE && sh->state != SHELL_ENDING)
		return false;
	if (sh->epoch == sh->sess->epoch && sh->sess->state == WARM_READY)
		return false;
	if (sh->sess->error[0])
		snprintf(sh->notice, sizeof sh->notice, "the shell in %s ended: %s", sh->name,
			 sh->sess->error);
	else
		snprintf(sh->notice, sizeof sh->notice, "the connection to %s was lost", sh->name);
	sh->ch = NULL;
	sh->state = SHELL_DONE;
	return true;
}

void shell_free(struct shell *sh)
{
	if (!sh)
		return;
	if (!lost(sh)) {
		if (sh->state == SHELL_OPENING) {
			warm_abandon_open(sh->sess, &sh->req);
		} else if (sh->ch) {
			warm_close_channel(sh->sess, sh->ch);
			sh->sess->channels--;
		}
	}
	warm_release(sh->sess);
	termpane_free(sh->tp);
	free(sh);
}

/* Over: the notice is set by the caller. */
static void finish(struct shell *sh)
{
	if (sh->ch) {
		warm_close_channel(sh->sess, sh->ch);
		sh->sess->channels--;
		sh->ch = NULL;
	}
	sh->state = SHELL_DONE;
}

static int step_open(struct shell *sh)
{
	struct session *s = sh->sess;
	int rc;

	if (sh->state == SHELL_WAITING) {
		if (s->state != WARM_READY || s->opening)
			return 0;
		s->opening = true;
		sh->epoch = s->epoch;
		sh->pty_rows = sh->tp->rows;
		sh->pty_cols = sh->tp->cols;
		sh->req = (struct ssh_chan_req){ .term = SHELL_TERM, .cols = sh->pty_cols,
						 .rows = sh->pty_rows };
		sh->state = SHELL_OPENING;
	}
	rc = ssh_chan_step(s->conn, &sh->req);
	if (rc == 0)
		return 0;
	s->opening = false;
	if (rc < 0) {
		snprintf(sh->notice, sizeof sh->notice, "cannot open a shell in %s: %s", sh->name,
			 err_msg());
		sh->state = SHELL_DONE;
		return SHELL_EV_STATE;
	}
	sh->ch = sh->req.ch;
	s->channels++;
	sh->state = SHELL_LIVE;
	return SHELL_EV_STATE;
}

static int step_read(struct shell *sh)
{
	char buf[16384];
	int ev = 0;

	for (;;) {
		bool got = false;

		for (int stream = 0; stream <= SSH_EXTENDED_DATA_STDERR; stream++) {
			ssize_t n = libssh2_channel_read_ex(sh->ch, stream, buf, sizeof buf);

			if (n > 0) {
				termpane_feed(sh->tp, buf, (size_t)n);
				ev |= SHELL_EV_OUTPUT;
				got = true;
			} else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
				return ev | SHELL_EV_BROKEN;
			}
		}
		if (!got)
			return ev;
	}
}

static int step_write(struct shell *sh)
{
	struct buf *out = &sh->tp->out;

	while (out->len) {
		ssize_t n = libssh2_channel_write(sh->ch, out->data, out->len);

		if (n == LIBSSH2_ERROR_EAGAIN || n == 0)
			return 0;	/* the same bytes go again next time */
		if (n < 0)
			return SHELL_EV_BROKEN;
		buf_consume(out, (size_t)n);
	}
	return 0;
}

static void step_resize(struct shell *sh)
{
	int rc;

	if (!sh->pty_sending) {
		if (sh->pty_rows == sh->tp->rows && sh->pty_cols == sh->tp->cols)
			return;
		sh->pty_rows = sh->tp->rows;
		sh->pty_cols = sh->tp->cols;
	}
	/* libssh2 needs a request that returned EAGAIN repeated as it was. */
	rc = libssh2_channel_request_pty_size(sh->ch, sh->pty_cols, sh->pty_rows);
	sh->pty_sending = rc == LIBSSH2_ERROR_EAGAIN;
	if (!sh->pty_sending && (sh->pty_rows != sh->tp->rows || sh->pty_cols != sh->tp->cols))
		step_resize(sh);
}

int shell_step(struct shell *sh)
{
	int ev = 0, rc;

	if (lost(sh))
		return SHELL_EV_STATE;
	if (sh->state == SHELL_WAITING || sh->state == SHELL_OPENING) {
		ev |= step_open(sh);
		if (sh->state != SHELL_LIVE)
			return ev;
	}
	if (sh->state == SHELL_LIVE) {
		ev |= step_read(sh);
		if (!(ev & SHELL_EV_BROKEN))
			ev |= step_write(sh);
		if (!(ev & SHELL_EV_BROKEN))
			step_resize(sh);
		if (ev & SHELL_EV_BROKEN) {
			snprintf(sh->notice, sizeof sh->notice, "the connection to %s broke: %s",
				 sh->name, ssh_last_error(sh->sess->conn));
			finish(sh);
			return ev | SHELL_EV_STATE;
		}
		if (libssh2_channel_eof(sh->ch)) {
			sh->state = SHELL_ENDING;
			ev |= SHELL_EV_STATE;
		}
	}
	if (sh->state == SHELL_ENDING) {
		rc = libssh2_channel_wait_closed(sh->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return ev;
		if (rc == 0)
			snprintf(sh->notice, sizeof sh->notice,
				 "the shell in %s exited with status %d", sh->name,
				 ssh_chan_exit_status(sh->sess->conn, sh->ch));
		else
			snprintf(sh->notice, sizeof sh->notice, "the shell in %s ended", sh->name);
		finish(sh);
		ev |= SHELL_EV_STATE;
	}
	return ev;
}

bool shell_pending(const struct shell *sh)
{
	return sh->state == SHELL_LIVE && sh->epoch == sh->sess->epoch && ssh_chan_pending(sh->ch);
}

void shell_resize(struct shell *sh, int rows, int cols)
{
	termpane_resize(sh->tp, rows, cols);
}

const char *shell_describe(const struct shell *sh, char *buf, size_t len)
{
	const struct session *s = sh->sess;

	switch (sh->state) {
	case SHELL_WAITING:
		if (s->state == WARM_FAILED && s->error[0])
			snprintf(buf, len, "waiting for SSH in %s: %s (retrying)", sh->name,
				 s->error);
		else if (s->state == WARM_IDLE)
			snprintf(buf, len, "waiting for %s to be running", sh->name);
		else
			snprintf(buf, len, "connecting to %s...", sh->name);
		break;
	case SHELL_OPENING:
		snprintf(buf, len, "opening a shell in %s...", sh->name);
		break;
	case SHELL_DONE:
		snprintf(buf, len, "%s", sh->notice);
		break;
	default:
		buf[0] = '\0';
	}
	return buf;
}
