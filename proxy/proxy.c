#include "proxy.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "firstbytes.h"

/* The most of a connection's first bytes the proxy reads for a name: a ClientHello fits. */
#define FIRST_MAX (16 * 1024)
/* How often the applied state is checked for a re-apply, and the stats written at the latest. */
#define SYNC_MS 1000
/* How often deadlines are checked and the stats written when connections came or went. */
#define SCAN_MS 100
/* How often (sockmap) an ended direction is polled for its tail. */
#define DRAIN_MS 2

/*
 * Threads: the main one follows the applied state (listeners, registration),
 * takes the signals and writes the stats; each worker runs its own epoll loop
 * over the connections it accepted, and all of them wait on every listener
 * (EPOLLEXCLUSIVE: a new connection wakes one). A connection never leaves its
 * worker. The lock guards what the main thread changes and workers read: the
 * listeners and the applied manifest their forwards point into.
 */

enum ep_kind { EP_LISTEN, EP_CLIENT, EP_UPSTREAM };

/* What an epoll event is about. */
struct ep {
	enum ep_kind kind;
	void *owner;
};

/* The sockets the proxy listens on for one forward of the policy. */
struct listener {
	struct listener *next;
	char *name; /* the manifest service's, the same for the same forward across re-applies */
	const struct built_forward *fw; /* in proxy.cur; NULL once gone */
	int fd[2]; /* IPv4, IPv6 (-1: the rules forward no such connection) */
	struct ep ep;
	bool keep;
};

enum phase { PH_FIRST, PH_CONNECT, PH_RELAY };

struct conn {
	struct conn *prev, *next;
	enum phase phase;
	int client, upstream;
	struct ep ep[2];
	uint32_t events[2]; /* registered with epoll */
	struct listener *l; /* PH_FIRST and PH_CONNECT: read under the lock */
	uint8_t *first;
	size_t nfirst;
	int64_t deadline; /* ms, CLOCK_MONOTONIC; 0: none */
	char name[FB_NAME_MAX + 1];
	struct relay r;
	bool draining;
	bool dead; /* closed: freed after the epoll batch that may still name it */
};

/* A worker's counters: it writes them, the main thread sums them. */
struct counts {
	uint64_t live, total, refused, up, down, live_up, live_down;
};

struct worker {
	struct proxy *px;
	pthread_t thread;
	int epfd;
	struct conn *conns;
	struct conn *dead; /* closed in this batch, through their next */
	uint32_t ndraining;
	struct counts n;
};

struct proxy {
	const struct proxy_opts *o;
	pthread_rwlock_t lock;
	bool applied;
	struct applied_state cur;
	struct listener *listeners;
	struct listener *gone; /* left the policy: an event fetched before may still name one */
	struct relay_kernel k;
	struct worker *w;
	unsigned nw;
	int stats_fd;
	struct steer_proxy_stats st;
	bool stopping, aborting; /* read by the workers */
	bool said_ready, said_waiting;
};

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define ADD(x, v) STORE(x, LOAD(x) + (v))

static int64_t _now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One whole line to stderr: threads do not cut into each other's. */
static void _vline(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static void _vline(const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "steer proxy: %s\n", line);
}

static void _log(const struct proxy *px, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void _log(const struct proxy *px, const char *fmt, ...)
{
	va_list ap;

	if (!px->o->verbose)
		return;
	va_start(ap, fmt);
	_vline(fmt, ap);
	va_end(ap);
}

static void _warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void _warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	_vline(fmt, ap);
	va_end(ap);
}

static void _watch(int epfd, int fd, struct ep *ep, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = ep };

	epoll_ctl(epfd, op, fd, &ev);
}

/* ---- connections, each in its worker ---- */

/*
 * What SIDE waits for. A side that waits for nothing leaves the epoll set: a
 * hang-up is reported whatever the interest, and would wake the worker again
 * and again while the other side still drains.
 */
