#!/usr/bin/env python3
"""Folds `perf script` call stacks of tokengate into the request path's stages.

usage: stages.py SCRIPT.txt [CPU_US_PER_REQUEST]

Each sample is charged to one stage: walking its stack from the leaf towards the root, the
first frame that names a stage decides (so a malloc or memcpy inside the usage tracker counts
as usage). Samples in the kernel are charged to the kernel's own rows (send, recv, epoll,
other) whatever called them: syscalls are the largest cost of a proxy and are read apart.
Samples with no stage frame fall to the event loop (Asio, coroutine frames), libc/malloc, or
"other". The shares add up to 100%; with the CPU per request they become microseconds.
"""
import re
import sys
from collections import Counter

# (stage, regex on a demangled frame), first match wins within one frame. Order matters where
# names overlap (settle before the store's reserve/settle, usage before inspect).
STAGES = [
    ("settle", r"tg::limiter::Admission::settle|::settle\(|settleStage|Settle|tg::proxy::settle|ConsumerTotals"),
    ("access log", r"tg::proxy::AccessLog|formatAccessRecord|formatRateLimitRecord|tg::proxy::logExchange|writeLogs"),
    ("metrics", r"tg::metrics::|recordMetrics|tg::proxy::observe"),
    ("quota", r"tg::store::MemoryQuota|checkQuota|tg::proxy::quota"),
    ("identify", r"presentedKey|findConsumerByKey|authenticate|tg::proxy::identify|clientIpFrom|KeyAuth|sha256|SHA256"),
    ("usage", r"tg::usage::ResponseTracker|tg::usage::Sse|tg::usage::JsonPruner|tg::usage::UsageExtractor|"
              r"tg::usage::normalize|tg::tokenizer::|Accounting::relay|Accounting::onResponse|"
              r"Accounting::end|Accounting::usage|tg::proxy::Inflater|readUsage"),
    ("inspect", r"tg::usage::|Accounting::begin|tg::proxy::inspect"),
    ("admit", r"tg::limiter::|tg::store::|tg::redis::|tg::proxy::admit|authorizeAndAdmit|rejectionResponse"),
    ("upstream pool + forward head", r"UpstreamPool|buildUpstreamRequest|forwardedFor|upstreamTarget|"
                                     r"isGatewayOnlyHeader|openUpstream|tg::proxy::connectUpstream|removeQueryParam"),
    ("relay", r"tg::http::ResponseParser|basic_parser<false|buildClientResponseHead|clientFraming|"
              r"appendChunkHeader|tg::proxy::relay|Session::forward|tg::proxy::forward"),
    ("parse request", r"tg::http::RequestReader|basic_parser<true|tg::http::Request::|tg::proxy::matchRoute|"
                      r"targetPath|targetQuery|tg::proxy::readRequest"),
    ("pipeline glue", r"tg::proxy::Session|tg::proxy::serveExchange|tg::proxy::Worker|tg::proxy::Exchange|"
                      r"tg::proxy::sendError|tg::proxy::writeAnswer|tg::proxy::errorBody|tg::proxy::httpResponse|nextRequestId"),
]
STAGE_RE = [(name, re.compile(rx)) for name, rx in STAGES]
KERNEL = [
    ("kernel: send", re.compile(r"tcp_sendmsg|sock_sendmsg|__sys_sendto|sock_write_iter|do_writev|__x64_sys_write|__x64_sys_sendmsg")),
    ("kernel: recv", re.compile(r"tcp_recvmsg|sock_recvmsg|__sys_recvfrom|sock_read_iter|__x64_sys_read|__x64_sys_recvmsg")),
    ("kernel: epoll", re.compile(r"ep_poll|do_epoll|__x64_sys_epoll")),
]
EVENT_LOOP = re.compile(r"boost::asio::|boost::beast::|std::__n4861::coroutine|co_spawn|awaitable")
LIBC = re.compile(r"malloc|free|operator new|operator delete|memcpy|memmove|memset|strlen|_int_|cfree|libc")
ORDER = [name for name, _ in STAGES] + [k for k, _ in KERNEL] + ["kernel: other", "event loop + coroutines", "libc + malloc", "other"]


def samples(path):
    stack = []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if stack:
                    yield stack
                stack = []
                continue
            if line[0] in " \t":
                parts = line.strip().split(" ", 1)
                frame = parts[1] if len(parts) > 1 else parts[0]
                stack.append(frame)
            else:
                stack = []
    if stack:
        yield stack


def classify(stack):
    leaf = stack[0]
    if "[kernel.kallsyms]" in leaf or "([kernel" in leaf:
        for frame in stack:
            if "[kernel" not in frame:
                break
            for name, rx in KERNEL:
                if rx.search(frame):
                    return name
        return "kernel: other"
    for frame in stack:
        for name, rx in STAGE_RE:
            if rx.search(frame):
                return name
    if LIBC.search(leaf):
        return "libc + malloc"
    for frame in stack:
        if EVENT_LOOP.search(frame):
            return "event loop + coroutines"
    return "other"


def main():
    counts = Counter(classify(s) for s in samples(sys.argv[1]))
    total = sum(counts.values())
    cpu = float(sys.argv[2]) if len(sys.argv) > 2 else None
    if total == 0:
        print("no samples")
        return
    print(f"{'stage':32} {'share':>7} " + ("  µs/req" if cpu else ""))
    for name in ORDER:
        n = counts.get(name, 0)
        if n == 0:
            continue
        share = n / total
        line = f"{name:32} {share * 100:6.1f}%"
        if cpu:
            line += f" {share * cpu:8.2f}"
        print(line)
    print(f"{'total':32} {100.0:6.1f}%" + (f" {cpu:8.2f}" if cpu else "") + f"   ({total} samples)")


if __name__ == "__main__":
    main()
