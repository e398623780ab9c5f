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
 *   listDirectory(rootFd, path, withXattrs) → [names, stats, links, xattrs, errors]: every entry of
 *     the directory `path` (resolved in the tree as openInRoot does, followed) in one call —
 *     getdents64, then fstatat(AT_SYMLINK_NOFOLLOW) and readlinkat relative to the directory's
 *     descriptor (one name, never a path), and the entry's own xattrs when asked. `stats` is a
 *     Float64Array of STAT_FIELDS numbers per entry; `links`, `xattrs` and `errors` (an errno
 *     name where the entry could not be described) are sparse arrays beside `names`.
 *   openRegular(rootFd, path, follow) → [fd, size, type]: `path` resolved in the tree as
 *     openInRoot does; when it is a regular file, the very inode resolved reopened for reading
 *     (through its /proc/self/fd link) and its size; otherwise fd -1 and what it is ("d"
 *     directory, "l" symlink, "o" anything else), nothing opened. One call where the directory
 *     source would make four.
 *   readFiles(rootFd, paths, buffers) → Promise<(number | string)[]>: whole regular files read
 *     into the given buffers on a thread of libuv's pool, several per trip — each `path`
 *     resolved and reopened as openRegular does (the last component followed), then read from
 *     its start up to its buffer's length. Per file: the bytes read, or an errno name ("ENOTREG":
 *     not a regular file). The batch holds its own duplicate of `rootFd`, so closing the guest
 *     meanwhile never leaves it resolving against a reused descriptor number.
 *
 * Optional: without it the directory source reports no xattrs (it says so) and a file's data as
 * one range.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <node_api.h>
#if defined(SYS_openat2)
#include <linux/openat2.h>
#endif

/* Linux caps one value at 64 KiB and a name list at 64 KiB (XATTR_SIZE_MAX, XATTR_LIST_MAX). */
#define MAX_XATTR_BYTES 65536
/*
 * Numbers per entry in listDirectory's stats (the order is listedEntries' in directory-guest.ts):
 * 15 doubles, then the three times in nanoseconds as int64 bit patterns (read through a
 * BigInt64Array view), INT64_MIN where a time does not fit.
 */
#define STAT_FIELDS 18
/* More entries than this in one directory is refused (E2BIG) rather than held in memory. */
#define MAX_LIST_ENTRIES (1 << 22)

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
    case ENODATA: return "ENODATA";
    case EISDIR: return "EISDIR";
    case ENXIO: return "ENXIO";
    case ENODEV: return "ENODEV";
    case EFBIG: return "EFBIG";
    case EBUSY: return "EBUSY";
    case ETXTBSY: return "ETXTBSY";
    case EINTR: return "EINTR";
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

/* Every xattr of `path` as an array of [name, Buffer]; 0, or the errno that stopped it. */
static int xattr_pairs(napi_env env, const char *path, int follow, napi_value *result) {
  napi_create_array(env, result);
  char *names = NULL;
  ssize_t names_len = list_names(path, follow, &names);
  if (names_len < 0) return unsupported(errno) ? 0 : errno;
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
      return err;
    }
    napi_value pair, js_name, js_value;
    void *data = NULL;
    napi_create_array_with_length(env, 2, &pair);
    napi_create_string_utf8(env, name, len, &js_name);
    napi_create_buffer_copy(env, (size_t)value_len, value, &data, &js_value);
    free(value);
    napi_set_element(env, pair, 0, js_name);
    napi_set_element(env, pair, 1, js_value);
    napi_set_element(env, *result, index++, pair);
  }
  free(names);
  return 0;
}

/* A path argument: no NUL bytes, non-empty, under 4 KiB. */
static bool get_path(napi_env env, napi_value value, char *path, size_t size) {
  size_t len = 0;
  return napi_get_value_string_utf8(env, value, path, size, &len) == napi_ok && len > 0 && len < size - 1 && strlen(path) == len;
}

