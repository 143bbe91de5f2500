set(TG_TOKENIZER_SOURCES tokenizer/placeholder.cc)
