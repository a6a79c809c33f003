/*
 * render.c - JSON response bodies.
 *
 * Text from the catalog is normally valid UTF-8 (a UTF8 database checks
 * it), but a database in another encoding can hold any bytes; jansson
 * refuses invalid UTF-8, so such text is repaired (U+FFFD for each bad
 * byte) instead of failing the request.
 */
#include "render.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Length of the valid UTF-8 sequence at s (max len bytes), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t len)
{
    size_t need;
    unsigned min;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        need = 2, min = 0x80, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        need = 3, min = 0x800, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        need = 4, min = 0x10000, cp = s[0] & 0x07;
    else
        return 0;
    if (need > len)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

/* A JSON string of s, repairing invalid UTF-8. NULL s gives JSON null. */
static json_t *text_value(const char *s)
{
    size_t len, o = 0;
    unsigned char *fixed;
    json_t *value;

    if (s == NULL)
        return json_null();
    value = json_string(s);
    if (value != NULL)
        return value;
    len = strlen(s);
    fixed = malloc(len * 3 + 1);
    if (fixed == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence((const unsigned char *)s + i, len - i);
        if (n == 0) { /* U+FFFD REPLACEMENT CHARACTER */
            fixed[o++] = 0xef;
            fixed[o++] = 0xbf;
            fixed[o++] = 0xbd;
            i++;
        } else {
            memcpy(fixed + o, s + i, n);
            o += n;
            i += n;
        }
    }
    value = json_stringn((const char *)fixed, o);
    free(fixed);
    return value;
}

static char *dump(json_t *root, size_t *len)
{
    char *body;

    if (root == NULL)
        return NULL;
    body = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(root);
    if (body != NULL)
        *len = strlen(body);
    return body;
}

/* The ranked items, score = matches / divisor. */
static json_t *ranked_items(const struct recs_catalog *catalog, const struct recs_ranked *ranked,
                            size_t n, uint32_t divisor)
{
    json_t *list = json_array();

    for (size_t i = 0; list != NULL && i < n; i++) {
        const struct recs_product *p = recs_catalog_product(catalog, ranked[i].index);
        json_t *item = json_pack(
            "{s:I, s:o, s:o, s:i, s:o, s:f, s:i}", "id", (json_int_t)p->id, "slug",
            text_value(p->slug), "title", text_value(p->title), "price_cents", (int)p->price_cents,
            "category", text_value(p->category), "score",
            (double)ranked[i].matches / (double)divisor, "matches", (int)ranked[i].matches);
        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

static json_t *product_ref(const struct recs_catalog *catalog, size_t i)
{
    const struct recs_product *p = recs_catalog_product(catalog, i);
    return json_pack("{s:I, s:o, s:o}", "id", (json_int_t)p->id, "slug", text_value(p->slug),
                     "title", text_value(p->title));
}

char *recs_render_recommendations(const struct recs_catalog *catalog, size_t target,
                                  const struct recs_ranked *ranked, size_t n, uint32_t k,
                                  size_t *len)
{
    json_t *list = ranked_items(catalog, ranked, n, k);

    if (list == NULL)
        return NULL;
    return dump(
        json_pack("{s:o, s:o}", "product", product_ref(catalog, target), "recommendations", list),
        len);
}

char *recs_render_cart(const struct recs_catalog *catalog, const size_t *targets, size_t ntargets,
                       const char *const *missing, size_t nmissing,
                       const struct recs_ranked *ranked, size_t n, uint32_t k, size_t *len)
{
    json_t *products = json_array(), *absent = json_array(), *list;

    for (size_t i = 0; products != NULL && i < ntargets; i++) {
        if (json_array_append_new(products, product_ref(catalog, targets[i])) != 0) {
            json_decref(products);
            products = NULL;
        }
    }
    for (size_t i = 0; absent != NULL && i < nmissing; i++) {
        if (json_array_append_new(absent, text_value(missing[i])) != 0) {
            json_decref(absent);
            absent = NULL;
        }
    }
    list = ranked_items(catalog, ranked, n, k * (uint32_t)ntargets);
    if (products == NULL || absent == NULL || list == NULL) {
        json_decref(products);
        json_decref(absent);
        json_decref(list);
        return NULL;
    }
    return dump(json_pack("{s:o, s:o, s:o}", "products", products, "missing", absent,
                          "recommendations", list),
                len);
}

char *recs_render_error(const char *message, size_t *len)
{
    return dump(json_pack("{s:o}", "error", text_value(message)), len);
}

char *recs_render_status(const char *status, size_t *len)
{
    return dump(json_pack("{s:s}", "status", status), len);
}
