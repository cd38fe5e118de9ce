/*
 * proxy/firstbytes.c: the server name of a TLS ClientHello and the Host of an
 * HTTP/1.x request, whole, cut short, re-framed and corrupted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firstbytes.h"

/*
 * Real ClientHellos for a.example, as each client wrote them to a socat
 * listening on 127.0.0.1: OpenSSL 3.0 `openssl s_client -servername a.example`
 * (TLS 1.3), the same with -tls1_2, curl 7.88 (`curl --resolve
 * a.example:PORT:127.0.0.1 https://a.example:PORT/`, padded to 512 bytes),
 * and `openssl s_client -noservername`.
 */
static const uint8_t hello_tls13[] = {
	0x16, 0x03, 0x01, 0x01, 0x36, 0x01, 0x00, 0x01, 0x32, 0x03, 0x03, 0x03, 0x66, 0x8f, 0xa0, 0xf1,
	0x58, 0xbc, 0xe2, 0x36, 0x37, 0xce, 0x1b, 0x3b, 0xcd, 0x81, 0x10, 0x6a, 0x3f, 0xe6, 0xc8, 0x98,
	0x5d, 0x3c, 0xdb, 0x53, 0x36, 0x0b, 0x43, 0xa9, 0x5d, 0x37, 0xaa, 0x20, 0xe7, 0x23, 0xb6, 0xd7,
	0xbf, 0x56, 0x6b, 0x98, 0xb0, 0xcb, 0xfe, 0x0b, 0x3b, 0xef, 0xe3, 0x80, 0x82, 0x6c, 0xf7, 0x12,
	0x92, 0x18, 0xc8, 0x95, 0xf7, 0xd1, 0xf0, 0x0f, 0x81, 0x10, 0xeb, 0x55, 0x00, 0x3e, 0x13, 0x02,
	0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
	0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
	0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xab,
	0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, 0x61, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70,
	0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14,
	0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02,
	0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00,
	0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08,
	0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01,
	0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b,
	0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01,
	0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x18, 0x4e, 0x00, 0x7b, 0x96,
	0x44, 0x96, 0xa4, 0x1e, 0xee, 0xef, 0xe6, 0x46, 0xbb, 0x63, 0x02, 0xa0, 0xe0, 0xfb, 0x55, 0xee,
	0x1c, 0x68, 0xc5, 0x7a, 0xd6, 0x70, 0x16, 0xc2, 0x41, 0x75, 0x73,
};

static const uint8_t hello_tls12[] = {
	0x16, 0x03, 0x01, 0x00, 0xc9, 0x01, 0x00, 0x00, 0xc5, 0x03, 0x03, 0xd8, 0x73, 0x88, 0x03, 0x87,
	0x6b, 0xeb, 0x6a, 0x01, 0x5e, 0xf0, 0x29, 0x4e, 0xa5, 0x9a, 0xd2, 0x0d, 0x86, 0x25, 0x7f, 0x8d,
	0x7c, 0xc9, 0x15, 0xec, 0x58, 0x3c, 0x96, 0xdb, 0x5b, 0x03, 0x5a, 0x00, 0x00, 0x38, 0xc0, 0x2c,
	0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e,
	0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14,
	0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
	0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c,
	0x00, 0x00, 0x09, 0x61, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04,
	0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e,
	0x00, 0x19, 0x00, 0x18, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00,
	0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08,
	0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01,
	0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
};

