/*
 * The third floor of the lookup benchmark: the ideal longest-prefix match on
 * the destination, then one read of the rule's action and the minimal
 * floor's sockmap lookup and bpf_sk_assign. What a policy that only ever
 * looked at destination prefixes could cost at best: no ports, no protocol,
 * no first-match order.
 *
 * IPv4 is DPDK rte_lpm's DIR-24-8: tbl24, indexed by the address's top 24
 * bits, holds a rule, or for a /24 with longer prefixes in it a tbl8 group of
 * 256 entries indexed by the last byte. At most two reads. IPv6 is the
 * kernel's LPM trie (BPF_MAP_TYPE_LPM_TRIE), what a BPF user would pick.
 * bench/lookup.c sizes and fills the maps (bench/lpm.h: the encoding).
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lpm.h"

struct lpm_chunk {
	__u32 e[LPM_CHUNK];
};

/* 2^24 entries as 65536 values of 256: one map value may not be 64 MiB. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lpm_chunk);
} lpm_tbl24 SEC(".maps");

/* One value per group; lookup.c sets max_entries to the groups it needs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lpm_chunk);
} lpm_tbl8 SEC(".maps");

struct lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm6_key);
	__type(value, __u32);
} lpm_tbl6 SEC(".maps");

/* The action word per rule (LPM_PASS, LPM_DROP, LPM_SOCKET). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
} lpm_actions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} lpm_sockets SEC(".maps");

SEC("sk_lookup")
int lpm(struct bpf_sk_lookup *ctx)
{
	struct bpf_sock *sk;
	__u32 rule, slot, *act;
	long err;

	if (ctx->family == 2) {
		__u32 a = bpf_ntohl(ctx->local_ip4), hi = a >> 16, e;
		struct lpm_chunk *c = bpf_map_lookup_elem(&lpm_tbl24, &hi);
		if (!c)
			return SK_PASS;
		e = c->e[(a >> 8) & (LPM_CHUNK - 1)];
		if (e & LPM_GROUP) {
			__u32 g = e & LPM_INDEX;
			c = bpf_map_lookup_elem(&lpm_tbl8, &g);
			if (!c)
				return SK_PASS;
			e = c->e[a & (LPM_CHUNK - 1)];
		}
		if (!(e & LPM_VALID))
			return SK_PASS;
		rule = e & LPM_INDEX;
	} else {
		struct lpm6_key k = { .prefixlen = 128 };
		__u32 *r;
		__builtin_memcpy(k.addr, ctx->local_ip6, 16);
		r = bpf_map_lookup_elem(&lpm_tbl6, &k);
		if (!r)
			return SK_PASS;
		rule = *r;
	}
	act = bpf_map_lookup_elem(&lpm_actions, &rule);
	if (!act || *act == LPM_PASS)
		return SK_PASS;
	if (*act == LPM_DROP)
		return SK_DROP;
	slot = (ctx->protocol == IPPROTO_UDP ? 2 : 0) + (ctx->family == 10 ? 1 : 0);
	sk = bpf_map_lookup_elem(&lpm_sockets, &slot);
	if (!sk)
		return SK_PASS;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

char _license[] SEC("license") = "GPL";
