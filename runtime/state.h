/*
 * The applied state: where an applied policy lives between two steer
 * commands, and the one typed record that describes it. No daemon: every
 * command finds the state on a BPF filesystem, under a lock.
 *
 *   DIR/steer/<netns inode>/      DIR: --bpffs, default /sys/fs/bpf
 *       link        the sk_lookup link: pinned, it is the commit point
 *       sockets     the maps that outlive a re-apply (loader.h's list)
 *       proxy       what steer proxy said last (struct steer_proxy_stats), when it has run
 *       totals      what generations gone counted, per service and verdict (counters.h)
 *       p<ID>/      one generation, what one apply built for program ID:
 *           state   the record (struct applied_state), versioned
 *           hits    per-rule counters
 *           carried per-rule counts that earlier generations counted for the same rule
 *           rules   struct steer_rule_record per rule
 *       detaching/  present while a detach is under way
 *
 * The generation that is current is the one named after the program the
 * link runs: the kernel, not a file, says which policy is applied. So a
 * command killed at any point leaves the old generation or the new one in
 * force, and the next command (any of them) removes the other, or finishes
 * the detach, and says so in one line. See docs/runtime.md.
 */
#ifndef STEER_STATE_H
#define STEER_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "built.h"
#include "cleanup.h"

#define STEER_BPFFS_DEFAULT "/sys/fs/bpf"

struct rt_target {
	const char *netns; /* a network namespace file; NULL: this process's */
	const char *bpffs; /* NULL: /sys/fs/bpf */
	double wait; /* seconds to wait for the state lock; < 0: as long as it takes */
	/* One line for the operator (waiting for the lock, an interrupted command finished); may be NULL. */
	void (*notice)(const char *line);
};

/* The applied state, as one record. Written and read only by state.c. */
struct applied_state {
	struct built_manifest m;
	uint32_t *slot; /* m.nservices: each service's first socket slot */
	uint32_t *ifindex; /* m.nifaces: each interface's index where the policy was applied */
	uint32_t prog_id; /* the program the link runs while this state is the applied one */
	int64_t applied_ns; /* when, CLOCK_REALTIME */
	uint32_t generation; /* a tag of this apply, written by its program in every monitor event */
	char digest[65]; /* built_digest() of what was applied; "" in records of a steer before it */
};

void applied_state_free(struct applied_state *a);

struct rt_state {
	int netns_fd;
	ino_t netns_ino;
	char dir[PATH_MAX]; /* DIR/steer/<inode> */
	int lock_fd; /* the directory, flock'ed */
	bool applied; /* a policy is applied: cur describes it */
	struct applied_state cur;
	uint32_t link_id;
	/* The state disagrees with the kernel in a way no interrupted command explains (set by state_open). */
	char problem[PATH_MAX + 512];
};

enum state_mode {
	STATE_READ, /* the state as it is (nothing applied is fine) */
	STATE_CREATE, /* also make the directory, and mount bpffs at the default place when nothing is there */
};

/*
 * Checks the target (a network namespace, a BPF filesystem), opens its state
 * directory, takes the lock (telling t->notice after a second, giving up
 * after t->wait), completes or rolls back whatever an interrupted command
 * left, and reads the applied record. 0, or -errno with the message set.
 */
int state_open(struct rt_state *st, const struct rt_target *t, enum state_mode mode);
void state_close(struct rt_state *st);
#define _cleanup_state_ _cleanup_(state_close)

/* DIR/NAME, and DIR/p<PROG_ID>/NAME (NAME NULL: the generation's directory). */
void state_path(const struct rt_state *st, const char *name, char out[PATH_MAX]);
void state_gen_path(const struct rt_state *st, uint32_t prog_id, const char *name, char out[PATH_MAX]);

/* The program the pinned link runs now, read without the lock. 0, or -errno (-ENOENT: nothing applied). */
int state_link_prog(const struct rt_state *st, uint32_t *prog_id);
/* The record of generation PROG_ID. 0, or -errno with the message set. */
int state_record_read(const struct rt_state *st, uint32_t prog_id, struct applied_state *out);
/* A new generation's directory, and its record pinned in it (the link still runs the old one). */
int state_gen_create(struct rt_state *st, uint32_t prog_id);
int state_record_pin(struct rt_state *st, const struct applied_state *rec);
/* Removes a generation that is no longer (or never became) the applied one. */
int state_gen_remove(struct rt_state *st, uint32_t prog_id);
/*
 * Detaches the link and removes everything in the directory, in an order an
 * interruption cannot wedge; state_remove_dir then removes the directory.
 */
int state_remove_all(struct rt_state *st);
void state_remove_dir(struct rt_state *st);

/*
 * DIR/NAME: an array map (u32 keys, ENTRIES values of VALUE_SIZE) that only
 * user space writes, created and pinned when missing. A descriptor, or -errno.
 */
int state_map_open(const struct rt_state *st, const char *name, uint32_t value_size, uint32_t entries);

/* Runs FN inside the target network namespace, then comes back. */
int state_in_netns(struct rt_state *st, int (*fn)(void *ctx), void *ctx);

#endif
