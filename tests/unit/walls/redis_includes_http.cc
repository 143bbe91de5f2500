// Must NOT compile: redis/ does not depend on http/ (src/redis/module.cmake), so the http
// module's headers are not on its include path. tests/unit/CMakeLists.txt builds this file
// with tg_redis's include roots and passes only when the compiler cannot find the header.
#include "http/headers.h"
#include "redis/connection.h"
