/*
 * What @leapp/inspect's directory source needs from the host and Node's fs lacks:
 *
 *   xattrs(path, follow) → [[name, Buffer], …]: every extended attribute of `path` (of a symlink
 *     itself unless `follow`), via (l)listxattr and (l)getxattr. A filesystem without xattr
 *     support gives []. Other failures throw an Error whose `code` is the errno's name.
 *   seek(fd, offset, whence) → the next data (whence 0) or hole (whence 1) offset at or after
 *     `offset`, or -1 when there is none before the end (ENXIO); throws like xattrs.
 *   openInRoot(rootFd, path, follow) → an O_PATH descriptor of `path` resolved by the kernel inside
 *     the tree of `rootFd` (openat2 with RESOLVE_IN_ROOT: absolute links and `..` stay in it,
 *     magic links refused), the last component followed only if `follow`. ENOSYS where the
 *     kernel has no openat2 (before 5.6); other failures throw like xattrs.
 *   readlinkFd(fd) → the target of the symlink an O_PATH descriptor holds (readlinkat(fd, "")).
 *
 * Optional: without it the directory source reports no xattrs (it says so) and a file's data as
 * one range.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <node_api.h>
#if defined(SYS_openat2)
#include <linux/openat2.h>
#endif

/* Linux caps one value at 64 KiB and a name list at 64 KiB (XATTR_SIZE_MAX, XATTR_LIST_MAX). */
#define MAX_XATTR_BYTES 65536

static const char *errno_name(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ESPIPE: return "ESPIPE";
    case EOVERFLOW: return "EOVERFLOW";
    case ERANGE: return "ERANGE";
    case E2BIG: return "E2BIG";
    case ESTALE: return "ESTALE";
    case ENOSYS: return "ENOSYS";
    case EAGAIN: return "EAGAIN";
    case EXDEV: return "EXDEV";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    default: return "EIO";
  }
}

static napi_value throw_errno(napi_env env, int err) {
  napi_throw_error(env, errno_name(err), strerror(err));
  return NULL;
}

static int unsupported(int err) {
  return err == ENOTSUP || err == EOPNOTSUPP;
}

/* Calls (l)listxattr/(l)getxattr until the buffer fits: a value may grow between two calls. */
static ssize_t list_names(const char *path, int follow, char **out) {
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t size = follow ? listxattr(path, NULL, 0) : llistxattr(path, NULL, 0);
    if (size <= 0) return size;
    if (size > MAX_XATTR_BYTES) size = MAX_XATTR_BYTES;
    char *buf = malloc((size_t)size);
    if (!buf) { errno = ENOMEM; return -1; }
    ssize_t got = follow ? listxattr(path, buf, (size_t)size) : llistxattr(path, buf, (size_t)size);
    if (got >= 0) { *out = buf; return got; }
    free(buf);
    if (errno != ERANGE) return -1;
  }
  errno = ERANGE;
  return -1;
}

static ssize_t get_value(const char *path, const char *name, int follow, char **out) {
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t size = follow ? getxattr(path, name, NULL, 0) : lgetxattr(path, name, NULL, 0);
    if (size < 0) return size;
    if (size > MAX_XATTR_BYTES) size = MAX_XATTR_BYTES;
    char *buf = malloc(size > 0 ? (size_t)size : 1);
    if (!buf) { errno = ENOMEM; return -1; }
    ssize_t got = follow ? getxattr(path, name, buf, (size_t)size) : lgetxattr(path, name, buf, (size_t)size);
    if (got >= 0) { *out = buf; return got; }
    free(buf);
    if (errno != ERANGE) return -1;
  }
  errno = ERANGE;
  return -1;
}

