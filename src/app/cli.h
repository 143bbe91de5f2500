#pragma once
// The command line:
//   tokengate run --config FILE [--workers N]
//   tokengate run --listen HOST:PORT --upstream URL [--workers N] [--access-log DEST]
//   tokengate check --config FILE
//   tokengate --version | --help
// runCli() returns the process exit code: 0 success, 1 invalid configuration or failure to
// start, 2 bad usage.

namespace tg::app {

int runCli(int argc, char** argv);

}  // namespace tg::app
