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

/*
 * A record of the table strategy's part X (rules that test source and
 * destination together, source ports or interfaces), 8 u32s, never across a
 * chunk: the rule word; the source prefix's address (IPv4 in the first word);
 * its length | interface << 8 (1 + the policy's interface index, 0 for any);
 * destination ports lo | hi << 16; source ports lo | hi << 16.
 */
#define STEER_X_RECORD 8
#define STEER_X_WORD 0
#define STEER_X_SRC 1
#define STEER_X_LEN_IIF 5
#define STEER_X_DPORTS 6
#define STEER_X_SPORTS 7

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
#define STEER_MAP_MISSED steer_missed
#define STEER_MAP_MONITOR steer_monitor
#define STEER_MAP_EVENTS steer_events
#define STEER_PROG_LOOKUP steer_lookup
#define STEER_VAR_SERVICE_SLOT steer_service_slot
#define STEER_VAR_IFINDEX steer_ifindex
#define STEER_VAR_GENERATION steer_generation
#define STEER_VAR_MONITORS_ACTIVE steer_monitors_active /* the program's only .bss variable */
#define STEER_NAME(x) STEER_NAME_(x)
#define STEER_NAME_(x) #x

/* What the rules map holds for each rule: where it is written, and what it does. */
struct steer_rule_record {
	__u32 file; /* index into the applied state's file list */
	__u32 line, col;
	__u32 action; /* STEER_ACT_* encoding */
};

/*
 * Lookups a service's rule could not hand to one of its sockets, counted per
 * service (its first slot / STEER_SLOTS_PER_SERVICE) at
 * group * STEER_MISSED_PER_SERVICE + reason * 2 + (fell back to pass).
 * Everything else is counted per rule (STEER_MAP_HITS).
 */
#define STEER_MISSED_NO_SOCKET 0 /* no socket in the slot for this protocol and family */
#define STEER_MISSED_REFUSED 1 /* bpf_sk_assign refused the socket (an IPv6-only socket asked to take IPv4) */
#define STEER_MISSED_PER_SERVICE 4
#define STEER_MISSED_ENTRIES (STEER_MAX_SERVICES * STEER_MISSED_PER_SERVICE)

/*
 * steer monitor. Each attached monitor has a slot here: its filter, applied
 * in the program, and its own ring buffer (an entry of STEER_MAP_EVENTS). A
 * bit per slot a monitor holds is in STEER_VAR_MONITORS_ACTIVE, the program's
 * .bss, which outlives it like the maps: every lookup reads that word (a
 * direct load, no map lookup) and does nothing more while it is 0.
 * A monitor renews its lease about once a second; one killed stops receiving
 * when the lease runs out, and the next monitor takes its slot back.
 */
#define STEER_MONITORS 8
#define STEER_LEASE_NS 3000000000ull

/* What a decision was, as events and filters say it (the kinds are bits of a filter's kinds). */
enum steer_event_kind {
	STEER_EV_SERVICE, /* a service's socket took it */
	STEER_EV_FORWARD, /* steer proxy's socket took it */
	STEER_EV_DROP, /* a drop rule, or a service's rule whose socket is missing or refused */
	STEER_EV_PASS, /* a pass rule, or such a service's rule with "or pass" */
	STEER_EV_MISS, /* no rule matched: the regular lookup goes on */
	STEER_EV_KINDS
};

/* Why a service's (or forward's) rule ended in drop or pass: STEER_MISSED_* + 1, or 0. */
#define STEER_WHY_NONE 0

struct steer_event {
	__u64 ns; /* bpf_ktime_get_ns() */
	__u32 generation; /* STEER_VAR_GENERATION of the program that decided: which apply's rules RULE indexes */
	__u32 rule; /* index into those rules; STEER_NRULES of that program for a miss */
	__u32 service; /* index into that policy's services (forwards after its own), or ~0 */
	__u32 slot; /* the socket slot that took it, or ~0 */
	__u32 ifindex;
	__u8 kind; /* enum steer_event_kind */
	__u8 why;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* AF_INET or AF_INET6 */
	__u16 sport, dport; /* host order */
	__u32 src[4], dst[4]; /* network order; IPv4 in the first word */
};

/* A filter's fields that apply. */
#define STEER_MF_RULE 1u
#define STEER_MF_SERVICE 2u
#define STEER_MF_PROTO 4u
#define STEER_MF_SRC 8u
#define STEER_MF_DST 16u

struct steer_monitor_filter {
	__u32 flags; /* STEER_MF_* */
	__u32 kinds; /* bit per enum steer_event_kind; 0: every kind */
	__u64 rule; /* generation << 32 | rule index: one word, so a re-apply's change is atomic */
	__u32 slot; /* the service's first slot */
	__u8 proto, src_family, dst_family, pad;
	__u32 src[4], src_mask[4], dst[4], dst_mask[4];
	__u64 rate; /* events per second, 0: no cap */
};

struct steer_monitor {
	__u64 lease_ns; /* attached until bpf_ktime_get_ns() passes this; 0: free */
	__u32 pid, pad;
	struct steer_monitor_filter f;
	/* Written by the program. */
	__u64 window_ns, window_count; /* --rate's current second */
	__u64 lost; /* the ring buffer was full, or the lease had run out */
	__u64 limited; /* over --rate */
};

struct steer_monitors {
	struct steer_monitor m[STEER_MONITORS];
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
