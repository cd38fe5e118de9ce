#include "state.h"
#include "counters.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "loader.h"
#include "wire.h"

#define BPF_FS_MAGIC 0xcafe4a11
#define STATE_FORMAT 2u /* of the record; another one is refused by name */
#define RECORD_CHUNK 65536 /* bytes per element of the record map */
#define LINK_PIN "link"
#define RECORD_PIN "state"
#define DETACHING "detaching"

void applied_state_free(struct applied_state *a)
{
	built_manifest_free(&a->m);
	free(a->slot);
	free(a->ifindex);
	memset(a, 0, sizeof(*a));
}

static void _notice(const struct rt_target *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void _notice(const struct rt_target *t, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!t->notice)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	t->notice(line);
}

void state_path(const struct rt_state *st, const char *name, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s/%s", st->dir, name);

	if (n < 0 || n >= PATH_MAX)
		abort(); /* state_open left room for every name */
}

void state_gen_path(const struct rt_state *st, uint32_t prog_id, const char *name, char out[PATH_MAX])
{
	int n = name ? snprintf(out, PATH_MAX, "%s/p%u/%s", st->dir, prog_id, name)
		     : snprintf(out, PATH_MAX, "%s/p%u", st->dir, prog_id);

	if (n < 0 || n >= PATH_MAX)
		abort();
}

/* ---- the record, as bytes in a pinned array map ---- */

static void _record_put(wire_buf *w, const struct applied_state *a)
{
	wire_u32(w, STATE_FORMAT);
	built_manifest_put(w, &a->m);
	for (uint32_t i = 0; i < a->m.nservices; i++)
		wire_u32(w, a->slot[i]);
	for (uint32_t i = 0; i < a->m.nifaces; i++)
		wire_u32(w, a->ifindex[i]);
	wire_u32(w, a->prog_id);
	wire_u64(w, (uint64_t)a->applied_ns);
	wire_u32(w, a->generation);
	wire_str(w, a->digest);
}

static bool _record_get(struct wire_reader *r, struct applied_state *a)
{
	memset(a, 0, sizeof(*a));
	if (wire_get_u32(r) != STATE_FORMAT || !built_manifest_get(r, &a->m))
		return false;
	a->slot = calloc(a->m.nservices + 1, sizeof(uint32_t));
	a->ifindex = calloc(a->m.nifaces + 1, sizeof(uint32_t));
	if (!a->slot || !a->ifindex)
		r->bad = true;
	for (uint32_t i = 0; i < a->m.nservices && !r->bad; i++)
		if ((a->slot[i] = wire_get_u32(r)) % STEER_SLOTS_PER_SERVICE || a->slot[i] >= STEER_SOCKET_SLOTS)
			r->bad = true;
	for (uint32_t i = 0; i < a->m.nifaces && !r->bad; i++)
		a->ifindex[i] = wire_get_u32(r);
	a->prog_id = wire_get_u32(r);
	a->applied_ns = (int64_t)wire_get_u64(r);
	a->generation = wire_get_u32(r);
	/* Trailing, so that the records of the steer before it still read (as never unchanged). */
	if (r->off < r->len) {
		_cleanup_free_ char *digest = wire_get_str(r);
		if (!digest || strlen(digest) >= sizeof(a->digest))
			r->bad = true;
		else
			memcpy(a->digest, digest, strlen(digest) + 1);
	}
	if (r->bad || r->off != r->len) {
		applied_state_free(a);
		return false;
	}
	return true;
}

int state_record_pin(struct rt_state *st, const struct applied_state *rec)
{
	_cleanup_vec_ wire_buf w = { 0 };
	uint64_t len;
	char path[PATH_MAX];
	_cleanup_free_ uint8_t *chunk = calloc(1, RECORD_CHUNK);
	_cleanup_close_ int fd = -1;

	_record_put(&w, rec);
	len = w.n;
	uint32_t nchunks = (uint32_t)((len + sizeof(len) + RECORD_CHUNK - 1) / RECORD_CHUNK);
	fd = chunk ? bpf_map_create(BPF_MAP_TYPE_ARRAY, "steer_state", sizeof(uint32_t), RECORD_CHUNK, nchunks, NULL) : -ENOMEM;
	if (fd < 0)
		return error_set(chunk ? -errno : -ENOMEM, "cannot create the state record: %s", strerror(chunk ? errno : ENOMEM));
	for (uint32_t key = 0, off = 0; key < nchunks; key++) {
		size_t skip = key == 0 ? sizeof(len) : 0, n = RECORD_CHUNK - skip;
		memset(chunk, 0, RECORD_CHUNK);
		if (key == 0)
			memcpy(chunk, &len, sizeof(len));
		if (n > len - off)
			n = (size_t)(len - off);
		memcpy(chunk + skip, w.v + off, n);
		off += (uint32_t)n;
		if (bpf_map_update_elem(fd, &key, chunk, BPF_ANY) < 0)
			return error_set(-errno, "cannot write the state record: %s", strerror(errno));
	}
	state_gen_path(st, rec->prog_id, RECORD_PIN, path);
	if (bpf_obj_pin(fd, path) < 0)
		return error_set(-errno, "cannot pin '%s': %s", path, strerror(errno));
	return 0;
}