static const uint8_t hello_curl[] = {
	0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0xf2, 0x4e, 0x73, 0x48, 0xe3,
	0x02, 0x52, 0xe6, 0x20, 0x3f, 0x18, 0x74, 0x79, 0x79, 0xad, 0x52, 0x85, 0xc6, 0x15, 0x8c, 0xa5,
	0x32, 0x51, 0xdf, 0xe8, 0x68, 0x5e, 0x79, 0x9f, 0x8b, 0x4a, 0x4b, 0x20, 0x39, 0x3b, 0x5b, 0x92,
	0x57, 0x8d, 0x1e, 0x15, 0xed, 0xe8, 0x40, 0xaf, 0xd7, 0x13, 0xd1, 0x5a, 0x99, 0x8d, 0x87, 0x6e,
	0x56, 0x9a, 0x59, 0xf8, 0x2c, 0xbf, 0x00, 0xbf, 0x4c, 0x3a, 0x7e, 0xc3, 0x00, 0x3e, 0x13, 0x02,
	0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
	0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
	0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x01, 0x75,
	0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, 0x61, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70,
	0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14,
	0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02,
	0x01, 0x03, 0x01, 0x04, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 0x68, 0x32, 0x08, 0x68, 0x74,
	0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x31,
	0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
	0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01,
	0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
	0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
	0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xce, 0x1c, 0x20,
	0x78, 0xd9, 0x05, 0xfa, 0xb3, 0x09, 0xf0, 0xdc, 0xc8, 0x8c, 0x2d, 0x70, 0xe6, 0x73, 0x73, 0x4f,
	0x6b, 0xc9, 0xdf, 0x0c, 0xa1, 0x03, 0x38, 0xf8, 0xf9, 0xe4, 0xea, 0x5c, 0x4b, 0x00, 0x15, 0x00,
	0xb4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00,
};

static const uint8_t hello_nosni[] = {
	0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0xe8, 0x4b, 0xd2, 0x86, 0x1e,
	0x6b, 0x09, 0xf3, 0x10, 0x34, 0x91, 0x74, 0x70, 0xdf, 0x95, 0x72, 0xdb, 0xd9, 0x13, 0xaa, 0x6b,
	0xf4, 0x86, 0xbd, 0x3b, 0x93, 0xf0, 0x99, 0x8f, 0xb6, 0x91, 0x0d, 0x20, 0x0d, 0x4b, 0x7a, 0x45,
	0x78, 0xe4, 0xf8, 0xb5, 0xba, 0x72, 0xd5, 0x00, 0xca, 0x97, 0x4c, 0x69, 0xf3, 0x0e, 0xdf, 0x99,
	0x79, 0x0a, 0x1a, 0x31, 0x8d, 0x7a, 0xe3, 0x93, 0x47, 0x15, 0x6f, 0x77, 0x00, 0x3e, 0x13, 0x02,
	0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
	0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
	0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
	0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d,
	0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03,
	0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
	0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09,
	0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01,
	0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
	0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00,
	0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xe3, 0x8a, 0x53, 0xda, 0x2e, 0x4d, 0x2a,
	0xe2, 0x9e, 0xbb, 0x93, 0xed, 0x4d, 0x11, 0xd7, 0x1a, 0x86, 0x14, 0x95, 0x1d, 0x1c, 0x5f, 0x63,
	0x95, 0xe0, 0xdb, 0xcb, 0x71, 0x13, 0x1e, 0x32, 0x04,
};

/* Where the lengths of hello_tls13 are, for corrupting them. */
enum {
	T13_RECORD_LEN = 3,
	T13_HS_LEN = 6, /* 24 bits */
	T13_SESSION_ID_LEN = 43,
	T13_SUITES_LEN = 76,
	T13_COMPRESSION_LEN = 140,
	T13_EXTS_LEN = 142,
	T13_SNI_EXT_LEN = 146,
	T13_SNI_LIST_LEN = 148,
	T13_SNI_NAME_LEN = 151,
	T13_SNI_NAME = 153,
};

typedef enum fb_result (*scanner)(const uint8_t *, size_t, char *);

static char _name[FB_NAME_MAX + 1];

/* The scanner on a copy of exactly LEN bytes: a sanitizer build catches a read past it. */
static enum fb_result _scan(scanner fn, const void *buf, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum fb_result r;

	assert_non_null(copy);
	if (len)
		memcpy(copy, buf, len);
	memset(_name, 0x5a, sizeof(_name));
	r = fn(copy, len, _name);
	free(copy);
	return r;
}

