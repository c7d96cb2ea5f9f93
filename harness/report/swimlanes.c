/* The swimlane sequence diagram of one variant in the HTML report
 * (report_html.c writes the page around it): virtual time, built from the
 * same timeline records the JSON reporter writes.
 *
 * Lanes: one per browser tab (one "browser" lane when no step named a
 * tab), one per app instance (one "app" lane with a single instance), a
 * backend (Convex-style /convex/ routes) and the IdP. Each browser request
 * is a block: its arrow to the app (or the IdP) with the access token the
 * app was shown, the app's log lines, the app's calls to the IdP (matched
 * by the request number the browser sent as X-Request-ID, drawn where the
 * app made them) and the response with its cookie changes. Requests that
 * were in flight together are drawn side by side, labelled with the order
 * their responses landed in. Everything colour says is also written:
 * PASS/FAIL, "RT 1a2b3c4d ×3", "fault", "changed". */
#include "swimlanes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "markup.h"

static const char *str(const json_t *e, const char *key)
{
    return json_string_value(json_object_get(e, key));
}

static json_int_t num(const json_t *e, const char *key)
{
    return json_integer_value(json_object_get(e, key));
}

static bool is_request(const json_t *e)
{
    const char *kind = str(e, "kind");
    return kind && strcmp(kind, "request") == 0;
}

/* ---- lanes and tokens --------------------------------------------------- */

#define MAX_LANES 16

struct lanes {
    char names[MAX_LANES][80];
    int count;
    int browser, tabs;  /* first browser lane, how many */
    int app, instances; /* first app lane, how many */
    int backend, idp;
    json_t *tab_lane;      /* tab name -> lane */
    json_t *served;        /* "req" -> app lane that served it */
    json_t *presentations; /* refresh token or code hash -> times presented */
};

struct ctx {
    FILE *f;
    const json_t *entries;
    struct lanes lanes;
    struct jar *jar;
    bool failed_shown;
};

/* A token hash as a chip: its colour comes from the hash, and the label
 * says the same thing for a reader without colour; a refresh token or
 * code presented more than once also says how often ("×3"). */
static void token_chip(FILE *f, const struct ctx *c, const char *kind, const char *hash)
{
    unsigned long h = strtoul(hash, NULL, 16);
    json_int_t times = c ? json_integer_value(json_object_get(c->lanes.presentations, hash)) : 0;
    bool spent = strcmp(kind, "RT") == 0 || strcmp(kind, "code") == 0;
    fprintf(f, "<span class=\"tok%s\" data-token=\"", spent && times > 1 ? " again" : "");
    hx_report_escape(f, hash);
    fprintf(f, "\" style=\"background:hsl(%lu,70%%,82%%)\" title=\"%s hash\">%s ", h % 360, kind, kind);
    hx_report_escape(f, hash);
    if (spent && times > 1)
        fprintf(f, " \u00d7%lld", (long long)times);
    fputs("</span>", f);
}

static void time_label(FILE *f, json_int_t t)
{
    char text[32];
    idp_duration_format(t < 0 ? -t : t, text);
    fprintf(f, "%s%s", t < 0 ? "-" : "+", text);
}

/* ---- the cookie jar ---------------------------------------------------- */

struct jar_cookie {
    char name[128];
    char detail[160]; /* "1991 bytes, HttpOnly" */
    bool deleted, changed;
};

struct jar {
    struct jar_cookie cookies[32];
    size_t count;
    bool changed;
};

static void jar_apply(struct jar *jar, const json_t *e)
{
    const char *name = str(e, "cookie"), *change = str(e, "change");
    if (!name || !change || strcmp(change, "rejected") == 0)
        return;
    struct jar_cookie *c = NULL;
    for (size_t i = 0; i < jar->count; i++)
        if (strcmp(jar->cookies[i].name, name) == 0)
            c = &jar->cookies[i];
    if (!c) {
        if (jar->count == sizeof(jar->cookies) / sizeof(jar->cookies[0]))
            return;
        c = &jar->cookies[jar->count++];
        memset(c, 0, sizeof(*c));
        snprintf(c->name, sizeof(c->name), "%s", name);
    }
    c->deleted = strcmp(change, "deleted") == 0;
    c->changed = jar->changed = true;
    c->detail[0] = '\0';
    const char *text = str(e, "text"), *open = text ? strchr(text, '(') : NULL;
    if (open && !c->deleted) {
        snprintf(c->detail, sizeof(c->detail), "%s", open + 1);
        char *close = strrchr(c->detail, ')');
        if (close)
            *close = '\0';
    }
}

