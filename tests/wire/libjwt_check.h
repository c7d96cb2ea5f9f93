/* An independent verifier for the cross-checks: libjwt (Debian 1.10), kept in
 * its own translation unit so that only the cross-checks depend on it. */
#ifndef WIRE_LIBJWT_CHECK_H
#define WIRE_LIBJWT_CHECK_H

/* Decodes token with libjwt, verifying it with the public key PEM (NULL: no
 * verification). Returns 0 on success, else libjwt's errno value. On
 * success *alg (e.g. "RS256") and *claims_json (the payload as JSON text)
 * are malloc'd for the caller. */
int lj_decode(const char *token, const char *pem, char **alg, char **claims_json);

#endif
