/*
 * The floors of the lookup benchmark: what any sk_lookup program costs.
 * empty: returns at once. minimal: one sockmap lookup by protocol and family,
 * bpf_sk_assign and release: the least a steering program does.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} floor_sockets SEC(".maps");

SEC("sk_lookup")
int empty(struct bpf_sk_lookup *ctx)
{
	return SK_PASS;
}

SEC("sk_lookup")
int minimal(struct bpf_sk_lookup *ctx)
{
	__u32 slot = (ctx->protocol == IPPROTO_UDP ? 2 : 0) + (ctx->family == 10 ? 1 : 0);
	struct bpf_sock *sk = bpf_map_lookup_elem(&floor_sockets, &slot);
	long err;

	if (!sk)
		return SK_PASS;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

char _license[] SEC("license") = "GPL";
