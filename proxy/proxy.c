#include "proxy.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "firstbytes.h"

/* The most of a connection's first bytes the proxy reads for a name: a ClientHello fits. */
#define FIRST_MAX (16 * 1024)
/* How often the applied state is checked for a re-apply, and the stats written. */
#define SYNC_MS 1000
/* How often deadlines are checked, and (sockmap) ended directions polled for their tail. */
#define SCAN_MS 100
#define DRAIN_MS 2

enum ep_kind { EP_LISTEN, EP_CLIENT, EP_UPSTREAM, EP_SIGNAL };

/* What an epoll event is about. */
struct ep {
	enum ep_kind kind;
	void *owner;
};

/* The sockets the proxy listens on for one forward of the policy. */
struct listener {
	struct listener *next;
	char *name; /* the manifest service's, the same for the same forward across re-applies */
	const struct built_forward *fw; /* in proxy.cur */
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
	struct listener *l;
	uint8_t *first;
	size_t nfirst;
	int64_t deadline; /* ms, CLOCK_MONOTONIC; 0: none */
	char name[FB_NAME_MAX + 1];
	struct relay r;
	bool draining;
	bool dead; /* closed: freed after the epoll batch that may still name it */
};

struct proxy {
	const struct proxy_opts *o;
	int epfd, sigfd;
	struct ep sig_ep;
	bool applied;
	struct applied_state cur;
	struct listener *listeners;
	struct conn *conns;
	struct conn *dead; /* closed in this batch, through their next */
	struct relay_kernel k;
	int stats_fd;
	struct steer_proxy_stats st;
	bool stopping, said_ready, said_waiting;
	bool counts_changed; /* a connection came or went since the stats were written */
	int64_t stop_at, next_sync, next_scan;
	uint32_t ndraining;
};

