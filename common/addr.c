#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

u128 addr_from_bytes(const void *bytes, int family)
{
	const unsigned char *b = bytes;
	unsigned n = fam_width(family) / 8;
	u128 v = 0;

	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | b[i];
	return v;
}

void addr_to_bytes(u128 addr, int family, void *bytes)
{
	unsigned char *b = bytes;
	unsigned n = fam_width(family) / 8;

	for (unsigned i = n; i-- > 0;) {
		b[i] = (unsigned char)addr;
		addr >>= 8;
	}
}

int addr_parse(const char *text, int family, u128 *out)
{
	unsigned char buf[16];

	if (family != FAM_V6 && inet_pton(AF_INET, text, buf) == 1) {
		*out = addr_from_bytes(buf, FAM_V4);
		return FAM_V4;
	}
	if (family != FAM_V4 && inet_pton(AF_INET6, text, buf) == 1) {
		*out = addr_from_bytes(buf, FAM_V6);
		return FAM_V6;
	}
	return -EINVAL;
}

enum addr_status prefix_parse(const char *text, struct prefix *out)
{
	char addr[PREFIX_STRLEN];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	u128 a;

	if (alen >= sizeof(addr))
		return ADDR_BAD_ADDRESS;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	int fam = addr_parse(addr, -1, &a);
	if (fam < 0)
		return ADDR_BAD_ADDRESS;

	unsigned width = fam_width(fam), len = width;
	if (slash) {
		const char *s = slash + 1;
		char *end;

		if (*s < '0' || *s > '9' || strlen(s) > 3)
			return ADDR_BAD_LENGTH;
		len = (unsigned)strtoul(s, &end, 10);
		if (*end || len > width)
			return ADDR_BAD_LENGTH;
	}
	out->family = (uint8_t)fam;
	out->len = (uint8_t)len;
	out->addr = a;
	struct prefix net = *out;
	unsigned host = width - len;
	net.addr = host == 128 ? 0 : (a >> host) << host;
	if (net.addr != a) {
		*out = net;
		return ADDR_HOST_BITS;
	}
	return ADDR_OK;
}

char *addr_format(u128 addr, int family, char buf[PREFIX_STRLEN])
{
	unsigned char b[16];

	addr_to_bytes(addr, family, b);
	inet_ntop(family == FAM_V4 ? AF_INET : AF_INET6, b, buf, PREFIX_STRLEN);
	return buf;
}

char *prefix_format(const struct prefix *p, char buf[PREFIX_STRLEN])
{
	addr_format(p->addr, p->family, buf);
	if (p->len != fam_width(p->family)) {
		size_t n = strlen(buf);
		snprintf(buf + n, PREFIX_STRLEN - n, "/%u", p->len);
	}
	return buf;
}

int endpoint_parse(const char *text, u128 *addr, uint16_t *port)
{
	char buf[PREFIX_STRLEN];
	const char *colon, *a = text;
	size_t alen;
	int fam;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		a = text + 1;
		alen = (size_t)(close - a);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -EINVAL;
		alen = (size_t)(colon - text);
	}
	if (alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, a, alen);
	buf[alen] = '\0';
	fam = addr_parse(buf, text[0] == '[' ? FAM_V6 : FAM_V4, addr);
	if (fam < 0)
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || p > 65535 || colon[1] == '-' || colon[1] == '+')
		return -EINVAL;
	*port = (uint16_t)p;
	return fam;
}
