#include "loader.h"

#include <bpf/btf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cleanup.h"

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

static int _set_rodata(struct bpf_object *obj, const struct load_opts *o)
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
	if (_rodata_var(obj, "steer_service_slot", &off, &size) < 0 || size < o->nservices * sizeof(uint32_t))
		return -ENOENT;
	memcpy(data + off, o->service_slot, o->nservices * sizeof(uint32_t));
	if (_rodata_var(obj, "steer_ifindex", &off, &size) < 0 || size < o->nifaces * sizeof(uint32_t))
		return -ENOENT;
	memcpy(data + off, o->ifindex, o->nifaces * sizeof(uint32_t));
	return bpf_map__set_initial_value(ro, data, len);
}

/*
 * Fills the table strategy's data map through mmap: one copy, no syscall per
 * entry. The map is new and not yet used by any attached program.
 */
static int _fill_data(struct bpf_object *obj, const struct load_opts *o)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, "steer_data");

	if (!m)
		return o->data ? -ENOENT : 0;
	size_t len = (size_t)bpf_map__max_entries(m) * bpf_map__value_size(m);
	if (!o->data || (size_t)o->data_chunks * 256 * sizeof(uint32_t) > len)
		return -EINVAL;
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);
	if (mem == MAP_FAILED)
		return -errno;
	memcpy(mem, o->data, (size_t)o->data_chunks * 256 * sizeof(uint32_t));
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

int loader_load(const void *obj, size_t len, const struct load_opts *o, struct rt_program *out, char **err)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "steer");
	char *logbuf = NULL;
	size_t loglen = 0;
	int r;

	memset(out, 0, sizeof(*out));
	*err = NULL;
	_log = open_memstream(&logbuf, &loglen);
	libbpf_print_fn_t old = libbpf_set_print(_print);

	out->obj = bpf_object__open_mem(obj, len, &oo);
	if (!out->obj) {
		r = -errno;
		goto fail;
	}
	out->prog = bpf_object__find_program_by_name(out->obj, "steer_lookup");
	out->sockets = bpf_object__find_map_by_name(out->obj, "steer_sockets");
	out->hits = bpf_object__find_map_by_name(out->obj, "steer_hits");
	if (!out->prog || !out->sockets || !out->hits) {
		r = -ENOENT;
		fprintf(_log, "the object is not a steer program: steer_lookup, steer_sockets or steer_hits is missing\n");
		goto fail;
	}
	if ((r = _set_rodata(out->obj, o)) < 0) {
		fprintf(_log, "cannot set the program's load-time constants: %s\n", strerror(-r));
		goto fail;
	}
	if (o->sockets_fd >= 0 && (r = bpf_map__reuse_fd(out->sockets, o->sockets_fd)) < 0) {
		fprintf(_log, "cannot share the registered sockets with the new program: %s\n", strerror(-r));
		goto fail;
	}
	if ((r = bpf_object__load(out->obj)) < 0)
		goto fail;
	if ((r = _fill_data(out->obj, o)) < 0) {
		fprintf(_log, "cannot fill the program's tables: %s\n", strerror(-r));
		goto fail;
	}
	libbpf_set_print(old);
	fclose(_log);
	_log = NULL;
	free(logbuf);
	return 0;
fail:
	libbpf_set_print(old);
	fclose(_log);
	_log = NULL;
	if (o->verbose) {
		if (asprintf(err, "%s", logbuf && *logbuf ? logbuf : strerror(-r)) < 0)
			abort();
	} else {
		*err = _summary(logbuf ? logbuf : "", r);
	}
	free(logbuf);
	loader_close(out);
	return r;
}

void loader_close(struct rt_program *p)
{
	bpf_object__close(p->obj);
	memset(p, 0, sizeof(*p));
}
