#include "libjwt_check.h"

#include <jwt.h>
#include <stdlib.h>
#include <string.h>

int lj_decode(const char *token, const char *pem, char **alg, char **claims_json)
{
    jwt_t *jwt = NULL;
    *alg = NULL;
    *claims_json = NULL;
    int rc = jwt_decode(&jwt, token, (const unsigned char *)pem, pem ? (int)strlen(pem) : 0);
    if (rc != 0)
        return rc;
    const char *name = jwt_alg_str(jwt_get_alg(jwt));
    *alg = strdup(name ? name : "?");
    *claims_json = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);
    return 0;
}
