/* status: the one-line message under the main area (what just happened,
 * or what went wrong and what to do). */
#ifndef SMOLVM_STATUS_H
#define SMOLVM_STATUS_H

#include <stdbool.h>
#include <stdint.h>

enum status_level { STATUS_INFO, STATUS_ERROR };

void status_set(enum status_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void status_clear(void);

/* Clear an old message; true if that changed the line. */
bool status_expire(int64_t now_ms);

/* Milliseconds until the message expires, or -1. */
int status_timeout(int64_t now_ms);

/* Draw the line at row y, with right (progress of running jobs) at the end. */
void status_draw(int y, int width, const char *right);

#endif
