/*
 * The I/O Node's fs lacks, for @leapp/storage. Two functions:
 *
 *   seek(fd, offset, whence) → the next data (whence 0) or hole (whence 1) offset at or after
 *   `offset`, or -1 when there is none before the end of the file (ENXIO). Any other failure
 *   throws an Error whose `code` is the errno name the caller needs (EINVAL: not supported here).
 *
 *   copy(ranges, dstFd, granule, chunk, control) → Promise<bytes stored>: copies each [srcFd,
 *   srcOffset, dstOffset, length] of `ranges` (a Float64Array) into dstFd, leaving every
 *   `granule`-aligned block of zeros unwritten (granule 0: write everything). A reader thread
 *   fills `chunk`-byte buffers while the calling pool thread writes the ones before: reads overlap
 *   writes, writes to the target go out one at a time, and no step waits for JavaScript.
 *   `control` (a BigInt64Array of 2) is shared with the caller while the copy runs: it sets
 *   control[0] to stop the copy (rejected with ECANCELED); the copy keeps control[1] at the end
 *   (dstOffset + length) of the last piece written. Rejects with an Error whose `code` is the
 *   errno name (ENODATA: a source ended early).
 *
 *   copy(ranges, dstFd, granule, chunk, control, appendAt, written) appends instead: the non-zero
 *   granules go one after another to dstFd from offset `appendAt` (each taking a whole granule
 *   there, a short last one too), in order, and written[i] says whether the i-th granule of the
 *   ranges (counted across them in order) was. A fresh qcow2 image takes its data this way, and
 *   its tables are filled in afterwards.
 *
 * Optional: @leapp/storage scans for holes and copies in JavaScript when this addon is missing.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
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
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case EFBIG: return "EFBIG";
    case EROFS: return "EROFS";
    case ENOMEM: return "ENOMEM";
    case ENODATA: return "ENODATA";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ECANCELED: return "ECANCELED";
    default: return "EIO";
  }
}

static napi_value errno_error(napi_env env, int err) {
  napi_value code, message, error;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, err == ENODATA ? "a source ended before the range being copied" : strerror(err), NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  return error;
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
  napi_throw(env, errno_error(env, err));
  return NULL;
}

/* ------------------------------------------------------------------------------------------ copy */

#define SLOTS 4

typedef struct {
  uint8_t *buf;
  size_t length;    /* bytes read into buf */
  int64_t dst;      /* where they go */
  size_t first;     /* index of its first granule across all ranges (append mode) */
  int filled;       /* read, not yet written */
} slot_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref control_ref; /* keeps the control block alive while the threads use it */
  int64_t *control;     /* [stop, progress] */
  int dst_fd;
  double *ranges;   /* [src_fd, src_offset, dst_offset, length] per range */
  size_t count;
  size_t granule, chunk;
  int64_t append_at;    /* append mode: where the next non-zero granule goes; -1 otherwise */
  uint8_t *written;     /* append mode: one flag per granule */
  size_t granules;      /* how many flags */
  napi_ref written_ref;
  int64_t stored;
  int err;          /* the first failure, of either thread */
  pthread_mutex_t lock;
  pthread_cond_t changed;
  slot_t slots[SLOTS];
} copy_t;