static void _conn_set(struct worker *w, struct conn *c, int side, uint32_t events)
{
	int fd = side ? c->upstream : c->client;
	uint32_t was = c->events[side];

	if (fd < 0 || was == events)
		return;
	c->events[side] = events;
	if (!events)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
	else
		_watch(w->epfd, fd, &c->ep[side], events, was ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
}

/* Ends C: RESET closes both sides with an RST (a refusal, or a reset passed on). */
static void _conn_close(struct worker *w, struct conn *c, bool reset, const char *why)
{
	if (c->phase == PH_RELAY) {
		relay_end(&c->r, reset);
		ADD(w->n.up, c->r.d[0].bytes);
		ADD(w->n.down, c->r.d[1].bytes);
	} else {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		if (reset)
			setsockopt(c->client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c->client);
		if (c->upstream >= 0)
			close(c->upstream);
		ADD(w->n.refused, 1);
	}
	_log(w->px, "connection closed%s: %s", reset ? " with a reset" : "", why);
	if (c->draining)
		w->ndraining--;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ADD(w->n.live, -1);
	c->dead = true;
	c->next = w->dead;
	w->dead = c;
}

static void _reap(struct worker *w)
{
	while (w->dead) {
		struct conn *c = w->dead;
		w->dead = c->next;
		free(c->first);
		free(c);
	}
}

static socklen_t _sockaddr(const struct upstream *u, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (u->family == FAM_V6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(u->port);
		addr_to_bytes(u->addr, FAM_V6, &s6->sin6_addr);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(u->port);
	addr_to_bytes(u->addr, FAM_V4, &s4->sin_addr);
	return sizeof(*s4);
}

/* The upstream is known (or the connection is refused): connect to it. Under the lock (C->l). */
static void _conn_connect(struct worker *w, struct conn *c, const struct upstream *u)
{
	struct sockaddr_storage ss;
	socklen_t sl = _sockaddr(u, &ss);
	char text[UPSTREAM_STRLEN];

	_log(w->px, "%s%s%s -> %s", c->l->name, c->name[0] ? " for " : "", c->name, upstream_format(u, text));
	if (u->drop) {
		_conn_close(w, c, true, "the forward's default is drop");
		return;
	}
	c->upstream = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->upstream < 0 || (connect(c->upstream, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)) {
		_conn_close(w, c, true, strerror(errno));
		return;
	}
	c->phase = PH_CONNECT;
	c->deadline = _now_ms() + (int64_t)(w->px->o->connect_timeout * 1000);
	c->events[1] = EPOLLOUT;
	_watch(w->epfd, c->upstream, &c->ep[1], EPOLLOUT, EPOLL_CTL_ADD);
	_conn_set(w, c, 0, 0);
}

/* Relaying: what each side waits for now, and the end when it comes. */
static void _conn_relay(struct worker *w, struct conn *c, unsigned dirs)
{
	enum relay_state s = relay_step(&c->r, dirs);

	if (s == RELAY_DONE || s == RELAY_RESET) {
		_conn_close(w, c, s == RELAY_RESET, s == RELAY_DONE ? "both sides ended" : error_message());
		return;
	}
	if ((s == RELAY_DRAINING) != c->draining) {
		c->draining = !c->draining;
		w->ndraining += c->draining ? 1 : (uint32_t)-1;
	}
	_conn_set(w, c, 0, relay_events(&c->r, 0));
	_conn_set(w, c, 1, relay_events(&c->r, 1));
}

static void _conn_upstream_ready(struct worker *w, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(c->upstream, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		_conn_close(w, c, true, strerror(err));
		return;
	}
	if (relay_start(&c->r, w->px->o->relay, &w->px->k, c->client, c->upstream, c->first, c->nfirst) < 0) {
		_warn("%s", error_message());
		_conn_close(w, c, true, "cannot relay");
		return;
	}
	free(c->first);
	c->first = NULL;
	c->phase = PH_RELAY;
	c->deadline = 0;
	_conn_relay(w, c, RELAY_BOTH);
}

/* The name in the first bytes; the upstream once it is known, or the default when there is none. Under the lock. */
static void _conn_first(struct worker *w, struct conn *c, bool timed_out)
{
	const struct built_forward *fw = c->l->fw;
	enum fb_result fr = FB_MORE;

	if (!fw) {
		_conn_close(w, c, true, "its forward left the policy before it named anything");
		return;
	}
	while (!timed_out && c->nfirst < FIRST_MAX) {
		ssize_t n = recv(c->client, c->first + c->nfirst, FIRST_MAX - c->nfirst, 0);
		if (n == 0 && !c->nfirst) {
			_conn_close(w, c, false, "the client closed before it sent anything");
			return;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			_conn_close(w, c, true, strerror(errno));
			return;
		}
		if (n > 0)
			c->nfirst += (size_t)n;
		fr = fw->by == FWD_SNI ? fb_tls_sni(c->first, c->nfirst, c->name) : fb_http_host(c->first, c->nfirst, c->name);
		if (fr != FB_MORE || n <= 0)
			break;
	}
	if (fr == FB_MORE && !timed_out && c->nfirst < FIRST_MAX)
		return; /* more to come */
	if (fr != FB_NAME)
		c->name[0] = '\0';
	_conn_connect(w, c, built_forward_choose(fw, fr == FB_NAME ? c->name : NULL));
}

/* One connection from L, into this worker: one per wake-up, so the workers share a burst. Under the lock. */
static void _accept(struct worker *w, struct listener *l)
{
	for (int f = 0; f < 2 && l->fw && !LOAD(w->px->stopping); f++) {
		int cfd = l->fd[f] >= 0 ? accept4(l->fd[f], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC) : -1;
		if (cfd < 0) {
			if (l->fd[f] >= 0 && errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				_warn("accept: %s", strerror(errno));
			continue;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c || (l->fw->by != FWD_STATIC && !(c->first = malloc(FIRST_MAX)))) {
			free(c);
			close(cfd);
			_warn("out of memory");
			return;
		}
		c->client = cfd;
		c->upstream = -1;
		c->l = l;
		c->ep[0] = (struct ep){ EP_CLIENT, c };
		c->ep[1] = (struct ep){ EP_UPSTREAM, c };
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		ADD(w->n.live, 1);
		ADD(w->n.total, 1);
		if (l->fw->by == FWD_STATIC) {
			_conn_connect(w, c, &l->fw->up);
		} else {
			c->phase = PH_FIRST;
			c->deadline = _now_ms() + (int64_t)(w->px->o->first_timeout * 1000);
			_conn_set(w, c, 0, EPOLLIN);
			_conn_first(w, c, false);
		}
		return;
	}
}

static void _conn_event(struct worker *w, struct conn *c, int side, uint32_t events)
{
	if (c->phase == PH_FIRST) {
		_conn_first(w, c, false);
	} else if (c->phase == PH_CONNECT) {
		if (side == 1)
			_conn_upstream_ready(w, c);
		else if (events & (EPOLLERR | EPOLLHUP))
			_conn_close(w, c, true, "the client went away while the upstream was being connected");
	} else if ((events & EPOLLERR) && relay_failed(&c->r, side)) {
		_conn_close(w, c, true, side ? "the upstream reset" : "the client reset");
	} else {
		_conn_relay(w, c, relay_dirs(side, events));
	}
}

/* Deadlines (first bytes, connect), sockmap tails, and the bytes of live copies. Under the lock. */
static void _scan(struct worker *w, int64_t now)
{
	uint64_t up = 0, down = 0;

	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (c->draining)
			_conn_relay(w, c, RELAY_BOTH);
		else if (c->deadline && now >= c->deadline && c->phase == PH_FIRST)
			_conn_first(w, c, true);
		else if (c->deadline && now >= c->deadline && c->phase == PH_CONNECT)
			_conn_close(w, c, true, "the upstream did not answer in time");
		if (!c->dead && c->phase == PH_RELAY) {
			up += c->r.d[0].bytes;
			down += c->r.d[1].bytes;
		}
	}
	STORE(w->n.live_up, up);
	STORE(w->n.live_down, down);
}

static void *_worker_run(void *arg)
{
	struct worker *w = arg;
	struct proxy *px = w->px;
	struct epoll_event evs[256];
	int64_t next_scan = 0;

	for (;;) {
		int64_t now = _now_ms();
		if (LOAD(px->aborting) || (LOAD(px->stopping) && !w->conns))
			break;
		if (now >= next_scan || w->ndraining) {
			pthread_rwlock_rdlock(&px->lock);
			_scan(w, now);
			pthread_rwlock_unlock(&px->lock);
			next_scan = now + SCAN_MS;
		}
		int n = epoll_wait(w->epfd, evs, sizeof(evs) / sizeof(*evs), w->ndraining ? DRAIN_MS : SCAN_MS);
		for (int i = 0; i < n; i++) {
			struct ep *e = evs[i].data.ptr;
			if (e->kind == EP_LISTEN) {
				pthread_rwlock_rdlock(&px->lock);
				_accept(w, e->owner);
				pthread_rwlock_unlock(&px->lock);
				continue;
			}
			struct conn *c = e->owner;
			if (c->dead)
				continue;
			bool locked = c->phase != PH_RELAY; /* a connection before its relay reads its forward */
			if (locked)
				pthread_rwlock_rdlock(&px->lock);
			_conn_event(w, c, e->kind == EP_UPSTREAM, evs[i].events);
			if (locked)
				pthread_rwlock_unlock(&px->lock);
		}
		_reap(w);
	}
	pthread_rwlock_rdlock(&px->lock);
	while (w->conns)
		_conn_close(w, w->conns, true, "steer proxy stopped");
	pthread_rwlock_unlock(&px->lock);
	_reap(w);
	return NULL;
}

/* ---- listeners: one per forward of the applied policy, in the main thread ---- */

static int _listen_on(int family)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int one = 1, fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*s4);
	}
	/* Bound to loopback on a port the kernel picks: connections reach it through the sockets map. */
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, SOMAXCONN) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Out of every worker's epoll and closed; the struct stays until the end. Under the write lock. */
static void _listeners_drop(struct proxy *px, bool all)
{
	for (struct listener **pl = &px->listeners; *pl;) {
		struct listener *l = *pl;
		if (!all && l->keep) {
			pl = &l->next;
			continue;
		}
		*pl = l->next;
		for (int f = 0; f < 2; f++) {
			for (unsigned i = 0; l->fd[f] >= 0 && i < px->nw; i++)
				epoll_ctl(px->w[i].epfd, EPOLL_CTL_DEL, l->fd[f], NULL);
			if (l->fd[f] >= 0)
				close(l->fd[f]);
			l->fd[f] = -1;
		}
		l->fw = NULL;
		l->next = px->gone;
		px->gone = l;
	}
}

