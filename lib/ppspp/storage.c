/* File-backed chunk storage for the kernel-socket programs (pcdn-source, pcdn-get): a seeder
 * maps its file, so serving a chunk hands out a pointer (zero copy into sendmsg); a download
 * gathers contiguous verified chunks and writes them with one pwrite per 256 KiB. */
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITE_BATCH (256 * 1024)

struct ppspp_file_store {
	int fd;
	bool writable;
	uint32_t chunk_size;
	uint64_t size; /* a seeder: bytes mapped; a download: chunk count * chunk size */
	uint8_t *map;  /* a seeder's mapping */
	/* a download: contiguous verified chunks gathered into one pwrite (fresh page-cache pages
	 * are then filled by a copy, not zeroed by a page fault first as a writable mapping would)
	 */
	uint8_t *batch;
	uint64_t batch_off;
	size_t batch_len;
};

static struct ppspp_file_store *open_store(const char *path, uint32_t chunk_size, bool write)
{
	struct ppspp_file_store *fs;
	struct stat st;

	if (chunk_size == 0) {
		errno = EINVAL;
		return NULL;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return NULL;
	fs->chunk_size = chunk_size;
	fs->writable = write;
	fs->fd = write ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)
		       : open(path, O_RDONLY | O_CLOEXEC);
	if (fs->fd < 0)
		goto fail;
	if (fstat(fs->fd, &st) < 0)
		goto fail;
	if (!write) {
		if (!S_ISREG(st.st_mode)) {
			errno = EINVAL;
			goto fail;
		}
		fs->size = (uint64_t)st.st_size;
		if (fs->size > 0) {
			fs->map = mmap(NULL, fs->size, PROT_READ, MAP_SHARED, fs->fd, 0);
			if (fs->map == MAP_FAILED) {
				fs->map = NULL;
				goto fail;
			}
			/* served mostly in order: let the kernel read ahead */
			madvise(fs->map, fs->size, MADV_SEQUENTIAL);
		}
	}
	return fs;
fail:;
	int err = errno;
	if (fs->fd >= 0)
		close(fs->fd);
	free(fs);
	errno = err;
	return NULL;
}

struct ppspp_file_store *ppspp_file_store_open_read(const char *path, uint32_t chunk_size)
{
	return open_store(path, chunk_size, false);
}

struct ppspp_file_store *ppspp_file_store_open_write(const char *path, uint32_t chunk_size)
{
	return open_store(path, chunk_size, true);
}

uint64_t ppspp_file_store_size(const struct ppspp_file_store *fs)
{
	return fs->size;
}

int ppspp_file_store_fd(const struct ppspp_file_store *fs)
{
	return fs->fd;
}

static int fs_get(void *ctx, uint64_t chunk, const void **data, size_t *len, void **ref)
{
	struct ppspp_file_store *fs = ctx;
	uint64_t off = chunk * fs->chunk_size;

	if (!fs->map || off >= fs->size)
		return -ERANGE;
	*data = fs->map + off;
	*len = (size_t)PCDN_MIN((uint64_t)fs->chunk_size, fs->size - off);
	*ref = NULL; /* the mapping outlives every send */
	return 0;
}

int ppspp_file_store_flush(struct ppspp_file_store *fs)
{
	size_t done = 0;

	while (done < fs->batch_len) {
		ssize_t w = pwrite(fs->fd, fs->batch + done, fs->batch_len - done,
				   (off_t)(fs->batch_off + done));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)w;
	}
	fs->batch_len = 0;
	return 0;
}

static int fs_put(void *ctx, uint64_t chunk, const void *data, size_t len)
{
	struct ppspp_file_store *fs = ctx;
	uint64_t off = chunk * fs->chunk_size;
	int rc;

	if (!fs->batch || off + len > fs->size)
		return -ERANGE;
	if (fs->batch_len &&
	    (fs->batch_off + fs->batch_len != off || fs->batch_len + len > WRITE_BATCH)) {
		if ((rc = ppspp_file_store_flush(fs)) < 0)
			return rc;
	}
	if (len > WRITE_BATCH) {
		/* a chunk larger than the batch goes straight out */
		ssize_t w = pwrite(fs->fd, data, len, (off_t)off);
		return w == (ssize_t)len ? 0 : (w < 0 ? -errno : -EIO);
	}
	if (fs->batch_len == 0)
		fs->batch_off = off;
	memcpy(fs->batch + fs->batch_len, data, len);
	fs->batch_len += len;
	return 0;
}

static int fs_prepare(void *ctx, uint64_t chunk_count, uint32_t chunk_size)
{
	struct ppspp_file_store *fs = ctx;
	uint64_t size = chunk_count * chunk_size;
	struct stat st;
	int rc;

	if (!fs->writable || chunk_size != fs->chunk_size)
		return -EINVAL;
	if (fs->batch || size == 0)
		return 0;
	if (fstat(fs->fd, &st) < 0)
		return -errno;
	/* reserve every block now: a full disk fails here, cleanly */
	if ((uint64_t)st.st_size < size) {
		rc = posix_fallocate(fs->fd, 0, (off_t)size);
		if (rc != 0)
			return -rc;
	}
	fs->batch = malloc(WRITE_BATCH);
	if (!fs->batch)
		return -ENOMEM;
	fs->size = size;
	return 0;
}

void ppspp_file_store_storage(struct ppspp_file_store *fs, struct ppspp_storage *out)
{
	memset(out, 0, sizeof(*out));
	out->ctx = fs;
	if (fs->writable) {
		out->put_chunk = fs_put;
		out->prepare = fs_prepare;
	} else {
		out->get_chunk = fs_get;
	}
}

int ppspp_file_store_finish(struct ppspp_file_store *fs, uint64_t content_size)
{
	int rc = ppspp_file_store_flush(fs);

	if (rc < 0)
		return rc;
	if (ftruncate(fs->fd, (off_t)content_size) < 0)
		return -errno;
	if (fsync(fs->fd) < 0)
		return -errno;
	fs->size = content_size;
	return 0;
}

void ppspp_file_store_close(struct ppspp_file_store *fs)
{
	if (!fs)
		return;
	if (fs->map)
		munmap(fs->map, fs->size);
	free(fs->batch);
	close(fs->fd);
	free(fs);
}
