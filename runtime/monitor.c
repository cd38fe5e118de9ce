/* steer monitor: a slot in the program's monitor map, a ring buffer, and the decoding of what arrives in it. */
#include "monitor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "loader.h"

/* A socket some event named, and who holds it. */
struct monitor_sock {
	uint64_t cookie;
	uint32_t inode;
	owner_vec owners;
	bool gone;
	int64_t checked_ns;
};

#define MONITOR_GENS 3

static int64_t _now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void _gen_free(struct monitor_gen *g)
{
	applied_state_free(&g->rec);
	free(g->rules);
	memset(g, 0, sizeof(*g));
}

static int _gen_load(struct rt_monitor *m, uint32_t prog_id, struct monitor_gen *g)
{
	char path[PATH_MAX];
	int r;

	memset(g, 0, sizeof(*g));
	if ((r = state_record_read(&m->st, prog_id, &g->rec)) < 0)
		return r;
	state_gen_path(&m->st, prog_id, "rules", path);
	_cleanup_close_ int fd = bpf_obj_get(path);
	g->rules = calloc(g->rec.m.nrules + 1, sizeof(*g->rules));
	if (fd < 0 || !g->rules || loader_read_rules(fd, g->rec.m.nrules, g->rules) < 0) {
		_gen_free(g);
		return error_set(-EIO, "cannot read the rules of program %u", prog_id);
	}
	return 0;
}

/* Whether PATH is FILE, or ends with "/" FILE: a rule may be named as the operator wrote its file. */
static bool _same_file(const char *path, const char *file)
{
	size_t lp = strlen(path), lf = strlen(file);

	return strcmp(path, file) == 0 || (lp > lf && path[lp - lf - 1] == '/' && strcmp(path + lp - lf, file) == 0);
}

/* The first rule of G written at FILE:LINE, or UINT32_MAX. */
static uint32_t _find_rule(const struct monitor_gen *g, const char *spec)
{
	const char *colon = strrchr(spec, ':');
	char file[PATH_MAX], *end;

	if (!colon || colon == spec)
		return UINT32_MAX;
	unsigned long line = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1)
		return UINT32_MAX;
	snprintf(file, sizeof(file), "%.*s", (int)(colon - spec), spec);
	for (uint32_t i = 0; i < g->rec.m.nrules; i++) {
		const struct steer_rule_record *r = &g->rules[i];
		if (r->line == line && r->file < g->rec.m.nfiles && _same_file(g->rec.m.files[r->file], file))
			return i;
	}
	return UINT32_MAX;
}

static uint32_t _find_service(const struct monitor_gen *g, const char *name)
{
	for (uint32_t k = 0; k < g->rec.m.nservices; k++)
		if (strcmp(g->rec.m.services[k].name, name) == 0)
			return k;
	return UINT32_MAX;
}

/* PREFIX as the program compares it: address and mask, network order, IPv4 in the first word. */
static void _mask(const struct prefix *p, __u32 *want, __u32 *mask)
{
	unsigned host = fam_width(p->family) - p->len;
	u128 ones = fam_max(p->family) ^ (host >= 128 ? ~(u128)0 : ((u128)1 << host) - 1);

	memset(want, 0, 16);
	memset(mask, 0, 16);
	addr_to_bytes(p->addr, p->family, want);
	addr_to_bytes(ones & fam_max(p->family), p->family, mask);
}

/*
 * The filter for generation G: names resolved to its rule index and the
 * service's slot. Fails with -EINVAL when a name means nothing in G.
 */