/* Listening sockets for the forward SVC (new ones when it is new) in its slots. Under the write lock. */
static int _listener_sync(struct proxy *px, const struct built_service *svc)
{
	struct listener *l = px->listeners;
	int r;

	while (l && strcmp(l->name, svc->name))
		l = l->next;
	if (!l) {
		if (!(l = calloc(1, sizeof(*l))) || !(l->name = strdup(svc->name))) {
			free(l);
			return error_set(-ENOMEM, "out of memory");
		}
		l->fd[0] = l->fd[1] = -1;
		l->ep = (struct ep){ EP_LISTEN, l };
		l->next = px->listeners;
		px->listeners = l;
	}
	l->fw = svc->forward;
	l->keep = true;
	for (int f = 0; f < 2; f++) {
		if (!(svc->used_slots & (1u << (f ? STEER_SLOT_V6 : 0))) || l->fd[f] >= 0)
			continue;
		if ((l->fd[f] = _listen_on(f ? AF_INET6 : AF_INET)) < 0) {
			r = l->fd[f];
			l->fd[f] = -1;
			return error_set(r, "cannot listen on %s for '%s': %s", f ? "[::1]" : "127.0.0.1", svc->name,
					 strerror(-r));
		}
		for (unsigned i = 0; i < px->nw; i++)
			_watch(px->w[i].epfd, l->fd[f], &l->ep, EPOLLIN | EPOLLEXCLUSIVE, EPOLL_CTL_ADD);
	}
	for (int f = 0; f < 2; f++) {
		struct register_opts ro = { .service = svc->name, .proxy = true, .fd = l->fd[f] };
		_cleanup_vec_ registered_vec regs = { 0 };
		if (l->fd[f] >= 0 && (r = rt_register(&px->o->target, &ro, &regs)) < 0)
			return error_set(r, "cannot register for '%s': %s", svc->name, error_message());
	}
	return 0;
}

