/*
 * daemon.c: daemon mode (WSGIDaemonProcess) for the Apache module; see
 * daemon.h and docs/daemon.md. The parent never starts Python: it creates the
 * sockets and tokens and forks and respawns the daemon processes. The wire
 * protocol, the request threads, the timers and the proxy client live in
 * libwsgirt (wsgirt_daemon_serve, wsgirt_daemon_proxy).
 */

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_main.h"
#include "http_core.h"
#include "ap_listen.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "scoreboard.h"
#include "unixd.h"

#include "apr_hash.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <locale.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "logno.h"

APLOG_USE_MODULE(wsgi);

typedef struct wsgi_group wsgi_group_t;

/* One daemon process of a group. */
typedef struct {
    wsgi_group_t *group;
    int instance; /* 1 .. processes */
    apr_proc_t proc;
    /* CLOCK_MONOTONIC ns at which the slot's current process begins (or
     * began) its startup; 0 before the first fork. Parent-owned: set in
     * wsgi_start_process before the fork, read by the child it forks. */
    int64_t start_ns;
} wsgi_process_t;

/* One WSGIDaemonProcess group. */
struct wsgi_group {
    const char *name;
    server_rec *server;
    int processes;
    int threads;
    int multiprocess; /* processes= was given */
    apr_table_t *options;
    const char *socket_path;
    const char *socket_prefix; /* WSGISocketPrefix, for other generations' paths */
    int index;                 /* 1-based place in the configuration, in the path */
    int socket_rotation;       /* WSGISocketRotation: the generation is in the path */
    int listen_fd;
    uid_t uid;        /* user= or User; geteuid() when Apache is not root */
    uid_t socket_uid; /* user= or User even then: the uid a WSGISocketRotation Off path names */
    gid_t gid;        /* group= or Group; getegid() when Apache is not root */
    const char *user_name; /* user= (a #uid's name) or User, for initgroups() */
    gid_t *groups;         /* supplementary-groups=: gid first; NULL: initgroups() */
    int groups_count;
    uint8_t token[WSGIRT_DAEMON_TOKEN_LEN];
    wsgirt_daemon_target target; /* what workers connect to */
    wsgi_process_t *procs;
};

/* The groups of the running configuration (wsgi_group_t *), in pconf. */
static apr_array_header_t *wsgi_groups = NULL;
static apr_pool_t *wsgi_parent_pool = NULL;
static pid_t wsgi_parent_pid = 0;
static const wsgi_daemon_hooks_t *wsgi_hooks = NULL;

/* The daemon process's stop pipe (write end), for the signal handlers. */
static int wsgi_stop_fd = -1;

/*
 * Origin tokens by group name, kept in the parent's process pool across
 * generations (the module is linked -z nodelete, so this survives
 * restarts): a worker of an old generation that reaches the new
 * generation's daemons after a graceful restart (a stable socket with
 * WSGISocketRotation Off, or wsgi_current_socket_path) still passes the
 * origin check, while a group of another name never does.
 */
static apr_hash_t *wsgi_tokens = NULL;

static int wsgi_group_token(apr_pool_t *process_pool, wsgi_group_t *group)
{
    const uint8_t *known;

    if (!wsgi_tokens)
        wsgi_tokens = apr_hash_make(process_pool);
    known = apr_hash_get(wsgi_tokens, group->name, APR_HASH_KEY_STRING);
    if (known) {
        memcpy(group->token, known, sizeof(group->token));
        return 1;
    }
    if (wsgirt_daemon_token_new(group->token) != WSGIRT_STATUS_OK)
        return 0;
    apr_hash_set(wsgi_tokens, apr_pstrdup(process_pool, group->name), APR_HASH_KEY_STRING,
                 apr_pmemdup(process_pool, group->token, sizeof(group->token)));
    return 1;
}

/*
 * wsgirt_daemon_target.socket_path_cb: once a graceful restart has begun
 * (the scoreboard's running generation is no longer this worker's), a
 * request of this old worker connects to the new generation's socket with
 * the same place in the configuration: the old socket is removed with the
 * old configuration, and the old daemons only finish what they already
 * accepted. The path lives in a per-thread buffer until the next call.
 * Called on the request thread, without locks.
 */
static bool wsgi_current_socket_path(void *userdata, wsgirt_str *out)
{
    static _Thread_local char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const wsgi_group_t *group = userdata;
    int mine = 0, len;
    ap_generation_t running;

    if (!group->socket_rotation || !ap_scoreboard_image ||
        ap_mpm_query(AP_MPMQ_GENERATION, &mine) != APR_SUCCESS)
        return false;
    running = ap_scoreboard_image->global->running_generation;
    if (running == mine)
        return false;
    len = snprintf(path, sizeof(path), "%s.%d.%d.%d.sock", group->socket_prefix,
                   (int)wsgi_parent_pid, (int)running, group->index);
    if (len < 0 || (size_t)len >= sizeof(path))
        return false;
    out->ptr = path;
    out->len = (size_t)len;
    return true;
}

static apr_status_t wsgi_groups_reset(void *data)
{
    (void)data;
    wsgi_groups = NULL;
    return APR_SUCCESS;
}

void wsgi_daemon_add(apr_pool_t *pconf, const char *name, server_rec *server, int processes,
                     int threads, int multiprocess, apr_table_t *options)
{
    wsgi_group_t *group = apr_pcalloc(pconf, sizeof(*group));

    if (!wsgi_groups) {
        wsgi_groups = apr_array_make(pconf, 4, sizeof(wsgi_group_t *));
        apr_pool_cleanup_register(pconf, NULL, wsgi_groups_reset, apr_pool_cleanup_null);
    }
    group->name = name;
    group->server = server;
    group->processes = processes > 0 ? processes : 1;
    group->threads = threads;
    group->multiprocess = multiprocess;
    group->options = options;
    group->listen_fd = -1;
    APR_ARRAY_PUSH(wsgi_groups, wsgi_group_t *) = group;
}

static wsgi_group_t *wsgi_find_group(const char *name)
{
    int i;
    for (i = 0; wsgi_groups && i < wsgi_groups->nelts; ++i) {
        wsgi_group_t *group = APR_ARRAY_IDX(wsgi_groups, i, wsgi_group_t *);
        if (!strcmp(group->name, name))
            return group;
    }
    return NULL;
}

int wsgi_daemon_exists(const char *name)
{
    return wsgi_find_group(name) != NULL;
}

/* ---------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------- */

static const char *wsgi_opt(const wsgi_group_t *group, const char *name)
{
    return apr_table_get(group->options, name);
}

static long long wsgi_opt_number(const wsgi_group_t *group, const char *name, long long fallback)
{
    const char *value = wsgi_opt(group, name);
    return value ? strtoll(value, NULL, 10) : fallback;
}

/* A timeout option in seconds as microseconds; `fallback` (µs) when not given. */
static uint64_t wsgi_opt_us(const wsgi_group_t *group, const char *name, uint64_t fallback)
{
    const char *value = wsgi_opt(group, name);
    long long seconds;
    if (!value)
        return fallback;
    seconds = strtoll(value, NULL, 10);
    return seconds > 0 ? (uint64_t)seconds * 1000000u : 0;
}

