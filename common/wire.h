/*
 * Records as bytes: a writer that appends little-endian integers and
 * length-prefixed strings, and a reader that checks every length against what
 * is left, so a truncated or damaged record reads as damaged, never past its end.
 */
#ifndef STEER_WIRE_H
#define STEER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "vec.h"

typedef VEC(uint8_t) wire_buf;

void wire_u8(wire_buf *w, uint8_t v);
void wire_u32(wire_buf *w, uint32_t v);
void wire_u64(wire_buf *w, uint64_t v);
void wire_u128(wire_buf *w, u128 v);
void wire_str(wire_buf *w, const char *s);
void wire_bytes(wire_buf *w, const void *p, size_t len);
/* N u32s, as N wire_u32 calls would write them (one copy on a little-endian host). */
void wire_u32s(wire_buf *w, const uint32_t *v, size_t n);

struct wire_reader {
	const uint8_t *p;
	size_t len, off;
	bool bad; /* a read went past the end, or a string was malformed: every later read fails too */
};

uint8_t wire_get_u8(struct wire_reader *r);
uint32_t wire_get_u32(struct wire_reader *r);
uint64_t wire_get_u64(struct wire_reader *r);
u128 wire_get_u128(struct wire_reader *r);
/* A malloc'd copy of the next string, or NULL (r->bad set). */
char *wire_get_str(struct wire_reader *r);
/* LEN bytes in place, or NULL (r->bad set). */
const void *wire_get_bytes(struct wire_reader *r, size_t len);
/* N u32s into V, as N wire_get_u32 calls would read them. */
void wire_get_u32s(struct wire_reader *r, uint32_t *v, size_t n);
/* A count of items of at least ITEM bytes each that can still follow; r->bad when it cannot. */
uint32_t wire_get_count(struct wire_reader *r, size_t item);

#endif
