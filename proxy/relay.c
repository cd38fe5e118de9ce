#include "relay.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "steer_abi.h"

extern const char steer_relay_obj[];
extern const unsigned long steer_relay_obj_len;

static const char *const _modes[] = { [RELAY_SOCKMAP] = "sockmap", [RELAY_SPLICE] = "splice", [RELAY_COPY] = "copy" };

const char *relay_mode_name(enum relay_mode m)
{
	return _modes[m];
}

int relay_mode_parse(const char *s, enum relay_mode *out)
{
	for (size_t i = 0; i < sizeof(_modes) / sizeof(*_modes); i++) {
		if (strcmp(s, _modes[i]) == 0) {
			*out = (enum relay_mode)i;
			return 0;
		}
	}
	return error_set(-EINVAL, "--relay is sockmap, splice or copy, not '%s'", s);
}

int relay_kernel_open(struct relay_kernel *k)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "steer_relay");
	struct bpf_program *prog;
	int r;

	memset(k, 0, sizeof(*k));
	k->socks_fd = k->peers_fd = -1;
	k->obj = bpf_object__open_mem(steer_relay_obj, steer_relay_obj_len, &oo);
	if (!k->obj)
		return error_set(-errno, "cannot open the relay program: %s", strerror(errno));
	if ((r = bpf_object__load(k->obj)) < 0) {
		relay_kernel_close(k);
		return error_set(r, "the kernel refused the sockmap relay program: %s", strerror(-r));
	}
	prog = bpf_object__find_program_by_name(k->obj, STEER_NAME(STEER_RELAY_PROG));
	k->socks_fd = bpf_object__find_map_fd_by_name(k->obj, STEER_NAME(STEER_RELAY_SOCKS));
	k->peers_fd = bpf_object__find_map_fd_by_name(k->obj, STEER_NAME(STEER_RELAY_PEERS));
	if (!prog || k->socks_fd < 0 || k->peers_fd < 0) {
		relay_kernel_close(k);
		return error_set(-ENOENT, "the relay program lacks its maps");
	}
	if (bpf_prog_attach(bpf_program__fd(prog), k->socks_fd, BPF_SK_SKB_STREAM_VERDICT, 0) < 0) {
		r = -errno;
		relay_kernel_close(k);
		return error_set(r, "cannot attach the relay's stream verdict: %s", strerror(-r));
	}
	return 0;
}

void relay_kernel_close(struct relay_kernel *k)
{
	if (k->obj)
		bpf_object__close(k->obj);
	memset(k, 0, sizeof(*k));
	k->socks_fd = k->peers_fd = -1;
}

static uint64_t _cookie(int fd)
{
	uint64_t c = 0;
	socklen_t len = sizeof(c);

	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len);
	return c;
}

