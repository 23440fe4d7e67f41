/* File-backed chunk storage for the kernel-socket programs (pcdn-source, pcdn-get): a memory
 * mapping of the content file, so serving a chunk hands out a pointer (zero copy into sendmsg)
 * and storing a verified chunk is one memcpy into the page cache. */
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct ppspp_file_store {
	int fd;
	bool writable;
	uint32_t chunk_size;
	uint64_t size;  /* bytes mapped (a download: chunk count * chunk size until finished) */
	uint8_t *map;
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

static int fs_put(void *ctx, uint64_t chunk, const void *data, size_t len)
{
	struct ppspp_file_store *fs = ctx;
	uint64_t off = chunk * fs->chunk_size;

	if (!fs->map || off + len > fs->size)
		return -ERANGE;
	memcpy(fs->map + off, data, len);
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
	if (fs->map || size == 0)
		return 0;
	if (fstat(fs->fd, &st) < 0)
		return -errno;
	/* reserve every block now: a full disk fails here, cleanly */
	if ((uint64_t)st.st_size < size) {
		rc = posix_fallocate(fs->fd, 0, (off_t)size);
		if (rc != 0)
			return -rc;
	}
	fs->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fs->fd, 0);
	if (fs->map == MAP_FAILED) {
		fs->map = NULL;
		return -errno;
	}
	fs->size = size;
	madvise(fs->map, size, MADV_SEQUENTIAL);
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
	if (fs->map) {
		if (msync(fs->map, fs->size, MS_SYNC) < 0)
			return -errno;
		munmap(fs->map, fs->size);
		fs->map = NULL;
	}
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
	close(fs->fd);
	free(fs);
}
