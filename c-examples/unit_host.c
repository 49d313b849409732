/*
 * unit_host: a small nginx-unit-style WSGI host built on libwsgirt.
 *
 * One process, one listening socket on 127.0.0.1 and a few worker threads.
 * Each worker accepts a connection and serves its requests one after the
 * other (HTTP/1.1 keep-alive; HTTP/1.0 closes after one response): it parses
 * the request, turns it into CGI variables and calls wsgirt_request_run(),
 * whose callbacks write the response to the socket, with Content-Length
 * when the application gave one and chunked otherwise. Everything the
 * runtime logs goes to stderr through the log callback.
 *
 * It is an example, not a production server: no TLS, no chunked request
 * bodies (answered 501), no request line or header longer than 16 KiB, and
 * no timeouts beyond an idle keep-alive one and a send/receive one.
 *
 * Usage: unit_host SCRIPT PORT [THREADS]
 *   SCRIPT   the WSGI script file (callable `application`)
 *   PORT     TCP port on 127.0.0.1; 0 lets the kernel pick one
 *   THREADS  worker threads (default 4)
 * Once it listens, it prints "unit_host: listening on http://127.0.0.1:PORT/"
 * on stderr. SIGTERM or SIGINT stops it: it stops accepting, lets running
 * requests finish, stops Python and exits with status 0.
 *
 * docs/c-api.md walks through this file.
 */
#define _POSIX_C_SOURCE 200809L

#include <wsgirt.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_THREADS = 64,
    HEADER_BUF_SIZE = 16384,    /* request line + headers (+ what follows them) */
    MAX_ENVIRON = 128,          /* CGI variables per request */
    ENV_ARENA_SIZE = 16384,     /* bytes for HTTP_* names, decoded PATH_INFO, … */
    RESPONSE_HEAD_SIZE = 16384, /* status line + response headers */
    POLL_SLICE_MS = 200,        /* how often idle waits look at the stop flag */
    IDLE_TIMEOUT_MS = 5000,     /* keep-alive: wait this long for the next request */
    IO_TIMEOUT_S = 30,          /* one send or body read */
    DISCARD_LIMIT = 65536,      /* unread body we drain to keep the connection */
    LINGER_MS = 1000,           /* lingering close: how long to drain input */
};

#define LISTEN_ADDR     "127.0.0.1"
#define SERVER_SOFTWARE "unit_host (wsgirt)"

/* --- Process state ------------------------------------------------------ */

/* Set once in main() before the workers start, then only read. */
static const wsgirt_runtime *g_runtime;
static const char *g_script;
static char g_port[8];
static int g_listen_fd = -1;

/* Set by main() when SIGTERM/SIGINT arrives; workers poll it. */
static atomic_bool g_stopping;

/* --- Logging -------------------------------------------------------------- */

struct request;
static void request_log_prefix(const struct request *r, char *buf, size_t size);

static const char *level_name(uint32_t level)
{
    static const char *const names[] = {"emerg", "alert",  "crit", "error",
                                        "warn",  "notice", "info", "debug"};
    return level < 8 ? names[level] : "debug";
}

/*
 * The runtime's log callback (wsgirt_log_cb): one line on stderr per call,
 * formatted like Apache's error log. `request_ctx` is the `log_ctx` we put
 * in the request spec (our struct request) or NULL. The message is not
 * NUL-terminated and may end with a newline. Called from any thread without
 * the GIL; a single fprintf keeps concurrent lines whole (stdio locks the
 * stream per call).
 */
static void on_log(void *userdata, uint32_t level, void *request_ctx, const char *message,
                   size_t message_len)
{
    (void)userdata;
    char client[96] = "";
    if (request_ctx != NULL)
        request_log_prefix(request_ctx, client, sizeof client);
    while (message_len > 0 && message[message_len - 1] == '\n')
        message_len--;
    int len = message_len > INT_MAX ? INT_MAX : (int)message_len;
    fprintf(stderr, "[%s] [pid %ld]%s %.*s\n", level_name(level), (long)getpid(), client, len,
            message);
}

/* The host's own lines go through the same format. */
static void host_log(uint32_t level, const struct request *r, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    on_log(NULL, level, (void *)r, line, len);
}

/* --- Connections and requests -------------------------------------------- */

/* One client connection, owned by the worker that accepted it. */
struct conn {
    int fd;
    char peer_addr[INET_ADDRSTRLEN];
    char peer_port[8];
    /* Received bytes: buf[0, head_end) is the current request's head,
     * buf[pos, len) bytes not consumed yet (body or a pipelined request). */
    char buf[HEADER_BUF_SIZE];
    size_t len;
    size_t pos;
};

/*
 * One request: what was parsed, the CGI variables and the response state.
 * Everything before `environ` is reset for each request (request_reset).
 */
struct request {
    struct conn *conn;

