/*
 * lseek(SEEK_DATA / SEEK_HOLE) for @leapp/storage. Node's fs has no lseek, so without this a raw
 * image's holes can only be found by reading them. One function:
 *
 *   seek(fd, offset, whence) → the next data (whence 0) or hole (whence 1) offset at or after
 *   `offset`, or -1 when there is none before the end of the file (ENXIO). Any other failure
 *   throws an Error whose `code` is the errno name the caller needs (EINVAL: not supported here).
 *
 * Optional: @leapp/storage falls back to scanning when this addon is missing or throws.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <node_api.h>

static const char *errno_name(int err) {
  switch (err) {
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ESPIPE: return "ESPIPE";
    case EOVERFLOW: return "EOVERFLOW";
    default: return "EIO";
  }
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
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "seek(fd, offset, whence): fd ≥ 0, offset ≥ 0, whence 0 (data) or 1 (hole)");
    return NULL;
  }
#if defined(SEEK_DATA) && defined(SEEK_HOLE)
  off_t found = lseek(fd, (off_t)offset, what == 0 ? SEEK_DATA : SEEK_HOLE);
  int err = found < 0 ? errno : 0;
#else
  off_t found = -1;
  int err = EINVAL;
#endif
  napi_value result;
  if (found >= 0) {
    napi_create_int64(env, (int64_t)found, &result);
    return result;
  }
  if (err == ENXIO) {
    napi_create_int64(env, -1, &result);
    return result;
  }
  napi_throw_error(env, errno_name(err), strerror(err));
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "seek", NAPI_AUTO_LENGTH, seek, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "seek", fn) != napi_ok) return NULL;
  return exports;
}