/*
 * The group's user and groups, resolved in the parent when its daemons
 * start, with Apache's own functions, as mod_wsgi resolves them when it
 * reads WSGIDaemonProcess (the option parser checked every name with the
 * same functions, so nothing exits here unless the user or group database
 * changed since; then Apache's AH00543/AH00544 ends the start, as for User
 * and Group). As mod_wsgi: user= or Apache's User; group= or Apache's
 * Group, also when user= names another user (not that user's primary
 * group); a #uid or #gid needs no entry. supplementary-groups= (up to the
 * first empty item) replaces initgroups() with that list after the group.
 */
static void wsgi_group_identity(apr_pool_t *p, wsgi_group_t *group)
{
    const char *user = wsgi_opt(group, "user"), *grp = wsgi_opt(group, "group");
    const char *list = wsgi_opt(group, "supplementary-groups");

    group->uid = ap_unixd_config.user_id;
    group->gid = ap_unixd_config.group_id;
    group->user_name = ap_unixd_config.user_name;
    if (user) {
        group->uid = ap_uname2id(user);
        group->user_name = user;
        if (*user == '#') {
            struct passwd *pw = getpwuid(group->uid);
            if (pw)
                group->user_name = apr_pstrdup(p, pw->pw_name);
        }
    }
    if (grp)
        group->gid = ap_gname2id(grp);
    group->groups = NULL;
    group->groups_count = 0;
    if (list) {
        const char *rest = list, *name;
        int count = 1;
        while (*(name = ap_getword(p, &rest, ',')))
            ++count;
        group->groups = apr_palloc(p, (apr_size_t)count * sizeof(gid_t));
        group->groups[group->groups_count++] = group->gid;
        rest = list;
        while (*(name = ap_getword(p, &rest, ',')))
            group->groups[group->groups_count++] = ap_gname2id(name);
    }
    /* mod_wsgi names the socket (WSGISocketRotation Off) after the
     * configured user, also when the daemons cannot switch to it. */
    group->socket_uid = group->uid;
    if (geteuid()) {
        /* Apache was not started as root: the daemons run as its own user. */
        group->uid = geteuid();
        group->gid = getegid();
    }
}

/* ---------------------------------------------------------------------------
 * The daemon process
 * ------------------------------------------------------------------------- */

/*
 * What a daemon process keeps to log about one request as the Apache child
 * that received it would (mod_wsgi rebuilds a request_rec likewise): the
 * virtual host, the client's address and the log ids. Made per request by
 * wsgi_daemon_request_log_begin from the environ (one allocation, strings
 * inline); the request_rec itself is only built when a line is logged.
 */
typedef struct {
    server_rec *server;
    const char *client_ip;
    apr_port_t client_port;
    const char *log_id;      /* NULL: none */
    const char *conn_log_id; /* NULL: none */
} wsgi_request_log_t;

/* Worker: the index of r's virtual host in the server list, which the
 * daemons (forked from the same configuration) share. */
const char *wsgi_daemon_server_index(request_rec *r)
{
    server_rec *s;
    int index = 0;

    for (s = ap_server_conf; s && s != r->server; s = s->next)
        ++index;
    return apr_itoa(r->pool, s ? index : 0);
}

/* Daemon: the virtual host at `index` (the main server when unknown). */
static server_rec *wsgi_server_at(const char *index)
{
    server_rec *s = ap_server_conf;
    long n = index ? strtol(index, NULL, 10) : 0;

    while (n-- > 0 && s && s->next)
        s = s->next;
    return s;
}

/* wsgirt_request_log_begin_cb: called on the request's thread with its
 * environ, before the request runs; the result is freed by ..._end. */
static void *wsgi_daemon_request_log_begin(void *userdata, const wsgirt_pair *environ,
                                           size_t environ_len)
{
    static const char *const names[] = {"REMOTE_ADDR", "REMOTE_PORT", "mod_wsgi.request_id",
                                        "mod_wsgi.connection_id", WSGI_DAEMON_SERVER_VAR};
    const wsgirt_str *found[5] = {NULL, NULL, NULL, NULL, NULL};
    size_t i, k, strings = 0;
    wsgi_request_log_t *log;
    char *text, *copies[5] = {NULL, NULL, NULL, NULL, NULL};

    (void)userdata;
    for (i = 0; i < environ_len; ++i)
        for (k = 0; k < 5; ++k)
            if (!found[k] && environ[i].name.len == strlen(names[k]) &&
                !memcmp(environ[i].name.ptr, names[k], environ[i].name.len))
                found[k] = &environ[i].value;
    if (!found[0])
        return NULL;
    for (k = 0; k < 5; ++k)
        if (found[k])
            strings += found[k]->len + 1;
    if (!(log = calloc(1, sizeof(*log) + strings)))
        return NULL;
    text = (char *)(log + 1);
    for (k = 0; k < 5; ++k)
        if (found[k]) {
            copies[k] = text;
            memcpy(text, found[k]->ptr, found[k]->len);
            text[found[k]->len] = '\0';
            text += found[k]->len + 1;
        }
    log->server = wsgi_server_at(copies[4]);
    log->client_ip = copies[0];
    log->client_port = copies[1] ? (apr_port_t)atoi(copies[1]) : 0;
    log->log_id = copies[2] && *copies[2] ? copies[2] : NULL;
    log->conn_log_id = copies[3] && *copies[3] ? copies[3] : NULL;
    return log;
}

/* wsgirt_request_log_end_cb. */
static void wsgi_daemon_request_log_end(void *userdata, void *request_ctx)
{
    (void)userdata;
    free(request_ctx);
}

/* Logs one line about a request as a minimal request_rec of its own: the
 * line reads "[remote IP:PORT]" (Apache's form for a request without a
 * scoreboard slot), carries the log ids, and goes to the virtual host's
 * ErrorLog. The records live in a pool made for the line. */
static void wsgi_daemon_log_request(const wsgi_request_log_t *log, int level, const char *message,
                                    int len)
{
    apr_pool_t *p;
    request_rec *r;
    conn_rec *c;
    apr_sockaddr_t *addr;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, level, 0, log->server, "%.*s", len, message);
        return;
    }
    c = apr_pcalloc(p, sizeof(*c));
    r = apr_pcalloc(p, sizeof(*r));
    addr = apr_pcalloc(p, sizeof(*addr));
    addr->pool = p;
    addr->port = log->client_port;
    c->pool = p;
    c->base_server = log->server;
    c->client_ip = (char *)log->client_ip;
    c->client_addr = addr;
    c->log_id = log->conn_log_id;
    c->notes = apr_table_make(p, 1);
    r->pool = p;
    r->connection = c;
    r->server = log->server;
    r->useragent_ip = (char *)log->client_ip;
    r->useragent_addr = addr;
    r->log_id = log->log_id;
    r->headers_in = apr_table_make(p, 1);
    r->headers_out = apr_table_make(p, 1);
    r->err_headers_out = apr_table_make(p, 1);
    r->subprocess_env = apr_table_make(p, 1);
    r->notes = apr_table_make(p, 1);
    ap_log_rerror(APLOG_MARK, level, 0, r, "%.*s", len, message);
    apr_pool_destroy(p);
}

static void wsgi_daemon_log(void *userdata, uint32_t level, void *request_ctx, const char *message,
                            size_t message_len)
{
    int lvl = level > APLOG_DEBUG ? APLOG_DEBUG : (int)level;
    int len = message_len > INT_MAX ? INT_MAX : (int)message_len;

    if (request_ctx)
        wsgi_daemon_log_request(request_ctx, lvl, message, len);
    else
        ap_log_error(APLOG_MARK, lvl, 0, (server_rec *)userdata, "%.*s", len, message);
}

