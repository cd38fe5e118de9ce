/* steer monitor --established: the bytes the services' processes move on the connections they accepted. */
#ifndef STEER_ESTABLISHED_H
#define STEER_ESTABLISHED_H

#include <stdint.h>
#include <sys/types.h>

#include "state.h"
#include "vec.h"

/* One process serving one or more services: its established TCP connections, summed. */
struct est_row {
	char services[256]; /* "web", or "web,api" for a process holding the sockets of both */
	pid_t pid;
	char comm[32];
	char cgroup[256];
	uint32_t conns;
	uint64_t bytes_in, bytes_out; /* over the life of the connections open now */
	uint64_t delta_in, delta_out; /* since the previous sample */
};

typedef VEC(struct est_row) est_vec;

/* A connection's byte counts at the previous sample, by socket cookie. */
struct est_seen {
	uint64_t cookie, in, out;
};

struct rt_established {
	VEC(struct est_seen) seen; /* sorted by cookie */
};

/* One sample into OUT (emptied first). 0 or -errno with the message set. */
int rt_established(const struct rt_target *t, struct rt_established *e, est_vec *out);
void rt_established_free(struct rt_established *e);

#endif
