#include "engine/pg/confport.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* When line (up to its end) sets port, the start of its value, else NULL. */
static const char *port_value(const char *line, const char *end)
{
    const char *p = line;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (end - p < 4 || strncmp(p, "port", 4) != 0)
        return NULL;
    p += 4;
    if (p < end && !(*p == ' ' || *p == '\t' || *p == '='))
        return NULL;    /* port_something */
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p < end && *p == '=')
        p++;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p < end ? p : NULL;
}

char *ss_pg_conf_port(const char *text)
{
    char *found = NULL;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        const char *v = port_value(line, end);
        if (v) {
            const char *q = v;
            if (*q == '\'') {
                q++;
                v++;
                while (q < end && *q != '\'')
                    q++;
            } else {
                while (q < end && !isspace((unsigned char)*q) && *q != '#')
                    q++;
            }
            if (q > v) {
                free(found);
                found = strndup(v, (size_t)(q - v));
            }
        }
        line = *end ? end + 1 : end;
    }
    return found;
}

char *ss_pg_conf_with_port(const char *text, const char *value)
{
    size_t n = strlen(text), vl = strlen(value), lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    size_t cap = n + lines * (vl + 16) + 32;
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    int replaced = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        int has_nl = end != NULL;
        if (!end)
            end = line + strlen(line);
        if (port_value(line, end)) {
            o += sprintf(o, "port = %s", value);
            replaced = 1;
        } else {
            memcpy(o, line, (size_t)(end - line));
            o += end - line;
        }
        if (has_nl)
            *o++ = '\n';
        line = has_nl ? end + 1 : end;
    }
    if (!replaced) {
        if (o > out && o[-1] != '\n')
            *o++ = '\n';
        o += sprintf(o, "port = %s\n", value);
    }
    *o = 0;
    return out;
}