static void wsgi_daemon_signal(int signum)
{
    int saved = errno;
    char c = signum == SIGUSR1 ? 'G' : signum == SIGXCPU ? 'C' : 'S';
    ssize_t n = write(wsgi_stop_fd, &c, 1);
    (void)n;
    errno = saved;
}

/*
 * SIGHUP and SIGWINCH (Apache's restart and graceful-stop signals; prefork's
 * restart sends SIGHUP to its whole process group, the daemons included)
 * and, in a managed task, SIGUSR1: caught and dropped, not ignored. A stray
 * signal leaves the daemon running, as it leaves mod_wsgi's daemons that
 * inherit Apache's handlers (every daemon forked after Apache installed
 * them), and a program the application starts gets the default disposition
 * back at exec, as under mod_wsgi; an ignored signal would stay ignored.
 */
static void wsgi_daemon_drop_signal(int signum)
{
    (void)signum;
}

/* Installs `handler` for `signum`: no signals blocked while it runs, and
 * system calls it interrupts restarted where the kernel can. */
static void wsgi_catch(int signum, void (*handler)(int))
{
    struct sigaction action;

    memset(&action, 0, sizeof(action));
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    action.sa_handler = handler;
    sigaction(signum, &action, NULL);
}

/* Fatal setup failure: mod_wsgi waits before exiting so the respawns are no fork bomb. */
static void wsgi_daemon_fail(void)
{
    /* Apache's inherited handlers must not keep a stop (SIGTERM) from ending the wait. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sleep(20);
    _exit(-1);
}

/* A step of wsgi_daemon_setup failed (its line is logged): mod_wsgi's
 * closing line, then the delayed exit the parent restarts from. */
static void wsgi_daemon_setup_failed(wsgi_group_t *group)
{
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, group->server,
                 WSGIRT_LOGNO(0548) "mod_wsgi (pid=%d): Failure to configure the daemon process "
                                    "correctly and process left in unspecified state. "
                                    "Restarting daemon process after delay.",
                 (int)getpid());
    wsgi_daemon_fail();
}

static void wsgi_set_rlimit(wsgi_group_t *group, int resource, const char *option, rlim_t soft,
                            rlim_t hard)
{
    struct rlimit limit;
    limit.rlim_cur = soft;
    limit.rlim_max = hard;
    if (setrlimit(resource, &limit) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, group->server,
                     WSGIRT_LOGNO(0520) "mod_wsgi (pid=%d): "
                                        "Couldn't set %s to %llu for daemon process '%s'.",
                     (int)getpid(), option, (unsigned long long)soft, group->name);
}

/*
 * As mod_wsgi, a daemon process's HOME is its user's home directory, and
 * USER, USERNAME and LOGNAME, where Apache's environment has them, its
 * user's name: otherwise they would be those of whoever started Apache
 * (root, or the user behind sudo), and under systemd HOME would be missing.
 * mod_wsgi sets them through os.environ when it creates each interpreter;
 * here they are set before Python starts, so os.environ in every
 * interpreter has them (and the main interpreter's user site directory
 * follows the daemon's HOME too, as under mod_wsgi only in
 * sub-interpreters or when Apache has no HOME: docs/status.md).
 */
static void wsgi_daemon_user_environ(const struct passwd *pw)
{
    static const char *const names[] = {"USER", "USERNAME", "LOGNAME"};
    size_t i;

    setenv("HOME", pw->pw_dir, 1);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
        if (getenv(names[i]))
            setenv(names[i], pw->pw_name, 1);
    }
}

/* Privileges, directory, environment and limits, in mod_wsgi's order. */
static void wsgi_daemon_setup(wsgi_group_t *group)
{
    const char *value;
    struct passwd *pw, user;

    if ((value = wsgi_opt(group, "cpu-priority")) && setpriority(PRIO_PROCESS, 0, atoi(value)) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, group->server,
                     WSGIRT_LOGNO(0521) "mod_wsgi (pid=%d): "
                                        "Couldn't set CPU priority in daemon process '%d'.",
                     (int)getpid(), atoi(value));

    if ((value = wsgi_opt(group, "chroot"))) {
        if (chroot(value) < 0 || chdir("/") < 0) {
            ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                         WSGIRT_LOGNO(0522) "mod_wsgi (pid=%d): "
                                            "Unable to change root directory to '%s'.",
                         (int)getpid(), value);
            wsgi_daemon_setup_failed(group);
        }
    }

    if (group->uid == 0) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, 0, group->server,
                     WSGIRT_LOGNO(0523) "mod_wsgi (pid=%d): "
                                        "WSGI process blocked from running as root.",
                     (int)getpid());
        wsgi_daemon_setup_failed(group);
    }
    if (geteuid() == 0) {
        if (setgid(group->gid) < 0) {
            ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                         WSGIRT_LOGNO(0524) "mod_wsgi (pid=%d): "
                                            "Unable to set group id to gid=%u.",
                         (int)getpid(), (unsigned)group->gid);
            wsgi_daemon_setup_failed(group);
        }
        if (group->groups) {
            /* The listed groups replace the user's (initgroups). */
            if (setgroups((size_t)group->groups_count, group->groups) < 0) {
                ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                             WSGIRT_LOGNO(0526) "mod_wsgi (pid=%d): "
                                                "Unable to set supplementary groups for uname=%s "
                                                "of '%s'.",
                             (int)getpid(), group->user_name,
                             wsgi_opt(group, "supplementary-groups"));
                wsgi_daemon_setup_failed(group);
            }
        } else if (initgroups(group->user_name, group->gid) < 0) {
            ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                         WSGIRT_LOGNO(0527) "mod_wsgi (pid=%d): "
                                            "Unable to set groups for uname=%s and gid=%u.",
                         (int)getpid(), group->user_name, (unsigned)group->gid);
            wsgi_daemon_setup_failed(group);
        }
        if (setuid(group->uid) < 0) {
            ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                         WSGIRT_LOGNO(0528) "mod_wsgi (pid=%d): "
                                            "Unable to change to uid=%ld.",
                         (int)getpid(), (long)group->uid);
            wsgi_daemon_setup_failed(group);
        }
    }

    /* The user the process now runs as (inside chroot=, as mod_wsgi). */
    if ((pw = getpwuid(geteuid()))) {
        user = *pw;
        user.pw_name = apr_pstrdup(wsgi_parent_pool, pw->pw_name);
        user.pw_dir = apr_pstrdup(wsgi_parent_pool, pw->pw_dir);
        pw = &user;
    }
    if ((value = wsgi_opt(group, "home"))) {
        if (chdir(value) < 0) {
            ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                         WSGIRT_LOGNO(0529) "mod_wsgi (pid=%d): "
                                            "Unable to change working directory to '%s'.",
                         (int)getpid(), value);
            wsgi_daemon_setup_failed(group);
        }
    } else if (geteuid() != ap_unixd_config.user_id && pw && chdir(pw->pw_dir) < 0) {
        /* As mod_wsgi: only a daemon running as another user than Apache's
         * moves to that user's home directory. (mod_wsgi also gives up on
         * the process when it cannot; a warning is enough here.) */
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, group->server,
                     WSGIRT_LOGNO(0529) "mod_wsgi (pid=%d): "
                                        "Unable to change working directory to home directory "
                                        "'%s' for uid=%ld.",
                     (int)getpid(), pw->pw_dir, (long)geteuid());
    }
    if (pw)
        wsgi_daemon_user_environ(pw);

    if ((value = wsgi_opt(group, "umask")))
        umask((mode_t)strtol(value, NULL, 8));
    /* setuid() made the process undumpable: with CoreDumpDirectory, dump
     * core again, as Apache's children and mod_wsgi's daemons do. */
    if (ap_coredumpdir_configured && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
        ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                     WSGIRT_LOGNO(0547) "mod_wsgi (pid=%d): "
                                        "Set dumpable failed. This child will not coredump "
                                        "after software errors.",
                     (int)getpid());
    if ((value = wsgi_opt(group, "lang")))
        setenv("LANG", value, 1);
    if ((value = wsgi_opt(group, "locale"))) {
        setenv("LC_ALL", value, 1);
        setlocale(LC_ALL, value);
    }
    if ((value = wsgi_opt(group, "python-eggs")))
        setenv("PYTHON_EGG_CACHE", value, 1);

    if ((value = wsgi_opt(group, "cpu-time-limit")) && atol(value) > 0) {
        rlim_t seconds = (rlim_t)atol(value);
        rlim_t grace = (rlim_t)wsgi_opt_number(group, "shutdown-timeout", 5);
        wsgi_set_rlimit(group, RLIMIT_CPU, "CPU time limit", seconds, seconds + 1 + grace);
    }
    if ((value = wsgi_opt(group, "memory-limit")) && atoll(value) > 0)
        wsgi_set_rlimit(group, RLIMIT_DATA, "memory limit", (rlim_t)atoll(value),
                        (rlim_t)atoll(value));
    if ((value = wsgi_opt(group, "virtual-memory-limit")) && atoll(value) > 0)
        wsgi_set_rlimit(group, RLIMIT_AS, "virtual memory limit", (rlim_t)atoll(value),
                        (rlim_t)atoll(value));
}

