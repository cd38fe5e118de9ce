#include "wire.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

void wire_bytes(wire_buf *w, const void *p, size_t len)
{
	vec_reserve(w, w->n + len);
	if (len)
		memcpy(w->v + w->n, p, len);
	w->n += len;
}

void wire_u32s(wire_buf *w, const uint32_t *v, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	wire_bytes(w, v, n * sizeof(uint32_t));
#else
	for (size_t i = 0; i < n; i++)
		wire_u32(w, v[i]);
#endif
}

void wire_u8(wire_buf *w, uint8_t v)
{
	wire_bytes(w, &v, 1);
}

void wire_u32(wire_buf *w, uint32_t v)
{
	v = htole32(v);
	wire_bytes(w, &v, sizeof(v));
}

void wire_u64(wire_buf *w, uint64_t v)
{
	v = htole64(v);
	wire_bytes(w, &v, sizeof(v));
}

void wire_u128(wire_buf *w, u128 v)
{
	wire_u64(w, (uint64_t)v);
	wire_u64(w, (uint64_t)(v >> 64));
}

void wire_str(wire_buf *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	wire_u32(w, (uint32_t)n);
	wire_bytes(w, s, n);
}

const void *wire_get_bytes(struct wire_reader *r, size_t len)
{
	if (r->bad || len > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const void *p = r->p + r->off;
	r->off += len;
	return p;
}

uint8_t wire_get_u8(struct wire_reader *r)
{
	const uint8_t *p = wire_get_bytes(r, 1);

	return p ? *p : 0;
}

uint32_t wire_get_u32(struct wire_reader *r)
{
	const void *p = wire_get_bytes(r, 4);
	uint32_t v = 0;

	if (p)
		memcpy(&v, p, 4);
	return le32toh(v);
}

uint64_t wire_get_u64(struct wire_reader *r)
{
	const void *p = wire_get_bytes(r, 8);
	uint64_t v = 0;

	if (p)
		memcpy(&v, p, 8);
	return le64toh(v);
}

u128 wire_get_u128(struct wire_reader *r)
{
	u128 lo = wire_get_u64(r);

	return lo | (u128)wire_get_u64(r) << 64;
}

void wire_get_u32s(struct wire_reader *r, uint32_t *v, size_t n)
{
	const uint8_t *p = n <= (r->len - r->off) / sizeof(uint32_t) ? wire_get_bytes(r, n * sizeof(uint32_t)) : NULL;

	if (!p) {
		r->bad = true;
		return;
	}
	memcpy(v, p, n * sizeof(uint32_t));
	for (size_t i = 0; i < n; i++)
		v[i] = le32toh(v[i]);
}

char *wire_get_str(struct wire_reader *r)
{
	uint32_t n = wire_get_u32(r);
	const char *p = wire_get_bytes(r, n);
	char *s;

	if (!p)
		return NULL;
	if (memchr(p, '\0', n) || !(s = malloc((size_t)n + 1))) {
		r->bad = true;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

uint32_t wire_get_count(struct wire_reader *r, size_t item)
{
	uint32_t n = wire_get_u32(r);

	if (!r->bad && item && (uint64_t)n * item > r->len - r->off)
		r->bad = true;
	return r->bad ? 0 : n;
}
