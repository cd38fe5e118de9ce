/*
 * relayload: the load generator and the upstream server of bench/proxy.sh,
 * which compares TCP relays (socat, HAProxy, nginx stream, steer proxy) with
 * a direct connection over loopback.
 *
 *   relayload server ADDR:PORT
 *   relayload stream ADDR:PORT --streams N --seconds T [--dir up|down]
 *   relayload rr ADDR:PORT --size B --seconds T
 *   relayload connect ADDR:PORT (--seconds T [--parallel P] | --once)
 *
 * Every connection starts with a 1-byte mode header, which the server reads
 * before anything else:
 *   'S' sink:   the server reads and discards until EOF, then closes;
 *   'E' echo:   the server writes back whatever arrives, as it arrives;
 *   'R' source: the server writes as fast as it can until the peer closes or
 *               shuts its side down.
 *
 * server   serves every connection from a thread of a pool: idle threads
 *          block in accept(), and when the last idle one takes a connection
 *          it starts another, so there are always threads to accept and as
 *          many as there are open connections; a thread that is done goes
 *          back to accept() unless enough others are idle already.
 * stream   N connections (default 1), each with a thread of its own, all
 *          started together once every one is connected; up (default): mode
 *          S, writes of 256 KiB for T seconds, then a shutdown of the write
 *          side and a wait for the peer's close, so the time counts until
 *          every byte was taken by the far end; down: mode R, reads of up to
 *          256 KiB for T seconds. Prints
 *            gbps=<total GB per second, GB = 1e9 bytes> bytes=<total> seconds=<elapsed> streams=N
 *          (gbps is gigaBYTES per second, not gigabits).
 * rr       one connection, mode E, TCP_NODELAY: writes B bytes (at most 64 KiB), reads B
 *          bytes back, again and again for T seconds; prints the round trip
 *            p50_us=.. p99_us=.. mean_us=.. n=<round trips>
 * connect  P threads (default 1), each in a loop for T seconds: socket,
 *          connect, write 'E' and one byte, read the byte back, close. Prints
 *            cps=<connections per second> n=<connections> errors=<failed attempts>
 *          With --once: one such connection with 1 s timeouts, no output;
 *          exits 0 when it worked and 1 when not (bench/proxy.sh polls with
 *          it until a relay is ready).
 *
 * Otherwise each client socket has 10 s send and receive timeouts (connect
 * included): a stalled relay makes the run fail instead of hang. Exit status 0, 1 on an error, 2 on a
 * usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BULK (256 * 1024)
#define ECHO_BUF (64 * 1024)
#define MAX_STREAMS 1024
#define MAX_PARALLEL 256
#define MAX_RR_SIZE (64 * 1024) /* larger could deadlock: both ends blocked in write */
#define POOL_IDLE_MIN 8  /* threads the server starts with, all in accept() */
#define POOL_IDLE_MAX 32 /* a thread done with its connection exits when this many are idle */
#define IO_TIMEOUT 10    /* seconds: send and receive timeouts of the client's sockets */

static void _usage(void)
{
	fprintf(stderr,
		"usage: relayload server ADDR:PORT\n"
		"       relayload stream ADDR:PORT --streams N --seconds T [--dir up|down]\n"
		"       relayload rr ADDR:PORT --size B --seconds T\n"
		"       relayload connect ADDR:PORT (--seconds T [--parallel P] | --once)\n");
	exit(2);
}

static void _die(const char *what)
{
	fprintf(stderr, "relayload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double _now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sockaddr_in _addr(const char *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(s, ':');
	long port = colon ? strtol(colon + 1, NULL, 10) : 0;

	if (!colon || (size_t)(colon - s) >= sizeof(host) || port <= 0 || port > 65535) {
		fprintf(stderr, "relayload: '%s': want IPv4:PORT\n", s);
		exit(2);
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "relayload: '%s': want IPv4:PORT\n", s);
		exit(2);
	}
	a.sin_port = htons((uint16_t)port);
	return a;
}

/* Writes all of BUF; false on an error (errno set). */
static bool _write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads exactly LEN bytes; false on an error or EOF (errno 0 then). */
static bool _read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				errno = 0;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* ---- server ---- */