/* The stop pipe and its signal handlers; returns the read end. */
static int wsgi_daemon_signals(wsgi_group_t *group)
{
    int fds[2];

    if (pipe(fds) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                     WSGIRT_LOGNO(0530) "mod_wsgi (pid=%d): "
                                        "Unable to create the stop pipe of daemon process '%s'.",
                     (int)getpid(), group->name);
        wsgi_daemon_fail();
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    wsgi_stop_fd = fds[1];

    wsgi_catch(SIGTERM, wsgi_daemon_signal);
    wsgi_catch(SIGINT, wsgi_daemon_signal);
    wsgi_catch(SIGUSR1, wsgi_daemon_signal);
    wsgi_catch(SIGXCPU, wsgi_daemon_signal);
    wsgi_catch(SIGPIPE, SIG_IGN);
    /* As mod_wsgi's daemon (Python ignores it there): a write past
     * RLIMIT_FSIZE fails with EFBIG instead of ending the process. */
    wsgi_catch(SIGXFSZ, SIG_IGN);
    wsgi_catch(SIGHUP, wsgi_daemon_drop_signal);
    wsgi_catch(SIGWINCH, wsgi_daemon_drop_signal);
    return fds[0];
}

void wsgi_add_python_paths(apr_pool_t *p, wsgirt_config *config, const char *list,
                           void (*rejected)(wsgirt_status status, const char *entry))
{
    if (!*list)
        return;
    for (;;) {
        const char *colon = strchr(list, ':');
        size_t len = colon ? (size_t)(colon - list) : strlen(list);
        wsgirt_status status = wsgirt_config_add_python_path(config, list, len);
        if (status != WSGIRT_STATUS_OK && rejected)
            rejected(status, apr_pstrmemdup(p, list, len));
        if (!colon)
            break;
        list = colon + 1;
    }
}

static wsgirt_runtime *wsgi_daemon_runtime(apr_pool_t *p, wsgi_group_t *group)
{
    wsgirt_config *config = wsgi_hooks->runtime_config(p);
    wsgirt_runtime *runtime = NULL;
    wsgirt_status status;
    const char *value;

    if (!config) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, 0, group->server,
                     WSGIRT_LOGNO(0531) "mod_wsgi (pid=%d): "
                                        "Cannot create the wsgirt configuration.",
                     (int)getpid());
        return NULL;
    }
    if ((value = wsgi_opt(group, "python-home")))
        (void)wsgirt_config_set_python_home(config, value, strlen(value));
    if ((value = wsgi_opt(group, "python-path")))
        wsgi_add_python_paths(p, config, value, NULL);
    /* home= is also the front of sys.path, ahead of python-path (mod_wsgi). */
    if ((value = wsgi_opt(group, "home")))
        (void)wsgirt_config_set_home_directory(config, value, strlen(value));
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_MULTITHREAD, group->threads > 1);
    /* mod_wsgi: wsgi.run_once for a process that serves exactly one request. */
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_RUN_ONCE,
                                 group->threads == 1 &&
                                     wsgi_opt_number(group, "maximum-requests", 0) == 1);
    /* A managed task (threads=0) may install its own signal handlers, as in mod_wsgi. */
    if (group->threads == 0)
        (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_RESTRICT_SIGNAL, 0);
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_MULTIPROCESS, group->multiprocess != 0);
    (void)wsgirt_config_set_process(config, group->name, strlen(group->name), group->processes,
                                    group->threads);
    (void)wsgirt_config_set_log_callback(config, wsgi_daemon_log, group->server);
    (void)wsgirt_config_set_daemon_request_log(config, wsgi_daemon_request_log_begin,
                                               wsgi_daemon_request_log_end);
    /* server-metrics=On enables mod_wsgi.server_metrics() in this group. */
    value = wsgi_opt(group, "server-metrics");
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_SERVER_METRICS,
                                 value && !strcasecmp(value, "On"));

    status = wsgirt_runtime_new(WSGIRT_ABI_VERSION, config, &runtime);
    wsgirt_config_free(config);
    if (status != WSGIRT_STATUS_OK) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, 0, group->server,
                     WSGIRT_LOGNO(0532) "mod_wsgi (pid=%d): "
                                        "Cannot start Python in daemon process '%s': %s.",
                     (int)getpid(), group->name, wsgirt_status_str(status));
        return NULL;
    }
    return runtime;
}

/* display-name: rewrite the process title (argv) and the thread name. */
static void wsgi_set_display_name(wsgi_group_t *group)
{
    const char *name = wsgi_opt(group, "display-name");
    const process_rec *proc = group->server->process;
    char *start, *end;
    int i;

    if (!name || !proc || !proc->argc || !proc->argv[0])
        return;
    if (!strcmp(name, "%{GROUP}"))
        name = apr_psprintf(wsgi_parent_pool, "(wsgi:%s)", group->name);
    /* argv strings are contiguous: the title may use all of them. */
    start = (char *)proc->argv[0];
    end = start + strlen(start);
    for (i = 1; i < proc->argc && proc->argv[i] == end + 1; ++i)
        end = (char *)proc->argv[i] + strlen(proc->argv[i]);
    memset(start, 0, (size_t)(end - start));
    apr_cpystrn(start, name, (apr_size_t)(end - start) + 1);
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

/*
 * threads=0, a managed task (mod_wsgi 4.6.0): no requests; the group's
 * WSGIImportScripts run on this (the main) thread until they return, then
 * the process exits and the parent starts a new one. A stop or restart
 * (SIGTERM) raises SystemExit in the task, or runs the task's own handler.
 */
/* mod_wsgi's first line in a new daemon process; the user and group are
 * named only when the process started as root (and so could switch). */
static void wsgi_log_starting(wsgi_group_t *group, int started_as_root)
{
    if (started_as_root)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                     "mod_wsgi (pid=%d): Starting process '%s' with uid=%ld, gid=%ld and "
                     "threads=%d.",
                     (int)getpid(), group->name, (long)getuid(), (long)getgid(), group->threads);
    else
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                     "mod_wsgi (pid=%d): Starting process '%s' with threads=%d.", (int)getpid(),
                     group->name, group->threads);
}

