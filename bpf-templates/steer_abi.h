/*
 * Everything the BPF programs and steer's C code must agree on: the socket
 * slots, the table strategy's entry flags, the action encoding, the names of
 * maps and programs, and the records user space reads from maps. Included by
 * the templates (and so written at the top of every generated program) and by
 * the compiler and the runtime; one definition, so neither side can drift.
 */
#ifndef STEER_ABI_H
#define STEER_ABI_H

#include <linux/types.h>

/* Four socket slots per service, at service_slot + UDP? + IPv6?, in a sockmap of fixed size. */
#define STEER_MAX_SERVICES 1024
#define STEER_SLOTS_PER_SERVICE 4
#define STEER_SOCKET_SLOTS (STEER_SLOTS_PER_SERVICE * STEER_MAX_SERVICES)
#define STEER_SLOT_UDP 2
#define STEER_SLOT_V6 1
/*
 * Each distinct forward of a policy is a service of its manifest, after the
 * policy's own: steer proxy's listening sockets take its slots.
 */
#define STEER_MAX_FORWARDS 256

/*
 * An entry of a table-strategy address trie: STEER_LEAF | class ends the
 * walk; STEER_LIST | index is a short list of (bits, length) -> entry;
 * anything else is the chunk the next 8 bits index.
 */
#define STEER_LEAF 0x80000000u
#define STEER_LIST 0x40000000u
#define STEER_LIST_ITEMS 7
#define STEER_CHUNK_ENTRIES 256

/* A rule's action as one word: kind in the top two bits, "or pass" in bit 29, the service below. */
#define STEER_ACT_SERVICE 0u
#define STEER_ACT_DROP 1u
#define STEER_ACT_PASS 2u
#define STEER_ACT_FORWARD 3u /* the forward's service below the kind bits: its sockets are steer proxy's */
#define STEER_ACT_KIND_SHIFT 30
#define STEER_ACT_OR_PASS (1u << 29)
#define STEER_ACT_SERVICE_MASK 0x1fffffffu

/* Map and program names, as the templates declare them and libbpf finds them. */
#define STEER_MAP_SOCKETS steer_sockets
#define STEER_MAP_HITS steer_hits
#define STEER_MAP_DATA steer_data
#define STEER_PROG_LOOKUP steer_lookup
#define STEER_VAR_SERVICE_SLOT steer_service_slot
#define STEER_VAR_IFINDEX steer_ifindex
#define STEER_NAME(x) STEER_NAME_(x)
#define STEER_NAME_(x) #x

/* What the rules map holds for each rule: where it is written, and what it does. */
struct steer_rule_record {
	__u32 file; /* index into the applied state's file list */
	__u32 line, col;
	__u32 action; /* STEER_ACT_* encoding */
};

/*
 * steer proxy: what it says about itself in DIR/proxy (one entry, updated
 * about once a second) for status and metrics, and the map its sockmap relay
 * pairs the two sockets of a connection in.
 */
struct steer_proxy_stats {
	__u32 pid; /* 0 once it has stopped */
	__u32 relay; /* enum relay_mode */
	__u64 started_ns; /* CLOCK_REALTIME */
	__u64 conns_live, conns_total;
	__u64 bytes_up, bytes_down; /* client to upstream, and back, of closed connections and live copies */
	__u64 refused; /* connections closed unrelayed: no name matched a drop default, upstream refused or timed out */
};

#define STEER_RELAY_SOCKS steer_relay_socks
#define STEER_RELAY_PEERS steer_relay_peers
#define STEER_RELAY_PROG steer_relay
#define STEER_RELAY_MAX_SOCKS 65536

#endif
