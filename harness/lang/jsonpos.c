#include "jsonpos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scanner {
    const char *text;
    size_t len, pos;
    int line, col;
    struct hx_jsonpos *index;
    int depth;
};

static void advance(struct scanner *s)
{
    if (s->pos >= s->len)
        return;
    if (s->text[s->pos] == '\n') {
        s->line++;
        s->col = 1;
    } else if (((unsigned char)s->text[s->pos] & 0xC0) != 0x80) {
        s->col++; /* columns count characters, not UTF-8 continuation bytes */
    }
    s->pos++;
}

static void skip_space(struct scanner *s)
{
    while (s->pos < s->len && strchr(" \t\r\n", s->text[s->pos]))
        advance(s);
}

static void add(struct scanner *s, const char *path, int line, int col, int kline, int kcol)
{
    struct hx_jsonpos *ix = s->index;
    if (ix->count == ix->capacity) {
        size_t cap = ix->capacity ? ix->capacity * 2 : 64;
        struct hx_jsonpos_entry *grown = realloc(ix->entries, cap * sizeof(*grown));
        if (!grown)
            return;
        ix->entries = grown;
        ix->capacity = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return;
    ix->entries[ix->count++] = (struct hx_jsonpos_entry){copy, line, col, kline, kcol};
}

/* Reads a JSON string at pos into out (escapes kept simple: \" \\ \/ and
 * \uXXXX for ASCII; pointer escaping of '~' and '/' applied). */
static void read_string(struct scanner *s, char *out, size_t size)
{
    size_t o = 0;
    advance(s); /* opening quote */
    while (s->pos < s->len && s->text[s->pos] != '"') {
        char c = s->text[s->pos];
        if (c == '\\' && s->pos + 1 < s->len) {
            advance(s);
            c = s->text[s->pos];
            if (c == 'u' && s->pos + 4 < s->len) {
                char hex[5] = {0};
                memcpy(hex, s->text + s->pos + 1, 4);
                long v = strtol(hex, NULL, 16);
                c = (char)(v > 0 && v < 128 ? v : '?');
                for (int i = 0; i < 4; i++)
                    advance(s);
            } else if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
        }
        const char *esc = c == '~' ? "~0" : c == '/' ? "~1" : NULL;
        if (esc) {
            if (o + 2 < size) {
                out[o++] = esc[0];
                out[o++] = esc[1];
            }
        } else if (o + 1 < size) {
            out[o++] = c;
        }
        advance(s);
    }
    advance(s); /* closing quote */
    out[o] = '\0';
}

static void scan_value(struct scanner *s, const char *path, int kline, int kcol);

static void scan_container(struct scanner *s, const char *path, char close)
{
    advance(s);
    size_t index = 0;
    for (;;) {
        skip_space(s);
        if (s->pos >= s->len)
            return;
        if (s->text[s->pos] == close) {
            advance(s);
            return;
        }
        if (s->text[s->pos] == ',') {
            advance(s);
            continue;
        }
        size_t plen = strlen(path);
        char *child = malloc(plen + 1100);
        if (!child)
            return;
        int kline = s->line, kcol = s->col;
        if (close == '}') {
            if (s->text[s->pos] != '"') {
                free(child);
                return;
            }
            char key[1024];
            read_string(s, key, sizeof(key));
            snprintf(child, plen + 1100, "%s/%s", path, key);
            skip_space(s);
            if (s->pos < s->len && s->text[s->pos] == ':')
                advance(s);
        } else {
            snprintf(child, plen + 1100, "%s/%zu", path, index++);
        }
        skip_space(s);
        size_t before = s->pos;
        scan_value(s, child, kline, kcol);
        free(child);
        /* Nothing consumed (a stray '}' in an array, or past the depth
         * limit): stop, or the loop would never end. */
        if (close == ']' && s->pos == before)
            return;
    }
}

static void scan_value(struct scanner *s, const char *path, int kline, int kcol)
{
    skip_space(s);
    if (s->pos >= s->len || s->depth > 256)
        return;
    add(s, path, s->line, s->col, kline, kcol);
    char c = s->text[s->pos];
    s->depth++;
    if (c == '{' || c == '[') {
        scan_container(s, path, c == '{' ? '}' : ']');
    } else if (c == '"') {
        char skip[8];
        read_string(s, skip, 1);
        (void)skip;
    } else {
        while (s->pos < s->len && !strchr(",}] \t\r\n", s->text[s->pos]))
            advance(s);
    }
    s->depth--;
}

void hx_jsonpos_build(struct hx_jsonpos *index, const char *text, size_t len)
{
    memset(index, 0, sizeof(*index));
    struct scanner s = {text, len, 0, 1, 1, index, 0};
    scan_value(&s, "", 1, 1);
}

void hx_jsonpos_cleanup(struct hx_jsonpos *index)
{
    for (size_t i = 0; i < index->count; i++)
        free(index->entries[i].path);
    free(index->entries);
    memset(index, 0, sizeof(*index));
}

void hx_jsonpos_find(const struct hx_jsonpos *index, const char *path, int want_key, int *line,
                     int *col)
{
    char *p = strdup(path ? path : "");
    *line = *col = 1;
    while (p) {
        for (size_t i = 0; i < index->count; i++) {
            if (strcmp(index->entries[i].path, p) == 0) {
                *line = want_key ? index->entries[i].key_line : index->entries[i].line;
                *col = want_key ? index->entries[i].key_col : index->entries[i].col;
                free(p);
                return;
            }
        }
        char *slash = strrchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        want_key = 0;
    }
    free(p);
}
