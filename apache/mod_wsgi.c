/*
 * mod_wsgi.c: the Apache httpd 2.4 module of wsgirt, a drop-in replacement for
 * mod_wsgi. The module record is `wsgi_module` and this file is named mod_wsgi.c,
 * so `<IfModule mod_wsgi.c>` and `<IfModule wsgi_module>` match as they do for
 * mod_wsgi; directives, options, environ keys, status codes and log lines follow
 * mod_wsgi (docs/apache.md lists the differences).
 *
 * The module is deliberately thin: it parses directives, maps one Apache request
 * onto one wsgirt_request_run() call and implements the host I/O callbacks over
 * bucket brigades. Python and every WSGI rule live in libwsgirt; include/wsgirt.h
 * is the only interface used here.
 *
 *   1. Declarations and process state
 *   2. Configuration records: creation and merging
 *   3. Directive handlers
 *   4. Request configuration: group and callable expansion
 *   5. translate_name: WSGIScriptAlias and WSGIScriptAliasMatch
 *   6. The WSGI environ: CGI variables, trusted proxy headers, mod_wsgi.* keys
 *   7. Host I/O callbacks over bucket brigades
 *   8. The content handler
 *   9. What auth.c needs for the access, auth and dispatch scripts
 *  10. Process lifecycle: logging, post_config, child_init
 *  11. Command table, hook registration, module record
 */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mmn.h"
#include "ap_mpm.h"
#include "ap_provider.h"
#include "ap_regex.h"
#include "mod_auth.h"
#include "mpm_common.h"
#include "scoreboard.h"
#include "util_script.h"
#if AP_MODULE_MAGIC_AT_LEAST(20120211, 104)
#include "http_ssl.h"
#endif

#include "apr_buckets.h"
#include "apr_hash.h"
#include "apr_lib.h"
#include "apr_network_io.h"
#include "apr_optional.h"
#include "apr_portable.h"
#include "apr_strings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsgirt.h"
#include "auth.h"
#include "daemon.h"
#include "logno.h"
#include "metrics.h"

/* ---------------------------------------------------------------------------
 * 1. Declarations and process state
 * ------------------------------------------------------------------------- */

module AP_MODULE_DECLARE_DATA wsgi_module;
APLOG_USE_MODULE(wsgi);

#define WSGI_UNUSED(x) ((void)(x))

/* Handler names the content handler serves besides WSGIHandlerScript names. */
#define WSGI_HANDLER      "wsgi-script"
#define WSGI_HANDLER_MIME "application/x-httpd-wsgi"

/* The main server, kept for process-level log lines (post_config). */
static server_rec *wsgi_server = NULL;

/* The runtime of this Apache child (child_init); NULL in the parent. */
static wsgirt_runtime *wsgi_runtime = NULL;

/*
 * Whether children start Python: -1 undecided, 0 no (WSGIRestrictEmbedded On and
 * nothing else needs it), 1 yes. Reset before every configuration read.
 */
static int wsgi_python_required = -1;

/* Scripts to preload (WSGIImportScript, WSGIScriptAlias with both groups). */
static apr_array_header_t *wsgi_import_list = NULL;

/* WSGIDaemonProcess definitions (stored; daemon mode is a later issue). */
static apr_array_header_t *wsgi_daemon_list = NULL;

/* ---------------------------------------------------------------------------
 * 2. Configuration records: creation and merging
 * ------------------------------------------------------------------------- */

/* A script named by WSGIImportScript, WSGIHandlerScript or an auth directive. */
typedef struct {
    const char *path;
    const char *process_group;     /* NULL: not given */
    const char *application_group; /* NULL: not given */
    int pass_authorization;        /* -1: not given */
} wsgi_script_t;

/* One WSGIScriptAlias / WSGIScriptAliasMatch. */
typedef struct {
    const char *location; /* URL prefix, or the pattern of a Match */
    ap_regex_t *regexp;   /* WSGIScriptAliasMatch only */
    const char *target;
    const char *process_group;
    const char *application_group;
    const char *callable_object;
    int pass_authorization; /* -1: not given */
} wsgi_alias_t;

/* One WSGIDaemonProcess (validated and stored until daemon mode exists). */
typedef struct {
    const char *name;
    server_rec *server;
    int processes;
    int threads;
    int multiprocess; /* processes= was given */
    apr_table_t *options;
} wsgi_daemon_t;

/* Settings allowed in server and directory scope; ints are -1 when unset. */
typedef struct {
    apr_table_t *restrict_process;
    const char *process_group;
    const char *application_group;
    const char *callable_object;
    wsgi_script_t *dispatch_script;
    int pass_apache_request;
    int pass_authorization;
    int script_reloading;
    int error_override;
    int chunked_request;
    int map_head_to_get; /* 0 Off, 1 On, 2 Auto */
    int ignore_activity;
    int enable_sendfile;
    apr_array_header_t *trusted_proxy_headers; /* const char *: HTTP_X_... */
    apr_array_header_t *trusted_proxies;       /* apr_ipsubnet_t * */
    apr_hash_t *handler_scripts;               /* name -> wsgi_script_t */
} wsgi_scope_t;

typedef struct {
    wsgi_scope_t scope;
    wsgi_script_t *access_script;
    wsgi_script_t *auth_user_script;
    wsgi_script_t *auth_group_script;
    int user_authoritative;
    int group_authoritative;
} wsgi_dir_conf_t;

typedef struct {
    wsgi_scope_t scope;
    apr_array_header_t *aliases; /* wsgi_alias_t, tried in order */

    /* Global-only settings: read from the main server's record. */
    const char *python_home;
    const char *python_path;
    const char *python_eggs;
    const char *python_hash_seed;
    apr_array_header_t *python_warnings; /* const char * */
    int python_optimize;
    int dont_write_bytecode;
    int restrict_embedded;
    int restrict_stdin;
    int restrict_stdout;
    int restrict_signal;
    int case_sensitivity;
    int server_metrics;
    int verbose_debugging;
    int lazy_initialization;
    int destroy_interpreter;
    const char *socket_prefix;
    int socket_rotation;
    const char *accept_mutex;
    const char *newrelic_config_file;
    const char *newrelic_environment;
} wsgi_server_conf_t;

static wsgi_server_conf_t *wsgi_server_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &wsgi_module);
}

static void wsgi_scope_init(wsgi_scope_t *scope)
{
    memset(scope, 0, sizeof(*scope));
    scope->pass_apache_request = -1;
    scope->pass_authorization = -1;
    scope->script_reloading = -1;
    scope->error_override = -1;
    scope->chunked_request = -1;
    scope->map_head_to_get = -1;
    scope->ignore_activity = -1;
    scope->enable_sendfile = -1;
}

#define WSGI_MERGE_PTR(field) out->field = child->field ? child->field : parent->field
#define WSGI_MERGE_INT(field) out->field = child->field != -1 ? child->field : parent->field

static void wsgi_scope_merge(apr_pool_t *p, wsgi_scope_t *out, const wsgi_scope_t *parent,
                             const wsgi_scope_t *child)
{
    WSGI_MERGE_PTR(restrict_process);
    WSGI_MERGE_PTR(process_group);
    WSGI_MERGE_PTR(application_group);
    WSGI_MERGE_PTR(callable_object);
    WSGI_MERGE_PTR(dispatch_script);
    WSGI_MERGE_INT(pass_apache_request);
    WSGI_MERGE_INT(pass_authorization);
    WSGI_MERGE_INT(script_reloading);
    WSGI_MERGE_INT(error_override);
    WSGI_MERGE_INT(chunked_request);
    WSGI_MERGE_INT(map_head_to_get);
    WSGI_MERGE_INT(ignore_activity);
    WSGI_MERGE_INT(enable_sendfile);
    WSGI_MERGE_PTR(trusted_proxy_headers);
    WSGI_MERGE_PTR(trusted_proxies);
    if (child->handler_scripts && parent->handler_scripts)
        out->handler_scripts = apr_hash_overlay(p, child->handler_scripts, parent->handler_scripts);
    else
        WSGI_MERGE_PTR(handler_scripts);
}

static void *wsgi_create_dir_config(apr_pool_t *p, char *dir)
{
    wsgi_dir_conf_t *conf = apr_pcalloc(p, sizeof(*conf));
    WSGI_UNUSED(dir);
    wsgi_scope_init(&conf->scope);
    conf->user_authoritative = -1;
    conf->group_authoritative = -1;
    return conf;
}

static void *wsgi_merge_dir_config(apr_pool_t *p, void *base, void *add)
{
    const wsgi_dir_conf_t *parent = base, *child = add;
    wsgi_dir_conf_t *out = apr_pcalloc(p, sizeof(*out));
    wsgi_scope_merge(p, &out->scope, &parent->scope, &child->scope);
    WSGI_MERGE_PTR(access_script);
    WSGI_MERGE_PTR(auth_user_script);
    WSGI_MERGE_PTR(auth_group_script);
    WSGI_MERGE_INT(user_authoritative);
    WSGI_MERGE_INT(group_authoritative);
    return out;
}

static void *wsgi_create_server_config(apr_pool_t *p, server_rec *s)
{
    wsgi_server_conf_t *conf = apr_pcalloc(p, sizeof(*conf));
    WSGI_UNUSED(s);
    wsgi_scope_init(&conf->scope);
    conf->python_optimize = -1;
    conf->dont_write_bytecode = -1;
    conf->restrict_embedded = -1;
    conf->restrict_stdin = -1;
    conf->restrict_stdout = -1;
    conf->restrict_signal = -1;
    conf->case_sensitivity = -1;
    conf->server_metrics = -1;
    conf->verbose_debugging = -1;
    conf->lazy_initialization = -1;
    conf->destroy_interpreter = -1;
    conf->socket_rotation = -1;
    return conf;
}

/* A virtual host inherits the main server's scope and its aliases after its own. */
static void *wsgi_merge_server_config(apr_pool_t *p, void *base, void *add)
{
    const wsgi_server_conf_t *parent = base, *child = add;
    wsgi_server_conf_t *out = apr_pmemdup(p, child, sizeof(*out));
    wsgi_scope_merge(p, &out->scope, &parent->scope, &child->scope);
    if (child->aliases && parent->aliases)
        out->aliases = apr_array_append(p, child->aliases, parent->aliases);
    else
        WSGI_MERGE_PTR(aliases);
    return out;
}

#undef WSGI_MERGE_PTR
#undef WSGI_MERGE_INT

/* ---------------------------------------------------------------------------
 * 3. Directive handlers
 * ------------------------------------------------------------------------- */

/* Off/On (case-insensitive) as 0/1, anything else -1. */
static int wsgi_parse_flag(const char *value)
{
    if (!strcasecmp(value, "Off"))
        return 0;
    if (!strcasecmp(value, "On"))
        return 1;
    return -1;
}

/* A decimal integer with nothing after it; 0 on success. */
static int wsgi_parse_long(const char *value, long *out)
{
    char *end = NULL;
    if (!*value)
        return -1;
    errno = 0;
    *out = strtol(value, &end, 10);
    return (errno || *end) ? -1 : 0;
}

/* The scope a directive writes to: its <Directory>/<Location>/.htaccess or the server. */
static wsgi_scope_t *wsgi_cmd_scope(cmd_parms *cmd, void *mconfig)
{
    if (cmd->path)
        return &((wsgi_dir_conf_t *)mconfig)->scope;
    return &wsgi_server_conf(cmd->server)->scope;
}

/* Remembers a list in the configuration pool, forgotten when that pool is cleared. */
static apr_array_header_t *wsgi_config_list(cmd_parms *cmd, apr_array_header_t **list, int elt_size)
{
    if (!*list) {
        *list = apr_array_make(cmd->pool, 8, elt_size);
        apr_pool_cleanup_register(cmd->pool, list, ap_pool_cleanup_set_null, apr_pool_cleanup_null);
    }
    return *list;
}

/*
 * Reads the next `name=value` option (the value may be quoted). Returns NULL on
 * success, else a sentence naming what was found, appended to the directive's
 * own message (mod_wsgi gives only the latter).
 */
static const char *wsgi_next_option(apr_pool_t *p, const char **args, const char **name,
                                    const char **value)
{
    const char *start = *args, *end;

    while (*start && apr_isspace(*start))
        ++start;
    end = start;
    while (*end && *end != '=' && !apr_isspace(*end))
        ++end;
    if (end == start || *end != '=') {
        const char *word = ap_getword_conf(p, &start);
        *args = start;
        return apr_psprintf(p, "Expected name=value, found '%s'.", word);
    }
    *name = apr_pstrmemdup(p, start, end - start);
    *args = end + 1;
    *value = ap_getword_conf(p, args);
    return NULL;
}

static const char *wsgi_option_error(cmd_parms *cmd, const char *message, const char *detail)
{
    return apr_pstrcat(cmd->pool, message, " ", detail, NULL);
}

static const char *wsgi_unknown_option(cmd_parms *cmd, const char *message, const char *name)
{
    return apr_psprintf(cmd->pool, "%s Unknown option '%s'.", message, name);
}

/* mod_wsgi's checks that a named daemon group exists and this server may use it. */
static const char *wsgi_check_daemon_group(cmd_parms *cmd, const char *name)
{
    const wsgi_daemon_t *group = NULL;
    int i;

    for (i = 0; wsgi_daemon_list && i < wsgi_daemon_list->nelts; ++i) {
        const wsgi_daemon_t *entry = &APR_ARRAY_IDX(wsgi_daemon_list, i, wsgi_daemon_t);
        if (!strcmp(entry->name, name)) {
            group = entry;
            break;
        }
    }
    if (!group)
        return "WSGI process group not yet configured.";
    if (!group->server->is_virtual)
        return NULL;
    if (cmd->server->server_hostname && group->server->server_hostname &&
        strcmp(cmd->server->server_hostname, group->server->server_hostname))
        return "WSGI process group not accessible.";
    if (!cmd->server->server_hostname != !group->server->server_hostname)
        return "WSGI process group not matchable.";
    return NULL;
}

/* Adds a script to preload. `requires_python`: an embedded-mode preload
 * makes the children start Python (WSGIImportScript); an alias's preload
 * does not, so under WSGIRestrictEmbedded On it is skipped, as in mod_wsgi. */
static void wsgi_add_import(cmd_parms *cmd, const char *path, const char *process_group,
                            const char *application_group, int requires_python)
{
    wsgi_script_t *entry =
        apr_array_push(wsgi_config_list(cmd, &wsgi_import_list, sizeof(wsgi_script_t)));
    entry->path = path;
    entry->process_group = process_group;
    entry->application_group = application_group;
    entry->pass_authorization = -1;
    if (!*process_group && requires_python)
        wsgi_python_required = 1;
}

/* WSGIScriptAlias / WSGIScriptAliasMatch (cmd->info non-NULL) URL-path target [options]. */
static const char *wsgi_add_script_alias(cmd_parms *cmd, void *mconfig, const char *args)
{
    static const char invalid[] = "Invalid option to WSGI script alias definition.";
    wsgi_server_conf_t *sconf = wsgi_server_conf(cmd->server);
    const char *location, *target, *name, *value, *error;
    const char *process_group = NULL, *application_group = NULL, *callable_object = NULL;
    int pass_authorization = -1;
    wsgi_alias_t *alias;

    WSGI_UNUSED(mconfig);
    location = ap_getword_conf(cmd->pool, &args);
    target = ap_getword_conf(cmd->pool, &args);
    if (!*location || !*target)
        return apr_pstrcat(cmd->pool, cmd->cmd->name, " requires at least two arguments, ",
                           cmd->cmd->errmsg, NULL);

    while (*args) {
        if ((error = wsgi_next_option(cmd->pool, &args, &name, &value)))
            return wsgi_option_error(cmd, invalid, error);
        if (!strcmp(name, "application-group")) {
            if (!*value)
                return "Invalid name for WSGI application group.";
            application_group = strcmp(value, "%{GLOBAL}") ? value : "";
        } else if (!strcmp(name, "process-group")) {
            if (!*value)
                return "Invalid name for WSGI process group.";
            process_group = strcmp(value, "%{GLOBAL}") ? value : "";
        } else if (!strcmp(name, "callable-object")) {
            if (!*value)
                return "Invalid name for WSGI callable object.";
            callable_object = value;
        } else if (!strcmp(name, "pass-authorization")) {
            if ((pass_authorization = wsgi_parse_flag(value)) < 0)
                return "Invalid value for authorization flag.";
        } else {
            return wsgi_unknown_option(cmd, invalid, name);
        }
    }

    alias = apr_array_push(wsgi_config_list(cmd, &sconf->aliases, sizeof(wsgi_alias_t)));
    memset(alias, 0, sizeof(*alias));
    if (cmd->info) {
        alias->regexp = ap_pregcomp(cmd->pool, location, AP_REG_EXTENDED);
        if (!alias->regexp)
            return "Regular expression could not be compiled.";
    }
    alias->location = location;
    alias->target = target;
    alias->process_group = process_group;
    alias->application_group = application_group;
    alias->callable_object = callable_object;
    alias->pass_authorization = pass_authorization;

    /* Preload when both groups are fixed (and a Match target has no $n). */
    if (process_group && application_group && !strstr(process_group, "%{") &&
        !strstr(application_group, "%{") && (!cmd->info || !strchr(target, '$'))) {
        if (*process_group && (error = wsgi_check_daemon_group(cmd, process_group)))
            return error;
        wsgi_add_import(cmd, target, process_group, application_group, 0);
    }
    return NULL;
}

