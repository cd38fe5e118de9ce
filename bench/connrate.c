/*
 * connrate: TCP connections and UDP datagrams per second through loopback,
 * with no sk_lookup program, with the minimal one (bench/floor.bpf.o) and with
 * the program `steer apply` loaded. Run it in a private network namespace
 * (bench/run.sh does): it attaches programs to the current one.
 *
 *   connrate --floor FLOOR.o [--setup CMD] [--steer-state BPFFS]
 *            [--tcp ADDR:PORT] [--udp ADDR:PORT] [--probe ADDR:PORT]
 *            [--rounds N] [--seconds S] [--threaded]
 *            [--cpus CLIENT,SERVER | --no-pin]
 *
 * It opens the servers (a TCP listener at --tcp, default 127.0.0.1:8401; a UDP
 * socket at --udp, default 127.0.0.1:8453), then runs CMD with `sh -c` (for
 * `steer apply` and `steer register --auto`, which find the sockets by their
 * addresses and take them from this process). With --steer-state it then
 * takes the program from steer's pinned link (BPFFS/steer/<netns inode>/link),
 * holds it and detaches that link: the program keeps its maps, registered
 * sockets included, and this process attaches it (a link of its own, the same
 * attach point), or nothing, or the minimal program (its sockmap filled with
 * the same two sockets), to the namespace in turn. Afterwards `steer detach`
 * removes steer's pins.
 *
 * The destination is the same in every mode: the servers' own addresses.
 * Without a program the kernel's regular lookup finds the sockets; with one,
 * the program assigns them (the policy's first rules match those addresses)
 * and the regular listener lookup is skipped. Before each measurement a TCP
 * connect to --probe (default 127.97.0.1:80, where nothing listens; the policy
 * steers it to the same service) checks which mode is in force: refused
 * without a program, accepted with one.
 *
 *   tcp  socket, SO_LINGER 0, connect, accept, close both (the client's close
 *        is an RST: no TIME_WAIT on either side, so no port exhaustion); the
 *        figure is connections connected and accepted per second.
 *   udp  sendto of a 16-byte datagram on an unconnected socket, recv on the
 *        server's; the figure is datagrams received per second.
 *
 * By default one thread does both sides in turn, pinned to CPU CLIENT
 * (default 0): every packet's softirq work, the sk_lookup program included,
 * runs inline in its system calls on that CPU, with no wake-ups between CPUs.
 * --threaded serves each socket from a thread of its own pinned to CPU SERVER
 * (default 1; the client keeps at most 1024 connections or 128 datagrams
 * ahead of the server, so nothing overflows a queue).
 *
 * Rounds interleave the modes, each first in turn (none, minimal, steer;
 * minimal, steer, none; ...), each protocol --seconds long (default 2) per
 * mode and round (default 5 rounds).
 *
 * Output on stdout, tab-separated, rates per second: every round's figure as
 *   #round round proto mode rate
 * then, from the kernel's BPF run-time statistics (enabled for one more run of
 * each program and protocol, after the rounds), each program's own time:
 *   #inplace proto mode ns-per-run runs
 * then one line per protocol and mode:
 *   proto mode median min max
 * Per-round figures and paired ratios (mode / none in the same round) also go
 * to stderr.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 100
#define UDP_WINDOW 128
#define TCP_WINDOW 1024

enum { MODE_NONE, MODE_MINIMAL, MODE_STEER, NMODES };
static const char *const _modes[NMODES] = { "none", "minimal", "steer" };

static _Atomic unsigned long _accepted, _received;
static int _server_cpu = -1;
static bool _threaded;
static int _lfd = -1, _ufd = -1;

static void _die(const char *what)
{
	fprintf(stderr, "connrate: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double _now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void _pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	errno = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (errno)
		_die("cannot pin a thread to its CPU");
}

static struct sockaddr_in _addr(const char *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host)) {
		fprintf(stderr, "connrate: '%s': want IPv4:PORT\n", s);
		exit(2);
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535) {
		fprintf(stderr, "connrate: '%s': want IPv4:PORT\n", s);
		exit(2);
	}
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	return a;
}

/* Waits up to a second for FD to be readable after EAGAIN; dies with WHY when nothing comes. */
static void _await(int fd, const char *why)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 1000) == 0) {
		fprintf(stderr, "connrate: %s\n", why);
		exit(1);
	}
}

