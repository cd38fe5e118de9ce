#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t _hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static struct strmap_slot *_find(const struct strmap *m, const char *key)
{
	size_t mask = m->cap - 1;

	for (size_t i = _hash(key) & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];
		if (!s->key || strcmp(s->key, key) == 0)
			return s;
	}
}

void *strmap_get(const struct strmap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	return _find(m, key)->value;
}

static void _grow(struct strmap *m)
{
	struct strmap old = *m;

	m->cap = old.cap ? old.cap * 2 : 16;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots)
		abort();
	m->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key)
			strmap_put(m, old.slots[i].key, old.slots[i].value);
	free(old.slots);
}

void *strmap_put(struct strmap *m, const char *key, void *value)
{
	if ((m->n + 1) * 2 > m->cap)
		_grow(m);
	struct strmap_slot *s = _find(m, key);
	void *prev = s->value;

	if (!s->key)
		m->n++;
	s->key = key;
	s->value = value;
	return prev;
}

void strmap_free(struct strmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->n = m->cap = 0;
}
