/* A cmocka-style assertion the suite uses that cmocka lacks: text starts
 * with prefix, and a failure shows both. Include after <cmocka.h>. */
#ifndef TESTS_ASSERT_PREFIX_H
#define TESTS_ASSERT_PREFIX_H

#include <string.h>

#define assert_string_prefix(text, prefix)                                                     \
    do {                                                                                       \
        const char *text_ = (text), *prefix_ = (prefix);                                       \
        if (!text_ || strncmp(text_, prefix_, strlen(prefix_)) != 0)                           \
            fail_msg("\"%s\" does not start with \"%s\"", text_ ? text_ : "(null)", prefix_); \
    } while (0)

#endif