/* The server's side of one connection: accept and close (waiting for it when the socket is non-blocking). */
static void _accept_one(void)
{
	for (;;) {
		int fd = accept(_lfd, NULL, NULL);
		if (fd >= 0) {
			close(fd);
			atomic_fetch_add_explicit(&_accepted, 1, memory_order_relaxed);
			return;
		}
		if (errno == EAGAIN)
			_await(_lfd, "nothing to accept after a connect");
		else if (errno != EINTR && errno != ECONNABORTED) {
			_die("accept");
		}
	}
}

/* The server's side of one datagram. */
static void _recv_one(void)
{
	char buf[64];

	for (;;) {
		if (recv(_ufd, buf, sizeof(buf), 0) >= 0) {
			atomic_fetch_add_explicit(&_received, 1, memory_order_relaxed);
			return;
		}
		if (errno == EAGAIN)
			_await(_ufd, "a datagram sent was not received");
		else if (errno != EINTR) {
			_die("recv");
		}
	}
}

static void *_tcp_server(void *arg)
{
	_pin(_server_cpu);
	for (;;)
		_accept_one();
	return NULL;
}

static void *_udp_server(void *arg)
{
	_pin(_server_cpu);
	for (;;)
		_recv_one();
	return NULL;
}

/* Connections per second to DST for SECONDS, counted once both connected and accepted. */
static double _tcp_rate(const struct sockaddr_in *dst, double seconds)
{
	static const struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	unsigned long base = atomic_load(&_accepted), n = 0;
	double t0 = _now(), t1;

	while ((t1 = _now()) - t0 < seconds) {
		/* Never more than the window ahead of the accepting thread: the accept queue never overflows. */
		for (double wait = 0; (long)(n - (atomic_load_explicit(&_accepted, memory_order_relaxed) - base)) >= TCP_WINDOW;) {
			sched_yield();
			if (wait == 0) {
				wait = _now();
			} else if (_now() - wait > 1) {
				fprintf(stderr, "connrate: %lu connections made, the server accepts none\n", n);
				exit(1);
			}
		}
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			_die("socket");
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
		if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0)
			_die("tcp connect");
		if (!_threaded)
			_accept_one();
		close(fd);
		n++;
	}
	/* Until the server has accepted every connection made (or a second has gone by). */
	for (double t = _now(); atomic_load(&_accepted) - base < n && _now() - t < 1;)
		sched_yield();
	unsigned long got = atomic_load(&_accepted) - base;
	if (got < n)
		fprintf(stderr, "connrate: %lu of %lu connections not accepted\n", n - got, n);
	return (double)(got < n ? got : n) / (t1 - t0);
}

/* Datagrams per second received from DST's server, sending for SECONDS. */
static double _udp_rate(const struct sockaddr_in *dst, double seconds)
{
	static const char msg[16] = "connrate";
	unsigned long base = atomic_load(&_received), sent = 0, lost = 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	double t0 = _now(), t1;

	if (fd < 0)
		_die("socket");
	while ((t1 = _now()) - t0 < seconds) {
		double wait = 0;
		while ((long)(sent - lost - (atomic_load_explicit(&_received, memory_order_relaxed) - base)) >= UDP_WINDOW) {
			sched_yield();
			if (wait == 0)
				wait = _now();
			else if (_now() - wait > 0.05) /* lost, not late: forget them */
				lost = sent - (atomic_load(&_received) - base);
		}
		if (sendto(fd, msg, sizeof(msg), 0, (const struct sockaddr *)dst, sizeof(*dst)) < 0)
			_die("udp sendto");
		sent++;
		if (!_threaded)
			_recv_one();
	}
	for (double t = _now(); atomic_load(&_received) - base < sent - lost && _now() - t < 1;)
		sched_yield();
	unsigned long got = atomic_load(&_received) - base;
	if (got < sent)
		fprintf(stderr, "connrate: %lu of %lu datagrams not received\n", sent - got, sent);
	close(fd);
	return (double)got / (t1 - t0);
}