static int _lfd = -1;
static pthread_mutex_t _pool_mu = PTHREAD_MUTEX_INITIALIZER;
static int _pool_idle;
static pthread_attr_t _pool_attr;

static void _serve(int fd, char *buf)
{
	char mode;

	if (!_read_all(fd, &mode, 1))
		return;
	switch (mode) {
	case 'S':
		for (;;) {
			ssize_t n = recv(fd, buf, BULK, 0);
			if (n <= 0 && !(n < 0 && errno == EINTR))
				break;
		}
		break;
	case 'E':
		for (;;) {
			ssize_t n = recv(fd, buf, ECHO_BUF, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || !_write_all(fd, buf, (size_t)n))
				break;
		}
		break;
	case 'R':
		for (;;) {
			char c;
			/* The peer's EOF (a shutdown of its side) ends the source too. */
			ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				break;
			if (!_write_all(fd, buf, BULK))
				break;
		}
		break;
	default:
		fprintf(stderr, "relayload: server: unknown mode 0x%02x\n", (unsigned char)mode);
	}
}

static void *_pool_thread(void *arg);

static void _pool_spawn(void)
{
	pthread_t th;

	pthread_mutex_lock(&_pool_mu);
	_pool_idle++;
	pthread_mutex_unlock(&_pool_mu);
	errno = pthread_create(&th, &_pool_attr, _pool_thread, NULL);
	if (errno) {
		pthread_mutex_lock(&_pool_mu);
		_pool_idle--;
		pthread_mutex_unlock(&_pool_mu);
		fprintf(stderr, "relayload: server: pthread_create: %s\n", strerror(errno));
	}
}

static void *_pool_thread(void *arg)
{
	char *buf = malloc(BULK);

	(void)arg;
	if (!buf)
		_die("malloc");
	memset(buf, 'x', BULK);
	for (;;) {
		int fd = accept(_lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				perror("relayload: server: accept");
				usleep(10000);
				continue;
			}
			_die("accept");
		}
		pthread_mutex_lock(&_pool_mu);
		bool last = --_pool_idle == 0;
		pthread_mutex_unlock(&_pool_mu);
		if (last)
			_pool_spawn();
		_serve(fd, buf);
		close(fd);
		pthread_mutex_lock(&_pool_mu);
		bool stay = _pool_idle < POOL_IDLE_MAX;
		if (stay)
			_pool_idle++;
		pthread_mutex_unlock(&_pool_mu);
		if (!stay)
			break;
	}
	free(buf);
	return NULL;
}

