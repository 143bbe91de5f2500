#include "usage/json_pruner.h"

namespace tg::usage {

JsonPruner::JsonPruner(Mode mode, Limits limits) : mode_(mode), limits_(limits) {}

size_t JsonPruner::feed(std::string_view in) {
  if (ready_) {
    ready_ = false;
    out_.clear();
  }
  const size_t n = in.size();
  size_t i = 0;
  while (i < n) {
    if (inString_) {
      size_t start = i;
      bool closed = false;
      while (i < n) {
        char c = in[i];
        if (escape_) {
          escape_ = false;
        } else if (c == '\\') {
          escape_ = true;
        } else if (c == '"') {
          closed = true;
          break;
        }
        ++i;
      }
      if (copyString_ && !stringPruned_) {
        out_.append(in.data() + start, i - start);
        if (out_.size() - stringStart_ > limits_.maxValueBytes) {
          out_.resize(stringStart_ + 1);  // keep the opening quote: the string becomes ""
          stringPruned_ = true;
        }
      }
      if (closed) {
        ++i;
        inString_ = false;
        if (copyString_ && copying()) {
          out_.push_back('"');
          checkContainer();
        }
      }
      continue;
    }
    char c = in[i++];
    switch (c) {
      case ' ':
      case '\t':
      case '\n':
      case '\r':
        break;
      case '"':
        inString_ = true;
        escape_ = false;
        stringPruned_ = false;
        copyString_ = copying();
        if (copyString_) {
          stringStart_ = out_.size();
          out_.push_back('"');
        }
        break;
      case '{':
      case '[':
        open(c);
        break;
      case '}':
      case ']':
        if (close(c)) {
          return i;
        }
        break;
      default:
        if (copying()) {
          out_.push_back(c);
          checkContainer();
        }
        break;
    }
  }
  return n;
}

void JsonPruner::open(char c) {
  ++depth_;
  if (!inUnit_) {
    if (mode_ == Mode::ArrayElements && !streamArray_ && depth_ == 1 && c == '[') {
      streamArray_ = true;
      return;
    }
    size_t level = streamArray_ ? 1 : 0;
    if (depth_ == level + 1) {
      inUnit_ = true;
      invalid_ = false;
      skipDepth_ = 0;
      unitDepth_ = depth_;
      out_.clear();
      stack_.clear();
      stack_.push_back({0, c});
      out_.push_back(c);
    }
    return;
  }
  if (!copying()) {
    return;
  }
  if (stack_.size() >= limits_.maxDepth) {
    invalidate();
    return;
  }
  stack_.push_back({out_.size(), c});
  out_.push_back(c);
  if (out_.size() > limits_.maxUnitBytes) {
    invalidate();
  }
}

bool JsonPruner::close(char c) {
  if (depth_ == 0) {
    return false;  // a stray closer outside everything
  }
  if (!inUnit_) {
    --depth_;
    if (streamArray_ && depth_ == 0) {
      streamArray_ = false;
    }
    return false;
  }
  if (skipDepth_ != 0) {
    bool done = depth_ == skipDepth_;
    --depth_;
    if (done) {
      skipDepth_ = 0;  // its "{}" / "[]" is already in out_
      if (!invalid_) {
        checkContainer();
      }
    }
    return false;
  }
  bool unitEnds = depth_ == unitDepth_;
  if (!invalid_) {
    out_.push_back(c);
    stack_.pop_back();
  }
  --depth_;
  if (unitEnds) {
    inUnit_ = false;
    if (!invalid_ && out_.size() > limits_.maxUnitBytes) {
      invalidate();
    }
    if (invalid_) {
      ++dropped_;
      out_.clear();
      return false;
    }
    out_.reserve(out_.size() + kPadding);
    ready_ = true;
    ++completed_;
    return true;
  }
  if (!invalid_) {
    checkContainer();
  }
  return false;
}

// The innermost open container grew: prune it when it is too large (never the unit's root),
// and drop the unit when even the pruned copy is too large.
void JsonPruner::checkContainer() {
  if (stack_.size() >= 2 && out_.size() - stack_.back().start > limits_.maxValueBytes) {
    Frame f = stack_.back();
    stack_.pop_back();
    out_.resize(f.start);
    out_.push_back(f.open);
    out_.push_back(f.open == '{' ? '}' : ']');
    skipDepth_ = depth_;
  }
  if (out_.size() > limits_.maxUnitBytes) {
    invalidate();
  }
}

void JsonPruner::invalidate() {
  invalid_ = true;
  out_.clear();
  out_.shrink_to_fit();
  stack_.clear();
}

}  // namespace tg::usage