/* 1 when a TCP connect to DST is accepted, 0 when refused. */
static int _probe(const struct sockaddr_in *dst)
{
	unsigned long before = atomic_load(&_accepted);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int r;

	if (fd < 0)
		_die("socket");
	r = connect(fd, (const struct sockaddr *)dst, sizeof(*dst));
	if (r < 0 && errno != ECONNREFUSED)
		_die("probe connect");
	if (r == 0 && !_threaded)
		_accept_one();
	close(fd);
	/* Out of the next measurement: until the server has accepted it. */
	for (double t = _now(); r == 0 && atomic_load(&_accepted) == before && _now() - t < 1;)
		sched_yield();
	return r == 0;
}

/* The program of steer's link pinned under BPFFS for this namespace; the link is detached. */
static int _take_steer(const char *bpffs)
{
	struct stat sb;
	char path[4096];
	struct bpf_link_info info;
	__u32 len = sizeof(info);

	if (stat("/proc/self/ns/net", &sb) < 0)
		_die("stat /proc/self/ns/net");
	snprintf(path, sizeof(path), "%s/steer/%lu/link", bpffs, (unsigned long)sb.st_ino);
	struct bpf_link *link = bpf_link__open(path);
	if (!link) {
		fprintf(stderr, "connrate: cannot open steer's link '%s': %s (was a policy applied?)\n", path,
			strerror(errno));
		exit(1);
	}
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len) < 0)
		_die("link info");
	int prog = bpf_prog_get_fd_by_id(info.prog_id);
	if (prog < 0)
		_die("steer's program");
	/* The program holds its maps, registered sockets included; nothing is attached now. */
	if (bpf_link__detach(link) < 0)
		_die("detach steer's link");
	bpf_link__destroy(link);
	return prog;
}

