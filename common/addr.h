/* IP addresses and prefixes as host-order integers: IPv4 in the low 32 bits. */
#ifndef STEER_ADDR_H
#define STEER_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 u128;

/* Family indexes, used to size per-family arrays. */
enum family { FAM_V4 = 0, FAM_V6 = 1, FAM__COUNT };

struct prefix {
	u128 addr; /* network address, host bits zero */
	uint8_t family; /* enum family */
	uint8_t len;
};

enum addr_status {
	ADDR_OK,
	ADDR_BAD_ADDRESS, /* not an address of either family */
	ADDR_BAD_LENGTH, /* prefix length beyond the family's width */
	ADDR_HOST_BITS, /* bits set beyond the prefix length */
};

/* Longest textual form of an address or prefix, with NUL. */
#define PREFIX_STRLEN 64

static inline unsigned fam_width(int family)
{
	return family == FAM_V4 ? 32 : 128;
}

static inline u128 fam_max(int family)
{
	return family == FAM_V4 ? (u128)UINT32_MAX : ~(u128)0;
}

/* The lowest and highest address of a prefix. */
static inline u128 prefix_last(const struct prefix *p)
{
	unsigned host = fam_width(p->family) - p->len;

	if (host == 128)
		return ~(u128)0;
	return p->addr | (((u128)1 << host) - 1);
}

static inline bool prefix_contains(const struct prefix *p, u128 a)
{
	return a >= p->addr && a <= prefix_last(p);
}

/*
 * Parses "ADDR" or "ADDR/LEN" of either family. With ADDR_HOST_BITS, *out still
 * holds the masked network, so a caller can suggest it.
 */
enum addr_status prefix_parse(const char *text, struct prefix *out);
/* Parses a plain address (no length) of the given family, or of either when family < 0. */
int addr_parse(const char *text, int family, u128 *out);

/* "192.0.2.0/24"; a full-length prefix prints as a bare address. */
char *prefix_format(const struct prefix *p, char buf[PREFIX_STRLEN]);
char *addr_format(u128 addr, int family, char buf[PREFIX_STRLEN]);

/* Conversion from and to the network-order bytes the kernel uses. */
u128 addr_from_bytes(const void *bytes, int family);
void addr_to_bytes(u128 addr, int family, void *bytes);

/* Parses "ADDR:PORT" or "[ADDR6]:PORT" (port 0-65535); returns the family or -EINVAL. */
int endpoint_parse(const char *text, u128 *addr, uint16_t *port);

#endif
