/* Byte encodings used on the wire: base64url without padding (JWT, JWK, PKCE,
 * iron), standard base64, lowercase hex. Encoders return a malloc'd,
 * NUL-terminated string (NULL on allocation failure); decoders return a
 * malloc'd buffer and its length, or NULL for invalid input. */
#ifndef IDP_ENCODING_H
#define IDP_ENCODING_H

#include <stddef.h>

char *idp_base64url_encode(const unsigned char *data, size_t len);
unsigned char *idp_base64url_decode(const char *text, size_t text_len,
                                    size_t *out_len);
char *idp_base64_encode(const unsigned char *data, size_t len);
char *idp_hex_encode(const unsigned char *data, size_t len);

/* Crockford base32 of 16 bytes as a 26-character ULID-shaped string. */
void idp_crockford_ulid(const unsigned char bytes[16], char out[27]);

#endif
