/*
 * C API contract without Python: versions, status strings, NULL and
 * invalid arguments, the ABI handshake, shared file mappings. Uses nothing
 * but include/wsgirt.h.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp, pipe */
#include "wsgirt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* wsgirt_file_map / wsgirt_file_release from C: the bytes at an offset,
 * outputs untouched on refusal, release through the APR-style pointer. */
static void check_file_map(void)
{
    char path[] = "/tmp/wsgirt-contract-XXXXXX";
    char data[5000];
    const uint8_t *mapped = (const uint8_t *)&failures, *same = NULL;
    int pipefd[2];
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7);
    CHECK(write(fd, data, sizeof(data)) == (ssize_t)sizeof(data));
    CHECK(wsgirt_file_map(fd, 0, sizeof(data) + 1, &mapped) == WSGIRT_STATUS_UNSUPPORTED);
    CHECK(mapped == (const uint8_t *)&failures);
    CHECK(wsgirt_file_map(fd, 0, 1, NULL) == WSGIRT_STATUS_NULL_ARG);
    CHECK(wsgirt_file_map(-1, 0, 1, &mapped) == WSGIRT_STATUS_INVALID_ARG);
    CHECK(wsgirt_file_map(fd, 100, 1000, &mapped) == WSGIRT_STATUS_OK);
    CHECK(memcmp(mapped, data + 100, 1000) == 0);
    CHECK(wsgirt_file_map(fd, 0, sizeof(data), &same) == WSGIRT_STATUS_OK);
    CHECK(same + 100 == mapped);
    wsgirt_file_release((void *)mapped);
    wsgirt_file_release((void *)same);
    CHECK(pipe(pipefd) == 0);
    CHECK(wsgirt_file_map(pipefd[0], 0, 1, &mapped) == WSGIRT_STATUS_UNSUPPORTED);
    close(pipefd[0]);
    close(pipefd[1]);
    close(fd);
    unlink(path);
}

int main(void)
{
    CHECK(wsgirt_abi_version() == WSGIRT_ABI_VERSION);
    CHECK(wsgirt_version() == WSGIRT_VERSION_NUMBER);

    static const uint32_t known[] = {
        WSGIRT_STATUS_OK,
        WSGIRT_STATUS_NULL_ARG,
        WSGIRT_STATUS_INVALID_ARG,
        WSGIRT_STATUS_PANIC,
        WSGIRT_STATUS_ABI_MISMATCH,
        WSGIRT_STATUS_WRONG_PROCESS,
        WSGIRT_STATUS_ALREADY_INITIALIZED,
        WSGIRT_STATUS_SHUTTING_DOWN,
        WSGIRT_STATUS_UNSUPPORTED,
        WSGIRT_STATUS_PYTHON_INIT_FAILED,
        WSGIRT_STATUS_INTERPRETER_FAILED,
        WSGIRT_STATUS_SCRIPT_LOAD_FAILED,
        WSGIRT_STATUS_CALLABLE_NOT_FOUND,
        WSGIRT_STATUS_APP_ERROR,
        WSGIRT_STATUS_CLIENT_GONE,
        WSGIRT_STATUS_REQUEST_TIMEOUT,
        WSGIRT_STATUS_DAEMON_UNAVAILABLE,
        WSGIRT_STATUS_DAEMON_TIMEOUT,
        WSGIRT_STATUS_DAEMON_FAILED,
        WSGIRT_STATUS_BODY_TIMEOUT,
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const char *text = wsgirt_status_str(known[i]);
        CHECK(text != NULL);
        CHECK(strcmp(text, "unknown status") != 0);
    }
    CHECK(strcmp(wsgirt_status_str(12345), "unknown status") == 0);
    CHECK(strcmp(wsgirt_status_str(WSGIRT_STATUS_OK), "ok") == 0);

    CHECK(wsgirt_config_new(NULL) == WSGIRT_STATUS_NULL_ARG);
    wsgirt_config_free(NULL);
    wsgirt_runtime_free(NULL);

    wsgirt_config *cfg = NULL;
    CHECK(wsgirt_config_new(&cfg) == WSGIRT_STATUS_OK);
    CHECK(cfg != NULL);
    CHECK(wsgirt_config_set_hash_seed(cfg, "abc", 3) == WSGIRT_STATUS_INVALID_ARG);
    CHECK(wsgirt_config_set_hash_seed(cfg, "random", 6) == WSGIRT_STATUS_OK);
    CHECK(wsgirt_config_set_hash_seed(cfg, "42", 2) == WSGIRT_STATUS_OK);
    CHECK(wsgirt_config_set_hash_seed(cfg, NULL, 0) == WSGIRT_STATUS_NULL_ARG);
    CHECK(wsgirt_config_set_optimize(cfg, -1) == WSGIRT_STATUS_INVALID_ARG);
    CHECK(wsgirt_config_set_optimize(cfg, 3) == WSGIRT_STATUS_OK); /* as python -OOO */
    CHECK(wsgirt_config_set_flag(cfg, 0, true) == WSGIRT_STATUS_INVALID_ARG);
    CHECK(wsgirt_config_set_flag(cfg, WSGIRT_FLAG_CASE_SENSITIVE, true) == WSGIRT_STATUS_OK);
    CHECK(wsgirt_config_set_python_home(NULL, "/usr", 4) == WSGIRT_STATUS_NULL_ARG);
    CHECK(wsgirt_config_add_python_path(cfg, "/srv/x", 6) == WSGIRT_STATUS_OK);
    CHECK(wsgirt_config_set_home_directory(cfg, "/srv/home", 9) == WSGIRT_STATUS_OK);
    CHECK(wsgirt_config_set_process(cfg, "", 0, 1, 1) == WSGIRT_STATUS_OK);

    /* Outputs are untouched on failure. */
    wsgirt_runtime *rt = (wsgirt_runtime *)&failures;
    CHECK(wsgirt_runtime_new(WSGIRT_ABI_VERSION + 1, cfg, &rt) == WSGIRT_STATUS_ABI_MISMATCH);
    CHECK(rt == (wsgirt_runtime *)&failures);
    CHECK(wsgirt_runtime_new(WSGIRT_ABI_VERSION, NULL, &rt) == WSGIRT_STATUS_NULL_ARG);
    CHECK(rt == (wsgirt_runtime *)&failures);
    CHECK(wsgirt_runtime_new(WSGIRT_ABI_VERSION, cfg, NULL) == WSGIRT_STATUS_NULL_ARG);

    wsgirt_request_result result = {.struct_size = sizeof(result), .http_status = 7};
    CHECK(wsgirt_request_run(NULL, NULL, NULL, NULL, &result) == WSGIRT_STATUS_NULL_ARG);
    CHECK(result.http_status == 7);
    CHECK(wsgirt_runtime_prepare_group(NULL, "g", 1) == WSGIRT_STATUS_NULL_ARG);
    CHECK(wsgirt_runtime_import_script(NULL, "", 0, "/x.wsgi", 7) == WSGIRT_STATUS_NULL_ARG);

    wsgirt_config_free(cfg);
    check_file_map();
    printf("contract: %s (%d failed checks)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