static void wsgi_task_main(apr_pool_t *p, wsgi_group_t *group, int started_as_root)
{
    wsgirt_runtime *runtime;
    wsgirt_status status;
    uint64_t shutdown_us;
    wsgirt_str name;

    /* Until Python's handlers are in place a stop simply ends the process. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    wsgi_catch(SIGHUP, wsgi_daemon_drop_signal);
    wsgi_catch(SIGUSR1, wsgi_daemon_drop_signal);
    wsgi_catch(SIGWINCH, wsgi_daemon_drop_signal);

    wsgi_log_starting(group, started_as_root);
    if (!(runtime = wsgi_daemon_runtime(p, group)))
        wsgi_daemon_fail();
    if ((status = wsgirt_daemon_task_prepare(runtime)) != WSGIRT_STATUS_OK)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, group->server,
                     WSGIRT_LOGNO(0533) "mod_wsgi (pid=%d): "
                                        "Cannot prepare the managed task of daemon process "
                                        "'%s': %s.",
                     (int)getpid(), group->name, wsgirt_status_str(status));
    if (wsgi_hooks->import_scripts)
        wsgi_hooks->import_scripts(runtime, group->name);

    ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                 "mod_wsgi (pid=%d): Stopping process '%s'.", (int)getpid(), group->name);
    /* Python's teardown (atexit callbacks) gets shutdown-timeout, then the
     * reaper logs mod_wsgi's closing lines and ends the process. mod_wsgi
     * 4.9.4 does not bound a task's teardown (docs/daemon.md). */
    shutdown_us = wsgi_opt_us(group, "shutdown-timeout", 5000000u);
    name.ptr = group->name;
    name.len = strlen(group->name);
    (void)wsgirt_daemon_reaper_start(name, shutdown_us);
    wsgirt_runtime_free(runtime);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                 "mod_wsgi (pid=%d): Exiting process '%s'.", (int)getpid(), group->name);
    _exit(0);
}

static void wsgi_respawn_wait(const wsgi_process_t *process);

static void wsgi_daemon_main(apr_pool_t *p, wsgi_process_t *process)
{
    wsgi_group_t *group = process->group;
    wsgirt_daemon_options options;
    wsgirt_daemon_result result;
    wsgirt_runtime *runtime;
    wsgirt_status status;
    int stop_fd, i, started_as_root;

    /* Apache's listeners and the other groups' sockets are not ours. */
    ap_close_listeners();
    for (i = 0; i < wsgi_groups->nelts; ++i) {
        wsgi_group_t *other = APR_ARRAY_IDX(wsgi_groups, i, wsgi_group_t *);
        if (other != group && other->listen_fd >= 0) {
            close(other->listen_fd);
            other->listen_fd = -1;
        }
    }
    /* A slot whose previous process died young waits out its spacing here. */
    wsgi_respawn_wait(process);

    started_as_root = geteuid() == 0;
    wsgi_set_display_name(group);
    wsgi_daemon_setup(group);
    /* The parent's SIGCHLD wake-up handler is not ours (see wsgi_watch_children). */
    signal(SIGCHLD, SIG_DFL);
    if (group->threads == 0)
        wsgi_task_main(p, group, started_as_root); /* does not return */
    stop_fd = wsgi_daemon_signals(group);

    wsgi_log_starting(group, started_as_root);

    if (!(runtime = wsgi_daemon_runtime(p, group)))
        wsgi_daemon_fail();
    if (wsgi_hooks->import_scripts)
        wsgi_hooks->import_scripts(runtime, group->name);

    memset(&options, 0, sizeof(options));
    options.struct_size = sizeof(options);
    (void)wsgirt_daemon_options_init(&options);
    options.name.ptr = group->name;
    options.name.len = strlen(group->name);
    memcpy(options.token, group->token, sizeof(options.token));
    options.threads = group->threads > 0 ? (uint32_t)group->threads : 1;
    options.stack_size = (uint64_t)wsgi_opt_number(group, "stack-size", 0);
    options.maximum_requests = (uint64_t)wsgi_opt_number(group, "maximum-requests", 0);
    options.restart_interval_us = wsgi_opt_us(group, "restart-interval", 0);
    options.inactivity_timeout_us = wsgi_opt_us(group, "inactivity-timeout", 0);
    options.request_timeout_us = wsgi_opt_us(group, "request-timeout", 0);
    options.startup_timeout_us = wsgi_opt_us(group, "startup-timeout", 0);
    options.deadlock_timeout_us =
        wsgi_opt_us(group, "deadlock-timeout", options.deadlock_timeout_us);
    options.graceful_timeout_us =
        wsgi_opt_us(group, "graceful-timeout", options.graceful_timeout_us);
    options.eviction_timeout_us = wsgi_opt_us(group, "eviction-timeout", 0);
    options.shutdown_timeout_us =
        wsgi_opt_us(group, "shutdown-timeout", options.shutdown_timeout_us);
    options.queue_timeout_us = wsgi_opt_us(group, "queue-timeout", 0);
    options.socket_timeout_us = group->target.socket_timeout_us;
    options.interrupt_timeout_us = wsgi_opt_us(group, "interrupt-timeout", 0);
    options.send_buffer_size = (uint32_t)wsgi_opt_number(group, "send-buffer-size", 0);
    options.receive_buffer_size = (uint32_t)wsgi_opt_number(group, "receive-buffer-size", 0);
    /* As mod_wsgi's reaper: from "Shutdown requested", shutdown-timeout
     * bounds the drain and Python's teardown below together; past it the
     * library logs the closing lines and ends this process itself. */
    options.exit_on_shutdown_timeout = true;

    memset(&result, 0, sizeof(result));
    result.struct_size = sizeof(result);
    status = wsgirt_daemon_serve(runtime, group->listen_fd, stop_fd, &options, &result);
    if (status != WSGIRT_STATUS_OK) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, 0, group->server,
                     WSGIRT_LOGNO(0534) "mod_wsgi (pid=%d): "
                                        "Daemon process '%s' cannot serve: %s.",
                     (int)getpid(), group->name, wsgirt_status_str(status));
        wsgi_daemon_fail();
    }

    ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                 "mod_wsgi (pid=%d): Stopping process '%s'.", (int)getpid(), group->name);
    /* With the reaper, requests still running never return here (it ends
     * the process); after a deadlock the GIL is presumed stuck. */
    if (result.active_requests || result.reason == WSGIRT_SHUTDOWN_DEADLOCK_TIMEOUT) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                     "mod_wsgi (pid=%d): Exiting process '%s'.", (int)getpid(), group->name);
        _exit(-1);
    }
    /* The reaper started at "Shutdown requested" still runs: a teardown
     * (atexit callbacks) past shutdown-timeout ends there, with its lines. */
    wsgirt_runtime_free(runtime);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                 "mod_wsgi (pid=%d): Exiting process '%s'.", (int)getpid(), group->name);
    /* Not exit(): Apache's pool cleanups belong to the parent. */
    _exit(0);
}

