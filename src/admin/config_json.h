#pragma once
// The running config as JSON for GET /admin/config, with secrets redacted: header values an
// upstream sets or adds (where provider keys live), the Redis password and the admin token are
// replaced by "<redacted>" (an empty value stays empty, so an operator can see that none is
// set). Pure; keys follow the YAML names.
//
// The rate-limit sections (rate_limits:, higress:) are not part of config::Config; the gateway
// may append them (consumer keys must then be redacted too).

#include <string>

#include "config/config.h"

namespace tg::admin {

std::string configJson(const config::Config& cfg);

}  // namespace tg::admin
