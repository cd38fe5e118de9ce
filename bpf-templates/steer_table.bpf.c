/*
 * The table strategy's fixed part, written after steer.bpf.c. The decision
 * data lives in one array map of 256-entry chunks that the loader fills
 * (through mmap) before the program is attached; the code stays the same
 * size whatever the number of rules. See compiler/table.h for the layout.
 *
 * An entry of an address trie is one of:
 *   STEER_LEAF | class   the lookup ends: the address is in this class
 *   STEER_LIST | index   a short list of (bits, length) -> entry at data[index]
 *   chunk                the next 8 bits of the address index chunk's entries
 */
#ifndef STEER_DATA_CHUNKS
#error "the compiler defines STEER_DATA_CHUNKS, the rule word widths and the table bases"
#endif

struct steer_chunk {
	__u32 e[STEER_CHUNK_ENTRIES];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, STEER_DATA_CHUNKS);
	__type(key, __u32);
	__type(value, struct steer_chunk);
} STEER_MAP_DATA SEC(".maps");

/*
 * I & 255, kept: clang drops the mask when it can prove the range, and the
 * verifier, which cannot always follow that proof, then rejects the access.
 */
static __always_inline __u32 steer_byte(__u32 i)
{
	asm volatile("" : "+r"(i));
	return i & 255;
}

/* Entry INDEX of the flat data; out of range reads as 0. */
static __always_inline __u32 steer_at(__u32 index)
{
	__u32 chunk = index >> 8;
	struct steer_chunk *c = bpf_map_lookup_elem(&STEER_MAP_DATA, &chunk);

	return c ? c->e[steer_byte(index)] : 0;
}

/* One trie step: entry E, then the next 8 bits of the address. */
static __always_inline __u32 steer_step(__u32 e, __u32 bits)
{
	struct steer_chunk *c;
	__u32 chunk, at, head;

	if (e & STEER_LEAF)
		return e;
	if (!(e & STEER_LIST))
		return steer_at((e << 8) | bits);
	/* A list record: head (count | default class << 3), then (bits << 8 | length, entry) pairs, longest first. */
	e &= ~STEER_LIST;
	chunk = e >> 8;
	c = bpf_map_lookup_elem(&STEER_MAP_DATA, &chunk);
	if (!c)
		return STEER_LEAF;
	at = e & 0xf0;
	head = c->e[steer_byte(at)];
#pragma unroll
	for (__u32 i = 0; i < STEER_LIST_ITEMS; i++) {
		__u32 key;

		if (i >= (head & 7))
			break;
		key = c->e[steer_byte(at + 1 + 2 * i)];
		if ((((key >> 8) ^ bits) & 0xff) >> (8 - (key & 15)) == 0)
			return c->e[steer_byte(at + 2 + 2 * i)];
	}
	return STEER_LEAF | (head >> 3);
}

/* What part X's records are matched against, and the best rule word so far. */
struct steer_xscan {
	__u32 src[4];
	__u32 dport, sport, ifindex;
	__u32 at; /* the list's first record */
	__u32 best;
};

/* Source address word W under a prefix of LEN bits of the record's word A: inside? */
static __always_inline int steer_x_in(__u32 s, __u32 a, __u32 len, __u32 w)
{
	__u32 bits = len > 32 * w ? len - 32 * w : 0;

	if (bits == 0)
		return 1;
	if (bits >= 32)
		return s == a;
	return ((s ^ a) >> (32 - bits)) == 0;
}

/*
 * Record I of a list (bpf_loop's callback, verified once): a list is sorted by
 * rule word, so the first that matches is the first rule, and a word no better
 * than the best so far ends the scan.
 */
