/*
 * namesrv: the example service of the demo and the kernel tests. A server
 * answers each connection or datagram with its own name, so a client sees
 * which service a policy steered it to.
 *
 *   namesrv serve tcp|udp ADDR:PORT NAME [--reuseport] [--v6only 0|1] [--fd N]
 *   namesrv connect tcp|udp ADDR:PORT [--from ADDR] [--timeout MS]
 *
 * serve prints "ready" once it listens. With --fd N the socket is created as
 * descriptor N (a stand-in for what systemd socket activation hands over).
 * A UDP server reads each datagram's original destination (IP_ORIGDSTADDR)
 * and replies from it: a socket serving a whole prefix must, or the client
 * would see the reply come from 127.0.0.1 and drop it.
 *
 * connect prints the name it got and exits 0; "refused" and exit 3; "timeout"
 * and exit 4. For UDP it also prints the address the reply came from.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int _addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(text, ':');
	size_t n;

	memset(ss, 0, sizeof(*ss));
	if (!colon)
		return -1;
	n = (size_t)(colon - text);
	if (text[0] == '[') {
		text++;
		n -= 2;
	}
	if (n >= sizeof(host))
		return -1;
	memcpy(host, text, n);
	host[n] = '\0';
	int port = atoi(colon + 1);
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	return -1;
}

static const char *_fmt(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(a->sin_port));
	} else {
		const struct sockaddr_in6 *a = (const void *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(a->sin6_port));
	}
	return buf;
}

static void _die(const char *what)
{
	fprintf(stderr, "namesrv: %s: %s\n", what, strerror(errno));
	exit(2);
}

/*
 * A reply from another port would be dropped by the client, so when the
 * policy redirected the port, reply from a transparent socket bound to the
 * original destination (needs CAP_NET_ADMIN, as TPROXY setups do).
 */
static void _reply_transparent(const struct sockaddr_storage *orig, const struct sockaddr_storage *peer,
			       socklen_t plen, const char *text)
{
	int one = 1, fd = socket(orig->ss_family, SOCK_DGRAM, 0);

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (orig->ss_family == AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one));
	else
		setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)orig,
		 orig->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) == 0)
		sendto(fd, text, strlen(text), 0, (const struct sockaddr *)peer, plen);
	close(fd);
}

static uint16_t _port(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
					: ((const struct sockaddr_in6 *)ss)->sin6_port;
}

/*
 * What a UDP service steered a whole prefix must do: reply from the address
 * (and port) each datagram was sent to, not from the address it is bound to.
 * IP_ORIGDSTADDR tells both; IP_PKTINFO sets the source address of the reply.
 */
static void _udp_loop(int fd, const char *name)
{
	struct sockaddr_storage self;
	socklen_t slen = sizeof(self);

	getsockname(fd, (struct sockaddr *)&self, &slen);
	for (;;) {
		char buf[512], cbuf[256], out[256], ocbuf[256] = { 0 };
		struct sockaddr_storage peer, orig;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr m = { .msg_name = &peer, .msg_namelen = sizeof(peer), .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		bool have_orig = false;

		if (recvmsg(fd, &m, 0) < 0)
			continue;
		snprintf(out, sizeof(out), "%s\n", name);
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_ORIGDSTADDR) ||
			    (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR)) {
				memset(&orig, 0, sizeof(orig));
				memcpy(&orig, CMSG_DATA(c), c->cmsg_len - CMSG_LEN(0));
				have_orig = true;
			}
		}
		if (have_orig && _port(&orig) != _port(&self)) {
			_reply_transparent(&orig, &peer, m.msg_namelen, out);
			continue;
		}
		struct iovec oiov = { out, strlen(out) };
		struct msghdr om = { .msg_name = &peer, .msg_namelen = m.msg_namelen, .msg_iov = &oiov, .msg_iovlen = 1 };
		if (have_orig) {
			om.msg_control = ocbuf;
			struct cmsghdr *oc = (struct cmsghdr *)ocbuf;
			if (orig.ss_family == AF_INET) {
				struct in_pktinfo pi = { .ipi_spec_dst = ((struct sockaddr_in *)&orig)->sin_addr };
				om.msg_controllen = CMSG_SPACE(sizeof(pi));
				oc->cmsg_level = IPPROTO_IP;
				oc->cmsg_type = IP_PKTINFO;
				oc->cmsg_len = CMSG_LEN(sizeof(pi));
				memcpy(CMSG_DATA(oc), &pi, sizeof(pi));
			} else {
				struct in6_pktinfo pi = { .ipi6_addr = ((struct sockaddr_in6 *)&orig)->sin6_addr };
				om.msg_controllen = CMSG_SPACE(sizeof(pi));
				oc->cmsg_level = IPPROTO_IPV6;
				oc->cmsg_type = IPV6_PKTINFO;
				oc->cmsg_len = CMSG_LEN(sizeof(pi));
				memcpy(CMSG_DATA(oc), &pi, sizeof(pi));
			}
		}
		sendmsg(fd, &om, 0);
	}
}