/* WSGIImportScript path process-group=... application-group=... */
static const char *wsgi_add_import_script(cmd_parms *cmd, void *mconfig, const char *args)
{
    static const char invalid[] = "Invalid option to WSGI import script definition.";
    const char *path, *name, *value, *error;
    const char *process_group = NULL, *application_group = NULL;

    WSGI_UNUSED(mconfig);
    path = ap_getword_conf(cmd->pool, &args);
    if (!*path)
        return "Location of import script not supplied.";
    while (*args) {
        if ((error = wsgi_next_option(cmd->pool, &args, &name, &value)))
            return wsgi_option_error(cmd, invalid, error);
        if (!strcmp(name, "application-group")) {
            if (!*value)
                return "Invalid name for WSGI application group.";
            application_group = value;
        } else if (!strcmp(name, "process-group")) {
            if (!*value)
                return "Invalid name for WSGI process group.";
            process_group = value;
        } else {
            return wsgi_unknown_option(cmd, invalid, name);
        }
    }
    if (!application_group)
        return "Name of WSGI application group required.";
    if (!process_group)
        return "Name of WSGI process group required.";
    if (!strcmp(application_group, "%{GLOBAL}"))
        application_group = "";
    if (!strcmp(process_group, "%{GLOBAL}"))
        process_group = "";
    if (*process_group && (error = wsgi_check_daemon_group(cmd, process_group)))
        return error;
    wsgi_add_import(cmd, path, process_group, application_group, 1);
    return NULL;
}

/*
 * Scripts with an optional application-group= (and, for handler scripts,
 * process-group= and pass-authorization=). `what` names the directive in errors.
 */
static const char *wsgi_parse_script(cmd_parms *cmd, const char **args, const char *what,
                                     int handler, wsgi_script_t **out)
{
    const char *invalid = apr_psprintf(cmd->pool, "Invalid option to WSGI %s definition.", what);
    const char *name, *value, *error;
    wsgi_script_t *script = apr_pcalloc(cmd->pool, sizeof(*script));

    script->pass_authorization = -1;
    script->path = ap_getword_conf(cmd->pool, args);
    if (!*script->path)
        return apr_psprintf(cmd->pool, "Location of %s not supplied.", what);
    while (**args) {
        if ((error = wsgi_next_option(cmd->pool, args, &name, &value)))
            return wsgi_option_error(cmd, invalid, error);
        if (!strcmp(name, "application-group")) {
            if (!*value)
                return "Invalid name for WSGI application group.";
            script->application_group = value;
        } else if (handler && !strcmp(name, "process-group")) {
            if (!*value)
                return "Invalid name for WSGI process group.";
            script->process_group = value;
        } else if (handler && !strcmp(name, "pass-authorization")) {
            if ((script->pass_authorization = wsgi_parse_flag(value)) < 0)
                return "Invalid value for authorization flag.";
        } else {
            return wsgi_unknown_option(cmd, invalid, name);
        }
    }
    *out = script;
    return NULL;
}

/* WSGIHandlerScript name path [process-group= application-group= pass-authorization=] */
static const char *wsgi_add_handler_script(cmd_parms *cmd, void *mconfig, const char *args)
{
    wsgi_scope_t *scope = wsgi_cmd_scope(cmd, mconfig);
    wsgi_script_t *script;
    const char *name, *error;

    name = ap_getword_conf(cmd->pool, &args);
    if (!*name)
        return "Name for handler script not supplied.";
    if ((error = wsgi_parse_script(cmd, &args, "handler script", 1, &script)))
        return error;
    if (!scope->handler_scripts)
        scope->handler_scripts = apr_hash_make(cmd->pool);
    apr_hash_set(scope->handler_scripts, name, APR_HASH_KEY_STRING, script);
    return NULL;
}

/* WSGIDispatchScript path [application-group=] */
static const char *wsgi_set_dispatch_script(cmd_parms *cmd, void *mconfig, const char *args)
{
    wsgi_scope_t *scope = wsgi_cmd_scope(cmd, mconfig);
    const char *error =
        wsgi_parse_script(cmd, &args, "dispatch script", 0, &scope->dispatch_script);
    if (!error)
        wsgi_python_required = 1;
    return error;
}

/* WSGIAccessScript / WSGIAuthUserScript / WSGIAuthGroupScript path [application-group=] */
static const char *wsgi_set_auth_script(cmd_parms *cmd, void *mconfig, const char *args)
{
    wsgi_dir_conf_t *dconf = mconfig;
    wsgi_script_t **slot;
    const char *what, *error;

    if (!strcasecmp(cmd->cmd->name, "WSGIAccessScript")) {
        slot = &dconf->access_script;
        what = "access script";
    } else if (!strcasecmp(cmd->cmd->name, "WSGIAuthUserScript")) {
        slot = &dconf->auth_user_script;
        what = "auth user script";
    } else {
        slot = &dconf->auth_group_script;
        what = "auth group script";
    }
    if ((error = wsgi_parse_script(cmd, &args, what, 0, slot)))
        return error;
    wsgi_python_required = 1;
    return NULL;
}

/* Off/On directives of the shared scope; cmd->info is the field's offset. */
static const char *wsgi_set_scope_flag(cmd_parms *cmd, void *mconfig, const char *value)
{
    int flag = wsgi_parse_flag(value);
    if (flag < 0)
        return apr_pstrcat(cmd->pool, cmd->cmd->name, " must be one of: Off | On", NULL);
    *(int *)((char *)wsgi_cmd_scope(cmd, mconfig) + (size_t)cmd->info) = flag;
    return NULL;
}

/* Off/On directives of the directory record only (the Authoritative flags). */
static const char *wsgi_set_dir_flag(cmd_parms *cmd, void *mconfig, const char *value)
{
    int flag = wsgi_parse_flag(value);
    if (flag < 0)
        return apr_pstrcat(cmd->pool, cmd->cmd->name, " must be one of: Off | On", NULL);
    *(int *)((char *)mconfig + (size_t)cmd->info) = flag;
    return NULL;
}

/* Strings of the shared scope (WSGIProcessGroup, WSGIApplicationGroup, ...). */
static const char *wsgi_set_scope_string(cmd_parms *cmd, void *mconfig, const char *value)
{
    *(const char **)((char *)wsgi_cmd_scope(cmd, mconfig) + (size_t)cmd->info) = value;
    return NULL;
}

/* Off/On directives allowed only in the main server configuration. */
static const char *wsgi_set_global_flag(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    int flag = wsgi_parse_flag(value);
    WSGI_UNUSED(mconfig);
    if (error)
        return error;
    if (flag < 0)
        return apr_pstrcat(cmd->pool, cmd->cmd->name, " must be one of: Off | On", NULL);
    *(int *)((char *)wsgi_server_conf(cmd->server) + (size_t)cmd->info) = flag;
    if ((size_t)cmd->info == APR_OFFSETOF(wsgi_server_conf_t, restrict_embedded) && flag &&
        wsgi_python_required == -1)
        wsgi_python_required = 0;
    return NULL;
}

/* Strings allowed only in the main server configuration. */
static const char *wsgi_set_global_string(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    WSGI_UNUSED(mconfig);
    if (error)
        return error;
    *(const char **)((char *)wsgi_server_conf(cmd->server) + (size_t)cmd->info) = value;
    return NULL;
}

static const char *wsgi_set_map_head_to_get(cmd_parms *cmd, void *mconfig, const char *value)
{
    int mode = wsgi_parse_flag(value);
    if (mode < 0 && !strcasecmp(value, "Auto"))
        mode = 2;
    if (mode < 0)
        return "WSGIMapHEADToGET must be one of: Off | On | Auto";
    wsgi_cmd_scope(cmd, mconfig)->map_head_to_get = mode;
    return NULL;
}

static const char *wsgi_set_python_optimize(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long level;
    WSGI_UNUSED(mconfig);
    if (error)
        return error;
    /* Any integer, as mod_wsgi's atoi(): a level above 2 reaches Python as
     * is (python -OOO), a negative one means 0. Text that is not a number
     * is still refused (atoi() would silently read 0 or a prefix). */
    if (wsgi_parse_long(value, &level) || level < INT_MIN || level > INT_MAX)
        return "WSGIPythonOptimize must be an integer";
    wsgi_server_conf(cmd->server)->python_optimize = level < 0 ? 0 : (int)level;
    return NULL;
}

static const char *wsgi_set_python_hash_seed(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    WSGI_UNUSED(mconfig);
    if (error)
        return error;
    if (strcmp(value, "random")) {
        char *end = NULL;
        unsigned long long seed;
        errno = 0;
        seed = strtoull(value, &end, 10);
        if (!*value || *end || errno || !apr_isdigit(*value) || seed > 4294967295ULL)
            return "WSGIPythonHashSeed must be \"random\" or an integer in range [0; 4294967295]";
    }
    wsgi_server_conf(cmd->server)->python_hash_seed = value;
    return NULL;
}

static const char *wsgi_add_python_warnings(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    wsgi_server_conf_t *sconf = wsgi_server_conf(cmd->server);
    WSGI_UNUSED(mconfig);
    if (error)
        return error;
    if (!sconf->python_warnings)
        sconf->python_warnings = apr_array_make(cmd->pool, 4, sizeof(const char *));
    APR_ARRAY_PUSH(sconf->python_warnings, const char *) = value;
    return NULL;
}

static const char *wsgi_set_socket_prefix(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *prefix;
    WSGI_UNUSED(mconfig);
    if (error)
        return error;
    if (!(prefix = ap_server_root_relative(cmd->pool, value)))
        return apr_pstrcat(cmd->pool, "Invalid WSGISocketPrefix '", value, "'.", NULL);
    wsgi_server_conf(cmd->server)->socket_prefix = prefix;
    return NULL;
}

static const char *wsgi_set_accept_mutex(cmd_parms *cmd, void *mconfig, const char *value)
{
    static const char *const valid[] = {
        "default",
#if APR_HAS_FLOCK_SERIALIZE
        "flock",
#endif
#if APR_HAS_FCNTL_SERIALIZE
        "fcntl",
#endif
#if APR_HAS_SYSVSEM_SERIALIZE
        "sysvsem",
#endif
#if APR_HAS_POSIXSEM_SERIALIZE
        "posixsem",
#endif
#if APR_HAS_PROC_PTHREAD_SERIALIZE
        "pthread",
#endif
        NULL
    };
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *list = "";
    int i;
    WSGI_UNUSED(mconfig);
    if (error)
        return error;
    for (i = 0; valid[i]; ++i) {
        if (!strcasecmp(value, valid[i])) {
            wsgi_server_conf(cmd->server)->accept_mutex = valid[i];
            return NULL;
        }
        list = apr_pstrcat(cmd->pool, list, i ? ", " : "", valid[i], NULL);
    }
    return apr_pstrcat(cmd->pool, "Accept mutex lock mechanism '", value,
                       "' is invalid. Valid accept mutex mechanisms for this platform are: ", list,
                       ".", NULL);
}

static const char *wsgi_set_lazy_initialization(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    int flag = wsgi_parse_flag(value);
    WSGI_UNUSED(mconfig);
    if (error)
        return error;
    if (flag < 0)
        return "WSGILazyInitialization must be one of: Off | On";
    wsgi_server_conf(cmd->server)->lazy_initialization = flag;
    return NULL;
}

/* WSGIRestrictProcess group ...  (%{GLOBAL} is the embedded "group") */
static const char *wsgi_set_restrict_process(cmd_parms *cmd, void *mconfig, const char *args)
{
    apr_table_t *groups = apr_table_make(cmd->pool, 5);
    wsgi_cmd_scope(cmd, mconfig)->restrict_process = groups;
    while (*args) {
        const char *name = ap_getword_conf(cmd->pool, &args);
        if (!strcmp(name, "%{GLOBAL}"))
            name = "";
        apr_table_setn(groups, name, name);
    }
    return NULL;
}

/* A header name as its CGI variable (HTTP_X_FORWARDED_FOR); NULL if not a token. */
static char *wsgi_http2env(apr_pool_t *p, const char *name)
{
    char *env = apr_palloc(p, sizeof("HTTP_") + strlen(name)), *out = env + 5;
    memcpy(env, "HTTP_", 5);
    for (; *name; ++name) {
        if (apr_isalnum(*name))
            *out++ = apr_toupper(*name);
        else if (*name == '-')
            *out++ = '_';
        else
            return NULL;
    }
    *out = '\0';
    return env;
}

static const char *wsgi_set_trusted_proxy_headers(cmd_parms *cmd, void *mconfig, const char *args)
{
    wsgi_scope_t *scope = wsgi_cmd_scope(cmd, mconfig);
    if (!scope->trusted_proxy_headers)
        scope->trusted_proxy_headers = apr_array_make(cmd->pool, 3, sizeof(const char *));
    while (*args) {
        const char *header = ap_getword_conf(cmd->pool, &args);
        const char *env = wsgi_http2env(cmd->pool, header);
        if (!env)
            return apr_pstrcat(cmd->pool, "Invalid trusted proxy header name \"", header, "\".",
                               NULL);
        APR_ARRAY_PUSH(scope->trusted_proxy_headers, const char *) = env;
    }
    return NULL;
}

/* Digits, dots and slashes (IPv4) or hex digits, colons and slashes (IPv6). */
static int wsgi_looks_like_ip(const char *ip)
{
    const char *chars = strchr(ip, ':') ? "0123456789abcdefABCDEF:./" : "0123456789./";
    return *ip && strspn(ip, chars) == strlen(ip);
}

static const char *wsgi_set_trusted_proxies(cmd_parms *cmd, void *mconfig, const char *args)
{
    wsgi_scope_t *scope = wsgi_cmd_scope(cmd, mconfig);
    if (!scope->trusted_proxies)
        scope->trusted_proxies = apr_array_make(cmd->pool, 3, sizeof(apr_ipsubnet_t *));
    while (*args) {
        const char *entry = ap_getword_conf(cmd->pool, &args);
        char *ip = apr_pstrdup(cmd->temp_pool, entry), *mask;
        apr_ipsubnet_t *subnet = NULL;
        apr_status_t rv;
        char reason[128];

        if (!wsgi_looks_like_ip(entry))
            return apr_pstrcat(cmd->pool, "Unable to parse trusted proxy IP address/subnet of \"",
                               entry, "\".", NULL);
        if ((mask = strchr(ip, '/')))
            *mask++ = '\0';
        if ((rv = apr_ipsubnet_create(&subnet, ip, mask, cmd->pool)) != APR_SUCCESS)
            return apr_pstrcat(cmd->pool, "Unable to parse trusted proxy IP address/subnet of \"",
                               entry, "\". ", apr_strerror(rv, reason, sizeof(reason)), NULL);
        APR_ARRAY_PUSH(scope->trusted_proxies, apr_ipsubnet_t *) = subnet;
    }
    return NULL;
}

