/*
 * Moving a connection's bytes both ways once the proxy has paired its two
 * sockets, in one of three ways: the kernel's sockmap (the bytes never reach
 * user space), splice(2) through a pipe per direction, or read/write through a
 * buffer per direction. All three pass a half-close on (the other direction
 * keeps flowing), turn an RST on either side into an RST on the other, and
 * stop reading a side whose peer cannot take more (a slow reader slows the
 * sender; memory stays bounded).
 */
#ifndef STEER_RELAY_H
#define STEER_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum relay_mode { RELAY_SOCKMAP, RELAY_SPLICE, RELAY_COPY };

const char *relay_mode_name(enum relay_mode m);
int relay_mode_parse(const char *s, enum relay_mode *out);

/* The sockmap relay's program and maps, loaded once per proxy. */
struct relay_kernel {
	struct bpf_object *obj;
	int socks_fd, peers_fd;
};

/* 0 or -errno with the message set. */
int relay_kernel_open(struct relay_kernel *k);
void relay_kernel_close(struct relay_kernel *k);

/* Bytes per direction a splice pipe or a copy buffer holds: the bound on what the proxy keeps. */
#define RELAY_CHUNK (64 * 1024)

struct relay_dir {
	int from, to;
	int pipe[2]; /* splice */
	uint8_t *buf; /* copy, and the first bytes under every mode */
	size_t off, len; /* what BUF holds, or (splice) LEN bytes in the pipe */
	bool eof; /* FROM has said it sends no more */
	bool shut; /* and TO has been told (shutdown(SHUT_WR)) */
	bool stalled; /* splice: the pipe took nothing; read again once some has left it */
	uint64_t bytes; /* moved so far (sockmap: known at the end) */
};

struct relay {
	enum relay_mode mode;
	struct relay_dir d[2]; /* [0] client to upstream, [1] upstream to client */
	struct relay_kernel *k;
	uint64_t cookie[2]; /* sockmap: the client's and the upstream's */
	bool paired; /* sockmap: in the maps */
};

enum relay_state {
	RELAY_OPEN, /* bytes still flow */
	RELAY_DRAINING, /* sockmap: a side ended, and the kernel still sends what came before: ask again soon */
	RELAY_DONE, /* both directions ended: close both */
	RELAY_RESET, /* one side reset or failed: reset the other */
};

/*
 * Starts relaying between CLIENT and UPSTREAM (both connected, non-blocking),
 * beginning with FIRST, bytes the proxy read from the client already. K is
 * used in RELAY_SOCKMAP mode. 0 or -errno with the message set.
 */
int relay_start(struct relay *r, enum relay_mode mode, struct relay_kernel *k, int client, int upstream,
		const void *first, size_t nfirst);
/*
 * Moves what can move now without blocking, in the directions DIRS names
 * (bit 0: client to upstream, bit 1: back; RELAY_BOTH after a pause): an event
 * on one socket concerns the direction it reads and the one it writes.
 */
#define RELAY_BOTH 3u
enum relay_state relay_step(struct relay *r, unsigned dirs);
/* The directions epoll EVENTS on SIDE (0 client, 1 upstream) concern. */
unsigned relay_dirs(int side, uint32_t events);
/* SIDE reported EPOLLERR: whether the connection failed (then reset both), or the report was not about it. */
bool relay_failed(struct relay *r, int side);
/* The epoll events SIDE (0 client, 1 upstream) waits for now. */
uint32_t relay_events(const struct relay *r, int side);
/* Takes the pair out of the kernel's maps and frees the buffers; RESET: close both with an RST. Closes both. */
void relay_end(struct relay *r, bool reset);

#endif
