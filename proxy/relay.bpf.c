/*
 * steer proxy's sockmap relay: each byte a relayed socket receives is sent out
 * of its peer by the kernel, never copied to user space. Both sockets of a
 * connection are in STEER_RELAY_SOCKS under their own cookies; STEER_RELAY_PEERS
 * pairs them. Until both are in place a socket's bytes stay with it (SK_PASS)
 * rather than be dropped; the proxy puts the side that is quiet then in first
 * (relay.c, _pair).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "steer_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, STEER_RELAY_MAX_SOCKS);
	__type(key, __u64);
	__type(value, __u64);
} STEER_RELAY_SOCKS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_RELAY_MAX_SOCKS);
	__type(key, __u64);
	__type(value, __u64);
} STEER_RELAY_PEERS SEC(".maps");

SEC("sk_skb/stream_verdict")
int STEER_RELAY_PROG(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	__u64 *peer = bpf_map_lookup_elem(&STEER_RELAY_PEERS, &cookie);
	struct bpf_sock *sk;

	if (!peer)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&STEER_RELAY_SOCKS, peer);
	if (!sk)
		return SK_PASS;
	bpf_sk_release(sk);
	return bpf_sk_redirect_hash(skb, &STEER_RELAY_SOCKS, peer, 0);
}

char _license[] SEC("license") = "GPL";