/* The jar after a step; changed cookies are marked (in words too). */
static void jar_print(FILE *f, struct jar *jar)
{
    fputs("<div class=\"jar\"><span class=\"jt\">cookie jar</span>", f);
    size_t shown = 0;
    for (size_t i = 0; i < jar->count; i++) {
        struct jar_cookie *c = &jar->cookies[i];
        if (c->deleted && !c->changed)
            continue;
        fprintf(f, "<div class=\"ck%s%s\">", c->changed ? " chg" : "", c->deleted ? " del" : "");
        hx_report_escape(f, c->name);
        if (c->deleted)
            fputs(" <b>deleted</b>", f);
        else {
            fputs(" <small>", f);
            hx_report_escape(f, c->detail);
            fputs("</small>", f);
            if (c->changed)
                fputs(" <b>changed</b>", f);
        }
        fputs("</div>", f);
        c->changed = false;
        shown++;
    }
    if (!shown)
        fputs("<div class=\"ck\">(empty)</div>", f);
    fputs("</div>", f);
    jar->changed = false;
}

/* ---- the diagram ------------------------------------------------------- */

static bool is_kind(const json_t *e, const char *kind)
{
    const char *k = str(e, "kind");
    return k && strcmp(k, kind) == 0;
}

static int add_lane(struct lanes *ln, const char *prefix, const char *name)
{
    if (ln->count == MAX_LANES)
        return ln->count - 1;
    snprintf(ln->names[ln->count], sizeof(ln->names[0]), "%s%s", prefix, name);
    return ln->count++;
}

/* The variant's lanes: browser tabs in the order they first acted, app
 * instances in number order, the backend, the IdP; and which instance
 * served each request, and how often each refresh token was presented. */
static void lanes_find(struct lanes *ln, const json_t *entries)
{
    memset(ln, 0, sizeof(*ln));
    ln->tab_lane = json_object();
    ln->served = json_object();
    ln->presentations = json_object();
    json_t *instances = json_object(); /* "instance" -> true, to count them */
    int highest = -1;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        const char *tab = str(e, "tab");
        if (tab && !json_object_get(ln->tab_lane, tab) && ln->tabs < 6) {
            json_object_set_new(ln->tab_lane, tab, json_integer(ln->tabs));
            ln->tabs++;
        }
        json_t *inst = json_object_get(e, "instance");
        if (json_is_integer(inst) && json_integer_value(inst) >= 0 && json_integer_value(inst) < 8) {
            char key[24];
            snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(inst));
            json_object_set_new(instances, key, json_true());
            if (json_integer_value(inst) > highest)
                highest = (int)json_integer_value(inst);
        }
        const char *token = str(e, "token");
        if (is_kind(e, "idp") && token && str(e, "grant_type")) {
            json_int_t n = json_integer_value(json_object_get(ln->presentations, token));
            json_object_set_new(ln->presentations, token, json_integer(n + 1));
        }
    }
    json_decref(instances);
    ln->browser = 0;
    if (!ln->tabs) {
        add_lane(ln, "", "browser");
        ln->tabs = 1;
    } else {
        const char *tab;
        json_t *v;
        /* Lanes in first-seen order: the values are those ranks. */
        for (int rank = 0; rank < ln->tabs; rank++)
            json_object_foreach(ln->tab_lane, tab, v) if (json_integer_value(v) == rank)
                add_lane(ln, "browser tab ", tab);
    }
    ln->app = ln->count;
    ln->instances = highest >= 0 ? highest + 1 : 1;
    for (int k = 0; k < ln->instances; k++) {
        char number[16];
        snprintf(number, sizeof(number), "%d", k + 1);
        add_lane(ln, ln->instances > 1 ? "app instance " : "app", ln->instances > 1 ? number : "");
    }
    ln->backend = add_lane(ln, "", "backend");
    ln->idp = add_lane(ln, "", "IdP");
    /* The instance that served a request: its first line or record. */
    json_array_foreach(entries, i, e) {
        json_t *inst = json_object_get(e, "instance");
        if (!json_is_integer(inst) || !json_object_get(e, "req"))
            continue;
        char key[24];
        snprintf(key, sizeof(key), "%lld", (long long)num(e, "req"));
        json_int_t k = json_integer_value(inst);
        if (!json_object_get(ln->served, key) && k >= 0 && k < ln->instances)
            json_object_set_new(ln->served, key, json_integer(ln->app + k));
    }
}

