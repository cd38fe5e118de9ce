/* Loading a compiled program with libbpf: load-time constants, shared maps, the verifier's word. */
#ifndef STEER_LOADER_H
#define STEER_LOADER_H

#include <bpf/libbpf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rt_program {
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *sockets, *hits;
};

struct load_opts {
	const uint32_t *service_slot; /* first sockmap slot of each service */
	uint32_t nservices;
	const uint32_t *ifindex; /* ifindex of each named interface */
	uint32_t nifaces;
	int sockets_fd; /* an existing sockets map to share, or -1 to create one */
	const uint32_t *data; /* the table strategy's steer_data, data_chunks * 256 entries */
	uint32_t data_chunks;
	bool verbose; /* keep libbpf's and the verifier's whole log in the error */
};

/*
 * Opens and loads OBJ. On failure returns -errno with one line in ERR (the
 * verifier's last complaint, or libbpf's), and the whole log with verbose.
 */
int loader_load(const void *obj, size_t len, const struct load_opts *o, struct rt_program *out, char **err);
void loader_close(struct rt_program *p);

#endif