static int _filter(const struct rt_monitor *m, const struct monitor_gen *g, struct steer_monitor_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->kinds = m->o.kinds;
	f->rate = m->o.rate;
	if (m->o.rule) {
		uint32_t i = _find_rule(g, m->o.rule);
		f->flags |= STEER_MF_RULE;
		f->rule = (uint64_t)g->rec.generation << 32 | i;
		if (i == UINT32_MAX)
			return error_set(-EINVAL, "no rule of the applied policy (%s) is written at %s", g->rec.m.policy,
					 m->o.rule);
	}
	if (m->o.service) {
		uint32_t k = _find_service(g, m->o.service);
		f->flags |= STEER_MF_SERVICE;
		f->slot = k == UINT32_MAX ? UINT32_MAX : g->rec.slot[k];
		if (k == UINT32_MAX)
			return error_set(-EINVAL, "the applied policy (%s) has no service '%s'", g->rec.m.policy, m->o.service);
	}
	if (m->o.proto) {
		f->flags |= STEER_MF_PROTO;
		f->proto = m->o.proto - 1 == PROTO_TCP ? IPPROTO_TCP : IPPROTO_UDP;
	}
	if (m->o.has_src) {
		f->flags |= STEER_MF_SRC;
		f->src_family = m->o.src.family == FAM_V4 ? AF_INET : AF_INET6;
		_mask(&m->o.src, f->src, f->src_mask);
	}
	if (m->o.has_dst) {
		f->flags |= STEER_MF_DST;
		f->dst_family = m->o.dst.family == FAM_V4 ? AF_INET : AF_INET6;
		_mask(&m->o.dst, f->dst, f->dst_mask);
	}
	return 0;
}

static const struct monitor_gen *_gen_by_tag(const struct rt_monitor *m, uint32_t tag)
{
	for (uint32_t i = 0; i < m->ngens; i++)
		if (m->gens[i].rec.generation == tag)
			return &m->gens[i];
	return NULL;
}

/* Follows a re-apply: the new generation first, the filter rewritten for it. */
static int _follow(struct rt_monitor *m)
{
	uint32_t id;
	struct monitor_gen g;
	struct steer_monitor_filter f;
	int r;

	if (state_link_prog(&m->st, &id) < 0)
		return -ENOENT;
	if (id == m->current_prog)
		return 0;
	if ((r = _gen_load(m, id, &g)) < 0) {
		error_clear();
		return 0; /* mid-apply: the record comes with the commit; next time */
	}
	if (m->ngens == MONITOR_GENS)
		_gen_free(&m->gens[--m->ngens]);
	memmove(&m->gens[1], &m->gens[0], m->ngens * sizeof(*m->gens));
	m->gens[0] = g;
	m->ngens++;
	m->current_prog = id;
	m->note[0] = '\0';
	if (_filter(m, &m->gens[0], &f) < 0) {
		snprintf(m->note, sizeof(m->note), "after the re-apply of %s: %s: this filter matches nothing now",
			 g.rec.m.policy, error_message());
		error_clear();
	}
	struct steer_monitor_filter *sf = &m->shared->m[m->slot].f;
	/* The program may read the filter at any moment: the words that change are written whole. */
	__atomic_store_n(&sf->rule, f.rule, __ATOMIC_RELEASE);
	__atomic_store_n(&sf->slot, f.slot, __ATOMIC_RELEASE);
	return 0;
}

static struct monitor_sock *_sock(struct rt_monitor *m, uint64_t cookie)
{
	for (size_t i = 0; i < m->nsocks; i++)
		if (m->socks[i].cookie == cookie)
			return &m->socks[i];
	if (m->nsocks == m->capsocks) {
		size_t cap = m->capsocks ? 2 * m->capsocks : 16;
		struct monitor_sock *v = realloc(m->socks, cap * sizeof(*v));
		if (!v)
			return NULL;
		m->socks = v;
		m->capsocks = cap;
	}
	struct monitor_sock *s = &m->socks[m->nsocks++];
	memset(s, 0, sizeof(*s));
	s->cookie = cookie;
	_cleanup_vec_ sockinfo_vec all = { 0 };
	sockinfo_listeners(&all);
	for (size_t i = 0; i < all.n; i++)
		if (all.v[i].cookie == cookie)
			s->inode = all.v[i].inode;
	return s;
}

