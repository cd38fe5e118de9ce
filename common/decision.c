#include "decision.h"

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
