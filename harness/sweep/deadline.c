/* deadline: the run's wall-clock end and the fit test of an item (see deadline.h). */
#include "harness/sweep/deadline.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

int deadline_parse(const char *when, double now, double *t)
{
    char *end = NULL;
    if (when[0] == '+') {
        double v = strtod(when + 1, &end);
        double mul = 1;
        if (end && *end == 'm') mul = 60, end++;
        else if (end && *end == 'h') mul = 3600, end++;
        else if (end && *end == 's') end++;
        if (end == when + 1 || *end || v < 0) goto bad;
        *t = now + v * mul;
        return KV_OK;
    }
    if (isdigit((unsigned char)when[0]) && !strchr(when, '-')) {
        double v = strtod(when, &end);
        if (*end) goto bad;
        *t = v;
        return KV_OK;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(when, "%Y-%m-%dT%H:%M", &tm);
    if (!p) goto bad;
    if (*p == ':') {
        p = strptime(p, ":%S", &tm);
        if (!p) goto bad;
    }
    if (*p == 'Z' && !p[1]) {
        *t = (double)timegm(&tm);
    } else if (!*p) {
        tm.tm_isdst = -1;
        *t = (double)mktime(&tm);
    } else {
        goto bad;
    }
    return KV_OK;
bad:
    kv_seterr("deadline '%s' not understood (--deadline): expected +SECONDS, +Nm, +Nh, epoch seconds, or "
              "YYYY-MM-DDTHH:MM[:SS][Z]",
              when);
    return KV_ERR;
}

double deadline_from_slurm(const char **source)
{
    const char *e = getenv("SLURM_JOB_END_TIME");
    double t = 0;
    if (e && *e && deadline_parse(e, 0, &t) == KV_OK && t > 0) {
        *source = "SLURM_JOB_END_TIME";
        return t;
    }
    const char *id = getenv("SLURM_JOB_ID");
    if (!id || !*id) return 0;
    for (const char *c = id; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_') return 0;
    char cmd[256], line[128] = "";
    snprintf(cmd, sizeof cmd, "squeue -h -j '%s' -o %%e 2>/dev/null", id);
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    if (!fgets(line, sizeof line, p)) line[0] = 0;
    pclose(p);
    line[strcspn(line, "\r\n ")] = 0;
    if (!line[0] || deadline_parse(line, 0, &t) != KV_OK) return 0; /* "UNLIMITED", "N/A" */
    *source = "squeue end time";
    return t;
}

double deadline_item_seconds(double cost, double busy_s, double cost_done)
{
    return cost_done > 0 && busy_s > 0 ? cost * busy_s / cost_done : cost;
}

double deadline_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