static void lanes_cleanup(struct lanes *ln)
{
    json_decref(ln->tab_lane);
    json_decref(ln->served);
    json_decref(ln->presentations);
}

static int tab_lane(const struct lanes *ln, const json_t *e)
{
    json_t *v = json_object_get(ln->tab_lane, str(e, "tab") ? str(e, "tab") : "");
    return ln->browser + (v ? (int)json_integer_value(v) : 0);
}

/* The app lane of an entry with an instance number, or of its request. */
static int app_lane(const struct lanes *ln, const json_t *e)
{
    json_t *inst = json_object_get(e, "instance");
    if (json_is_integer(inst) && json_integer_value(inst) >= 0 &&
        json_integer_value(inst) < ln->instances)
        return ln->app + (int)json_integer_value(inst);
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)num(e, "req"));
    json_t *served = json_object_get(ln->served, key);
    return served ? (int)json_integer_value(served) : ln->app;
}

static void cell_open(FILE *f, int from, int to, const char *cls)
{
    int a = from < to ? from : to, b = from < to ? to : from;
    fprintf(f, "<div class=\"%s\" style=\"grid-column:%d/%d\">", cls, a + 1, b + 2);
}

/* An arrow between two lanes with its label; dir says which way. */
static void arrow(FILE *f, int from, int to, const char *cls, const char *label_html)
{
    char klass[64];
    snprintf(klass, sizeof(klass), "arr %s %s", from < to ? "right" : "left", cls);
    cell_open(f, from, to, klass);
    fprintf(f, "<span class=\"lbl\">%s</span></div>", label_html);
}

static int request_lane(const struct lanes *ln, const json_t *rec, const json_t *idp_hosts)
{
    const char *path = str(rec, "path"), *host = str(rec, "host");
    if (path && strncmp(path, "/user_management/", 17) == 0)
        return ln->idp;
    size_t i;
    json_t *h;
    json_array_foreach(idp_hosts, i, h) if (host && strcmp(json_string_value(h), host) == 0) return ln->idp;
    if (path && strncmp(path, "/convex/", 8) == 0)
        return ln->backend;
    return app_lane(ln, rec);
}

/* An arrow's label is built in memory, then drawn. */
struct label {
    char *text;
    size_t len;
    FILE *f;
};

static bool label_open(struct label *l)
{
    l->text = NULL;
    l->f = open_memstream(&l->text, &l->len);
    return l->f != NULL;
}

static void label_draw(FILE *f, struct label *l, int from, int to, const char *cls)
{
    fclose(l->f);
    arrow(f, from, to, cls, l->text ? l->text : "");
    free(l->text);
}

static void status_chip(FILE *f, json_int_t status)
{
    if (status)
        fprintf(f, "<span class=\"st s%lld\">%lld</span>", (long long)(status / 100),
                (long long)status);
    else
        fputs("<span class=\"st s5\">no response</span>", f);
}

/* What a journal entry of fakeidp says about a call: grant and the token
 * presented (into the call's label), outcome and fault (into the answer's). */
static void idp_call_label(FILE *f, const struct ctx *c, const json_t *e, bool with_route)
{
    const char *grant = str(e, "grant_type"), *token = str(e, "token");
    if (with_route) {
        hx_report_escape(f, str(e, "method"));
        fputc(' ', f);
        hx_report_escape(f, str(e, "route"));
    }
    if (grant) {
        fputc(' ', f);
        hx_report_escape(f, grant);
    }
    if (token) {
        fputc(' ', f);
        token_chip(f, c, grant && strcmp(grant, "refresh_token") == 0 ? "RT" : "code", token);
    }
}

static void idp_answer_label(FILE *f, const json_t *e)
{
    const char *fault = str(e, "fault");
    fputc(' ', f);
    hx_report_escape(f, str(e, "outcome"));
    if (fault) {
        fputs(" <span class=\"fault\">fault ", f);
        hx_report_escape(f, fault);
        fputs("</span>", f);
    }
}

/* The app's call to the IdP (journal entry e) and the answer; `call` is
 * the app's record of it (what it got back), NULL when there is none. */