static int read_full(int fd, uint8_t *buf, size_t n, int64_t at) {
  for (size_t done = 0; done < n;) {
    ssize_t r = pread(fd, buf + done, n - done, (off_t)(at + (int64_t)done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return ENODATA;
    done += (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const uint8_t *buf, size_t n, int64_t at) {
  for (size_t done = 0; done < n;) {
    ssize_t r = pwrite(fd, buf + done, n - done, (off_t)(at + (int64_t)done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    done += (size_t)r;
  }
  return 0;
}

static int all_zero(const uint8_t *p, size_t n) {
  /* Data nearly always has a non-zero byte at one of these; then memcmp runs at memory speed. */
  if (n == 0) return 1;
  if (p[0] || p[n - 1] || p[n / 2]) return 0;
  return memcmp(p, p + 1, n - 1) == 0;
}

static void fail(copy_t *c, int err) {
  pthread_mutex_lock(&c->lock);
  if (!c->err) c->err = err;
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->lock);
}

/* The reader: fills the slots in turn, piece after piece. */
static void *reader(void *arg) {
  copy_t *c = arg;
  size_t piece = 0, first = 0;
  for (size_t i = 0; i < c->count; i++) {
    int fd = (int)c->ranges[4 * i];
    int64_t src = (int64_t)c->ranges[4 * i + 1], dst = (int64_t)c->ranges[4 * i + 2], length = (int64_t)c->ranges[4 * i + 3];
    for (int64_t done = 0; done < length; done += (int64_t)c->chunk, piece++) {
      slot_t *s = &c->slots[piece % SLOTS];
      if (__atomic_load_n(&c->control[0], __ATOMIC_RELAXED)) {
        fail(c, ECANCELED);
        return NULL;
      }
      pthread_mutex_lock(&c->lock);
      while (s->filled && !c->err) pthread_cond_wait(&c->changed, &c->lock);
      int stop = c->err;
      pthread_mutex_unlock(&c->lock);
      if (stop) return NULL;
      size_t n = length - done < (int64_t)c->chunk ? (size_t)(length - done) : c->chunk;
      int err = read_full(fd, s->buf, n, src + done);
      if (err) {
        fail(c, err);
        return NULL;
      }
      pthread_mutex_lock(&c->lock);
      s->length = n;
      s->dst = dst + done;
      s->first = first;
      first += c->granule ? (n + c->granule - 1) / c->granule : 0;
      s->filled = 1;
      pthread_cond_broadcast(&c->changed);
      pthread_mutex_unlock(&c->lock);
    }
  }
  return NULL;
}

/* Append mode: the non-zero granules of one slot, back to back from c->append_at. */
static int append_slot(copy_t *c, slot_t *s) {
  size_t g = c->granule;
  size_t run = SIZE_MAX; /* first granule of the run being gathered */
  for (size_t at = 0;; at += g) {
    int more = at < s->length;
    size_t end = more ? (at + g < s->length ? at + g : s->length) : at;
    int data = more && !all_zero(s->buf + at, end - at);
    if (more) c->written[s->first + at / g] = (uint8_t)data;
    if (data && run == SIZE_MAX) run = at;
    if (!data && run != SIZE_MAX) {
      int err = write_full(c->dst_fd, s->buf + run, at - run, c->append_at);
      if (err) return err;
      c->stored += (int64_t)(at - run);
      c->append_at += (int64_t)((at - run + g - 1) / g * g);
      run = SIZE_MAX;
    }
    if (!more) return 0;
  }
}

/* Writes the non-zero granules of one slot; returns an errno or 0. */
static int write_slot(copy_t *c, slot_t *s) {
  if (c->append_at >= 0) return append_slot(c, s);
  size_t g = c->granule ? c->granule : s->length;
  size_t run = SIZE_MAX;
  for (size_t at = 0; at < s->length; at += g) {
    size_t end = at + g < s->length ? at + g : s->length;
    int zero = c->granule && all_zero(s->buf + at, end - at);
    if (!zero && run == SIZE_MAX) run = at;
    if (zero && run != SIZE_MAX) {
      int err = write_full(c->dst_fd, s->buf + run, at - run, s->dst + (int64_t)run);
      if (err) return err;
      c->stored += (int64_t)(at - run);
      run = SIZE_MAX;
    }
  }
  if (run != SIZE_MAX) {
    int err = write_full(c->dst_fd, s->buf + run, s->length - run, s->dst + (int64_t)run);
    if (err) return err;
    c->stored += (int64_t)(s->length - run);
  }
  return 0;
}

/* Bytes written between two calls that start their writeback (see kick_writeback). */
#define WRITEBACK_BYTES (32 << 20)

/*
 * Asks the kernel to start writing [from, to) of the target to its disk now, without waiting:
 * the copy's final fdatasync then finds most of it written already, instead of all of it
 * dirty. Advisory: a target that cannot (not a regular file, an old kernel) is left as it is.
 */
static void kick_writeback(int fd, int64_t from, int64_t to) {
#ifdef SYNC_FILE_RANGE_WRITE
  if (to > from) (void)sync_file_range(fd, (off_t)from, (off_t)(to - from), SYNC_FILE_RANGE_WRITE);
#else
  (void)fd; (void)from; (void)to;
#endif
}

static void copy_execute(napi_env env, void *data) {
  (void)env;
  copy_t *c = data;
  size_t pieces = 0;
  for (size_t i = 0; i < c->count; i++) pieces += (size_t)(((int64_t)c->ranges[4 * i + 3] + (int64_t)c->chunk - 1) / (int64_t)c->chunk);
  for (int k = 0; k < SLOTS; k++) {
    if (posix_memalign((void **)&c->slots[k].buf, 4096, c->chunk)) {
      c->err = ENOMEM;
      return;
    }
  }
  pthread_t thread;
  if (pthread_create(&thread, NULL, reader, c)) {
    c->err = EAGAIN;
    return;
  }
  /* The span written since writeback was last started. */
  int64_t dirty_from = INT64_MAX, dirty_to = 0;
  for (size_t piece = 0; piece < pieces; piece++) {
    slot_t *s = &c->slots[piece % SLOTS];
    pthread_mutex_lock(&c->lock);
    while (!s->filled && !c->err) pthread_cond_wait(&c->changed, &c->lock);
    int stop = c->err;
    pthread_mutex_unlock(&c->lock);
    if (stop) break;
    int64_t from = c->append_at >= 0 ? c->append_at : s->dst;
    int err = write_slot(c, s);
    if (err) {
      fail(c, err);
      break;
    }
    int64_t to = c->append_at >= 0 ? c->append_at : s->dst + (int64_t)s->length;
    if (from < dirty_from) dirty_from = from;
    if (to > dirty_to) dirty_to = to;
    if (dirty_to - dirty_from >= WRITEBACK_BYTES) {
      kick_writeback(c->dst_fd, dirty_from, dirty_to);
      dirty_from = INT64_MAX;
      dirty_to = 0;
    }
    __atomic_store_n(&c->control[1], s->dst + (int64_t)s->length, __ATOMIC_RELAXED);
    pthread_mutex_lock(&c->lock);
    s->filled = 0;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
  }
  pthread_join(thread, NULL);
}

static void copy_free(copy_t *c) {
  for (int k = 0; k < SLOTS; k++) free(c->slots[k].buf);
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->changed);
  free(c->ranges);
  free(c);
}

static void copy_complete(napi_env env, napi_status status, void *data) {
  copy_t *c = data;
  napi_value value;
  if (status == napi_ok && !c->err) {
    napi_create_double(env, (double)c->stored, &value);
    napi_resolve_deferred(env, c->deferred, value);
  } else {
    napi_reject_deferred(env, c->deferred, errno_error(env, c->err ? c->err : EIO));
  }
  napi_delete_async_work(env, c->work);
  napi_delete_reference(env, c->control_ref);
  if (c->written_ref) napi_delete_reference(env, c->written_ref);
  copy_free(c);
}

static napi_value copy(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_typedarray_type type, control_type, written_type = napi_uint8_array;
  size_t length = 0, control_length = 0, written_length = 0;
  void *ranges = NULL, *control = NULL, *written = NULL;
  int32_t dst_fd = -1;
  uint32_t granule = 0, chunk = 0;
  double append_at = -1;
  int ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && (argc == 5 || argc == 7) &&
           (argc == 5 || (napi_get_value_double(env, argv[5], &append_at) == napi_ok && append_at >= 0 && append_at <= 9007199254740991.0 &&
                          napi_get_typedarray_info(env, argv[6], &written_type, &written_length, &written, NULL, NULL) == napi_ok)) &&
           written_type == napi_uint8_array &&
           napi_get_typedarray_info(env, argv[4], &control_type, &control_length, &control, NULL, NULL) == napi_ok &&
           control_type == napi_bigint64_array && control_length == 2 &&
           napi_get_typedarray_info(env, argv[0], &type, &length, &ranges, NULL, NULL) == napi_ok && type == napi_float64_array && length % 4 == 0 &&
           napi_get_value_int32(env, argv[1], &dst_fd) == napi_ok && dst_fd >= 0 &&
           napi_get_value_uint32(env, argv[2], &granule) == napi_ok && napi_get_value_uint32(env, argv[3], &chunk) == napi_ok &&
           chunk >= 4096 && chunk <= 64u << 20 && chunk % 4096 == 0 && (granule == 0 || (granule <= chunk && chunk % granule == 0));
  const double *r = ranges;
  size_t granules = 0;
  for (size_t i = 0; ok && i < length; i++) ok = r[i] >= 0 && r[i] <= 9007199254740991.0 && r[i] == (double)(int64_t)r[i] && (i % 4 != 0 || r[i] <= 2147483647.0);
  /* Append mode needs a granule and a flag for each granule of the ranges. */
  for (size_t i = 3; ok && argc == 7 && i < length; i += 4) granules += granule ? (size_t)((r[i] + granule - 1) / granule) : 0;
  if (ok && argc == 7) ok = granule > 0 && append_at == (double)(int64_t)append_at && written_length == granules;
  if (!ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "copy(ranges: Float64Array of [srcFd, srcOffset, dstOffset, length], dstFd, granule, chunk, control: BigInt64Array(2))");
    return NULL;
  }
  copy_t *c = calloc(1, sizeof *c);
  double *owned = malloc((length ? length : 1) * sizeof(double));
  if (!c || !owned) {
    free(c);
    free(owned);
    napi_throw(env, errno_error(env, ENOMEM));
    return NULL;
  }
  memcpy(owned, ranges, length * sizeof(double));
  c->ranges = owned;
  c->count = length / 4;
  c->dst_fd = dst_fd;
  c->granule = granule;
  c->chunk = chunk;
  c->append_at = argc == 7 ? (int64_t)append_at : -1;
  c->written = written;
  c->granules = granules;
  if (argc == 7) napi_create_reference(env, argv[6], 1, &c->written_ref);
  c->control = control;
  napi_create_reference(env, argv[4], 1, &c->control_ref);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->changed, NULL);
  napi_value promise, name;
  napi_create_promise(env, &c->deferred, &promise);
  napi_create_string_utf8(env, "leapp-storage-copy", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, copy_execute, copy_complete, c, &c->work) != napi_ok || napi_queue_async_work(env, c->work) != napi_ok) {
    napi_delete_reference(env, c->control_ref);
    if (c->written_ref) napi_delete_reference(env, c->written_ref);
    copy_free(c);
    napi_throw(env, errno_error(env, EAGAIN));
    return NULL;
  }
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "seek", NAPI_AUTO_LENGTH, seek, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "seek", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "copy", NAPI_AUTO_LENGTH, copy, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "copy", fn) != napi_ok) return NULL;
  return exports;
}