static int64_t _now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void _log(const struct proxy *px, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void _log(const struct proxy *px, const char *fmt, ...)
{
	va_list ap;

	if (!px->o->verbose)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "steer proxy: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void _warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void _warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "steer proxy: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void _watch(struct proxy *px, int fd, struct ep *ep, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = ep };

	epoll_ctl(px->epfd, op, fd, &ev);
}

/* ---- connections ---- */

static void _conn_set(struct proxy *px, struct conn *c, int side, uint32_t events)
{
	int fd = side ? c->upstream : c->client;

	if (fd < 0 || c->events[side] == events)
		return;
	c->events[side] = events;
	_watch(px, fd, &c->ep[side], events, EPOLL_CTL_MOD);
}

/* Ends C: RESET closes both sides with an RST (a refusal, or a reset passed on). */
static void _conn_close(struct proxy *px, struct conn *c, bool reset, const char *why)
{
	if (c->phase == PH_RELAY) {
		relay_end(&c->r, reset);
		px->st.bytes_up += c->r.d[0].bytes;
		px->st.bytes_down += c->r.d[1].bytes;
	} else {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		if (reset)
			setsockopt(c->client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c->client);
		if (c->upstream >= 0)
			close(c->upstream);
		px->st.refused++;
	}
	_log(px, "connection closed%s: %s", reset ? " with a reset" : "", why);
	if (c->draining)
		px->ndraining--;
	if (c->prev)
		c->prev->next = c->next;
	else
		px->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	px->st.conns_live--;
	px->counts_changed = true;
	c->dead = true;
	c->next = px->dead;
	px->dead = c;
}

static void _reap(struct proxy *px)
{
	while (px->dead) {
		struct conn *c = px->dead;
		px->dead = c->next;
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

/* The upstream is known (or the connection is refused): connect to it. */
static void _conn_connect(struct proxy *px, struct conn *c, const struct upstream *u)
{
	struct sockaddr_storage ss;
	socklen_t sl = _sockaddr(u, &ss);
	char text[UPSTREAM_STRLEN];

	_log(px, "%s%s%s -> %s", c->l->name, c->name[0] ? " for " : "", c->name, upstream_format(u, text));
	if (u->drop) {
		_conn_close(px, c, true, "the forward's default is drop");
		return;
	}
	c->upstream = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->upstream < 0 || (connect(c->upstream, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)) {
		_conn_close(px, c, true, strerror(errno));
		return;
	}
	c->phase = PH_CONNECT;
	c->deadline = _now_ms() + (int64_t)(px->o->connect_timeout * 1000);
	c->events[1] = EPOLLOUT;
	_watch(px, c->upstream, &c->ep[1], EPOLLOUT, EPOLL_CTL_ADD);
	_conn_set(px, c, 0, 0);
}

/* Relaying: what each side waits for now, and the end when it comes. */
static void _conn_relay(struct proxy *px, struct conn *c, unsigned dirs)
{
	enum relay_state s = relay_step(&c->r, dirs);

	if (s == RELAY_DONE || s == RELAY_RESET) {
		_conn_close(px, c, s == RELAY_RESET, s == RELAY_DONE ? "both sides ended" : error_message());
		return;
	}
	if ((s == RELAY_DRAINING) != c->draining) {
		c->draining = !c->draining;
		px->ndraining += c->draining ? 1 : (uint32_t)-1;
	}
	_conn_set(px, c, 0, relay_events(&c->r, 0));
	_conn_set(px, c, 1, relay_events(&c->r, 1));
}

static void _conn_upstream_ready(struct proxy *px, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(c->upstream, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		_conn_close(px, c, true, strerror(err));
		return;
	}
	if (relay_start(&c->r, px->o->relay, &px->k, c->client, c->upstream, c->first, c->nfirst) < 0) {
		_warn("%s", error_message());
		_conn_close(px, c, true, "cannot relay");
		return;
	}
	free(c->first);
	c->first = NULL;
	c->phase = PH_RELAY;
	c->deadline = 0;
	_conn_relay(px, c, RELAY_BOTH);
}

/* The name in the first bytes; the upstream once it is known, or the default when there is none. */
static void _conn_first(struct proxy *px, struct conn *c, bool timed_out)
{
	const struct built_forward *fw = c->l->fw;
	enum fb_result fr = FB_MORE;

	while (!timed_out && c->nfirst < FIRST_MAX) {
		ssize_t n = recv(c->client, c->first + c->nfirst, FIRST_MAX - c->nfirst, 0);
		if (n == 0 && !c->nfirst) {
			_conn_close(px, c, false, "the client closed before it sent anything");
			return;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			_conn_close(px, c, true, strerror(errno));
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
	_conn_connect(px, c, built_forward_choose(fw, fr == FB_NAME ? c->name : NULL));
}

static void _accept(struct proxy *px, struct listener *l, int fd)
{
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				_warn("accept: %s", strerror(errno));
			if (errno != ECONNABORTED && errno != EINTR)
				return;
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
		c->next = px->conns;
		if (px->conns)
			px->conns->prev = c;
		px->conns = c;
		px->st.conns_live++;
		px->st.conns_total++;
		px->counts_changed = true;
		c->events[0] = l->fw->by == FWD_STATIC ? 0 : EPOLLIN;
		_watch(px, cfd, &c->ep[0], c->events[0], EPOLL_CTL_ADD);
		if (l->fw->by == FWD_STATIC) {
			_conn_connect(px, c, &l->fw->up);
		} else {
			c->phase = PH_FIRST;
			c->deadline = _now_ms() + (int64_t)(px->o->first_timeout * 1000);
			_conn_first(px, c, false);
		}
	}
}

static void _conn_event(struct proxy *px, struct conn *c, int side, uint32_t events)
{
	if (c->phase == PH_FIRST) {
		_conn_first(px, c, false);
	} else if (c->phase == PH_CONNECT) {
		if (side == 1)
			_conn_upstream_ready(px, c);
		else if (events & (EPOLLERR | EPOLLHUP))
			_conn_close(px, c, true, "the client went away while the upstream was being connected");
	} else if ((events & EPOLLERR) && relay_failed(&c->r, side)) {
		_conn_close(px, c, true, side ? "the upstream reset" : "the client reset");
	} else {
		_conn_relay(px, c, relay_dirs(side, events));
	}
}

/* Deadlines (first bytes, connect) and sockmap tails. */
static void _scan(struct proxy *px, int64_t now)
{
	for (struct conn *c = px->conns, *next; c; c = next) {
		next = c->next;
		if (c->draining)
			_conn_relay(px, c, RELAY_BOTH);
		else if (c->deadline && now >= c->deadline && c->phase == PH_FIRST)
			_conn_first(px, c, true);
		else if (c->deadline && now >= c->deadline && c->phase == PH_CONNECT)
			_conn_close(px, c, true, "the upstream did not answer in time");
	}
}

/* ---- listeners: one per forward of the applied policy ---- */

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

static void _listener_free(struct proxy *px, struct listener *l)
{
	/* Connections still waiting for their first bytes need the forward that is going away. */
	for (struct conn *c = px->conns, *next; c; c = next) {
		next = c->next;
		if (c->l == l && c->phase == PH_FIRST)
			_conn_close(px, c, true, "its forward left the policy");
		else if (c->l == l)
			c->l = NULL;
	}
	for (int i = 0; i < 2; i++)
		if (l->fd[i] >= 0)
			close(l->fd[i]);
	free(l->name);
	free(l);
}

static void _listeners_drop(struct proxy *px, bool all)
{
	for (struct listener **pl = &px->listeners; *pl;) {
		struct listener *l = *pl;
		if (all || !l->keep) {
			*pl = l->next;
			_listener_free(px, l);
		} else {
			pl = &l->next;
		}
	}
}

/* Listening sockets for the forward SVC (new ones when it is new) in its slots. */
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
		_watch(px, l->fd[f], &l->ep, EPOLLIN, EPOLL_CTL_ADD);
	}
	for (int f = 0; f < 2; f++) {
		struct register_opts ro = { .service = svc->name, .proxy = true, .fd = l->fd[f] };
		_cleanup_vec_ registered_vec regs = { 0 };
		if (l->fd[f] >= 0 && (r = rt_register(&px->o->target, &ro, &regs)) < 0)
			return error_set(r, "cannot register for '%s': %s", svc->name, error_message());
	}
	return 0;
}

static void _stats_publish(struct proxy *px)
{
	uint32_t key = 0;
	struct steer_proxy_stats st = px->st;

	for (const struct conn *c = px->conns; c; c = c->next) {
		if (c->phase == PH_RELAY && px->o->relay != RELAY_SOCKMAP) {
			st.bytes_up += c->r.d[0].bytes;
			st.bytes_down += c->r.d[1].bytes;
		}
	}
	if (px->stats_fd >= 0)
		bpf_map_update_elem(px->stats_fd, &key, &st, BPF_ANY);
	px->counts_changed = false;
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
	fprintf(px->o->out, "steer proxy: %s: %u forward%s of %s, relay %s\n", px->said_ready ? "following" : "ready", nfwd,
		nfwd == 1 ? "" : "s", px->cur.m.policy, relay_mode_name(px->o->relay));
	fflush(px->o->out);
	px->said_ready = true;
}

/* SIGTERM: no new connections (the slots are emptied: the forward rules refuse), the live ones get the grace. */
static void _stop(struct proxy *px)
{
	px->stopping = true;
	px->stop_at = _now_ms() + (int64_t)(px->o->grace * 1000);
	for (struct listener *l = px->listeners; l && px->applied; l = l->next) {
		struct unregister_opts uo = { .service = l->name, .family = -1 };
		unsigned removed;
		if (rt_unregister(&px->o->target, &uo, &removed) < 0)
			_warn("%s", error_message());
	}
	_listeners_drop(px, true);
	fprintf(px->o->out, "steer proxy: stopping: %llu connection%s get %.0f s to finish\n",
		(unsigned long long)px->st.conns_live, px->st.conns_live == 1 ? "" : "s", px->o->grace);
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

static void _free(struct proxy *px)
{
	while (px->conns)
		_conn_close(px, px->conns, true, "steer proxy stopped");
	_reap(px);
	_listeners_drop(px, true);
	px->st.pid = 0;
	_stats_publish(px);
	if (px->stats_fd >= 0)
		close(px->stats_fd);
	if (px->applied)
		applied_state_free(&px->cur);
	relay_kernel_close(&px->k);
	if (px->sigfd >= 0)
		close(px->sigfd);
	if (px->epfd >= 0)
		close(px->epfd);
}

int proxy_run(const struct proxy_opts *o)
{
	struct proxy px = { .o = o, .epfd = -1, .sigfd = -1, .stats_fd = -1 };
	struct epoll_event evs[256];
	struct timespec ts;
	sigset_t mask;
	int r;

	px.k.socks_fd = px.k.peers_fd = -1;
	_raise_nofile();
	if (o->relay == RELAY_SOCKMAP && (r = relay_kernel_open(&px.k)) < 0)
		return r;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	px.epfd = epoll_create1(EPOLL_CLOEXEC);
	px.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (px.epfd < 0 || px.sigfd < 0) {
		r = error_set(-errno, "epoll: %s", strerror(errno));
		_free(&px);
		return r;
	}
	px.sig_ep = (struct ep){ EP_SIGNAL, NULL };
	_watch(&px, px.sigfd, &px.sig_ep, EPOLLIN, EPOLL_CTL_ADD);
	clock_gettime(CLOCK_REALTIME, &ts);
	px.st.pid = (uint32_t)getpid();
	px.st.relay = o->relay;
	px.st.started_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;

	for (;;) {
		int64_t now = _now_ms();
		if (!px.stopping && now >= px.next_sync) {
			_sync(&px);
			_stats_publish(&px);
			px.next_sync = _now_ms() + SYNC_MS;
		}
		if (now >= px.next_scan || px.ndraining) {
			_scan(&px, now);
			px.next_scan = now + SCAN_MS;
			/* Connection counts within a tenth of a second; bytes at least every second. */
			if (px.counts_changed)
				_stats_publish(&px);
		}
		if (px.stopping && (!px.conns || now >= px.stop_at))
			break;
		int n = epoll_wait(px.epfd, evs, sizeof(evs) / sizeof(*evs), px.ndraining ? DRAIN_MS : SCAN_MS);
		for (int i = 0; i < n; i++) {
			struct ep *e = evs[i].data.ptr;
			if (e->kind == EP_SIGNAL) {
				struct signalfd_siginfo si;
				while (read(px.sigfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP)
						px.next_sync = 0;
					else if (!px.stopping)
						_stop(&px);
				}
				break; /* the events after this may be about closed sockets */
			}
			if (e->kind == EP_LISTEN) {
				struct listener *l = e->owner;
				for (int f = 0; f < 2; f++)
					if (l->fd[f] >= 0)
						_accept(&px, l, l->fd[f]);
				continue;
			}
			struct conn *c = e->owner;
			if (!c->dead)
				_conn_event(&px, c, e->kind == EP_UPSTREAM, evs[i].events);
		}
		_reap(&px);
	}
	fprintf(o->out, "steer proxy: stopped after %llu connection%s (%llu bytes up, %llu down)\n",
		(unsigned long long)px.st.conns_total, px.st.conns_total == 1 ? "" : "s",
		(unsigned long long)px.st.bytes_up, (unsigned long long)px.st.bytes_down);
	_free(&px);
	return 0;
}
