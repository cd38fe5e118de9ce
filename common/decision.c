#include "decision.h"

#include <stdio.h>

char *upstream_format(const struct upstream *u, char out[UPSTREAM_STRLEN])
{
	char buf[PREFIX_STRLEN];

	if (u->drop)
		snprintf(out, UPSTREAM_STRLEN, "drop");
	else
		snprintf(out, UPSTREAM_STRLEN, u->family == FAM_V6 ? "[%s]:%u" : "%s:%u",
			 addr_format(u->addr, u->family, buf), u->port);
	return out;
}

const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case PROTO_TCP:
		return "tcp";
	case PROTO_UDP:
		return "udp";
	default:
		return "{ tcp, udp }";
	}
}