/* ---------------------------------------------------------------------------
 * The parent: sockets, forking, supervision
 * ------------------------------------------------------------------------- */

static int wsgi_start_process(apr_pool_t *p, wsgi_process_t *process);

static void wsgi_manage_process(int reason, void *data, apr_wait_t status)
{
    wsgi_process_t *process = data;
    wsgi_group_t *group = process->group;
    int mpm_state, stopping;

    switch (reason) {
    case APR_OC_REASON_DEATH:
        stopping = !(ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state) == APR_SUCCESS &&
                     mpm_state != AP_MPMQ_STOPPING);
        if (!stopping) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                         "mod_wsgi (pid=%d): Process '%s' has died, deregister and restart it.",
                         (int)process->proc.pid, group->name);
            if (WIFEXITED(status))
                ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                             "mod_wsgi (pid=%d): Process '%s' terminated normally, exit code %d",
                             (int)process->proc.pid, group->name, WEXITSTATUS(status));
            else if (WIFSIGNALED(status))
                ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                             "mod_wsgi (pid=%d): Process '%s' terminated by signal %d",
                             (int)process->proc.pid, group->name, WTERMSIG(status));
        } else {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                         "mod_wsgi (pid=%d): Process '%s' has died but server is being stopped, "
                         "deregister it.",
                         (int)process->proc.pid, group->name);
        }
        apr_proc_other_child_unregister(process);
        if (!stopping)
            (void)wsgi_start_process(wsgi_parent_pool, process);
        break;
    case APR_OC_REASON_RESTART:
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                     "mod_wsgi (pid=%d): Process '%s' to be deregistered, as server is "
                     "restarting or being shutdown.",
                     (int)process->proc.pid, group->name);
        apr_proc_other_child_unregister(process);
        break;
    case APR_OC_REASON_LOST:
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                     "mod_wsgi (pid=%d): Process '%s' appears to have been lost, deregister and "
                     "restart it.",
                     (int)process->proc.pid, group->name);
        apr_proc_other_child_unregister(process);
        (void)wsgi_start_process(wsgi_parent_pool, process);
        break;
    case APR_OC_REASON_UNREGISTER:
        /* The pool's subprocess note stops the process (SIGTERM, then SIGKILL). */
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, group->server,
                     "mod_wsgi (pid=%d): Process '%s' has been deregistered and will no longer "
                     "be monitored.",
                     (int)process->proc.pid, group->name);
        break;
    default:
        break;
    }
}

/*
 * Respawn spacing. The parent restarts a dead daemon at once (SIGCHLD wakes
 * its maintenance loop, see wsgi_watch_children), which is right for a
 * healthy process that was killed, but a process that dies during startup
 * (an import script calling os._exit, a crash loading an extension) would
 * be restarted in a tight loop: a fork storm, and a log flood.
 * mod_wsgi 4.9.4 restarts from Apache's maintenance tick, about once a
 * second. The rule here: a process slot never begins a startup sooner than
 * WSGI_RESPAWN_SPACING_NS after its previous one began. A process that
 * lived that long is replaced at once; one that died sooner is replaced by
 * a child forked at once (the parent never waits) that sleeps out the rest
 * of the second before it starts, so a slot forks and logs its startup at
 * most once a second. The 20 s wait of a failed setup (wsgi_daemon_fail)
 * happens in the dying process and is not affected.
 */
#define WSGI_RESPAWN_SPACING_NS INT64_C(1000000000)

static int64_t wsgi_monotonic_ns(void)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) < 0)
        return 0;
    return (int64_t)now.tv_sec * INT64_C(1000000000) + now.tv_nsec;
}

/*
 * In a freshly forked daemon: waits until process->start_ns (see the rule
 * above). Apache's stop and restart still end the process at once: SIGTERM
 * (the pool's subprocess note) and SIGINT (graceful) get their default
 * action for the wait, then the inherited handlers are put back, so what
 * follows runs exactly as in a process that did not wait.
 */
static void wsgi_respawn_wait(const wsgi_process_t *process)
{
    struct sigaction dfl, old_term, old_int;
    struct timespec until;

    if (wsgi_monotonic_ns() >= process->start_ns)
        return;
    memset(&dfl, 0, sizeof(dfl));
    sigemptyset(&dfl.sa_mask);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &dfl, &old_term);
    sigaction(SIGINT, &dfl, &old_int);
    until.tv_sec = (time_t)(process->start_ns / INT64_C(1000000000));
    until.tv_nsec = (long)(process->start_ns % INT64_C(1000000000));
    /* Other signals (Apache's SIGHUP/SIGWINCH to its process group) only
     * interrupt the sleep. */
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
}

static int wsgi_start_process(apr_pool_t *p, wsgi_process_t *process)
{
    int64_t now = wsgi_monotonic_ns();
    int64_t earliest = process->start_ns ? process->start_ns + WSGI_RESPAWN_SPACING_NS : 0;
    apr_status_t rv;

    process->start_ns = earliest > now ? earliest : now;
    rv = apr_proc_fork(&process->proc, p);

    if (rv == APR_INCHILD) {
        wsgi_daemon_main(p, process);
        _exit(0);
    }
    if (rv != APR_INPARENT) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, rv, process->group->server,
                     WSGIRT_LOGNO(0535) "mod_wsgi: Couldn't spawn process '%s'.",
                     process->group->name);
        return DECLINED;
    }
    apr_pool_note_subprocess(p, &process->proc, APR_KILL_AFTER_TIMEOUT);
    apr_proc_other_child_register(&process->proc, wsgi_manage_process, process, NULL, p);
    return OK;
}

/* Closes and removes a group's socket when the configuration goes (parent only). */
static apr_status_t wsgi_cleanup_socket(void *data)
{
    wsgi_group_t *group = data;
    if (getpid() != wsgi_parent_pid || group->listen_fd < 0)
        return APR_SUCCESS;
    close(group->listen_fd);
    group->listen_fd = -1;
    if (unlink(group->socket_path) < 0 && errno != ENOENT)
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, group->server,
                     WSGIRT_LOGNO(0536) "mod_wsgi (pid=%d): "
                                        "Couldn't unlink unix domain socket '%s'.",
                     (int)getpid(), group->socket_path);
    return APR_SUCCESS;
}

static void wsgi_set_buffer_size(wsgi_group_t *group, int fd, int option, int size)
{
    if (size > 0 && setsockopt(fd, SOL_SOCKET, option, &size, sizeof(size)) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, group->server,
                     WSGIRT_LOGNO(0537) "mod_wsgi (pid=%d): "
                                        "Failed to set %s buffer size on daemon process socket.",
                     (int)getpid(), option == SO_SNDBUF ? "send" : "receive");
}