static void idp_call(struct ctx *c, const json_t *e, const json_t *call, int from)
{
    struct label l;
    if (!label_open(&l))
        return;
    idp_call_label(l.f, c, e, true);
    label_draw(c->f, &l, from, c->lanes.idp, "call");
    if (!label_open(&l))
        return;
    json_int_t status = num(e, "status");
    status_chip(l.f, status);
    idp_answer_label(l.f, e);
    if (call && str(call, "access_token")) {
        fputs(" issued ", l.f);
        token_chip(l.f, c, "AT", str(call, "access_token"));
        if (str(call, "refresh_token")) {
            fputc(' ', l.f);
            token_chip(l.f, c, "RT", str(call, "refresh_token"));
        }
    }
    label_draw(c->f, &l, c->lanes.idp, from, status >= 400 ? "ret bad" : "ret");
}

static void fail_box(struct ctx *c, const json_t *e)
{
    fprintf(c->f, "<div class=\"fail\" style=\"grid-column:1/-1\">%s",
            c->failed_shown ? "expectation failed: " : "FIRST FAILED EXPECTATION: ");
    c->failed_shown = true;
    hx_report_escape(c->f, str(e, "text"));
    fputs("</div>", c->f);
}

/* One browser request and everything that carries its number. */
static void request_block(struct ctx *c, const json_t *rec, const json_t *idp_hosts)
{
    FILE *f = c->f;
    const json_t *entries = c->entries;
    json_int_t req = num(rec, "req");
    int from = tab_lane(&c->lanes, rec), to = request_lane(&c->lanes, rec, idp_hosts);
    /* The IdP's journal entries for this request, and the app's records of
     * its calls: the k-th call record is where the k-th journal entry goes. */
    const json_t *journal[16];
    size_t journal_count = 0, calls = 0, drawn = 0;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        if (num(e, "req") != req)
            continue;
        if (is_kind(e, "idp") && journal_count < 16)
            journal[journal_count++] = e;
        else if (is_kind(e, "call"))
            calls++;
    }
    struct label l;
    if (!label_open(&l))
        return;
    fprintf(l.f, "<b>#%lld</b> ", (long long)req);
    hx_report_escape(l.f, str(rec, "method"));
    fputc(' ', l.f);
    hx_report_escape(l.f, str(rec, "path"));
    /* The access token this request showed: a bearer header, or the one in
     * the session cookie as the app read it. */
    const char *at = str(rec, "access_token");
    json_array_foreach(entries, i, e) if (!at && num(e, "req") == req && is_kind(e, "presented"))
        at = str(e, "access_token");
    if (at) {
        fputc(' ', l.f);
        token_chip(l.f, c, "AT", at);
    }
    if (to == c->lanes.idp && journal_count)
        idp_call_label(l.f, c, journal[0], false);
    label_draw(f, &l, from, to, "req");
    int changes = 0;
    json_array_foreach(entries, i, e) {
        if (num(e, "req") != req || e == rec)
            continue;
        const char *source = str(e, "source");
        if (is_kind(e, "call")) {
            if (drawn < journal_count && to != c->lanes.idp) {
                idp_call(c, journal[drawn], e, to == c->lanes.backend ? to : app_lane(&c->lanes, e));
                drawn++;
            }
        } else if (is_kind(e, "idp")) {
            /* Journal entries no call record placed (an external app). */
            size_t k = 0;
            while (k < journal_count && journal[k] != e)
                k++;
            if (to != c->lanes.idp && k >= calls)
                idp_call(c, e, NULL, to == c->lanes.backend ? to : app_lane(&c->lanes, e));
        } else if (strcmp(source, "app") == 0 && str(e, "text")) {
            int lane = to == c->lanes.backend ? to : app_lane(&c->lanes, e);
            fprintf(f, "<div class=\"log\" style=\"grid-column:%d/-1\"><span class=\"who\">%s:</span> ",
                    lane + 1, c->lanes.names[lane]);
            hx_report_escape(f, str(e, "text"));
            fputs("</div>", f);
        } else if (strcmp(source, "browser") == 0 && str(e, "cookie")) {
            jar_apply(c->jar, e);
            changes++;
        } else if (strcmp(source, "FAIL") == 0) {
            fail_box(c, e);
        } else if (str(e, "text")) {
            int lane = str(e, "tab") ? tab_lane(&c->lanes, e) : 0;
            fprintf(f, "<div class=\"log\" style=\"grid-column:%d/-1\"><span class=\"who\">", lane + 1);
            hx_report_escape(f, str(e, "component") ? str(e, "component") : source);
            fputs(":</span> ", f);
            hx_report_escape(f, str(e, "text"));
            fputs("</div>", f);
        }
    }
    if (!label_open(&l))
        return;
    json_int_t status = num(rec, "status");
    status_chip(l.f, status);
    fprintf(l.f, " #%lld", (long long)req);
    if (to == c->lanes.idp && journal_count)
        idp_answer_label(l.f, journal[0]);
    label_draw(f, &l, to, from, status >= 400 || !status ? "ret bad" : "ret");
    if (!changes)
        return;
    /* What the response did to the cookies, on its arrival. */
    json_array_foreach(entries, i, e) {
        if (num(e, "req") != req || !str(e, "cookie"))
            continue;
        const char *change = str(e, "change");
        fprintf(f, "<div class=\"setck %s\" style=\"grid-column:1/-1\" data-cookie=\"", change);
        hx_report_escape(f, str(e, "cookie"));
        fprintf(f, "\" data-change=\"%s\">Set-Cookie ", change);
        hx_report_escape(f, str(e, "text") + 7); /* after "cookie " */
        fputs("</div>", f);
    }
}