/* A send or receive failure that ends the connection (the others: try again later). */
static bool _fatal(void)
{
	return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* Writes what BUF holds; false on a failure that resets. */
static bool _flush_buf(struct relay_dir *d)
{
	while (d->off < d->len) {
		ssize_t n = send(d->to, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
		if (n < 0)
			return !_fatal();
		d->off += (size_t)n;
		d->bytes += (uint64_t)n;
	}
	d->off = d->len = 0;
	return true;
}

/*
 * Sockmap: both sockets go in the maps. While only one is in, what arrives on
 * it stays with it (relay.bpf.c), and nothing would send it on: so the quiet
 * side goes in first. With first bytes (sni, host) the client has sent its
 * first flight and waits: the client first. Without (a static forward) the
 * client may be sending already and the upstream has been sent nothing: the
 * upstream first. Bytes that arrived before a socket went in wait in its queue
 * until more arrive; setting SO_RCVLOWAT runs the verdict on them now, in order.
 */
static int _pair(struct relay *r, bool client_first)
{
	struct relay_kernel *k = r->k;
	int fds[2] = { r->d[0].from, r->d[0].to };

	for (int s = 0; s < 2; s++)
		r->cookie[s] = _cookie(fds[s]);
	if (bpf_map_update_elem(k->peers_fd, &r->cookie[0], &r->cookie[1], BPF_NOEXIST) < 0 ||
	    bpf_map_update_elem(k->peers_fd, &r->cookie[1], &r->cookie[0], BPF_NOEXIST) < 0)
		return error_set(-errno, "cannot pair the connection's sockets: %s", strerror(errno));
	r->paired = true;
	for (int i = 0; i < 2; i++) {
		int s = client_first ? i : 1 - i;
		uint64_t fd = (uint64_t)fds[s];
		if (bpf_map_update_elem(k->socks_fd, &r->cookie[s], &fd, BPF_NOEXIST) < 0)
			return error_set(-errno, "the kernel refused a socket for the sockmap relay: %s", strerror(errno));
	}
	for (int s = 0; s < 2; s++) {
		int one = 1;
		setsockopt(fds[s], SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	}
	return 0;
}

/* Takes the pair out of the maps (what is not there is no matter). */
static void _unpair(struct relay *r)
{
	if (!r->paired)
		return;
	for (int s = 0; s < 2; s++) {
		bpf_map_delete_elem(r->k->peers_fd, &r->cookie[s]);
		bpf_map_delete_elem(r->k->socks_fd, &r->cookie[s]);
	}
	r->paired = false;
}

/* The pipes and buffers, not the sockets. */
static void _free_dirs(struct relay *r)
{
	for (int i = 0; i < 2; i++) {
		struct relay_dir *d = &r->d[i];
		for (int p = 0; p < 2; p++)
			if (d->pipe[p] >= 0)
				close(d->pipe[p]);
		free(d->buf);
		d->buf = NULL;
		d->pipe[0] = d->pipe[1] = -1;
	}
}

int relay_start(struct relay *r, enum relay_mode mode, struct relay_kernel *k, int client, int upstream,
		const void *first, size_t nfirst)
{
	int one = 1;

	/* A relay adds a hop: it must not also hold small writes back (Nagle) waiting for an ACK. */
	setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(r, 0, sizeof(*r));
	r->mode = mode;
	r->k = k;
	r->d[0] = (struct relay_dir){ .from = client, .to = upstream, .pipe = { -1, -1 } };
	r->d[1] = (struct relay_dir){ .from = upstream, .to = client, .pipe = { -1, -1 } };
	for (int i = 0; i < 2; i++) {
		struct relay_dir *d = &r->d[i];
		if (mode == RELAY_SPLICE && pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
			int e = errno;
			_free_dirs(r);
			return error_set(-e, "pipe: %s", strerror(e));
		}
		if (mode == RELAY_SPLICE)
			fcntl(d->pipe[1], F_SETPIPE_SZ, RELAY_CHUNK);
		if ((mode == RELAY_COPY || (i == 0 && nfirst)) && !(d->buf = malloc(RELAY_CHUNK))) {
			_free_dirs(r);
			return error_set(-ENOMEM, "out of memory");
		}
	}
	if (nfirst)
		memcpy(r->d[0].buf, first, nfirst);
	r->d[0].len = nfirst;
	return 0;
}

/* Splice mode: pipe to peer. 1 moved, 0 nothing now, -1 failed. */
static int _splice_out(struct relay_dir *d)
{
	ssize_t n = splice(d->pipe[0], NULL, d->to, NULL, d->len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

	if (n < 0)
		return _fatal() ? -1 : 0;
	d->len -= (size_t)n;
	d->bytes += (uint64_t)n;
	d->stalled = false;
	return n > 0;
}

/* One direction, copy or splice: write while the peer takes it, read while there is room. */
static bool _move(struct relay *r, struct relay_dir *d)
{
	for (bool progress = true; progress;) {
		progress = false;
		if (d->buf && d->len) {
			size_t before = d->off;
			if (!_flush_buf(d))
				return false;
			progress = d->off != before || !d->len;
			if (!d->len && r->mode == RELAY_SPLICE) {
				free(d->buf); /* the first bytes are out: the rest goes through the pipe */
				d->buf = NULL;
			}
		} else if (d->len && r->mode == RELAY_SPLICE) {
			int m = _splice_out(d);
			if (m < 0)
				return false;
			progress = m > 0;
		}
		bool room = r->mode == RELAY_SPLICE ? !d->buf && d->len < RELAY_CHUNK && !d->stalled : !d->len;
		if (d->eof || !room)
			continue;
		ssize_t n = r->mode == RELAY_SPLICE
				    ? splice(d->from, NULL, d->pipe[1], NULL, RELAY_CHUNK - d->len,
					     SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
				    : recv(d->from, d->buf, RELAY_CHUNK, 0);
		if (n < 0 && _fatal())
			return false;
		/* EAGAIN with bytes in the pipe: its slots may be full, not the socket empty. */
		if (n < 0 && r->mode == RELAY_SPLICE && d->len)
			d->stalled = true;
		if (n == 0)
			d->eof = true;
		if (n > 0) {
			d->len += (size_t)n;
			progress = true;
		}
	}
	if (d->eof && !d->len && !d->shut) {
		shutdown(d->to, SHUT_WR);
		d->shut = true;
	}
	return true;
}

static uint64_t _tcp_info(int fd, bool received)
{
	struct tcp_info ti = { 0 };
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return received ? ti.tcpi_bytes_received : ti.tcpi_bytes_acked;
}

/*
 * Sockmap: D's source has ended. The kernel sends what it redirected from a
 * work queue, so the end is passed on only once the peer has taken every byte
 * the source received: a shutdown before would cut the tail off.
 */
static bool _drained(const struct relay_dir *d)
{
	int outq = 0;

	ioctl(d->to, SIOCOUTQ, &outq);
	/* The source's count takes its FIN's sequence number too. */
	return _tcp_info(d->to, false) + (uint64_t)outq + 1 >= _tcp_info(d->from, true);
}

/*
 * Sockmap: whether D's source has ended. Not from recv(), which on a socket
 * whose bytes the kernel takes can answer 0 with the stream still open: from
 * the TCP state, which says whether the peer's FIN came.
 */
static bool _ended(const struct relay_dir *d)
{
	struct tcp_info ti = { 0 };
	socklen_t len = sizeof(ti);

	if (getsockopt(d->from, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return true;
	/* ESTABLISHED, FIN_WAIT1 and FIN_WAIT2 (include/net/tcp_states.h): no FIN from the peer yet. */
	return ti.tcpi_state != 1 && ti.tcpi_state != 4 && ti.tcpi_state != 5;
}

/* Whether FD's connection is over (TCP_CLOSE, 7 in tcp_states.h): reset, or closed both ways. */
static bool _closed(int fd)
{
	struct tcp_info ti = { 0 };
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || ti.tcpi_state == 7;
}

/*
 * Sockmap, paired: pass on an end once the kernel has sent everything before
 * it; false when that can never happen (the peer is gone).
 */
static bool _watch(struct relay_dir *d, bool *draining)
{
	if (!d->eof)
		d->eof = _ended(d);
	if (!d->eof || d->shut)
		return true;
	if (!_drained(d)) {
		*draining = true;
		return !_closed(d->to);
	}
	shutdown(d->to, SHUT_WR);
	d->shut = true;
	return true;
}

enum relay_state relay_step(struct relay *r, unsigned dirs)
{
	bool draining = false;

	error_set(0, "a side reset or failed");
	if (r->mode == RELAY_SOCKMAP && !r->paired) {
		bool first = r->d[0].buf != NULL;
		/* The first bytes go out before the kernel takes over, whole. */
		if (first && !_flush_buf(&r->d[0]))
			return RELAY_RESET;
		if (r->d[0].len)
			return RELAY_OPEN;
		int e = _ended(&r->d[0]) || _ended(&r->d[1]) ? -EOPNOTSUPP : _pair(r, first);
		/*
		 * A side ended before the pair was made (the map takes established
		 * sockets only, and its queue holds its FIN): copy to the end.
		 */
		if (e == -EOPNOTSUPP) {
			_unpair(r);
			r->mode = RELAY_COPY;
			for (int i = 0; i < 2; i++)
				if (!r->d[i].buf && !(r->d[i].buf = malloc(RELAY_CHUNK)))
					return RELAY_RESET;
		} else if (e < 0) {
			return RELAY_RESET;
		} else {
			_free_dirs(r);
		}
	}
	if (r->mode == RELAY_SOCKMAP) {
		for (int i = 0; i < 2; i++)
			if (!_watch(&r->d[i], &draining))
				return RELAY_RESET;
	} else {
		for (int i = 0; i < 2; i++)
			if ((dirs & (1u << i)) && !_move(r, &r->d[i]))
				return RELAY_RESET;
	}
	if (r->d[0].shut && r->d[1].shut)
		return RELAY_DONE;
	return draining ? RELAY_DRAINING : RELAY_OPEN;
}

unsigned relay_dirs(int side, uint32_t events)
{
	unsigned dirs = 0;

	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
		dirs |= 1u << side; /* it reads: the direction from it */
	if (events & (EPOLLOUT | EPOLLHUP))
		dirs |= 1u << !side; /* it can take more: the direction into it */
	return dirs;
}

bool relay_failed(struct relay *r, int side)
{
	int fd = side ? r->d[0].to : r->d[0].from, err = 0;
	socklen_t len = sizeof(err);

	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len); /* reading it clears it */
	if (r->mode != RELAY_SOCKMAP || !r->paired)
		return true;
	/*
	 * The kernel's sockmap reports its own failures to send on the socket it
	 * sends from: EPIPE when it sends (the empty buffer of) a FIN after the
	 * proxy shut that side. The connection is fine; a reset says ECONNRESET.
	 */
	return err != 0 && err != EPIPE;
}

uint32_t relay_events(const struct relay *r, int side)
{
	const struct relay_dir *out = &r->d[side], *in = &r->d[!side];
	uint32_t ev = 0;

	if (r->mode == RELAY_SOCKMAP && r->paired)
		return out->eof ? 0 : EPOLLRDHUP;
	if (!out->eof && (r->mode == RELAY_SPLICE ? !out->buf && out->len < RELAY_CHUNK && !out->stalled : !out->len))
		ev |= EPOLLIN;
	if (in->len)
		ev |= EPOLLOUT;
	return ev;
}

void relay_end(struct relay *r, bool reset)
{
	if (r->paired) {
		/* What the kernel moved, as TCP counted it (the first bytes included, a FIN's sequence number not). */
		for (int i = 0; i < 2; i++) {
			uint64_t n = _tcp_info(r->d[i].from, true);
			r->d[i].bytes = n - (n && r->d[i].eof);
		}
		_unpair(r);
	}
	for (int i = 0; i < 2 && reset; i++) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(r->d[i].from, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	_free_dirs(r);
	close(r->d[0].from);
	close(r->d[1].from);
}