static napi_value xattrs(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char path[4096 + 64];
  bool follow = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 || !get_path(env, argv[0], path, sizeof path) ||
      napi_get_value_bool(env, argv[1], &follow) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "xattrs(path, follow): a path without NUL bytes, under 4 KiB");
    return NULL;
  }
  napi_value result;
  int err = xattr_pairs(env, path, follow, &result);
  return err ? throw_errno(env, err) : result;
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

/* openat2(rootFd, path) resolved inside the tree (RESOLVE_IN_ROOT, no magic links); -1 with errno. */
static int open_in_tree(int root, const char *path, int flags) {
#if defined(SYS_openat2)
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = -1;
  /* EAGAIN: a rename elsewhere in the tree raced with a `..`; the kernel asks to try again. */
  for (int attempt = 0; attempt < 16; attempt++) {
    fd = syscall(SYS_openat2, root, path, &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) break;
  }
  return (int)fd;
#else
  (void)root, (void)path, (void)flags;
  errno = ENOSYS;
  return -1;
#endif
}

static napi_value open_in_root(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t root = -1;
  char path[4096 + 64];
  bool follow = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || napi_get_value_int32(env, argv[0], &root) != napi_ok ||
      !get_path(env, argv[1], path, sizeof path) || napi_get_value_bool(env, argv[2], &follow) != napi_ok || root < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "openInRoot(rootFd, path, follow): a descriptor and a path without NUL bytes, under 4 KiB");
    return NULL;
  }
  int fd = open_in_tree(root, path, O_PATH | (follow ? 0 : O_NOFOLLOW));
  if (fd < 0) return throw_errno(env, errno);
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
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

/* What lstat tells of one entry, as the numbers listDirectory hands over. */
static void stat_numbers(const struct stat *st, double *out) {
  out[0] = (double)st->st_mode;
  out[1] = (double)st->st_size;
  out[2] = (double)st->st_uid;
  out[3] = (double)st->st_gid;
  out[4] = (double)st->st_atim.tv_sec;
  out[5] = (double)st->st_atim.tv_nsec;
  out[6] = (double)st->st_mtim.tv_sec;
  out[7] = (double)st->st_mtim.tv_nsec;
  out[8] = (double)st->st_ctim.tv_sec;
  out[9] = (double)st->st_ctim.tv_nsec;
  out[10] = (double)st->st_ino;
  out[11] = (double)st->st_dev;
  out[12] = (double)st->st_nlink;
  out[13] = (double)major(st->st_rdev);
  out[14] = (double)minor(st->st_rdev);
  const struct timespec *times[3] = {&st->st_atim, &st->st_mtim, &st->st_ctim};
  for (int i = 0; i < 3; i++) {
    int64_t ns = INT64_MIN;
    if (times[i]->tv_sec < INT64_MAX / 1000000000 - 1 && times[i]->tv_sec > INT64_MIN / 1000000000 + 1) ns = (int64_t)times[i]->tv_sec * 1000000000 + times[i]->tv_nsec;
    memcpy(&out[15 + i], &ns, sizeof ns);
  }
}

static void set_error(napi_env env, napi_value errors, uint32_t index, int err) {
  napi_value code;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_set_element(env, errors, index, code);
}