static void lane_heads(FILE *f, const struct lanes *ln)
{
    fputs("<div class=\"hd\">time</div>", f);
    for (int l = 0; l < ln->count; l++) {
        fprintf(f, "<div class=\"hd lane-%d\">", l);
        hx_report_escape(f, ln->names[l]);
        fputs("</div>", f);
    }
    fputs("<div class=\"hd\">cookie jar</div>", f);
}

/* A grid of the lanes: the main one has the time and jar columns too. */
static void grid_open(FILE *f, const struct lanes *ln, bool inner)
{
    if (inner)
        fprintf(f, "<div class=\"sw inner\" style=\"grid-template-columns:repeat(%d,minmax(3em,1fr))\">",
                ln->count);
    else
        fprintf(f, "<div class=\"sw main\" data-lanes=\"%d\" style=\"grid-template-columns:4.5em "
                   "repeat(%d,minmax(5em,1fr)) minmax(10em,13em)\">",
                ln->count, ln->count);
}

/* A row that belongs to no request block: a step, a failure, a log line. */
static void plain_entry(struct ctx *c, const json_t *e)
{
    FILE *f = c->f;
    const char *source = str(e, "source");
    json_int_t t = num(e, "t");
    if (!str(e, "text"))
        return;
    if (strcmp(source, "FAIL") == 0) {
        fail_box(c, e);
        return;
    }
    if (str(e, "cookie"))
        jar_apply(c->jar, e);
    fputs("<div class=\"at\">", f);
    time_label(f, t);
    if (strcmp(source, "step") == 0) {
        fputs("</div><div class=\"step\" style=\"grid-column:2/-2\">step: ", f);
        hx_report_escape(f, str(e, "text"));
    } else {
        int lane = strcmp(source, "idp") == 0   ? c->lanes.idp
                   : strcmp(source, "app") == 0 ? app_lane(&c->lanes, e)
                                                : tab_lane(&c->lanes, e);
        fprintf(f, "</div><div class=\"log\" style=\"grid-column:%d/-2\"><span class=\"who\">",
                lane + 2);
        hx_report_escape(f, str(e, "component") ? str(e, "component") : source);
        fputs(":</span> ", f);
        hx_report_escape(f, str(e, "text"));
        const char *token = str(e, "token");
        if (token && strcmp(source, "idp") == 0) {
            fputc(' ', f);
            token_chip(f, c, "token", token);
        }
    }
    fputs("</div><div class=\"jarcell\">", f);
    if (c->jar->changed || strcmp(source, "step") == 0)
        jar_print(f, c->jar);
    fputs("</div>", f);
}

/* Virtual time that passed between rows, drawn as one short band whatever
 * its length ("+6m00s of virtual time"). Entries that arrive late with an
 * earlier time (fakeidp's journal is read after a step) draw no gap. */
static void gap(struct ctx *c, json_int_t t, json_int_t *last_t)
{
    if (t <= *last_t)
        return;
    fprintf(c->f, "<div class=\"gap\" style=\"grid-column:1/-1\" data-gap-ms=\"%lld\">",
            (long long)(t - *last_t));
    time_label(c->f, t - *last_t);
    fputs(" of virtual time</div>", c->f);
    *last_t = t;
}

