/*
 * Serves WSGI apps through the C API with a minimal in-memory host, using
 * nothing but include/wsgirt.h: hello world, request bodies, application
 * errors (before and after the response started), several application
 * groups from several threads, then shuts the runtime down.
 *
 * Usage: serve <tests/apps directory>
 */
#include "wsgirt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* ---- log callback: counts lines per request context ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[1 << 16];
static size_t log_len = 0;

static void log_cb(void *userdata, uint32_t level, void *request_ctx, const char *message,
                   size_t message_len)
{
    (void)userdata;
    pthread_mutex_lock(&log_lock);
    int n = snprintf(log_buf + log_len, sizeof(log_buf) - log_len, "[%u %p] %.*s\n", level,
                     request_ctx, (int)message_len, message);
    if (n > 0 && log_len + (size_t)n < sizeof(log_buf)) {
        log_len += (size_t)n;
    }
    pthread_mutex_unlock(&log_lock);
}

static int log_count(const char *needle)
{
    int count = 0;
    pthread_mutex_lock(&log_lock);
    log_buf[log_len] = '\0';
    for (const char *p = strstr(log_buf, needle); p; p = strstr(p + 1, needle)) {
        count++;
    }
    pthread_mutex_unlock(&log_lock);
    return count;
}

/* ---- the host: one request's I/O ---- */

struct host {
    const char *input;
    size_t input_len;
    size_t input_pos;
    uint16_t status;
    char status_line[64];
    int start_calls;
    int saw_content_type;
    char body[4096];
    size_t body_len;
};

static uint32_t read_cb(void *ctx, uint8_t *buf, size_t capacity, size_t *out_len)
{
    struct host *h = ctx;
    size_t n = h->input_len - h->input_pos;
    if (n > capacity) {
        n = capacity;
    }
    memcpy(buf, h->input + h->input_pos, n);
    h->input_pos += n;
    *out_len = n;
    return WSGIRT_IO_OK;
}

static uint32_t start_cb(void *ctx, uint16_t status, const char *line, size_t line_len,
                         const struct wsgirt_pair *headers, size_t headers_len)
{
    struct host *h = ctx;
    h->start_calls++;
    h->status = status;
    snprintf(h->status_line, sizeof(h->status_line), "%.*s", (int)line_len, line);
    for (size_t i = 0; i < headers_len; i++) {
        if (headers[i].name.len == 12 && memcmp(headers[i].name.ptr, "Content-Type", 12) == 0) {
            h->saw_content_type = 1;
        }
    }
    return WSGIRT_IO_OK;
}

static uint32_t write_cb(void *ctx, const uint8_t *data, size_t len, uint32_t flags)
{
    struct host *h = ctx;
    (void)flags;
    if (h->body_len + len >= sizeof(h->body)) {
        return WSGIRT_IO_ERROR;
    }
    memcpy(h->body + h->body_len, data, len);
    h->body_len += len;
    h->body[h->body_len] = '\0';
    return WSGIRT_IO_OK;
}

static const wsgirt_host_io host_io = {
    .struct_size = sizeof(wsgirt_host_io),
    .read = read_cb,
    .start_response = start_cb,
    .write = write_cb,
    .send_file = NULL,
};

static char apps[1024];

static wsgirt_str str(const char *s)
{
    wsgirt_str r = {s, strlen(s)};
    return r;
}

/* Runs one request; `query` is QUERY_STRING, `body` the request body. */
static wsgirt_status request(wsgirt_runtime *rt, const char *group, const char *script,
                             const char *query, const char *body, struct host *h,
                             wsgirt_request_result *result, void *log_ctx)
{
    char path[2048];
    char length[32];
    snprintf(path, sizeof(path), "%s/%s", apps, script);
    snprintf(length, sizeof(length), "%zu", body ? strlen(body) : (size_t)0);
    const wsgirt_pair environ[] = {
        {str("REQUEST_METHOD"), str(body ? "POST" : "GET")},
        {str("SCRIPT_NAME"), str("")},
        {str("PATH_INFO"), str("/")},
        {str("QUERY_STRING"), str(query)},
        {str("CONTENT_LENGTH"), str(length)},
        {str("SERVER_NAME"), str("localhost")},
        {str("SERVER_PORT"), str("80")},
        {str("SERVER_PROTOCOL"), str("HTTP/1.1")},
    };
    const wsgirt_request_spec spec = {
        .struct_size = sizeof(wsgirt_request_spec),
        .application_group = str(group),
        .script_path = str(path),
        .callable_object = {NULL, 0},
        .reload_script = true,
        .script_mtime = 0,
        .environ = environ,
        .environ_len = sizeof(environ) / sizeof(environ[0]),
        .log_ctx = log_ctx,
    };
    memset(h, 0, sizeof(*h));
    h->input = body ? body : "";
    h->input_len = body ? strlen(body) : 0;
    memset(result, 0, sizeof(*result));
    result->struct_size = sizeof(*result);
    return wsgirt_request_run(rt, &spec, &host_io, h, result);
}

/* ---- concurrent requests ---- */