/* What the proxy says about itself: the workers' counters summed. */
static struct steer_proxy_stats _stats(const struct proxy *px)
{
	struct steer_proxy_stats st = px->st;

	for (unsigned i = 0; i < px->nw; i++) {
		const struct counts *n = &px->w[i].n;
		st.conns_live += LOAD(n->live);
		st.conns_total += LOAD(n->total);
		st.refused += LOAD(n->refused);
		st.bytes_up += LOAD(n->up) + LOAD(n->live_up);
		st.bytes_down += LOAD(n->down) + LOAD(n->live_down);
	}
	return st;
}

static void _stats_publish(const struct proxy *px, const struct steer_proxy_stats *st)
{
	uint32_t key = 0;

	if (px->stats_fd >= 0)
		bpf_map_update_elem(px->stats_fd, &key, st, BPF_ANY);
}

/* Follows the applied state: new forwards get sockets, gone ones lose theirs. */
static void _sync(struct proxy *px)
{
	struct rt_target t = px->o->target;
	struct applied_state rec;
	bool applied;
	uint32_t nfwd = 0;

	t.wait = 0; /* an apply under way: look again next time */
	t.notice = NULL;
	if (rt_current(&t, &applied, &rec) < 0) {
		if (!px->said_waiting)
			_warn("%s", error_message());
		px->said_waiting = true;
		return;
	}
	if (applied && px->applied && rec.prog_id == px->cur.prog_id) {
		applied_state_free(&rec);
		return;
	}
	pthread_rwlock_wrlock(&px->lock);
	for (struct listener *l = px->listeners; l; l = l->next)
		l->keep = false;
	for (uint32_t i = 0; applied && i < rec.m.nservices; i++) {
		if (!rec.m.services[i].forward)
			continue;
		nfwd++;
		if (_listener_sync(px, &rec.m.services[i]) < 0)
			_warn("%s", error_message());
	}
	_listeners_drop(px, false);
	if (px->applied)
		applied_state_free(&px->cur);
	px->cur = rec;
	px->applied = applied;
	pthread_rwlock_unlock(&px->lock);
	if (px->stats_fd >= 0)
		close(px->stats_fd);
	px->stats_fd = applied ? rt_proxy_stats_open(&t) : -1;
	if (!nfwd) {
		if (!px->said_waiting)
			fprintf(px->o->out, "steer proxy: %s; waiting for forward rules\n",
				applied ? "the applied policy has no forward rules" : "no policy is applied");
		px->said_waiting = true;
		fflush(px->o->out);
		return;
	}
	px->said_waiting = false;
	fprintf(px->o->out, "steer proxy: %s: %u forward%s of %s, relay %s, %u thread%s\n",
		px->said_ready ? "following" : "ready", nfwd, nfwd == 1 ? "" : "s", px->cur.m.policy,
		relay_mode_name(px->o->relay), px->nw, px->nw == 1 ? "" : "s");
	fflush(px->o->out);
	px->said_ready = true;
}