    /* Parsed request; the strings point into conn->buf or env_arena. */
    wsgirt_str method, target, path, query, protocol;
    wsgirt_str content_type, content_length_str, host;
    bool http11;
    bool has_body_length; /* a Content-Length header was present */
    bool expect_continue; /* Expect: 100-continue not answered yet */
    bool head;            /* HEAD: send headers, drop the body */
    bool keep_alive;      /* serve another request on this connection */
    uint64_t body_left;   /* request body bytes not yet read */

    /* Response. The head (status line + headers, without the blank line)
     * is held back until the first body bytes or the end of the response,
     * so that a small response goes out in one send and an empty one can
     * say Content-Length: 0 instead of chunked. */
    uint16_t status;
    bool head_pending;
    bool no_body;       /* HEAD, 1xx, 204, 304 */
    bool chunked;       /* Transfer-Encoding: chunked */
    bool has_length;    /* the application set Content-Length */
    uint64_t length;    /* its value */
    uint64_t body_sent; /* body bytes the application produced (no framing) */
    size_t head_len;
    size_t environ_len;
    size_t env_arena_used;

    /* CGI variables handed to the runtime, and storage for the ones that
     * are not slices of the request head (HTTP_* names, PATH_INFO, …). */
    wsgirt_pair environ[MAX_ENVIRON];
    char env_arena[ENV_ARENA_SIZE];
    char head_buf[RESPONSE_HEAD_SIZE];
};

static void request_reset(struct request *r, struct conn *c)
{
    memset(r, 0, offsetof(struct request, environ));
    r->conn = c;
}

static void request_log_prefix(const struct request *r, char *buf, size_t size)
{
    snprintf(buf, size, " [client %s:%s]", r->conn->peer_addr, r->conn->peer_port);
}

/* --- Socket helpers -------------------------------------------------------- */

/*
 * Waits until `fd` is readable. When `idle` (between requests) the wait
 * gives up after IDLE_TIMEOUT_MS or as soon as the host is stopping;
 * otherwise (inside a request) after IO_TIMEOUT_S. Returns true if readable.
 */
static bool wait_readable(int fd, bool idle)
{
    int waited = 0;
    int limit = idle ? IDLE_TIMEOUT_MS : IO_TIMEOUT_S * 1000;
    while (waited < limit) {
        if (idle && atomic_load(&g_stopping))
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, POLL_SLICE_MS);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
        waited += POLL_SLICE_MS;
    }
    return false;
}

/* Receives into `dst`. Returns the byte count, 0 on EOF, -1 on error
 * (errno ETIMEDOUT when the wait ran out or the host is stopping). */
static ssize_t recv_some(int fd, void *dst, size_t cap, bool idle)
{
    if (!wait_readable(fd, idle)) {
        errno = ETIMEDOUT;
        return -1;
    }
    for (;;) {
        ssize_t n = recv(fd, dst, cap, 0);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

/* Maps a failed send's or receive's errno onto a wsgirt_io value. */
static uint32_t io_status_from_errno(int err)
{
    if (err == EPIPE || err == ECONNRESET)
        return WSGIRT_IO_CLIENT_GONE;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ETIMEDOUT)
        return WSGIRT_IO_TIMEOUT; /* SO_SNDTIMEO or our receive wait expired */
    return WSGIRT_IO_ERROR;
}

/* Sends every byte of `iov[0..n)`; MSG_NOSIGNAL turns SIGPIPE into EPIPE. */
static uint32_t send_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            return io_status_from_errno(errno);
        }
        /* Skip what went out; a partial send leaves a tail of one iovec. */
        while (n > 0 && (size_t)sent >= iov->iov_len) {
            sent -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + sent;
            iov->iov_len -= (size_t)sent;
        }
    }
    return WSGIRT_IO_OK;
}

static uint32_t send_bytes(int fd, const void *data, size_t len)
{
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    return send_all(fd, &iov, 1);
}

/* --- Request parsing ------------------------------------------------------- */

