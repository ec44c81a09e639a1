// Finding and loading libnl (libnl-3, libnl-route-3, libnl-genl-3) and libc.
// Each library has one symbol table with the C prototype beside each entry.
// Libraries load lazily, on the first netlink call, so importing ffi/ never
// fails on a host without libnl.

import { LibraryError } from "./errors.ts";

const nl3 = {
  // struct nl_sock *nl_socket_alloc(void)
  nl_socket_alloc: { parameters: [], result: "pointer" },
  // void nl_socket_free(struct nl_sock *sk)
  nl_socket_free: {
    parameters: [
      "pointer", // sk
    ],
    result: "void",
  },
  // int nl_connect(struct nl_sock *sk, int protocol)
  nl_connect: {
    parameters: [
      "pointer", // sk
      "i32", // protocol
    ],
    result: "i32",
  },
  // int nl_sendto(struct nl_sock *sk, void *buf, size_t size)
  nl_sendto: {
    parameters: [
      "pointer", // sk
      "buffer", // buf
      "usize", // size
    ],
    result: "i32",
  },
  // int nl_recv(struct nl_sock *sk, struct sockaddr_nl *nla, unsigned char **buf, struct ucred **creds)
  nl_recv: {
    parameters: [
      "pointer", // sk
      "buffer", // nla
      "buffer", // buf (out)
      "pointer", // creds (NULL)
    ],
    result: "i32",
  },
  // int nl_socket_get_fd(const struct nl_sock *sk)
  nl_socket_get_fd: {
    parameters: [
      "pointer", // sk
    ],
    result: "i32",
  },
  // int nl_socket_set_nonblocking(const struct nl_sock *sk)
  nl_socket_set_nonblocking: {
    parameters: [
      "pointer", // sk
    ],
    result: "i32",
  },
  // int nl_socket_add_membership(struct nl_sock *sk, int group)
  nl_socket_add_membership: {
    parameters: [
      "pointer", // sk
      "i32", // group
    ],
    result: "i32",
  },
  // void nl_socket_disable_msg_peek(struct nl_sock *sk)
  nl_socket_disable_msg_peek: {
    parameters: [
      "pointer", // sk
    ],
    result: "void",
  },
  // int nl_socket_set_msg_buf_size(struct nl_sock *sk, size_t bufsize)
  nl_socket_set_msg_buf_size: {
    parameters: [
      "pointer", // sk
      "usize", // bufsize
    ],
    result: "i32",
  },
  // int nl_socket_set_buffer_size(struct nl_sock *sk, int rxbuf, int txbuf)
  nl_socket_set_buffer_size: {
    parameters: [
      "pointer", // sk
      "i32", // rxbuf
      "i32", // txbuf
    ],
    result: "i32",
  },
  // const char *nl_geterror(int error)
  nl_geterror: {
    parameters: [
      "i32", // error
    ],
    result: "pointer",
  },
  // struct nlmsghdr *nlmsg_hdr(struct nl_msg *msg)
  nlmsg_hdr: {
    parameters: [
      "pointer", // msg
    ],
    result: "pointer",
  },
  // void nlmsg_free(struct nl_msg *msg)
  nlmsg_free: {
    parameters: [
      "pointer", // msg
    ],
    result: "void",
  },
} as const satisfies Deno.ForeignLibraryInterface;

