/*
 * Where an applied policy lives: DIR/steer/<netns inode>/ on a BPF filesystem,
 * holding the pinned link, the sockets map, the counters and the policy's
 * metadata. No daemon: every command finds the state there, under a lock.
 */
#ifndef STEER_STATE_H
#define STEER_STATE_H

#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#define STEER_BPFFS_DEFAULT "/sys/fs/bpf"

struct rt_target {
	const char *netns; /* a network namespace file; NULL: this process's */
	const char *bpffs; /* NULL: /sys/fs/bpf */
};

struct rt_state {
	int netns_fd;
	ino_t netns_ino;
	char dir[PATH_MAX]; /* DIR/steer/<inode> */
	int lock_fd; /* the directory, flock'ed */
	char err[512]; /* why the last call failed, for the one error line */
};

enum state_mode { STATE_READ, STATE_WRITE, STATE_CREATE };

/*
 * Opens the target's state directory and takes the lock: shared to read,
 * exclusive to change. STATE_CREATE makes the directory (and mounts the BPF
 * filesystem at the default place when nothing is mounted there). Returns
 * 0, -ENOENT when nothing is applied there, or another -errno with st->err set.
 */
int state_open(struct rt_state *st, const struct rt_target *t, enum state_mode mode);
void state_close(struct rt_state *st);

/* DIR/steer/<inode>/NAME */
void state_path(const struct rt_state *st, const char *name, char out[PATH_MAX]);
/* Removes the pins and the directory (detach). */
int state_remove(struct rt_state *st);

/*
 * The applied policy's metadata, as one JSON document in a pinned array map.
 * Staging pins it as "meta.new"; apply renames it over "meta" with the rest.
 */
int state_meta_read(struct rt_state *st, json_object **out);
int state_meta_stage(struct rt_state *st, json_object *meta);

/* Runs FN inside the target network namespace, then comes back. */
int state_in_netns(struct rt_state *st, int (*fn)(void *ctx), void *ctx);

#endif