struct worker {
    wsgirt_runtime *rt;
    int id;
    int bad;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    static const char *const groups[] = {"", "c-a", "c-b"};
    for (int i = 0; i < 300; i++) {
        const char *group = groups[i % 3];
        char query[64];
        char expected[128];
        struct host h;
        wsgirt_request_result result;
        snprintf(query, sizeof(query), "w%d-%d", w->id, i);
        wsgirt_status st = request(w->rt, group, "threads.wsgi", query, NULL, &h, &result, NULL);
        snprintf(expected, sizeof(expected), "%s|%s|", group, query);
        if (st != WSGIRT_STATUS_OK || h.status != 200 ||
            strncmp(h.body, expected, strlen(expected)) != 0) {
            w->bad++;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <tests/apps directory>\n", argv[0]);
        return 2;
    }
    snprintf(apps, sizeof(apps), "%s", argv[1]);

    wsgirt_config *cfg = NULL;
    CHECK(wsgirt_config_new(&cfg) == WSGIRT_STATUS_OK);
    CHECK(wsgirt_config_set_log_callback(cfg, log_cb, NULL) == WSGIRT_STATUS_OK);
    CHECK(wsgirt_config_set_host_version(cfg, 2, 4, 62) == WSGIRT_STATUS_OK);
    CHECK(wsgirt_config_set_flag(cfg, WSGIRT_FLAG_DONT_WRITE_BYTECODE, true) == WSGIRT_STATUS_OK);
    wsgirt_runtime *rt = NULL;
    wsgirt_status st = wsgirt_runtime_new(WSGIRT_ABI_VERSION, cfg, &rt);
    wsgirt_config_free(cfg);
    if (st != WSGIRT_STATUS_OK) {
        fprintf(stderr, "wsgirt_runtime_new: %s\n", wsgirt_status_str(st));
        return 1;
    }

    struct host h;
    wsgirt_request_result result;

    /* Hello world. */
    st = request(rt, "", "hello.wsgi", "", NULL, &h, &result, NULL);
    CHECK(st == WSGIRT_STATUS_OK);
    CHECK(h.start_calls == 1);
    CHECK(h.status == 200);
    CHECK(strcmp(h.status_line, "200 OK") == 0);
    CHECK(h.saw_content_type);
    CHECK(strcmp(h.body, "Hello world!\n") == 0);
    CHECK(result.http_status == 200);
    CHECK(result.bytes_written == 13);
    CHECK(!result.client_gone && !result.incomplete);

    /* The same app in a sub-interpreter. */
    st = request(rt, "c-sub", "hello.wsgi", "", NULL, &h, &result, NULL);
    CHECK(st == WSGIRT_STATUS_OK);
    CHECK(strcmp(h.body, "Hello world!\n") == 0);

    /* A request body. */
    st = request(rt, "", "input.wsgi", "readlines", "one\ntwo\n", &h, &result, NULL);
    CHECK(st == WSGIRT_STATUS_OK);
    CHECK(strcmp(h.body, "[b'one\\n', b'two\\n']") == 0);

    /* An application error before the response: APP_ERROR, one traceback. */
    static int error_ctx;
    st = request(rt, "", "errors.wsgi", "call:c1", NULL, &h, &result, &error_ctx);
    CHECK(st == WSGIRT_STATUS_APP_ERROR);
    CHECK(h.start_calls == 0);
    CHECK(result.struct_size == sizeof(result) && result.http_status == 0);
    CHECK(log_count("Exception occurred processing WSGI script") == 1);
    CHECK(log_count("Traceback (most recent call last):") == 1);
    CHECK(log_count("RuntimeError: boom in call c1") == 1);

    /* An error after the response started: OK, marked incomplete. */
    st = request(rt, "c-sub", "errors.wsgi", "iter_after:c2", NULL, &h, &result, NULL);
    CHECK(st == WSGIRT_STATUS_OK);
    CHECK(result.incomplete);
    CHECK(result.http_status == 200);
    CHECK(strcmp(h.body, "partial") == 0);
    CHECK(log_count("LookupError: boom after output c2") == 1);

    /* Bad status from the app. */
    st = request(rt, "", "badresponse.wsgi", "status_crlf", NULL, &h, &result, NULL);
    CHECK(st == WSGIRT_STATUS_APP_ERROR);
    CHECK(log_count("control character present in reason phrase") == 1);

    /* Load failures. */
    st = request(rt, "", "no-such-script.wsgi", "", NULL, &h, &result, NULL);
    CHECK(st == WSGIRT_STATUS_SCRIPT_LOAD_FAILED);

    /* The next request works. */
    st = request(rt, "", "errors.wsgi", "ok:", NULL, &h, &result, NULL);
    CHECK(st == WSGIRT_STATUS_OK);
    CHECK(strcmp(h.body, "ok") == 0);

    /* Concurrent requests in three groups. */
    enum { NTHREADS = 4 };
    pthread_t threads[NTHREADS];
    struct worker workers[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        workers[i] = (struct worker){rt, i, 0};
        CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(workers[i].bad == 0);
    }

    /* A second runtime in this process is refused. */
    wsgirt_config *cfg2 = NULL;
    CHECK(wsgirt_config_new(&cfg2) == WSGIRT_STATUS_OK);
    wsgirt_runtime *rt2 = NULL;
    CHECK(wsgirt_runtime_new(WSGIRT_ABI_VERSION, cfg2, &rt2) == WSGIRT_STATUS_ALREADY_INITIALIZED);
    CHECK(rt2 == NULL);
    wsgirt_config_free(cfg2);

    wsgirt_runtime_free(rt);
    CHECK(log_count("Python has shutdown.") == 1);

    if (failures) {
        fprintf(stderr, "log:\n%s", log_buf);
    }
    printf("serve: %s (%d failed checks)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
