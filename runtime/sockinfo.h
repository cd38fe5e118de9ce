/*
 * Which sockets exist in a network namespace (sock_diag) and which processes
 * hold them (/proc): for --auto registration and for status.
 */
#ifndef STEER_SOCKINFO_H
#define STEER_SOCKINFO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "vec.h"

struct sockinfo {
	uint64_t cookie;
	uint32_t inode;
	uint8_t proto; /* PROTO_TCP or PROTO_UDP */
	uint8_t family; /* enum family */
	uint8_t state; /* the kernel's TCP state: listening, close (an unconnected UDP socket), established */
	bool v6only; /* an IPv6 socket that cannot take IPv4 */
	u128 addr;
	uint16_t port;
	/* Established TCP sockets only: */
	u128 peer;
	uint16_t peer_port;
	uint64_t bytes_acked, bytes_received; /* sent and acknowledged, and received (tcp_info) */
};

typedef VEC(struct sockinfo) sockinfo_vec;
typedef VEC(uint32_t) inode_vec;

/*
 * Listening TCP and unconnected UDP sockets of this thread's network
 * namespace (enter the target one first). 0 or -errno.
 */
int sockinfo_listeners(sockinfo_vec *out);

/* Established TCP sockets of this thread's network namespace, with their byte counts. 0 or -errno. */
int sockinfo_established(sockinfo_vec *out);

/* The inodes of the sockets process PID has descriptors for. 0 or -errno. */
int sockinfo_inodes(pid_t pid, inode_vec *out);

struct owner {
	pid_t pid;
	int fd;
	char comm[32];
	char cgroup[256];
};

typedef VEC(struct owner) owner_vec;

/* The processes with a descriptor for the socket with INODE, from /proc. */
int sockinfo_owners(uint32_t inode, owner_vec *out);

#endif
