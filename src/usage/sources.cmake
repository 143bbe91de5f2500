set(TG_USAGE_SOURCES usage/placeholder.cc)