/* Whether PID still has descriptor FD on socket INODE. */
static bool _holds(const struct owner *o, uint32_t inode)
{
	char path[64], link[64], want[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", o->pid, o->fd);
	snprintf(want, sizeof(want), "socket:[%u]", inode);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	return strcmp(link, want) == 0;
}

/* The socket's owners, checked at most once a second: those that exited leave, a new holder is found. */
static void _refresh(struct monitor_sock *s)
{
	int64_t now = _now(CLOCK_MONOTONIC);
	size_t kept = 0;

	if (s->checked_ns && now - s->checked_ns < 1000000000)
		return;
	s->checked_ns = now;
	if (!s->inode) {
		s->gone = true;
		return;
	}
	for (size_t i = 0; i < s->owners.n; i++)
		if (_holds(&s->owners.v[i], s->inode))
			s->owners.v[kept++] = s->owners.v[i];
	s->owners.n = kept;
	if (kept == 0)
		sockinfo_owners(s->inode, &s->owners);
	s->gone = s->owners.n == 0;
}

/* The cookie of the socket in SLOT, read once per drain pass: a socket that changed hands is seen at the next. */
static uint64_t _slot_cookie(struct rt_monitor *m, uint32_t slot)
{
	struct slot_seen *s = &m->seen[slot % STEER_SOCKET_SLOTS];

	if (s->pass != m->pass) {
		s->pass = m->pass;
		if (bpf_map_lookup_elem(m->sockets_fd, &slot, &s->cookie) < 0)
			s->cookie = 0;
	}
	return s->cookie;
}

static const char *_iface(uint32_t ifindex)
{
	static struct {
		uint32_t index;
		char name[IF_NAMESIZE];
	} cache[16];
	static unsigned next;

	if (!ifindex)
		return NULL;
	for (unsigned i = 0; i < 16; i++)
		if (cache[i].index == ifindex)
			return cache[i].name;
	unsigned i = next++ % 16;
	if (!if_indextoname(ifindex, cache[i].name))
		return NULL;
	cache[i].index = ifindex;
	return cache[i].name;
}

/* Renews the lease: the program writes to this monitor until it runs out. */
static void _renew(struct rt_monitor *m)
{
	if (m->stopped)
		return;
	__atomic_store_n(&m->shared->m[m->slot].lease_ns, (uint64_t)_now(CLOCK_MONOTONIC) + STEER_LEASE_NS,
			 __ATOMIC_RELEASE);
}

/* Events decoded per drain: then the caller can report losses and see a re-apply even in a flood. */
#define DRAIN_MAX 4096
#define DRAIN_FULL (-EINPROGRESS)

static int _on_event(void *ctx, void *data, size_t len)
{
	struct rt_monitor *m = ctx;
	const struct steer_event *e = data;
	struct monitor_event out = { 0 };

	if (++m->drained % 256 == 0)
		_renew(m); /* a long drain must not let the lease run out under it */
	if (len < sizeof(*e))
		return 0;
	const struct monitor_gen *g = _gen_by_tag(m, e->generation);
	if (!g) {
		_follow(m);
		g = _gen_by_tag(m, e->generation);
	}
	int64_t real = (int64_t)e->ns + m->boot_to_real_ns;
	out.time.tv_sec = real / 1000000000;
	out.time.tv_nsec = real % 1000000000;
	out.proto = e->proto == IPPROTO_UDP ? PROTO_UDP : PROTO_TCP;
	out.family = e->family == AF_INET6 ? FAM_V6 : FAM_V4;
	out.src = addr_from_bytes(e->src, out.family);
	out.dst = addr_from_bytes(e->dst, out.family);
	out.sport = e->sport;
	out.dport = e->dport;
	out.ifindex = e->ifindex;
	out.iif = _iface(e->ifindex);
	out.kind = (enum steer_event_kind)e->kind;
	out.why = e->why;
	out.policy = g ? &g->rec : NULL;
	out.rule_index = e->rule;
	if (g && e->rule < g->rec.m.nrules) {
		out.rule = &g->rules[e->rule];
		out.file = out.rule->file < g->rec.m.nfiles ? g->rec.m.files[out.rule->file] : "?";
	}
	if (g && e->service < g->rec.m.nservices)
		out.service = &g->rec.m.services[e->service];
	static const owner_vec none;
	out.owners = &none;
	if (e->slot != UINT32_MAX) {
		out.has_socket = true;
		out.slot = e->slot;
		out.cookie = _slot_cookie(m, e->slot);
		struct monitor_sock *s = out.cookie ? _sock(m, out.cookie) : NULL;
		if (s) {
			_refresh(s);
			out.owners = &s->owners;
			out.gone = s->gone;
		}
	}
	m->fn(m->ctx, &out);
	return m->drained >= DRAIN_MAX ? DRAIN_FULL : 0;
}

/* Renews the lease and looks for a re-apply, about once a second. */
static int _tick(struct rt_monitor *m)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec == m->last_tick.tv_sec && m->last_tick.tv_sec)
		return 0;
	m->last_tick = now;
	_renew(m);
	return m->stopped ? 0 : _follow(m);
}

