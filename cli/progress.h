/*
 * progress: a one-line progress bar on stderr (bytes, percent, rate) for
 * transfers, drawn only when stderr is a terminal and the user did not ask
 * for --quiet.  Any thread may count bytes; at most one draws at a time, no
 * more often than every PROGRESS_INTERVAL_MS, and none waits for another.
 */
#ifndef CS_CLI_PROGRESS_H
#define CS_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#define PROGRESS_INTERVAL_MS 200

struct progress;

/*
 * progress_new(label, total, quiet): a bar for a transfer of total bytes
 * (-1: unknown) labelled label (copied).  Returns NULL when nothing is to be
 * drawn (quiet, stderr not a terminal, or out of memory); every function
 * below accepts NULL and then does nothing.
 */
struct progress *progress_new(const char *label, int64_t total, bool quiet);

/* progress_set_total(p, total): the size, once it becomes known. */
void progress_set_total(struct progress *p, int64_t total);

/* progress_add(p, n): n more bytes moved (n < 0 takes back bytes of a retried request). */
void progress_add(struct progress *p, int64_t n);

/* progress_free(p, ok): draw the final state (when ok), end the line and free p. */
void progress_free(struct progress *p, bool ok);

#endif /* CS_CLI_PROGRESS_H */
