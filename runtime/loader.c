#include "loader.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cleanup.h"
#include "error.h"

const struct persistent_map loader_persistent[LOADER_NPERSISTENT] = {
	[LOADER_SOCKETS] = { STEER_NAME(STEER_MAP_SOCKETS), "sockets" },
	[LOADER_MISSED] = { STEER_NAME(STEER_MAP_MISSED), "missed" },
	[LOADER_MONITOR] = { STEER_NAME(STEER_MAP_MONITOR), "monitor" },
	[LOADER_EVENTS] = { STEER_NAME(STEER_MAP_EVENTS), "events" },
	[LOADER_ACTIVE] = { ".bss", "monitors_active" },
};

/* libbpf's messages while loading, kept to explain a failure. */
static FILE *_log;

__attribute__((format(printf, 2, 0))) static int _print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (_log && level != LIBBPF_DEBUG)
		vfprintf(_log, fmt, ap);
	return 0;
}

/* Offset and size of global VAR in the object's .rodata, from its BTF. */
static int _rodata_var(struct bpf_object *obj, const char *var, uint32_t *off, uint32_t *size)
{
	const struct btf *btf = bpf_object__btf(obj);
	int id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -ENOENT;

	if (id < 0)
		return -ENOENT;
	const struct btf_type *sec = btf__type_by_id(btf, (uint32_t)id);
	const struct btf_var_secinfo *vs = btf_var_secinfos(sec);
	for (unsigned i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *v = btf__type_by_id(btf, vs->type);
		if (strcmp(btf__name_by_offset(btf, v->name_off), var) == 0) {
			*off = vs->offset;
			*size = vs->size;
			return 0;
		}
	}
	return -ENOENT;
}

static int _set_rodata(struct bpf_object *obj, const struct built_policy *b, const struct load_opts *o)
{
	struct bpf_map *ro = bpf_object__find_map_by_name(obj, ".rodata");
	uint32_t off, size;
	size_t len;

	if (!ro)
		return -ENOENT;
	const void *init = bpf_map__initial_value(ro, &len);
	_cleanup_free_ char *data = malloc(len);
	if (!init || !data)
		return -ENOMEM;
	memcpy(data, init, len);
	if (_rodata_var(obj, STEER_NAME(STEER_VAR_SERVICE_SLOT), &off, &size) < 0 ||
	    size < b->m.nservices * sizeof(uint32_t) || off + size > len)
		return -ENOENT;
	memcpy(data + off, o->service_slot, b->m.nservices * sizeof(uint32_t));
	if (_rodata_var(obj, STEER_NAME(STEER_VAR_IFINDEX), &off, &size) < 0 || size < b->m.nifaces * sizeof(uint32_t) ||
	    off + size > len)
		return -ENOENT;
	memcpy(data + off, o->ifindex, b->m.nifaces * sizeof(uint32_t));
	if (_rodata_var(obj, STEER_NAME(STEER_VAR_GENERATION), &off, &size) < 0 || size != sizeof(uint32_t) ||
	    off + size > len)
		return -ENOENT;
	memcpy(data + off, &o->generation, sizeof(uint32_t));
	return bpf_map__set_initial_value(ro, data, len);
}

/*
 * Fills the table strategy's data map through mmap: one copy, no syscall per
 * entry. The map is new and not yet used by any attached program.
 */
static int _fill_data(struct bpf_object *obj, const struct built_policy *b)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, STEER_NAME(STEER_MAP_DATA));
	size_t want = (size_t)b->data_chunks * STEER_CHUNK_ENTRIES * sizeof(uint32_t);

	if (!m)
		return b->data ? -ENOENT : 0;
	size_t len = (size_t)bpf_map__max_entries(m) * bpf_map__value_size(m);
	if (!b->data || want > len)
		return -EINVAL;
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);
	if (mem == MAP_FAILED)
		return -errno;
	memcpy(mem, b->data, want);
	munmap(mem, len);
	return 0;
}

