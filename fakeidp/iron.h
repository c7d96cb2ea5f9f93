/* iron "Fe26.2" seals, byte-compatible with iron-session, iron-webcrypto and
 * @workos-inc/node: the format of the `wos-session` cookie and the PKCE state.
 *
 * Format: Fe26.2*<pwid>*<enc salt hex64>*<iv b64url>*<ciphertext b64url>*
 *         <expiry ms or empty>*<mac salt hex64>*<mac b64url>~2
 * Keys: PBKDF2-HMAC-SHA1(password, salt = the salt's hex text, 1 iteration,
 * 32 bytes); AES-256-CBC for the payload, HMAC-SHA256 over fields 1-6. */
#ifndef IDP_IRON_H
#define IDP_IRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The minimum password length every SDK enforces. */
#define IDP_IRON_MIN_PASSWORD 32

/* Seals `len` bytes of `data` (normally UTF-8 JSON). ttl_ms 0 leaves the
 * expiration field empty (session cookies); otherwise it is now_ms + ttl_ms.
 * Returns a malloc'd string, or NULL with err set (password empty or shorter
 * than IDP_IRON_MIN_PASSWORD: "Password string too short (min 32 characters
 * required)"; crypto or allocation failure). */
char *idp_iron_seal(const char *password, const unsigned char *data, size_t len,
                    int64_t now_ms, int64_t ttl_ms, struct idp_error *err);

/* The same, with the password's id in field 1 (iron's password rotation:
 * a seal made with password {id, secret} is opened with the secret of that
 * id). ids are [A-Za-z0-9_]+, at most 64 characters. */
char *idp_iron_seal_id(const char *password, const char *password_id, const unsigned char *data,
                       size_t len, int64_t now_ms, int64_t ttl_ms, struct idp_error *err);

/* The password id of a seal (field 1) into out; false when the text is not
 * an iron seal or the id does not fit. */
bool idp_iron_password_id(const char *sealed, char *out, size_t size);

/* Opens a seal. On success *out is a malloc'd NUL-terminated buffer of
 * *out_len bytes. A seal whose expiration is set and <= now_ms - 60000 fails
 * with IDP_EXPIRED ("Expired seal"); a wrong password or tampered field with
 * IDP_DENIED ("Bad hmac value"); a malformed seal with IDP_PARSE (messages as
 * iron's: "Incorrect number of sealed components", "Wrong mac prefix", ...). */
enum idp_status idp_iron_unseal(const char *password, const char *sealed,
                                int64_t now_ms, unsigned char **out,
                                size_t *out_len, struct idp_error *err);

#endif