static napi_value list_directory(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t root = -1;
  char path[4096 + 64];
  bool with_xattrs = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || napi_get_value_int32(env, argv[0], &root) != napi_ok ||
      !get_path(env, argv[1], path, sizeof path) || napi_get_value_bool(env, argv[2], &with_xattrs) != napi_ok || root < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "listDirectory(rootFd, path, withXattrs): a descriptor and a path without NUL bytes, under 4 KiB");
    return NULL;
  }
  /* O_DIRECTORY is checked before anything is opened: a FIFO or device here is ENOTDIR, untouched. */
  int fd = open_in_tree(root, path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return throw_errno(env, errno);
  DIR *dir = fdopendir(fd);
  if (!dir) {
    int err = errno;
    close(fd);
    return throw_errno(env, err);
  }
  napi_value names, links, pairs, errors;
  napi_create_array(env, &names);
  napi_create_array(env, &links);
  napi_create_array(env, &pairs);
  napi_create_array(env, &errors);
  size_t capacity = 256;
  double *stats = malloc(capacity * STAT_FIELDS * sizeof(double));
  uint32_t count = 0;
  int failure = stats ? 0 : ENOMEM;
  char proc[64 + 256];
  char target[4096];
  while (!failure) {
    errno = 0;
    struct dirent *entry = readdir(dir);
    if (!entry) {
      failure = errno;
      break;
    }
    const char *name = entry->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    if (count >= MAX_LIST_ENTRIES) {
      failure = E2BIG;
      break;
    }
    if (count == capacity) {
      double *grown = realloc(stats, capacity * 2 * STAT_FIELDS * sizeof(double));
      if (!grown) {
        failure = ENOMEM;
        break;
      }
      stats = grown;
      capacity *= 2;
    }
    napi_value js_name;
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &js_name);
    napi_set_element(env, names, count, js_name);
    double *numbers = stats + (size_t)count * STAT_FIELDS;
    memset(numbers, 0, STAT_FIELDS * sizeof(double));
    uint32_t index = count++;
    struct stat st;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      set_error(env, errors, index, errno);
      continue;
    }
    stat_numbers(&st, numbers);
    if (S_ISLNK(st.st_mode)) {
      ssize_t n = readlinkat(fd, name, target, sizeof target);
      if (n < 0 || (size_t)n >= sizeof target) {
        set_error(env, errors, index, n < 0 ? errno : ENAMETOOLONG);
        continue;
      }
      napi_value js_target;
      napi_create_string_utf8(env, target, (size_t)n, &js_target);
      napi_set_element(env, links, index, js_target);
    }
    if (with_xattrs) {
      /* The entry itself by its name in this directory's descriptor: never followed, never a path from the host's root. */
      snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", fd, name);
      napi_value found;
      uint32_t length = 0;
      int err = xattr_pairs(env, proc, 0, &found);
      if (err) set_error(env, errors, index, err);
      else if (napi_get_array_length(env, found, &length) == napi_ok && length > 0) napi_set_element(env, pairs, index, found);
    }
  }
  closedir(dir);
  if (failure) {
    free(stats);
    return throw_errno(env, failure);
  }
  napi_value buffer, typed, result;
  void *data = NULL;
  size_t bytes = (size_t)count * STAT_FIELDS * sizeof(double);
  napi_create_arraybuffer(env, bytes, &data, &buffer);
  if (bytes > 0) memcpy(data, stats, bytes);
  free(stats);
  napi_create_typedarray(env, napi_float64_array, (size_t)count * STAT_FIELDS, buffer, 0, &typed);
  napi_create_array_with_length(env, 5, &result);
  napi_set_element(env, result, 0, names);
  napi_set_element(env, result, 1, typed);
  napi_set_element(env, result, 2, links);
  napi_set_element(env, result, 3, pairs);
  napi_set_element(env, result, 4, errors);
  return result;
}

