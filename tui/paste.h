/* paste: read pasted text as a list of local files. Dragging files from a
 * desktop file manager onto a terminal makes it paste their paths (as a
 * bracketed paste, usually): quoted ('...', "..."), with escaped blanks
 * (a\ b), or as file:// URIs, one or more, separated by blanks or
 * newlines. Such a paste is an upload; anything else is typed. */
#ifndef SMOLVM_PASTE_H
#define SMOLVM_PASTE_H

#include <stdbool.h>
#include <stddef.h>

struct paste_paths {
	char **v;
	size_t n;
};

/*
 * Split text into words the way a shell would read them for quoting:
 * blanks (space, tab, CR, LF) separate words outside quotes; '...' keeps
 * everything; "..." keeps everything but a backslash before " \ $ ` or a
 * newline; outside quotes a backslash keeps the next character (a newline
 * after it joins lines). A word that is a file: URI becomes its local
 * path (percent-decoded; the host must be empty, "localhost" or this
 * machine's name). Returns 0 with out filled (possibly no words), or -1
 * if the text cannot be read as words (an open quote, a URI that is not a
 * local file, a NUL byte); out is then empty.
 */
int paste_split(const char *text, size_t len, struct paste_paths *out);

/*
 * Is text nothing but one or more absolute paths of files or folders that
 * exist here? true with out filled; false (out empty) for anything else,
 * which is then to be typed as it is.
 */
bool paste_files(const char *text, size_t len, struct paste_paths *out);

/* The local path of a file: URI (file:///a%20b, file://localhost/a,
 * file:/a), newly allocated; NULL if uri is not one. */
char *paste_uri_path(const char *uri, size_t len);

/* %XX escapes decoded, newly allocated; NULL for a bad escape or a NUL. */
char *paste_percent_decode(const char *s, size_t len);

void paste_paths_free(struct paste_paths *p);

#endif
