/* Loading a built policy's object with libbpf: load-time constants, maps that outlive it, the verifier's word. */
#ifndef STEER_LOADER_H
#define STEER_LOADER_H

#include <bpf/libbpf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "built.h"

/*
 * The maps that must outlive a re-apply, declared here and nowhere else: each
 * new program reuses them by descriptor, and the first apply pins them once
 * beside the link (state.h): the sockets, the missed-lookup counters, the
 * monitors' filters and ring buffers, and the program's .bss (which monitor
 * slots are held).
 */
struct persistent_map {
	const char *map; /* as the object names it */
	const char *pin; /* under the state directory */
};
enum { LOADER_SOCKETS, LOADER_MISSED, LOADER_MONITOR, LOADER_EVENTS, LOADER_ACTIVE, LOADER_NPERSISTENT };
extern const struct persistent_map loader_persistent[LOADER_NPERSISTENT];

struct rt_program {
	struct bpf_object *obj;
};

struct load_opts {
	const uint32_t *service_slot; /* first socket slot of each service */
	const uint32_t *ifindex; /* index of each named interface */
	const int *persistent_fd; /* one per loader_persistent entry: a map to reuse, or -1 to create it */
	uint32_t generation; /* the apply's tag, which the program writes in each event */
	bool verbose; /* keep libbpf's and the verifier's whole log in the message */
};

/*
 * Opens and loads B's object and fills its data. 0, or -errno with one line
 * in the message (the verifier's last complaint, or libbpf's; the whole log
 * with verbose).
 */
int loader_load(const struct built_policy *b, const struct load_opts *o, struct rt_program *out);
void loader_close(struct rt_program *p);
#define _cleanup_program_ _cleanup_(loader_close)

/* The loaded object's map or program called NAME, or NULL. */
struct bpf_map *loader_map(const struct rt_program *p, const char *name);
struct bpf_program *loader_prog(const struct rt_program *p, const char *name);
/*
 * Reads array map FD's entries 0..N-1 in batches, calling FN with each key's
 * value (VALUE_SIZE bytes). 0 or -errno.
 */
int loader_read_array(int fd, uint32_t n, size_t value_size, void (*fn)(void *ctx, uint32_t key, const void *v),
		      void *ctx);
/* Array map FD's rule records (steer_abi.h), or its u64 values, 0..N-1 into OUT. 0 or -errno. */
int loader_read_rules(int fd, uint32_t n, struct steer_rule_record *out);
int loader_read_u64(int fd, uint32_t n, uint64_t *out);
/* Per-CPU u64 array map FD's entries 0..N-1, each summed over the CPUs, into OUT. 0 or -errno. */
int loader_read_counters(int fd, uint32_t n, uint64_t *out);
/* The kernel's id of the program behind FD, or 0. */
uint32_t loader_prog_id(int fd);

#endif
