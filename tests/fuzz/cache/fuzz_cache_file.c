/* libFuzzer target for the warm-restart file reader (cache_create on an existing file): a
 * valid cache file with swarms, metadata blobs, pinned and unpinned chunks is patched with the
 * input (4-byte offset, then bytes) and reopened. Recovery must never crash or over-read, and
 * whatever it accepts must be usable: lookups return lengths within their class and pointers
 * inside the region, inserts and purges work. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static uint8_t *pristine, *work;
static size_t plen;
static const char *ids[3] = { "fuzz-swarm-a", "fuzz-swarm-b-pinned", "fuzz-swarm-c" };

static void conf_of(struct cache_conf *conf)
{
	cache_conf_init(conf);
	conf->classes[0] = (struct cache_class_conf){ .slot_size = 64, .nslots = 24 };
	conf->classes[1] = (struct cache_class_conf){ .slot_size = 256, .nslots = 8 };
	conf->max_swarms = 4;
	conf->meta_bytes = 2048;
	conf->max_readers = 1;
	conf->file = path;
}

static void remove_file(void)
{
	unlink(path);
}

static void init(void)
{
	struct cache_conf conf;
	struct cache *c;
	uint8_t buf[256], meta[300];
	int fd;

	snprintf(path, sizeof(path), "/tmp/pcdn-fuzz-cache-%d.bin", (int)getpid());
	unlink(path);
	atexit(remove_file);
	conf_of(&conf);
	c = cache_create(&conf);
	if (!c)
		abort();
	for (unsigned s = 0; s < 3; s++) {
		cache_swarm_t h;

		memset(meta, 'm' + s, sizeof(meta));
		struct cache_swarm_conf sc = { .id = (const uint8_t *)ids[s], .id_len = strlen(ids[s]),
					       .content_len = 4096, .chunk_size = 64, .hash_id = s,
					       .meta = meta, .meta_len = 100 + 90 * s, .pinned = s == 1 };
		if (cache_swarm_add(c, &sc, &h) < 0)
			abort();
		for (uint64_t i = 0; i < 9; i++) {
			uint32_t len = i % 4 == 3 ? 200 : 1 + (uint32_t)(i * 7);

			memset(buf, (int)(i * 31 + s), len);
			if (cache_insert(c, &(struct cache_key){ h, i }, buf, len,
					 i == 2 ? CACHE_INSERT_PIN : 0) < 0)
				abort();
		}
	}
	cache_remove(c, &(struct cache_key){ 0, 0 });
	cache_destroy(c);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		abort();
	plen = (size_t)lseek(fd, 0, SEEK_END);
	pristine = malloc(plen);
	work = malloc(plen);
	if (!pristine || !work || pread(fd, pristine, plen, 0) != (ssize_t)plen)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_stats st;
	int fd;

	if (!pristine)
		init();
	memcpy(work, pristine, plen);
	if (size >= 4) {
		uint32_t off;
		size_t n;

		memcpy(&off, data, 4);
		off %= (uint32_t)plen;
		n = size - 4 < plen - off ? size - 4 : plen - off;
		memcpy(work + off, data + 4, n);
	}
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, work, plen) != (ssize_t)plen)
		abort();
	close(fd);

	conf_of(&conf);
	c = cache_create(&conf);
	if (!c)
		return 0; /* refused (bad header): fine */
	const uint8_t *base = cache_region_base(c);
	size_t len = cache_region_len(c);
	cache_stats_get(c, &st);
	if (st.chunks > 32 || st.pinned_chunks > st.chunks)
		abort();
	for (unsigned s = 0; s < 3; s++) {
		struct cache_swarm_info info;
		struct cache_hit hit;

		if (cache_swarm_find(c, (const uint8_t *)ids[s], strlen(ids[s]), &info) < 0)
			continue;
		if (info.meta && ((const uint8_t *)info.meta < base ||
				  (const uint8_t *)info.meta + info.meta_len > base + len))
			abort();
		for (uint64_t i = 0; i < 9; i++) {
			if (cache_writer_lookup(c, &(struct cache_key){ info.handle, i }, &hit) < 0)
				continue;
			if (hit.len == 0 || hit.len > 256 || (const uint8_t *)hit.data < base ||
			    (const uint8_t *)hit.data + hit.len > base + len)
				abort();
		}
		uint8_t buf[64] = { 0 };
		int rc = cache_insert(c, &(struct cache_key){ info.handle, 100 }, buf, sizeof(buf), 0);
		if (rc < 0 && rc != -ENOSPC && rc != -EEXIST)
			abort();
	}
	if (cache_purge_all(c) < 0)
		abort();
	cache_destroy(c);
	return 0;
}
