/*
 * The fixed part of every program steer generates. The compiler writes the
 * sizes (STEER_*) before this text and the decision function steer_decide()
 * after it; `steer compile --emit c` shows the whole file.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#ifndef STEER_ABI_H /* the generated program carries the header's text above */
#include "steer_abi.h"
#endif

#ifndef STEER_NRULES
#error "the compiler defines STEER_NRULES, STEER_NSERVICES, STEER_NFORWARDS and STEER_NIFACES"
#endif

#define AF_INET 2
#define AF_INET6 10

/*
 * Every registered socket, four slots per service: tcp/IPv4, tcp/IPv6,
 * udp/IPv4, udp/IPv6. The map outlives the program: re-apply reuses it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, STEER_SOCKET_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} STEER_MAP_SOCKETS SEC(".maps");

/* Lookups decided by each rule, per CPU; the last entry counts those no rule matched. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_NRULES + 1);
	__type(key, __u32);
	__type(value, __u64);
} STEER_MAP_HITS SEC(".maps");

/* Lookups a service's rule could not give to a socket, per service and reason. Outlives the program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_MISSED_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} STEER_MAP_MISSED SEC(".maps");

/* The attached monitors and their filters (one entry, mmap'ed by steer monitor). Outlives the program. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_monitors);
} STEER_MAP_MONITOR SEC(".maps");

/* Each monitor's ring buffer, which it creates in the size it wants. Outlives the program. */
struct steer_events_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, STEER_MONITORS);
	__type(key, __u32);
	__array(values, struct steer_events_ring);
} STEER_MAP_EVENTS SEC(".maps");

/* Set by the loader before loading: each service's first slot, each named interface's ifindex, the apply's tag. */
const volatile __u32 STEER_VAR_SERVICE_SLOT[STEER_NSERVICES + 1];
const volatile __u32 STEER_VAR_IFINDEX[STEER_NIFACES + 1];
const volatile __u32 STEER_VAR_GENERATION;
/* A bit per monitor slot held (steer_abi.h); the loader shares this .bss between programs. */
volatile __u32 STEER_VAR_MONITORS_ACTIVE;

/*
 * A 32-bit context field, loaded straight from the context pointer. Plain
 * ctx->field reads in many inlined places let clang keep &ctx->field in a
 * register and load through it, which the verifier refuses ("dereference of
 * modified ctx ptr"); an asm load cannot be rewritten that way.
 */
#define STEER_CTX(ctx, field)                                                                   \
	({                                                                                      \
		__u32 __v;                                                                      \
		asm volatile("%0 = *(u32 *)(%1 + %2)"                                           \
			     : "=r"(__v)                                                        \
			     : "r"(ctx), "i"(__builtin_offsetof(struct bpf_sk_lookup, field))); \
		__v;                                                                            \
	})

static __always_inline void steer_count(__u32 rule)
{
	__u64 *n = bpf_map_lookup_elem(&STEER_MAP_HITS, &rule);

	if (n)
		*n += 1;
}

/* Whether an event's address is in a filter's prefix. */
static __always_inline int steer_in(const __u32 *a, const __u32 *want, const __u32 *mask)
{
	return ((a[0] & mask[0]) ^ want[0]) == 0 && ((a[1] & mask[1]) ^ want[1]) == 0 &&
	       ((a[2] & mask[2]) ^ want[2]) == 0 && ((a[3] & mask[3]) ^ want[3]) == 0;
}

static __always_inline int steer_wanted(const struct steer_monitor_filter *f, const struct steer_event *e)
{
	__u32 flags = f->flags;

	if (f->kinds && !(f->kinds & (1u << e->kind)))
		return 0;
	if ((flags & STEER_MF_RULE) && f->rule != ((__u64)e->generation << 32 | e->rule))
		return 0;
	if ((flags & STEER_MF_SERVICE) && (e->service >= STEER_NSERVICES || STEER_VAR_SERVICE_SLOT[e->service] != f->slot))
		return 0;
	if ((flags & STEER_MF_PROTO) && f->proto != e->proto)
		return 0;
	if ((flags & STEER_MF_SRC) && (f->src_family != e->family || !steer_in(e->src, f->src, f->src_mask)))
		return 0;
	if ((flags & STEER_MF_DST) && (f->dst_family != e->family || !steer_in(e->dst, f->dst, f->dst_mask)))
		return 0;
	return 1;
}

