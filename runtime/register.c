/*
 * register and unregister: put a service's socket in its slot of the sockets
 * map, or take it out. The socket comes from another process (pidfd_getfd),
 * is inherited (as from systemd), or is found by the service's declared
 * address. The service process keeps running untouched: the map holds a
 * reference to the socket, not to the process.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "loader.h"
#include "runtime.h"

/* The applied service NAME: what the record says of it, and its first slot. */
struct service_meta {
	const struct built_service *svc;
	uint32_t slot;
	uint8_t protos;
};

static int _find_service(const struct rt_state *st, const char *name, struct service_meta *out)
{
	if (!st->applied)
		return error_set(-EINVAL, "no policy is applied in network namespace %lu", (unsigned long)st->netns_ino);
	if (st->problem[0])
		return error_set(-EIO, "the applied state in '%s' disagrees with the kernel: %s", st->dir, st->problem);
	for (uint32_t k = 0; k < st->cur.m.nservices; k++) {
		if (strcmp(st->cur.m.services[k].name, name) == 0) {
			out->svc = &st->cur.m.services[k];
			out->slot = st->cur.slot[k];
			out->protos = out->svc->protos;
			return 0;
		}
	}
	return error_set(-EINVAL, "the applied policy (%s) has no service '%s'", st->cur.m.policy, name);
}

/* The other service whose slots hold the socket with COOKIE, or NULL. */
static const char *_holder(const struct rt_state *st, int sockets, uint32_t own, uint64_t cookie)
{
	for (uint32_t k = 0; k < st->cur.m.nservices; k++) {
		for (uint32_t i = 0; st->cur.slot[k] != own && i < STEER_SLOTS_PER_SERVICE; i++) {
			uint32_t slot = st->cur.slot[k] + i;
			uint64_t held;
			if (bpf_map_lookup_elem(sockets, &slot, &held) == 0 && held == cookie)
				return st->cur.m.services[k].name;
		}
	}
	return NULL;
}

static int _open_sockets(const struct rt_state *st)
{
	char path[PATH_MAX];
	int fd;

	state_path(st, loader_persistent[LOADER_SOCKETS].pin, path);
	if ((fd = bpf_obj_get(path)) < 0)
		return error_set(-errno, "cannot open the sockets map at '%s': %s", path, strerror(errno));
	return fd;
}

/* Checks a socket against SPEC §4 and fills in what it is; -EINVAL with the reason when refused. */
static int _inspect(int fd, const struct rt_state *st, const char *service, const struct service_meta *sm,
		    struct registered *reg)
{
	int domain, proto, type, acceptconn = 0, v6only = 0;
	socklen_t len = sizeof(int);
	struct sockaddr_storage ss;
	struct stat sb;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return error_set(-EINVAL, "descriptor is not a socket: %s", strerror(errno));
	if (domain != AF_INET && domain != AF_INET6)
		return error_set(-EINVAL, "not an inet socket (address family %d): only IPv4 and IPv6 sockets can be steered to", domain);
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len);
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	if (!((type == SOCK_STREAM && proto == IPPROTO_TCP) || (type == SOCK_DGRAM && proto == IPPROTO_UDP)))
		return error_set(-EINVAL, "not a TCP or UDP socket");
	reg->proto = proto == IPPROTO_TCP ? PROTO_TCP : PROTO_UDP;
	reg->family = domain == AF_INET ? FAM_V4 : FAM_V6;
	if (reg->proto == PROTO_TCP) {
		len = sizeof(int);
		getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acceptconn, &len);
		if (!acceptconn)
			return error_set(-EINVAL, "the TCP socket is not listening: register a listening socket");
	} else {
		len = sizeof(ss);
		if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
			return error_set(-EINVAL, "the UDP socket is connected: only an unconnected socket can take new datagrams");
	}
	_cleanup_close_ int ns = ioctl(fd, SIOCGSKNS);
	if (ns < 0 || fstat(ns, &sb) < 0)
		return error_set(-errno, "cannot tell the socket's network namespace: %s", strerror(errno));
	if (sb.st_ino != st->netns_ino)
		return error_set(-EINVAL, "the socket belongs to network namespace %lu, not %lu where the policy is applied",
			     (unsigned long)sb.st_ino, (unsigned long)st->netns_ino);
	if (!(sm->protos & reg->proto))
		return error_set(-EINVAL, "no rule steers %s to service '%s': its rules use %s", proto_name(reg->proto),
			     service, sm->protos ? proto_name(sm->protos) : "no protocol");
	if (reg->family == FAM_V6) {
		len = sizeof(int);
		getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len);
		reg->dual_stack = !v6only;
	}
	/* The rules must reach the socket's family too (a dual-stack IPv6 socket also serves IPv4). */
	uint8_t base = reg->proto == PROTO_UDP ? STEER_SLOT_UDP : 0, used = sm->svc->used_slots;
	bool v4 = used & (1u << base), v6 = used & (1u << (base | STEER_SLOT_V6));
	if (reg->family == FAM_V4 ? !v4 : !(v6 || (reg->dual_stack && v4)))
		return error_set(-EINVAL, "no %s rule steers IPv%d to service '%s': its %s rules reach it over %s%s",
				 proto_name(reg->proto), reg->family == FAM_V4 ? 4 : 6, service, proto_name(reg->proto),
				 v4 ? "IPv4" : v6 ? "IPv6" : "no family",
				 v4 && reg->family == FAM_V6 ? " (a dual-stack IPv6 socket, IPV6_V6ONLY off, would serve it)" : "");
	len = sizeof(reg->cookie);
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &reg->cookie, &len) < 0)
		return error_set(-errno, "cannot read the socket's cookie: %s", strerror(errno));
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (domain == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
			reg->addr = addr_from_bytes(&a->sin_addr, FAM_V4);
			reg->port = ntohs(a->sin_port);
		} else {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
			reg->addr = addr_from_bytes(&a->sin6_addr, FAM_V6);
			reg->port = ntohs(a->sin6_port);
		}
	}
	reg->slot = sm->slot + (reg->proto == PROTO_UDP ? STEER_SLOT_UDP : 0) + (reg->family == FAM_V6 ? STEER_SLOT_V6 : 0);
	return 0;
}

