/*
 * steer proxy: the one long-running part of steer. It carries the applied
 * policy's forward rules: for each distinct forward it listens on loopback
 * and registers those sockets in the forward's slots, so the program hands it
 * exactly the connections the rules forward; it follows re-applies; per
 * connection it picks the upstream (by the first bytes' name for sni and
 * host), connects, and relays (relay.h), in a worker thread per CPU. It takes
 * the built manifest from the applied state through runtime/, never from the
 * compiler.
 */
#ifndef STEER_PROXY_H
#define STEER_PROXY_H

#include <stdbool.h>
#include <stdio.h>

#include "relay.h"
#include "runtime.h"

#define PROXY_MAX_THREADS 64

struct proxy_opts {
	struct rt_target target;
	enum relay_mode relay;
	double grace; /* seconds live connections get after SIGTERM */
	double first_timeout; /* seconds to wait for the name in the first bytes */
	double connect_timeout; /* seconds to wait for the upstream */
	unsigned threads; /* workers, each with its own connections */
	bool verbose; /* a line per connection on stderr */
	FILE *out; /* "ready" and the end's summary */
};

/* Runs until SIGTERM or SIGINT; 0, or -errno with the message set when it cannot start. */
int proxy_run(const struct proxy_opts *o);

#endif