#define assert_scan(fn, buf, len, want)                                                                            \
	do {                                                                                                      \
		enum fb_result _r = _scan(fn, buf, len);                                                          \
		if (_r != (want))                                                                                 \
			fail_msg("%s on %zu bytes: %d, expected %d", #fn, (size_t)(len), _r, want);               \
	} while (0)

#define assert_name(fn, buf, len, want)                                                                            \
	do {                                                                                                      \
		assert_scan(fn, buf, len, FB_NAME);                                                               \
		assert_string_equal(_name, want);                                                                 \
	} while (0)

#define assert_http(text, want) assert_scan(fb_http_host, text, strlen(text), want)
#define assert_http_name(text, want) assert_name(fb_http_host, text, strlen(text), want)

/* Every strict prefix of BUF shorter than UPTO is a valid prefix and no more. */
static void _prefixes_more(scanner fn, const uint8_t *buf, size_t upto)
{
	for (size_t n = 0; n < upto; n++)
		assert_scan(fn, buf, n, FB_MORE);
}

/* The handshake bytes of the single-record HELLO, re-framed as records of FIRST bytes, then REST bytes each. */
static size_t _reframe(uint8_t *out, const uint8_t *hello, size_t len, size_t first, size_t rest)
{
	size_t o = 0;

	for (size_t off = 5, k = first; off < len; off += k, k = rest) {
		k = k < len - off ? k : len - off;
		memcpy(out + o, hello, 3);
		out[o + 3] = (uint8_t)(k >> 8);
		out[o + 4] = (uint8_t)k;
		memcpy(out + o + 5, hello + off, k);
		o += 5 + k;
	}
	return o;
}

/* A minimal single-record ClientHello around the extensions EXTS[0..N), or without any when EXTS is NULL. */
static size_t _hello(uint8_t *out, const uint8_t *exts, size_t n)
{
	static const uint8_t fixed[] = {
		0x03, 0x03, /* legacy_version */
		[2 ... 33] = 0x5a, /* random */
		0x00, /* legacy_session_id */
		0x00, 0x02, 0x13, 0x01, /* cipher_suites: TLS_AES_128_GCM_SHA256 */
		0x01, 0x00, /* legacy_compression_methods: null */
	};
	const size_t body = sizeof(fixed) + (exts ? 2 + n : 0);
	uint8_t *p = out;

	*p++ = 22, *p++ = 3, *p++ = 1, *p++ = (uint8_t)((body + 4) >> 8), *p++ = (uint8_t)(body + 4);
	*p++ = 1, *p++ = (uint8_t)(body >> 16), *p++ = (uint8_t)(body >> 8), *p++ = (uint8_t)body;
	memcpy(p, fixed, sizeof(fixed));
	p += sizeof(fixed);
	if (exts) {
		*p++ = (uint8_t)(n >> 8), *p++ = (uint8_t)n;
		memcpy(p, exts, n);
		p += n;
	}
	return (size_t)(p - out);
}

/* A server_name extension with one host_name, NAME. */
static size_t _sni_ext(uint8_t *out, const char *name)
{
	const size_t n = strlen(name);

	out[0] = 0, out[1] = 0;
	out[2] = (uint8_t)((n + 5) >> 8), out[3] = (uint8_t)(n + 5);
	out[4] = (uint8_t)((n + 3) >> 8), out[5] = (uint8_t)(n + 3);
	out[6] = 0;
	out[7] = (uint8_t)(n >> 8), out[8] = (uint8_t)n;
	memcpy(out + 9, name, n);
	return n + 9;
}

/* The answer for a minimal ClientHello naming NAME. */
static enum fb_result _sni_of(const char *name)
{
	static uint8_t ext[1024], hello[2048];
	const size_t n = _sni_ext(ext, name);

	return _scan(fb_tls_sni, hello, _hello(hello, ext, n));
}

static void test_tls_real_hellos(void **state)
{
	assert_name(fb_tls_sni, hello_tls13, sizeof(hello_tls13), "a.example");
	assert_name(fb_tls_sni, hello_tls12, sizeof(hello_tls12), "a.example");
	assert_name(fb_tls_sni, hello_curl, sizeof(hello_curl), "a.example");
}

static void test_tls_every_prefix_is_more(void **state)
{
	_prefixes_more(fb_tls_sni, hello_tls13, sizeof(hello_tls13));
	_prefixes_more(fb_tls_sni, hello_tls12, sizeof(hello_tls12));
	_prefixes_more(fb_tls_sni, hello_curl, sizeof(hello_curl));
	_prefixes_more(fb_tls_sni, hello_nosni, sizeof(hello_nosni));
}

/* Bytes after the ClientHello (a client sending early data, say) are not its business. */
static void test_tls_trailing_bytes_ignored(void **state)
{
	uint8_t buf[sizeof(hello_tls13) + 7];

	memcpy(buf, hello_tls13, sizeof(hello_tls13));
	memcpy(buf + sizeof(hello_tls13), "\x17\x03\x03\x00\x20zz", 7);
	assert_name(fb_tls_sni, buf, sizeof(buf), "a.example");
}

static void test_tls_split_in_two_records(void **state)
{
	static uint8_t buf[sizeof(hello_tls13) + 5];
	const size_t hs = sizeof(hello_tls13) - 5;

	/* Every cut, the handshake header's own included. */
	for (size_t cut = 1; cut < hs; cut++) {
		const size_t n = _reframe(buf, hello_tls13, sizeof(hello_tls13), cut, hs);

		assert_int_equal(n, sizeof(buf));
		assert_name(fb_tls_sni, buf, n, "a.example");
		/* For a few cuts, every prefix too, those ending in the second record's header included. */
		if (cut == 1 || cut == T13_SNI_NAME - 5 || cut == hs - 1)
			_prefixes_more(fb_tls_sni, buf, n);
	}
}

static void test_tls_one_byte_records(void **state)
{
	static uint8_t buf[6 * sizeof(hello_curl)];
	const size_t n = _reframe(buf, hello_curl, sizeof(hello_curl), 1, 1);

	assert_int_equal(n, 6 * (sizeof(hello_curl) - 5));
	assert_name(fb_tls_sni, buf, n, "a.example");
	_prefixes_more(fb_tls_sni, buf, n);
}

/* A record of another type inside a fragmented ClientHello is illegal (RFC 8446 §5.1). */
static void test_tls_interleaved_record(void **state)
{
	static uint8_t buf[sizeof(hello_tls13) + 5];
	const size_t n = _reframe(buf, hello_tls13, sizeof(hello_tls13), 100, sizeof(hello_tls13));

	buf[105] = 21; /* alert */
	assert_scan(fb_tls_sni, buf, n, FB_NONE);
	assert_scan(fb_tls_sni, buf, 106, FB_NONE);
	assert_scan(fb_tls_sni, buf, 105, FB_MORE);
}

static void test_tls_size_bound(void **state)
{
	static uint8_t ext[20000], hello[20000], buf[20100];
	static const uint8_t too_long[] = { 22, 3, 1, 0x40, 0x00, 1, 0x00, 0x40, 0x01 };
	/* fixed part, extensions length, padding extension header */
	const size_t pad = 16384 - 41 - 2 - 4 - _sni_ext(ext, "a.example");
	size_t n = _sni_ext(ext, "a.example");

	ext[n++] = 0, ext[n++] = 21, ext[n++] = (uint8_t)(pad >> 8), ext[n++] = (uint8_t)pad;
	memset(ext + n, 0, pad);
	n = _hello(hello, ext, n + pad);
	assert_int_equal(n, 5 + 4 + 16384);
	assert_name(fb_tls_sni, hello, n, "a.example");
	/* The longest allowed ClientHello, over two records. */
	n = _reframe(buf, hello, n, 10000, 10000);
	assert_name(fb_tls_sni, buf, n, "a.example");
	/* One byte longer is refused on its header alone. */
	assert_scan(fb_tls_sni, too_long, sizeof(too_long), FB_NONE);
}

static void test_tls_no_server_name(void **state)
{
	static const uint8_t other[] = { 0x00, 0x17, 0x00, 0x00 }; /* extended_master_secret */
	uint8_t hello[256];

	assert_scan(fb_tls_sni, hello_nosni, sizeof(hello_nosni), FB_NONE);
	assert_scan(fb_tls_sni, hello, _hello(hello, other, sizeof(other)), FB_NONE);
	assert_scan(fb_tls_sni, hello, _hello(hello, other, 0), FB_NONE);
	/* Before TLS 1.2, the extensions vector may be missing altogether. */
	assert_scan(fb_tls_sni, hello, _hello(hello, NULL, 0), FB_NONE);
}

/* hello_tls13 with the big-endian field of W bytes at OFF set to V. */
static enum fb_result _t13_with(size_t off, unsigned w, unsigned v)
{
	uint8_t buf[sizeof(hello_tls13)];

	memcpy(buf, hello_tls13, sizeof(buf));
	for (unsigned i = 0; i < w; i++)
		buf[off + i] = (uint8_t)(v >> 8 * (w - 1 - i));
	return _scan(fb_tls_sni, buf, sizeof(buf));
}

static unsigned _t13_field(size_t off, unsigned w)
{
	unsigned v = 0;

	for (unsigned i = 0; i < w; i++)
		v = v << 8 | hello_tls13[off + i];
	return v;
}

static void test_tls_corrupt_lengths(void **state)
{
	static const struct {
		size_t off;
		unsigned w;
	} fields[] = {
		{ T13_SESSION_ID_LEN, 1 }, { T13_SUITES_LEN, 2 },  { T13_COMPRESSION_LEN, 1 }, { T13_EXTS_LEN, 2 },
		{ T13_SNI_EXT_LEN, 2 },    { T13_SNI_LIST_LEN, 2 }, { T13_SNI_NAME_LEN, 2 },
	};

	/* Each length inside the ClientHello one too long, one too short, zero and all ones. */
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const unsigned v = _t13_field(fields[i].off, fields[i].w), max = fields[i].w == 1 ? 0xff : 0xffff;
		const unsigned bad[] = { v + 1, v - 1, 0, max };

		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++)
			if (_t13_with(fields[i].off, fields[i].w, bad[j]) != FB_NONE)
				fail_msg("length at %zu set to %u is not refused", fields[i].off, bad[j]);
	}
	/* The handshake's length: shorter cuts the extensions, longer leaves a byte after them. */
	assert_int_equal(_t13_with(T13_HS_LEN, 3, _t13_field(T13_HS_LEN, 3) - 1), FB_NONE);
	assert_int_equal(_t13_with(T13_HS_LEN, 3, _t13_field(T13_HS_LEN, 3) + 1), FB_NONE);
	assert_int_equal(_t13_with(T13_HS_LEN, 3, 0), FB_NONE);
	/*
	 * The record's: shorter makes the rest a malformed record; longer is no
	 * matter, as the ClientHello is complete; empty or oversized is refused.
	 */
	assert_int_equal(_t13_with(T13_RECORD_LEN, 2, _t13_field(T13_RECORD_LEN, 2) - 1), FB_NONE);
	assert_int_equal(_t13_with(T13_RECORD_LEN, 2, _t13_field(T13_RECORD_LEN, 2) + 1), FB_NAME);
	assert_int_equal(_t13_with(T13_RECORD_LEN, 2, 0), FB_NONE);
	assert_int_equal(_t13_with(T13_RECORD_LEN, 2, 16384 + 2048 + 1), FB_NONE);
	/* An odd cipher_suites length. */
	assert_int_equal(_t13_with(T13_SUITES_LEN, 2, _t13_field(T13_SUITES_LEN, 2) - 2), FB_NONE);
	assert_int_equal(_t13_with(T13_SESSION_ID_LEN, 1, 33), FB_NONE);
}

