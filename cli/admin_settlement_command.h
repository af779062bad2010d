#pragma once

// `switchyard admin settlement ...` (docs/admin.md): settlement runs through the admin API.

#include <string>
#include <vector>

#include "cli/commands.h"
#include "switch/admin/admin_client.h"

namespace sy::cli {

// `positional` starts with "settlement": run DATE | list [DATE] | show DATE. `run` starts the run
// (POST /v1/settlement-runs) and waits for it to be recorded, polling its date's runs. Prints
// tables, or the API's JSON with `json`. Returns the exit status: 0 when the request (and the
// run) succeeded.
int RunAdminSettlement(const server::admin::AdminClient& client,
                       const std::vector<std::string>& positional, bool json, Io& io);

}  // namespace sy::cli
