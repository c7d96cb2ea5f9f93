/* The named apps of a scenario (apps.h). */
#include "apps.h"

#include <stdio.h>
#include <string.h>

#include "defaults.h"
#include "duration.h"
#include "scenario.h"

json_t *hx_run_resolve_providers(const json_t *providers, const char *client_id, const char *issuer_base)
{
    json_t *out = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(providers, i, p) {
        json_t *copy = json_object();
        const char *key;
        json_t *value;
        json_object_foreach(p, key, value) {
            const char *text = json_string_value(value);
            char buf[1024] = "";
            size_t used = 0;
            for (const char *c = text ? text : ""; *c && used < sizeof(buf) - 1;) {
                const char *sub = strncmp(c, "${client_id}", 12) == 0 ? client_id
                                  : strncmp(c, "${issuer_base}", 14) == 0 ? issuer_base : NULL;
                if (sub) {
                    used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s", sub);
                    c += strncmp(c, "${client_id}", 12) == 0 ? 12 : 14;
                } else {
                    buf[used++] = *c++;
                    buf[used] = '\0';
                }
            }
            json_object_set_new(copy, key, json_string(buf));
        }
        json_array_append_new(out, copy);
    }
    return out;
}

static void add_patterns(json_t *list, const char *host)
{
    static const char *const forms[][2] = {{"http://", "/*"}, {"https://", "/*"}, {"http://", ""},
                                           {"https://", ""}, {"http://", ":*"}};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char pattern[200];
        snprintf(pattern, sizeof(pattern), "%s%s%s", forms[i][0], host, forms[i][1]);
        json_array_append_new(list, json_string(pattern));
    }
}

json_t *hx_run_apps_clients(const json_t *apps)
{
    json_t *clients = json_array();
    const char *name;
    json_t *entry;
    json_object_foreach((json_t *)apps, name, entry) {
        const char *id = json_string_value(json_object_get(entry, "client_id"));
        if (!id)
            id = IDP_DEFAULT_CLIENT_ID;
        json_t *client = NULL;
        size_t i;
        json_t *c;
        json_array_foreach(clients, i, c) if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0) client = c;
        if (!client) {
            client = json_pack("{s:s, s:[s,s]}", "id", id, "redirect_uris", "http://localhost:*",
                               "http://127.0.0.1:*");
            json_array_append_new(clients, client);
        }
        json_t *uris = json_object_get(client, "redirect_uris");
        json_array_foreach(json_object_get(entry, "hosts"), i, c) add_patterns(uris, json_string_value(c));
    }
    size_t i;
    json_t *c;
    json_array_foreach(clients, i, c) {
        json_object_set(c, "allowed_origins", json_object_get(c, "redirect_uris"));
        json_object_set(c, "logout_uris", json_object_get(c, "redirect_uris"));
    }
    return clients;
}

int hx_run_backend_specs(const json_t *doc, const char *app_name, bool first,
                         const char *client_id, const char *issuer_base,
                         struct hx_backend_spec out[HX_MAX_BACKENDS])
{
    int count = 0;
    const char *name;
    json_t *entry;
    json_object_foreach(json_object_get(doc, "backends"), name, entry) {
        const char *app = json_string_value(json_object_get(entry, "app"));
        if (count == HX_MAX_BACKENDS || !(app ? app_name && strcmp(app, app_name) == 0 : first))
            continue;
        struct hx_backend_spec *spec = &out[count++];
        snprintf(spec->name, sizeof(spec->name), "%s", name);
        hx_backend_settings_defaults(&spec->settings);
        hx_backend_entry_apply(&spec->settings, entry, NULL); /* checked by lint */
        json_t *standard = hx_backend_default_providers();
        const json_t *own = json_object_get(entry, "providers");
        spec->providers = hx_run_resolve_providers(own ? own : standard, client_id, issuer_base);
        json_decref(standard);
    }
    return count;
}

void hx_run_backend_specs_cleanup(struct hx_backend_spec *specs, int count)
{
    for (int i = 0; i < count; i++) {
        json_decref(specs[i].providers);
        specs[i].providers = NULL;
    }
}

struct hx_app *hx_run_backend_app(struct hx_run *run, const char *name, char *origin, size_t size)
{
    const json_t *entry = json_object_get(json_object_get(run->doc, "backends"), name);
    if (!entry)
        return NULL;
    const char *app = json_string_value(json_object_get(entry, "app"));
    const struct hx_world_app *wa = app ? hx_world_app_named(&run->world, app) : NULL;
    if (app && !wa)
        return NULL;
    snprintf(origin, size, "%s", wa ? wa->origin : run->app_origin);
    return wa ? wa->app : run->app;
}

