/* RFC 6238 time-based one-time passwords as authenticator apps compute them:
 * HMAC-SHA1, 30-second steps, 6 digits, the secret in RFC 4648 base32. The
 * fake checks them on its virtual clock. */
#ifndef IDP_TOTP_H
#define IDP_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Encodes len bytes as unpadded base32 into out (at least len*8/5+2 bytes). */
void idp_base32_encode(const unsigned char *bytes, size_t len, char *out, size_t size);

/* The code for a base32 secret at unix time now_s (seconds) into out[7];
 * false when the secret is not base32. */
bool idp_totp_code(const char *secret, int64_t now_s, char out[7]);

/* Whether code is the code of the current step or of one step either side
 * (the usual allowance for clock drift and typing time). */
bool idp_totp_verify(const char *secret, int64_t now_s, const char *code);

#endif
