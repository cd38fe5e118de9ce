/*
 * The name a connection's first bytes ask for: the server name of a TLS
 * ClientHello (forward sni), or the Host header of an HTTP/1.x request
 * (forward host). Both scanners are bounded and never read past LEN; the
 * proxy calls them again as more bytes arrive until they answer FB_NAME or
 * FB_NONE, or its time or size bound runs out (then the map's default).
 */
#ifndef STEER_FIRSTBYTES_H
#define STEER_FIRSTBYTES_H

#include <stddef.h>
#include <stdint.h>

/* Longest name either scanner returns (a DNS name is at most 253 characters). */
#define FB_NAME_MAX 253

enum fb_result {
	FB_NAME, /* NAME holds the name, lower case, no trailing dot, no port */
	FB_MORE, /* what is there so far is a valid prefix: call again with more bytes */
	FB_NONE, /* not this protocol, malformed, or no name in it: the default applies */
};

/* NAME must hold FB_NAME_MAX + 1 bytes. */
enum fb_result fb_tls_sni(const uint8_t *buf, size_t len, char *name);
enum fb_result fb_http_host(const uint8_t *buf, size_t len, char *name);

#endif