static int _cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void _usage(void)
{
	fprintf(stderr, "usage: connrate --floor FLOOR.o [--setup CMD] [--steer-state BPFFS] [--tcp ADDR:PORT]\n"
			"                [--udp ADDR:PORT] [--probe ADDR:PORT] [--rounds N] [--seconds S]\n"
			"                [--threaded] [--cpus CLIENT,SERVER | --no-pin]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "floor", required_argument, NULL, 'f' }, { "setup", required_argument, NULL, 'x' },
		{ "steer-state", required_argument, NULL, 'b' }, { "tcp", required_argument, NULL, 't' },
		{ "udp", required_argument, NULL, 'u' }, { "probe", required_argument, NULL, 'p' },
		{ "rounds", required_argument, NULL, 'r' }, { "seconds", required_argument, NULL, 's' },
		{ "cpus", required_argument, NULL, 'c' }, { "no-pin", no_argument, NULL, 'n' },
		{ "threaded", no_argument, NULL, 'T' },
		{ 0 },
	};
	const char *floor_path = NULL, *setup = NULL, *bpffs = NULL;
	const char *tcp_s = "127.0.0.1:8401", *udp_s = "127.0.0.1:8453", *probe_s = "127.97.0.1:80";
	int rounds = 5, client_cpu = 0, c;
	double seconds = 2;

	_server_cpu = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': floor_path = optarg; break;
		case 'x': setup = optarg; break;
		case 'b': bpffs = optarg; break;
		case 't': tcp_s = optarg; break;
		case 'u': udp_s = optarg; break;
		case 'p': probe_s = optarg; break;
		case 'r': rounds = atoi(optarg); break;
		case 's': seconds = atof(optarg); break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &client_cpu, &_server_cpu) != 2)
				_usage();
			break;
		case 'n': client_cpu = _server_cpu = -1; break;
		case 'T': _threaded = true; break;
		default: _usage();
		}
	}
	if (!floor_path || optind != argc || rounds < 1 || rounds > MAX_ROUNDS || seconds <= 0)
		_usage();
	struct sockaddr_in tcp_a = _addr(tcp_s), udp_a = _addr(udp_s), probe_a = _addr(probe_s);

	/* The servers. */
	int one = 1, big = 4 << 20;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), ufd = socket(AF_INET, SOCK_DGRAM, 0);
	if (lfd < 0 || ufd < 0)
		_die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&tcp_a, sizeof(tcp_a)) < 0 || listen(lfd, 4096) < 0)
		_die(tcp_s);
	if (setsockopt(ufd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(ufd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (bind(ufd, (struct sockaddr *)&udp_a, sizeof(udp_a)) < 0)
		_die(udp_s);
	_lfd = lfd;
	_ufd = ufd;
	pthread_t th;
	if (_threaded && ((errno = pthread_create(&th, NULL, _tcp_server, NULL)) ||
			  (errno = pthread_create(&th, NULL, _udp_server, NULL))))
		_die("pthread_create");
	if (!_threaded && (fcntl(lfd, F_SETFL, O_NONBLOCK) < 0 || fcntl(ufd, F_SETFL, O_NONBLOCK) < 0))
		_die("O_NONBLOCK");

	/* steer apply and register, from outside: they find and take our sockets. */
	if (setup) {
		char pid[32];
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("CONNRATE_PID", pid, 1);
		fflush(NULL);
		int st = system(setup);
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "connrate: the setup command failed (status %d)\n", st);
			return 1;
		}
	}
	int progs[NMODES] = { -1, -1, -1 };
	int nmodes = 2;
	if (bpffs) {
		progs[MODE_STEER] = _take_steer(bpffs);
		nmodes = 3;
	}

	/* The minimal program, its sockmap holding the same two sockets. */
	struct bpf_object *floor = bpf_object__open_file(floor_path, NULL);
	if (!floor || bpf_object__load(floor) < 0) {
		fprintf(stderr, "connrate: cannot load %s: %s\n", floor_path, strerror(errno));
		return 1;
	}
	int fmap = bpf_map__fd(bpf_object__find_map_by_name(floor, "floor_sockets"));
	uint32_t k_tcp = 0, k_udp = 2;
	uint64_t v_tcp = (uint64_t)lfd, v_udp = (uint64_t)ufd;
	if (bpf_map_update_elem(fmap, &k_tcp, &v_tcp, BPF_ANY) < 0 ||
	    bpf_map_update_elem(fmap, &k_udp, &v_udp, BPF_ANY) < 0)
		_die("fill the floor's sockmap");
	progs[MODE_MINIMAL] = bpf_program__fd(bpf_object__find_program_by_name(floor, "minimal"));

	int netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (netns < 0)
		_die("open /proc/self/ns/net");
	if (client_cpu >= 0 && sysconf(_SC_NPROCESSORS_ONLN) < 2)
		client_cpu = _server_cpu = -1;
	_pin(client_cpu);

	static double rates[2][NMODES][MAX_ROUNDS];
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < nmodes; i++) {
			int m = (i + r) % nmodes, link = -1; /* each mode first in turn */
			if (m != MODE_NONE && (link = bpf_link_create(progs[m], netns, BPF_SK_LOOKUP, NULL)) < 0) {
				errno = -link;
				_die("attach the program to the network namespace");
			}
			if (_probe(&probe_a) != (m != MODE_NONE)) {
				fprintf(stderr, "connrate: mode %s: probe %s %s\n", _modes[m], probe_s,
					m == MODE_NONE ? "accepted without a program" : "refused: the program does not steer it");
				return 1;
			}
			rates[0][m][r] = _tcp_rate(&tcp_a, seconds);
			rates[1][m][r] = _udp_rate(&udp_a, seconds);
			fprintf(stderr, "round %d %-7s tcp %9.0f/s udp %9.0f/s\n", r + 1, _modes[m], rates[0][m][r],
				rates[1][m][r]);
			printf("#round\t%d\ttcp\t%s\t%.0f\n#round\t%d\tudp\t%s\t%.0f\n", r + 1, _modes[m], rates[0][m][r],
			       r + 1, _modes[m], rates[1][m][r]);
			if (link >= 0)
				close(link); /* detaches: the link is ours alone */
		}
	}
	/*
	 * The programs' own time under this traffic, from the kernel's BPF run-time
	 * statistics (on only for this pass: they cost two clock reads per run).
	 * Unlike the rates, these barely drift with the machine.
	 */
	int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats < 0)
		fprintf(stderr, "connrate: no BPF run-time statistics: %s\n", strerror(-stats));
	for (int m = MODE_MINIMAL; stats >= 0 && m < nmodes; m++) {
		int link = bpf_link_create(progs[m], netns, BPF_SK_LOOKUP, NULL);
		if (link < 0) {
			errno = -link;
			_die("attach the program to the network namespace");
		}
		for (int p = 0; p < 2; p++) {
			struct bpf_prog_info a = { 0 }, b = { 0 };
			__u32 la = sizeof(a), lb = sizeof(b);
			if (bpf_obj_get_info_by_fd(progs[m], &a, &la) < 0)
				_die("program info");
			if (p == 0)
				_tcp_rate(&tcp_a, seconds);
			else
				_udp_rate(&udp_a, seconds);
			if (bpf_obj_get_info_by_fd(progs[m], &b, &lb) < 0)
				_die("program info");
			unsigned long long runs = b.run_cnt - a.run_cnt, ns = b.run_time_ns - a.run_time_ns;
			fprintf(stderr, "%s %s: %.1f ns per run in place (%llu runs)\n", p ? "udp" : "tcp", _modes[m],
				runs ? (double)ns / (double)runs : 0.0, runs);
			printf("#inplace\t%s\t%s\t%.1f\t%llu\n", p ? "udp" : "tcp", _modes[m],
			       runs ? (double)ns / (double)runs : 0.0, runs);
		}
		close(link);
	}
	if (stats >= 0)
		close(stats);

	/* Round by round, each mode against no program in the same round: drift cancels out. */
	for (int p = 0; p < 2; p++) {
		for (int m = 1; m < nmodes; m++) {
			double q[MAX_ROUNDS];
			for (int r = 0; r < rounds; r++)
				q[r] = rates[p][m][r] / rates[p][MODE_NONE][r];
			qsort(q, (size_t)rounds, sizeof(*q), _cmp);
			fprintf(stderr, "%s %s/none per round: median %.3f, %.3f-%.3f\n", p ? "udp" : "tcp", _modes[m],
				rounds % 2 ? q[rounds / 2] : (q[rounds / 2 - 1] + q[rounds / 2]) / 2, q[0], q[rounds - 1]);
		}
	}
	for (int p = 0; p < 2; p++) {
		for (int m = 0; m < nmodes; m++) {
			double v[MAX_ROUNDS];
			memcpy(v, rates[p][m], sizeof(v));
			qsort(v, (size_t)rounds, sizeof(*v), _cmp);
			double med = rounds % 2 ? v[rounds / 2] : (v[rounds / 2 - 1] + v[rounds / 2]) / 2;
			printf("%s\t%s\t%.0f\t%.0f\t%.0f\n", p ? "udp" : "tcp", _modes[m], med, v[0], v[rounds - 1]);
		}
	}
	bpf_object__close(floor);
	return 0;
}