static int steer_x_record(__u32 i, void *arg)
{
	struct steer_xscan *x = arg;
	__u32 index = x->at + i * STEER_X_RECORD, chunk = index >> 8, off = index & (256 - STEER_X_RECORD);
	struct steer_chunk *c = bpf_map_lookup_elem(&STEER_MAP_DATA, &chunk);
	__u32 word, meta, ports, k;

	if (!c)
		return 1;
	word = c->e[off + STEER_X_WORD];
	if (word >= x->best)
		return 1;
	ports = c->e[off + STEER_X_DPORTS];
	if (x->dport < (ports & 0xffff) || x->dport > ports >> 16)
		return 0;
	ports = c->e[off + STEER_X_SPORTS];
	if (x->sport < (ports & 0xffff) || x->sport > ports >> 16)
		return 0;
	meta = c->e[off + STEER_X_LEN_IIF];
	k = meta >> 8;
	if (k && (k > STEER_NIFACES || x->ifindex != STEER_VAR_IFINDEX[k - 1]))
		return 0;
	meta &= 255;
	if (!steer_x_in(x->src[0], c->e[off + STEER_X_SRC], meta, 0) ||
	    !steer_x_in(x->src[1], c->e[off + STEER_X_SRC + 1], meta, 1) ||
	    !steer_x_in(x->src[2], c->e[off + STEER_X_SRC + 2], meta, 2) ||
	    !steer_x_in(x->src[3], c->e[off + STEER_X_SRC + 3], meta, 3))
		return 0;
	x->best = word;
	return 1;
}

/* The best of BEST and the list whose (first record, count) is at HEAD. */
static __always_inline __u32 steer_x(struct steer_xscan *x, __u32 head, __u32 best)
{
	x->at = steer_at(head);
	x->best = best;
	bpf_loop(steer_at(head + 1), steer_x_record, x, 0);
	return x->best;
}

#define STEER_X_NO_LIST 0xffffffffu

/*
 * Part X: the best of BEST, the list at HEAD and the one at ALSO (class 0's,
 * or STEER_X_NO_LIST). A global function, so the verifier checks it, and the
 * loop in it, once, not once for every way the lookup reaches it.
 */
__attribute__((noinline)) __u32 steer_x_lists(struct bpf_sk_lookup *ctx, __u32 head, __u32 also, __u32 best)
{
	struct steer_xscan x = { .dport = ctx->local_port, .sport = bpf_ntohs(ctx->remote_port),
				 .ifindex = STEER_CTX(ctx, ingress_ifindex) };

	if (STEER_CTX(ctx, family) == AF_INET6) {
		x.src[0] = bpf_ntohl(ctx->remote_ip6[0]);
		x.src[1] = bpf_ntohl(ctx->remote_ip6[1]);
		x.src[2] = bpf_ntohl(ctx->remote_ip6[2]);
		x.src[3] = bpf_ntohl(ctx->remote_ip6[3]);
	} else {
		x.src[0] = bpf_ntohl(ctx->remote_ip4);
	}
	best = steer_x(&x, head, best);
	if (also != STEER_X_NO_LIST)
		best = steer_x(&x, also, best);
	return best;
}

/* The action (STEER_ACT_*) of a rule word: kind, "or pass" and service below the rule. */
static __always_inline __u32 steer_act_word(__u32 w)
{
	return (w >> (STEER_SVC_BITS + 1) & 3) << STEER_ACT_KIND_SHIFT | (w >> STEER_SVC_BITS & 1) * STEER_ACT_OR_PASS |
	       (w & ((1u << STEER_SVC_BITS) - 1));
}

static __always_inline __u64 steer_act(struct bpf_sk_lookup *ctx, __u32 rule, __u32 act)
{
	__u32 service = act & STEER_ACT_SERVICE_MASK;

	switch (act >> STEER_ACT_KIND_SHIFT) {
	case STEER_ACT_DROP:
		return steer_verdict(ctx, rule, SK_DROP);
	case STEER_ACT_PASS:
		return steer_verdict(ctx, rule, SK_PASS);
	}
	if (service >= STEER_NSERVICES)
		return steer_verdict(ctx, rule, SK_PASS);
	return steer_service(ctx, rule, service, act & STEER_ACT_OR_PASS ? SK_PASS : SK_DROP);
}