/* Reads the record of generation PROG_ID; -EBADMSG when it is missing or damaged. */
int state_record_read(const struct rt_state *st, uint32_t prog_id, struct applied_state *out)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *chunk = malloc(RECORD_CHUNK), *bytes = NULL;
	uint64_t len;
	uint32_t key = 0;

	state_gen_path(st, prog_id, RECORD_PIN, path);
	if (!chunk)
		return error_set(-ENOMEM, "out of memory");
	if ((fd = bpf_obj_get(path)) < 0 || bpf_map_lookup_elem(fd, &key, chunk) < 0)
		return error_set(-EBADMSG, "cannot read the state record '%s': %s", path, strerror(errno));
	memcpy(&len, chunk, sizeof(len));
	struct bpf_map_info info = { 0 };
	uint32_t ilen = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) < 0 || info.value_size != RECORD_CHUNK ||
	    len > (uint64_t)info.max_entries * RECORD_CHUNK - sizeof(len) || !(bytes = malloc(len + 1)))
		return error_set(-EBADMSG, "the state record '%s' is damaged", path);
	for (uint64_t off = 0; off < len; key++) {
		size_t skip = key == 0 ? sizeof(len) : 0, n = RECORD_CHUNK - skip;
		if (key && bpf_map_lookup_elem(fd, &key, chunk) < 0)
			return error_set(-EBADMSG, "cannot read the state record '%s': %s", path, strerror(errno));
		if (n > len - off)
			n = (size_t)(len - off);
		memcpy(bytes + off, chunk + skip, n);
		off += n;
	}
	struct wire_reader r = { .p = bytes, .len = len };
	if (!_record_get(&r, out) || out->prog_id != prog_id)
		return error_set(-EBADMSG, "the state record '%s' is damaged or from another steer version", path);
	return 0;
}

/* ---- removal ---- */

/*
 * Calls FN for each entry of directory DIR (not . and ..), with its path;
 * stops at the first error FN returns. A DIR that does not exist has none.
 */
static int _each_entry(const char *dir, int (*fn)(void *ctx, const char *path, const struct dirent *de), void *ctx)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : error_set(-errno, "cannot open '%s': %s", dir, strerror(errno));
	while (r == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		r = fn(ctx, path, de);
	}
	closedir(d);
	return r;
}

static int _rmdir_all(const char *path);

