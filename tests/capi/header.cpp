// The generated header compiles as C++17 (-Wall -Wextra -Wpedantic -Werror)
// and links against the library from C++.
#include "wsgirt.h"

#include <cstdio>
#include <cstring>
#include <type_traits>

static_assert(std::is_same<std::underlying_type<wsgirt_status>::type, uint32_t>::value,
              "wsgirt_status is 32 bits");
static_assert(WSGIRT_STATUS_CLIENT_GONE == 301, "status values never change");
static_assert(WSGIRT_IO_ERROR == 3, "io values never change");
static_assert(std::is_standard_layout<wsgirt_request_spec>::value, "C layout");

int main()
{
    wsgirt_status status = WSGIRT_STATUS_OK;
    const char *text = wsgirt_status_str(status);
    if (std::strcmp(text, "ok") != 0 || wsgirt_abi_version() != WSGIRT_ABI_VERSION) {
        std::puts("header.cpp: FAILED");
        return 1;
    }
    wsgirt_config *cfg = nullptr;
    if (wsgirt_config_new(&cfg) != WSGIRT_STATUS_OK) {
        return 1;
    }
    wsgirt_config_free(cfg);
    std::puts("header.cpp: ok");
    return 0;
}