int rt_monitor_poll(struct rt_monitor *m, int timeout_ms, void (*fn)(void *ctx, const struct monitor_event *e),
		    void *ctx)
{
	int r;

	if ((r = _tick(m)) < 0)
		return r == -ENOENT ? error_set(r, "the policy was detached") : r;
	m->fn = fn;
	m->ctx = ctx;
	m->drained = 0;
	m->pass++;
	r = ring_buffer__poll(m->rb, timeout_ms);
	if (r == DRAIN_FULL)
		return (int)m->drained;
	if (r < 0 && r != -EINTR)
		return error_set(r, "cannot read the ring buffer: %s", strerror(-r));
	return r < 0 ? 0 : r;
}

void rt_monitor_dropped(const struct rt_monitor *m, uint64_t *lost, uint64_t *limited)
{
	*lost = __atomic_load_n(&m->shared->m[m->slot].lost, __ATOMIC_RELAXED);
	*limited = __atomic_load_n(&m->shared->m[m->slot].limited, __ATOMIC_RELAXED);
}

static int _open_pin(const struct rt_state *st, const char *name)
{
	char path[PATH_MAX];
	int fd;

	state_path(st, name, path);
	if ((fd = bpf_obj_get(path)) < 0)
		return error_set(-errno, "cannot open '%s': %s", path, strerror(errno));
	return fd;
}

/* Takes a free slot, or one whose monitor's lease ran out; frees the ring buffers of other expired ones. */
static int _claim(struct rt_monitor *m)
{
	struct steer_monitors *s = m->shared;

	m->slot = -1;
	for (uint32_t i = 0; i < STEER_MONITORS; i++) {
		if (rt_monitor_attached(s, __atomic_load_n(m->active, __ATOMIC_ACQUIRE), i))
			continue;
		__atomic_fetch_and(m->active, ~(1u << i), __ATOMIC_ACQ_REL);
		bpf_map_delete_elem(m->events_fd, &i);
		if (m->slot < 0)
			m->slot = (int)i;
	}
	if (m->slot < 0)
		return error_set(-EBUSY, "%d monitors are attached already", STEER_MONITORS);
	return 0;
}

