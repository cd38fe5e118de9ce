/*
 * A tubular-style baseline, written from Cloudflare tubular's published design
 * (github.com/cloudflare/tubular, "sk_lookup: dispatch by LPM trie"): one LPM
 * trie keyed by protocol, port and prefix (IPv4 as IPv4-mapped IPv6) holding a
 * destination id; the exact port is looked up first, then the wildcard port 0;
 * the id indexes a sockmap. Written here for the benchmark, not copied.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct tub_key {
	__u32 prefixlen; /* bits of protocol, port and address that count */
	__u8 protocol;
	__u16 port;
	__u8 addr[16];
} __attribute__((packed));

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4000000);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tub_key);
	__type(value, __u32);
} tub_bindings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} tub_sockets SEC(".maps");

SEC("sk_lookup")
int tubular(struct bpf_sk_lookup *ctx)
{
	struct tub_key key = { .prefixlen = 8 + 16 + 128, .protocol = ctx->protocol };
	struct bpf_sock *sk;
	__u32 *dest, id;
	long err;

	if (ctx->family == 2) {
		__u32 a = ctx->local_ip4;
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], &a, 4);
	} else {
		__builtin_memcpy(key.addr, ctx->local_ip6, 16);
	}
	key.port = bpf_htons(ctx->local_port);
	dest = bpf_map_lookup_elem(&tub_bindings, &key);
	if (!dest) {
		key.port = 0;
		dest = bpf_map_lookup_elem(&tub_bindings, &key);
		if (!dest)
			return SK_PASS;
	}
	id = *dest + (ctx->family == 10 ? 1 : 0);
	sk = bpf_map_lookup_elem(&tub_sockets, &id);
	if (!sk)
		return SK_PASS;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

char _license[] SEC("license") = "GPL";