/* Removes one entry, a directory with what is in it. CTX, when set, names an entry to keep. */
static int _remove_entry(void *ctx, const char *path, const struct dirent *de)
{
	if (ctx && strcmp(de->d_name, ctx) == 0)
		return 0;
	if (de->d_type == DT_DIR)
		return _rmdir_all(path);
	if (unlink(path) < 0 && errno != ENOENT)
		return error_set(-errno, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Unlinks every entry of directory PATH, then PATH itself. */
static int _rmdir_all(const char *path)
{
	int r = _each_entry(path, _remove_entry, NULL);

	if (r == 0 && rmdir(path) < 0 && errno != ENOENT)
		r = error_set(-errno, "cannot remove '%s': %s", path, strerror(errno));
	return r;
}

int state_gen_remove(struct rt_state *st, uint32_t prog_id)
{
	char path[PATH_MAX];

	state_gen_path(st, prog_id, NULL, path);
	return _rmdir_all(path);
}

int state_remove_all(struct rt_state *st)
{
	char path[PATH_MAX];
	int fd;

	/* The marker first: from here on, whatever interrupts this, the next command finishes it. */
	state_path(st, DETACHING, path);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return error_set(-errno, "cannot create '%s': %s", path, strerror(errno));
	/*
	 * The pin goes before the detach: a link nobody pins or holds is released,
	 * and its program with it, even if this process dies right here.
	 */
	state_path(st, LINK_PIN, path);
	if ((fd = bpf_obj_get(path)) >= 0) {
		if (unlink(path) < 0) {
			int e = errno;
			close(fd);
			return error_set(-e, "cannot remove '%s': %s", path, strerror(e));
		}
		bpf_link_detach(fd); /* now, not when the last holder (a bpftool, a monitor) lets go */
		close(fd);
	}
	int r = _each_entry(st->dir, _remove_entry, (void *)DETACHING);
	if (r < 0)
		return r;
	state_path(st, DETACHING, path);
	if (rmdir(path) < 0)
		return error_set(-errno, "cannot remove '%s': %s", path, strerror(errno));
	st->applied = false;
	applied_state_free(&st->cur);
	return 0;
}

/* ---- opening: the target, the lock, recovery ---- */

static int _open_netns(struct rt_state *st, const char *netns)
{
	struct stat sb;

	st->netns_fd = open(netns, O_RDONLY | O_CLOEXEC);
	if (st->netns_fd < 0)
		return error_set(-errno == -ENOENT ? -ENODEV : -errno, "cannot open network namespace '%s': %s", netns,
				 strerror(errno));
	if (ioctl(st->netns_fd, NS_GET_NSTYPE) != CLONE_NEWNET)
		return error_set(-ENODEV, "'%s' is not a network namespace (e.g. /run/netns/NAME or /proc/PID/ns/net)", netns);
	if (fstat(st->netns_fd, &sb) < 0)
		return error_set(-errno, "cannot stat '%s': %s", netns, strerror(errno));
	st->netns_ino = sb.st_ino;
	return 0;
}

/* 1 when DIR is a BPF filesystem, 0 when it is not (or is no directory), -EPERM when it may not be looked at. */
static int _is_bpffs(const char *dir)
{
	struct statfs sf;

	if (statfs(dir, &sf) < 0)
		return errno == EACCES || errno == EPERM ? -EPERM : 0;
	return (unsigned long)sf.f_type == BPF_FS_MAGIC;
}

/* The process holding a lock on FD's inode, from /proc/locks, or 0. */
static pid_t _lock_holder(int fd, char *comm, size_t len)
{
	struct stat sb;
	char line[256], path[64];
	pid_t pid = 0;
	_cleanup_fclose_ FILE *f = fopen("/proc/locks", "re");

	comm[0] = '\0';
	if (!f || fstat(fd, &sb) < 0)
		return 0;
	while (!pid && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long ino;
		int p;
		if (strstr(line, "->") || sscanf(line, "%*s FLOCK %*s %*s %d %x:%x:%lu", &p, &maj, &min, &ino) != 4)
			continue;
		if (ino == sb.st_ino && makedev(maj, min) == sb.st_dev)
			pid = p;
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	_cleanup_fclose_ FILE *c = pid ? fopen(path, "re") : NULL;
	if (c && fgets(comm, (int)len, c))
		comm[strcspn(comm, "\n")] = '\0';
	return pid;
}

static double _now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int _lock(struct rt_state *st, const struct rt_target *t)
{
	double start = _now();
	bool told = false;

	while (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return error_set(-errno, "cannot lock '%s': %s", st->dir, strerror(errno));
		double waited = _now() - start;
		char comm[32];
		if ((t->wait >= 0 && waited >= t->wait) || (!told && waited >= 1.0)) {
			pid_t pid = _lock_holder(st->lock_fd, comm, sizeof(comm));
			char who[64] = "another steer command";
			if (pid)
				snprintf(who, sizeof(who), "pid %d (%s)", pid, comm);
			if (t->wait >= 0 && waited >= t->wait)
				return error_set(-ETIMEDOUT, "the state of network namespace %lu is locked by %s; gave up after %g s (--wait)",
						 (unsigned long)st->netns_ino, who, t->wait);
			_notice(t, "waiting for the state lock of network namespace %lu, held by %s", (unsigned long)st->netns_ino, who);
			told = true;
		}
		usleep(20000);
	}
	return 0;
}

/* The link's program and whether it is still attached to a namespace. */
static int _link_info(const char *path, uint32_t *prog_id, uint32_t *link_id, bool *attached)
{
	_cleanup_close_ int fd = bpf_obj_get(path);
	struct bpf_link_info li = { 0 };
	uint32_t len = sizeof(li);

	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &li, &len) < 0)
		return -errno;
	*prog_id = li.prog_id;
	*link_id = li.id;
	*attached = li.type == BPF_LINK_TYPE_NETNS && li.netns.netns_ino != 0;
	return 0;
}

int state_link_prog(const struct rt_state *st, uint32_t *prog_id)
{
	char path[PATH_MAX];
	uint32_t link_id;
	bool attached;

	state_path(st, LINK_PIN, path);
	return _link_info(path, prog_id, &link_id, &attached);
}

struct gens_ctx {
	struct rt_state *st;
	const struct rt_target *t;
};

/* A generation other than the current one: what an interrupted apply left. */
static int _drop_other_gen(void *ctx, const char *path, const struct dirent *de)
{
	struct gens_ctx *g = ctx;
	unsigned id;
	char tail;

	if (de->d_type != DT_DIR || sscanf(de->d_name, "p%u%c", &id, &tail) != 1 || id == g->st->cur.prog_id)
		return 0;
	/* A generation with no record never reached its commit: the record is pinned before it. */
	struct applied_state other;
	bool newer = true;
	if (state_record_read(g->st, id, &other) == 0) {
		newer = other.applied_ns > g->st->cur.applied_ns;
		if (!newer) /* it ran until the interrupted apply's commit: keep what it counted */
			counters_fold(g->st, &other, &g->st->cur);
		applied_state_free(&other);
	}
	error_clear();
	int r = _rmdir_all(path);
	if (r == 0)
		_notice(g->t, newer ? "an interrupted apply was rolled back: %s is still the applied policy"
				    : "an interrupted apply was completed: %s is the applied policy",
			g->st->cur.m.policy);
	return r;
}

static int _count(void *ctx, const char *path, const struct dirent *de)
{
	(*(int *)ctx)++;
	return 0;
}

/* Brings the directory to a state no interruption explains any more, and reads the record. */
static int _recover(struct rt_state *st, const struct rt_target *t)
{
	char path[PATH_MAX];
	bool attached = false;
	int r;

	state_path(st, DETACHING, path);
	if (access(path, F_OK) == 0) {
		if ((r = state_remove_all(st)) == 0)
			_notice(t, "an interrupted detach was completed: no policy is applied");
		return r;
	}
	state_path(st, LINK_PIN, path);
	if (_link_info(path, &st->cur.prog_id, &st->link_id, &attached) < 0) {
		if (errno != ENOENT)
			return error_set(-errno, "cannot open the link at '%s': %s", path, strerror(errno));
		/* No link: no policy runs. Anything here is from a first apply that did not finish. */
		int n = 0;
		if ((r = _each_entry(st->dir, _count, &n)) < 0 || n == 0)
			return r;
		if ((r = state_remove_all(st)) == 0)
			_notice(t, "an interrupted first apply was rolled back: no policy is applied");
		return r;
	}
	uint32_t prog_id = st->cur.prog_id;
	st->applied = true;
	if ((r = state_record_read(st, prog_id, &st->cur)) < 0) {
		snprintf(st->problem, sizeof(st->problem),
			 "the link runs program %u, but %s; 'steer detach' removes this state", prog_id, error_message());
		st->cur.prog_id = prog_id;
		error_clear();
		return 0;
	}
	if (!attached)
		snprintf(st->problem, sizeof(st->problem),
			 "the link of program %u was detached outside steer: no policy runs; 'steer detach' removes this state",
			 prog_id);
	for (size_t i = 0; i < LOADER_NPERSISTENT; i++) {
		state_path(st, loader_persistent[i].pin, path);
		if (access(path, F_OK) < 0 && !st->problem[0])
			snprintf(st->problem, sizeof(st->problem), "'%s' is missing; 'steer detach' removes this state", path);
	}
	struct gens_ctx g = { st, t };
	return _each_entry(st->dir, _drop_other_gen, &g);
}

int state_open(struct rt_state *st, const struct rt_target *t, enum state_mode mode)
{
	const char *bpffs = t->bpffs ? t->bpffs : STEER_BPFFS_DEFAULT;
	char top[PATH_MAX];
	int r;

	memset(st, 0, sizeof(*st));
	st->netns_fd = st->lock_fd = -1;
	error_clear();
	if ((r = _open_netns(st, t->netns ? t->netns : "/proc/self/ns/net")) < 0)
		return r;
	if ((r = _is_bpffs(bpffs)) < 0)
		return error_set(r, "cannot open '%s': %s", bpffs, strerror(EACCES));
	if (r == 0) {
		/* Nothing can be applied where the default place has no BPF filesystem; a named one must be one. */
		if (mode == STATE_READ && !t->bpffs)
			return 0;
		/* Like systemd at boot: the default place gets a BPF filesystem when it has none. */
		if (mode != STATE_CREATE || t->bpffs)
			return error_set(-ENODEV, "'%s' is not a BPF filesystem; mount one with: mount -t bpf bpf %s", bpffs,
					 bpffs);
		if (mount("bpf", bpffs, "bpf", 0, "mode=0700") < 0)
			return error_set(-errno, "cannot mount a BPF filesystem at '%s': %s", bpffs, strerror(errno));
	}
	/* Room is left for the longest name below the directory. */
	int n1 = snprintf(top, sizeof(top), "%s/steer", bpffs);
	int n2 = snprintf(st->dir, sizeof(st->dir) - 64, "%s/%lu", top, (unsigned long)st->netns_ino);
	if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(top) || (size_t)n2 >= sizeof(st->dir) - 64)
		return error_set(-ENAMETOOLONG, "the BPF filesystem path '%s' is too long", bpffs);
	for (;;) {
		struct stat a, b;
		if (mode == STATE_CREATE &&
		    ((mkdir(top, 0700) < 0 && errno != EEXIST) || (mkdir(st->dir, 0700) < 0 && errno != EEXIST)))
			return error_set(errno == EACCES ? -EPERM : -errno, "cannot create '%s': %s", st->dir, strerror(errno));
		st->lock_fd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (st->lock_fd < 0) {
			if (errno == ENOENT && mode == STATE_READ)
				return 0; /* nothing applied */
			/* The state is root's (mode 0700): a permission, not a file, is missing. */
			return error_set(errno == EACCES ? -EPERM : -errno, "cannot open '%s': %s", st->dir, strerror(errno));
		}
		if ((r = _lock(st, t)) < 0)
			return r;
		/* A detach may have removed the directory while this waited: then start again. */
		if (stat(st->dir, &a) == 0 && fstat(st->lock_fd, &b) == 0 && a.st_ino == b.st_ino)
			break;
		close(st->lock_fd);
		st->lock_fd = -1;
	}
	return _recover(st, t);
}