/* SIGTERM: no new connections (the slots are emptied: the forward rules refuse), the live ones get the grace. */
static void _stop(struct proxy *px)
{
	for (struct listener *l = px->listeners; l && px->applied; l = l->next) {
		struct unregister_opts uo = { .service = l->name, .family = -1 };
		unsigned removed;
		if (rt_unregister(&px->o->target, &uo, &removed) < 0)
			_warn("%s", error_message());
	}
	pthread_rwlock_wrlock(&px->lock);
	_listeners_drop(px, true);
	pthread_rwlock_unlock(&px->lock);
	STORE(px->stopping, true);
	struct steer_proxy_stats st = _stats(px);
	_stats_publish(px, &st);
	fprintf(px->o->out, "steer proxy: stopping: %llu connection%s get %.0f s to finish\n",
		(unsigned long long)st.conns_live, st.conns_live == 1 ? "" : "s", px->o->grace);
	fflush(px->o->out);
}

static void _raise_nofile(void)
{
	struct rlimit rl;

	/* Two sockets per connection, and two pipes under splice. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Waits for every worker to end: on its own once stopping, at the end of the grace by aborting. */
static void _join(struct proxy *px, int64_t stop_at)
{
	for (unsigned i = 0; i < px->nw; i++) {
		if (!px->w[i].thread)
			continue;
		struct timespec ts;
		for (;;) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (pthread_timedjoin_np(px->w[i].thread, NULL, &ts) == 0)
				break;
			if (_now_ms() >= stop_at)
				STORE(px->aborting, true);
		}
		px->w[i].thread = 0;
	}
}

