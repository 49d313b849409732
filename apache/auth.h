/*
 * auth.h: mod_wsgi's access, authentication, authorization and dispatch
 * scripts (WSGIAccessScript, WSGIAuthUserScript, WSGIAuthGroupScript,
 * WSGIDispatchScript) over the wsgirt_hook_* exports.
 *
 * mod_wsgi.c keeps the configuration and the runtime handle and provides the
 * three lookups below; auth.c holds the hooks and providers.
 */
#ifndef WSGIRT_APACHE_AUTH_H
#define WSGIRT_APACHE_AUTH_H

#include "httpd.h"
#include "apr_pools.h"
#include "wsgirt.h"

/* Which per-directory script wsgi_hook_script() looks up. */
typedef enum {
    WSGI_HOOK_ACCESS = 0,     /* WSGIAccessScript */
    WSGI_HOOK_AUTH_USER = 1,  /* WSGIAuthUserScript */
    WSGI_HOOK_AUTH_GROUP = 2, /* WSGIAuthGroupScript */
} wsgi_hook_kind_t;

/* --- provided by mod_wsgi.c ------------------------------------------- */

/* This child's runtime, or NULL when Python is unavailable. */
wsgirt_runtime *wsgi_hook_runtime(void);

/*
 * The path of the request's script of `kind` (NULL if none is configured);
 * `*group` gets its expanded application group ("" is the main interpreter).
 */
const char *wsgi_hook_script(request_rec *r, wsgi_hook_kind_t kind, const char **group);

/*
 * The variables of mod_wsgi's Auth_environ for an access or auth script
 * (request headers without Authorization, the real peer's REMOTE_ADDR, a few
 * CGI variables; r->subprocess_env is neither read nor changed), and the
 * request's WSGIScriptReloading; pool-allocated.
 */
const wsgirt_pair *wsgi_hook_environ(request_rec *r, size_t *count, int *script_reloading);

/* --- provided by auth.c ------------------------------------------------ */

/* Registers the access_checker hook and the "wsgi" / "wsgi-group" providers. */
void wsgi_auth_register_hooks(apr_pool_t *p);

/*
 * Runs WSGIDispatchScript `script` in `group` with the request's environ
 * (`pairs`, r->subprocess_env as the handler built it). Each of the three
 * outputs is replaced by the script's answer (a new pool-allocated string)
 * when it gives one. Returns OK or HTTP_INTERNAL_SERVER_ERROR (logged).
 */
int wsgi_auth_dispatch(request_rec *r, const char *script, const char *group, int script_reloading,
                       const wsgirt_pair *pairs, size_t count, const char **process_group,
                       const char **application_group, const char **callable_object);

#endif /* WSGIRT_APACHE_AUTH_H */
