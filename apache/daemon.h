/*
 * daemon.h: daemon mode (WSGIDaemonProcess) for mod_wsgi.c. One concern:
 * process groups. The parent creates each group's listening socket and origin
 * token and forks and supervises its daemon processes; a daemon process drops
 * privileges, starts Python and serves (wsgirt_daemon_serve); an Apache worker
 * proxies a request to its group (wsgirt_daemon_proxy). See docs/daemon.md.
 */
#ifndef WSGIRT_APACHE_DAEMON_H
#define WSGIRT_APACHE_DAEMON_H

#include "httpd.h"
#include "apr_tables.h"

#include "wsgirt.h"

/* What mod_wsgi.c supplies to a daemon process. */
typedef struct {
    /* The embedded-mode runtime configuration (Python settings, flags, host version). */
    wsgirt_config *(*runtime_config)(apr_pool_t *p);
    /* Preloads the WSGIImportScripts of process group `group`. */
    void (*import_scripts)(wsgirt_runtime *runtime, const char *group);
} wsgi_daemon_hooks_t;

/*
 * Adds a ':'-separated path list (WSGIPythonPath, python-path=) to `config`
 * one entry at a time, split as mod_wsgi splits it: every ':' separates, so
 * an empty entry ("a::b", a trailing ':') is passed on and
 * site.addsitedir('') adds the current directory. An entry the library
 * refuses goes to `rejected` (NULL: ignored), copied into `p`.
 */
void wsgi_add_python_paths(apr_pool_t *p, wsgirt_config *config, const char *list,
                           void (*rejected)(wsgirt_status status, const char *entry));

/* Declares one WSGIDaemonProcess group (post_config, before wsgi_daemon_start). */
void wsgi_daemon_add(apr_pool_t *pconf, const char *name, server_rec *server, int processes,
                     int threads, int multiprocess, apr_table_t *options);

/*
 * Parent, post_config (not the configuration-check pass): creates each group's
 * socket and token and forks its daemon processes. Returns OK or an HTTP error
 * (startup fails; the reason is logged).
 */
int wsgi_daemon_start(apr_pool_t *pconf, server_rec *s, const char *socket_prefix,
                      int socket_rotation, const wsgi_daemon_hooks_t *hooks);

/* Worker child_init, first thing: undoes the parent's SIGCHLD handler. */
void wsgi_daemon_child_signals(void);

/* Worker child_init: the log sink for children that have no runtime. */
void wsgi_daemon_child_init(server_rec *s, wsgirt_log_cb callback, void *userdata);

/* Whether `name` is a daemon group of the running configuration. */
int wsgi_daemon_exists(const char *name);

/*
 * Worker, per request, mod_wsgi's checks of the group: it was defined in the
 * main server or in a virtual host with this request's ServerName (else
 * HTTP_INTERNAL_SERVER_ERROR), then script-user=/script-group= (else
 * HTTP_FORBIDDEN). OK, or the status, logged.
 */
int wsgi_daemon_check_script(request_rec *r, const char *name);

/*
 * Worker, per request for a daemon: the environ entry that tells the daemon
 * which virtual host received the request (so its log lines go to that
 * host's ErrorLog). A `wsgirt.` name: the daemon keeps it from the
 * application and hands it to its request log hooks only.
 */
#define WSGI_DAEMON_SERVER_VAR "wsgirt.server_index"
const char *wsgi_daemon_server_index(request_rec *r);

/* Worker: runs one request in daemon group `name` (wsgirt_daemon_proxy). */
wsgirt_status wsgi_daemon_execute(request_rec *r, const char *name, const wsgirt_request_spec *spec,
                                  const wsgirt_host_io *io, void *io_ctx,
                                  wsgirt_request_result *out);

#endif /* WSGIRT_APACHE_DAEMON_H */