static napi_value open_regular(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t root = -1;
  char path[4096 + 64];
  bool follow = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || napi_get_value_int32(env, argv[0], &root) != napi_ok ||
      !get_path(env, argv[1], path, sizeof path) || napi_get_value_bool(env, argv[2], &follow) != napi_ok || root < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "openRegular(rootFd, path, follow): a descriptor and a path without NUL bytes, under 4 KiB");
    return NULL;
  }
  int handle = open_in_tree(root, path, O_PATH | (follow ? 0 : O_NOFOLLOW));
  if (handle < 0) return throw_errno(env, errno);
  struct stat st;
  if (fstat(handle, &st) != 0) {
    int err = errno;
    close(handle);
    return throw_errno(env, err);
  }
  int fd = -1;
  const char *type = S_ISREG(st.st_mode) ? "f" : S_ISDIR(st.st_mode) ? "d" : S_ISLNK(st.st_mode) ? "l" : "o";
  if (S_ISREG(st.st_mode)) {
    /* Reopening the O_PATH handle through /proc opens that very inode: nothing can be swapped in. */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", handle);
    fd = open(proc, O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      close(handle);
      return throw_errno(env, err);
    }
  }
  close(handle);
  napi_value result, js_fd, js_size, js_type;
  napi_create_array_with_length(env, 3, &result);
  napi_create_int32(env, fd, &js_fd);
  napi_create_double(env, (double)st.st_size, &js_size);
  napi_create_string_utf8(env, type, 1, &js_type);
  napi_set_element(env, result, 0, js_fd);
  napi_set_element(env, result, 1, js_size);
  napi_set_element(env, result, 2, js_type);
  return result;
}

/* One readFiles call: what the pool thread reads, and where the answers go. */
typedef struct {
  int root;
  uint32_t count;
  char **paths;
  unsigned char **data;
  size_t *lengths;
  double *got;
  int *errs; /* errno, or -1 for "not a regular file" */
  napi_ref buffers;
  napi_deferred deferred;
  napi_async_work work;
} read_batch;

static void free_batch(read_batch *b) {
  if (b->paths)
    for (uint32_t i = 0; i < b->count; i++) free(b->paths[i]);
  free(b->paths);
  free(b->data);
  free(b->lengths);
  free(b->got);
  free(b->errs);
  free(b);
}

