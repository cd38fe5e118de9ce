/* String-keyed hash map (open addressing) for symbol tables; keys are borrowed. */
#ifndef STEER_STRMAP_H
#define STEER_STRMAP_H

#include <stddef.h>

struct strmap_slot {
	const char *key;
	void *value;
};

struct strmap {
	struct strmap_slot *slots;
	size_t n, cap;
};

void *strmap_get(const struct strmap *m, const char *key);
/* Inserts or replaces; returns the previous value or NULL. */
void *strmap_put(struct strmap *m, const char *key, void *value);
void strmap_free(struct strmap *m);

#endif