/* Rows in timeline order: a gap for virtual time that passed, a block per
 * request (side by side when requests overlapped), a row for the rest. */
void hx_swimlanes_write(FILE *f, const struct hx_result *r)
{
    const json_t *entries = r->timeline_json;
    size_t count = json_array_size(entries);
    json_t *idp_hosts = json_array();
    size_t i;
    json_t *e;
    /* Which hosts are the IdP: those the browser's authorize trips went to. */
    json_array_foreach(entries, i, e) {
        const char *path = str(e, "path");
        if (is_request(e) && path && strncmp(path, "/user_management/", 17) == 0)
            json_array_append_new(idp_hosts, json_string(str(e, "host")));
    }
    /* Entries with a request number are drawn in their request's block. */
    json_t *has_record = json_object();
    json_array_foreach(entries, i, e) {
        if (is_request(e)) {
            char key[24];
            snprintf(key, sizeof(key), "%lld", (long long)num(e, "req"));
            json_object_set_new(has_record, key, json_true());
        }
    }
    struct jar jar = {0};
    struct ctx c = {.f = f, .entries = entries, .jar = &jar};
    lanes_find(&c.lanes, entries);
    json_int_t last_t = 0;
    grid_open(f, &c.lanes, false);
    lane_heads(f, &c.lanes);
    for (i = 0; i < count; i++) {
        e = json_array_get(entries, i);
        char key[24];
        snprintf(key, sizeof(key), "%lld", (long long)num(e, "req"));
        bool in_block = json_object_get(e, "req") && json_object_get(has_record, key);
        if (in_block && !is_request(e))
            continue;
        gap(&c, num(e, "t"), &last_t);
        if (is_request(e)) {
            /* Requests that overlapped this one: each began before the
             * other finished. They are drawn side by side. */
            size_t group[64], n = 0;
            group[n++] = i;
            for (size_t j = i + 1; j < count && n < 64; j++) {
                json_t *o = json_array_get(entries, j);
                if (!is_request(o))
                    continue;
                if (num(o, "finished_before") >= num(json_array_get(entries, group[n - 1]), "finished"))
                    break;
                group[n++] = j;
            }
            fprintf(f, "<div class=\"at\">");
            time_label(f, num(e, "t"));
            fputs("</div>", f);
            if (n == 1) {
                fputs("<div class=\"blk\" style=\"grid-column:2/-2\">", f);
                grid_open(f, &c.lanes, true);
                request_block(&c, e, idp_hosts);
                fputs("</div></div>", f);
            } else {
                fprintf(f, "<div class=\"par\" style=\"grid-column:2/-2\" data-concurrent=\"%zu\">"
                           "<div class=\"parhd\">%zu requests in flight together (side by side; "
                           "numbered by the order their responses landed)</div><div class=\"cols\">",
                        n, n);
                for (size_t k = 0; k < n; k++) {
                    json_t *rec = json_array_get(entries, group[k]);
                    fprintf(f, "<div class=\"col\" data-req=\"%lld\"><div class=\"colhd\">landed "
                               "%zu of %zu</div>",
                            (long long)num(rec, "req"), k + 1, n);
                    grid_open(f, &c.lanes, true);
                    request_block(&c, rec, idp_hosts);
                    fputs("</div></div>", f);
                }
                fputs("</div></div><div class=\"jarcell\">", f);
                if (jar.changed)
                    jar_print(f, &jar);
                fputs("</div>", f);
                /* Entries without a block that fell between them follow. */
                for (size_t j = i + 1; j <= group[n - 1]; j++) {
                    json_t *o = json_array_get(entries, j);
                    char k2[24];
                    snprintf(k2, sizeof(k2), "%lld", (long long)num(o, "req"));
                    if (is_request(o) || (json_object_get(o, "req") && json_object_get(has_record, k2)))
                        continue;
                    plain_entry(&c, o);
                }
                i = group[n - 1];
                continue;
            }
            fputs("<div class=\"jarcell\">", f);
            if (jar.changed)
                jar_print(f, &jar);
            fputs("</div>", f);
            continue;
        }
        plain_entry(&c, e);
    }
    fputs("</div>", f);
    lanes_cleanup(&c.lanes);
    json_decref(has_record);
    json_decref(idp_hosts);
}