static void read_one(read_batch *b, uint32_t i) {
  int handle = open_in_tree(b->root, b->paths[i], O_PATH);
  if (handle < 0) {
    b->errs[i] = errno;
    return;
  }
  struct stat st;
  if (fstat(handle, &st) != 0) {
    b->errs[i] = errno;
    close(handle);
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    b->errs[i] = S_ISDIR(st.st_mode) ? EISDIR : -1;
    close(handle);
    return;
  }
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", handle);
  int fd = open(proc, O_RDONLY | O_NOCTTY | O_CLOEXEC);
  int err = errno;
  close(handle);
  if (fd < 0) {
    b->errs[i] = err;
    return;
  }
  size_t got = 0;
  while (got < b->lengths[i]) {
    ssize_t n = pread(fd, b->data[i] + got, b->lengths[i] - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      b->errs[i] = errno;
      break;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  close(fd);
  b->got[i] = (double)got;
}

static void read_batch_execute(napi_env env, void *data) {
  (void)env;
  read_batch *b = data;
  for (uint32_t i = 0; i < b->count; i++) read_one(b, i);
  close(b->root);
}

static void read_batch_complete(napi_env env, napi_status status, void *data) {
  read_batch *b = data;
  napi_value result;
  napi_create_array_with_length(env, b->count, &result);
  for (uint32_t i = 0; i < b->count; i++) {
    napi_value value;
    if (b->errs[i] == -1) napi_create_string_utf8(env, "ENOTREG", NAPI_AUTO_LENGTH, &value);
    else if (b->errs[i] != 0) napi_create_string_utf8(env, errno_name(b->errs[i]), NAPI_AUTO_LENGTH, &value);
    else napi_create_double(env, b->got[i], &value);
    napi_set_element(env, result, i, value);
  }
  if (status == napi_ok) napi_resolve_deferred(env, b->deferred, result);
  else {
    napi_value message, error;
    napi_create_string_utf8(env, "readFiles was cancelled", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, b->deferred, error);
  }
  napi_delete_reference(env, b->buffers);
  napi_delete_async_work(env, b->work);
  free_batch(b);
}

static napi_value read_files(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t root = -1;
  uint32_t count = 0, buffer_count = 0;
  bool are_arrays = false, buffers_are_array = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || napi_get_value_int32(env, argv[0], &root) != napi_ok || root < 0 ||
      napi_is_array(env, argv[1], &are_arrays) != napi_ok || !are_arrays || napi_is_array(env, argv[2], &buffers_are_array) != napi_ok || !buffers_are_array ||
      napi_get_array_length(env, argv[1], &count) != napi_ok || napi_get_array_length(env, argv[2], &buffer_count) != napi_ok || count != buffer_count) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "readFiles(rootFd, paths, buffers): a descriptor and arrays of paths and Uint8Arrays of one length");
    return NULL;
  }
  read_batch *b = calloc(1, sizeof *b);
  if (!b) return throw_errno(env, ENOMEM);
  b->count = count;
  b->paths = calloc(count ? count : 1, sizeof *b->paths);
  b->data = calloc(count ? count : 1, sizeof *b->data);
  b->lengths = calloc(count ? count : 1, sizeof *b->lengths);
  b->got = calloc(count ? count : 1, sizeof *b->got);
  b->errs = calloc(count ? count : 1, sizeof *b->errs);
  if (!b->paths || !b->data || !b->lengths || !b->got || !b->errs) {
    free_batch(b);
    return throw_errno(env, ENOMEM);
  }
  char path[4096 + 64];
  for (uint32_t i = 0; i < count; i++) {
    napi_value js_path, js_buffer;
    napi_typedarray_type type;
    size_t length = 0;
    void *bytes = NULL;
    if (napi_get_element(env, argv[1], i, &js_path) != napi_ok || !get_path(env, js_path, path, sizeof path) || napi_get_element(env, argv[2], i, &js_buffer) != napi_ok ||
        napi_get_typedarray_info(env, js_buffer, &type, &length, &bytes, NULL, NULL) != napi_ok || type != napi_uint8_array) {
      free_batch(b);
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "readFiles: each path without NUL bytes and under 4 KiB, each buffer a Uint8Array");
      return NULL;
    }
    b->paths[i] = strdup(path);
    if (!b->paths[i]) {
      free_batch(b);
      return throw_errno(env, ENOMEM);
    }
    b->data[i] = bytes;
    b->lengths[i] = length;
  }
  b->root = fcntl(root, F_DUPFD_CLOEXEC, 0);
  if (b->root < 0) {
    int err = errno;
    free_batch(b);
    return throw_errno(env, err);
  }
  napi_value promise, name;
  napi_create_string_utf8(env, "leapp.readFiles", NAPI_AUTO_LENGTH, &name);
  /* The buffers stay referenced until the pool thread is done with them. */
  if (napi_create_reference(env, argv[2], 1, &b->buffers) != napi_ok) {
    close(b->root);
    free_batch(b);
    return throw_errno(env, ENOMEM);
  }
  if (napi_create_async_work(env, NULL, name, read_batch_execute, read_batch_complete, b, &b->work) != napi_ok) {
    napi_delete_reference(env, b->buffers);
    close(b->root);
    free_batch(b);
    return throw_errno(env, ENOMEM);
  }
  if (napi_create_promise(env, &b->deferred, &promise) != napi_ok || napi_queue_async_work(env, b->work) != napi_ok) {
    napi_delete_async_work(env, b->work);
    napi_delete_reference(env, b->buffers);
    close(b->root);
    free_batch(b);
    napi_throw_error(env, "EIO", "readFiles could not be queued");
    return NULL;
  }
  return promise;
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
  if (napi_create_function(env, "listDirectory", NAPI_AUTO_LENGTH, list_directory, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "listDirectory", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "openRegular", NAPI_AUTO_LENGTH, open_regular, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "openRegular", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "readFiles", NAPI_AUTO_LENGTH, read_files, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "readFiles", fn) != napi_ok) return NULL;
  return exports;
}