static int _serve(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, reuseport = 0, v6only = -1, want_fd = -1;
	bool udp = strcmp(argv[0], "udp") == 0;

	if (argc < 3 || _addr(argv[1], &ss, &len) < 0)
		return 1;
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--reuseport") == 0)
			reuseport = 1;
		else if (strcmp(argv[i], "--v6only") == 0 && i + 1 < argc)
			v6only = atoi(argv[++i]);
		else if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc)
			want_fd = atoi(argv[++i]);
		else
			return 1;
	}
	int fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	if (fd < 0)
		_die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6 && v6only >= 0)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	if (udp) {
		if (ss.ss_family == AF_INET)
			setsockopt(fd, IPPROTO_IP, IP_RECVORIGDSTADDR, &one, sizeof(one));
		else
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		_die("bind");
	if (!udp && listen(fd, 128) < 0)
		_die("listen");
	if (want_fd >= 0 && want_fd != fd) {
		if (dup2(fd, want_fd) < 0)
			_die("dup2");
		close(fd);
		fd = want_fd;
	}
	printf("ready\n");
	fflush(stdout);
	signal(SIGPIPE, SIG_IGN);
	if (udp)
		_udp_loop(fd, argv[2]);
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c < 0)
			continue;
		dprintf(c, "%s\n", argv[2]);
		close(c);
	}
}

static int _connect(int argc, char **argv)
{
	struct sockaddr_storage ss, from, peer;
	socklen_t len, flen = 0, plen = sizeof(peer);
	bool udp = strcmp(argv[0], "udp") == 0;
	int timeout = 2000;
	char buf[256], where[128];

	if (argc < 2 || _addr(argv[1], &ss, &len) < 0)
		return 1;
	memset(&from, 0, sizeof(from));
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			char spec[160];
			snprintf(spec, sizeof(spec), ss.ss_family == AF_INET6 ? "[%s]:0" : "%s:0", argv[++i]);
			if (_addr(spec, &from, &flen) < 0)
				return 1;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout = atoi(argv[++i]);
		} else {
			return 1;
		}
	}
	int fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	if (fd < 0)
		_die("socket");
	if (flen && bind(fd, (struct sockaddr *)&from, flen) < 0)
		_die("bind --from");
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		if (errno == ECONNREFUSED) {
			printf("refused\n");
			return 3;
		}
		_die("connect");
	}
	if (udp && send(fd, "ping\n", 5, 0) < 0)
		_die("send");
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, timeout) == 0) {
		printf("timeout\n");
		return 4;
	}
	ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&peer, &plen);
	if (n < 0) {
		if (errno == ECONNREFUSED || errno == ECONNRESET) {
			printf("refused\n");
			return 3;
		}
		_die("recv");
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (udp)
		printf("%s from %s\n", buf, _fmt(&peer, where, sizeof(where)));
	else
		printf("%s\n", buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "serve") == 0 && (!strcmp(argv[2], "tcp") || !strcmp(argv[2], "udp")))
		return _serve(argc - 2, argv + 2);
	if (argc >= 4 && strcmp(argv[1], "connect") == 0 && (!strcmp(argv[2], "tcp") || !strcmp(argv[2], "udp")))
		return _connect(argc - 2, argv + 2);
	fprintf(stderr, "usage: namesrv serve tcp|udp ADDR:PORT NAME [--reuseport] [--v6only 0|1] [--fd N]\n"
			"       namesrv connect tcp|udp ADDR:PORT [--from ADDR] [--timeout MS]\n");
	return 1;
}
