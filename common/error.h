/*
 * The one error path: a call that fails returns 0 or -errno and leaves one
 * message here, saying what failed and why. The CLI prints it and turns the
 * errno into an exit status, in one place. Located diagnostics about a policy
 * (diag.h) are a compiler's; this is for everything else.
 */
#ifndef STEER_ERROR_H
#define STEER_ERROR_H

/* Sets the message and returns R (a negative errno), so that `return error_set(-EIO, ...)` reads as one step. */
__attribute__((format(printf, 2, 3))) int error_set(int r, const char *fmt, ...);
/* The last message set, or "" when none. */
const char *error_message(void);
void error_clear(void);

#endif
