// Typed errors of ffi/: NetlinkError for anything the kernel or libnl refuses,
// LibraryError when libnl cannot be loaded.

const ERRNO: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  28: "ENOSPC",
  30: "EROFS",
  32: "EPIPE",
  34: "ERANGE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  61: "ENODATA",
  71: "EPROTO",
  74: "EBADMSG",
  75: "EOVERFLOW",
  84: "EILSEQ",
  88: "ENOTSOCK",
  90: "EMSGSIZE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  115: "EINPROGRESS",
  125: "ECANCELED",
};

/** Name of a positive errno ("EEXIST"), or "E<n>" for one not in the table. */
export function errnoName(errno: number): string {
  return ERRNO[errno] ?? `E${errno}`;
}

// libnl's own codes (NLE_*) are not errnos; this is the reverse of libnl's
// nl_syserr2nlerr for the codes a caller can meet, to the errno it came from.
const NLE_TO_ERRNO: Record<number, number> = {
  1: 5, // NLE_FAILURE -> EIO
  2: 4, // NLE_INTR -> EINTR
  3: 9, // NLE_BAD_SOCK -> EBADF
  4: 11, // NLE_AGAIN -> EAGAIN
  5: 12, // NLE_NOMEM -> ENOMEM (also ENOBUFS)
  6: 17, // NLE_EXIST -> EEXIST
  7: 22, // NLE_INVAL -> EINVAL
  8: 34, // NLE_RANGE -> ERANGE
  9: 90, // NLE_MSGSIZE -> EMSGSIZE
  10: 95, // NLE_OPNOTSUPP -> EOPNOTSUPP
  11: 97, // NLE_AF_NOSUPPORT -> EAFNOSUPPORT
  12: 2, // NLE_OBJ_NOTFOUND -> ENOENT
  13: 61, // NLE_NOATTR -> ENODATA
  14: 22, // NLE_MISSING_ATTR -> EINVAL
  15: 97, // NLE_AF_MISMATCH -> EAFNOSUPPORT
  16: 84, // NLE_SEQ_MISMATCH -> EILSEQ
  17: 75, // NLE_MSG_OVERFLOW -> EOVERFLOW
  18: 90, // NLE_MSG_TRUNC -> EMSGSIZE
  19: 99, // NLE_NOADDR -> EADDRNOTAVAIL
  21: 74, // NLE_MSG_TOOSHORT -> EBADMSG
  22: 95, // NLE_MSGTYPE_NOSUPPORT -> EOPNOTSUPP
  25: 16, // NLE_BUSY -> EBUSY
  26: 93, // NLE_PROTO_MISMATCH -> EPROTONOSUPPORT
  27: 13, // NLE_NOACCESS -> EACCES
  28: 1, // NLE_PERM -> EPERM
  30: 22, // NLE_PARSE_ERR -> EINVAL
  31: 19, // NLE_NODEV -> ENODEV
  32: 30, // NLE_IMMUTABLE -> EROFS
  33: 4, // NLE_DUMP_INTR -> EINTR
  34: 34, // NLE_ATTRSIZE -> ERANGE
};

/** Errno for a positive libnl NLE_* code. */
export function nleToErrno(nle: number): number {
  return NLE_TO_ERRNO[nle] ?? 5;
}

/** A netlink operation the kernel (or libnl) refused. */
export class NetlinkError extends Error {
  override name = "NetlinkError";
  /** Positive errno, e.g. 17. */
  readonly errno: number;
  /** Errno name, e.g. "EEXIST". */
  readonly code: string;
  /** What was attempted, e.g. "link add flannel.1". */
  readonly op: string;

  constructor(
    errno: number,
    op: string,
    options?: ErrorOptions & { detail?: string },
  ) {
    const code = errnoName(errno);
    const detail = options?.detail ? `: ${options.detail}` : "";
    super(`${op}: ${code}${detail}`, options);
    this.errno = errno;
    this.code = code;
    this.op = op;
  }
}

/** libnl (or libc) could not be found or loaded. */
export class LibraryError extends Error {
  override name = "LibraryError";
}
