/* A typed growable array: VEC(int) v = {0}; vec_push(&v, 3); free(v.v). */
#ifndef STEER_VEC_H
#define STEER_VEC_H

#include <stdlib.h>

#define VEC(type)                                                              \
	struct {                                                               \
		type *v;                                                       \
		size_t n, cap;                                                 \
	}

#define vec_reserve(vec, want)                                                 \
	do {                                                                   \
		if ((want) > (vec)->cap) {                                     \
			size_t _c = (vec)->cap ? (vec)->cap * 2 : 8;           \
			while (_c < (want))                                    \
				_c *= 2;                                       \
			void *_p = realloc((vec)->v, _c * sizeof(*(vec)->v));  \
			if (!_p)                                               \
				abort();                                       \
			(vec)->v = _p;                                         \
			(vec)->cap = _c;                                       \
		}                                                              \
	} while (0)

#define vec_push(vec, val)                                                     \
	do {                                                                   \
		vec_reserve(vec, (vec)->n + 1);                                \
		(vec)->v[(vec)->n++] = (val);                                  \
	} while (0)

/* For the cleanup attribute: every VEC starts with its array. */
static inline void vec_freep(void *vec)
{
	free(*(void **)vec);
}
#define _cleanup_vec_ __attribute__((cleanup(vec_freep)))

#define vec_free(vec)                                                          \
	do {                                                                   \
		free((vec)->v);                                                \
		(vec)->v = NULL;                                               \
		(vec)->n = (vec)->cap = 0;                                     \
	} while (0)

#endif