static bool str_eq(wsgirt_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static bool str_ieq(wsgirt_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

/* Does the comma-separated header value `s` contain `token` (any case)? */
static bool has_token(wsgirt_str s, const char *token)
{
    size_t i = 0;
    while (i < s.len) {
        while (i < s.len && (s.ptr[i] == ' ' || s.ptr[i] == '\t' || s.ptr[i] == ','))
            i++;
        size_t start = i;
        while (i < s.len && s.ptr[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (s.ptr[end - 1] == ' ' || s.ptr[end - 1] == '\t'))
            end--;
        wsgirt_str t = {s.ptr + start, end - start};
        if (str_ieq(t, token))
            return true;
    }
    return false;
}

/* RFC 9110 token characters (header names, methods). */
static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool parse_u64(wsgirt_str s, uint64_t *out)
{
    if (s.len == 0 || s.len > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
    }
    *out = v;
    return true;
}

/* Bump allocation from the request's arena; NULL when it is full. */
static char *arena_alloc(struct request *r, size_t n)
{
    if (n > sizeof r->env_arena - r->env_arena_used)
        return NULL;
    char *p = r->env_arena + r->env_arena_used;
    r->env_arena_used += n;
    return p;
}

static bool env_add(struct request *r, wsgirt_str name, wsgirt_str value)
{
    if (r->environ_len == MAX_ENVIRON)
        return false;
    r->environ[r->environ_len++] = (wsgirt_pair){name, value};
    return true;
}

/* env_add for a literal name and a NUL-terminated value. */
static bool env_add_c(struct request *r, const char *name, const char *value)
{
    return env_add(r, (wsgirt_str){name, strlen(name)}, (wsgirt_str){value, strlen(value)});
}

/* The CGI form of a header name: "Content-MD5" is "CONTENT_MD5". */
static char cgi_char(char c)
{
    return c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* Is `key` the HTTP_* variable of header `name`? */
static bool is_header_key(wsgirt_str key, wsgirt_str name)
{
    if (key.len != 5 + name.len || memcmp(key.ptr, "HTTP_", 5) != 0)
        return false;
    for (size_t i = 0; i < name.len; i++)
        if (key.ptr[5 + i] != cgi_char(name.ptr[i]))
            return false;
    return true;
}

/*
 * Adds header `name: value` as HTTP_<NAME>. Names with '_' are dropped (as
 * Apache and nginx do) so that "X_User" cannot pose as "X-User"; a repeated
 * header is joined to the first with ", " ("; " for Cookie).
 */
static bool env_add_header(struct request *r, wsgirt_str name, wsgirt_str value)
{
    if (memchr(name.ptr, '_', name.len) != NULL)
        return true;

    for (size_t i = 0; i < r->environ_len; i++) {
        wsgirt_pair *p = &r->environ[i];
        if (!is_header_key(p->name, name))
            continue;
        const char *sep = str_ieq(name, "Cookie") ? "; " : ", ";
        char *joined = arena_alloc(r, p->value.len + 2 + value.len);
        if (joined == NULL)
            return false;
        memcpy(joined, p->value.ptr, p->value.len);
        memcpy(joined + p->value.len, sep, 2);
        memcpy(joined + p->value.len + 2, value.ptr, value.len);
        p->value = (wsgirt_str){joined, p->value.len + 2 + value.len};
        return true;
    }

    char *key = arena_alloc(r, 5 + name.len);
    if (key == NULL)
        return false;
    memcpy(key, "HTTP_", 5);
    for (size_t i = 0; i < name.len; i++)
        key[5 + i] = cgi_char(name.ptr[i]);
    return env_add(r, (wsgirt_str){key, 5 + name.len}, value);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* PATH_INFO is the percent-decoded path (CGI). Returns 0, or 400 for an
 * invalid escape, or 431 when the arena is full. */
static int decode_path(struct request *r, wsgirt_str path, wsgirt_str *out)
{
    char *dst = arena_alloc(r, path.len);
    if (dst == NULL)
        return 431;
    size_t n = 0;
    for (size_t i = 0; i < path.len; i++) {
        if (path.ptr[i] != '%') {
            dst[n++] = path.ptr[i];
            continue;
        }
        int hi = i + 2 < path.len ? hex_value(path.ptr[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(path.ptr[i + 2]) : -1;
        if (lo < 0)
            return 400;
        dst[n++] = (char)(hi * 16 + lo);
        i += 2;
    }
    r->env_arena_used -= path.len - n; /* give back what decoding saved */
    *out = (wsgirt_str){dst, n};
    return 0;
}

/*
 * Parses the head in conn->buf[0, head_len) (it ends with CRLFCRLF) into
 * `r`. Returns 0 or the HTTP status to answer with.
 */
static int parse_request(struct request *r, size_t head_len)
{
    const char *p = r->conn->buf;
    const char *end = p + head_len - 2; /* keep the CRLF of the last header */

    /* Request line: METHOD SP request-target SP HTTP/1.x CRLF */
    const char *eol = strstr(p, "\r\n");
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == p || sp2 == sp1 + 1)
        return 400;
    r->method = (wsgirt_str){p, (size_t)(sp1 - p)};
    r->target = (wsgirt_str){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
    r->protocol = (wsgirt_str){sp2 + 1, (size_t)(eol - sp2 - 1)};
    for (size_t i = 0; i < r->method.len; i++)
        if (!is_tchar(r->method.ptr[i]))
            return 400;
    if (str_eq(r->protocol, "HTTP/1.1"))
        r->http11 = true;
    else if (!str_eq(r->protocol, "HTTP/1.0"))
        return 505;
    if (r->target.ptr[0] != '/')
        return 400; /* only origin-form targets ("/path?query") */
    const char *q = memchr(r->target.ptr, '?', r->target.len);
    size_t path_len = q ? (size_t)(q - r->target.ptr) : r->target.len;
    r->path = (wsgirt_str){r->target.ptr, path_len};
    r->query = q ? (wsgirt_str){q + 1, r->target.len - path_len - 1} : (wsgirt_str){"", 0};
    r->head = str_eq(r->method, "HEAD");

    /* Header fields: name ":" OWS value OWS CRLF */
    bool conn_close = false;
    for (p = eol + 2; p < end; p = eol + 2) {
        eol = strstr(p, "\r\n");
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p)
            return 400; /* also rejects obsolete line folding */
        wsgirt_str name = {p, (size_t)(colon - p)};
        for (size_t i = 0; i < name.len; i++)
            if (!is_tchar(name.ptr[i]))
                return 400;
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        wsgirt_str value = {v, (size_t)(ve - v)};

        if (str_ieq(name, "Content-Length")) {
            uint64_t n;
            if (!parse_u64(value, &n) || (r->has_body_length && n != r->body_left))
                return 400;
            r->has_body_length = true;
            r->body_left = n;
            r->content_length_str = value;
        } else if (str_ieq(name, "Content-Type")) {
            r->content_type = value;
        } else if (str_ieq(name, "Transfer-Encoding")) {
            return 501; /* chunked request bodies: not in this example */
        } else {
            if (str_ieq(name, "Host"))
                r->host = value;
            else if (str_ieq(name, "Connection"))
                conn_close = conn_close || has_token(value, "close");
            else if (str_ieq(name, "Expect")) {
                if (!str_ieq(value, "100-continue"))
                    return 417;
                r->expect_continue = r->http11;
            }
            if (!env_add_header(r, name, value))
                return 431;
        }
    }
    /* HTTP/1.1 keeps the connection unless told not to; HTTP/1.0
     * keep-alive is not offered (one request per connection). */
    r->keep_alive = r->http11 && !conn_close;
    if (r->body_left == 0)
        r->expect_continue = false;
    return 0;
}

/* The CGI variables besides HTTP_* (added while parsing). */
static int build_environ(struct request *r)
{
    wsgirt_str path_info;
    int error = decode_path(r, r->path, &path_info);
    if (error != 0)
        return error;

    /* SERVER_NAME: the Host header without its port (UseCanonicalName Off). */
    wsgirt_str server_name = {LISTEN_ADDR, strlen(LISTEN_ADDR)};
    if (r->host.len > 0) {
        const char *colon = memchr(r->host.ptr, ':', r->host.len);
        server_name =
            (wsgirt_str){r->host.ptr, colon ? (size_t)(colon - r->host.ptr) : r->host.len};
    }

    bool ok = env_add(r, (wsgirt_str){"REQUEST_METHOD", 14}, r->method) &&
              env_add_c(r, "SCRIPT_NAME", "") && /* the application is mounted at / */
              env_add(r, (wsgirt_str){"PATH_INFO", 9}, path_info) &&
              env_add(r, (wsgirt_str){"QUERY_STRING", 12}, r->query) &&
              env_add(r, (wsgirt_str){"REQUEST_URI", 11}, r->target) &&
              env_add(r, (wsgirt_str){"SERVER_PROTOCOL", 15}, r->protocol) &&
              env_add(r, (wsgirt_str){"SERVER_NAME", 11}, server_name) &&
              env_add_c(r, "SERVER_PORT", g_port) && env_add_c(r, "SERVER_ADDR", LISTEN_ADDR) &&
              env_add_c(r, "SERVER_SOFTWARE", SERVER_SOFTWARE) &&
              env_add_c(r, "GATEWAY_INTERFACE", "CGI/1.1") &&
              env_add_c(r, "REMOTE_ADDR", r->conn->peer_addr) &&
              env_add_c(r, "REMOTE_PORT", r->conn->peer_port) &&
              env_add_c(r, "SCRIPT_FILENAME", g_script);
    if (ok && r->content_type.ptr != NULL)
        ok = env_add(r, (wsgirt_str){"CONTENT_TYPE", 12}, r->content_type);
    if (ok && r->has_body_length)
        ok = env_add(r, (wsgirt_str){"CONTENT_LENGTH", 14}, r->content_length_str);
    return ok ? 0 : 431;
}

/* --- Response: the wsgirt_host_io callbacks -------------------------------- */

static bool head_append(struct request *r, const char *data, size_t len)
{
    if (len > sizeof r->head_buf - r->head_len)
        return false;
    memcpy(r->head_buf + r->head_len, data, len);
    r->head_len += len;
    return true;
}

static bool head_append_c(struct request *r, const char *s)
{
    return head_append(r, s, strlen(s));
}

/*
 * Sends the held-back head, choosing the framing: at the end of a response
 * that never sent body bytes, "Content-Length: 0" replaces chunked. `extra`
 * (may be NULL) goes out in the same send, after the blank line.
 */
static uint32_t send_head(struct request *r, bool at_end, struct iovec *extra, int n_extra)
{
    if (r->chunked && at_end) {
        r->chunked = false;
        if (!head_append_c(r, "Content-Length: 0\r\n"))
            return WSGIRT_IO_ERROR;
    } else if (r->chunked && !head_append_c(r, "Transfer-Encoding: chunked\r\n")) {
        return WSGIRT_IO_ERROR;
    }
    if (!r->keep_alive && !head_append_c(r, "Connection: close\r\n"))
        return WSGIRT_IO_ERROR;
    if (!head_append_c(r, "\r\n"))
        return WSGIRT_IO_ERROR;
    r->head_pending = false;

    struct iovec iov[5];
    iov[0] = (struct iovec){r->head_buf, r->head_len};
    for (int i = 0; i < n_extra; i++)
        iov[1 + i] = extra[i];
    return send_all(r->conn->fd, iov, 1 + n_extra);
}

/* Sends `iov` as body data: after the head if it is pending, framed as a
 * chunk when chunked. `len` is the payload size. */
static uint32_t send_body(struct request *r, struct iovec *payload, int n, size_t len)
{
    char size_line[24];
    struct iovec iov[4];
    int k = 0;
    if (r->chunked) {
        int m = snprintf(size_line, sizeof size_line, "%zx\r\n", len);
        iov[k++] = (struct iovec){size_line, (size_t)m};
    }
    for (int i = 0; i < n; i++)
        iov[k++] = payload[i];
    if (r->chunked)
        iov[k++] = (struct iovec){"\r\n", 2};
    r->body_sent += len;
    if (r->head_pending)
        return send_head(r, false, iov, k);
    return send_all(r->conn->fd, iov, k);
}

/*
 * wsgirt_start_response_cb: status and headers, already validated by the
 * runtime. Called once, before any body data. Only builds the head.
 */
static uint32_t on_start_response(void *ctx, uint16_t status, const char *status_line,
                                  size_t status_line_len, const wsgirt_pair *headers,
                                  size_t headers_len)
{
    struct request *r = ctx;
    r->status = status;
    r->no_body = r->head || status < 200 || status == 204 || status == 304;
    r->head_len = 0;

    bool has_date = false;
    bool ok = head_append_c(r, "HTTP/1.1 ") && head_append(r, status_line, status_line_len) &&
              head_append_c(r, "\r\n");
    for (size_t i = 0; ok && i < headers_len; i++) {
        wsgirt_str name = headers[i].name, value = headers[i].value;
        if (str_ieq(name, "Content-Length")) {
            if (!parse_u64(value, &r->length))
                return WSGIRT_IO_ERROR;
            r->has_length = true;
        }
        has_date = has_date || str_ieq(name, "Date");
        ok = head_append(r, name.ptr, name.len) && head_append_c(r, ": ") &&
             head_append(r, value.ptr, value.len) && head_append_c(r, "\r\n");
    }
    if (ok && !has_date) {
        char date[64];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        ok = head_append_c(r, date);
    }
    if (!ok) {
        host_log(3, r, "unit_host: response headers exceed %d bytes", RESPONSE_HEAD_SIZE);
        return WSGIRT_IO_ERROR;
    }

    /* Framing: the application's Content-Length, else chunked (HTTP/1.1),
     * else the end of the connection marks the end of the body. */
    if (!r->no_body && !r->has_length) {
        if (r->http11)
            r->chunked = true;
        else
            r->keep_alive = false;
    }
    r->head_pending = true;
    return WSGIRT_IO_OK;
}

/* wsgirt_write_cb: body bytes, sent now (the runtime already applied
 * Content-Length truncation). `flags` may hold WSGIRT_WRITE_FLUSH; since
 * nothing is buffered here apart from the head, only the head cares. */
static uint32_t on_write(void *ctx, const uint8_t *data, size_t len, uint32_t flags)
{
    struct request *r = ctx;
    if (r->no_body) {
        r->body_sent += len; /* HEAD: computed, then dropped */
        return WSGIRT_IO_OK;
    }
    if (len == 0) {
        /* An empty chunk would end a chunked body: only flush the head. */
        if ((flags & WSGIRT_WRITE_FLUSH) && r->head_pending)
            return send_head(r, false, NULL, 0);
        return WSGIRT_IO_OK;
    }
    struct iovec payload = {(void *)data, len};
    return send_body(r, &payload, 1, len);
}

/* wsgirt_send_file_cb: `len` bytes of the regular file `fd` from `offset`,
 * with sendfile(2). `fd` stays the application's. */
static uint32_t on_send_file(void *ctx, int fd, uint64_t offset, uint64_t len)
{
    struct request *r = ctx;
    if (r->no_body || len == 0) {
        r->body_sent += r->no_body ? len : 0;
        return WSGIRT_IO_OK;
    }
    char size_line[24];
    uint32_t st = WSGIRT_IO_OK;
    if (r->chunked) {
        int m = snprintf(size_line, sizeof size_line, "%llx\r\n", (unsigned long long)len);
        struct iovec iov = {size_line, (size_t)m};
        st = r->head_pending ? send_head(r, false, &iov, 1) : send_all(r->conn->fd, &iov, 1);
    } else if (r->head_pending) {
        st = send_head(r, false, NULL, 0);
    }
    off_t off = (off_t)offset;
    uint64_t left = len;
    while (st == WSGIRT_IO_OK && left > 0) {
        size_t want = left > (1u << 30) ? (1u << 30) : (size_t)left;
        ssize_t n = sendfile(r->conn->fd, fd, &off, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) /* 0: the file is shorter than promised */
            st = n < 0 ? io_status_from_errno(errno) : WSGIRT_IO_ERROR;
        else
            left -= (uint64_t)n;
    }
    r->body_sent += len - left;
    if (st == WSGIRT_IO_OK && r->chunked)
        st = send_bytes(r->conn->fd, "\r\n", 2);
    return st;
}

/* wsgirt_read_cb: request body bytes, never past Content-Length. Serves
 * what is already buffered first, then reads the socket. */
static uint32_t on_read(void *ctx, uint8_t *buf, size_t capacity, size_t *out_len)
{
    struct request *r = ctx;
    struct conn *c = r->conn;
    *out_len = 0;
    if (r->body_left == 0)
        return WSGIRT_IO_OK;
    if (r->expect_continue) {
        /* The client waits for this before sending the body; a first
         * read(0) asks for it too (capacity 0). */
        r->expect_continue = false;
        uint32_t st = send_bytes(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        if (st != WSGIRT_IO_OK)
            return st;
    }
    if (capacity == 0)
        return WSGIRT_IO_OK;
    size_t want = r->body_left < capacity ? (size_t)r->body_left : capacity;
    size_t n;
    if (c->pos < c->len) {
        n = c->len - c->pos < want ? c->len - c->pos : want;
        memcpy(buf, c->buf + c->pos, n);
        c->pos += n;
    } else {
        ssize_t got = recv_some(c->fd, buf, want, false);
        if (got <= 0)
            return got == 0 ? WSGIRT_IO_CLIENT_GONE : io_status_from_errno(errno);
        n = (size_t)got;
    }
    r->body_left -= n;
    *out_len = n;
    return WSGIRT_IO_OK;
}

/* A complete response of our own (errors the application never saw). */
static void send_simple(struct request *r, int status, const char *reason)
{
    char msg[512];
    char body[128];
    int blen = snprintf(body, sizeof body, "%d %s\n", status, reason);
    int mlen = snprintf(msg, sizeof msg,
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: %d\r\n%s\r\n%s",
                        status, reason, blen, r->keep_alive ? "" : "Connection: close\r\n",
                        r->head ? "" : body);
    r->status = (uint16_t)status;
    if (send_bytes(r->conn->fd, msg, (size_t)mlen) != WSGIRT_IO_OK)
        r->keep_alive = false;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Internal Server Error";
    }
}

/* --- Serving a connection ---------------------------------------------------- */

/* Reads until conn->buf holds a whole head. Returns its length (through
 * CRLFCRLF); 0 if the connection should just close; -431 if the head is
 * too big, -400 if it holds NUL bytes. */
static ssize_t read_head(struct conn *c)
{
    /* Move the unconsumed bytes (a pipelined request) to the front. */
    memmove(c->buf, c->buf + c->pos, c->len - c->pos);
    c->len -= c->pos;
    c->pos = 0;
    for (;;) {
        /* The buffer keeps one byte for a NUL, so strstr() stops. */
        c->buf[c->len] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n");
        if (end != NULL)
            return end + 4 - c->buf;
        if (memchr(c->buf, '\0', c->len) != NULL)
            return -400; /* NUL bytes in a head: not HTTP */
        if (c->len == sizeof c->buf - 1)
            return -431;
        ssize_t n = recv_some(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, true);
        if (n <= 0)
            return 0; /* EOF, idle timeout, stopping, or an error */
        c->len += (size_t)n;
    }
}

/* After the response: drop the body the application did not read, if it
 * is small, so the connection can serve the next request. */
static bool discard_body(struct request *r)
{
    struct conn *c = r->conn;
    if (r->body_left > DISCARD_LIMIT)
        return false;
    size_t buffered = c->len - c->pos;
    size_t n = r->body_left < buffered ? (size_t)r->body_left : buffered;
    c->pos += n;
    r->body_left -= n;
    char sink[4096];
    while (r->body_left > 0) {
        ssize_t got =
            recv_some(c->fd, sink, r->body_left < sizeof sink ? r->body_left : sizeof sink, false);
        if (got <= 0)
            return false;
        r->body_left -= (uint64_t)got;
    }
    return true;
}

/* Runs the application for a parsed request and completes the response. */
static void run_application(struct request *r)
{
    wsgirt_request_spec spec = {
        .struct_size = sizeof spec,
        .application_group = {"", 0}, /* %{GLOBAL}: the main interpreter */
        .script_path = {g_script, strlen(g_script)},
        .callable_object = {"", 0}, /* "application" */
        .reload_script = true,      /* like WSGIScriptReloading On */
        .script_mtime = 0,          /* unknown: the runtime stats the file */
        .environ = r->environ,
        .environ_len = r->environ_len,
        .log_ctx = r,
    };
    wsgirt_host_io io = {
        .struct_size = sizeof io,
        .read = on_read,
        .start_response = on_start_response,
        .write = on_write,
        .send_file = on_send_file,
    };
    wsgirt_request_result result = {.struct_size = sizeof result};

    wsgirt_status st = wsgirt_request_run(g_runtime, &spec, &io, r, &result);

    if (st == WSGIRT_STATUS_OK) {
        if (result.incomplete || result.client_gone) {
            /* The application failed mid-body or the client left: the
             * client must see a truncated response, so no final chunk;
             * close. If nothing at all went out, a 500 is still possible. */
            r->keep_alive = false;
            if (r->head_pending && !result.client_gone)
                send_simple(r, 500, reason_phrase(500));
            return;
        }
        uint32_t io_st = WSGIRT_IO_OK;
        if (r->head_pending)
            io_st = send_head(r, true, NULL, 0);
        else if (r->chunked)
            io_st = send_bytes(r->conn->fd, "0\r\n\r\n", 5);
        if (io_st != WSGIRT_IO_OK)
            r->keep_alive = false;
        /* Fewer bytes than Content-Length promised: only closing tells. */
        if (r->has_length && !r->no_body && r->body_sent < r->length)
            r->keep_alive = false;
        return;
    }

    /* No response was started; the runtime logged why. */
    r->keep_alive = r->keep_alive && st != WSGIRT_STATUS_CLIENT_GONE;
    if (st == WSGIRT_STATUS_CLIENT_GONE)
        return;
    if (st == WSGIRT_STATUS_CALLABLE_NOT_FOUND)
        send_simple(r, 404, reason_phrase(404));
    else
        send_simple(r, 500, reason_phrase(500));
    if (st != WSGIRT_STATUS_SCRIPT_LOAD_FAILED && st != WSGIRT_STATUS_CALLABLE_NOT_FOUND &&
        st != WSGIRT_STATUS_APP_ERROR)
        host_log(3, r, "unit_host: wsgirt_request_run: %s", wsgirt_status_str(st));
}

/*
 * Serves requests on one connection until it closes or should close.
 * Returns true if the client may still be sending (an unread body or
 * head), in which case the connection needs a lingering close.
 */
static bool serve_connection(struct conn *c, struct request *r)
{
    for (;;) {
        ssize_t head_len = read_head(c);
        if (head_len == 0)
            return false;

        request_reset(r, c);
        if (head_len < 0) {
            send_simple(r, (int)-head_len, reason_phrase((int)-head_len));
            return true;
        }
        c->pos = (size_t)head_len; /* the body (if any) starts here */

        int error = parse_request(r, (size_t)head_len);
        if (error == 0)
            error = build_environ(r);
        if (error != 0) {
            r->keep_alive = false;
            send_simple(r, error, reason_phrase(error));
            return true;
        }

        run_application(r);

        /* A simple access log line. */
        host_log(6, r, "\"%.*s %.*s %.*s\" %u %llu", (int)r->method.len, r->method.ptr,
                 (int)r->target.len, r->target.ptr, (int)r->protocol.len, r->protocol.ptr,
                 (unsigned)r->status, (unsigned long long)r->body_sent);

        /* A client still waiting for "100 Continue" may or may not send its
         * body now: closing is the only unambiguous answer. */
        if (!r->keep_alive || r->expect_continue || !discard_body(r))
            return r->body_left > 0 || c->pos < c->len;
    }
}

/*
 * Closes a connection. Closing a socket with unread input makes the kernel
 * send a reset, which can destroy the response before the client reads it;
 * so when the client may still be sending, stop writing first and read
 * what comes for up to a second (Apache's "lingering close").
 */
static void close_connection(int fd, bool linger)
{
    if (linger && shutdown(fd, SHUT_WR) == 0) {
        char sink[4096];
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (long waited_ms = 0; waited_ms < LINGER_MS;) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, (int)(LINGER_MS - waited_ms)) <= 0 ||
                recv(fd, sink, sizeof sink, 0) <= 0)
                break; /* quiet for the rest of the second, EOF or error */
            clock_gettime(CLOCK_MONOTONIC, &now);
            waited_ms =
                (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        }
    }
    close(fd);
}

/* --- Workers and main -------------------------------------------------------- */

/* A worker: accepts connections on the shared listening socket until the
 * host stops. The socket is non-blocking, so when several workers wake for
 * one connection the losers get EAGAIN and wait again. */
static void *worker_main(void *arg)
{
    (void)arg;
    struct conn *c = malloc(sizeof *c);
    struct request *r = malloc(sizeof *r);
    if (c == NULL || r == NULL) {
        host_log(2, NULL, "unit_host: out of memory");
        free(c);
        free(r);
        return NULL;
    }
    while (!atomic_load(&g_stopping)) {
        struct pollfd p = {.fd = g_listen_fd, .events = POLLIN};
        if (poll(&p, 1, POLL_SLICE_MS) <= 0)
            continue;
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof peer;
        int fd = accept(g_listen_fd, (struct sockaddr *)&peer, &peer_len);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                host_log(3, NULL, "unit_host: accept: %s", strerror(errno));
            continue;
        }
        /* Accepted sockets are blocking; sends time out after IO_TIMEOUT_S
         * (reads use poll), and small writes are not delayed by Nagle. */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

        c->fd = fd;
        c->len = c->pos = 0;
        inet_ntop(AF_INET, &peer.sin_addr, c->peer_addr, sizeof c->peer_addr);
        snprintf(c->peer_port, sizeof c->peer_port, "%u", (unsigned)ntohs(peer.sin_port));
        close_connection(fd, serve_connection(c, r));
    }
    free(c);
    free(r);
    return NULL;
}

static int open_listener(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, LISTEN_ADDR, &addr.sin_addr);
    socklen_t len = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    snprintf(g_port, sizeof g_port, "%u", (unsigned)ntohs(addr.sin_port));
    return fd;
}

static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

int main(int argc, char **argv)
{
    unsigned port, threads = 4;
    if (argc < 3 || argc > 4 || !parse_uint(argv[2], 0, 65535, &port) ||
        (argc == 4 && !parse_uint(argv[3], 1, MAX_THREADS, &threads))) {
        fprintf(stderr,
                "usage: %s SCRIPT PORT [THREADS]   (PORT 0: any free port; "
                "THREADS 1-%d, default 4)\n",
                argv[0], MAX_THREADS);
        return 2;
    }
    g_script = argv[1];

    /* SIGTERM/SIGINT are taken with sigwait() by main only: block them
     * before any thread (ours or Python's) exists, so all inherit the mask.
     * SIGPIPE is ignored: sendfile() has no MSG_NOSIGNAL. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (wsgirt_abi_version() != WSGIRT_ABI_VERSION) {
        fprintf(stderr, "unit_host: libwsgirt ABI %u, compiled against %u\n", wsgirt_abi_version(),
                (unsigned)WSGIRT_ABI_VERSION);
        return 1;
    }

    /* Configure and start the runtime. The configuration is copied by
     * wsgirt_runtime_new, so it is freed right after. */
    wsgirt_config *config = NULL;
    wsgirt_runtime *runtime = NULL;
    wsgirt_status st = wsgirt_config_new(&config);
    if (st == WSGIRT_STATUS_OK)
        st = wsgirt_config_set_log_callback(config, on_log, NULL);
    if (st == WSGIRT_STATUS_OK)
        st = wsgirt_config_set_process(config, "", 0, 1, (int32_t)threads);
    if (st == WSGIRT_STATUS_OK)
        st = wsgirt_runtime_new(WSGIRT_ABI_VERSION, config, &runtime);
    wsgirt_config_free(config);
    if (st != WSGIRT_STATUS_OK) {
        fprintf(stderr, "unit_host: cannot start the runtime: %s\n", wsgirt_status_str(st));
        return 1;
    }
    g_runtime = runtime;

    /* Load the application now, on the main thread, as NGINX Unit does:
     * a broken script shows in the log at startup (requests then retry it
     * and answer 500 while it stays broken), the first request does not pay
     * for the import, and modules the script imports (threading among them)
     * are imported by Python's main thread. */
    st = wsgirt_runtime_import_script(runtime, "", 0, g_script, strlen(g_script));
    if (st != WSGIRT_STATUS_OK)
        host_log(4, NULL, "unit_host: could not preload %s: %s", g_script, wsgirt_status_str(st));

    g_listen_fd = open_listener(port);
    if (g_listen_fd < 0) {
        fprintf(stderr, "unit_host: cannot listen on %s:%u: %s\n", LISTEN_ADDR, port,
                strerror(errno));
        wsgirt_runtime_free(runtime);
        return 1;
    }

    pthread_t workers[MAX_THREADS];
    unsigned started = 0;
    for (; started < threads; started++) {
        int err = pthread_create(&workers[started], NULL, worker_main, NULL);
        if (err != 0) {
            fprintf(stderr, "unit_host: pthread_create: %s\n", strerror(err));
            break;
        }
    }
    if (started == threads) {
        fprintf(stderr, "unit_host: listening on http://%s:%s/ (%u threads, script %s)\n",
                LISTEN_ADDR, g_port, threads, g_script);
        int sig = 0;
        sigwait(&stop_signals, &sig);
        fprintf(stderr, "unit_host: signal %d, stopping\n", sig);
    }

    /* Stop: workers finish their current request and return. Python is
     * stopped from the thread that started it, once no request runs. */
    atomic_store(&g_stopping, true);
    for (unsigned i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    close(g_listen_fd);
    wsgirt_runtime_free(runtime);
    fprintf(stderr, "unit_host: stopped\n");
    return started == threads ? 0 : 1;
}