/*
 * A decision as one word. Every leaf of steer_decide() returns one, and
 * steer_lookup() acts on it once: the verdict for the kernel, the rule's
 * counter, the missed counter, the monitors. Done at one exit, that work is
 * not copied into each of a policy's leaves.
 *
 *   bit 0 verdict (SK_PASS 1, SK_DROP 0)   bits 1-3 kind (enum steer_event_kind)
 *   bits 4-5 why (STEER_WHY_NONE, or STEER_MISSED_* + 1)
 *   bits 6-7 the socket's slot within its service's four
 *   bits 8-23 service (STEER_D_NONE: none)   bits 32-63 rule
 */
#define STEER_D(rule, service, kind, why, off, verdict)                                                     \
	((__u64)(rule) << 32 | (__u64)(service) << 8 | (__u64)(off) << 6 | (__u64)(why) << 4 | (__u64)(kind) << 1 | \
	 (__u64)(verdict))
#define STEER_D_NONE 0xffffu
#define STEER_D_RULE(d) ((__u32)((d) >> 32))
#define STEER_D_SERVICE(d) ((__u32)((d) >> 8) & 0xffff)
#define STEER_D_OFF(d) ((__u32)((d) >> 6) & 3)
#define STEER_D_WHY(d) ((__u32)((d) >> 4) & 3)
#define STEER_D_KIND(d) ((__u32)((d) >> 1) & 7)

#ifndef STEER_NO_MONITOR /* bench/monitor.sh builds the program without monitor support too, to price it */
/*
 * The decision as an event, for each attached monitor whose filter wants it.
 * Out of line: the lookups pay for it only while a monitor is attached. A
 * global function, so the verifier checks it once, not once per leaf.
 */
__attribute__((noinline)) int steer_monitor_out(struct bpf_sk_lookup *ctx, __u64 d)
{
	__u32 service = STEER_D_SERVICE(d), zero = 0;
	struct steer_monitors *m = bpf_map_lookup_elem(&STEER_MAP_MONITOR, &zero);
	struct steer_event e = {
		.ns = bpf_ktime_get_ns(),
		.generation = STEER_VAR_GENERATION,
		.rule = STEER_D_RULE(d),
		.service = service < STEER_NSERVICES ? service : ~0u,
		.slot = ~0u,
		.ifindex = STEER_CTX(ctx, ingress_ifindex),
		.kind = STEER_D_KIND(d),
		.why = STEER_D_WHY(d),
		.proto = STEER_CTX(ctx, protocol),
		.family = STEER_CTX(ctx, family),
		.sport = bpf_ntohs(STEER_CTX(ctx, remote_port)),
		.dport = STEER_CTX(ctx, local_port),
	};

	if (!m)
		return 0;
	if (service < STEER_NSERVICES && (e.kind == STEER_EV_SERVICE || e.kind == STEER_EV_FORWARD))
		e.slot = STEER_VAR_SERVICE_SLOT[service] + STEER_D_OFF(d);
	if (e.family == AF_INET6) {
		e.src[0] = STEER_CTX(ctx, remote_ip6[0]);
		e.src[1] = STEER_CTX(ctx, remote_ip6[1]);
		e.src[2] = STEER_CTX(ctx, remote_ip6[2]);
		e.src[3] = STEER_CTX(ctx, remote_ip6[3]);
		e.dst[0] = STEER_CTX(ctx, local_ip6[0]);
		e.dst[1] = STEER_CTX(ctx, local_ip6[1]);
		e.dst[2] = STEER_CTX(ctx, local_ip6[2]);
		e.dst[3] = STEER_CTX(ctx, local_ip6[3]);
	} else {
		e.src[0] = STEER_CTX(ctx, remote_ip4);
		e.dst[0] = STEER_CTX(ctx, local_ip4);
	}
	for (__u32 i = 0; i < STEER_MONITORS; i++) {
		struct steer_monitor *mon = &m->m[i];
		struct steer_event *out;
		__u32 key = i; /* i itself stays in a register, where the verifier knows its bounds */
		void *ring;

		if (!(STEER_VAR_MONITORS_ACTIVE & (1u << i)) || !steer_wanted(&mon->f, &e))
			continue;
		/* A monitor too far behind to renew its lease (or gone) is not written to, but it is told. */
		if (e.ns > mon->lease_ns) {
			__sync_fetch_and_add(&mon->lost, 1);
			continue;
		}
		if (mon->f.rate) {
			if (e.ns - mon->window_ns >= 1000000000ull) {
				mon->window_ns = e.ns;
				mon->window_count = 0;
			}
			if (mon->window_count >= mon->f.rate) {
				__sync_fetch_and_add(&mon->limited, 1);
				continue;
			}
			__sync_fetch_and_add(&mon->window_count, 1);
		}
		ring = bpf_map_lookup_elem(&STEER_MAP_EVENTS, &key);
		if (!ring)
			continue;
		out = bpf_ringbuf_reserve(ring, sizeof(*out), 0);
		if (!out) {
			__sync_fetch_and_add(&mon->lost, 1);
			continue;
		}
		__builtin_memcpy(out, &e, sizeof(e));
		bpf_ringbuf_submit(out, 0);
	}
	return 0;
}
#endif