static napi_value xattrs(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char path[4096 + 64];
  size_t path_len = 0;
  bool follow = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok ||
      napi_get_value_bool(env, argv[1], &follow) != napi_ok || path_len == 0 || path_len >= sizeof path - 1 ||
      strlen(path) != path_len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "xattrs(path, follow): a path without NUL bytes, under 4 KiB");
    return NULL;
  }
  napi_value result;
  napi_create_array(env, &result);
  char *names = NULL;
  ssize_t names_len = list_names(path, follow, &names);
  if (names_len < 0) {
    if (unsupported(errno)) return result;
    return throw_errno(env, errno);
  }
  uint32_t index = 0;
  for (ssize_t at = 0; at < names_len;) {
    const char *name = names + at;
    size_t len = strnlen(name, (size_t)(names_len - at));
    at += (ssize_t)len + 1;
    if (len == 0) continue;
    char *value = NULL;
    ssize_t value_len = get_value(path, name, follow, &value);
    if (value_len < 0) {
      if (errno == ENODATA) continue; /* removed since it was listed */
      int err = errno;
      free(names);
      return throw_errno(env, err);
    }
    napi_value pair, js_name, js_value;
    void *data = NULL;
    napi_create_array_with_length(env, 2, &pair);
    napi_create_string_utf8(env, name, len, &js_name);
    napi_create_buffer_copy(env, (size_t)value_len, value, &data, &js_value);
    free(value);
    napi_set_element(env, pair, 0, js_name);
    napi_set_element(env, pair, 1, js_value);
    napi_set_element(env, result, index++, pair);
  }
  free(names);
  return result;
}

static napi_value seek(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd = -1;
  int64_t offset = -1;
  int32_t what = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &offset) != napi_ok ||
      napi_get_value_int32(env, argv[2], &what) != napi_ok || fd < 0 || offset < 0 || (what != 0 && what != 1)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "seek(fd, offset, whence): fd >= 0, offset >= 0, whence 0 (data) or 1 (hole)");
    return NULL;
  }
  off_t found = lseek(fd, (off_t)offset, what == 0 ? SEEK_DATA : SEEK_HOLE);
  napi_value result;
  if (found >= 0 || errno == ENXIO) {
    napi_create_int64(env, found >= 0 ? (int64_t)found : -1, &result);
    return result;
  }
  return throw_errno(env, errno);
}

static napi_value open_in_root(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t root = -1;
  char path[4096 + 64];
  size_t path_len = 0;
  bool follow = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || napi_get_value_int32(env, argv[0], &root) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], path, sizeof path, &path_len) != napi_ok || napi_get_value_bool(env, argv[2], &follow) != napi_ok ||
      root < 0 || path_len == 0 || path_len >= sizeof path - 1 || strlen(path) != path_len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "openInRoot(rootFd, path, follow): a descriptor and a path without NUL bytes, under 4 KiB");
    return NULL;
  }
#if defined(SYS_openat2)
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = -1;
  /* EAGAIN: a rename elsewhere in the tree raced with a `..`; the kernel asks to try again. */
  for (int attempt = 0; attempt < 16; attempt++) {
    fd = syscall(SYS_openat2, root, path, &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) break;
  }
  if (fd < 0) return throw_errno(env, errno);
  napi_value result;
  napi_create_int32(env, (int32_t)fd, &result);
  return result;
#else
  (void)follow;
  return throw_errno(env, ENOSYS);
#endif
}

static napi_value readlink_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "readlinkFd(fd): a descriptor");
    return NULL;
  }
  char target[4096];
  ssize_t n = readlinkat(fd, "", target, sizeof target);
  if (n < 0) return throw_errno(env, errno);
  if ((size_t)n >= sizeof target) return throw_errno(env, ENAMETOOLONG);
  napi_value result;
  napi_create_string_utf8(env, target, (size_t)n, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "xattrs", NAPI_AUTO_LENGTH, xattrs, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "xattrs", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "seek", NAPI_AUTO_LENGTH, seek, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "seek", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "openInRoot", NAPI_AUTO_LENGTH, open_in_root, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "openInRoot", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "readlinkFd", NAPI_AUTO_LENGTH, readlink_fd, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "readlinkFd", fn) != napi_ok) return NULL;
  return exports;
}