/* WSGIDaemonProcess options: how each value is checked, and mod_wsgi's error text. */
typedef enum {
    WSGI_OPT_STRING,   /* anything */
    WSGI_OPT_NONEMPTY, /* any non-empty value */
    WSGI_OPT_INT_MIN,  /* integer >= min */
    WSGI_OPT_INT,      /* any integer */
    WSGI_OPT_INT64,    /* 64-bit integer >= 0 */
    WSGI_OPT_BUFFER,   /* 0 or integer >= min */
    WSGI_OPT_PATH,     /* absolute path */
    WSGI_OPT_USER,     /* user name or #uid, never root */
    WSGI_OPT_GROUP,    /* group name or #gid */
    WSGI_OPT_OCTAL,    /* umask */
    WSGI_OPT_FLAG      /* Off | On */
} wsgi_option_kind;

typedef struct {
    const char *name;
    wsgi_option_kind kind;
    long min;
    const char *error;
} wsgi_daemon_option_t;

#define WSGI_DAEMON_ERROR(what) "Invalid " what " for WSGI daemon process."

static const wsgi_daemon_option_t wsgi_daemon_options[] = {
    {"user", WSGI_OPT_USER, 0, WSGI_DAEMON_ERROR("user")},
    {"group", WSGI_OPT_GROUP, 0, WSGI_DAEMON_ERROR("group")},
    {"supplementary-groups", WSGI_OPT_STRING, 0, NULL},
    {"processes", WSGI_OPT_INT_MIN, 1, WSGI_DAEMON_ERROR("process count")},
    {"threads", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("thread count")},
    {"umask", WSGI_OPT_OCTAL, 0, WSGI_DAEMON_ERROR("umask")},
    {"chroot", WSGI_OPT_PATH, 0, WSGI_DAEMON_ERROR("chroot directory")},
    {"home", WSGI_OPT_PATH, 0, WSGI_DAEMON_ERROR("home directory")},
    {"lang", WSGI_OPT_STRING, 0, NULL},
    {"locale", WSGI_OPT_STRING, 0, NULL},
    {"python-home", WSGI_OPT_STRING, 0, NULL},
    {"python-path", WSGI_OPT_STRING, 0, NULL},
    {"python-eggs", WSGI_OPT_STRING, 0, NULL},
    {"stack-size", WSGI_OPT_INT_MIN, 1, WSGI_DAEMON_ERROR("stack size")},
    {"maximum-requests", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("request count")},
    {"startup-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("startup timeout")},
    {"shutdown-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("shutdown timeout")},
    {"deadlock-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("deadlock timeout")},
    {"inactivity-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("inactivity timeout")},
    {"request-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("request timeout")},
    /* From later mod_wsgi releases: RequestTimeout raised into a long request. */
    {"interrupt-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("interrupt timeout")},
    {"graceful-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("graceful timeout")},
    {"eviction-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("eviction timeout")},
    {"restart-interval", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("restart interval")},
    {"connect-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("connect timeout")},
    {"socket-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("socket timeout")},
    {"queue-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("queue timeout")},
    {"listen-backlog", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("listen backlog")},
    {"display-name", WSGI_OPT_STRING, 0, NULL},
    {"send-buffer-size", WSGI_OPT_BUFFER, 512,
     "Send buffer size must be >= 512 bytes, or 0 for system default."},
    {"receive-buffer-size", WSGI_OPT_BUFFER, 512,
     "Receive buffer size must be >= 512 bytes, or 0 for system default."},
    {"header-buffer-size", WSGI_OPT_BUFFER, 8192,
     "Header buffer size must be >= 8192 bytes, or 0 for default."},
    {"response-buffer-size", WSGI_OPT_BUFFER, 65536,
     "Response buffer size must be >= 65536 bytes, or 0 for default."},
    {"response-socket-timeout", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("response socket timeout")},
    {"socket-user", WSGI_OPT_USER, 1, WSGI_DAEMON_ERROR("socket user")},
    {"script-user", WSGI_OPT_USER, 1, WSGI_DAEMON_ERROR("script user")},
    {"script-group", WSGI_OPT_GROUP, 0, WSGI_DAEMON_ERROR("script group")},
    {"cpu-time-limit", WSGI_OPT_INT_MIN, 0, WSGI_DAEMON_ERROR("CPU time limit")},
    {"cpu-priority", WSGI_OPT_INT, 0, WSGI_DAEMON_ERROR("CPU priority")},
    {"memory-limit", WSGI_OPT_INT64, 0, WSGI_DAEMON_ERROR("memory limit")},
    {"virtual-memory-limit", WSGI_OPT_INT64, 0, WSGI_DAEMON_ERROR("virtual memory limit")},
    {"server-metrics", WSGI_OPT_FLAG, 0, WSGI_DAEMON_ERROR("server metrics flag")},
    {"newrelic-config-file", WSGI_OPT_STRING, 0, NULL},
    {"newrelic-environment", WSGI_OPT_STRING, 0, NULL},
    {NULL, WSGI_OPT_STRING, 0, NULL}};

/* Checks one WSGIDaemonProcess option value; NULL when valid. */
static const char *wsgi_check_daemon_option(const wsgi_daemon_option_t *opt, const char *value)
{
    long number;
    char *end = NULL;

    switch (opt->kind) {
    case WSGI_OPT_STRING:
        return NULL;
    case WSGI_OPT_NONEMPTY:
        return *value ? NULL : opt->error;
    case WSGI_OPT_INT_MIN:
        if (wsgi_parse_long(value, &number) || number < opt->min)
            return opt->error;
        if (!strcmp(opt->name, "threads") && number >= 0xffff - 1)
            return opt->error;
        return NULL;
    case WSGI_OPT_INT:
        return wsgi_parse_long(value, &number) ? opt->error : NULL;
    case WSGI_OPT_INT64:
        errno = 0;
        return (!*value || apr_strtoi64(value, &end, 10) < 0 || *end || errno) ? opt->error : NULL;
    case WSGI_OPT_BUFFER:
        if (wsgi_parse_long(value, &number) || (number != 0 && number < opt->min))
            return opt->error;
        return NULL;
    case WSGI_OPT_PATH:
        if (!strcmp(opt->name, "chroot") && geteuid())
            return "Cannot chroot WSGI daemon process when not root.";
        return *value == '/' ? NULL : opt->error;
    case WSGI_OPT_USER: {
        /* As mod_wsgi: Apache's ap_uname2id reads a name or #uid, and ends
         * the configuration with its own AH00543 for an unknown name. */
        uid_t uid;
        if (!*value)
            return opt->error;
        uid = ap_uname2id(value);
        if (!opt->min && uid == 0)
            return "WSGI process blocked from running as root.";
        if (*value != '#' || getpwuid(uid))
            return NULL;
        if (!strcmp(opt->name, "socket-user"))
            return "Couldn't determine user name from socket user.";
        if (!strcmp(opt->name, "script-user"))
            return "Couldn't determine uid from script user.";
        return "Couldn't determine user name from uid.";
    }
    case WSGI_OPT_GROUP: {
        /* ap_gname2id likewise (AH00544); group= takes a #gid without a
         * group entry, script-group= needs one, as in mod_wsgi. */
        gid_t gid;
        if (!*value)
            return opt->error;
        gid = ap_gname2id(value);
        if (*value == '#' && !strcmp(opt->name, "script-group") && !getgrgid(gid))
            return "Couldn't determine gid from script group.";
        return NULL;
    }
    case WSGI_OPT_OCTAL:
        errno = 0;
        if (!*value || strtol(value, &end, 8) < 0 || *end || errno)
            return opt->error;
        return NULL;
    case WSGI_OPT_FLAG:
        return wsgi_parse_flag(value) < 0 ? opt->error : NULL;
    }
    return opt->error;
}

/*
 * A #uid or #gid option value (checked) as the name it stands for, as
 * mod_wsgi keeps it: script-user= and script-group= are compared with the
 * names of a script's owner and group. group=#gid may have no name.
 */
static const char *wsgi_daemon_id_name(apr_pool_t *p, const wsgi_daemon_option_t *opt,
                                       const char *value)
{
    if (*value != '#')
        return value;
    if (opt->kind == WSGI_OPT_USER) {
        const struct passwd *pw = getpwuid(ap_uname2id(value));
        return pw ? apr_pstrdup(p, pw->pw_name) : value;
    }
    if (opt->kind == WSGI_OPT_GROUP) {
        const struct group *gr = getgrgid(ap_gname2id(value));
        return gr ? apr_pstrdup(p, gr->gr_name) : value;
    }
    return value;
}

/*
 * supplementary-groups=a,#gid,...: checked after the other options, as
 * mod_wsgi does: each name with ap_gname2id (Apache's AH00544 for an
 * unknown one; a #gid needs no entry), the list up to its first empty
 * item, and at most NGROUPS_MAX - 1 groups besides the daemon's own.
 */
static const char *wsgi_check_supplementary_groups(apr_pool_t *p, const char *list)
{
    long maximum = sysconf(_SC_NGROUPS_MAX);
    long count = 1; /* the group= or Group gid comes first */
    const char *name;

    if (maximum < 0)
        maximum = NGROUPS_MAX;
    while (*(name = ap_getword(p, &list, ','))) {
        if (count++ >= maximum)
            return "Too many supplementary groups WSGI daemon process";
        (void)ap_gname2id(name);
    }
    return NULL;
}

/* WSGIDaemonProcess name [option=value ...]: validated and stored. */
static const char *wsgi_add_daemon_process(cmd_parms *cmd, void *mconfig, const char *args)
{
    static const char invalid[] = "Invalid option to WSGI daemon process definition.";
    wsgi_daemon_t *group;
    const char *name, *option, *value, *error;
    int i;

    WSGI_UNUSED(mconfig);
    name = ap_getword_conf(cmd->pool, &args);
    if (!*name)
        return "Name of WSGI daemon process not supplied.";

    group = apr_pcalloc(cmd->pool, sizeof(*group));
    group->name = name;
    group->server = cmd->server;
    group->processes = 1;
    group->threads = 15;
    group->options = apr_table_make(cmd->pool, 8);

    while (*args) {
        const wsgi_daemon_option_t *opt;
        if ((error = wsgi_next_option(cmd->pool, &args, &option, &value)))
            return wsgi_option_error(cmd, invalid, error);
        for (opt = wsgi_daemon_options; opt->name && strcmp(opt->name, option); ++opt)
            ;
        if (!opt->name)
            return wsgi_unknown_option(cmd, invalid, option);
        if ((error = wsgi_check_daemon_option(opt, value)))
            return error;
        apr_table_setn(group->options, option, wsgi_daemon_id_name(cmd->pool, opt, value));
        if (!strcmp(option, "processes")) {
            group->processes = atoi(value);
            group->multiprocess = 1;
        } else if (!strcmp(option, "threads")) {
            group->threads = atoi(value);
        }
    }
    if (apr_table_get(group->options, "script-user") &&
        apr_table_get(group->options, "script-group"))
        return "Only one of script-user and script-group allowed.";
    if ((value = apr_table_get(group->options, "supplementary-groups")) &&
        (error = wsgi_check_supplementary_groups(cmd->pool, value)))
        return error;

    wsgi_config_list(cmd, &wsgi_daemon_list, sizeof(wsgi_daemon_t));
    for (i = 0; i < wsgi_daemon_list->nelts; ++i) {
        if (!strcmp(APR_ARRAY_IDX(wsgi_daemon_list, i, wsgi_daemon_t).name, name))
            return "Name duplicates previous WSGI daemon definition.";
    }
    *(wsgi_daemon_t *)apr_array_push(wsgi_daemon_list) = *group;
    return NULL;
}

/* ---------------------------------------------------------------------------
 * 4. Request configuration: group and callable expansion
 * ------------------------------------------------------------------------- */

/* What one request runs with, resolved from directory, server and alias settings. */
typedef struct {
    const char *process_group;     /* expanded; "" = embedded */
    const char *application_group; /* expanded; "" = main interpreter */
    const char *callable_object;
    const char *handler_script; /* "" unless a WSGIHandlerScript */
    wsgi_script_t *dispatch_script;
    apr_table_t *restrict_process;
    int pass_authorization;
    int script_reloading;
    int chunked_request;
    int map_head_to_get;
    int ignore_activity;
    int enable_sendfile;
    int error_override; /* WSGIErrorOverride (daemon mode) */
    apr_array_header_t *trusted_proxy_headers;
    apr_array_header_t *trusted_proxies;
} wsgi_req_t;

/* `host[:port]`, the port left out when it is 80 or 443. */
static const char *wsgi_host_port(request_rec *r, const char *host)
{
    apr_port_t port = ap_get_server_port(r);
    if (port == DEFAULT_HTTP_PORT || port == DEFAULT_HTTPS_PORT)
        return host;
    return apr_psprintf(r->pool, "%s:%u", host, (unsigned)port);
}

/* The mount point in %{RESOURCE}: SCRIPT_NAME with slashes collapsed, lower-cased. */
static const char *wsgi_resource_script_name(request_rec *r)
{
    size_t length = (r->path_info && *r->path_info)
                        ? (size_t)ap_find_path_info(r->uri, r->path_info)
                        : strlen(r->uri);
    char *name = apr_pstrmemdup(r->pool, r->uri, length);
    ap_no2slash(name);
    ap_str_tolower(name);
    return name;
}

/* %{RESOURCE}: `host[:port]|SCRIPT_NAME` with the ServerName. */
static const char *wsgi_resource_group(request_rec *r)
{
    return apr_pstrcat(r->pool, wsgi_host_port(r, r->server->server_hostname), "|",
                       wsgi_resource_script_name(r), NULL);
}

/* The value of %{ENV:name}: request notes, then subprocess_env, then the process. */
static const char *wsgi_env_lookup(request_rec *r, const char *expr)
{
    size_t length = strlen(expr);
    const char *name, *value;
    if (strncmp(expr, "%{ENV:", 6) || length < 8 || expr[length - 1] != '}')
        return NULL;
    name = apr_pstrmemdup(r->pool, expr + 6, length - 7);
    if (!(value = apr_table_get(r->notes, name)) &&
        !(value = apr_table_get(r->subprocess_env, name)))
        value = getenv(name);
    return value;
}

/* Expands a WSGIProcessGroup / WSGIApplicationGroup value as mod_wsgi does. */
static const char *wsgi_expand_group(request_rec *r, const char *s)
{
    const char *value;
    if (*s != '%')
        return s;
    if (!strcmp(s, "%{GLOBAL}"))
        return "";
    if (!strcmp(s, "%{RESOURCE}"))
        return wsgi_resource_group(r);
    if (!strcmp(s, "%{SERVER}"))
        return wsgi_host_port(r, r->server->server_hostname);
    if (!strcmp(s, "%{HOST}"))
        return wsgi_host_port(r, (r->hostname && *r->hostname) ? r->hostname
                                                               : r->server->server_hostname);
    if ((value = wsgi_env_lookup(r, s))) {
        /* A value that is itself an expression (but not another %{ENV:}) is expanded. */
        if (*value == '%' && strncmp(value, "%{ENV:", 6))
            return wsgi_expand_group(r, value);
        return value;
    }
    return s;
}

/* WSGICallableObject: a name, or %{ENV:var}; anything else starting with % is the default. */
static const char *wsgi_expand_callable(request_rec *r, const char *s)
{
    const char *value;
    if (!s)
        return "application";
    if (*s != '%')
        return s;
    value = wsgi_env_lookup(r, s);
    return value ? value : "application";
}

#define WSGI_PICK(field, fallback)                                                                 \
    (dscope->field != -1 ? dscope->field : (sscope->field != -1 ? sscope->field : (fallback)))

/* Resolves the directory and server settings (mod_wsgi's request config). */
static void wsgi_resolve(request_rec *r, wsgi_req_t *rc)
{
    const wsgi_dir_conf_t *dconf = ap_get_module_config(r->per_dir_config, &wsgi_module);
    const wsgi_scope_t *dscope = &dconf->scope;
    const wsgi_scope_t *sscope = &wsgi_server_conf(r->server)->scope;

    memset(rc, 0, sizeof(*rc));
    rc->process_group = dscope->process_group ? dscope->process_group : sscope->process_group;
    rc->application_group =
        dscope->application_group ? dscope->application_group : sscope->application_group;
    rc->callable_object =
        dscope->callable_object ? dscope->callable_object : sscope->callable_object;
    rc->handler_script = "";
    rc->dispatch_script =
        dscope->dispatch_script ? dscope->dispatch_script : sscope->dispatch_script;
    rc->restrict_process =
        dscope->restrict_process ? dscope->restrict_process : sscope->restrict_process;
    rc->pass_authorization = WSGI_PICK(pass_authorization, 0);
    rc->script_reloading = WSGI_PICK(script_reloading, 1);
    rc->chunked_request = WSGI_PICK(chunked_request, 0);
    /* The documented default is Auto (mod_wsgi 4.x effectively used Off). */
    rc->map_head_to_get = WSGI_PICK(map_head_to_get, 2);
    rc->ignore_activity = WSGI_PICK(ignore_activity, 0);
    rc->enable_sendfile = WSGI_PICK(enable_sendfile, 0);
    rc->error_override = WSGI_PICK(error_override, 0);
    rc->trusted_proxy_headers = dscope->trusted_proxy_headers ? dscope->trusted_proxy_headers
                                                              : sscope->trusted_proxy_headers;
    rc->trusted_proxies =
        dscope->trusted_proxies ? dscope->trusted_proxies : sscope->trusted_proxies;
}

#undef WSGI_PICK

/* The WSGIHandlerScript registered for r->handler, directory settings first. */
static wsgi_script_t *wsgi_find_handler_script(request_rec *r)
{
    const wsgi_dir_conf_t *dconf = ap_get_module_config(r->per_dir_config, &wsgi_module);
    const wsgi_scope_t *sscope = &wsgi_server_conf(r->server)->scope;
    wsgi_script_t *script = NULL;

    if (dconf->scope.handler_scripts)
        script = apr_hash_get(dconf->scope.handler_scripts, r->handler, APR_HASH_KEY_STRING);
    if (!script && sscope->handler_scripts)
        script = apr_hash_get(sscope->handler_scripts, r->handler, APR_HASH_KEY_STRING);
    return script;
}

/* ---------------------------------------------------------------------------
 * 5. translate_name: WSGIScriptAlias and WSGIScriptAliasMatch
 * ------------------------------------------------------------------------- */

/*
 * Length of `uri` matched by the alias prefix, 0 if none: any run of '/' in the
 * alias matches any non-empty run in the URI and the match ends at a segment
 * boundary (the rule of mod_alias).
 */
static size_t wsgi_alias_matches(const char *uri, const char *alias)
{
    const char *a = alias, *u = uri;

    while (*a) {
        if (*a == '/') {
            if (*u != '/')
                return 0;
            while (*a == '/')
                ++a;
            while (*u == '/')
                ++u;
        } else if (*u++ != *a++) {
            return 0;
        }
    }
    if (a[-1] != '/' && *u && *u != '/')
        return 0;
    return (size_t)(u - uri);
}

/*
 * Maps the URL onto the script (r->filename) and the wsgi-script handler; the
 * alias is remembered in the request config for the handler.
 */
static int wsgi_translate_name(request_rec *r)
{
    const wsgi_server_conf_t *sconf = wsgi_server_conf(r->server);
    ap_regmatch_t matches[AP_MAX_REG_MATCH];
    int i;

    if (!sconf->aliases || (r->uri[0] != '/' && r->uri[0]))
        return DECLINED;

    for (i = 0; i < sconf->aliases->nelts; ++i) {
        wsgi_alias_t *alias = &APR_ARRAY_IDX(sconf->aliases, i, wsgi_alias_t);
        const char *target = alias->target, *location = alias->location;
        size_t matched;

        if (alias->regexp) {
            if (ap_regexec(alias->regexp, r->uri, AP_MAX_REG_MATCH, matches, 0))
                continue;
            matched = (size_t)matches[0].rm_eo;
            if (!matched)
                continue;
            location = apr_pstrmemdup(r->pool, r->uri, matched);
            target = ap_pregsub(r->pool, alias->target, r->uri, AP_MAX_REG_MATCH, matches);
            if (!target) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                              WSGIRT_LOGNO(0701) "mod_wsgi (pid=%d): "
                                                 "Substitution of '%s' for WSGI "
                                                 "script alias "
                                                 "failed.",
                              (int)getpid(), alias->target);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        } else if (!(matched = wsgi_alias_matches(r->uri, alias->location))) {
            continue;
        }

        r->filename =
            apr_pstrcat(r->pool, target, strcmp(location, "/") ? r->uri + matched : r->uri, NULL);
        r->handler = WSGI_HANDLER;
        ap_set_module_config(r->request_config, &wsgi_module, alias);
        return OK;
    }
    return DECLINED;
}

/* ---------------------------------------------------------------------------
 * 6. The WSGI environ: CGI variables, trusted proxy headers, mod_wsgi.* keys
 * ------------------------------------------------------------------------- */

/* Drops request headers whose names are not tokens of letters, digits and '-'. */
static void wsgi_drop_invalid_headers(request_rec *r)
{
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *entries = (const apr_table_entry_t *)arr->elts;
    int i;

    for (i = arr->nelts - 1; i >= 0; --i) {
        const char *key = entries[i].key;
        if (key && key[strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789-")])
            apr_table_unset(r->headers_in, key);
    }
}

/* The URL as the client sent it: the second word of the request line. */
static const char *wsgi_original_uri(request_rec *r)
{
    const char *first, *last;

    if (!r->the_request)
        return "";
    for (first = r->the_request; *first && !apr_isspace(*first); ++first)
        ;
    while (apr_isspace(*first))
        ++first;
    for (last = first; *last && !apr_isspace(*last); ++last)
        ;
    return apr_pstrmemdup(r->pool, first, last - first);
}

/*
 * ap_add_cgi_vars() without PATH_TRANSLATED. Apache computes that with a
 * sub-request for PATH_INFO on every request: a second URL mapping, directory
 * walk and access check, about a third of this module's cost per request, and
 * its access check can log "client denied" for the DocumentRoot. WSGI
 * applications have no use for it; mod_wsgi 6 dropped it for the same reasons.
 */
static void wsgi_add_cgi_vars(request_rec *r)
{
    apr_table_t *env = r->subprocess_env;
    const char *request_uri = NULL;

#if AP_MODULE_MAGIC_AT_LEAST(20120211, 58)
    const core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    if (core->cgi_var_rules) {
        const char *rule = apr_hash_get(core->cgi_var_rules, "REQUEST_URI", APR_HASH_KEY_STRING);
        if (rule && !strcmp(rule, "current-uri"))
            request_uri = r->uri; /* CGIVar REQUEST_URI current-uri */
    }
#endif
    apr_table_setn(env, "GATEWAY_INTERFACE", "CGI/1.1");
    apr_table_setn(env, "SERVER_PROTOCOL", r->protocol);
    apr_table_setn(env, "REQUEST_METHOD", r->method);
    apr_table_setn(env, "QUERY_STRING", r->args ? r->args : "");
    apr_table_setn(env, "REQUEST_URI", request_uri ? request_uri : wsgi_original_uri(r));

    if (!r->path_info || !*r->path_info || !strcmp(r->protocol, "INCLUDED")) {
        apr_table_setn(env, "SCRIPT_NAME", r->uri);
        if (r->path_info && *r->path_info)
            apr_table_setn(env, "PATH_INFO", r->path_info);
    } else {
        int start = ap_find_path_info(r->uri, r->path_info);
        apr_table_setn(env, "SCRIPT_NAME", apr_pstrmemdup(r->pool, r->uri, start));
        apr_table_setn(env, "PATH_INFO", r->path_info);
    }
}

/* Collapses repeated slashes in an environ value starting with '/'. */
static void wsgi_collapse_slashes(request_rec *r, const char *name)
{
    const char *value = apr_table_get(r->subprocess_env, name);
    if (value && value[0] == '/' && strstr(value, "//")) {
        char *copy = apr_pstrdup(r->pool, value);
        ap_no2slash(copy);
        apr_table_setn(r->subprocess_env, name, copy);
    }
}

static int wsgi_ip_trusted(request_rec *r, const char *ip, apr_array_header_t *proxies)
{
    unsigned char addr[sizeof(struct in6_addr)];
    apr_sockaddr_t *sa;
    int i;

    /* IP literals only: a name in a header must never cause a DNS lookup. */
    if ((inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1) ||
        apr_sockaddr_info_get(&sa, ip, APR_UNSPEC, 0, 0, r->pool) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "mod_wsgi (pid=%d): Forwarded IP of \"%s\" is not a valid IP address.",
                      (int)getpid(), ip);
        return -1;
    }
    for (i = 0; i < proxies->nelts; ++i) {
        if (apr_ipsubnet_test(APR_ARRAY_IDX(proxies, i, apr_ipsubnet_t *), sa))
            return 1;
    }
    return 0;
}

/*
 * X-Forwarded-For: without WSGITrustedProxies the leftmost address is the client.
 * With it, walk right to left past trusted proxies; the address before the first
 * trusted one becomes REMOTE_ADDR and the header keeps only that address onwards
 * (none trusted: the rightmost). Empty list elements are skipped (RFC 9110).
 */
static void wsgi_apply_forwarded_for(request_rec *r, const wsgi_req_t *rc, const char *value)
{
    apr_array_header_t *items = apr_array_make(r->pool, 4, sizeof(char *));
    int i, first = -1;

    while (*value) {
        const char *start = value, *end;
        while (*start && apr_isspace(*start))
            ++start;
        end = start;
        while (*end && *end != ',')
            ++end;
        value = *end ? end + 1 : end;
        while (end > start && apr_isspace(end[-1]))
            --end;
        if (end > start)
            APR_ARRAY_PUSH(items, char *) = apr_pstrmemdup(r->pool, start, end - start);
    }
    if (!items->nelts)
        return;
    if (!rc->trusted_proxies) {
        apr_table_setn(r->subprocess_env, "REMOTE_ADDR", APR_ARRAY_IDX(items, 0, char *));
        return;
    }
    for (i = items->nelts - 1; i >= 0; --i) {
        if (wsgi_ip_trusted(r, APR_ARRAY_IDX(items, i, char *), rc->trusted_proxies) != 1)
            break;
        first = i;
    }
    if (first >= 0) {
        char *list;
        i = first > 0 ? first - 1 : 0;
        list = APR_ARRAY_IDX(items, i, char *);
        apr_table_setn(r->subprocess_env, "REMOTE_ADDR", list);
        for (++i; i < items->nelts; ++i)
            list = apr_pstrcat(r->pool, list, ", ", APR_ARRAY_IDX(items, i, char *), NULL);
        apr_table_setn(r->subprocess_env, "HTTP_X_FORWARDED_FOR", list);
    } else {
        const char *last = APR_ARRAY_IDX(items, items->nelts - 1, char *);
        apr_table_setn(r->subprocess_env, "REMOTE_ADDR", last);
        apr_table_setn(r->subprocess_env, "HTTP_X_FORWARDED_FOR", last);
    }
}

static void wsgi_apply_set(request_rec *r, const char *name, const char *value)
{
    apr_table_setn(r->subprocess_env, name, value);
}

static void wsgi_apply_client_ip(request_rec *r, const wsgi_req_t *rc, const char *value)
{
    WSGI_UNUSED(rc);
    wsgi_apply_set(r, "REMOTE_ADDR", value);
}

static void wsgi_apply_host(request_rec *r, const wsgi_req_t *rc, const char *value)
{
    WSGI_UNUSED(rc);
    wsgi_apply_set(r, "HTTP_HOST", value);
}

static void wsgi_apply_server(request_rec *r, const wsgi_req_t *rc, const char *value)
{
    WSGI_UNUSED(rc);
    wsgi_apply_set(r, "SERVER_NAME", value);
}

static void wsgi_apply_port(request_rec *r, const wsgi_req_t *rc, const char *value)
{
    WSGI_UNUSED(rc);
    wsgi_apply_set(r, "SERVER_PORT", value);
}

static void wsgi_apply_script_name(request_rec *r, const wsgi_req_t *rc, const char *value)
{
    WSGI_UNUSED(rc);
    wsgi_apply_set(r, "mod_wsgi.mount_point", value);
    wsgi_apply_set(r, "SCRIPT_NAME", value);
}

/* X-Forwarded-Proto and friends: "https" / "http". */
static void wsgi_apply_scheme(request_rec *r, const wsgi_req_t *rc, const char *value)
{
    WSGI_UNUSED(rc);
    if (!strcasecmp(value, "https"))
        wsgi_apply_set(r, "HTTPS", "1");
    else if (!strcasecmp(value, "http"))
        apr_table_unset(r->subprocess_env, "HTTPS");
}

/* X-Forwarded-HTTPS and friends: On/true/1 or Off/false/0. */
static void wsgi_apply_https_flag(request_rec *r, const wsgi_req_t *rc, const char *value)
{
    WSGI_UNUSED(rc);
    if (!strcasecmp(value, "On") || !strcasecmp(value, "true") || !strcmp(value, "1"))
        wsgi_apply_set(r, "HTTPS", "1");
    else if (!strcasecmp(value, "Off") || !strcasecmp(value, "false") || !strcmp(value, "0"))
        apr_table_unset(r->subprocess_env, "HTTPS");
}

enum {
    WSGI_PROXY_CLIENT,
    WSGI_PROXY_HOST,
    WSGI_PROXY_SERVER,
    WSGI_PROXY_PORT,
    WSGI_PROXY_SCRIPT_NAME,
    WSGI_PROXY_SCHEME,
    WSGI_PROXY_CATEGORIES
};

static const struct {
    const char *name;
    int category;
    void (*apply)(request_rec *r, const wsgi_req_t *rc, const char *value);
} wsgi_proxy_headers[] = {
    {"HTTP_X_FORWARDED_FOR", WSGI_PROXY_CLIENT, wsgi_apply_forwarded_for},
    {"HTTP_X_CLIENT_IP", WSGI_PROXY_CLIENT, wsgi_apply_client_ip},
    {"HTTP_X_REAL_IP", WSGI_PROXY_CLIENT, wsgi_apply_client_ip},
    {"HTTP_X_FORWARDED_HOST", WSGI_PROXY_HOST, wsgi_apply_host},
    {"HTTP_X_HOST", WSGI_PROXY_HOST, wsgi_apply_host},
    {"HTTP_X_FORWARDED_SERVER", WSGI_PROXY_SERVER, wsgi_apply_server},
    {"HTTP_X_FORWARDED_PORT", WSGI_PROXY_PORT, wsgi_apply_port},
    {"HTTP_X_SCRIPT_NAME", WSGI_PROXY_SCRIPT_NAME, wsgi_apply_script_name},
    {"HTTP_X_FORWARDED_SCRIPT_NAME", WSGI_PROXY_SCRIPT_NAME, wsgi_apply_script_name},
    {"HTTP_X_FORWARDED_PROTO", WSGI_PROXY_SCHEME, wsgi_apply_scheme},
    {"HTTP_X_FORWARDED_SCHEME", WSGI_PROXY_SCHEME, wsgi_apply_scheme},
    {"HTTP_X_SCHEME", WSGI_PROXY_SCHEME, wsgi_apply_scheme},
    {"HTTP_X_FORWARDED_HTTPS", WSGI_PROXY_SCHEME, wsgi_apply_https_flag},
    {"HTTP_X_FORWARDED_SSL", WSGI_PROXY_SCHEME, wsgi_apply_https_flag},
    {"HTTP_X_HTTPS", WSGI_PROXY_SCHEME, wsgi_apply_https_flag},
    {NULL, 0, NULL}};

/*
 * WSGITrustedProxyHeaders / WSGITrustedProxies. A listed header is applied only
 * when the peer is a trusted proxy (or no proxies are listed). For every
 * category with a listed header, the other headers of that category, and the
 * listed one too when it was not applied, are removed, so an untrusted client
 * cannot pass them on. (mod_wsgi 4.x forgot to strip X-Forwarded-Server/Port.)
 */
static void wsgi_process_proxy_headers(request_rec *r, const wsgi_req_t *rc)
{
    const char *kept[WSGI_PROXY_CATEGORIES] = {NULL};
    int matched[WSGI_PROXY_CATEGORIES] = {0};
    int trusted = 1, i, j;

    if (!rc->trusted_proxy_headers)
        return;
    if (rc->trusted_proxies) {
        const char *peer = apr_table_get(r->subprocess_env, "REMOTE_ADDR");
        trusted = peer && wsgi_ip_trusted(r, peer, rc->trusted_proxies) == 1;
    }
    for (i = 0; i < rc->trusted_proxy_headers->nelts; ++i) {
        const char *name = APR_ARRAY_IDX(rc->trusted_proxy_headers, i, const char *);
        const char *value;
        for (j = 0; wsgi_proxy_headers[j].name && strcmp(wsgi_proxy_headers[j].name, name); ++j)
            ;
        if (!wsgi_proxy_headers[j].name)
            continue;
        matched[wsgi_proxy_headers[j].category] = 1;
        if (!trusted || !(value = apr_table_get(r->subprocess_env, name)))
            continue;
        wsgi_proxy_headers[j].apply(r, rc, value);
        kept[wsgi_proxy_headers[j].category] = name;
    }
    for (j = 0; wsgi_proxy_headers[j].name; ++j) {
        int category = wsgi_proxy_headers[j].category;
        if (matched[category] &&
            (!kept[category] || strcmp(kept[category], wsgi_proxy_headers[j].name)))
            apr_table_unset(r->subprocess_env, wsgi_proxy_headers[j].name);
    }
}

static int wsgi_connection_is_https(conn_rec *c)
{
#if AP_MODULE_MAGIC_AT_LEAST(20120211, 104)
    return ap_ssl_conn_is_ssl(c);
#else
    APR_DECLARE_OPTIONAL_FN(int, ssl_is_https, (conn_rec *));
    APR_OPTIONAL_FN_TYPE(ssl_is_https) *is_https = APR_RETRIEVE_OPTIONAL_FN(ssl_is_https);
    return is_https && is_https(c);
#endif
}

static const char *wsgi_flag_string(int flag)
{
    return flag ? "1" : "0";
}

/*
 * Fills r->subprocess_env the way mod_wsgi does in embedded mode: CGI variables,
 * HEAD mapping, Authorization, SCRIPT_NAME/PATH_INFO fix-ups, trusted proxy
 * headers, HTTPS and the mod_wsgi.* keys. (wsgi.* keys, apache.version and
 * mod_wsgi.version are added by the runtime, which also drops PATH and turns
 * HTTPS into wsgi.url_scheme.)
 */
static void wsgi_build_environment(request_rec *r, const wsgi_req_t *rc)
{
    apr_table_t *env = r->subprocess_env;
    conn_rec *c = r->connection;
    const char *value;

    wsgi_drop_invalid_headers(r);
    wsgi_add_cgi_vars(r);
    ap_add_common_vars(r);

    /* HEAD as GET, so output filters see the same response (WSGIMapHEADToGET). */
    if (r->method_number == M_GET && r->header_only &&
        (rc->map_head_to_get == 1 ||
         (rc->map_head_to_get == 2 && r->output_filters->frec->ftype < AP_FTYPE_PROTOCOL)))
        apr_table_setn(env, "REQUEST_METHOD", "GET");

    if (rc->pass_authorization && (value = apr_table_get(r->headers_in, "Authorization")))
        apr_table_setn(env, "HTTP_AUTHORIZATION", value);

    if (!apr_table_get(env, "PATH_INFO"))
        apr_table_setn(env, "PATH_INFO", "");
    wsgi_collapse_slashes(r, "SCRIPT_NAME");
    wsgi_collapse_slashes(r, "PATH_INFO");
    apr_table_setn(env, "mod_wsgi.script_name", apr_table_get(env, "SCRIPT_NAME"));
    apr_table_setn(env, "mod_wsgi.path_info", apr_table_get(env, "PATH_INFO"));

    wsgi_process_proxy_headers(r, rc);
    if (wsgi_connection_is_https(c))
        apr_table_setn(env, "HTTPS", "1");

    /* Keys Apache never sets: appended without a lookup. */
    apr_table_addn(env, "mod_wsgi.process_group", rc->process_group);
    apr_table_addn(env, "mod_wsgi.application_group", rc->application_group);
    apr_table_addn(env, "mod_wsgi.callable_object", rc->callable_object);
    apr_table_addn(env, "mod_wsgi.request_handler", r->handler);
    apr_table_addn(env, "mod_wsgi.handler_script", rc->handler_script);
    apr_table_addn(env, "mod_wsgi.script_reloading", wsgi_flag_string(rc->script_reloading));
    apr_table_addn(env, "mod_wsgi.listener_host",
                   c->local_addr->hostname ? c->local_addr->hostname : "");
    apr_table_addn(env, "mod_wsgi.listener_port", apr_itoa(r->pool, c->local_addr->port));
    apr_table_addn(env, "mod_wsgi.enable_sendfile", wsgi_flag_string(rc->enable_sendfile));
    apr_table_addn(env, "mod_wsgi.ignore_activity", wsgi_flag_string(rc->ignore_activity));
    apr_table_addn(env, "mod_wsgi.request_start", apr_ltoa(r->pool, (long)r->request_time));
    if (!r->log_id)
        ap_run_generate_log_id(c, r, &r->log_id);
    if (r->log_id)
        apr_table_addn(env, "mod_wsgi.request_id", r->log_id);
    if (c->log_id)
        apr_table_addn(env, "mod_wsgi.connection_id", c->log_id);
}

/* r->subprocess_env as the runtime's (name, value) pairs; the strings stay in place. */
static wsgirt_pair *wsgi_environ_pairs(request_rec *r, size_t *count)
{
    const apr_array_header_t *arr = apr_table_elts(r->subprocess_env);
    const apr_table_entry_t *entries = (const apr_table_entry_t *)arr->elts;
    wsgirt_pair *pairs = apr_palloc(r->pool, sizeof(*pairs) * (arr->nelts ? arr->nelts : 1));
    size_t n = 0;
    int i;

    for (i = 0; i < arr->nelts; ++i) {
        if (!entries[i].key || !entries[i].val)
            continue;
        pairs[n].name.ptr = entries[i].key;
        pairs[n].name.len = strlen(entries[i].key);
        pairs[n].value.ptr = entries[i].val;
        pairs[n].value.len = strlen(entries[i].val);
        ++n;
    }
    *count = n;
    return pairs;
}

/* ---------------------------------------------------------------------------
 * 7. Host I/O callbacks over bucket brigades
 * ------------------------------------------------------------------------- */

/* Per-request state shared by the callbacks (lives on the handler's stack). */
typedef struct {
    request_rec *r;
    apr_bucket_brigade *out; /* reused for every pass */
    apr_bucket_brigade *in;  /* created on the first read */
    int chunked_request;     /* WSGIChunkedRequest */
    int enable_sendfile;     /* WSGIEnableSendfile */
    int input_started;
    int input_done;
    int filter_error;     /* an input filter already answered (e.g. 413) */
    int started;          /* status and headers were handed over */
    int passed;           /* something was passed to the output filters */
    int daemon;           /* proxied to a daemon process group */
    const char *redirect; /* daemon mode: 200 + "Location: /path", body discarded */
    int error_override;   /* daemon mode: WSGIErrorOverride */
    int override_status;  /* the error status Apache answers instead, body discarded */
} wsgi_io_t;

/* Maps a failed brigade read or pass onto the runtime's I/O codes. */
static uint32_t wsgi_io_status(wsgi_io_t *io, apr_status_t rv)
{
    if (rv == AP_FILTER_ERROR) {
        io->filter_error = 1;
        return WSGIRT_IO_ERROR;
    }
    if (APR_STATUS_IS_TIMEUP(rv))
        return WSGIRT_IO_TIMEOUT;
    if (io->r->connection->aborted || APR_STATUS_IS_ECONNABORTED(rv) ||
        APR_STATUS_IS_ECONNRESET(rv) || APR_STATUS_IS_EPIPE(rv) || APR_STATUS_IS_EOF(rv) ||
        rv == APR_INCOMPLETE)
        return WSGIRT_IO_CLIENT_GONE;
    return WSGIRT_IO_ERROR;
}

/* Reads request body bytes (dechunked by HTTP_IN; 100-continue is sent on the first read). */
static uint32_t wsgi_io_read(void *ctx, uint8_t *buf, size_t capacity, size_t *out_len)
{
    wsgi_io_t *io = ctx;
    request_rec *r = io->r;

    *out_len = 0;
    if (io->input_done)
        return WSGIRT_IO_OK;
    if (!io->input_started) {
        io->input_started = 1;
        if (ap_setup_client_block(r, io->chunked_request ? REQUEST_CHUNKED_DECHUNK
                                                         : REQUEST_CHUNKED_ERROR) != OK) {
            io->input_done = 1;
            return WSGIRT_IO_ERROR;
        }
        if (!ap_should_client_block(r)) {
            io->input_done = 1;
            return WSGIRT_IO_OK;
        }
        io->in = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    }
    if (!capacity) {
        /* The application's first read(0): as mod_wsgi, a zero-length read
         * through the input filters, so HTTP_IN answers an Expect:
         * 100-continue now. Nothing is read. */
        apr_status_t rv =
            ap_get_brigade(r->input_filters, io->in, AP_MODE_READBYTES, APR_BLOCK_READ, 0);
        if (rv == APR_SUCCESS && !APR_BRIGADE_EMPTY(io->in) &&
            APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(io->in)))
            io->input_done = 1;
        apr_brigade_cleanup(io->in);
        if (rv != APR_SUCCESS) {
            io->input_done = 1;
            r->connection->keepalive = AP_CONN_CLOSE;
            return wsgi_io_status(io, rv);
        }
        return WSGIRT_IO_OK;
    }
    for (;;) {
        apr_size_t length = capacity;
        apr_status_t rv = ap_get_brigade(r->input_filters, io->in, AP_MODE_READBYTES,
                                         APR_BLOCK_READ, (apr_off_t)capacity);
        if (rv == APR_SUCCESS) {
            if (!APR_BRIGADE_EMPTY(io->in) && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(io->in)))
                io->input_done = 1;
            rv = apr_brigade_flatten(io->in, (char *)buf, &length);
        }
        apr_brigade_cleanup(io->in);
        if (rv != APR_SUCCESS) {
            io->input_done = 1;
            r->connection->keepalive = AP_CONN_CLOSE;
            return wsgi_io_status(io, rv);
        }
        if (length || io->input_done) {
            r->read_length += (apr_off_t)length;
            *out_len = length;
            return WSGIRT_IO_OK;
        }
    }
}

/* Sets status and headers on the request (sent with the first body data). */
static uint32_t wsgi_io_start_response(void *ctx, uint16_t status, const char *status_line,
                                       size_t status_line_len, const wsgirt_pair *headers,
                                       size_t headers_len)
{
    wsgi_io_t *io = ctx;
    request_rec *r = io->r;
    size_t total = status_line_len + 1, i;
    char *buf;

    /* One copy of every string; the tables keep pointers into it. */
    for (i = 0; i < headers_len; ++i)
        total += headers[i].name.len + headers[i].value.len + 2;
    buf = apr_palloc(r->pool, total);

    r->status = status;
    r->status_line = buf;
    memcpy(buf, status_line, status_line_len);
    buf[status_line_len] = '\0';
    buf += status_line_len + 1;

    for (i = 0; i < headers_len; ++i) {
        char *name = buf, *value = buf + headers[i].name.len + 1;
        memcpy(name, headers[i].name.ptr, headers[i].name.len);
        name[headers[i].name.len] = '\0';
        memcpy(value, headers[i].value.ptr, headers[i].value.len);
        value[headers[i].value.len] = '\0';
        buf = value + headers[i].value.len + 1;

        if (!strcasecmp(name, "Content-Type")) {
            ap_set_content_type(r, value);
        } else if (!strcasecmp(name, "Content-Length")) {
            apr_off_t length;
            char *end;
            if (apr_strtoff(&length, value, &end, 10) != APR_SUCCESS || *end || length < 0)
                return WSGIRT_IO_ERROR;
            ap_set_content_length(r, length);
        } else if (!strcasecmp(name, "WWW-Authenticate")) {
            apr_table_addn(r->err_headers_out, name, value);
        } else if (!strcasecmp(name, "Transfer-Encoding")) {
            /* Hop-by-hop (PEP 3333 forbids it): Apache frames the body itself. Passed
             * on, "chunked" would make Apache send the raw body as if it were chunked. */
            continue;
        } else {
            apr_table_addn(r->headers_out, name, value);
        }
    }
    /* Body reads after this must not put "100 Continue" into the response. */
    r->expecting_100 = 0;
    io->started = 1;
    /* Daemon mode, as mod_wsgi (and CGI): 200 with a local Location is an internal redirect. */
    if (io->daemon && status == 200) {
        const char *location = apr_table_get(r->headers_out, "Location");
        if (location && *location == '/')
            io->redirect = location;
    }
    if (io->daemon && io->error_override && ap_is_HTTP_ERROR(status))
        io->override_status = status;
    /* mod_wsgi's daemon mode turns "200 Error" into 500 (error documents apply). */
    if (io->daemon && status == 200 && !strcmp(r->status_line, "200 Error"))
        io->override_status = HTTP_INTERNAL_SERVER_ERROR;
    return WSGIRT_IO_OK;
}

/* Passes the brigade on and reports whether the client is still there. */
static uint32_t wsgi_io_pass(wsgi_io_t *io)
{
    apr_status_t rv = ap_pass_brigade(io->r->output_filters, io->out);
    io->passed = 1;
    apr_brigade_cleanup(io->out);
    if (rv != APR_SUCCESS)
        return wsgi_io_status(io, rv);
    return io->r->connection->aborted ? WSGIRT_IO_CLIENT_GONE : WSGIRT_IO_OK;
}

/* Sends body data: a transient bucket (filters copy only what they must keep). */
static uint32_t wsgi_io_write(void *ctx, const uint8_t *data, size_t len, uint32_t flags)
{
    wsgi_io_t *io = ctx;
    apr_bucket_alloc_t *ba = io->r->connection->bucket_alloc;

    if (io->redirect || io->override_status)
        return WSGIRT_IO_OK;
    if (io->r->connection->aborted)
        return WSGIRT_IO_CLIENT_GONE;
    APR_BRIGADE_INSERT_TAIL(io->out, apr_bucket_transient_create((const char *)data, len, ba));
    if (flags & WSGIRT_WRITE_FLUSH)
        APR_BRIGADE_INSERT_TAIL(io->out, apr_bucket_flush_create(ba));
    return wsgi_io_pass(io);
}

/*
 * A bucket over bytes from wsgirt_file_map: read-only memory shared by every
 * response of the file, released with wsgirt_file_release when the last
 * bucket referring to it is destroyed. Its own type, not a heap bucket:
 * apr_brigade_write may write into the spare room of a heap bucket, and
 * this memory is mapped read-only.
 */
typedef struct {
    apr_bucket_refcount refcount;
    const char *base;
} wsgi_mapped_t;

static apr_status_t wsgi_mapped_read(apr_bucket *b, const char **str, apr_size_t *len,
                                     apr_read_type_e block)
{
    wsgi_mapped_t *m = b->data;
    (void)block;
    *str = m->base + b->start;
    *len = b->length;
    return APR_SUCCESS;
}

static void wsgi_mapped_destroy(void *data)
{
    wsgi_mapped_t *m = data;
    if (apr_bucket_shared_destroy(m)) {
        wsgirt_file_release((void *)m->base);
        apr_bucket_free(m);
    }
}

static const apr_bucket_type_t wsgi_bucket_type_mapped = {
    "WSGIRT_MAPPED",         5,
    APR_BUCKET_DATA,         wsgi_mapped_destroy,
    wsgi_mapped_read,        apr_bucket_setaside_noop,
    apr_bucket_shared_split, apr_bucket_shared_copy,
};

static apr_bucket *wsgi_mapped_bucket_create(const uint8_t *data, apr_size_t len,
                                             apr_bucket_alloc_t *list)
{
    apr_bucket *b = apr_bucket_alloc(sizeof(*b), list);
    wsgi_mapped_t *m = apr_bucket_alloc(sizeof(*m), list);

    APR_BUCKET_INIT(b);
    b->free = apr_bucket_free;
    b->list = list;
    m->base = (const char *)data;
    b = apr_bucket_shared_make(b, m, 0, len);
    b->type = &wsgi_bucket_type_mapped;
    return b;
}

/* True unless `EnableMMAP Off` applies to the request. */
static int wsgi_mmap_allowed(request_rec *r)
{
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    return core->enable_mmap != ENABLE_MMAP_OFF;
}

/*
 * Queues part of a regular file (wsgi.file_wrapper), with a FLUSH bucket
 * behind it. The buckets are not passed here: they go out with the
 * response's EOS (or ahead of any later output), the brigade mod_wsgi
 * passes ([file, flush, EOS]), so Apache's byterange filter, which only acts
 * on a brigade that holds the whole response, answers Range requests for
 * them, and the worker writes the file itself (the FLUSH) instead of leaving
 * it to the MPM's write completion.
 *
 * With WSGIEnableSendfile Off (the default) and mmap allowed, the bytes come
 * from the library's shared mapping of the file (wsgirt_file_map) in a
 * bucket that releases them when Apache is done with it: no mmap, munmap or
 * page faults per response, and one mapping for all responses in flight.
 * Otherwise, and for files the library does not map, the file goes as a file
 * bucket: sent with sendfile when WSGIEnableSendfile is On, else read by the
 * core output filter (through mmap only if EnableMMAP allows). The
 * descriptor is the application's: it is dup'ed into the request pool.
 */
static uint32_t wsgi_io_send_file(void *ctx, int fd, uint64_t offset, uint64_t len)
{
    wsgi_io_t *io = ctx;
    request_rec *r = io->r;
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    int mmap_allowed;
    const uint8_t *mapped = NULL;
    apr_os_file_t osfd = fd;
    apr_file_t *file = NULL, *copy = NULL;
    apr_bucket *b;

    if (io->redirect || io->override_status)
        return WSGIRT_IO_OK;
    if (r->connection->aborted)
        return WSGIRT_IO_CLIENT_GONE;
    if (!len)
        return WSGIRT_IO_OK;
    mmap_allowed = wsgi_mmap_allowed(r);
    if (!io->enable_sendfile && mmap_allowed &&
        wsgirt_file_map(fd, offset, len, &mapped) == WSGIRT_STATUS_OK) {
        APR_BRIGADE_INSERT_TAIL(io->out, wsgi_mapped_bucket_create(mapped, (apr_size_t)len, ba));
        APR_BRIGADE_INSERT_TAIL(io->out, apr_bucket_flush_create(ba));
        return WSGIRT_IO_OK;
    }
    if (apr_os_file_put(&file, &osfd,
                        APR_FOPEN_READ | (io->enable_sendfile ? APR_SENDFILE_ENABLED : 0),
                        r->pool) != APR_SUCCESS ||
        apr_file_dup(&copy, file, r->pool) != APR_SUCCESS)
        return WSGIRT_IO_ERROR;
    apr_brigade_insert_file(io->out, copy, (apr_off_t)offset, (apr_off_t)len, r->pool);
    /* Every file bucket held in io->out was queued here for this request. */
    for (b = APR_BRIGADE_FIRST(io->out); b != APR_BRIGADE_SENTINEL(io->out); b = APR_BUCKET_NEXT(b))
        if (APR_BUCKET_IS_FILE(b))
            apr_bucket_file_enable_mmap(b, mmap_allowed);
    APR_BRIGADE_INSERT_TAIL(io->out, apr_bucket_flush_create(ba));
    return WSGIRT_IO_OK;
}

static const wsgirt_host_io wsgi_host_io = {
    sizeof(wsgirt_host_io), wsgi_io_read, wsgi_io_start_response, wsgi_io_write, wsgi_io_send_file,
};

/* ---------------------------------------------------------------------------
 * 8. The content handler
 * ------------------------------------------------------------------------- */

/* mod_wsgi's "<message>: <file>" error line, after its id (WSGIRT_LOGNO). */
static void wsgi_log_script_error(request_rec *r, const char *logno, const char *message,
                                  const char *file)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "%s%s: %s", logno, message,
                  file ? file : r->filename);
}

/* Ends a started response: EOS, or a visible truncation when it is incomplete. */
static int wsgi_end_response(request_rec *r, wsgi_io_t *io, int incomplete)
{
    if (incomplete && io->daemon && !io->passed && !r->connection->aborted) {
        /* The daemon failed after its headers but before any body reached Apache:
         * nothing went out yet, so answer 500 (an EOS now would make Apache add
         * "Content-Length: 0" and the cut-short response would look complete). */
        r->connection->keepalive = AP_CONN_CLOSE;
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (incomplete) {
        /* No last chunk and no keep-alive: the client sees the body was cut short. */
        r->connection->keepalive = AP_CONN_CLOSE;
        if (r->chunked) {
            r->eos_sent = 1;
            return OK;
        }
    }
    if (r->connection->aborted)
        return OK;
    APR_BRIGADE_INSERT_TAIL(io->out, apr_bucket_eos_create(r->connection->bucket_alloc));
    (void)wsgi_io_pass(io);
    /* OK also after a client disconnect: the access log keeps the app's status. */
    return OK;
}

/* Runs the request in the runtime and turns its status into Apache's. */
static int wsgi_execute_script(request_rec *r, const wsgi_req_t *rc)
{
    wsgirt_request_spec spec;
    wsgirt_request_result result;
    wsgi_io_t io;
    const char *script = *rc->handler_script ? rc->handler_script : r->filename;
    wsgirt_status status;
    size_t count = 0;
    int daemon = *rc->process_group != '\0';

    if (!daemon && !wsgi_runtime) {
        ap_log_rerror(APLOG_MARK, APLOG_CRIT, 0, r,
                      WSGIRT_LOGNO(0703) "mod_wsgi (pid=%d): "
                                         "Python is not available in this "
                                         "process (see the "
                                         "startup messages): %s",
                      (int)getpid(), script);
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    memset(&io, 0, sizeof(io));
    io.r = r;
    io.out = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    io.chunked_request = rc->chunked_request;
    io.enable_sendfile = rc->enable_sendfile;
    io.daemon = daemon;
    io.error_override = rc->error_override;

    /* In daemon mode the daemon adds mod_wsgi.script_start itself. */
    apr_table_addn(r->subprocess_env, daemon ? "mod_wsgi.queue_start" : "mod_wsgi.script_start",
                   apr_ltoa(r->pool, (long)apr_time_now()));
    if (daemon)
        apr_table_setn(r->subprocess_env, WSGI_DAEMON_SERVER_VAR, wsgi_daemon_server_index(r));

    memset(&spec, 0, sizeof(spec));
    spec.struct_size = sizeof(spec);
    spec.application_group.ptr = rc->application_group;
    spec.application_group.len = strlen(rc->application_group);
    spec.script_path.ptr = script;
    spec.script_path.len = strlen(script);
    spec.callable_object.ptr = rc->callable_object;
    spec.callable_object.len = strlen(rc->callable_object);
    spec.reload_script = rc->script_reloading != 0;
    spec.script_mtime =
        (!*rc->handler_script && (r->finfo.valid & APR_FINFO_MTIME)) ? r->finfo.mtime : 0;
    spec.environ = wsgi_environ_pairs(r, &count);
    spec.environ_len = count;
    spec.log_ctx = r;

    memset(&result, 0, sizeof(result));
    result.struct_size = sizeof(result);
    if (daemon)
        status = wsgi_daemon_execute(r, rc->process_group, &spec, &wsgi_host_io, &io, &result);
    else
        status = wsgirt_request_run(wsgi_runtime, &spec, &wsgi_host_io, &io, &result);

    if (io.redirect && status == WSGIRT_STATUS_OK && !result.incomplete) {
        /* A GET without a body, as mod_wsgi's daemon mode does it. */
        r->method = "GET";
        r->method_number = M_GET;
        apr_table_unset(r->headers_in, "Content-Length");
        ap_internal_redirect_handler(io.redirect, r);
        return OK;
    }
    if (io.override_status && status == WSGIRT_STATUS_OK && !result.incomplete) {
        /* WSGIErrorOverride: Apache's error document replaces the application's. */
        r->status = HTTP_OK;
        r->status_line = NULL;
        return io.override_status;
    }

    switch (status) {
    case WSGIRT_STATUS_OK:
        return wsgi_end_response(r, &io, result.incomplete);
    case WSGIRT_STATUS_CLIENT_GONE:
        return OK;
    case WSGIRT_STATUS_CALLABLE_NOT_FOUND:
        return HTTP_NOT_FOUND;
    case WSGIRT_STATUS_DAEMON_UNAVAILABLE:
        return HTTP_SERVICE_UNAVAILABLE;
    case WSGIRT_STATUS_DAEMON_TIMEOUT:
    case WSGIRT_STATUS_REQUEST_TIMEOUT:
        return HTTP_GATEWAY_TIME_OUT;
    case WSGIRT_STATUS_BODY_TIMEOUT:
        /* The client stalled mid-body past Timeout (logged): mod_wsgi's 408. */
        return HTTP_REQUEST_TIME_OUT;
    case WSGIRT_STATUS_SCRIPT_LOAD_FAILED:
    case WSGIRT_STATUS_APP_ERROR:
    case WSGIRT_STATUS_DAEMON_FAILED:
        break;
    case WSGIRT_STATUS_INTERPRETER_FAILED:
        ap_log_rerror(APLOG_MARK, APLOG_CRIT, 0, r,
                      WSGIRT_LOGNO(0704) "mod_wsgi (pid=%d): "
                                         "Cannot acquire interpreter '%s'.",
                      (int)getpid(), rc->application_group);
        break;
    default:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGIRT_LOGNO(0705) "mod_wsgi (pid=%d): "
                                         "Request failed in wsgirt: %s: %s",
                      (int)getpid(), wsgirt_status_str(status), script);
        break;
    }
    if (io.started)
        return wsgi_end_response(r, &io, 1);
    /* An input filter that already answered (413 on a chunked body) keeps its response. */
    return io.filter_error ? AP_FILTER_ERROR : HTTP_INTERNAL_SERVER_ERROR;
}

/* Request body framing checks (WSGIChunkedRequest, Content-Length, LimitRequestBody). */
static int wsgi_check_body(request_rec *r, const wsgi_req_t *rc)
{
    const char *te = apr_table_get(r->headers_in, "Transfer-Encoding");
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    if (te) {
        if (strcasecmp(te, "chunked")) {
            wsgi_log_script_error(r, WSGIRT_LOGNO(0710),
                                  apr_psprintf(r->pool,
                                               "Unexpected value for Transfer-Encoding of '%s' "
                                               "supplied. Only 'chunked' supported.",
                                               te),
                                  NULL);
            return HTTP_NOT_IMPLEMENTED;
        }
        if (!rc->chunked_request) {
            wsgi_log_script_error(r, WSGIRT_LOGNO(0711),
                                  "Received request requiring chunked transfer encoding, but "
                                  "optional support for chunked transfer encoding has not been "
                                  "enabled.",
                                  NULL);
            return HTTP_LENGTH_REQUIRED;
        }
    }
    if (cl) {
        apr_off_t length, limit;
        char *end;
        if (apr_strtoff(&length, cl, &end, 10) != APR_SUCCESS || *end || length < 0) {
            wsgi_log_script_error(r, WSGIRT_LOGNO(0712),
                                  apr_psprintf(r->pool,
                                               "Invalid Content-Length header value of '%s' was "
                                               "supplied.",
                                               cl),
                                  NULL);
            return HTTP_BAD_REQUEST;
        }
        /* Let HTTP_IN answer 413 now rather than when the application reads. */
        limit = ap_get_limit_req_body(r);
        if (limit && limit < length) {
            ap_discard_request_body(r);
            return DONE;
        }
    }
    return OK;
}

/* Daemon-mode routing checks (WSGIRestrictProcess, the group exists). */
static int wsgi_check_process_group(request_rec *r, const wsgi_req_t *rc)
{
    int i;

    if (rc->restrict_process && !apr_table_get(rc->restrict_process, rc->process_group)) {
        wsgi_log_script_error(r, WSGIRT_LOGNO(0713),
                              apr_psprintf(r->pool,
                                           "Daemon process called '%s' cannot be accessed by "
                                           "this WSGI application as not a member of allowed "
                                           "groups",
                                           rc->process_group),
                              NULL);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!*rc->process_group)
        return OK;
    for (i = 0; wsgi_daemon_list && i < wsgi_daemon_list->nelts; ++i) {
        if (!strcmp(APR_ARRAY_IDX(wsgi_daemon_list, i, wsgi_daemon_t).name, rc->process_group))
            return wsgi_daemon_check_script(r, rc->process_group); /* daemon.c proxies it */
    }
    wsgi_log_script_error(r, WSGIRT_LOGNO(0714),
                          apr_psprintf(r->pool,
                                       "No WSGI daemon process called '%s' has been configured",
                                       rc->process_group),
                          NULL);
    return HTTP_INTERNAL_SERVER_ERROR;
}

/*
 * A hook script's application-group= (WSGIAccessScript, WSGIAuthUserScript,
 * WSGIAuthGroupScript, WSGIDispatchScript), expanded as mod_wsgi's
 * wsgi_server_group does: %{GLOBAL} (the default), %{SERVER} and %{HOST};
 * any other value, %{RESOURCE} and %{ENV:...} included, names the interpreter
 * as written.
 */
static const char *wsgi_hook_group(request_rec *r, const char *s)
{
    if (!s || !strcmp(s, "%{GLOBAL}"))
        return "";
    if (!strcmp(s, "%{SERVER}"))
        return wsgi_host_port(r, r->server->server_hostname);
    if (!strcmp(s, "%{HOST}"))
        return wsgi_host_port(r, (r->hostname && *r->hostname) ? r->hostname
                                                               : r->server->server_hostname);
    return s;
}

static int wsgi_handler(request_rec *r)
{
    const wsgi_alias_t *alias;
    wsgi_script_t *handler_script = NULL;
    const char *process_group, *application_group, *callable_object;
    wsgi_req_t rc;
    int status;

    if (!r->handler)
        return DECLINED;
    if (strcmp(r->handler, WSGI_HANDLER) && strcmp(r->handler, WSGI_HANDLER_MIME)) {
        if (!(handler_script = wsgi_find_handler_script(r)))
            return DECLINED;
    }

    wsgi_resolve(r, &rc);
    process_group = rc.process_group;
    application_group = rc.application_group;
    callable_object = rc.callable_object;

    if (!handler_script) {
        /* A WSGIScriptAlias set the handler in translate_name. */
        alias = ap_get_module_config(r->request_config, &wsgi_module);
        if (alias && strcmp(r->handler, WSGI_HANDLER))
            alias = NULL;

        /* ExecCGI covers any executable script, also one run in-process. */
        if (!alias && !(ap_allow_options(r) & OPT_EXECCGI)) {
            wsgi_log_script_error(r, WSGIRT_LOGNO(0715), "Options ExecCGI is off in this directory",
                                  NULL);
            return HTTP_FORBIDDEN;
        }
        if (r->finfo.filetype == APR_NOFILE) {
            wsgi_log_script_error(r, WSGIRT_LOGNO(0716),
                                  "Target WSGI script not found or unable to stat", NULL);
            return HTTP_NOT_FOUND;
        }
        if (r->finfo.filetype == APR_DIR) {
            wsgi_log_script_error(r, WSGIRT_LOGNO(0717),
                                  "Attempt to invoke directory as WSGI application", NULL);
            return HTTP_FORBIDDEN;
        }
        if (alias) {
            if (alias->process_group)
                process_group = alias->process_group;
            if (alias->application_group)
                application_group = alias->application_group;
            if (alias->callable_object)
                callable_object = alias->callable_object;
            if (alias->pass_authorization != -1)
                rc.pass_authorization = alias->pass_authorization;
        }
    } else {
        rc.handler_script = handler_script->path;
        callable_object = "handle_request";
        if (handler_script->process_group)
            process_group = handler_script->process_group;
        if (handler_script->application_group)
            application_group = handler_script->application_group;
        if (handler_script->pass_authorization != -1)
            rc.pass_authorization = handler_script->pass_authorization;
    }
    rc.process_group = process_group ? wsgi_expand_group(r, process_group) : "";
    rc.application_group =
        application_group ? wsgi_expand_group(r, application_group) : wsgi_resource_group(r);
    rc.callable_object =
        handler_script ? callable_object : wsgi_expand_callable(r, callable_object);

    if (r->used_path_info == AP_REQ_REJECT_PATH_INFO && r->path_info && *r->path_info) {
        wsgi_log_script_error(r, WSGIRT_LOGNO(0718), "AcceptPathInfo off disallows user's path",
                              NULL);
        return HTTP_NOT_FOUND;
    }
    if ((status = wsgi_check_body(r, &rc)) != OK)
        return status == DONE ? OK : status;

    wsgi_build_environment(r, &rc);

    if (rc.dispatch_script) {
        /* mod_wsgi's Dispatch_environ: the request's variables as built above. */
        size_t count = 0;
        const wsgirt_pair *pairs = wsgi_environ_pairs(r, &count);
        const char *group = wsgi_hook_group(r, rc.dispatch_script->application_group);
        const char *process_group = rc.process_group;
        const char *application_group = rc.application_group;
        const char *callable_object = rc.callable_object;
        if ((status = wsgi_auth_dispatch(r, rc.dispatch_script->path, group, rc.script_reloading,
                                         pairs, count, &process_group, &application_group,
                                         &callable_object)) != OK)
            return status;
        /* An answer the script gave is expanded as the directive's value is. */
        if (process_group != rc.process_group)
            rc.process_group = wsgi_expand_group(r, process_group);
        if (application_group != rc.application_group)
            rc.application_group = wsgi_expand_group(r, application_group);
        if (callable_object != rc.callable_object)
            rc.callable_object = wsgi_expand_callable(r, callable_object);
        apr_table_set(r->subprocess_env, "mod_wsgi.process_group", rc.process_group);
        apr_table_set(r->subprocess_env, "mod_wsgi.application_group", rc.application_group);
        apr_table_set(r->subprocess_env, "mod_wsgi.callable_object", rc.callable_object);
    }
    if ((status = wsgi_check_process_group(r, &rc)) != OK)
        return status;
    if (!*rc.process_group && wsgi_server_conf(wsgi_server)->restrict_embedded == 1) {
        wsgi_log_script_error(r, WSGIRT_LOGNO(0719),
                              "Embedded mode of mod_wsgi disabled by runtime configuration", NULL);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return wsgi_execute_script(r, &rc);
}

/* ---------------------------------------------------------------------------
 * 9. What auth.c needs for the access, auth and dispatch scripts
 * ------------------------------------------------------------------------- */

wsgirt_runtime *wsgi_hook_runtime(void)
{
    return wsgi_runtime;
}

const char *wsgi_hook_script(request_rec *r, wsgi_hook_kind_t kind, const char **group)
{
    const wsgi_dir_conf_t *dconf = ap_get_module_config(r->per_dir_config, &wsgi_module);
    const wsgi_script_t *script = kind == WSGI_HOOK_ACCESS      ? dconf->access_script
                                  : kind == WSGI_HOOK_AUTH_USER ? dconf->auth_user_script
                                                                : dconf->auth_group_script;
    if (!script)
        return NULL;
    /* application-group= defaults to %{GLOBAL}, the main interpreter. */
    *group = wsgi_hook_group(r, script->application_group);
    return script->path;
}

/* Appends a pair when `name` and `value` are set; the strings are not copied. */
static void wsgi_hook_pair(apr_array_header_t *pairs, const char *name, const char *value)
{
    wsgirt_pair *pair;

    if (!name || !value)
        return;
    pair = apr_array_push(pairs);
    pair->name.ptr = name;
    pair->name.len = strlen(name);
    pair->value.ptr = value;
    pair->value.len = strlen(value);
}

/*
 * mod_wsgi's Auth_environ, computed from the request alone: nothing from
 * r->subprocess_env (no SetEnv values), no trusted proxy processing
 * (REMOTE_ADDR is the peer as Apache sees it), no Authorization header.
 */
const wsgirt_pair *wsgi_hook_environ(request_rec *r, size_t *count, int *script_reloading)
{
    conn_rec *c = r->connection;
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *headers = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *pairs = apr_array_make(r->pool, arr->nelts + 20, sizeof(wsgirt_pair));
    wsgi_req_t rc;
    int i;

    for (i = 0; i < arr->nelts; ++i) {
        const char *key = headers[i].key;
        if (!key || !headers[i].val)
            continue;
        if (!strcasecmp(key, "Content-Type"))
            wsgi_hook_pair(pairs, "CONTENT_TYPE", headers[i].val);
        else if (!strcasecmp(key, "Content-Length"))
            wsgi_hook_pair(pairs, "CONTENT_LENGTH", headers[i].val);
        else if (strcasecmp(key, "Authorization") && strcasecmp(key, "Proxy-Authorization"))
            /* NULL for a name that is not letters, digits and '-': left out. */
            wsgi_hook_pair(pairs, wsgi_http2env(r->pool, key), headers[i].val);
    }
    wsgi_hook_pair(pairs, "SERVER_SIGNATURE", ap_psignature("", r));
    wsgi_hook_pair(pairs, "SERVER_SOFTWARE", ap_get_server_banner());
    wsgi_hook_pair(pairs, "SERVER_NAME", ap_escape_html(r->pool, ap_get_server_name(r)));
    wsgi_hook_pair(pairs, "SERVER_ADDR", c->local_ip);
    wsgi_hook_pair(pairs, "SERVER_PORT", apr_psprintf(r->pool, "%u", ap_get_server_port(r)));
    wsgi_hook_pair(pairs, "REMOTE_HOST",
                   ap_get_remote_host(c, r->per_dir_config, REMOTE_HOST, NULL));
    wsgi_hook_pair(pairs, "REMOTE_ADDR", r->useragent_ip);
    wsgi_hook_pair(pairs, "DOCUMENT_ROOT", ap_document_root(r));
    wsgi_hook_pair(pairs, "SERVER_ADMIN", r->server->server_admin);
    wsgi_hook_pair(pairs, "REMOTE_PORT", apr_itoa(r->pool, c->client_addr->port));
    wsgi_hook_pair(pairs, "SERVER_PROTOCOL", r->protocol);
    wsgi_hook_pair(pairs, "REQUEST_METHOD", r->method);
    wsgi_hook_pair(pairs, "QUERY_STRING", r->args ? r->args : "");
    wsgi_hook_pair(pairs, "REQUEST_URI", wsgi_original_uri(r));
    if (!strcmp(r->protocol, "INCLUDED") || !r->path_info || !*r->path_info) {
        wsgi_hook_pair(pairs, "SCRIPT_NAME", r->uri);
        wsgi_hook_pair(pairs, "PATH_INFO", r->path_info ? r->path_info : "");
    } else {
        wsgi_hook_pair(pairs, "SCRIPT_NAME",
                       apr_pstrmemdup(r->pool, r->uri, ap_find_path_info(r->uri, r->path_info)));
        wsgi_hook_pair(pairs, "PATH_INFO", r->path_info);
    }

    wsgi_resolve(r, &rc);
    *script_reloading = rc.script_reloading;
    *count = (size_t)pairs->nelts;
    return (const wsgirt_pair *)pairs->elts;
}

/* ---------------------------------------------------------------------------
 * 10. Process lifecycle: logging, post_config, child_init
 * ------------------------------------------------------------------------- */

/* The runtime's log sink: a request's lines go to its error log, the rest to the server's. */
static void wsgi_log_callback(void *userdata, uint32_t level, void *request_ctx,
                              const char *message, size_t message_len)
{
    int lvl = level > APLOG_DEBUG ? APLOG_DEBUG : (int)level;
    int len = message_len > INT_MAX ? INT_MAX : (int)message_len;
    WSGI_UNUSED(userdata);
    if (request_ctx)
        ap_log_rerror(APLOG_MARK, lvl, 0, (request_rec *)request_ctx, "%.*s", len, message);
    else
        ap_log_error(APLOG_MARK, lvl, 0, wsgi_server, "%.*s", len, message);
}

static int wsgi_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    WSGI_UNUSED(pconf);
    WSGI_UNUSED(plog);
    WSGI_UNUSED(ptemp);
    wsgi_python_required = -1;
    return OK;
}

static wsgirt_config *wsgi_daemon_runtime_config(apr_pool_t *p);
static void wsgi_daemon_import_scripts(wsgirt_runtime *runtime, const char *group);
static const wsgi_daemon_hooks_t wsgi_daemon_hooks = {wsgi_daemon_runtime_config,
                                                      wsgi_daemon_import_scripts};

/* The configuration pool for daemons started from pre_mpm (its own pool is not it). */
static apr_pool_t *wsgi_deferred_pconf;

static int wsgi_deferred_daemon_start(apr_pool_t *p, ap_scoreboard_e sb_type)
{
    const wsgi_server_conf_t *sconf = wsgi_server_conf(wsgi_server);
    WSGI_UNUSED(p);
    WSGI_UNUSED(sb_type);
    return wsgi_daemon_start(wsgi_deferred_pconf, wsgi_server, sconf->socket_prefix,
                             sconf->socket_rotation, &wsgi_daemon_hooks);
}

static int wsgi_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    const wsgi_server_conf_t *sconf = wsgi_server_conf(s);
    int i;
    WSGI_UNUSED(plog);
    WSGI_UNUSED(ptemp);

    wsgi_server = s;
    if (wsgi_python_required == -1)
        wsgi_python_required = 1;
    /* The first of the two startup passes only checks the configuration. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;

    ap_add_version_component(pconf, apr_psprintf(pconf, "wsgirt/%d.%d.%d", WSGIRT_VERSION_MAJOR,
                                                 WSGIRT_VERSION_MINOR, WSGIRT_VERSION_PATCH));
#ifdef WSGIRT_PYTHON_VERSION
    ap_add_version_component(pconf, "Python/" WSGIRT_PYTHON_VERSION);
#endif
    if (sconf->lazy_initialization == 0)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "mod_wsgi (pid=%d): WSGILazyInitialization Off is deprecated and ignored: "
                     "wsgirt always initialises Python in the child processes.",
                     (int)getpid());
    /* Daemon process groups (daemon.c): sockets, tokens, forks; never Python here. */
    for (i = 0; wsgi_daemon_list && i < wsgi_daemon_list->nelts; ++i) {
        const wsgi_daemon_t *group = &APR_ARRAY_IDX(wsgi_daemon_list, i, wsgi_daemon_t);
        wsgi_daemon_add(pconf, group->name, group->server, group->processes, group->threads,
                        group->multiprocess, group->options);
    }
    /*
     * On the first start the scoreboard does not exist yet (the MPM creates
     * it in pre_mpm): start the daemons after it, as mod_wsgi does, so that
     * they share it (mod_wsgi.server_metrics() with server-metrics=On).
     */
    if (!ap_scoreboard_image) {
        wsgi_deferred_pconf = pconf;
        ap_hook_pre_mpm(wsgi_deferred_daemon_start, NULL, NULL, APR_HOOK_REALLY_LAST);
        return OK;
    }
    return wsgi_daemon_start(pconf, s, sconf->socket_prefix, sconf->socket_rotation,
                             &wsgi_daemon_hooks);
}

static apr_status_t wsgi_child_cleanup(void *data)
{
    WSGI_UNUSED(data);
    if (wsgi_runtime) {
        wsgirt_runtime_free(wsgi_runtime);
        wsgi_runtime = NULL;
    }
    return APR_SUCCESS;
}

/* Applies one runtime setting, logging a rejected value. */
static void wsgi_configure(wsgirt_status status, const char *what, const char *value)
{
    if (status != WSGIRT_STATUS_OK)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, wsgi_server,
                     WSGIRT_LOGNO(0706) "mod_wsgi (pid=%d): "
                                        "Invalid %s '%s' ignored: %s.",
                     (int)getpid(), what, value ? value : "", wsgirt_status_str(status));
}

/* A WSGIPythonPath entry the library refused (wsgi_add_python_paths). */
static void wsgi_python_path_rejected(wsgirt_status status, const char *entry)
{
    wsgi_configure(status, "WSGIPythonPath entry", entry);
}

/* One text of the Python apache module; a NULL or non-UTF-8 text is left out. */
static void wsgi_set_host_text(wsgirt_config *config, wsgirt_host_text which, const char *text)
{
    if (text)
        (void)wsgirt_config_set_host_text(config, which, text, strlen(text));
}

/* The runtime configuration from the main server's directives and the MPM (WSGIPythonPath:
 * wsgi_child_init adds it, as it is embedded mode's only). */
static wsgirt_config *wsgi_runtime_config(const wsgi_server_conf_t *sconf)
{
    wsgirt_config *config = NULL;
    int threaded = 0, forked = 0, max_threads = 1, max_daemons = 1, max_used = -1;
    ap_version_t version;
    int i;

    if (wsgirt_config_new(&config) != WSGIRT_STATUS_OK)
        return NULL;

    if (sconf->python_home)
        wsgi_configure(
            wsgirt_config_set_python_home(config, sconf->python_home, strlen(sconf->python_home)),
            "WSGIPythonHome", sconf->python_home);
    for (i = 0; sconf->python_warnings && i < sconf->python_warnings->nelts; ++i) {
        const char *option = APR_ARRAY_IDX(sconf->python_warnings, i, const char *);
        wsgi_configure(wsgirt_config_add_warnings_option(config, option, strlen(option)),
                       "WSGIPythonWarnings", option);
    }
    if (sconf->python_hash_seed)
        wsgi_configure(wsgirt_config_set_hash_seed(config, sconf->python_hash_seed,
                                                   strlen(sconf->python_hash_seed)),
                       "WSGIPythonHashSeed", sconf->python_hash_seed);
    if (sconf->python_optimize > 0)
        wsgi_configure(wsgirt_config_set_optimize(config, sconf->python_optimize),
                       "WSGIPythonOptimize", NULL);

    /* wsgi.multithread / wsgi.multiprocess and the figures mod_wsgi reports. */
    ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded);
    if (threaded != AP_MPMQ_NOT_SUPPORTED)
        ap_mpm_query(AP_MPMQ_MAX_THREADS, &max_threads);
    ap_mpm_query(AP_MPMQ_IS_FORKED, &forked);
    if (forked != AP_MPMQ_NOT_SUPPORTED) {
        ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &max_daemons);
        ap_mpm_query(AP_MPMQ_MAX_DAEMON_USED, &max_used);
    }
    if (threaded == AP_MPMQ_NOT_SUPPORTED || max_threads <= 0)
        max_threads = 1;
    if (forked == AP_MPMQ_NOT_SUPPORTED || max_daemons <= 0)
        max_daemons = 1;
    /* mod_wsgi's maximum_processes: the highest scoreboard slot in use when
     * the process starts (the MPM's limit only when it cannot say), at
     * least 1; so 1 in a daemon forked before Apache's children. */
    if (max_used == -1)
        max_used = max_daemons;
    if (max_used <= 0)
        max_used = 1;

    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_DONT_WRITE_BYTECODE,
                                 sconf->dont_write_bytecode == 1);
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_RESTRICT_STDIN, sconf->restrict_stdin == 1);
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_RESTRICT_STDOUT, sconf->restrict_stdout == 1);
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_RESTRICT_SIGNAL, sconf->restrict_signal != 0);
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_CASE_SENSITIVE, sconf->case_sensitivity != 0);
    /* Off: process_stopping is still published, Python is left to exit(). */
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_DESTROY_INTERPRETER,
                                 sconf->destroy_interpreter != 0);
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_MULTITHREAD, max_threads != 1);
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_MULTIPROCESS, max_daemons != 1);
    (void)wsgirt_config_set_process(config, "", 0, max_used, max_threads);

    ap_get_server_revision(&version);
    (void)wsgirt_config_set_host_version(config, (uint32_t)version.major, (uint32_t)version.minor,
                                         (uint32_t)version.patch);
    /* The Python apache module describes Apache and its MPM, daemon processes included. */
    (void)wsgirt_config_set_host_workers(config, max_used, max_threads);
    wsgi_set_host_text(config, WSGIRT_HOST_DESCRIPTION, ap_get_server_description());
    wsgi_set_host_text(config, WSGIRT_HOST_MPM_NAME, ap_show_mpm());
    wsgi_set_host_text(config, WSGIRT_HOST_BUILD_DATE, ap_get_server_built());
    (void)wsgirt_config_set_log_callback(config, wsgi_log_callback, NULL);
    /* mod_wsgi.server_metrics(): WSGIServerMetrics here, server-metrics in daemon.c. */
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_SERVER_METRICS, sconf->server_metrics == 1);
    wsgi_scoreboard_install(config);
    return config;
}