static void test_tls_wrong_headers(void **state)
{
	assert_int_equal(_t13_with(0, 1, 23), FB_NONE); /* application data */
	assert_int_equal(_t13_with(1, 1, 2), FB_NONE); /* SSL 2 */
	assert_int_equal(_t13_with(2, 1, 0x10), FB_NONE);
	assert_int_equal(_t13_with(5, 1, 2), FB_NONE); /* ServerHello */
	assert_int_equal(_t13_with(9, 1, 2), FB_NONE); /* legacy_version 2.x */
	/* Each refused on its first wrong byte, without waiting for the rest. */
	assert_scan(fb_tls_sni, "\x17", 1, FB_NONE);
	assert_scan(fb_tls_sni, "\x16\x02", 2, FB_NONE);
	assert_scan(fb_tls_sni, "\x16\x03\x01\x01\x00\x02", 6, FB_NONE);
	assert_scan(fb_tls_sni, "\x16\x03\x01\x01\x00\x01\x00\x00\xfc\x02\x00", 11, FB_NONE);
}

/* Only the bytes present are read: a malformed vector is refused before the ClientHello is complete. */
static void test_tls_refused_early(void **state)
{
	uint8_t buf[sizeof(hello_tls13)];

	memcpy(buf, hello_tls13, sizeof(buf));
	buf[T13_SESSION_ID_LEN] = 33;
	assert_scan(fb_tls_sni, buf, T13_SESSION_ID_LEN + 1, FB_NONE);
	assert_scan(fb_tls_sni, buf, T13_SESSION_ID_LEN, FB_MORE);
}