/*
 * Fast respawn. Apache's parent notices a dead child in its maintenance loop,
 * which sleeps a second at a time (select) between waitpid(WNOHANG) calls. A
 * SIGCHLD handler that does nothing makes that sleep return at once (select is
 * never restarted after a handler ran), so a killed daemon is reaped and
 * replaced within milliseconds instead of up to a second (one that died
 * young still keeps its slot's spacing, see wsgi_start_process). The
 * handler is installed while daemon groups exist and removed with the
 * configuration's pool, before this module can be unloaded on a restart;
 * children reset it.
 */
static struct sigaction wsgi_saved_sigchld;

static void wsgi_sigchld_noop(int signum)
{
    (void)signum;
}

static apr_status_t wsgi_unwatch_children(void *data)
{
    (void)data;
    if (getpid() == wsgi_parent_pid)
        sigaction(SIGCHLD, &wsgi_saved_sigchld, NULL);
    return APR_SUCCESS;
}

static void wsgi_watch_children(apr_pool_t *pconf)
{
    struct sigaction action, old;

    if (sigaction(SIGCHLD, NULL, &old) < 0 || old.sa_handler != SIG_DFL ||
        (old.sa_flags & SA_SIGINFO))
        return; /* someone else handles SIGCHLD: leave it alone */
    memset(&action, 0, sizeof(action));
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    action.sa_handler = wsgi_sigchld_noop;
    if (sigaction(SIGCHLD, &action, &wsgi_saved_sigchld) == 0)
        apr_pool_cleanup_register(pconf, NULL, wsgi_unwatch_children, apr_pool_cleanup_null);
}

