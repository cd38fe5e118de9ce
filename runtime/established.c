/*
 * steer monitor --established: for the connections the policy's services
 * accepted, which process moves how many bytes. Sampled, not per packet: once
 * per interval, the established TCP sockets of the namespace (sock_diag, with
 * tcp_info's byte counts) joined with the socket descriptors of the processes
 * that hold a service's registered socket (their /proc/PID/fd only).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "established.h"
#include "runtime.h"

static int _dump(void *ctx)
{
	return sockinfo_established(ctx);
}

static int _cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int _cmp_seen(const void *a, const void *b)
{
	uint64_t x = ((const struct est_seen *)a)->cookie, y = ((const struct est_seen *)b)->cookie;

	return (x > y) - (x < y);
}

/* A process holding some service's socket: its socket inodes and the services it serves. */
struct holder {
	struct owner who;
	inode_vec inodes; /* sorted */
	char services[256]; /* "web" or "web,api" */
};

typedef VEC(struct holder) holder_vec;

static struct holder *_holder(holder_vec *hs, const struct owner *o)
{
	for (size_t i = 0; i < hs->n; i++)
		if (hs->v[i].who.pid == o->pid)
			return &hs->v[i];
	vec_push(hs, ((struct holder){ .who = *o }));
	return &hs->v[hs->n - 1];
}

static void _add_service(struct holder *h, const char *name)
{
	size_t len = strlen(h->services);

	for (const char *p = h->services; (p = strstr(p, name)); p++)
		if ((p == h->services || p[-1] == ',') && (p[strlen(name)] == ',' || !p[strlen(name)]))
			return;
	snprintf(h->services + len, sizeof(h->services) - len, "%s%s", len ? "," : "", name);
}

static struct est_row *_row(est_vec *rows, const struct holder *h)
{
	for (size_t i = 0; i < rows->n; i++)
		if (rows->v[i].pid == h->who.pid && strcmp(rows->v[i].services, h->services) == 0)
			return &rows->v[i];
	struct est_row r = { .pid = h->who.pid };
	snprintf(r.comm, sizeof(r.comm), "%s", h->who.comm);
	snprintf(r.cgroup, sizeof(r.cgroup), "%s", h->who.cgroup);
	snprintf(r.services, sizeof(r.services), "%s", h->services);
	vec_push(rows, r);
	return &rows->v[rows->n - 1];
}

int rt_established(const struct rt_target *t, struct rt_established *e, est_vec *out)
{
	_cleanup_(rt_status_free) struct rt_status s = { 0 };
	_cleanup_vec_ sockinfo_vec socks = { 0 };
	holder_vec hs = { 0 };
	VEC(struct est_seen) seen = { 0 };
	int r;

	out->n = 0;
	if ((r = rt_status(t, &s)) < 0)
		return r;
	if (!s.applied)
		return error_set(-EINVAL, "no policy is applied in network namespace %lu", (unsigned long)s.netns);
	for (uint32_t k = 0; s.services && k < s.cur.m.nservices; k++)
		for (uint32_t i = 0; i < s.services[k].nsockets; i++)
			for (size_t n = 0; n < s.services[k].sockets[i].owners.n; n++)
				_add_service(_holder(&hs, &s.services[k].sockets[i].owners.v[n]),
					     s.services[k].svc->name);
	for (size_t i = 0; i < hs.n; i++) {
		sockinfo_inodes(hs.v[i].who.pid, &hs.v[i].inodes);
		if (hs.v[i].inodes.n)
			qsort(hs.v[i].inodes.v, hs.v[i].inodes.n, sizeof(uint32_t), _cmp_u32);
	}

	_cleanup_state_ struct rt_state st = { .netns_fd = -1, .lock_fd = -1 };
	if ((r = state_open(&st, t, STATE_READ)) < 0 || (r = state_in_netns(&st, _dump, &socks)) < 0)
		goto out;
	state_close(&st);
	for (size_t c = 0; c < socks.n; c++) {
		const struct sockinfo *si = &socks.v[c];
		for (size_t i = 0; i < hs.n; i++) {
			if (!hs.v[i].inodes.n ||
			    !bsearch(&si->inode, hs.v[i].inodes.v, hs.v[i].inodes.n, sizeof(uint32_t), _cmp_u32))
				continue;
			struct est_row *row = _row(out, &hs.v[i]);
			struct est_seen key = { .cookie = si->cookie }, *was;
			was = e->seen.n ? bsearch(&key, e->seen.v, e->seen.n, sizeof(key), _cmp_seen) : NULL;
			row->conns++;
			row->bytes_in += si->bytes_received;
			row->bytes_out += si->bytes_acked;
			/* A connection new since the last sample counts whole: it moved all of it since. */
			row->delta_in += si->bytes_received - (was ? was->in : 0);
			row->delta_out += si->bytes_acked - (was ? was->out : 0);
			vec_push(&seen, ((struct est_seen){ si->cookie, si->bytes_received, si->bytes_acked }));
			break;
		}
	}
	if (seen.n)
		qsort(seen.v, seen.n, sizeof(*seen.v), _cmp_seen);
	vec_free(&e->seen);
	e->seen.v = seen.v;
	e->seen.n = seen.n;
	e->seen.cap = seen.cap;
	seen.v = NULL;
	r = 0;
out:
	for (size_t i = 0; i < hs.n; i++)
		vec_free(&hs.v[i].inodes);
	vec_free(&hs);
	vec_free(&seen);
	return r;
}

void rt_established_free(struct rt_established *e)
{
	vec_free(&e->seen);
}