static void test_tls_not_tls(void **state)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
	static const uint8_t ssl2[] = { 0x80, 0x2e, 0x01, 0x00, 0x02 };

	assert_scan(fb_tls_sni, get, strlen(get), FB_NONE);
	assert_scan(fb_tls_sni, ssl2, sizeof(ssl2), FB_NONE);
	assert_scan(fb_tls_sni, "", 0, FB_MORE);
	assert_scan(fb_tls_sni, "\x16", 1, FB_MORE);
}

static void test_tls_name_normalized(void **state)
{
	uint8_t buf[sizeof(hello_tls13)];

	memcpy(buf, hello_tls13, sizeof(buf));
	memcpy(buf + T13_SNI_NAME, "A.ExAmPlE", 9);
	assert_name(fb_tls_sni, buf, sizeof(buf), "a.example");

	assert_int_equal(_sni_of("WWW.A.Example."), FB_NAME);
	assert_string_equal(_name, "www.a.example");
	assert_int_equal(_sni_of("_acme-challenge.a-b.example"), FB_NAME);
	assert_string_equal(_name, "_acme-challenge.a-b.example");
	assert_int_equal(_sni_of("localhost"), FB_NAME);
	assert_string_equal(_name, "localhost");
}

static void test_tls_name_validated(void **state)
{
	static const char *const bad[] = {
		".", "..", "a..example", ".a.example", "a.example..", "a example", "a/example", "a.example:443",
		"a\001b", "caf\xc3\xa9.example", "a*b.example", "a@b",
	};
	char name[FB_NAME_MAX + 3];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (_sni_of(bad[i]) != FB_NONE)
			fail_msg("'%s' is not refused", bad[i]);
	/* The longest name, with and without its trailing dot; one longer is refused. */
	memset(name, 'a', sizeof(name));
	for (size_t i = 63; i < FB_NAME_MAX; i += 64)
		name[i] = '.';
	name[FB_NAME_MAX] = '\0';
	assert_int_equal(_sni_of(name), FB_NAME);
	assert_int_equal(strlen(_name), FB_NAME_MAX);
	name[FB_NAME_MAX] = '.';
	name[FB_NAME_MAX + 1] = '\0';
	assert_int_equal(_sni_of(name), FB_NAME);
	assert_int_equal(strlen(_name), FB_NAME_MAX);
	name[FB_NAME_MAX] = 'a';
	assert_int_equal(_sni_of(name), FB_NONE);
}