static void _free(struct proxy *px)
{
	STORE(px->stopping, true);
	_join(px, 0);
	pthread_rwlock_wrlock(&px->lock);
	_listeners_drop(px, true);
	pthread_rwlock_unlock(&px->lock);
	while (px->gone) {
		struct listener *l = px->gone;
		px->gone = l->next;
		free(l->name);
		free(l);
	}
	struct steer_proxy_stats st = _stats(px);
	st.pid = 0; /* stopped: status says so */
	_stats_publish(px, &st);
	if (px->stats_fd >= 0)
		close(px->stats_fd);
	if (px->applied)
		applied_state_free(&px->cur);
	for (unsigned i = 0; i < px->nw; i++)
		if (px->w[i].epfd >= 0)
			close(px->w[i].epfd);
	free(px->w);
	relay_kernel_close(&px->k);
	pthread_rwlock_destroy(&px->lock);
}

static void _signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
}

static int _start(struct proxy *px)
{
	const struct proxy_opts *o = px->o;
	sigset_t mask;
	int r;

	_raise_nofile();
	if (o->relay == RELAY_SOCKMAP && (r = relay_kernel_open(&px->k)) < 0)
		return r;
	/* Blocked before the workers start, so they inherit it: the main thread takes them (sigtimedwait). */
	_signals(&mask);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	px->nw = o->threads;
	if (!(px->w = calloc(px->nw, sizeof(*px->w))))
		return error_set(-ENOMEM, "out of memory");
	for (unsigned i = 0; i < px->nw; i++) {
		px->w[i] = (struct worker){ .px = px, .epfd = epoll_create1(EPOLL_CLOEXEC) };
		if (px->w[i].epfd < 0)
			return error_set(-errno, "epoll: %s", strerror(errno));
	}
	for (unsigned i = 0; i < px->nw; i++)
		if ((r = pthread_create(&px->w[i].thread, NULL, _worker_run, &px->w[i])) != 0) {
			px->w[i].thread = 0;
			return error_set(-r, "cannot start a worker thread: %s", strerror(r));
		}
	return 0;
}

int proxy_run(const struct proxy_opts *o)
{
	struct proxy px = { .o = o, .stats_fd = -1 };
	struct timespec ts;
	int64_t next_sync = 0, stop_at = 0;
	int r;

	px.k.socks_fd = px.k.peers_fd = -1;
	pthread_rwlock_init(&px.lock, NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	px.st.pid = (uint32_t)getpid();
	px.st.relay = o->relay;
	px.st.started_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if ((r = _start(&px)) < 0) {
		_free(&px);
		return r;
	}
	while (!px.stopping) {
		int64_t now = _now_ms();
		if (now >= next_sync) {
			_sync(&px);
			next_sync = now + SYNC_MS;
		}
		struct steer_proxy_stats st = _stats(&px);
		_stats_publish(&px, &st);
		/* The signals, or the next tick. */
		struct timespec tick = { 0, SCAN_MS * 1000000 };
		siginfo_t si;
		sigset_t mask;
		_signals(&mask);
		if (sigtimedwait(&mask, &si, &tick) < 0)
			continue;
		if (si.si_signo == SIGHUP) {
			next_sync = 0;
			continue;
		}
		_stop(&px);
		stop_at = _now_ms() + (int64_t)(o->grace * 1000);
	}
	_join(&px, stop_at);
	struct steer_proxy_stats st = _stats(&px);
	fprintf(o->out, "steer proxy: stopped after %llu connection%s (%llu bytes up, %llu down)\n",
		(unsigned long long)st.conns_total, st.conns_total == 1 ? "" : "s", (unsigned long long)st.bytes_up,
		(unsigned long long)st.bytes_down);
	_free(&px);
	return 0;
}
