/*
 * auth.c: WSGIAccessScript (access_checker hook), WSGIAuthUserScript (authn
 * provider "wsgi": Basic check_password and Digest get_realm_hash),
 * WSGIAuthGroupScript (authz provider "wsgi-group") and WSGIDispatchScript.
 *
 * The answers and log lines follow mod_wsgi 4.9.4. Python runs in
 * libwsgirt (wsgirt_hook_*), always in this Apache child, whatever the
 * request's process group; tracebacks are logged there.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_provider.h"
#include "mod_auth.h"
#include "mod_ssl.h"

#include "apr_strings.h"
#include "apr_tables.h"

#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "logno.h"

#define WSGI_UNUSED(x) ((void)(x))

/* mod_ssl.is_https() of an access or auth script: mod_ssl's answer, 0 without it. */
static int32_t wsgi_auth_ssl_is_https(void *ctx)
{
    request_rec *r = ctx;
    APR_OPTIONAL_FN_TYPE(ssl_is_https) *is_https = APR_RETRIEVE_OPTIONAL_FN(ssl_is_https);
    return is_https ? is_https(r->connection) : 0;
}

/* mod_ssl.var_lookup(name): mod_ssl's value (pool-allocated), 0 (None) without one. */
static int32_t wsgi_auth_ssl_var_lookup(void *ctx, const char *name, size_t name_len,
                                        wsgirt_str *value)
{
    request_rec *r = ctx;
    APR_OPTIONAL_FN_TYPE(ssl_var_lookup) *lookup = APR_RETRIEVE_OPTIONAL_FN(ssl_var_lookup);
    char *found;

    if (!lookup)
        return 0;
    found = lookup(r->pool, r->server, r->connection, r, apr_pstrmemdup(r->pool, name, name_len));
    if (!found)
        return 0;
    value->ptr = found;
    value->len = strlen(found);
    return 1;
}

/* Fills a hook spec for the request's script of `kind`; 0 when none is set. */
static int wsgi_auth_spec(request_rec *r, wsgi_hook_kind_t kind, wsgirt_hook_spec *spec,
                          const char **script)
{
    const char *group = "";
    size_t count = 0;
    int script_reloading = 1;

    *script = wsgi_hook_script(r, kind, &group);
    if (!*script)
        return 0;
    memset(spec, 0, sizeof(*spec));
    spec->struct_size = sizeof(*spec);
    spec->application_group.ptr = group;
    spec->application_group.len = strlen(group);
    spec->script_path.ptr = *script;
    spec->script_path.len = strlen(*script);
    spec->environ = wsgi_hook_environ(r, &count, &script_reloading);
    spec->environ_len = count;
    spec->log_ctx = r;
    spec->environ_style = WSGIRT_HOOK_ENVIRON_MODWSGI;
    spec->script_reloading = script_reloading != 0;
    spec->ssl_is_https = wsgi_auth_ssl_is_https;
    spec->ssl_var_lookup = wsgi_auth_ssl_var_lookup;
    spec->ssl_ctx = r;
    return 1;
}

static wsgirt_str wsgi_auth_str(const char *s)
{
    wsgirt_str out;
    out.ptr = s;
    out.len = s ? strlen(s) : 0;
    return out;
}

/* Logs the "no runtime" line for a hook; the answer is then an error. */
static void wsgi_auth_no_runtime(request_rec *r, const char *script)
{
    ap_log_rerror(APLOG_MARK, APLOG_CRIT, 0, r,
                  WSGIRT_LOGNO(0703) "mod_wsgi (pid=%d): "
                                     "Python is not available in this process (see the "
                                     "startup messages): %s",
                  (int)getpid(), script);
}

/* Collects hook values into the request pool. */
typedef struct {
    request_rec *r;
    const char *user;
    const char *hash;
    apr_table_t *groups;
    const char **process_group;
    const char **application_group;
    const char **callable_object;
} wsgi_auth_values_t;

static void wsgi_auth_value(void *ctx, uint32_t kind, const char *data, size_t len)
{
    wsgi_auth_values_t *values = ctx;
    const char *copy = apr_pstrmemdup(values->r->pool, data, len);

    switch (kind) {
    case WSGIRT_HOOK_USER:
        values->user = copy;
        break;
    case WSGIRT_HOOK_REALM_HASH:
        values->hash = copy;
        break;
    case WSGIRT_HOOK_GROUP:
        if (values->groups)
            apr_table_setn(values->groups, copy, "1");
        break;
    case WSGIRT_HOOK_PROCESS_GROUP:
        if (values->process_group)
            *values->process_group = copy;
        break;
    case WSGIRT_HOOK_APPLICATION_GROUP:
        if (values->application_group)
            *values->application_group = copy;
        break;
    case WSGIRT_HOOK_CALLABLE_OBJECT:
        if (values->callable_object)
            *values->callable_object = copy;
        break;
    default:
        break;
    }
}