static void test_tls_server_name_list(void **state)
{
	/* An entry of another name_type, then the host_name: the host_name is found. */
	static const uint8_t other_first[] = {
		0x00, 0x00, 0x00, 0x13, 0x00, 0x11, 0x07, 0x00, 0x02, 'x', 'y',
		0x00, 0x00, 0x09, 'a', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e',
	};
	/* RFC 6066: no two names of one type. */
	static const uint8_t two_hosts[] = {
		0x00, 0x00, 0x00, 0x14, 0x00, 0x12, 0x00, 0x00, 0x03, 'a', '.', 'b',
		0x00, 0x00, 0x09, 'a', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e',
	};
	static const uint8_t empty_list[] = { 0x00, 0x00, 0x00, 0x02, 0x00, 0x00 };
	static const uint8_t empty_ext[] = { 0x00, 0x00, 0x00, 0x00 };
	uint8_t ext[64], hello[256];
	size_t n;

	assert_name(fb_tls_sni, hello, _hello(hello, other_first, sizeof(other_first)), "a.example");
	assert_scan(fb_tls_sni, hello, _hello(hello, two_hosts, sizeof(two_hosts)), FB_NONE);
	assert_scan(fb_tls_sni, hello, _hello(hello, empty_list, sizeof(empty_list)), FB_NONE);
	assert_scan(fb_tls_sni, hello, _hello(hello, empty_ext, sizeof(empty_ext)), FB_NONE);
	/* Two server_name extensions: the upstream could read either. */
	n = _sni_ext(ext, "a.example");
	n += _sni_ext(ext + n, "b.example");
	assert_scan(fb_tls_sni, hello, _hello(hello, ext, n), FB_NONE);
}

