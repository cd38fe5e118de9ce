/*
 * Counters that outlive a re-apply. The program counts each rule's lookups in
 * its own generation (p<ID>/hits) and the lookups a service could not take in
 * a map that outlives it (missed); nothing else on the lookup path. When a
 * generation is superseded, what it counted is folded into DIR/totals (per
 * service, by name, and per verdict) and, for each rule of the new policy
 * written at the same place with the same action, into the new generation's
 * p<ID>/carried. So a service's and a verdict's counts only grow; a rule's
 * count follows its FILE:LINE:COL and action (docs/metrics.md).
 */
#ifndef STEER_COUNTERS_H
#define STEER_COUNTERS_H

#include <stdint.h>

#include "state.h"

/* DIR/totals: per service group (first slot / STEER_SLOTS_PER_SERVICE), then these. */
enum { TOTALS_DROP = STEER_MAX_SERVICES, TOTALS_PASS, TOTALS_MISS, TOTALS_ENTRIES };

/*
 * Folds generation OLD's counts into the totals and NEW's carried counts, and
 * removes OLD's hits (so a second fold adds nothing). Call it once OLD's
 * program no longer runs. 0 or -errno with the message set.
 */
int counters_fold(struct rt_state *st, const struct applied_state *old, const struct applied_state *cur);

/* The pinned totals, created when missing (a first apply). A descriptor, or -errno. */
int counters_totals_open(const struct rt_state *st);

/* Zeroes service group GROUP's totals and missed counters: its slots go to a service new to them. */
void counters_reset_group(int totals_fd, int missed_fd, uint32_t group);

struct service_counters {
	uint64_t decided; /* lookups its rules decided, all generations */
	uint64_t missed[STEER_MISSED_PER_SERVICE]; /* of those, no socket took: [reason * 2 + (fell back to pass)] */
};

struct counters {
	uint32_t nrules;
	uint64_t *rules; /* nrules + 1: each rule's count (this generation's and carried), then no-match */
	struct service_counters *services; /* cur.m.nservices */
	uint64_t drop, pass, miss; /* lookups that drop and pass rules and no rule decided, all generations */
};

/* Everything counted for the applied generation CUR. 0 or -errno with the message set. */
int counters_read(const struct rt_state *st, const struct applied_state *cur, struct counters *out);
void counters_free(struct counters *c);

#endif
