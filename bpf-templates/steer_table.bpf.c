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
#error "the compiler defines STEER_DATA_CHUNKS and the table bases"
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
