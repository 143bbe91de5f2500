// Must compile: the counterpart of redis_includes_http.cc, so that the wall test fails for the
// right reason only (the header is missing, not the whole setup broken).
#include "redis/connection.h"
#include "store/store.h"
