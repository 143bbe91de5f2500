#include "redis/resp.h"

#include <hiredis/read.h>

#include <charconv>
#include <utility>

namespace tg::redis {

namespace {

void appendLength(std::string& out, char type, size_t n) {
  char buf[24];
  buf[0] = type;
  auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf - 2, n);
  (void)ec;
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf, static_cast<size_t>(end - buf));
}


// The hiredis object callbacks. A root object is a heap Reply (returned by next() and freed
// by freeObject on an error mid-reply); a child is the parent's pre-sized elements[idx], so
// it is owned by its root and never freed on its own (hiredis only frees roots).
Reply* place(const redisReadTask* task) {
  if (task->parent != nullptr) {
    auto* parent = static_cast<Reply*>(task->parent->obj);
    return &parent->elements[static_cast<size_t>(task->idx)];
  }
  return new Reply;
}

void* createString(const redisReadTask* task, char* str, size_t len) {
  Reply* r = place(task);
  switch (task->type) {
    case REDIS_REPLY_STATUS:
      r->type = Reply::Type::Status;
      break;
    case REDIS_REPLY_ERROR:
      r->type = Reply::Type::Error;
      break;
    default:
      r->type = Reply::Type::String;
      break;
  }
  r->str.assign(str, len);
  return r;
}

void* createArray(const redisReadTask* task, int elements) {
  Reply* r = place(task);
  r->type = Reply::Type::Array;
  r->elements.resize(elements > 0 ? static_cast<size_t>(elements) : 0);
  return r;
}

void* createInteger(const redisReadTask* task, long long value) {
  Reply* r = place(task);
  r->type = Reply::Type::Integer;
  r->integer = value;
  return r;
}

void* createNil(const redisReadTask* task) {
  Reply* r = place(task);
  r->type = Reply::Type::Nil;
  return r;
}

void freeObject(void* obj) { delete static_cast<Reply*>(obj); }

redisReplyObjectFunctions kFunctions = {createString, createArray, createInteger, createNil,
                                        freeObject};

}  // namespace

void appendArrayHeader(std::string& out, size_t n) { appendLength(out, '*', n); }

void appendBulk(std::string& out, std::string_view arg) {
  appendLength(out, '$', arg.size());
  out.append(arg);
  out.append("\r\n", 2);
}

void appendCommand(std::string& out, const std::vector<std::string>& args) {
  appendLength(out, '*', args.size());
  for (const auto& a : args) {
    appendBulk(out, a);
  }
}

void appendCommand(std::string& out, std::initializer_list<std::string_view> args) {
  appendLength(out, '*', args.size());
  for (auto a : args) {
    appendBulk(out, a);
  }
}

RespReader::RespReader() : r_(redisReaderCreateWithFunctions(&kFunctions)) {}

RespReader::~RespReader() { redisReaderFree(r_); }

bool RespReader::feed(const char* data, size_t len) {
  return redisReaderFeed(r_, data, len) == REDIS_OK;
}

RespReader::Result RespReader::next(Reply& out) {
  void* obj = nullptr;
  if (redisReaderGetReply(r_, &obj) != REDIS_OK) {
    return Result::Error;
  }
  if (obj == nullptr) {
    return Result::NeedMore;
  }
  auto* reply = static_cast<Reply*>(obj);
  out = std::move(*reply);
  delete reply;
  return Result::Reply;
}

std::string_view RespReader::error() const { return r_->errstr; }

}  // namespace tg::redis
