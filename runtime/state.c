#include "state.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cleanup.h"

#define BPF_FS_MAGIC 0xcafe4a11
#define META_CHUNK 65536 /* bytes per element of the metadata map */
#define META_NAME "meta"

/* Everything apply pins, and what a failed apply may have left staged. */
static const char *const _pins[] = { "link", "sockets", "hits", "rules", META_NAME,
				     "hits_new", "rules_new", META_NAME "_new" };

__attribute__((format(printf, 3, 4))) static int _fail(struct rt_state *st, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	return err;
}

static bool _is_bpffs(const char *dir)
{
	struct statfs sf;

	return statfs(dir, &sf) == 0 && (unsigned long)sf.f_type == BPF_FS_MAGIC;
}

int state_open(struct rt_state *st, const struct rt_target *t, enum state_mode mode)
{
	const char *bpffs = t->bpffs ? t->bpffs : STEER_BPFFS_DEFAULT;
	const char *netns = t->netns ? t->netns : "/proc/self/ns/net";
	char top[PATH_MAX];
	struct stat sb;

	memset(st, 0, sizeof(*st));
	st->netns_fd = st->lock_fd = -1;
	st->netns_fd = open(netns, O_RDONLY | O_CLOEXEC);
	if (st->netns_fd < 0)
		return _fail(st, -errno, "cannot open network namespace '%s': %s", netns, strerror(errno));
	if (fstat(st->netns_fd, &sb) < 0)
		return _fail(st, -errno, "cannot stat '%s': %s", netns, strerror(errno));
	st->netns_ino = sb.st_ino;

	if (!_is_bpffs(bpffs)) {
		/* Like systemd at boot: the default place gets a BPF filesystem when it has none. */
		if (mode != STATE_CREATE || t->bpffs || mount("bpf", bpffs, "bpf", 0, "mode=0700") < 0)
			return _fail(st, mode == STATE_CREATE ? -ENOTDIR : -ENOENT,
				     "'%s' is not a BPF filesystem; mount one with: mount -t bpf bpf %s", bpffs, bpffs);
	}
	/* Room is left for the longest pin name after the directory. */
	int n1 = snprintf(top, sizeof(top), "%s/steer", bpffs);
	int n2 = snprintf(st->dir, sizeof(st->dir) - 32, "%s/%lu", top, (unsigned long)st->netns_ino);
	if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(top) || (size_t)n2 >= sizeof(st->dir) - 32)
		return _fail(st, -ENAMETOOLONG, "the BPF filesystem path '%s' is too long", bpffs);
	if (mode == STATE_CREATE) {
		if ((mkdir(top, 0700) < 0 && errno != EEXIST) || (mkdir(st->dir, 0700) < 0 && errno != EEXIST))
			return _fail(st, -errno, "cannot create '%s': %s", st->dir, strerror(errno));
	}
	st->lock_fd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->lock_fd < 0) {
		if (errno == ENOENT)
			return _fail(st, -ENOENT, "no policy is applied in network namespace %lu (%s)",
				     (unsigned long)st->netns_ino, netns);
		return _fail(st, -errno, "cannot open '%s': %s", st->dir, strerror(errno));
	}
	if (flock(st->lock_fd, mode == STATE_READ ? LOCK_SH : LOCK_EX) < 0)
		return _fail(st, -errno, "cannot lock '%s': %s", st->dir, strerror(errno));
	return 0;
}

void state_close(struct rt_state *st)
{
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the lock */
	if (st->netns_fd >= 0)
		close(st->netns_fd);
	st->lock_fd = st->netns_fd = -1;
}

void state_path(const struct rt_state *st, const char *name, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s/%s", st->dir, name);

	if (n < 0 || n >= PATH_MAX)
		abort(); /* state_open left room for every pin name */
}

int state_remove(struct rt_state *st)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(_pins); i++) {
		state_path(st, _pins[i], path);
		if (unlink(path) < 0 && errno != ENOENT)
			return _fail(st, -errno, "cannot remove '%s': %s", path, strerror(errno));
	}
	if (rmdir(st->dir) < 0 && errno != ENOENT)
		return _fail(st, -errno, "cannot remove '%s': %s", st->dir, strerror(errno));
	return 0;
}

int state_meta_read(struct rt_state *st, json_object **out)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL, *chunk = NULL;
	uint64_t len;

	state_path(st, META_NAME, path);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return _fail(st, -errno, "no policy metadata at '%s': %s", path, strerror(errno));
	chunk = malloc(META_CHUNK);
	if (!chunk)
		return -ENOMEM;
	/* Element 0 starts with the document's length. */
	uint32_t key = 0;
	if (bpf_map_lookup_elem(fd, &key, chunk) < 0)
		return _fail(st, -errno, "cannot read '%s': %s", path, strerror(errno));
	memcpy(&len, chunk, sizeof(len));
	text = malloc(len + 1);
	if (!text)
		return -ENOMEM;
	for (uint64_t off = 0; off < len; key++) {
		size_t skip = key == 0 ? sizeof(len) : 0, n = META_CHUNK - skip;
		if (key && bpf_map_lookup_elem(fd, &key, chunk) < 0)
			return _fail(st, -errno, "cannot read '%s': %s", path, strerror(errno));
		if (n > len - off)
			n = (size_t)(len - off);
		memcpy(text + off, chunk + skip, n);
		off += n;
	}
	text[len] = '\0';
	*out = json_tokener_parse(text);
	if (!*out)
		return _fail(st, -EBADMSG, "the policy metadata at '%s' is damaged", path);
	return 0;
}

int state_meta_stage(struct rt_state *st, json_object *meta)
{
	const char *text = json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN);
	uint64_t len = strlen(text);
	uint32_t nchunks = (uint32_t)((len + sizeof(len) + META_CHUNK - 1) / META_CHUNK);
	char tmp[PATH_MAX];
	_cleanup_free_ char *chunk = calloc(1, META_CHUNK);
	_cleanup_close_ int fd = -1;

	if (!chunk)
		return -ENOMEM;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "steer_meta", sizeof(uint32_t), META_CHUNK, nchunks, NULL);
	if (fd < 0)
		return _fail(st, -errno, "cannot create the metadata map: %s", strerror(errno));
	for (uint32_t key = 0, off = 0; key < nchunks; key++) {
		size_t skip = key == 0 ? sizeof(len) : 0, n = META_CHUNK - skip;
		memset(chunk, 0, META_CHUNK);
		if (key == 0)
			memcpy(chunk, &len, sizeof(len));
		if (n > len - off)
			n = (size_t)(len - off);
		memcpy(chunk + skip, text + off, n);
		off += (uint32_t)n;
		if (bpf_map_update_elem(fd, &key, chunk, BPF_ANY) < 0)
			return _fail(st, -errno, "cannot write the metadata map: %s", strerror(errno));
	}
	state_path(st, META_NAME "_new", tmp);
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp) < 0)
		return _fail(st, -errno, "cannot pin '%s': %s", tmp, strerror(errno));
	return 0;
}

int state_in_netns(struct rt_state *st, int (*fn)(void *ctx), void *ctx)
{
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int r;

	if (self < 0)
		return _fail(st, -errno, "cannot open this thread's network namespace: %s", strerror(errno));
	if (setns(st->netns_fd, CLONE_NEWNET) < 0)
		return _fail(st, -errno, "cannot enter the target network namespace: %s", strerror(errno));
	r = fn(ctx);
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* stranded in another namespace: nothing after this would be right */
	return r;
}
