#include "sockinfo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "decision.h"
#include "cleanup.h"

/* The kernel's TCP states (include/net/tcp_states.h), which no user header names beside linux/tcp.h's tcp_info. */
enum { STATE_ESTABLISHED = 1, STATE_CLOSE = 7, STATE_LISTEN = 10 };

static int _dump(int fd, int family, uint8_t proto, uint32_t states, sockinfo_vec *out)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = (uint8_t)family, .sdiag_protocol = proto == PROTO_TCP ? IPPROTO_TCP : IPPROTO_UDP,
			 .idiag_states = states,
			 .idiag_ext = proto == PROTO_TCP && states == 1u << STATE_ESTABLISHED ? 1u << (INET_DIAG_INFO - 1) : 0 },
	};
	char buf[32768];

	if (send(fd, &msg, sizeof(msg), 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error ? e->error : -EIO;
			}
			const struct inet_diag_msg *d = NLMSG_DATA(h);
			struct sockinfo si = {
				.cookie = (uint64_t)d->id.idiag_cookie[0] | (uint64_t)d->id.idiag_cookie[1] << 32,
				.inode = d->idiag_inode,
				.proto = proto,
				.family = family == AF_INET ? FAM_V4 : FAM_V6,
				.state = d->idiag_state,
				.addr = addr_from_bytes(d->id.idiag_src, family == AF_INET ? FAM_V4 : FAM_V6),
				.port = ntohs(d->id.idiag_sport),
				.peer = addr_from_bytes(d->id.idiag_dst, family == AF_INET ? FAM_V4 : FAM_V6),
				.peer_port = ntohs(d->id.idiag_dport),
			};
			/* The kernel adds INET_DIAG_SKV6ONLY to every IPv6 socket's record unasked. */
			int alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*d)));
			for (struct rtattr *a = (struct rtattr *)(d + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
				if (a->rta_type == INET_DIAG_SKV6ONLY) {
					si.v6only = *(uint8_t *)RTA_DATA(a) != 0;
				} else if (a->rta_type == INET_DIAG_INFO &&
					   RTA_PAYLOAD(a) >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(__u64)) {
					struct tcp_info ti = { 0 };
					memcpy(&ti, RTA_DATA(a), RTA_PAYLOAD(a) < sizeof(ti) ? RTA_PAYLOAD(a) : sizeof(ti));
					si.bytes_acked = ti.tcpi_bytes_acked;
					si.bytes_received = ti.tcpi_bytes_received;
				}
			vec_push(out, si);
		}
	}
}

int sockinfo_listeners(sockinfo_vec *out)
{
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	static const int families[] = { AF_INET, AF_INET6 };
	int r;

	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		/* A UDP socket no one connected is in TCP_CLOSE as far as sock_diag tells. */
		if ((r = _dump(fd, families[i], PROTO_TCP, 1u << STATE_LISTEN, out)) < 0 ||
		    (r = _dump(fd, families[i], PROTO_UDP, 1u << STATE_CLOSE, out)) < 0)
			return r;
	}
	return 0;
}

int sockinfo_established(sockinfo_vec *out)
{
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int r;

	if (fd < 0)
		return -errno;
	if ((r = _dump(fd, AF_INET, PROTO_TCP, 1u << STATE_ESTABLISHED, out)) < 0 ||
	    (r = _dump(fd, AF_INET6, PROTO_TCP, 1u << STATE_ESTABLISHED, out)) < 0)
		return r;
	return 0;
}

int sockinfo_inodes(pid_t pid, inode_vec *out)
{
	char path[300], link[64];
	struct dirent *fe;
	unsigned inode;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	DIR *fds = opendir(path);
	if (!fds)
		return -errno;
	while ((fe = readdir(fds))) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, fe->d_name);
		ssize_t n = fe->d_name[0] == '.' ? -1 : readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%u]", &inode) == 1)
			vec_push(out, (uint32_t)inode);
	}
	closedir(fds);
	return 0;
}

static void _read_line(const char *path, char *buf, size_t len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (f && fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
}

/* The process's cgroup path: the unified (v2) one, else the systemd (v1) one. */
static void _cgroup(const char *path, char *out, size_t len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[512];

	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		const char *p = NULL;
		if (strncmp(line, "0::", 3) == 0)
			p = line + 3;
		else if (strstr(line, ":name=systemd:"))
			p = strstr(line, ":name=systemd:") + 14;
		if (!p)
			continue;
		size_t n = strnlen(p, len - 1);
		memcpy(out, p, n);
		out[n] = '\0';
		if (line[0] == '0')
			return;
	}
}

int sockinfo_owners(uint32_t inode, owner_vec *out)
{
	DIR *proc = opendir("/proc");
	char want[64];
	struct dirent *pe;

	if (!proc)
		return -errno;
	snprintf(want, sizeof(want), "socket:[%u]", inode);
	while ((pe = readdir(proc))) {
		char path[300], link[64];
		pid_t pid = (pid_t)strtol(pe->d_name, NULL, 10);
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		DIR *fds = opendir(path);
		if (!fds)
			continue; /* gone, or not ours to see */
		struct dirent *fe;
		while ((fe = readdir(fds))) {
			if (fe->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, fe->d_name);
			ssize_t n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (strcmp(link, want) != 0)
				continue;
			struct owner o = { .pid = pid, .fd = (int)strtol(fe->d_name, NULL, 10) };
			snprintf(path, sizeof(path), "/proc/%d/comm", pid);
			_read_line(path, o.comm, sizeof(o.comm));
			snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
			_cgroup(path, o.cgroup, sizeof(o.cgroup));
			vec_push(out, o);
			break;
		}
		closedir(fds);
	}
	closedir(proc);
	return 0;
}
