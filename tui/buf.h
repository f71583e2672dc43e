/* buf: a growable byte buffer (bytes waiting to be written somewhere). */
#ifndef SMOLVM_BUF_H
#define SMOLVM_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len, cap;
};

void buf_append(struct buf *b, const void *p, size_t n);
/* Drop the first n bytes (they were written). */
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);

#endif
