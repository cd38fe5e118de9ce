/*
 * A built policy: what the build stage makes of a checked policy and all the
 * runtime needs to apply it, with no IR and no clang. It is the program
 * object, the table strategy's data, one record per rule, and the manifest
 * (services, interfaces, files, strategy, the policy's hash).
 *
 * `steer compile -o FILE` writes it as one file and `steer apply FILE` reads
 * it back: compile once, apply on hosts that have neither clang nor the source.
 */
#ifndef STEER_BUILT_H
#define STEER_BUILT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cleanup.h"
#include "decision.h"
#include "steer_abi.h"
#include "wire.h"

enum strategy { STRATEGY_AUTO, STRATEGY_TREE, STRATEGY_TABLE };

const char *strategy_name(enum strategy s);
int strategy_parse(const char *s, enum strategy *out);

/* An address a service declares: where --auto finds its socket. */
struct built_listen {
	uint8_t proto, family;
	uint16_t port;
	u128 addr;
};

/* A name of a forward map: exact, or "*.NAME" for the names below NAME. */
struct built_fwd_name {
	char *name; /* lower case, without "*." */
	bool wildcard;
	struct upstream up;
};

/* What steer proxy does with a connection a forward rule sent it. */
struct built_forward {
	enum forward_by by;
	struct upstream up; /* FWD_STATIC: the upstream; by name: the default */
	struct built_fwd_name *names;
	uint32_t nnames;
};

/*
 * A service of the policy, or one of its distinct forwards (after the
 * services, with FORWARD set and a name no policy can give a service:
 * "forward 127.0.0.1:9000", "forward sni 1f2e..."), whose sockets are steer
 * proxy's.
 */
struct built_service {
	char *name;
	uint8_t protos; /* the protocols its rules steer to it (PROTO_*) */
	uint8_t used_slots; /* bit (udp ? 2 : 0) + (IPv6 ? 1 : 0): what its rules steer to it */
	struct built_listen *listen;
	uint32_t nlisten;
	/*
	 * Where its UDP rules send datagrams: exact addresses and ports in
	 * udp_to, or udp_any when some rule takes a prefix, a port range or any
	 * port. A socket that does not answer from each datagram's destination
	 * serves only its own address:port.
	 */
	bool udp_any;
	struct built_listen *udp_to;
	uint32_t nudp_to;
	struct built_forward *forward; /* NULL for the policy's own services */
};

struct built_manifest {
	char *policy; /* the policy file it was built from, absolute when it could be resolved */
	char sha256[65]; /* of that file's text, hex */
	char *built_by; /* the steer version that built it */
	enum strategy strategy;
	uint32_t nrules;
	char **files; /* the files rules are written in: steer_rule_record.file indexes this */
	uint32_t nfiles;
	struct built_service *services;
	uint32_t nservices;
	char **ifaces; /* interface names, resolved where the policy is applied */
	uint32_t nifaces;
};

struct built_policy {
	struct built_manifest m;
	struct steer_rule_record *rules; /* m.nrules */
	void *obj; /* the BPF ELF object */
	size_t objlen;
	uint32_t *data; /* the table strategy's data map, data_chunks * STEER_CHUNK_ENTRIES entries; NULL for tree */
	uint32_t data_chunks;
};

void built_manifest_free(struct built_manifest *m);
/* The hex SHA-256 of LEN bytes at P. */
void built_sha256_hex(const void *p, size_t len, char out[65]);
/* The hex SHA-256 of everything B is: the same digest, the same program with the same data. */
void built_digest(const struct built_policy *b, char out[65]);
/* The index of M's first forward service (its services come first): nservices when there is none. */
uint32_t built_first_forward(const struct built_manifest *m);
/* The upstream a forward chooses for NAME (NULL: none given): exact, then the longest wildcard, then the default. */
const struct upstream *built_forward_choose(const struct built_forward *f, const char *name);
void built_policy_free(struct built_policy *b);
#define _cleanup_built_ _cleanup_(built_policy_free)

/* The manifest as part of a record (the applied state keeps it). */
void built_manifest_put(wire_buf *w, const struct built_manifest *m);
/* Reads one back; false when the bytes are damaged (M is then freed). */
bool built_manifest_get(struct wire_reader *r, struct built_manifest *m);

/*
 * Writes B to PATH atomically (a temporary file renamed over it). 0 or -errno,
 * with the message in error.h's channel.
 */
int built_write(const struct built_policy *b, const char *path);
/*
 * Reads a built policy. -ENOEXEC: not a built policy; -EPROTO: built by a
 * steer whose format this one cannot read; -EBADMSG: truncated or damaged;
 * other -errno: could not be read. The message says which.
 */
int built_read(const char *path, struct built_policy *out);
/* Whether PATH starts like a built policy (and so is not policy text). */
bool built_sniff(const char *path);

#endif