/* WSGIAccessScript: allow_access(environ, host). */
static int wsgi_auth_access_checker(request_rec *r)
{
    wsgirt_hook_spec spec;
    const char *script, *host;
    wsgirt_runtime *runtime;
    wsgirt_status status;
    int32_t allow = 0;

    if (!wsgi_auth_spec(r, WSGI_HOOK_ACCESS, &spec, &script))
        return DECLINED;

    host = ap_get_remote_host(r->connection, r->per_dir_config, REMOTE_HOST, NULL);
    if (!host)
        host = r->useragent_ip;

    if (!(runtime = wsgi_hook_runtime())) {
        wsgi_auth_no_runtime(r, script);
    } else {
        status = wsgirt_hook_allow_access(runtime, &spec, host, host ? strlen(host) : 0, &allow);
        if (status == WSGIRT_STATUS_CALLABLE_NOT_FOUND)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          WSGIRT_LOGNO(0603) "mod_wsgi (pid=%d): "
                                             "Target WSGI host access script "
                                             "'%s' does not "
                                             "provide host validator.",
                          (int)getpid(), script);
        if (status != WSGIRT_STATUS_OK)
            allow = 0;
    }

    if (allow < 0)
        return DECLINED;
    if (allow)
        return OK;
    if (ap_satisfies(r) != SATISFY_ANY || !ap_some_auth_required(r))
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGIRT_LOGNO(0604) "mod_wsgi (pid=%d): "
                                         "Client denied by server configuration: '%s'.",
                      (int)getpid(), r->filename);
    return HTTP_FORBIDDEN;
}

/* AuthBasicProvider wsgi: check_password(environ, user, password). */
static authn_status wsgi_auth_check_password(request_rec *r, const char *user, const char *password)
{
    wsgirt_hook_spec spec;
    wsgi_auth_values_t values;
    const char *script;
    wsgirt_runtime *runtime;
    wsgirt_status status;
    wsgirt_auth answer = WSGIRT_AUTH_DENIED;

    if (!wsgi_auth_spec(r, WSGI_HOOK_AUTH_USER, &spec, &script)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, r->server,
                     WSGIRT_LOGNO(0605) "mod_wsgi (pid=%d): "
                                        "Location of WSGI user authentication script not "
                                        "provided.",
                     (int)getpid());
        return AUTH_GENERAL_ERROR;
    }
    if (!(runtime = wsgi_hook_runtime())) {
        wsgi_auth_no_runtime(r, script);
        return AUTH_GENERAL_ERROR;
    }
    memset(&values, 0, sizeof(values));
    values.r = r;
    status = wsgirt_hook_check_password(runtime, &spec, wsgi_auth_str(user),
                                        wsgi_auth_str(password), wsgi_auth_value, &values, &answer);
    if (status == WSGIRT_STATUS_CALLABLE_NOT_FOUND)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGIRT_LOGNO(0606) "mod_wsgi (pid=%d): "
                                         "Target WSGI user authentication "
                                         "script '%s' does not "
                                         "provide 'Basic' auth provider.",
                      (int)getpid(), script);
    if (status != WSGIRT_STATUS_OK)
        return AUTH_GENERAL_ERROR;
    switch (answer) {
    case WSGIRT_AUTH_GRANTED:
        if (values.user)
            r->user = (char *)values.user;
        return AUTH_GRANTED;
    case WSGIRT_AUTH_NOT_FOUND:
        return AUTH_USER_NOT_FOUND;
    default:
        return AUTH_DENIED;
    }
}

/* AuthDigestProvider wsgi: get_realm_hash(environ, user, realm). */
static authn_status wsgi_auth_get_realm_hash(request_rec *r, const char *user, const char *realm,
                                             char **rethash)
{
    wsgirt_hook_spec spec;
    wsgi_auth_values_t values;
    const char *script;
    wsgirt_runtime *runtime;
    wsgirt_status status;
    wsgirt_auth answer = WSGIRT_AUTH_NOT_FOUND;

    if (!wsgi_auth_spec(r, WSGI_HOOK_AUTH_USER, &spec, &script)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, r->server,
                     WSGIRT_LOGNO(0605) "mod_wsgi (pid=%d): "
                                        "Location of WSGI user authentication script not "
                                        "provided.",
                     (int)getpid());
        return AUTH_GENERAL_ERROR;
    }
    if (!(runtime = wsgi_hook_runtime())) {
        wsgi_auth_no_runtime(r, script);
        return AUTH_GENERAL_ERROR;
    }
    memset(&values, 0, sizeof(values));
    values.r = r;
    status = wsgirt_hook_get_realm_hash(runtime, &spec, wsgi_auth_str(user), wsgi_auth_str(realm),
                                        wsgi_auth_value, &values, &answer);
    if (status == WSGIRT_STATUS_CALLABLE_NOT_FOUND)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGIRT_LOGNO(0607) "mod_wsgi (pid=%d): "
                                         "Target WSGI user authentication "
                                         "script '%s' does not "
                                         "provide 'Digest' auth provider.",
                      (int)getpid(), script);
    if (status != WSGIRT_STATUS_OK)
        return AUTH_GENERAL_ERROR;
    if (answer != WSGIRT_AUTH_GRANTED || !values.hash)
        return AUTH_USER_NOT_FOUND;
    *rethash = (char *)values.hash;
    return AUTH_USER_FOUND;
}

