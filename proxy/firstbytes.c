/*
 * Hand-written rather than OpenSSL's: OpenSSL parses a ClientHello only inside
 * a server handshake (SSL_CTX_set_client_hello_cb), so the proxy would run a
 * TLS state machine per connection just to read one extension. What it needs
 * is three length-prefixed layers (records, handshake, extensions), read with
 * bounds checked at each one, and small enough to fuzz (tests/fuzz).
 *
 * Both scanners answer FB_NONE as soon as the bytes present cannot begin a
 * valid message, so a connection speaking something else falls to the default
 * at once instead of when the proxy's bound runs out.
 */
#include "firstbytes.h"

#include <stdbool.h>
#include <string.h>

#define TLS_HANDSHAKE 22
#define TLS_CLIENT_HELLO 1
#define TLS_RECORD_MAX (16384 + 2048) /* TLSCiphertext's bound, looser than TLSPlaintext's 2^14 */
#define TLS_HELLO_MAX 16384
#define TLS_EXT_SERVER_NAME 0
#define TLS_HOST_NAME 0

#define HTTP_LINE_MAX 8192

static unsigned _lower(unsigned c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* NAME as the caller gets it: lower case, without one trailing dot, only LDH characters and '_', no empty label. */
static enum fb_result _name(const uint8_t *s, size_t n, char *name)
{
	if (n && s[n - 1] == '.')
		n--;
	if (!n || n > FB_NAME_MAX)
		return FB_NONE;
	for (size_t i = 0; i < n; i++) {
		const unsigned c = _lower(s[i]);

		if (c == '.') {
			if (i == 0 || s[i - 1] == '.' || i == n - 1)
				return FB_NONE;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			return FB_NONE;
		}
		name[i] = (char)c;
	}
	name[n] = '\0';
	return FB_NAME;
}

/*
 * A view of SIZE bytes of which the first HAVE are present, so that one walk
 * tells a short prefix (FB_MORE) from a malformed one (FB_NONE). ST is the
 * answer so far: FB_NAME while nothing went wrong, then the first trouble in
 * stream order, which later reads never overwrite.
 */
struct cursor {
	const uint8_t *p;
	size_t have, size, off;
	enum fb_result st;
};

static void _stop(struct cursor *c, enum fb_result st)
{
	if (c->st == FB_NAME)
		c->st = st;
}

/* The next N bytes, or NULL once anything went wrong. */
static const uint8_t *_take(struct cursor *c, size_t n)
{
	if (c->st != FB_NAME)
		return NULL;
	if (n > c->size - c->off) {
		c->st = FB_NONE;
		return NULL;
	}
	if (n > c->have - c->off) {
		c->st = FB_MORE;
		return NULL;
	}
	c->off += n;
	return c->p + c->off - n;
}

static unsigned _u8(struct cursor *c)
{
	const uint8_t *p = _take(c, 1);

	return p ? p[0] : 0;
}

static unsigned _u16(struct cursor *c)
{
	const uint8_t *p = _take(c, 2);

	return p ? (unsigned)p[0] << 8 | p[1] : 0;
}

/* A vector's length of W bytes, which must lie in [MIN, MAX]. */
static size_t _len(struct cursor *c, unsigned w, size_t min, size_t max)
{
	const size_t n = w == 1 ? _u8(c) : _u16(c);

	if (n < min || n > max)
		_stop(c, FB_NONE);
	return c->st == FB_NAME ? n : 0;
}

/* The next N bytes as a view of their own; C moves past them only at _done, so trouble inside comes first. */
static struct cursor _sub(struct cursor *c, size_t n)
{
	struct cursor s = { .st = c->st };

	if (s.st == FB_NAME && n > c->size - c->off) {
		_stop(c, FB_NONE);
		s.st = FB_NONE;
	}
	if (s.st != FB_NAME)
		return s;
	s.p = c->p + c->off;
	s.size = n;
	s.have = c->have - c->off < n ? c->have - c->off : n;
	return s;
}

/* S, a view _sub made of C, is walked: its trouble is C's, and so are bytes it left over. */
static void _done(struct cursor *c, const struct cursor *s)
{
	if (s->st != FB_NAME)
		_stop(c, s->st);
	else if (s->off != s->size)
		_stop(c, FB_NONE);
	else
		_take(c, s->size);
}

/* RFC 6066 §3: at most one host_name; entries of other types have the same shape, so they are skipped. */
static void _server_name(struct cursor *ext, char *name, bool *found)
{
	struct cursor list = _sub(ext, _len(ext, 2, 1, 0xffff));

	while (list.st == FB_NAME && list.off < list.size) {
		const unsigned type = _u8(&list);
		const size_t n = _len(&list, 2, 1, 0xffff);
		const uint8_t *s = _take(&list, n);

		if (!s || type != TLS_HOST_NAME)
			continue;
		if (*found || _name(s, n, name) != FB_NAME)
			_stop(&list, FB_NONE);
		*found = true;
	}
	_done(ext, &list);
}

/* RFC 8446 §4.1.2, which also reads TLS 1.0 to 1.2 ClientHellos. */
static enum fb_result _client_hello(struct cursor *c, char *name)
{
	const uint8_t *version = _take(c, 2);
	bool found = false;

	if (version && version[0] != 3)
		_stop(c, FB_NONE);
	_take(c, 32); /* random */
	_take(c, _len(c, 1, 0, 32)); /* legacy_session_id */
	const size_t suites = _len(c, 2, 2, 0xfffe);

	if (suites % 2)
		_stop(c, FB_NONE);
	_take(c, suites);
	_take(c, _len(c, 1, 1, 0xff)); /* legacy_compression_methods */
	if (c->st == FB_NAME && c->off == c->size)
		return FB_NONE; /* TLS 1.2 and older may send no extensions at all */

	struct cursor exts = _sub(c, _len(c, 2, 0, 0xffff));

	while (exts.st == FB_NAME && exts.off < exts.size) {
		const unsigned type = _u16(&exts);
		const size_t n = _len(&exts, 2, 0, 0xffff);

		if (type != TLS_EXT_SERVER_NAME) {
			_take(&exts, n);
			continue;
		}
		/* Two server_name extensions are illegal (RFC 8446 §4.2): the upstream might read the other one. */
		struct cursor ext = _sub(&exts, n);

		if (found)
			_stop(&ext, FB_NONE);
		_server_name(&ext, name, &found);
		_done(&exts, &ext);
	}
	_done(c, &exts);
	if (c->st == FB_NAME && c->off != c->size)
		_stop(c, FB_NONE);
	return c->st == FB_NAME && !found ? FB_NONE : c->st;
}

static size_t _u24(const uint8_t *p)
{
	return (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
}

/* Enough handshake bytes in HS[0..N) to answer: the whole first message, or a header that rules it out. */
static bool _hs_enough(const uint8_t *hs, size_t n)
{
	if (n < 4)
		return n && hs[0] != TLS_CLIENT_HELLO;
	return hs[0] != TLS_CLIENT_HELLO || _u24(hs + 1) > TLS_HELLO_MAX || n - 4 >= _u24(hs + 1);
}

enum fb_result fb_tls_sni(const uint8_t *buf, size_t len, char *name)
{
	/* Only a ClientHello split over records is copied here; one in a single record is read in place. */
	uint8_t scratch[4 + TLS_HELLO_MAX];
	const uint8_t *hs = NULL;
	size_t n = 0;

	for (size_t off = 0, i = 0; !_hs_enough(hs, n); i++) {
		const size_t h = len - off < 5 ? len - off : 5;

		if ((h > 0 && buf[off] != TLS_HANDSHAKE) || (h > 1 && buf[off + 1] != 3) ||
		    (h > 2 && buf[off + 2] > 0x0f))
			return FB_NONE;
		if (h < 5)
			break;
		const size_t rlen = (size_t)buf[off + 3] << 8 | buf[off + 4];
		const size_t avail = len - off - 5 < rlen ? len - off - 5 : rlen;

		/* RFC 8446 §5.1: no empty handshake records. */
		if (!rlen || rlen > TLS_RECORD_MAX)
			return FB_NONE;
		if (i == 0) {
			hs = buf + off + 5;
			n = avail;
		} else {
			/* Nothing is lost to the bound: a message that fits is complete before SCRATCH is full. */
			const size_t k = avail < sizeof(scratch) - n ? avail : sizeof(scratch) - n;

			if (i == 1) {
				memcpy(scratch, hs, n);
				hs = scratch;
			}
			memcpy(scratch + n, buf + off + 5, k);
			n += k;
		}
		if (avail < rlen)
			break;
		off += 5 + rlen;
	}
	if (n && hs[0] != TLS_CLIENT_HELLO)
		return FB_NONE;
	if (n < 4)
		return FB_MORE;

	const size_t size = _u24(hs + 1);
	struct cursor c = { .p = hs + 4, .have = n - 4 < size ? n - 4 : size, .size = size, .st = FB_NAME };

	if (size > TLS_HELLO_MAX)
		return FB_NONE;
	return _client_hello(&c, name);
}

/* RFC 9110 §5.6.2. */
static bool _tchar(unsigned c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", (int)c));
}

/* The length of the token at S[0..N). */
static size_t _token(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n && _tchar(s[i]))
		i++;
	return i;
}

/* A Host value or an absolute-form target's authority: uri-host [":" port], which must be a name. */
static enum fb_result _authority(const uint8_t *s, size_t n, char *name)
{
	const uint8_t *colon = memchr(s, ':', n);

	if (n && s[0] == '[')
		return FB_NONE; /* an IPv6 literal: no name to steer by */
	if (colon)
		for (const uint8_t *d = colon + 1; d < s + n; d++)
			if (*d < '0' || *d > '9')
				return FB_NONE;
	return _name(s, colon ? (size_t)(colon - s) : n, name);
}

/*
 * The request line S[0..N), without its line end; PARTIAL when more of it may
 * follow. FB_NAME means well formed so far, and then *TARGET and *TLEN are set.
 */
static enum fb_result _request_line(const uint8_t *s, size_t n, bool partial, const uint8_t **target, size_t *tlen)
{
	static const char version[] = "HTTP/1.";
	const size_t vlen = sizeof(version) - 1;
	const enum fb_result cut = partial ? FB_MORE : FB_NONE;
	size_t i = _token(s, n);

	if (i == n)
		return cut;
	if (i == 0 || s[i] != ' ')
		return FB_NONE;
	const size_t t = ++i;

	while (i < n && s[i] > ' ' && s[i] < 0x7f)
		i++;
	if (i == n)
		return cut;
	if (i == t || s[i] != ' ')
		return FB_NONE;
	*target = s + t;
	*tlen = i - t;
	i++;
	if (memcmp(s + i, version, n - i < vlen ? n - i : vlen))
		return FB_NONE;
	if (n - i <= vlen)
		return cut;
	if (s[i + vlen] < '0' || s[i + vlen] > '9' || n - i > vlen + 1)
		return FB_NONE;
	return FB_NAME;
}

/* The length of the URI scheme T starts with (RFC 3986 §3.1), or 0. */
static size_t _scheme(const uint8_t *t, size_t n)
{
	size_t i = 0;

	while (i < n && ((_lower(t[i]) >= 'a' && _lower(t[i]) <= 'z') ||
			 (i && ((t[i] >= '0' && t[i] <= '9') || t[i] == '+' || t[i] == '-' || t[i] == '.'))))
		i++;
	return i;
}

/* RFC 9112 §3.2.2: an absolute-form target's authority overrides Host. FB_MORE: T is not absolute-form. */
static enum fb_result _absolute(const uint8_t *t, size_t n, char *name)
{
	const size_t i = _scheme(t, n);
	size_t alen = 0;

	if (i == 0 || n - i < 3 || memcmp(t + i, "://", 3))
		return FB_MORE;
	const uint8_t *a = t + i + 3;

	while (i + 3 + alen < n && a[alen] != '/' && a[alen] != '?' && a[alen] != '#')
		alen++;
	/* RFC 9110 §4.2.4: userinfo is deprecated in http(s) URIs, and it would hide the host from a quick look. */
	if (memchr(a, '@', alen))
		return FB_NONE;
	return _authority(a, alen, name);
}

/* A field line S[0..N): FB_NAME means well formed so far, and then *VALUE is what follows the colon. */
static enum fb_result _field(const uint8_t *s, size_t n, bool partial, const uint8_t **value)
{
	const size_t i = _token(s, n);

	if (i == n)
		return partial ? FB_MORE : FB_NONE;
	/* Also refuses obs-fold and whitespace before the colon, as RFC 9112 §5 asks. */
	if (i == 0 || s[i] != ':')
		return FB_NONE;
	for (size_t j = i + 1; j < n; j++)
		if ((s[j] < ' ' && s[j] != '\t') || s[j] == 0x7f)
			return FB_NONE;
	*value = s + i + 1;
	return FB_NAME;
}

/* Whether the field line S[0..N), its value at VALUE, is Host; if so, *R is the answer from its value. */
static bool _host(const uint8_t *s, size_t n, const uint8_t *value, char *name, enum fb_result *r)
{
	const uint8_t *end = s + n;

	if (value - s != 5 || _lower(s[0]) != 'h' || _lower(s[1]) != 'o' || _lower(s[2]) != 's' ||
	    _lower(s[3]) != 't')
		return false;
	while (value < end && (*value == ' ' || *value == '\t'))
		value++;
	while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*r = _authority(value, (size_t)(end - value), name);
	return true;
}

/*
 * The first complete Host line wins: answering there, before the end of the
 * header section, means never seeing a second one. That is safe, since RFC
 * 9112 §3.2 makes the upstream refuse a request with two.
 */
enum fb_result fb_http_host(const uint8_t *buf, size_t len, char *name)
{
	for (size_t off = 0; off < len;) {
		const uint8_t *s = buf + off, *lf = memchr(s, '\n', len - off), *p = NULL;
		size_t n = lf ? (size_t)(lf - s) : len - off, plen = 0;
		enum fb_result r;

		if (n > HTTP_LINE_MAX)
			return FB_NONE;
		/* A CR only ends a line; at the end of a partial one, its LF may come next. */
		if (n && s[n - 1] == '\r')
			n--;
		if (off == 0)
			r = _request_line(s, n, !lf, &p, &plen);
		else if (n == 0)
			r = lf ? FB_NONE : FB_MORE; /* the end of the header section, and no Host */
		else
			r = _field(s, n, !lf, &p);
		if (r != FB_NAME || !lf)
			return r == FB_NAME ? FB_MORE : r;
		if (off == 0)
			r = _absolute(p, plen, name);
		else if (!_host(s, n, p, name, &r))
			r = FB_MORE;
		if (r != FB_MORE)
			return r;
		off += (size_t)(lf - s) + 1;
	}
	return FB_MORE;
}