const nlRoute = {
  // struct rtnl_qdisc *rtnl_qdisc_alloc(void)
  rtnl_qdisc_alloc: {
    parameters: [],
    result: "pointer",
  },
  // void rtnl_qdisc_put(struct rtnl_qdisc *qdisc)
  rtnl_qdisc_put: {
    parameters: [
      "pointer", // qdisc
    ],
    result: "void",
  },
  // int rtnl_qdisc_build_add_request(struct rtnl_qdisc *qdisc, int flags, struct nl_msg **result)
  rtnl_qdisc_build_add_request: {
    parameters: [
      "pointer", // qdisc
      "i32", // flags
      "buffer", // result (out)
    ],
    result: "i32",
  },
  // int rtnl_qdisc_build_delete_request(struct rtnl_qdisc *qdisc, struct nl_msg **result)
  rtnl_qdisc_build_delete_request: {
    parameters: [
      "pointer", // qdisc
      "buffer", // result (out)
    ],
    result: "i32",
  },
  // void rtnl_qdisc_tbf_set_rate(struct rtnl_qdisc *qdisc, int rate, int bucket, int cell)
  rtnl_qdisc_tbf_set_rate: {
    parameters: [
      "pointer", // qdisc
      "i32", // rate (bytes/s)
      "i32", // bucket (bytes)
      "i32", // cell (0 = default)
    ],
    result: "void",
  },
  // void rtnl_qdisc_tbf_set_limit(struct rtnl_qdisc *qdisc, int limit)
  rtnl_qdisc_tbf_set_limit: {
    parameters: [
      "pointer", // qdisc
      "i32", // limit (bytes)
    ],
    result: "void",
  },
  // int rtnl_qdisc_tbf_set_limit_by_latency(struct rtnl_qdisc *qdisc, int latency)
  rtnl_qdisc_tbf_set_limit_by_latency: {
    parameters: [
      "pointer", // qdisc
      "i32", // latency (us)
    ],
    result: "i32",
  },
  // void rtnl_tc_set_ifindex(struct rtnl_tc *tc, int ifindex)
  rtnl_tc_set_ifindex: {
    parameters: [
      "pointer", // tc
      "i32", // ifindex
    ],
    result: "void",
  },
  // void rtnl_tc_set_handle(struct rtnl_tc *tc, uint32_t id)
  rtnl_tc_set_handle: {
    parameters: [
      "pointer", // tc
      "u32", // id
    ],
    result: "void",
  },
  // void rtnl_tc_set_parent(struct rtnl_tc *tc, uint32_t parent)
  rtnl_tc_set_parent: {
    parameters: [
      "pointer", // tc
      "u32", // parent
    ],
    result: "void",
  },
  // int rtnl_tc_set_kind(struct rtnl_tc *tc, const char *kind)
  rtnl_tc_set_kind: {
    parameters: [
      "pointer", // tc
      "buffer", // kind (NUL-terminated)
    ],
    result: "i32",
  },
  // struct rtnl_cls *rtnl_cls_alloc(void)
  rtnl_cls_alloc: {
    parameters: [],
    result: "pointer",
  },
  // void rtnl_cls_put(struct rtnl_cls *cls)
  rtnl_cls_put: {
    parameters: [
      "pointer", // cls
    ],
    result: "void",
  },
  // void rtnl_cls_set_prio(struct rtnl_cls *cls, uint16_t prio)
  rtnl_cls_set_prio: {
    parameters: [
      "pointer", // cls
      "u16", // prio
    ],
    result: "void",
  },
  // void rtnl_cls_set_protocol(struct rtnl_cls *cls, uint16_t protocol)
  rtnl_cls_set_protocol: {
    parameters: [
      "pointer", // cls
      "u16", // protocol (host order)
    ],
    result: "void",
  },
  // int rtnl_cls_build_add_request(struct rtnl_cls *cls, int flags, struct nl_msg **result)
  rtnl_cls_build_add_request: {
    parameters: [
      "pointer", // cls
      "i32", // flags
      "buffer", // result (out)
    ],
    result: "i32",
  },
  // int rtnl_u32_set_cls_terminal(struct rtnl_cls *cls)
  rtnl_u32_set_cls_terminal: {
    parameters: [
      "pointer", // cls
    ],
    result: "i32",
  },
  // int rtnl_u32_add_key_uint32(struct rtnl_cls *cls, uint32_t val, uint32_t mask, int off, int offmask)
  rtnl_u32_add_key_uint32: {
    parameters: [
      "pointer", // cls
      "u32", // val
      "u32", // mask
      "i32", // off
      "i32", // offmask
    ],
    result: "i32",
  },
  // int rtnl_u32_add_action(struct rtnl_cls *cls, struct rtnl_act *act)   (takes its own reference)
  rtnl_u32_add_action: {
    parameters: [
      "pointer", // cls
      "pointer", // act
    ],
    result: "i32",
  },
  // struct rtnl_act *rtnl_act_alloc(void)
  rtnl_act_alloc: {
    parameters: [],
    result: "pointer",
  },
  // void rtnl_act_put(struct rtnl_act *act)
  rtnl_act_put: {
    parameters: [
      "pointer", // act
    ],
    result: "void",
  },
  // int rtnl_mirred_set_action(struct rtnl_act *act, int action)
  rtnl_mirred_set_action: {
    parameters: [
      "pointer", // act
      "i32", // action (TCA_EGRESS_REDIR, ...)
    ],
    result: "i32",
  },
  // int rtnl_mirred_set_policy(struct rtnl_act *act, int policy)
  rtnl_mirred_set_policy: {
    parameters: [
      "pointer", // act
      "i32", // policy (TC_ACT_*)
    ],
    result: "i32",
  },
  // int rtnl_mirred_set_ifindex(struct rtnl_act *act, uint32_t ifindex)
  rtnl_mirred_set_ifindex: {
    parameters: [
      "pointer", // act
      "u32", // ifindex
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

const nlGenl = {
  // int genl_connect(struct nl_sock *sk)
  genl_connect: {
    parameters: [
      "pointer", // sk
    ],
    result: "i32",
  },
  // int genl_ctrl_resolve(struct nl_sock *sk, const char *name)
  genl_ctrl_resolve: {
    parameters: [
      "pointer", // sk
      "buffer", // name (NUL-terminated)
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

const libc = {
  // int open(const char *pathname, int flags)
  open: {
    parameters: [
      "buffer", // pathname
      "i32", // flags
    ],
    result: "i32",
  },
  // int close(int fd)
  close: {
    parameters: [
      "i32", // fd
    ],
    result: "i32",
  },
  // int setns(int fd, int nstype)
  setns: {
    parameters: [
      "i32", // fd
      "i32", // nstype
    ],
    result: "i32",
  },
  // int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen)
  setsockopt: {
    parameters: [
      "i32", // sockfd
      "i32", // level
      "i32", // optname
      "buffer", // optval
      "u32", // optlen
    ],
    result: "i32",
  },
  // int eventfd(unsigned int initval, int flags)
  eventfd: {
    parameters: [
      "u32", // initval
      "i32", // flags (EFD_CLOEXEC | EFD_NONBLOCK)
    ],
    result: "i32",
  },
  // ssize_t write(int fd, const void *buf, size_t count)
  write: {
    parameters: [
      "i32", // fd
      "buffer", // buf
      "usize", // count
    ],
    result: "isize",
  },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout)
  // Blocks: called on a worker thread (nonblocking), answers a Promise.
  poll: {
    parameters: [
      "buffer", // fds (struct pollfd[nfds]: i32 fd, i16 events, i16 revents)
      "u64", // nfds
      "i32", // timeout (ms, -1: none)
    ],
    result: "i32",
    nonblocking: true,
  },
  // void free(void *ptr)
  free: {
    parameters: [
      "pointer", // ptr
    ],
    result: "void",
  },
  // int *__errno_location(void)
  __errno_location: { parameters: [], result: "pointer" },
  // int madvise(void *addr, size_t length, int advice)
  madvise: {
    parameters: [
      "usize", // addr (page aligned)
      "usize", // length
      "i32", // advice
    ],
    result: "i32",
  },
  // int malloc_trim(size_t pad) (glibc only)
  malloc_trim: {
    parameters: [
      "usize", // pad
    ],
    result: "i32",
    optional: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

export interface Libs {
  nl: Deno.DynamicLibrary<typeof nl3>["symbols"];
  route: Deno.DynamicLibrary<typeof nlRoute>["symbols"];
  genl: Deno.DynamicLibrary<typeof nlGenl>["symbols"];
  c: Deno.DynamicLibrary<typeof libc>["symbols"];
}

const PACKAGES = "libnl-3-200 libnl-route-3-200 libnl-genl-3-200";
const MULTIARCH = [
  "/usr/lib/x86_64-linux-gnu",
  "/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/lib/aarch64-linux-gnu",
  "/usr/lib/arm-linux-gnueabihf",
  "/usr/lib64",
  "/usr/lib",
];

/** Directories searched for libnl, in order (WEFT_LIBNL_DIR alone when set). */
export function searchDirs(): string[] {
  const dir = Deno.env.get("WEFT_LIBNL_DIR");
  return dir ? [dir] : MULTIARCH;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function findDir(): string {
  const dirs = searchDirs();
  for (const dir of dirs) {
    if (exists(`${dir}/libnl-3.so.200`)) return dir;
  }
  throw new LibraryError(
    `libnl-3.so.200 not found in ${
      dirs.join(", ")
    }: install the Debian packages ${PACKAGES} (or set WEFT_LIBNL_DIR to the directory holding them)`,
  );
}

function open<S extends Deno.ForeignLibraryInterface>(
  path: string,
  symbols: S,
): Deno.DynamicLibrary<S> {
  try {
    return Deno.dlopen(path, symbols);
  } catch (cause) {
    throw new LibraryError(
      `cannot load ${path} (${
        (cause as Error).message
      }): install the Debian packages ${PACKAGES} (or set WEFT_LIBNL_DIR)`,
      { cause },
    );
  }
}

/**
 * A library's symbols, each bound on first use: Deno compiles a trampoline
 * per bound symbol (~0.1-0.2 ms each), so binding all of them up front cost
 * a CNI plugin start 6-10 ms for the few it calls. The library itself is
 * opened (and checked) at once; each symbol then re-opens it (a refcount)
 * with that symbol alone, and replaces its getter with the function.
 */
function lazySymbols<S extends Deno.ForeignLibraryInterface>(
  path: string,
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] {
  const first = Object.keys(symbols)[0];
  open(path, { [first]: symbols[first] } as Deno.ForeignLibraryInterface);
  const out = {} as Record<string, unknown>;
  for (const name of Object.keys(symbols)) {
    Object.defineProperty(out, name, {
      configurable: true,
      enumerable: true,
      get() {
        const fn = open(
          path,
          { [name]: symbols[name] } as Deno.ForeignLibraryInterface,
        ).symbols[name];
        Object.defineProperty(out, name, { value: fn, enumerable: true });
        return fn;
      },
    });
  }
  return out as Deno.DynamicLibrary<S>["symbols"];
}

let loaded: Libs | undefined;

/** The loaded libraries; throws LibraryError when libnl is missing. */
export function libs(): Libs {
  if (loaded) return loaded;
  const dir = findDir();
  loaded = {
    nl: lazySymbols(`${dir}/libnl-3.so.200`, nl3),
    route: lazySymbols(`${dir}/libnl-route-3.so.200`, nlRoute),
    genl: lazySymbols(`${dir}/libnl-genl-3.so.200`, nlGenl),
    c: lazySymbols("libc.so.6", libc),
  };
  return loaded;
}

/** errno of the calling thread (read right after the failing libc call). */
export function errno(): number {
  const p = libs().c.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** A NUL-terminated C string. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}