/* The verifier's (or libbpf's) last complaint: the line before the load-log footer. */
static char *_summary(const char *log, int err)
{
	const char *end = strstr(log, "-- END PROG LOAD LOG --");
	const char *last = NULL, *p = log, *stop = end ? end : log + strlen(log);
	char *out;

	while (p < stop) {
		const char *nl = memchr(p, '\n', (size_t)(stop - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(stop - p);
		if (n > 0 && strncmp(p, "libbpf: prog", 12) != 0 && strncmp(p, "processed ", 10) != 0)
			last = p;
		p = nl ? nl + 1 : stop;
	}
	if (!last) {
		if (asprintf(&out, "%s", strerror(-err)) < 0)
			abort();
		return out;
	}
	const char *nl = memchr(last, '\n', (size_t)(stop - last));
	if (asprintf(&out, "%.*s", (int)(nl ? nl - last : stop - last), last) < 0)
		abort();
	return out;
}

/* Opens, prepares and loads; what goes wrong is written to _log. 0 or -errno. */
static int _load(const struct built_policy *b, const struct load_opts *o, struct rt_program *out)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "steer");
	int r;

	out->obj = bpf_object__open_mem(b->obj, b->objlen, &oo);
	if (!out->obj)
		return -errno;
	if (!loader_prog(out, STEER_NAME(STEER_PROG_LOOKUP)) || !loader_map(out, STEER_NAME(STEER_MAP_HITS))) {
		fprintf(_log, "the object is not a steer program: it has no %s program or no %s map\n",
			STEER_NAME(STEER_PROG_LOOKUP), STEER_NAME(STEER_MAP_HITS));
		return -ENOEXEC;
	}
	if ((r = _set_rodata(out->obj, b, o)) < 0) {
		fprintf(_log, "cannot set the program's load-time constants: %s\n", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < LOADER_NPERSISTENT; i++) {
		struct bpf_map *m = loader_map(out, loader_persistent[i].map);
		if (m && o->persistent_fd && o->persistent_fd[i] >= 0 && (r = bpf_map__reuse_fd(m, o->persistent_fd[i])) < 0) {
			fprintf(_log, "cannot share %s with the new program: %s\n", loader_persistent[i].map, strerror(-r));
			return r;
		}
	}
	if ((r = bpf_object__load(out->obj)) < 0)
		return r;
	if ((r = _fill_data(out->obj, b)) < 0) {
		fprintf(_log, "cannot fill the program's tables: %s\n", strerror(-r));
		return r;
	}
	return 0;
}

int loader_load(const struct built_policy *b, const struct load_opts *o, struct rt_program *out)
{
	_cleanup_free_ char *logbuf = NULL;
	size_t loglen = 0;

	memset(out, 0, sizeof(*out));
	_log = open_memstream(&logbuf, &loglen);
	libbpf_print_fn_t old = libbpf_set_print(_print);
	int r = _load(b, o, out);
	libbpf_set_print(old);
	fclose(_log);
	_log = NULL;
	if (r == 0)
		return 0;
	if (o->verbose && logbuf && *logbuf) {
		error_set(r, "the kernel refused the program: %s", logbuf);
	} else {
		_cleanup_free_ char *line = _summary(logbuf ? logbuf : "", r);
		error_set(r, "the kernel refused the program: %s%s", line, o->verbose ? "" : " (--verbose shows the verifier's log)");
	}
	loader_close(out);
	return r;
}

void loader_close(struct rt_program *p)
{
	bpf_object__close(p->obj);
	memset(p, 0, sizeof(*p));
}

struct bpf_map *loader_map(const struct rt_program *p, const char *name)
{
	return p->obj ? bpf_object__find_map_by_name(p->obj, name) : NULL;
}

struct bpf_program *loader_prog(const struct rt_program *p, const char *name)
{
	return p->obj ? bpf_object__find_program_by_name(p->obj, name) : NULL;
}

uint32_t loader_prog_id(int fd)
{
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

/* Keys per batch: a syscall per few thousand entries, not per entry, with a bounded buffer. */
#define READ_BATCH 4096

int loader_read_array(int fd, uint32_t n, size_t value_size, void (*fn)(void *ctx, uint32_t key, const void *v),
		      void *ctx)
{
	_cleanup_free_ uint32_t *keys = calloc(READ_BATCH, sizeof(uint32_t));
	_cleanup_free_ uint8_t *vals = calloc(READ_BATCH, value_size);
	uint32_t in = 0, next = 0;

	if (!keys || !vals)
		return -ENOMEM;
	for (uint32_t done = 0; done < n;) {
		uint32_t count = READ_BATCH;
		int r = bpf_map_lookup_batch(fd, done ? &in : NULL, &next, keys, vals, &count, NULL);
		if (r < 0 && errno != ENOENT)
			return -errno;
		for (uint32_t i = 0; i < count; i++)
			if (keys[i] < n)
				fn(ctx, keys[i], vals + (size_t)i * value_size);
		done += count;
		in = next;
		if (r < 0 || count == 0)
			break; /* ENOENT: that was the last batch */
	}
	return 0;
}

struct counters_ctx {
	uint64_t *out;
	int ncpus;
};

static void _sum(void *ctx, uint32_t key, const void *v)
{
	struct counters_ctx *c = ctx;
	const uint64_t *per = v;

	c->out[key] = 0;
	for (int i = 0; i < c->ncpus; i++)
		c->out[key] += per[i];
}

int loader_read_counters(int fd, uint32_t n, uint64_t *out)
{
	struct counters_ctx c = { out, libbpf_num_possible_cpus() };

	if (c.ncpus <= 0)
		return c.ncpus < 0 ? c.ncpus : -EINVAL;
	memset(out, 0, (size_t)n * sizeof(*out));
	return loader_read_array(fd, n, (size_t)c.ncpus * sizeof(uint64_t), _sum, &c);
}

static void _copy_record(void *ctx, uint32_t key, const void *v)
{
	memcpy((struct steer_rule_record *)ctx + key, v, sizeof(struct steer_rule_record));
}

int loader_read_rules(int fd, uint32_t n, struct steer_rule_record *out)
{
	return loader_read_array(fd, n, sizeof(*out), _copy_record, out);
}

static void _copy_u64(void *ctx, uint32_t key, const void *v)
{
	memcpy((uint64_t *)ctx + key, v, sizeof(uint64_t));
}

int loader_read_u64(int fd, uint32_t n, uint64_t *out)
{
	return loader_read_array(fd, n, sizeof(*out), _copy_u64, out);
}
