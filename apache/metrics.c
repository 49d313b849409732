/*
 * metrics.c: the reader behind mod_wsgi.server_metrics() (see metrics.h).
 */
#include "metrics.h"

#include "httpd.h"
#include "scoreboard.h"

#include <string.h>

static wsgirt_str wsgi_text(const char *value, size_t capacity)
{
    wsgirt_str text = {value, value ? strnlen(value, capacity) : 0};
    return text;
}

/* Status characters as mod_status and mod_wsgi print them. */
static char wsgi_status_char(int status)
{
    static const char flags[] = {'.', '_', 'S', 'R', 'W', 'K', 'L', 'D', 'C', 'G', 'I'};
    if (status < 0 || status >= (int)sizeof(flags))
        return '?';
    return flags[status];
}

static bool wsgi_read_scoreboard(void *userdata, wsgirt_scoreboard *board)
{
    global_score *global;
    int i, j;

    (void)userdata;
    if (!ap_exists_scoreboard_image())
        return false;
    global = ap_get_scoreboard_global();
    if (!global)
        return false;
    (void)wsgirt_scoreboard_set_limits(board, global->server_limit, global->thread_limit,
                                       global->running_generation, global->restart_time);
    for (i = 0; i < global->server_limit; ++i) {
        process_score *process = ap_get_scoreboard_process(i);
        (void)wsgirt_scoreboard_add_process(board, i, (int32_t)process->pid,
                                            (int32_t)process->generation, process->quiescing != 0);
        for (j = 0; j < global->thread_limit; ++j) {
            worker_score *ws = ap_get_scoreboard_worker_from_indexes(i, j);
            wsgirt_scoreboard_worker worker = {
                .thread_num = ws->thread_num,
                .generation = (int32_t)ws->generation,
                .status = wsgi_status_char(ws->status),
                .access_count = ws->access_count,
                .bytes_served = (uint64_t)ws->bytes_served,
                .start_time_us = ws->start_time,
                .stop_time_us = ws->stop_time,
                .last_used_us = ws->last_used,
                .client = wsgi_text(ws->client64, sizeof(ws->client64)),
                .request = wsgi_text(ws->request, sizeof(ws->request)),
                .vhost = wsgi_text(ws->vhost, sizeof(ws->vhost)),
            };
            (void)wsgirt_scoreboard_add_worker(board, &worker);
        }
    }
    return true;
}

void wsgi_scoreboard_install(wsgirt_config *config)
{
    (void)wsgirt_config_set_scoreboard_reader(config, wsgi_read_scoreboard, NULL);
}