static const authn_provider wsgi_auth_authn_provider = {&wsgi_auth_check_password,
                                                        &wsgi_auth_get_realm_hash};

/* Require wsgi-group g1 g2 ...: groups_for_user(environ, user). */
static authz_status wsgi_auth_check_authorization(request_rec *r, const char *require_args,
                                                  const void *parsed_require_args)
{
    wsgirt_hook_spec spec;
    wsgi_auth_values_t values;
    const char *script, *t, *w;
    wsgirt_runtime *runtime;
    wsgirt_status status;

    WSGI_UNUSED(parsed_require_args);
    if (!r->user)
        return AUTHZ_DENIED_NO_USER;
    if (!wsgi_auth_spec(r, WSGI_HOOK_AUTH_GROUP, &spec, &script)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, r->server,
                     WSGIRT_LOGNO(0608) "mod_wsgi (pid=%d): "
                                        "Location of WSGI group authorization script not "
                                        "provided.",
                     (int)getpid());
        return AUTHZ_DENIED;
    }
    if (!(runtime = wsgi_hook_runtime())) {
        wsgi_auth_no_runtime(r, script);
        return AUTHZ_DENIED;
    }
    memset(&values, 0, sizeof(values));
    values.r = r;
    values.groups = apr_table_make(r->pool, 4);
    status = wsgirt_hook_groups_for_user(runtime, &spec, wsgi_auth_str(r->user), wsgi_auth_value,
                                         &values);
    if (status == WSGIRT_STATUS_CALLABLE_NOT_FOUND)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGIRT_LOGNO(0609) "mod_wsgi (pid=%d): "
                                         "Target WSGI group authentication "
                                         "script '%s' does not "
                                         "provide group provider.",
                      (int)getpid(), script);
    if (status != WSGIRT_STATUS_OK)
        return AUTHZ_DENIED;
    if (apr_is_empty_table(values.groups)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGIRT_LOGNO(0610) "mod_wsgi (pid=%d): "
                                         "Authorization of user '%s' to access "
                                         "'%s' failed. User "
                                         "is not a member of any groups.",
                      (int)getpid(), r->user, r->uri);
        return AUTHZ_DENIED;
    }
    t = require_args;
    while ((w = ap_getword_conf(r->pool, &t)) && w[0]) {
        if (apr_table_get(values.groups, w))
            return AUTHZ_GRANTED;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  WSGIRT_LOGNO(0611) "mod_wsgi (pid=%d): "
                                     "Authorization of user '%s' to access '%s' "
                                     "failed. User is "
                                     "not a member of designated groups.",
                  (int)getpid(), r->user, r->uri);
    return AUTHZ_DENIED;
}

static const authz_provider wsgi_auth_authz_provider = {&wsgi_auth_check_authorization, NULL};

int wsgi_auth_dispatch(request_rec *r, const char *script, const char *group, int script_reloading,
                       const wsgirt_pair *pairs, size_t count, const char **process_group,
                       const char **application_group, const char **callable_object)
{
    wsgirt_hook_spec spec;
    wsgi_auth_values_t values;
    wsgirt_runtime *runtime = wsgi_hook_runtime();

    if (!runtime) {
        wsgi_auth_no_runtime(r, script);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memset(&spec, 0, sizeof(spec));
    spec.struct_size = sizeof(spec);
    spec.application_group = wsgi_auth_str(group);
    spec.script_path = wsgi_auth_str(script);
    spec.environ = pairs;
    spec.environ_len = count;
    spec.log_ctx = r;
    /* mod_wsgi's Dispatch_environ; it has no mod_ssl callables. */
    spec.environ_style = WSGIRT_HOOK_ENVIRON_MODWSGI;
    spec.script_reloading = script_reloading != 0;
    memset(&values, 0, sizeof(values));
    values.r = r;
    values.process_group = process_group;
    values.application_group = application_group;
    values.callable_object = callable_object;
    if (wsgirt_hook_dispatch(runtime, &spec, wsgi_auth_value, &values) != WSGIRT_STATUS_OK)
        return HTTP_INTERNAL_SERVER_ERROR;
    return OK;
}

void wsgi_auth_register_hooks(apr_pool_t *p)
{
    static const char *const before_access[] = {"mod_ssl.c", NULL};
    static const char *const after_access[] = {"mod_authz_host.c", NULL};

    ap_hook_access_checker(wsgi_auth_access_checker, before_access, after_access, APR_HOOK_MIDDLE);
    ap_register_auth_provider(p, AUTHN_PROVIDER_GROUP, "wsgi", AUTHN_PROVIDER_VERSION,
                              &wsgi_auth_authn_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "wsgi-group", AUTHZ_PROVIDER_VERSION,
                              &wsgi_auth_authz_provider, AP_AUTH_INTERNAL_PER_CONF);
}
