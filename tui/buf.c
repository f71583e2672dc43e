#include "tui/buf.h"

#include <stdlib.h>
#include <string.h>

#include "backend/util.h"

void buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = b->cap ? b->cap : 256;
		while (b->len + n > b->cap)
			b->cap *= 2;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