int rt_monitor_open(const struct rt_target *t, const struct monitor_opts *o, struct rt_monitor *m)
{
	_cleanup_state_ struct rt_state st = { .netns_fd = -1, .lock_fd = -1 };
	struct steer_monitor_filter f;
	int r;

	memset(m, 0, sizeof(*m));
	m->slot = -1;
	m->monitor_fd = m->events_fd = m->ring_fd = m->sockets_fd = m->active_fd = -1;
	m->st.netns_fd = m->st.lock_fd = -1;
	m->o = *o;
	if ((r = state_open(&st, t, STATE_READ)) < 0)
		return r;
	if (!st.applied)
		return error_set(-EINVAL, "no policy is applied in network namespace %lu", (unsigned long)st.netns_ino);
	if (st.problem[0])
		return error_set(-EIO, "the applied state in '%s' disagrees with the kernel: %s", st.dir, st.problem);
	memcpy(m->st.dir, st.dir, sizeof(st.dir));
	m->st.netns_ino = st.netns_ino;
	/* Interfaces and sockets are named as the target namespace has them: the monitor lives there. */
	if (setns(st.netns_fd, CLONE_NEWNET) < 0)
		return error_set(-errno, "cannot enter network namespace %lu: %s", (unsigned long)st.netns_ino, strerror(errno));
	if (!(m->gens = calloc(MONITOR_GENS, sizeof(*m->gens))) || !(m->seen = calloc(STEER_SOCKET_SLOTS, sizeof(*m->seen))))
		return error_set(-ENOMEM, "out of memory");
	if ((r = _gen_load(m, st.cur.prog_id, &m->gens[0])) < 0)
		return r;
	m->ngens = 1;
	m->current_prog = st.cur.prog_id;
	if ((r = _filter(m, &m->gens[0], &f)) < 0)
		return r;
	if ((m->monitor_fd = _open_pin(&st, loader_persistent[LOADER_MONITOR].pin)) < 0 ||
	    (m->events_fd = _open_pin(&st, loader_persistent[LOADER_EVENTS].pin)) < 0 ||
	    (m->active_fd = _open_pin(&st, loader_persistent[LOADER_ACTIVE].pin)) < 0 ||
	    (m->sockets_fd = _open_pin(&st, loader_persistent[LOADER_SOCKETS].pin)) < 0)
		return -errno;
	m->shared_len = ((sizeof(struct steer_monitors) + 4095) / 4096) * 4096;
	m->shared = mmap(NULL, m->shared_len, PROT_READ | PROT_WRITE, MAP_SHARED, m->monitor_fd, 0);
	if (m->shared == MAP_FAILED) {
		m->shared = NULL;
		return error_set(-errno, "cannot map the monitor slots: %s", strerror(errno));
	}
	m->active = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m->active_fd, 0);
	if (m->active == MAP_FAILED) {
		m->active = NULL;
		return error_set(-errno, "cannot map the program's .bss: %s", strerror(errno));
	}
	if ((r = _claim(m)) < 0)
		return r;
	m->ring_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "steer_mon", 0, 0, o->buffer, NULL);
	if (m->ring_fd < 0)
		return error_set(-errno, "cannot create a %u-byte ring buffer: %s", o->buffer, strerror(errno));
	uint32_t key = (uint32_t)m->slot;
	if (bpf_map_update_elem(m->events_fd, &key, &m->ring_fd, BPF_ANY) < 0)
		return error_set(-errno, "cannot install the ring buffer: %s", strerror(errno));
	if (!(m->rb = ring_buffer__new(m->ring_fd, _on_event, m, NULL)))
		return error_set(-errno, "cannot read the ring buffer: %s", strerror(errno));

	struct steer_monitor *mine = &m->shared->m[m->slot];
	memset(mine, 0, sizeof(*mine));
	mine->pid = (uint32_t)getpid();
	mine->f = f;
	m->boot_to_real_ns = _now(CLOCK_REALTIME) - _now(CLOCK_MONOTONIC);
	_renew(m);
	__atomic_fetch_or(m->active, 1u << m->slot, __ATOMIC_ACQ_REL);
	clock_gettime(CLOCK_MONOTONIC, &m->last_tick);
	return 0;
}

void rt_monitor_stop(struct rt_monitor *m)
{
	if (!m->shared || !m->active || m->slot < 0 || m->stopped)
		return;
	m->stopped = true;
	__atomic_fetch_and(m->active, ~(1u << m->slot), __ATOMIC_ACQ_REL);
	__atomic_store_n(&m->shared->m[m->slot].lease_ns, 0, __ATOMIC_RELEASE);
}

void rt_monitor_close(struct rt_monitor *m)
{
	if (m->shared && m->slot >= 0) {
		uint32_t key = (uint32_t)m->slot;
		rt_monitor_stop(m);
		bpf_map_delete_elem(m->events_fd, &key);
	}
	ring_buffer__free(m->rb);
	if (m->shared)
		munmap(m->shared, m->shared_len);
	if (m->active)
		munmap(m->active, 4096);
	int fds[] = { m->monitor_fd, m->events_fd, m->ring_fd, m->sockets_fd, m->active_fd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (uint32_t i = 0; i < m->ngens; i++)
		_gen_free(&m->gens[i]);
	free(m->gens);
	for (size_t i = 0; i < m->nsocks; i++)
		vec_free(&m->socks[i].owners);
	free(m->socks);
	free(m->seen);
	memset(m, 0, sizeof(*m));
	m->slot = -1;
}

bool rt_monitor_attached(const struct steer_monitors *m, uint32_t active, uint32_t slot)
{
	return slot < STEER_MONITORS && (active & (1u << slot)) &&
	       m->m[slot].lease_ns > (uint64_t)_now(CLOCK_MONOTONIC);
}
