#include "app/cli.h"

int main(int argc, char** argv) { return tg::app::runCli(argc, argv); }
