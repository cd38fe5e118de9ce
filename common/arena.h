/* A bump allocator: everything of one policy (AST, IR) lives and dies together. */
#ifndef STEER_ARENA_H
#define STEER_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t used; /* bytes used in head */
	size_t total; /* bytes obtained from malloc, for statistics */
};

/* Zeroed memory, aligned for any type (16 bytes, as unsigned __int128 needs). */
void *arena_alloc(struct arena *a, size_t size);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
void *arena_memdup(struct arena *a, const void *p, size_t n);
/* Frees every chunk; the arena can be used again afterwards. */
void arena_release(struct arena *a);

#endif