/*
 * A daemon process's runtime configuration: embedded mode's without
 * WSGIPythonPath and WSGIPythonEggs, which are embedded mode's only in
 * mod_wsgi; daemon.c adds the group's python-path= and python-eggs=.
 */
static wsgirt_config *wsgi_daemon_runtime_config(apr_pool_t *p)
{
    WSGI_UNUSED(p);
    return wsgi_runtime_config(wsgi_server_conf(wsgi_server));
}

/* WSGIImportScript ... process-group=<group>, in the daemon process. */
static void wsgi_daemon_import_scripts(wsgirt_runtime *runtime, const char *group)
{
    int i;
    for (i = 0; wsgi_import_list && i < wsgi_import_list->nelts; ++i) {
        const wsgi_script_t *entry = &APR_ARRAY_IDX(wsgi_import_list, i, wsgi_script_t);
        if (strcmp(entry->process_group, group))
            continue;
        (void)wsgirt_runtime_import_script(runtime, entry->application_group,
                                           strlen(entry->application_group), entry->path,
                                           strlen(entry->path));
    }
}

/* Starts Python in this child (never in the parent) and preloads scripts. */
static void wsgi_child_init(apr_pool_t *p, server_rec *s)
{
    const wsgi_server_conf_t *sconf = wsgi_server_conf(s);
    wsgirt_config *config;
    wsgirt_status status;
    int i;

    wsgi_server = s;
    wsgi_daemon_child_signals();
    if (!wsgi_python_required) {
        /* No runtime here: the daemon proxy's lines still need a sink. */
        wsgi_daemon_child_init(s, wsgi_log_callback, NULL);
        return;
    }
    if (sconf->python_eggs)
        setenv("PYTHON_EGG_CACHE", sconf->python_eggs, 1);
    if (!(config = wsgi_runtime_config(sconf))) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, 0, s,
                     WSGIRT_LOGNO(0707) "mod_wsgi (pid=%d): "
                                        "Cannot create the wsgirt configuration.",
                     (int)getpid());
        return;
    }
    /* apache2 -X (DEBUG) or -DONE_PROCESS serves from Apache's own process:
     * as mod_wsgi, sys.stdout and sys.stdin stay the console's there, so
     * pdb can be used. */
    (void)wsgirt_config_set_flag(config, WSGIRT_FLAG_CONSOLE_STDIO,
                                 ap_exists_config_define("DEBUG") ||
                                     ap_exists_config_define("ONE_PROCESS"));
    /* WSGIPythonPath: embedded mode only (daemons use their python-path=). */
    if (sconf->python_path)
        wsgi_add_python_paths(p, config, sconf->python_path, wsgi_python_path_rejected);
    status = wsgirt_runtime_new(WSGIRT_ABI_VERSION, config, &wsgi_runtime);
    wsgirt_config_free(config);
    if (status != WSGIRT_STATUS_OK) {
        wsgi_runtime = NULL;
        ap_log_error(APLOG_MARK, APLOG_ALERT, 0, s,
                     WSGIRT_LOGNO(0708) "mod_wsgi (pid=%d): "
                                        "Cannot start Python (libwsgirt %u.%u, "
                                        "ABI %u): %s.",
                     (int)getpid(), wsgirt_version() / 10000, wsgirt_version() / 100 % 100,
                     wsgirt_abi_version(), wsgirt_status_str(status));
        return;
    }
    apr_pool_cleanup_register(p, NULL, wsgi_child_cleanup, apr_pool_cleanup_null);

    /* Embedded preloads; the runtime logs load failures with their tracebacks. */
    for (i = 0; wsgi_import_list && i < wsgi_import_list->nelts; ++i) {
        const wsgi_script_t *entry = &APR_ARRAY_IDX(wsgi_import_list, i, wsgi_script_t);
        if (*entry->process_group)
            continue;
        (void)wsgirt_runtime_import_script(wsgi_runtime, entry->application_group,
                                           strlen(entry->application_group), entry->path,
                                           strlen(entry->path));
    }
}