/* A lookup a service's rule could not hand to a socket, counted for its service and reason (global: see above). */
__attribute__((noinline)) int steer_count_missed(__u64 d)
{
	__u32 service = STEER_D_SERVICE(d), key;
	__u64 *n;

	if (service >= STEER_NSERVICES)
		return 0;
	key = STEER_VAR_SERVICE_SLOT[service] / STEER_SLOTS_PER_SERVICE * STEER_MISSED_PER_SERVICE +
	      (STEER_D_WHY(d) - 1) * 2 + (d & 1);
	n = bpf_map_lookup_elem(&STEER_MAP_MISSED, &key);
	if (n)
		*n += 1;
	return 0;
}

/* A rule's verdict without a socket: SK_DROP refuses, SK_PASS continues the regular lookup. */
static __always_inline __u64 steer_verdict(struct bpf_sk_lookup *ctx, __u32 rule, int verdict)
{
	return STEER_D(rule, STEER_D_NONE,
		       rule >= STEER_NRULES ? STEER_EV_MISS : verdict == SK_DROP ? STEER_EV_DROP : STEER_EV_PASS,
		       STEER_WHY_NONE, 0, verdict);
}

/*
 * The leaf: hand the lookup to SERVICE's socket for this protocol and family,
 * or apply FALLBACK when it has none that can take it.
 */
static __always_inline __u64 steer_service(struct bpf_sk_lookup *ctx, __u32 rule, __u32 service, int fallback)
{
	__u32 family = STEER_CTX(ctx, family);
	__u32 off = STEER_CTX(ctx, protocol) == IPPROTO_UDP ? STEER_SLOT_UDP : 0, slot;
	__u32 fell = fallback == SK_PASS ? STEER_EV_PASS : STEER_EV_DROP;
	struct bpf_sock *sk;
	long err;

	if (family == AF_INET6)
		off += STEER_SLOT_V6;
	slot = STEER_VAR_SERVICE_SLOT[service] + off;
	sk = bpf_map_lookup_elem(&STEER_MAP_SOCKETS, &slot);
	/* An IPv4 lookup may go to a dual-stack IPv6 socket when no IPv4 one is registered. */
	if (!sk && family == AF_INET) {
		off += STEER_SLOT_V6;
		slot += STEER_SLOT_V6;
		sk = bpf_map_lookup_elem(&STEER_MAP_SOCKETS, &slot);
	}
	if (!sk)
		return STEER_D(rule, service, fell, STEER_MISSED_NO_SOCKET + 1, 0, fallback);
	/* Fails for an IPV6_V6ONLY socket asked to take IPv4: then it is no usable socket. */
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return STEER_D(rule, service, fell, STEER_MISSED_REFUSED + 1, 0, fallback);
	return STEER_D(rule, service, service >= STEER_NSERVICES - STEER_NFORWARDS ? STEER_EV_FORWARD : STEER_EV_SERVICE,
		       STEER_WHY_NONE, off, SK_PASS);
}

static __always_inline __u64 steer_decide(struct bpf_sk_lookup *ctx);

SEC("sk_lookup")
int STEER_PROG_LOOKUP(struct bpf_sk_lookup *ctx)
{
	__u64 d = steer_decide(ctx);

	steer_count(STEER_D_RULE(d));
	if (STEER_D_WHY(d) != STEER_WHY_NONE)
		steer_count_missed(d);
#ifndef STEER_NO_MONITOR
	/* While no monitor is attached, this load and branch are all a lookup pays. */
	if (STEER_VAR_MONITORS_ACTIVE)
		steer_monitor_out(ctx, d);
#endif
	return d & 1;
}

char _license[] SEC("license") = "GPL";