static void test_http_simple(void **state)
{
	assert_http_name("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", "a.example");
	assert_http_name("GET /x?y=1 HTTP/1.0\r\nUser-Agent: t\r\nAccept: */*\r\nHost: a.example\r\n\r\n", "a.example");
	assert_http_name("POST /submit HTTP/1.1\nHost: a.example\n\n", "a.example"); /* bare LF */
	assert_http_name("OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n", "a.example");
	assert_http_name("M-SEARCH! / HTTP/1.1\r\nHost: a.example\r\n\r\n", "a.example");
}

static void test_http_host_forms(void **state)
{
	assert_http_name("GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", "a.example");
	assert_http_name("GET / HTTP/1.1\r\nHost: a.example:\r\n\r\n", "a.example"); /* port = *DIGIT */
	assert_http_name("GET / HTTP/1.1\r\nhOsT:a.example\r\n\r\n", "a.example");
	assert_http_name("GET / HTTP/1.1\r\nHOST: \t WWW.A.Example. \t\r\n\r\n", "www.a.example");
	/* Not the Host field, however alike. */
	assert_http_name("GET / HTTP/1.1\r\nHosts: b.example\r\nX-Host: c.example\r\nHost: a.example\r\n\r\n",
			 "a.example");
	assert_http("GET / HTTP/1.1\r\nHost: a.example:80x\r\n\r\n", FB_NONE);
	assert_http("GET / HTTP/1.1\r\nHost: a.example:80:80\r\n\r\n", FB_NONE);
	assert_http("GET / HTTP/1.1\r\nHost: \r\n\r\n", FB_NONE);
	assert_http("GET / HTTP/1.1\r\nHost: a..example\r\n\r\n", FB_NONE);
	assert_http("GET / HTTP/1.1\r\nHost: a example\r\n\r\n", FB_NONE);
}

/* The first complete Host line wins; the upstream refuses the request for the second (RFC 9112 §3.2). */
static void test_http_first_host_wins(void **state)
{
	assert_http_name("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", "a.example");
}

static void test_http_ipv6_literal(void **state)
{
	assert_http("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", FB_NONE);
	assert_http("GET / HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n", FB_NONE);
	assert_http("GET http://[::1]:8080/ HTTP/1.1\r\nHost: a.example\r\n\r\n", FB_NONE);
}

static void test_http_absolute_form(void **state)
{
	assert_http_name("GET http://b.example:8080/x HTTP/1.1\r\nHost: a.example\r\n\r\n", "b.example");
	assert_http_name("GET HTTPS://B.Example?q HTTP/1.1\r\nHost: a.example\r\n\r\n", "b.example");
	assert_http_name("GET http://b.example#f HTTP/1.1\r\n", "b.example"); /* no need to wait for Host */
	assert_http("GET http://b.example/ HTTP/1.1", FB_MORE);
	assert_http("GET http://user@b.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", FB_NONE);
	assert_http("GET http:///x HTTP/1.1\r\nHost: a.example\r\n\r\n", FB_NONE);
	/* Not absolute-form, so Host decides: a path, an authority-form target. */
	assert_http_name("GET /http://b.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", "a.example");
	assert_http_name("CONNECT b.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", "a.example");
}

static void test_http_every_prefix_before_host_is_more(void **state)
{
	static const char req[] = "GET /index.html HTTP/1.1\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
				  "Host: a.example\r\nConnection: close\r\n\r\n";
	const size_t done = (size_t)(strstr(req, "example\r\n") - req) + strlen("example\r\n");

	_prefixes_more(fb_http_host, (const uint8_t *)req, done);
	for (size_t n = done; n <= strlen(req); n++)
		assert_name(fb_http_host, req, n, "a.example");
}

static void test_http_no_host(void **state)
{
	static const char req[] = "GET / HTTP/1.0\r\nAccept: */*\r\n\r\n";

	_prefixes_more(fb_http_host, (const uint8_t *)req, strlen(req));
	assert_http(req, FB_NONE);
	assert_http("GET / HTTP/1.0\n\n", FB_NONE);
}

