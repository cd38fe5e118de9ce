#include "built.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "error.h"

/*
 * The file: a fixed header, then the body compressed with zlib.
 *
 *   0   "STEERBP\n"           magic
 *   8   u32 format            BUILT_FORMAT; another one is refused by name
 *   12  char built_by[20]     the steer version that wrote it, NUL-padded
 *   32  u64 body_len          the body's length before compression
 *   40  u32 crc32             of the compressed body
 *   44  u32 reserved          0
 *   48  the compressed body:  manifest, rule records, object, data
 */
#define BUILT_MAGIC "STEERBP\n"
#define BUILT_FORMAT 2u
#define BUILT_HEADER 48
/* No policy steer can apply comes near this; a header claiming more is damaged. */
#define BUILT_MAX_BODY (8ull << 30)

static const char *const _strategies[] = { [STRATEGY_AUTO] = "auto", [STRATEGY_TREE] = "tree",
					   [STRATEGY_TABLE] = "table" };

const char *strategy_name(enum strategy s)
{
	return (unsigned)s < ARRAY_SIZE(_strategies) ? _strategies[s] : "?";
}

int strategy_parse(const char *s, enum strategy *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(_strategies); i++) {
		if (strcmp(s, _strategies[i]) == 0) {
			*out = (enum strategy)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void _strv_free(char **v, uint32_t n)
{
	for (uint32_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void _forward_free(struct built_forward *f)
{
	for (uint32_t i = 0; f && i < f->nnames; i++)
		free(f->names[i].name);
	if (f)
		free(f->names);
	free(f);
}

void built_manifest_free(struct built_manifest *m)
{
	free(m->policy);
	free(m->built_by);
	_strv_free(m->files, m->nfiles);
	_strv_free(m->ifaces, m->nifaces);
	for (uint32_t i = 0; m->services && i < m->nservices; i++) {
		free(m->services[i].name);
		free(m->services[i].listen);
		free(m->services[i].udp_to);
		_forward_free(m->services[i].forward);
	}
	free(m->services);
	memset(m, 0, sizeof(*m));
}

void built_policy_free(struct built_policy *b)
{
	built_manifest_free(&b->m);
	free(b->rules);
	free(b->obj);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void _put_strv(wire_buf *w, char *const *v, uint32_t n)
{
	wire_u32(w, n);
	for (uint32_t i = 0; i < n; i++)
		wire_str(w, v[i]);
}

static char **_get_strv(struct wire_reader *r, uint32_t *n)
{
	*n = wire_get_count(r, 4);
	char **v = calloc(*n + 1, sizeof(char *));

	if (!v) {
		r->bad = true;
		*n = 0;
		return NULL;
	}
	for (uint32_t i = 0; i < *n && !r->bad; i++)
		v[i] = wire_get_str(r);
	return v;
}

static void _put_listen(wire_buf *w, const struct built_listen *v, uint32_t n)
{
	wire_u32(w, n);
	for (uint32_t k = 0; k < n; k++) {
		wire_u8(w, v[k].proto);
		wire_u8(w, v[k].family);
		wire_u32(w, v[k].port);
		wire_u128(w, v[k].addr);
	}
}

static struct built_listen *_get_listen(struct wire_reader *r, uint32_t *n)
{
	*n = wire_get_count(r, 22);
	struct built_listen *v = r->bad ? NULL : calloc(*n + 1, sizeof(*v));

	if (!v)
		r->bad = true;
	for (uint32_t k = 0; k < *n && !r->bad; k++) {
		v[k].proto = wire_get_u8(r);
		v[k].family = wire_get_u8(r);
		v[k].port = (uint16_t)wire_get_u32(r);
		v[k].addr = wire_get_u128(r);
	}
	return v;
}

uint32_t built_first_forward(const struct built_manifest *m)
{
	uint32_t i = 0;

	while (i < m->nservices && !m->services[i].forward)
		i++;
	return i;
}

const struct upstream *built_forward_choose(const struct built_forward *f, const char *name)
{
	const struct built_fwd_name *best = NULL;
	size_t len = name ? strlen(name) : 0, best_len = 0;

	for (uint32_t i = 0; name && i < f->nnames; i++) {
		const struct built_fwd_name *n = &f->names[i];
		size_t nl = strlen(n->name);
		if (!n->wildcard && !strcmp(n->name, name))
			return &n->up;
		/* "*.b.example" is every name that ends in ".b.example". */
		if (n->wildcard && len > nl + 1 && name[len - nl - 1] == '.' && !strcmp(name + len - nl, n->name) &&
		    nl >= best_len) {
			best = n;
			best_len = nl;
		}
	}
	return best ? &best->up : &f->up;
}

static void _put_upstream(wire_buf *w, const struct upstream *u)
{
	wire_u8(w, u->drop);
	wire_u8(w, u->family);
	wire_u32(w, u->port);
	wire_u128(w, u->addr);
}

static void _get_upstream(struct wire_reader *r, struct upstream *u)
{
	u->drop = wire_get_u8(r) != 0;
	u->family = wire_get_u8(r);
	u->port = (uint16_t)wire_get_u32(r);
	u->addr = wire_get_u128(r);
}

static void _put_forward(wire_buf *w, const struct built_forward *f)
{
	wire_u8(w, f != NULL);
	if (!f)
		return;
	wire_u8(w, (uint8_t)f->by);
	_put_upstream(w, &f->up);
	wire_u32(w, f->nnames);
	for (uint32_t i = 0; i < f->nnames; i++) {
		wire_str(w, f->names[i].name);
		wire_u8(w, f->names[i].wildcard);
		_put_upstream(w, &f->names[i].up);
	}
}

static struct built_forward *_get_forward(struct wire_reader *r)
{
	if (!wire_get_u8(r) || r->bad)
		return NULL;
	struct built_forward *f = calloc(1, sizeof(*f));
	if (!f) {
		r->bad = true;
		return NULL;
	}
	f->by = (enum forward_by)wire_get_u8(r);
	_get_upstream(r, &f->up);
	f->nnames = wire_get_count(r, 27);
	if (r->bad || f->by > FWD_HOST || !(f->names = calloc(f->nnames + 1, sizeof(*f->names)))) {
		r->bad = true;
		f->nnames = 0;
		return f;
	}
	for (uint32_t i = 0; i < f->nnames && !r->bad; i++) {
		f->names[i].name = wire_get_str(r);
		f->names[i].wildcard = wire_get_u8(r) != 0;
		_get_upstream(r, &f->names[i].up);
	}
	return f;
}

void built_manifest_put(wire_buf *w, const struct built_manifest *m)
{
	wire_str(w, m->policy);
	wire_str(w, m->sha256);
	wire_str(w, m->built_by);
	wire_u8(w, (uint8_t)m->strategy);
	wire_u32(w, m->nrules);
	_put_strv(w, m->files, m->nfiles);
	_put_strv(w, m->ifaces, m->nifaces);
	wire_u32(w, m->nservices);
	for (uint32_t i = 0; i < m->nservices; i++) {
		const struct built_service *s = &m->services[i];
		wire_str(w, s->name);
		wire_u8(w, s->protos);
		wire_u8(w, s->used_slots);
		_put_listen(w, s->listen, s->nlisten);
		wire_u8(w, s->udp_any);
		_put_listen(w, s->udp_to, s->nudp_to);
		_put_forward(w, s->forward);
	}
}

bool built_manifest_get(struct wire_reader *r, struct built_manifest *m)
{
	_cleanup_free_ char *sha = NULL;

	memset(m, 0, sizeof(*m));
	m->policy = wire_get_str(r);
	sha = wire_get_str(r);
	m->built_by = wire_get_str(r);
	m->strategy = (enum strategy)wire_get_u8(r);
	m->nrules = wire_get_u32(r);
	m->files = _get_strv(r, &m->nfiles);
	m->ifaces = _get_strv(r, &m->nifaces);
	m->nservices = wire_get_count(r, 14);
	if (!r->bad && !(m->services = calloc(m->nservices + 1, sizeof(*m->services))))
		r->bad = true;
	for (uint32_t i = 0; i < m->nservices && !r->bad; i++) {
		struct built_service *s = &m->services[i];
		s->name = wire_get_str(r);
		s->protos = wire_get_u8(r);
		s->used_slots = wire_get_u8(r);
		s->listen = _get_listen(r, &s->nlisten);
		s->udp_any = wire_get_u8(r) != 0;
		s->udp_to = _get_listen(r, &s->nudp_to);
		s->forward = _get_forward(r);
	}
	if (!r->bad && (!sha || strlen(sha) >= sizeof(m->sha256) || m->strategy > STRATEGY_TABLE))
		r->bad = true;
	if (r->bad) {
		built_manifest_free(m);
		return false;
	}
	memcpy(m->sha256, sha, strlen(sha) + 1);
	return true;
}

/* The hex SHA-256 of the N parts P[i] of LEN[i] bytes. */
static void _sha256_parts(const void *const *p, const size_t *len, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL))
		abort();
	for (size_t i = 0; i < n; i++)
		EVP_DigestUpdate(c, p[i], len[i]);
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	for (unsigned i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

void built_sha256_hex(const void *p, size_t len, char out[65])
{
	_sha256_parts(&p, &len, 1, out);
}

void built_digest(const struct built_policy *b, char out[65])
{
	_cleanup_vec_ wire_buf w = { 0 };

	built_manifest_put(&w, &b->m);
	const void *p[] = { w.v, b->rules, b->obj, b->data };
	size_t len[] = { w.n, (size_t)b->m.nrules * sizeof(*b->rules), b->objlen,
			 (size_t)b->data_chunks * STEER_CHUNK_ENTRIES * sizeof(uint32_t) };
	_sha256_parts(p, len, 4, out);
}

static void _body(const struct built_policy *b, wire_buf *w)
{
	/* The big parts' size up front: a million rules' table is a few hundred MB, not to be copied as it grows. */
	vec_reserve(w, (size_t)b->m.nrules * sizeof(*b->rules) + b->objlen +
			       (size_t)b->data_chunks * STEER_CHUNK_ENTRIES * sizeof(uint32_t) + 65536);
	built_manifest_put(w, &b->m);
	/* A rule record is four u32s: the records go as one run of them. */
	_Static_assert(sizeof(struct steer_rule_record) == 4 * sizeof(uint32_t), "a rule record is four u32s");
	wire_u32s(w, (const uint32_t *)b->rules, (size_t)b->m.nrules * 4);
	wire_u64(w, b->objlen);
	wire_bytes(w, b->obj, b->objlen);
	wire_u32(w, b->data_chunks);
	wire_u32s(w, b->data, (size_t)b->data_chunks * STEER_CHUNK_ENTRIES);
}

static int _write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = write(fd, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

int built_write(const struct built_policy *b, const char *path)
{
	wire_buf body = { 0 };
	uint8_t head[BUILT_HEADER] = { 0 };
	_cleanup_free_ uint8_t *z = NULL;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	_body(b, &body);
	uLongf zlen = compressBound(body.n);
	z = malloc(zlen);
	if (!z || compress2(z, &zlen, body.v, body.n, 1) != Z_OK) {
		vec_free(&body);
		return error_set(-ENOMEM, "cannot compress the built policy");
	}
	uint32_t format = htole32(BUILT_FORMAT), crc = htole32((uint32_t)crc32_z(0, z, zlen));
	uint64_t len = htole64(body.n);
	vec_free(&body);
	memcpy(head, BUILT_MAGIC, 8);
	memcpy(head + 8, &format, 4);
	strncpy((char *)head + 12, STEER_VERSION, 19);
	memcpy(head + 32, &len, 8);
	memcpy(head + 40, &crc, 4);

	if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
		abort();
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return error_set(-errno, "cannot write '%s': %s", path, strerror(errno));
	fchmod(fd, 0644);
	if ((r = _write_all(fd, head, sizeof(head))) < 0 || (r = _write_all(fd, z, zlen)) < 0 ||
	    (fsync(fd) < 0 && (r = -errno)) || (rename(tmp, path) < 0 && (r = -errno))) {
		unlink(tmp);
		return error_set(r, "cannot write '%s': %s", path, strerror(-r));
	}
	return 0;
}

static int _read_file(const char *path, uint8_t **out, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;

	if (fd < 0 || fstat(fd, &sb) < 0)
		return error_set(-errno, "cannot read '%s': %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return error_set(-EINVAL, "'%s' is not a regular file", path);
	if ((uint64_t)sb.st_size > BUILT_MAX_BODY)
		return error_set(-EBADMSG, "'%s' is too large to be a built policy", path);
	_cleanup_free_ uint8_t *buf = malloc((size_t)sb.st_size + 1);
	size_t got = 0;
	if (!buf)
		return error_set(-ENOMEM, "cannot read '%s': out of memory", path);
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return error_set(n < 0 ? -errno : -EIO, "cannot read '%s': %s", path,
					 n < 0 ? strerror(errno) : "it shrank while being read");
		got += (size_t)n;
	}
	*out = TAKE_PTR(buf);
	*len = got;
	return 0;
}

bool built_sniff(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	char magic[8];
	struct stat sb;

	return fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && read(fd, magic, 8) == 8 &&
	       memcmp(magic, BUILT_MAGIC, 8) == 0;
}

static int _parse(const char *path, const uint8_t *p, size_t len, struct built_policy *b)
{
	struct wire_reader r = { .p = p, .len = len };

	if (!built_manifest_get(&r, &b->m))
		return error_set(-EBADMSG, "'%s' is damaged: its manifest does not read", path);
	if (!(b->rules = calloc(b->m.nrules + 1, sizeof(*b->rules))) || (uint64_t)b->m.nrules * 16 > len - r.off)
		return error_set(-EBADMSG, "'%s' is damaged: its rules do not read", path);
	wire_get_u32s(&r, (uint32_t *)b->rules, (size_t)b->m.nrules * 4);
	for (uint32_t i = 0; i < b->m.nrules && !r.bad; i++)
		if (b->rules[i].file >= b->m.nfiles)
			r.bad = true;
	uint64_t objlen = wire_get_u64(&r);
	const void *obj = objlen <= len ? wire_get_bytes(&r, (size_t)objlen) : NULL;
	if (!obj || !(b->obj = malloc(objlen + 1)))
		return error_set(-EBADMSG, "'%s' is damaged: its program does not read", path);
	memcpy(b->obj, obj, objlen);
	b->objlen = objlen;
	b->data_chunks = wire_get_count(&r, STEER_CHUNK_ENTRIES * 4);
	if (!r.bad && b->data_chunks) {
		size_t n = (size_t)b->data_chunks * STEER_CHUNK_ENTRIES;
		if (!(b->data = malloc(n * sizeof(uint32_t))))
			return error_set(-ENOMEM, "cannot read '%s': out of memory", path);
		wire_get_u32s(&r, b->data, n);
	}
	if (r.bad || r.off != len)
		return error_set(-EBADMSG, "'%s' is damaged: its contents do not read", path);
	return 0;
}

int built_read(const char *path, struct built_policy *out)
{
	_cleanup_free_ uint8_t *file = NULL, *body = NULL;
	size_t len = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = _read_file(path, &file, &len)) < 0)
		return r;
	if (len < 8 || memcmp(file, BUILT_MAGIC, 8) != 0)
		return error_set(-ENOEXEC, "'%s' is not a built policy (made by 'steer compile -o')", path);
	if (len < BUILT_HEADER)
		return error_set(-EBADMSG, "'%s' is truncated: its header is incomplete", path);
	uint32_t format, crc;
	uint64_t blen;
	char by[21] = { 0 };
	memcpy(&format, file + 8, 4);
	memcpy(by, file + 12, 20);
	memcpy(&blen, file + 32, 8);
	memcpy(&crc, file + 40, 4);
	if (le32toh(format) != BUILT_FORMAT)
		return error_set(-EPROTO, "'%s' was built by steer %s in format %u; this steer %s reads format %u: build it again with this steer",
				 path, by, le32toh(format), STEER_VERSION, BUILT_FORMAT);
	blen = le64toh(blen);
	if ((uint32_t)crc32_z(0, file + BUILT_HEADER, len - BUILT_HEADER) != le32toh(crc) || blen > BUILT_MAX_BODY)
		return error_set(-EBADMSG, "'%s' is damaged or truncated: its checksum does not match", path);
	uLongf got = (uLongf)blen;
	if (!(body = malloc(blen + 1)))
		return error_set(-ENOMEM, "cannot read '%s': out of memory", path);
	if (uncompress(body, &got, file + BUILT_HEADER, len - BUILT_HEADER) != Z_OK || got != blen)
		return error_set(-EBADMSG, "'%s' is damaged: its body does not decompress", path);
	free(TAKE_PTR(file));
	if ((r = _parse(path, body, blen, out)) < 0)
		built_policy_free(out);
	return r;
}
