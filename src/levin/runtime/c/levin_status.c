/* levin_status.c -- names of levin_status values (designated initializers: order cannot drift). 
 * SPDX-License-Identifier: Apache-2.0 */
#include "levin_runtime.h"

static const char *const status_names[] = {
    [LEVIN_OK] = "ok",
    [LEVIN_ERR_ARG] = "bad argument",
    [LEVIN_ERR_CORRUPT] = "corrupt weight stream",
    [LEVIN_ERR_UNSUPPORTED] = "unsupported weight format",
    [LEVIN_ERR_ARENA] = "arena too small or misaligned",
};

const char *levin_status_str(levin_status status) {
    if ((unsigned)status < sizeof(status_names) / sizeof(status_names[0]) && status_names[status]) {
        return status_names[status];
    }
    return "unknown status";
}
