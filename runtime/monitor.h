/*
 * steer monitor: the applied program's decisions as they happen, each with
 * the rule that made it and the process that received it.
 *
 * A monitor takes one of the program's STEER_MONITORS slots (steer_abi.h):
 * its filter, which the program applies, and a ring buffer of its own size.
 * It renews a lease about once a second; the program stops writing to a slot
 * whose lease ran out (a monitor killed), and the next monitor takes it.
 * Events carry the apply's generation, so a re-apply's events name the new
 * rules while the old program's last ones still name the old.
 */
#ifndef STEER_MONITOR_H
#define STEER_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"
#include "cleanup.h"
#include "sockinfo.h"
#include "state.h"

/* What the CLI asks for; names are resolved against the applied policy (and again after a re-apply). */
struct monitor_opts {
	const char *rule; /* "FILE:LINE" (FILE as written or its last components), or NULL */
	const char *service; /* a service's (or forward's) name, or NULL */
	uint32_t kinds; /* bit per enum steer_event_kind, 0: all */
	uint8_t proto; /* PROTO_TCP/PROTO_UDP + 1, 0: both */
	bool has_src, has_dst;
	struct prefix src, dst;
	uint64_t rate; /* events per second, 0: no cap */
	uint32_t buffer; /* ring buffer bytes: a power of 2, at least a page */
};

/* One decision, decoded. Pointers are valid until the callback returns. */
struct monitor_event {
	struct timespec time; /* CLOCK_REALTIME */
	uint8_t proto, family; /* PROTO_*, FAM_* */
	u128 src, dst;
	uint16_t sport, dport;
	uint32_t ifindex;
	const char *iif; /* its name in the namespace, or NULL */
	enum steer_event_kind kind;
	uint8_t why; /* STEER_WHY_NONE, or STEER_MISSED_* + 1 */
	const struct applied_state *policy; /* the generation that decided */
	const struct steer_rule_record *rule; /* NULL: no rule matched */
	uint32_t rule_index;
	const char *file; /* the rule's file */
	const struct built_service *service; /* NULL for drop, pass and miss rules */
	bool has_socket;
	uint32_t slot;
	uint64_t cookie; /* 0: the socket left its slot before the monitor looked */
	const owner_vec *owners; /* processes holding it; empty and GONE when all have exited */
	bool gone;
};

/* A generation the monitor has seen: its record and rule records, to name what its events say. */
struct monitor_gen {
	struct applied_state rec;
	struct steer_rule_record *rules;
};

struct monitor_sock;

/* What a slot of the sockets map held when a drain pass last looked. */
struct slot_seen {
	uint64_t pass, cookie;
};

struct rt_monitor {
	struct rt_state st; /* unlocked: only its directory and namespace are used */
	int slot; /* ours in the monitor map */
	int monitor_fd, events_fd, ring_fd, sockets_fd, active_fd;
	struct steer_monitors *shared; /* the monitor map, mmap'ed */
	uint32_t *active; /* STEER_VAR_MONITORS_ACTIVE: the program's .bss, mmap'ed */
	size_t shared_len;
	struct ring_buffer *rb;
	struct monitor_opts o;
	struct monitor_gen *gens; /* the current generation first, then up to two before it */
	uint32_t ngens;
	uint32_t current_prog;
	struct monitor_sock *socks; /* slot -> cookie -> owners, checked at most once a second */
	size_t nsocks, capsocks;
	struct slot_seen *seen; /* STEER_SOCKET_SLOTS */
	uint64_t pass; /* drain passes: a slot's cookie is read at most once per pass */
	int64_t boot_to_real_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	struct timespec last_tick;
	void (*fn)(void *ctx, const struct monitor_event *e);
	void *ctx;
	uint64_t drained; /* events of the current drain */
	bool stopped; /* rt_monitor_stop: no lease renewed, nothing new arrives */
	char note[256]; /* set when a re-apply changed what the filter means */
};

/*
 * Takes a slot and starts receiving. -EINVAL (message set) when no policy is
 * applied or a name in O means nothing in it, -EBUSY when every slot is taken.
 */
int rt_monitor_open(const struct rt_target *t, const struct monitor_opts *o, struct rt_monitor *m);
/*
 * Waits up to TIMEOUT_MS for events and calls FN for each (a few thousand at
 * most: call again), renews the lease and follows re-applies. Returns the
 * number of events, or -errno (-ENOENT when the policy was detached).
 */
int rt_monitor_poll(struct rt_monitor *m, int timeout_ms, void (*fn)(void *ctx, const struct monitor_event *e),
		    void *ctx);
/* Decisions the program could not show us: the ring buffer was full, or over the rate cap. */
void rt_monitor_dropped(const struct rt_monitor *m, uint64_t *lost, uint64_t *limited);
/* Whether a monitor holds SLOT: its bit in ACTIVE is set and its lease has not run out. */
bool rt_monitor_attached(const struct steer_monitors *m, uint32_t active, uint32_t slot);
/* Stops the program writing to this monitor; what its ring buffer holds can still be read. */
void rt_monitor_stop(struct rt_monitor *m);
/* Gives the slot back. */
void rt_monitor_close(struct rt_monitor *m);
#define _cleanup_monitor_ _cleanup_(rt_monitor_close)

#endif