static int wsgi_setup_socket(apr_pool_t *p, wsgi_group_t *group)
{
    struct sockaddr_un addr;
    const char *socket_user = wsgi_opt(group, "socket-user");
    int backlog = (int)wsgi_opt_number(group, "listen-backlog", 100);
    mode_t mask;
    int fd, rc;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(group->socket_path) >= sizeof(addr.sun_path)) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, 0, group->server,
                     WSGIRT_LOGNO(0538) "mod_wsgi (pid=%d): "
                                        "Length of path for daemon process socket '%s' exceeds "
                                        "the maximum of %d bytes; use a shorter WSGISocketPrefix.",
                     (int)getpid(), group->socket_path, (int)sizeof(addr.sun_path) - 1);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_cpystrn(addr.sun_path, group->socket_path, sizeof(addr.sun_path));

    if (unlink(group->socket_path) < 0 && errno != ENOENT)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, group->server,
                     WSGIRT_LOGNO(0536) "mod_wsgi (pid=%d): "
                                        "Couldn't unlink unix domain socket '%s'.",
                     (int)getpid(), group->socket_path);

    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                     WSGIRT_LOGNO(0539) "mod_wsgi (pid=%d): "
                                        "Couldn't create unix domain socket.",
                     (int)getpid());
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* As mod_wsgi; Linux does not pass these on to accepted connections, so the
     * daemon sets them again on each one (wsgirt_daemon_options). */
    wsgi_set_buffer_size(group, fd, SO_SNDBUF, (int)wsgi_opt_number(group, "send-buffer-size", 0));
    wsgi_set_buffer_size(group, fd, SO_RCVBUF,
                         (int)wsgi_opt_number(group, "receive-buffer-size", 0));
    mask = umask(0077);
    rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    umask(mask);
    if (rc < 0) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                     WSGIRT_LOGNO(0540) "mod_wsgi (pid=%d): "
                                        "Couldn't bind unix domain socket '%s'.",
                     (int)getpid(), group->socket_path);
        close(fd);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (listen(fd, backlog > 0 ? backlog : 100) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                     WSGIRT_LOGNO(0541) "mod_wsgi (pid=%d): "
                                        "Couldn't listen on unix domain socket '%s'.",
                     (int)getpid(), group->socket_path);
        close(fd);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    group->listen_fd = fd;
    apr_pool_cleanup_register(p, group, wsgi_cleanup_socket, apr_pool_cleanup_null);

    if (!geteuid()) {
        uid_t owner = ap_unixd_config.user_id;
        if (socket_user) {
            struct passwd *pw = *socket_user == '#' ? getpwuid((uid_t)atol(socket_user + 1))
                                                    : getpwnam(socket_user);
            if (pw)
                owner = pw->pw_uid;
        }
        if (chown(group->socket_path, owner, (gid_t)-1) < 0) {
            ap_log_error(APLOG_MARK, APLOG_ALERT, errno, group->server,
                         WSGIRT_LOGNO(0542) "mod_wsgi (pid=%d): "
                                            "Couldn't change owner of unix domain socket '%s'.",
                         (int)getpid(), group->socket_path);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

int wsgi_daemon_start(apr_pool_t *pconf, server_rec *s, const char *socket_prefix,
                      int socket_rotation, const wsgi_daemon_hooks_t *hooks)
{
    int generation = 0, i, j, rc;
    const char *prefix;

    if (!wsgi_groups || !wsgi_groups->nelts)
        return OK;
    wsgi_parent_pool = pconf;
    wsgi_parent_pid = getpid();
    wsgi_hooks = hooks;
    ap_mpm_query(AP_MPMQ_GENERATION, &generation);
    prefix = socket_prefix ? socket_prefix : ap_runtime_dir_relative(pconf, "wsgi");

    for (i = 0; i < wsgi_groups->nelts; ++i) {
        wsgi_group_t *group = APR_ARRAY_IDX(wsgi_groups, i, wsgi_group_t *);
        const char *timeout;

        wsgi_group_identity(pconf, group);
        if (socket_rotation == 0) {
            /* Named after the configured uid (user= or User), as mod_wsgi
             * does, even when Apache is not root and the daemons run as
             * Apache's own user. */
            group->socket_path = apr_psprintf(pconf, "%s.%d.u%ld.%d.sock", prefix, (int)getpid(),
                                              (long)group->socket_uid, i + 1);
        } else
            group->socket_path =
                apr_psprintf(pconf, "%s.%d.%d.%d.sock", prefix, (int)getpid(), generation, i + 1);
        group->socket_prefix = prefix;
        group->index = i + 1;
        group->socket_rotation = socket_rotation != 0;
        if ((rc = wsgi_setup_socket(pconf, group)) != OK)
            return rc;
        if (!wsgi_group_token(s->process->pool, group)) {
            ap_log_error(APLOG_MARK, APLOG_ALERT, 0, s,
                         WSGIRT_LOGNO(0543) "mod_wsgi (pid=%d): "
                                            "Couldn't create the origin token of daemon "
                                            "process group '%s'.",
                         (int)getpid(), group->name);
            return HTTP_INTERNAL_SERVER_ERROR;
        }

        memset(&group->target, 0, sizeof(group->target));
        group->target.struct_size = sizeof(group->target);
        (void)wsgirt_daemon_target_init(&group->target);
        group->target.name.ptr = group->name;
        group->target.name.len = strlen(group->name);
        group->target.socket_path.ptr = group->socket_path;
        group->target.socket_path.len = strlen(group->socket_path);
        memcpy(group->target.token, group->token, sizeof(group->token));
        group->target.processes = (uint32_t)group->processes;
        group->target.connect_timeout_us =
            wsgi_opt_us(group, "connect-timeout", group->target.connect_timeout_us);
        timeout = wsgi_opt(group, "socket-timeout");
        group->target.socket_timeout_us =
            timeout ? wsgi_opt_us(group, "socket-timeout", 0) : (uint64_t)group->server->timeout;
        group->target.header_buffer_size =
            (uint32_t)wsgi_opt_number(group, "header-buffer-size", 0);
        group->target.response_buffer_size =
            (uint32_t)wsgi_opt_number(group, "response-buffer-size", 0);
        group->target.queue_timeout_us = wsgi_opt_us(group, "queue-timeout", 0);
        group->target.socket_path_cb = wsgi_current_socket_path;
        group->target.socket_path_userdata = group;
    }

    wsgi_watch_children(pconf);
    for (i = 0; i < wsgi_groups->nelts; ++i) {
        wsgi_group_t *group = APR_ARRAY_IDX(wsgi_groups, i, wsgi_group_t *);
        group->procs = apr_pcalloc(pconf, sizeof(*group->procs) * (size_t)group->processes);
        for (j = 0; j < group->processes; ++j) {
            group->procs[j].group = group;
            group->procs[j].instance = j + 1;
            if ((rc = wsgi_start_process(pconf, &group->procs[j])) != OK)
                return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* ---------------------------------------------------------------------------
 * The worker side
 * ------------------------------------------------------------------------- */

void wsgi_daemon_child_signals(void)
{
    /* The parent's SIGCHLD wake-up (wsgi_watch_children) is the parent's only. */
    struct sigaction current;
    if (sigaction(SIGCHLD, NULL, &current) == 0 && current.sa_handler == wsgi_sigchld_noop)
        signal(SIGCHLD, SIG_DFL);
}

void wsgi_daemon_child_init(server_rec *s, wsgirt_log_cb callback, void *userdata)
{
    (void)s;
    if (wsgi_groups && wsgi_groups->nelts)
        (void)wsgirt_daemon_set_log_callback(callback, userdata);
}

static int wsgi_script_denied(request_rec *r, const char *message, const char *file)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGIRT_LOGNO(0544) "%s: %s", message, file);
    return HTTP_FORBIDDEN;
}

/* Owner/group and write permissions of a script file or its directory (mod_wsgi's words). */
static int wsgi_check_owner(request_rec *r, const apr_finfo_t *finfo, int is_user,
                            const char *required, const char *what)
{
    const char *name = NULL;
    int directory = !strncmp(what, "parent ", 7);
    char *subject = apr_pstrdup(r->pool, what);

    subject[0] = (char)apr_toupper(subject[0]);

    if (!(finfo->valid & (is_user ? APR_FINFO_USER : APR_FINFO_GROUP)))
        return wsgi_script_denied(r,
                                  apr_psprintf(r->pool,
                                               "%s information not available for WSGI script file",
                                               is_user ? "User" : "Group"),
                                  r->filename);
    if (is_user) {
        struct passwd *pw = getpwuid(finfo->user);
        name = pw ? pw->pw_name : NULL;
    } else {
        struct group *gr = getgrgid(finfo->group);
        name = gr ? gr->gr_name : NULL;
    }
    if (!name)
        return wsgi_script_denied(r,
                                  apr_psprintf(r->pool, "Couldn't determine %s of %s, %s=%ld",
                                               is_user ? "owner" : "group", what,
                                               is_user ? "uid" : "gid",
                                               is_user ? (long)finfo->user : (long)finfo->group),
                                  r->filename);
    if (strcmp(required, name))
        return wsgi_script_denied(
            r,
            apr_psprintf(r->pool, "%s of %s does not match required %s for daemon process, %s=%s",
                         is_user ? "Owner" : "Group", what, is_user ? "user" : "group",
                         is_user ? "user" : "group", name),
            r->filename);
    /* mod_wsgi's order: for the script file itself (script-user) group
     * write is reported before world write, for its directory after. The
     * message starts with `what`, capitalised. */
    if (is_user && !directory && (finfo->protection & APR_FPROT_GWRITE))
        return wsgi_script_denied(r, apr_psprintf(r->pool, "%s is writable to group", subject),
                                  r->filename);
    if (finfo->protection & APR_FPROT_WWRITE)
        return wsgi_script_denied(r, apr_psprintf(r->pool, "%s is writable to world", subject),
                                  r->filename);
    if (is_user && directory && (finfo->protection & APR_FPROT_GWRITE))
        return wsgi_script_denied(r, apr_psprintf(r->pool, "%s is writable to group", subject),
                                  r->filename);
    return OK;
}

/*
 * mod_wsgi's rule: a group defined in a virtual host serves that host and
 * hosts with the same ServerName; one of the main server serves every host.
 * The configuration can only check process-group= options, so
 * WSGIProcessGroup (a name or %{ENV:...}) is checked here, per request.
 */
static int wsgi_group_accessible(const wsgi_group_t *group, const request_rec *r)
{
    const char *mine = group->server->server_hostname, *theirs = r->server->server_hostname;

    if (group->server == r->server || !group->server->is_virtual)
        return 1;
    return mine && theirs ? !strcmp(mine, theirs) : mine == theirs;
}

int wsgi_daemon_check_script(request_rec *r, const char *name)
{
    const wsgi_group_t *group = wsgi_find_group(name);
    const char *user, *grp, *path;
    apr_finfo_t finfo;
    int rc;

    if (!group)
        return OK;
    if (!wsgi_group_accessible(group, r)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGIRT_LOGNO(0546) "Daemon process called '%s' cannot be accessed by "
                                         "this WSGI application: %s",
                      name, r->filename);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    user = wsgi_opt(group, "script-user");
    grp = wsgi_opt(group, "script-group");
    if (!user && !grp)
        return OK;
    if ((rc = wsgi_check_owner(r, &r->finfo, user != NULL, user ? user : grp,
                               "WSGI script file")) != OK)
        return rc;
    path = ap_make_dirstr_parent(r->pool, r->filename);
    if (apr_stat(&finfo, path, APR_FINFO_NORM, r->pool) != APR_SUCCESS)
        return wsgi_script_denied(r, "Unable to stat parent directory of WSGI script", path);
    return wsgi_check_owner(r, &finfo, user != NULL, user ? user : grp,
                            "parent directory of WSGI script file");
}

wsgirt_status wsgi_daemon_execute(request_rec *r, const char *name, const wsgirt_request_spec *spec,
                                  const wsgirt_host_io *io, void *io_ctx,
                                  wsgirt_request_result *out)
{
    const wsgi_group_t *group = wsgi_find_group(name);
    apr_socket_t *sock;
    apr_interval_time_t saved = 0;
    uint64_t timeout;
    wsgirt_status status;

    if (!group || !group->socket_path) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGIRT_LOGNO(0545) "mod_wsgi (pid=%d): "
                                         "No WSGI daemon process called '%s' has been started.",
                      (int)getpid(), name);
        return WSGIRT_STATUS_DAEMON_UNAVAILABLE;
    }
    timeout = wsgi_opt_us(group, "response-socket-timeout", 0);
    sock = timeout ? ap_get_conn_socket(r->connection) : NULL;
    if (sock && apr_socket_timeout_get(sock, &saved) == APR_SUCCESS)
        apr_socket_timeout_set(sock, (apr_interval_time_t)timeout);
    else
        sock = NULL;
    status = wsgirt_daemon_proxy(&group->target, spec, (int64_t)r->request_time, io, io_ctx, out);
    if (sock)
        apr_socket_timeout_set(sock, saved);
    return status;
}
