/*
 * What bench/lpm.bpf.c and bench/lookup.c, which fills its maps, agree on:
 * the DIR-24-8 entry (rte_lpm's: a valid bit, an extension bit, the rest a
 * rule or a tbl8 group) and the action word read for the rule.
 */
#ifndef STEER_BENCH_LPM_H
#define STEER_BENCH_LPM_H

#define LPM_VALID (1u << 31) /* an entry some prefix covers */
#define LPM_GROUP (1u << 30) /* tbl24 only: the low bits name a tbl8 group, not a rule */
#define LPM_INDEX (LPM_GROUP - 1)
#define LPM_CHUNK 256 /* entries per map value: tbl24 has 65536 of them (2^24 entries), tbl8 one per group */

/* The action word of a rule. */
#define LPM_PASS 0
#define LPM_DROP 1
#define LPM_SOCKET 2 /* a service: the floor's socket for the protocol and family */

#endif
