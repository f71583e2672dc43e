/* progress: how far a transfer is, and a one-line progress bar for terminals. */
#ifndef SMOLVM_PROGRESS_H
#define SMOLVM_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A snapshot of a transfer, handed to a progress_fn as bytes move. */
struct progress_info {
	const char *name;	/* the file being copied now, as the user would name it */
	uint64_t done;		/* bytes copied so far, all files together */
	uint64_t total;		/* bytes to copy in all (known before the copy starts) */
	int files_done;
	int files_total;
};

/*
 * Called by a transfer after every chunk (often: tens of times a second
 * and more), so a view must be cheap and throttle its own drawing. The
 * terminal bar below is one view; the workbench can pass its own.
 */
typedef void (*progress_fn)(void *arg, const struct progress_info *p);

/* A transfer rate that follows changes without jumping at every chunk. */
struct progress_rate {
	int64_t t_ms;		/* time of the last sample */
	uint64_t bytes;		/* bytes done at the last sample */
	double bps;		/* smoothed bytes per second; 0 until known */
};

void progress_rate_init(struct progress_rate *r, int64_t now_ms);
/* Take a sample if enough time has passed since the last one. */
void progress_rate_update(struct progress_rate *r, uint64_t done, int64_t now_ms);

/* Seconds left at bps, or -1 when unknown (no rate yet). */
int64_t progress_eta_s(uint64_t done, uint64_t total, double bps);

/* "0 B", "512 B", "1.5 KiB", "12.3 MiB", "2.0 GiB". */
void progress_fmt_bytes(uint64_t n, char *buf, size_t len);
/* "0:07", "12:34", "1:02:03"; "--:--" when unknown (s < 0). */
void progress_fmt_eta(int64_t s, char *buf, size_t len);

/* Terminal columns that a UTF-8 string takes: wide East Asian characters
 * and emoji count two, combining marks none; bad bytes count one. */
int progress_width(const char *s);

/*
 * One line of at most cols - 1 columns (the last column stays free, so the
 * terminal never wraps):
 *   NAME [#######.......]   45%   45.0 MiB / 100.0 MiB    9.8 MiB/s  ETA 0:05
 * The numbers have fixed widths, so nothing moves as they change. When
 * space is short the bar goes first, then the sizes; a long name is
 * shortened from the left ("...c/deep/file.txt"). Control characters in the
 * name (a newline in a file name) show as '?'. Returns buf.
 */
char *progress_line(char *buf, size_t len, int cols, const char *name, uint64_t done,
		    uint64_t total, double bps);

/* The terminal view: redrawn in place on fd at most every 100 ms. */
struct progress_bar;

/* A bar on fd; it draws nothing unless fd is a terminal (and $TERM is not
 * "dumb"), so a piped or redirected stderr stays clean. */
struct progress_bar *progress_bar_new(int fd);
/* A progress_fn: arg is the bar. */
void progress_bar_update(void *bar, const struct progress_info *p);
/* Erase the bar line (before printing anything else on fd). */
void progress_bar_clear(struct progress_bar *b);
bool progress_bar_active(const struct progress_bar *b);
void progress_bar_free(struct progress_bar *b);

#endif