/* Whether a UDP socket learns each datagram's destination, to answer from it (or is transparent). */
static bool _reads_destination(int fd, int family)
{
	static const int v4[] = { IP_PKTINFO, IP_RECVORIGDSTADDR, IP_TRANSPARENT };
	static const int v6[] = { IPV6_RECVPKTINFO, IPV6_RECVORIGDSTADDR, IPV6_TRANSPARENT };
	int on = 0;
	socklen_t len;

	for (size_t i = 0; i < ARRAY_SIZE(v4); i++) {
		len = sizeof(on);
		if (getsockopt(fd, IPPROTO_IP, v4[i], &on, &len) == 0 && on)
			return true;
		len = sizeof(on);
		if (family == FAM_V6 && getsockopt(fd, IPPROTO_IPV6, v6[i], &on, &len) == 0 && on)
			return true;
	}
	return false;
}

/*
 * A UDP socket that replies from its own address only serves datagrams sent
 * to that address and port: a client drops a reply from anywhere else (dig
 * times out). steer cannot fix the server; it says so.
 */
static void _udp_reply_check(int fd, const char *service, const struct built_service *svc, struct registered *reg)
{
	const struct built_listen *other = NULL;
	char a[PREFIX_STRLEN], to[PREFIX_STRLEN + 16] = "prefixes or port ranges";

	if (reg->proto != PROTO_UDP || _reads_destination(fd, reg->family))
		return;
	for (uint32_t k = 0; k < svc->nudp_to && !other; k++)
		if (svc->udp_to[k].addr != reg->addr || svc->udp_to[k].port != reg->port)
			other = &svc->udp_to[k];
	if (!svc->udp_any && !other)
		return;
	if (other) {
		addr_format(other->addr, other->family, a);
		snprintf(to, sizeof(to), other->family == FAM_V6 ? "[%s]:%u" : "%s:%u", a, other->port);
	}
	addr_format(reg->addr, reg->family, a);
	snprintf(reg->warning, sizeof(reg->warning),
		 "its rules send service '%s' UDP for %s, but this socket (bound to %s%s%s:%u) does not read where each "
		 "datagram was sent: its replies leave from its own address and clients drop them; the server must "
		 "read the destination (IP_PKTINFO or IP_RECVORIGDSTADDR) and reply from it",
		 service, to, reg->family == FAM_V6 ? "[" : "", a, reg->family == FAM_V6 ? "]" : "", reg->port);
}