static int _server(const char *where)
{
	struct sockaddr_in a = _addr(where);
	int one = 1;

	_lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (_lfd < 0)
		_die("socket");
	setsockopt(_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(_lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(_lfd, 4096) < 0)
		_die(where);
	pthread_attr_init(&_pool_attr);
	pthread_attr_setdetachstate(&_pool_attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&_pool_attr, 128 * 1024);
	for (int i = 0; i < POOL_IDLE_MIN; i++)
		_pool_spawn();
	for (;;)
		pause();
	return 0;
}

/* ---- clients ---- */

/* A connected socket with send and receive (and connect) timeouts of SECONDS, -1 with errno on failure. */
static int _dial(const struct sockaddr_in *a, bool nodelay, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct stream {
	pthread_t th;
	int fd;
	bool up;
	double seconds;
	pthread_barrier_t *start;
	double *t0; /* set by one thread after the barrier, read after the joins */
	uint64_t bytes;
	double end;
	int err; /* errno of a failure, 0 when it went well */
	const char *what;
};

static void *_stream_thread(void *arg)
{
	struct stream *s = arg;
	char *buf = malloc(BULK);

	if (!buf) {
		s->err = ENOMEM;
		s->what = "malloc";
		return NULL;
	}
	memset(buf, 'x', BULK);
	if (pthread_barrier_wait(s->start) == PTHREAD_BARRIER_SERIAL_THREAD)
		*s->t0 = _now();
	double deadline = _now() + s->seconds;
	if (s->up) {
		while (_now() < deadline) {
			if (!_write_all(s->fd, buf, BULK)) {
				s->err = errno;
				s->what = "send";
				goto out;
			}
			s->bytes += BULK;
		}
		/* Every byte written has reached the far end when it closes in turn. */
		shutdown(s->fd, SHUT_WR);
		for (;;) {
			ssize_t n = recv(s->fd, buf, BULK, 0);
			if (n > 0 || (n < 0 && errno == EINTR))
				continue;
			if (n < 0 && errno != ECONNRESET) {
				s->err = errno;
				s->what = "waiting for the peer's close";
			}
			break;
		}
	} else {
		while (_now() < deadline) {
			ssize_t n = recv(s->fd, buf, BULK, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				s->err = n ? errno : EPIPE;
				s->what = n ? "recv" : "recv: early EOF";
				goto out;
			}
			s->bytes += (uint64_t)n;
		}
	}
out:
	s->end = _now();
	free(buf);
	return NULL;
}

static int _stream(const struct sockaddr_in *a, int streams, double seconds, bool up)
{
	struct stream *s = calloc((size_t)streams, sizeof(*s));
	pthread_barrier_t start;
	double t0 = 0;
	char mode = up ? 'S' : 'R';

	if (!s)
		_die("calloc");
	pthread_barrier_init(&start, NULL, (unsigned)streams);
	for (int i = 0; i < streams; i++) {
		s[i].fd = _dial(a, false, IO_TIMEOUT);
		if (s[i].fd < 0)
			_die("connect");
		if (!_write_all(s[i].fd, &mode, 1))
			_die("send");
		s[i].up = up;
		s[i].seconds = seconds;
		s[i].start = &start;
		s[i].t0 = &t0;
	}
	for (int i = 0; i < streams; i++)
		if ((errno = pthread_create(&s[i].th, NULL, _stream_thread, &s[i])))
			_die("pthread_create");
	uint64_t bytes = 0;
	double end = 0;
	int failed = 0;
	for (int i = 0; i < streams; i++) {
		pthread_join(s[i].th, NULL);
		close(s[i].fd);
		bytes += s[i].bytes;
		if (s[i].end > end)
			end = s[i].end;
		if (s[i].err) {
			fprintf(stderr, "relayload: stream %d: %s: %s\n", i, s[i].what, strerror(s[i].err));
			failed++;
		}
	}
	double elapsed = end - t0;
	printf("gbps=%.3f bytes=%llu seconds=%.3f streams=%d\n", (double)bytes / elapsed / 1e9,
	       (unsigned long long)bytes, elapsed, streams);
	free(s);
	return failed ? 1 : 0;
}

static int _cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

static double _pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

static int _rr(const struct sockaddr_in *a, size_t size, double seconds)
{
	char *buf = malloc(size), *back = malloc(size), mode = 'E';
	size_t n = 0, cap = 1 << 16;
	double *lat = malloc(cap * sizeof(*lat)), sum = 0;
	int fd = _dial(a, true, IO_TIMEOUT);

	if (!buf || !back || !lat)
		_die("malloc");
	if (fd < 0)
		_die("connect");
	memset(buf, 'x', size);
	if (!_write_all(fd, &mode, 1))
		_die("send");
	double deadline = _now() + seconds;
	for (;;) {
		double t = _now();
		if (t >= deadline)
			break;
		if (!_write_all(fd, buf, size))
			_die("send");
		if (!_read_all(fd, back, size))
			_die(errno ? "recv" : "recv: early EOF");
		double us = (_now() - t) * 1e6;
		if (n == cap) {
			cap *= 2;
			lat = realloc(lat, cap * sizeof(*lat));
			if (!lat)
				_die("realloc");
		}
		lat[n++] = us;
		sum += us;
	}
	close(fd);
	if (!n) {
		fprintf(stderr, "relayload: rr: no round trip completed\n");
		return 1;
	}
	qsort(lat, n, sizeof(*lat), _cmp_double);
	printf("p50_us=%.1f p99_us=%.1f mean_us=%.1f n=%zu\n", _pct(lat, n, 0.50), _pct(lat, n, 0.99), sum / (double)n,
	       n);
	free(buf);
	free(back);
	free(lat);
	return 0;
}

struct connector {
	pthread_t th;
	const struct sockaddr_in *a;
	double deadline;
	uint64_t ok, errors;
	int last_err;
};

/* One connection: connect, 'E' and one byte, the byte back, close. */
static bool _connect_once(const struct sockaddr_in *a, int timeout, int *err)
{
	char out[2] = { 'E', 'x' }, in;
	int fd = _dial(a, true, timeout);

	if (fd < 0) {
		*err = errno;
		return false;
	}
	bool ok = _write_all(fd, out, sizeof(out)) && _read_all(fd, &in, 1) && in == 'x';
	if (!ok)
		*err = errno ? errno : EPIPE;
	close(fd);
	return ok;
}

static void *_connect_thread(void *arg)
{
	struct connector *c = arg;

	while (_now() < c->deadline) {
		if (_connect_once(c->a, IO_TIMEOUT, &c->last_err))
			c->ok++;
		else
			c->errors++;
	}
	return NULL;
}

static int _connect(const struct sockaddr_in *a, double seconds, int parallel)
{
	struct connector c[MAX_PARALLEL];
	double t0 = _now();

	for (int i = 0; i < parallel; i++) {
		c[i] = (struct connector){ .a = a, .deadline = t0 + seconds };
		if ((errno = pthread_create(&c[i].th, NULL, _connect_thread, &c[i])))
			_die("pthread_create");
	}
	uint64_t ok = 0, errors = 0;
	int last_err = 0;
	for (int i = 0; i < parallel; i++) {
		pthread_join(c[i].th, NULL);
		ok += c[i].ok;
		errors += c[i].errors;
		if (c[i].errors)
			last_err = c[i].last_err;
	}
	double elapsed = _now() - t0;
	printf("cps=%.0f n=%llu errors=%llu\n", (double)ok / elapsed, (unsigned long long)ok,
	       (unsigned long long)errors);
	if (errors)
		fprintf(stderr, "relayload: connect: %llu attempts failed (last: %s)\n", (unsigned long long)errors,
			strerror(last_err));
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "streams", required_argument, NULL, 'n' }, { "seconds", required_argument, NULL, 't' },
		{ "dir", required_argument, NULL, 'd' },     { "size", required_argument, NULL, 'b' },
		{ "parallel", required_argument, NULL, 'p' }, { "once", no_argument, NULL, 'o' },
		{ 0 },
	};
	int streams = 1, parallel = 1, c;
	long size = 0;
	double seconds = 0;
	bool up = true, once = false;

	if (argc < 3)
		_usage();
	const char *cmd = argv[1], *where = argv[2];
	signal(SIGPIPE, SIG_IGN);
	optind = 3;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': streams = atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'b': size = atol(optarg); break;
		case 'p': parallel = atoi(optarg); break;
		case 'o': once = true; break;
		case 'd':
			if (!strcmp(optarg, "up"))
				up = true;
			else if (!strcmp(optarg, "down"))
				up = false;
			else
				_usage();
			break;
		default: _usage();
		}
	}
	if (optind != argc)
		_usage();
	if (!strcmp(cmd, "server"))
		return _server(where);
	struct sockaddr_in a = _addr(where);
	if (!strcmp(cmd, "stream")) {
		if (streams < 1 || streams > MAX_STREAMS || seconds <= 0)
			_usage();
		return _stream(&a, streams, seconds, up);
	}
	if (!strcmp(cmd, "rr")) {
		if (size < 1 || size > MAX_RR_SIZE || seconds <= 0)
			_usage();
		return _rr(&a, (size_t)size, seconds);
	}
	if (!strcmp(cmd, "connect")) {
		int err = 0;
		if (once)
			return _connect_once(&a, 1, &err) ? 0 : 1;
		if (parallel < 1 || parallel > MAX_PARALLEL || seconds <= 0)
			_usage();
		return _connect(&a, seconds, parallel);
	}
	_usage();
}