/* ---------------------------------------------------------------------------
 * 11. Command table, hook registration, module record
 * ------------------------------------------------------------------------- */

#define WSGI_SCOPE(field)  ((void *)APR_OFFSETOF(wsgi_scope_t, field))
#define WSGI_SERVER(field) ((void *)APR_OFFSETOF(wsgi_server_conf_t, field))
#define WSGI_DIR(field)    ((void *)APR_OFFSETOF(wsgi_dir_conf_t, field))

static const command_rec wsgi_commands[] = {
    /* URL mapping and what runs */
    AP_INIT_RAW_ARGS("WSGIScriptAlias", wsgi_add_script_alias, NULL, RSRC_CONF,
                     "Map location to target WSGI script file."),
    AP_INIT_RAW_ARGS("WSGIScriptAliasMatch", wsgi_add_script_alias, "*", RSRC_CONF,
                     "Map location pattern to target WSGI script file."),
    AP_INIT_TAKE1("WSGIApplicationGroup", wsgi_set_scope_string, WSGI_SCOPE(application_group),
                  ACCESS_CONF | RSRC_CONF, "Application interpreter group."),
    AP_INIT_TAKE1("WSGICallableObject", wsgi_set_scope_string, WSGI_SCOPE(callable_object),
                  OR_FILEINFO, "Name of entry point in WSGI script file."),
    AP_INIT_RAW_ARGS("WSGIImportScript", wsgi_add_import_script, NULL, RSRC_CONF,
                     "Location of WSGI import script."),
    AP_INIT_RAW_ARGS("WSGIHandlerScript", wsgi_add_handler_script, NULL, ACCESS_CONF | RSRC_CONF,
                     "Location of WSGI handler script file."),
    AP_INIT_RAW_ARGS("WSGIDispatchScript", wsgi_set_dispatch_script, NULL, ACCESS_CONF | RSRC_CONF,
                     "Location of WSGI dispatch script."),

    /* Python */
    AP_INIT_TAKE1("WSGIPythonHome", wsgi_set_global_string, WSGI_SERVER(python_home), RSRC_CONF,
                  "Python prefix/exec_prefix absolute path names."),
    AP_INIT_TAKE1("WSGIPythonPath", wsgi_set_global_string, WSGI_SERVER(python_path), RSRC_CONF,
                  "Python module search path."),
    AP_INIT_TAKE1("WSGIPythonEggs", wsgi_set_global_string, WSGI_SERVER(python_eggs), RSRC_CONF,
                  "Python eggs cache directory."),
    AP_INIT_TAKE1("WSGIPythonOptimize", wsgi_set_python_optimize, NULL, RSRC_CONF,
                  "Set level of Python compiler optimisations."),
    AP_INIT_TAKE1("WSGIPythonHashSeed", wsgi_set_python_hash_seed, NULL, RSRC_CONF,
                  "Python hash seed."),
    AP_INIT_TAKE1("WSGIPythonWarnings", wsgi_add_python_warnings, NULL, RSRC_CONF,
                  "Control Python warning messages."),
    AP_INIT_TAKE1("WSGIDontWriteBytecode", wsgi_set_global_flag, WSGI_SERVER(dont_write_bytecode),
                  RSRC_CONF, "Enable/Disable writing of byte code."),
    AP_INIT_TAKE1("WSGILazyInitialization", wsgi_set_lazy_initialization, NULL, RSRC_CONF,
                  "Enable/Disable lazy Python initialization."),
    AP_INIT_TAKE1("WSGIDestroyInterpreter", wsgi_set_global_flag, WSGI_SERVER(destroy_interpreter),
                  RSRC_CONF, "Enable/Disable destruction of Python interpreter."),
    AP_INIT_TAKE1("WSGICaseSensitivity", wsgi_set_global_flag, WSGI_SERVER(case_sensitivity),
                  RSRC_CONF, "Define whether file system is case sensitive."),

    /* Restrictions */
    AP_INIT_TAKE1("WSGIRestrictEmbedded", wsgi_set_global_flag, WSGI_SERVER(restrict_embedded),
                  RSRC_CONF, "Enable/Disable use of embedded mode."),
    AP_INIT_TAKE1("WSGIRestrictStdin", wsgi_set_global_flag, WSGI_SERVER(restrict_stdin), RSRC_CONF,
                  "Enable/Disable restrictions on use of STDIN."),
    AP_INIT_TAKE1("WSGIRestrictStdout", wsgi_set_global_flag, WSGI_SERVER(restrict_stdout),
                  RSRC_CONF, "Enable/Disable restrictions on use of STDOUT."),
    AP_INIT_TAKE1("WSGIRestrictSignal", wsgi_set_global_flag, WSGI_SERVER(restrict_signal),
                  RSRC_CONF, "Enable/Disable restrictions on use of signal()."),
    AP_INIT_RAW_ARGS("WSGIRestrictProcess", wsgi_set_restrict_process, NULL,
                     ACCESS_CONF | RSRC_CONF, "Limit selectable WSGI process groups."),

    /* Per-request behaviour */
    AP_INIT_TAKE1("WSGIPassAuthorization", wsgi_set_scope_flag, WSGI_SCOPE(pass_authorization),
                  OR_FILEINFO, "Enable/Disable WSGI authorization."),
    AP_INIT_TAKE1("WSGIPassApacheRequest", wsgi_set_scope_flag, WSGI_SCOPE(pass_apache_request),
                  ACCESS_CONF | RSRC_CONF, "Enable/Disable Apache request object."),
    AP_INIT_TAKE1("WSGIScriptReloading", wsgi_set_scope_flag, WSGI_SCOPE(script_reloading),
                  OR_FILEINFO, "Enable/Disable script reloading mechanism."),
    AP_INIT_TAKE1("WSGIErrorOverride", wsgi_set_scope_flag, WSGI_SCOPE(error_override), OR_FILEINFO,
                  "Enable/Disable overriding of error pages."),
    AP_INIT_TAKE1("WSGIChunkedRequest", wsgi_set_scope_flag, WSGI_SCOPE(chunked_request),
                  OR_FILEINFO, "Enable/Disable support for chunked requests."),
    AP_INIT_TAKE1("WSGIMapHEADToGET", wsgi_set_map_head_to_get, NULL, OR_FILEINFO,
                  "Enable/Disable mapping of HEAD to GET."),
    AP_INIT_TAKE1("WSGIIgnoreActivity", wsgi_set_scope_flag, WSGI_SCOPE(ignore_activity),
                  OR_FILEINFO, "Enable/Disable reset of inactvity timeout."),
    AP_INIT_TAKE1("WSGIEnableSendfile", wsgi_set_scope_flag, WSGI_SCOPE(enable_sendfile),
                  OR_FILEINFO, "Enable/Disable support for kernel sendfile."),
    AP_INIT_RAW_ARGS("WSGITrustedProxyHeaders", wsgi_set_trusted_proxy_headers, NULL, OR_FILEINFO,
                     "Specify a list of trusted proxy headers."),
    AP_INIT_RAW_ARGS("WSGITrustedProxies", wsgi_set_trusted_proxies, NULL, OR_FILEINFO,
                     "Specify a list of trusted proxies."),

    /* Auth scripts (placeholders until implemented, see section 9) */
    AP_INIT_RAW_ARGS("WSGIAccessScript", wsgi_set_auth_script, NULL, OR_AUTHCFG,
                     "Location of WSGI host access script file."),
    AP_INIT_RAW_ARGS("WSGIAuthUserScript", wsgi_set_auth_script, NULL, OR_AUTHCFG,
                     "Location of WSGI user auth script file."),
    AP_INIT_RAW_ARGS("WSGIAuthGroupScript", wsgi_set_auth_script, NULL, OR_AUTHCFG,
                     "Location of WSGI group auth script file."),
    AP_INIT_TAKE1("WSGIUserAuthoritative", wsgi_set_dir_flag, WSGI_DIR(user_authoritative),
                  OR_AUTHCFG, "Enable/Disable as being authoritative on users."),
    AP_INIT_TAKE1("WSGIGroupAuthoritative", wsgi_set_dir_flag, WSGI_DIR(group_authoritative),
                  OR_AUTHCFG, "Enable/Disable as being authoritative on groups."),

    /* Daemon mode (stored until implemented) */
    AP_INIT_RAW_ARGS("WSGIDaemonProcess", wsgi_add_daemon_process, NULL, RSRC_CONF,
                     "Specify details of daemon processes to start."),
    AP_INIT_TAKE1("WSGIProcessGroup", wsgi_set_scope_string, WSGI_SCOPE(process_group),
                  ACCESS_CONF | RSRC_CONF, "Name of the WSGI process group."),
    AP_INIT_TAKE1("WSGISocketPrefix", wsgi_set_socket_prefix, NULL, RSRC_CONF,
                  "Path prefix for the daemon process sockets."),
    AP_INIT_TAKE1("WSGISocketRotation", wsgi_set_global_flag, WSGI_SERVER(socket_rotation),
                  RSRC_CONF, "Enable/Disable rotation of daemon process sockets."),
    AP_INIT_TAKE1("WSGIAcceptMutex", wsgi_set_accept_mutex, NULL, RSRC_CONF,
                  "Set accept mutex type for daemon processes."),

    /* Diagnostics and integrations */
    AP_INIT_TAKE1("WSGIServerMetrics", wsgi_set_global_flag, WSGI_SERVER(server_metrics), RSRC_CONF,
                  "Enabled/Disable access to server metrics."),
    AP_INIT_TAKE1("WSGIVerboseDebugging", wsgi_set_global_flag, WSGI_SERVER(verbose_debugging),
                  RSRC_CONF, "Enable/Disable verbose debugging messages."),
    AP_INIT_TAKE1("WSGINewRelicConfigFile", wsgi_set_global_string,
                  WSGI_SERVER(newrelic_config_file), RSRC_CONF,
                  "New Relic monitoring agent configuration file."),
    AP_INIT_TAKE1("WSGINewRelicEnvironment", wsgi_set_global_string,
                  WSGI_SERVER(newrelic_environment), RSRC_CONF,
                  "New Relic monitoring agent environment."),
    {NULL}};

static void wsgi_register_hooks(apr_pool_t *p)
{
    static const char *const before_translate[] = {"mod_alias.c", NULL};
    static const char *const after_translate[] = {"mod_userdir.c", "mod_vhost_alias.c", NULL};

    ap_hook_pre_config(wsgi_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(wsgi_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(wsgi_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(wsgi_translate_name, before_translate, after_translate, APR_HOOK_MIDDLE);
    ap_hook_handler(wsgi_handler, NULL, NULL, APR_HOOK_MIDDLE);
    wsgi_auth_register_hooks(p);
}

module AP_MODULE_DECLARE_DATA wsgi_module = {
    STANDARD20_MODULE_STUFF,
    wsgi_create_dir_config,    /* per-directory config */
    wsgi_merge_dir_config,     /* merge per-directory config */
    wsgi_create_server_config, /* per-server config */
    wsgi_merge_server_config,  /* merge per-server config */
    wsgi_commands,             /* directives */
    wsgi_register_hooks,       /* hooks */
    AP_MODULE_FLAG_NONE        /* flags */
};
