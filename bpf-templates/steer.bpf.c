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
#error "the compiler defines STEER_NRULES, STEER_NSERVICES and STEER_NIFACES"
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

/* Set by the loader before loading: each service's first slot, each named interface's ifindex. */
const volatile __u32 STEER_VAR_SERVICE_SLOT[STEER_NSERVICES + 1];
const volatile __u32 STEER_VAR_IFINDEX[STEER_NIFACES + 1];

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

/* A rule's verdict without a socket: SK_DROP refuses, SK_PASS continues the regular lookup. */
static __always_inline int steer_verdict(__u32 rule, int verdict)
{
	steer_count(rule);
	return verdict;
}

/*
 * The leaf: hand the lookup to SERVICE's socket for this protocol and family,
 * or apply FALLBACK when it has none that can take it.
 */
static __always_inline int steer_service(struct bpf_sk_lookup *ctx, __u32 rule, __u32 service, int fallback)
{
	__u32 family = STEER_CTX(ctx, family);
	__u32 slot = STEER_VAR_SERVICE_SLOT[service] + (STEER_CTX(ctx, protocol) == IPPROTO_UDP ? STEER_SLOT_UDP : 0);
	struct bpf_sock *sk;
	long err;

	steer_count(rule);
	if (family == AF_INET6)
		slot += STEER_SLOT_V6;
	sk = bpf_map_lookup_elem(&STEER_MAP_SOCKETS, &slot);
	/* An IPv4 lookup may go to a dual-stack IPv6 socket when no IPv4 one is registered. */
	if (!sk && family == AF_INET) {
		slot += STEER_SLOT_V6;
		sk = bpf_map_lookup_elem(&STEER_MAP_SOCKETS, &slot);
	}
	if (!sk)
		return fallback;
	/* Fails for an IPV6_V6ONLY socket asked to take IPv4: then it is no usable socket. */
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? fallback : SK_PASS;
}

static __always_inline int steer_decide(struct bpf_sk_lookup *ctx);

SEC("sk_lookup")
int STEER_PROG_LOOKUP(struct bpf_sk_lookup *ctx)
{
	return steer_decide(ctx);
}

char _license[] SEC("license") = "GPL";