static void test_http_malformed(void **state)
{
	static const char *const bad[] = {
		"\r\nGET / HTTP/1.1\r\n", /* no method */
		"G@T / HTTP/1.1\r\n", /* not a token */
		"GET  / HTTP/1.1\r\n", /* two spaces */
		"GET / HTTP/1.1 \r\n", /* a space after the version */
		"GET /\r\n", /* HTTP/0.9 */
		"GET / HTTP/2.0\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", /* the HTTP/2 preface */
		"GET / HTTP/1.x\r\n",
		"GET / HTTP/1.1\r\nHost a.example\r\n", /* no colon */
		"GET / HTTP/1.1\r\nHost : a.example\r\n", /* a space before the colon */
		"GET / HTTP/1.1\r\nX: y\r\n folded\r\n", /* obs-fold */
		"GET / HTTP/1.1\r\n: a.example\r\n", /* an empty field name */
		"GET / HTTP/1.1\r\nHost: a.ex\rample\r\n", /* a bare CR */
		"GET / HTTP/1.1\r\nX: \x01\r\nHost: a.example\r\n", /* a control character */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (_scan(fb_http_host, bad[i], strlen(bad[i])) != FB_NONE)
			fail_msg("'%s' is not refused", bad[i]);
	/* Refused as soon as the bytes present say so. */
	assert_http("G@", FB_NONE);
	assert_http("GET / HTTP/2", FB_NONE);
	assert_http("GET / HTTP/1.1\r\nHo st", FB_NONE);
}

static void test_http_binary(void **state)
{
	static const uint8_t garbage[] = { 0x00, 0xff, 0x13, 0x37, 0x80, 0x0a, 0x0d, 0x0a };

	assert_scan(fb_http_host, garbage, sizeof(garbage), FB_NONE);
	assert_scan(fb_http_host, hello_tls13, sizeof(hello_tls13), FB_NONE);
	assert_scan(fb_http_host, hello_tls13, 1, FB_NONE);
	assert_http("", FB_MORE);
}

static void test_http_line_bound(void **state)
{
	static char req[3 * 8192];
	const size_t head = strlen("GET / HTTP/1.1\r\nX: ");

	/* A field line of exactly 8192 bytes before its LF, CR included, passes; one more byte does not. */
	memcpy(req, "GET / HTTP/1.1\r\nX: ", head);
	memset(req + head, 'y', 8192 - 4);
	strcpy(req + head + 8192 - 4, "\r\nHost: a.example\r\n\r\n");
	assert_http_name(req, "a.example");
	memset(req + head, 'y', 8192 - 3);
	strcpy(req + head + 8192 - 3, "\r\nHost: a.example\r\n\r\n");
	assert_http(req, FB_NONE);
	/* Partial: refused once the line outgrows the bound, without waiting for its end. */
	assert_scan(fb_http_host, req, head + 8192 - 3, FB_MORE);
	assert_scan(fb_http_host, req, head + 8192 - 2, FB_NONE);
	/* The request line too. */
	memcpy(req, "GET /", 5);
	memset(req + 5, 'z', 8192);
	strcpy(req + 5 + 8192, " HTTP/1.1\r\nHost: a.example\r\n\r\n");
	assert_http(req, FB_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_real_hellos),
		cmocka_unit_test(test_tls_every_prefix_is_more),
		cmocka_unit_test(test_tls_trailing_bytes_ignored),
		cmocka_unit_test(test_tls_split_in_two_records),
		cmocka_unit_test(test_tls_one_byte_records),
		cmocka_unit_test(test_tls_interleaved_record),
		cmocka_unit_test(test_tls_size_bound),
		cmocka_unit_test(test_tls_no_server_name),
		cmocka_unit_test(test_tls_corrupt_lengths),
		cmocka_unit_test(test_tls_wrong_headers),
		cmocka_unit_test(test_tls_refused_early),
		cmocka_unit_test(test_tls_not_tls),
		cmocka_unit_test(test_tls_name_normalized),
		cmocka_unit_test(test_tls_name_validated),
		cmocka_unit_test(test_tls_server_name_list),
		cmocka_unit_test(test_http_simple),
		cmocka_unit_test(test_http_host_forms),
		cmocka_unit_test(test_http_first_host_wins),
		cmocka_unit_test(test_http_ipv6_literal),
		cmocka_unit_test(test_http_absolute_form),
		cmocka_unit_test(test_http_every_prefix_before_host_is_more),
		cmocka_unit_test(test_http_no_host),
		cmocka_unit_test(test_http_malformed),
		cmocka_unit_test(test_http_binary),
		cmocka_unit_test(test_http_line_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