static int _take(pid_t pid, int target)
{
	_cleanup_close_ int pidfd = pidfd_open(pid, 0);
	int fd;

	if (pidfd < 0)
		return error_set(errno == ESRCH ? -EINVAL : -errno, "cannot open process %d: %s", pid, strerror(errno));
	fd = pidfd_getfd(pidfd, target, 0);
	if (fd < 0)
		return error_set(errno == EBADF ? -EINVAL : -errno, "cannot take descriptor %d of process %d: %s", target,
			     pid, strerror(errno));
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

static void _comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	buf[0] = '\0';
	if ((f = fopen(path, "re")) && fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
}

static int _listeners(void *ctx)
{
	return sockinfo_listeners(ctx);
}

typedef VEC(int) fd_vec;
typedef VEC(pid_t) pid_vec;

static void _close_all(fd_vec *fds)
{
	for (size_t i = 0; i < fds->n; i++)
		close(fds->v[i]);
	vec_free(fds);
}

/*
 * Nothing at the declared address. The usual cause is a server on the
 * wildcard address of the port: name it, and the two ways to use it.
 */
static int _not_found(const struct rt_state *st, const sockinfo_vec *socks, uint8_t proto, int family,
		      const char *addr, uint16_t port)
{
	const char *verb = proto == PROTO_TCP ? "listens" : "is bound", *l = family == FAM_V6 ? "[" : "",
		   *r = family == FAM_V6 ? "]" : "";

	for (size_t i = 0; i < socks->n; i++) {
		const struct sockinfo *s = &socks->v[i];
		if (s->proto != proto || s->port != port || s->addr != 0)
			continue;
		const char *any = s->family == FAM_V6 ? "[::]" : "0.0.0.0";
		_cleanup_vec_ owner_vec owners = { 0 };
		sockinfo_owners(s->inode, &owners);
		if (owners.n)
			return error_set(-EINVAL,
					 "nothing %s on %s %s%s%s:%u, but pid %d (%s) %s on %s:%u: declare the service as "
					 "'%s %s:%u', or register that socket with --pid %d --fd %d",
					 verb, proto_name(proto), l, addr, r, port, owners.v[0].pid, owners.v[0].comm, verb, any,
					 port, proto_name(proto), any, port, owners.v[0].pid, owners.v[0].fd);
		return error_set(-EINVAL, "nothing %s on %s %s%s%s:%u, but a socket %s on %s:%u: declare the service as '%s %s:%u'",
				 verb, proto_name(proto), l, addr, r, port, verb, any, port, proto_name(proto), any, port);
	}
	return error_set(-EINVAL, "nothing %s on %s %s%s%s:%u in network namespace %lu", verb, proto_name(proto), l, addr,
			 r, port, (unsigned long)st->netns_ino);
}

/* --auto: for each declared address, the listening socket there and a process holding it. */
static int _autodetect(struct rt_state *st, const char *service, const struct service_meta *sm, fd_vec *fds,
		       pid_vec *pids)
{
	_cleanup_vec_ sockinfo_vec socks = { 0 };
	int r;

	if (sm->svc->nlisten == 0)
		return error_set(-EINVAL, "service '%s' declares no address to find its socket by: write 'service %s = PROTO ADDR:PORT', or use --pid/--fd",
			     service, service);
	if ((r = state_in_netns(st, _listeners, &socks)) < 0)
		return error_set(r, "cannot list the sockets of network namespace %lu: %s", (unsigned long)st->netns_ino,
			     strerror(-r));
	for (uint32_t k = 0; k < sm->svc->nlisten; k++) {
		uint8_t proto = sm->svc->listen[k].proto;
		int family = sm->svc->listen[k].family;
		u128 addr = sm->svc->listen[k].addr;
		uint16_t port = sm->svc->listen[k].port;
		const struct sockinfo *hit = NULL;
		for (size_t i = 0; i < socks.n && !hit; i++)
			if (socks.v[i].proto == proto && socks.v[i].family == family && socks.v[i].port == port &&
			    socks.v[i].addr == addr)
				hit = &socks.v[i];
		char buf[PREFIX_STRLEN];
		addr_format(addr, family, buf);
		if (!hit)
			return _not_found(st, &socks, proto, family, buf, port);
		_cleanup_vec_ owner_vec owners = { 0 };
		sockinfo_owners(hit->inode, &owners);
		if (!owners.n)
			return error_set(-EINVAL, "no process holds the socket on %s %s:%u", proto_name(proto), buf, port);
		int fd = _take(owners.v[0].pid, owners.v[0].fd);
		if (fd < 0)
			return fd;
		vec_push(fds, fd);
		vec_push(pids, owners.v[0].pid);
	}
	return 0;
}

int rt_register(const struct rt_target *t, const struct register_opts *o, registered_vec *out)
{
	_cleanup_state_ struct rt_state st = { .netns_fd = -1, .lock_fd = -1 };
	struct service_meta sm = { 0 };
	_cleanup_(_close_all) fd_vec fds = { 0 };
	_cleanup_vec_ pid_vec pids = { 0 };
	_cleanup_close_ int sockets = -1;
	int r;

	if ((r = state_open(&st, t, STATE_READ)) < 0 || (r = _find_service(&st, o->service, &sm)) < 0)
		return r;
	if (sm.svc->forward && !o->proxy)
		return error_set(-EINVAL, "'%s' is where the policy's forward rules go: steer proxy registers its own sockets "
				 "there", o->service);
	if (!sm.svc->forward && o->proxy)
		return error_set(-EINVAL, "'%s' is a service of the policy, not one of its forwards", o->service);
	if (o->autodetect) {
		r = _autodetect(&st, o->service, &sm, &fds, &pids);
	} else if (o->pid > 0) {
		if ((r = _take(o->pid, o->fd)) >= 0) {
			vec_push(&fds, r);
			vec_push(&pids, o->pid);
		}
	} else {
		int fd = fcntl(o->fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			r = error_set(-EINVAL, "descriptor %d: %s", o->fd, strerror(errno));
		} else {
			vec_push(&fds, fd);
			vec_push(&pids, 0);
		}
	}

	if (r >= 0 && (sockets = _open_sockets(&st)) < 0)
		r = sockets;
	/* All of them are checked before any is put in place. */
	for (size_t i = 0; r >= 0 && i < fds.n; i++) {
		struct registered reg = { .pid = pids.v[i] };
		const char *other;
		if ((r = _inspect(fds.v[i], &st, o->service, &sm, &reg)) < 0)
			break;
		if ((other = _holder(&st, sockets, sm.slot, reg.cookie))) {
			r = error_set(-EINVAL, "the socket is already registered for service '%s': one socket serves one service "
					       "(unregister it there first)", other);
			break;
		}
		_udp_reply_check(fds.v[i], o->service, sm.svc, &reg);
		if (reg.pid)
			_comm(reg.pid, reg.comm, sizeof(reg.comm));
		vec_push(out, reg);
	}
	for (size_t i = 0; r >= 0 && i < fds.n; i++) {
		uint64_t val = (uint64_t)fds.v[i];
		if (bpf_map_update_elem(sockets, &out->v[i].slot, &val, BPF_ANY) < 0)
			r = error_set(errno == EOPNOTSUPP || errno == EINVAL ? -EINVAL : -errno,
				      "the kernel refused the socket for the sockets map: %s", strerror(errno));
	}
	return r < 0 ? r : 0;
}

int rt_unregister(const struct rt_target *t, const struct unregister_opts *o, unsigned *removed)
{
	_cleanup_state_ struct rt_state st = { .netns_fd = -1, .lock_fd = -1 };
	struct service_meta sm = { 0 };
	_cleanup_close_ int sockets = -1;
	int r;

	*removed = 0;
	if ((r = state_open(&st, t, STATE_READ)) < 0 || (r = _find_service(&st, o->service, &sm)) < 0)
		return r;
	if ((sockets = _open_sockets(&st)) < 0)
		return sockets;
	for (uint32_t k = 0; k < STEER_SLOTS_PER_SERVICE; k++) {
		uint8_t proto = k & STEER_SLOT_UDP ? PROTO_UDP : PROTO_TCP;
		int family = k & STEER_SLOT_V6 ? FAM_V6 : FAM_V4;
		uint32_t slot = sm.slot + k;
		if ((o->proto && o->proto != proto) || (o->family >= 0 && o->family != family))
			continue;
		if (bpf_map_delete_elem(sockets, &slot) == 0)
			(*removed)++;
	}
	return 0;
}