void state_remove_dir(struct rt_state *st)
{
	/* Commands waiting for the lock see the directory gone and start again. */
	rmdir(st->dir);
}

void state_close(struct rt_state *st)
{
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the lock */
	if (st->netns_fd >= 0)
		close(st->netns_fd);
	st->lock_fd = st->netns_fd = -1;
	applied_state_free(&st->cur);
}

int state_gen_create(struct rt_state *st, uint32_t prog_id)
{
	char path[PATH_MAX];

	state_gen_path(st, prog_id, NULL, path);
	if (mkdir(path, 0700) < 0)
		return error_set(-errno, "cannot create '%s': %s", path, strerror(errno));
	return 0;
}

int state_in_netns(struct rt_state *st, int (*fn)(void *ctx), void *ctx)
{
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int r;

	if (self < 0)
		return error_set(-errno, "cannot open this thread's network namespace: %s", strerror(errno));
	if (setns(st->netns_fd, CLONE_NEWNET) < 0)
		return error_set(-errno, "cannot enter the target network namespace: %s", strerror(errno));
	r = fn(ctx);
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* stranded in another namespace: nothing after this would be right */
	return r;
}

int state_map_open(const struct rt_state *st, const char *name, uint32_t value_size, uint32_t entries)
{
	char path[PATH_MAX], map[BPF_OBJ_NAME_LEN];
	int fd, r;

	state_path(st, name, path);
	if ((fd = bpf_obj_get(path)) >= 0)
		return fd;
	snprintf(map, sizeof(map), "steer_%s", name);
	if ((fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, map, sizeof(uint32_t), value_size, entries, NULL)) < 0)
		return error_set(-errno, "cannot create '%s': %s", path, strerror(errno));
	if (bpf_obj_pin(fd, path) < 0) {
		r = error_set(-errno, "cannot pin '%s': %s", path, strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}