void hx_run_note_clocks(struct hx_run *run)
{
    char text[1024] = "", part[400];
    size_t used = 0;
    int64_t b = run->browser.knobs.clock_offset_ms;
    char d[32];
    if (b) {
        idp_duration_format(b < 0 ? -b : b, d);
        used += (size_t)snprintf(text + used, sizeof(text) - used, "browser %s%s", b < 0 ? "-" : "+", d);
    }
    int64_t idp = 0;
    /* The IdP's offset is its clock_offset setting. */
    const json_t *setting = json_object_get(json_object_get(json_object_get(run->doc, "idp"), "settings"),
                                            "clock_offset");
    if (setting)
        idp_duration_json(setting, true, &idp);
    if (idp && used < sizeof(text)) {
        idp_duration_format(idp < 0 ? -idp : idp, d);
        used += (size_t)snprintf(text + used, sizeof(text) - used, "%sidp %s%s", used ? ", " : "",
                                 idp < 0 ? "-" : "+", d);
    }
    for (int i = 0; i < (run->world.count ? run->world.count : 1) && used < sizeof(text); i++) {
        struct hx_app *app = run->world.count ? run->world.apps[i].app : run->app;
        if (!app)
            continue;
        hx_app_describe_clocks(app, part, sizeof(part));
        if (part[0])
            used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", used ? ", " : "", part);
    }
    if (text[0])
        hx_run_note(run, "clock", "offsets from the true time: %s", text);
}

void hx_run_start_apps(struct hx_run *run, const json_t *target, const struct hx_app_config *base,
                       uint64_t seed)
{
    struct hx_world *world = &run->world;
    world->routed = true;
    json_t *shared = hx_target_knobs(target);
    json_t *settings = hx_run_admin(run, "GET", "/_fakeidp/settings", NULL, NULL);
    const char *issuer_base = json_string_value(json_object_get(settings, "issuer_base"));
    const char *name;
    json_t *entry;
    json_object_foreach(json_object_get(run->doc, "apps"), name, entry) {
        if (world->count == HX_WORLD_MAX_APPS)
            break;
        struct hx_world_app *wa = &world->apps[world->count];
        json_t *knobs = json_deep_copy(entry);
        struct idp_error err = {0};
        struct hx_app_config ac = *base;
        hx_app_knobs_defaults(&ac.knobs);
        /* Checked by lint; a failure here is the runner's, never silent. */
        if (hx_world_app_take_pieces(knobs, wa, &err) ||
            hx_app_knobs_apply(&ac.knobs, shared, NULL, &err) ||
            hx_app_knobs_apply(&ac.knobs, knobs, NULL, &err)) {
            hx_run_broken(run, "apps.%s: %s", name, err.message);
            hx_world_app_cleanup(wa);
            json_decref(knobs);
            break;
        }
        snprintf(wa->name, sizeof(wa->name), "%s", name);
        if (!wa->client_id[0])
            snprintf(wa->client_id, sizeof(wa->client_id), "%s", IDP_DEFAULT_CLIENT_ID);
        const json_t *overrides = json_object_get(knobs, "instances");
        if (!overrides)
            overrides = json_object_get(shared, "instances");
        ac.instance_overrides = json_is_array(overrides) ? overrides : NULL;
        ac.name = wa->name;
        ac.client_id = wa->client_id;
        ac.public_host = wa->hosts[0];
        ac.seed = seed ^ ((uint64_t)(world->count + 1) * UINT64_C(0x9e3779b97f4a7c15));
        /* Its backend: its own providers or the target's, ${client_id} being
         * the app's own client. */
        json_t *providers = hx_run_resolve_providers(
            wa->pieces.providers ? wa->pieces.providers : json_object_get(target, "providers"),
            wa->client_id, issuer_base ? issuer_base : "https://api.workos.com");
        ac.convex_providers = providers;
        struct hx_backend_spec specs[HX_MAX_BACKENDS];
        ac.backend_count = hx_run_backend_specs(run->doc, wa->name, world->count == 0, wa->client_id,
                                                issuer_base ? issuer_base : "https://api.workos.com",
                                                specs);
        ac.backends = specs;
        wa->app = hx_app_start(&ac, &err);
        hx_run_backend_specs_cleanup(specs, ac.backend_count);
        json_decref(providers);
        json_decref(knobs);
        world->count++;
        if (!wa->app) {
            snprintf(run->start_error, sizeof(run->start_error), "%s: %s", name, err.message);
            hx_run_note(run, "app", "%s refused to start: %s", name, err.message);
            break;
        }
        wa->port = hx_app_port(wa->app);
    }
    json_decref(shared);
    json_decref(settings);
    run->app = world->count ? world->apps[0].app : NULL;
    if (world->count)
        snprintf(run->app_origin, sizeof(run->app_origin), "%s", world->apps[0].origin);
    run->browser.transport = hx_world_transport;
    run->browser.transport_data = world;
}
