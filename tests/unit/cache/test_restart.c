/* CUnit suite "cache restart": the warm-restart file survives a clean stop and kill -9; torn
 * chunks are dropped, never served; other versions or geometries are refused or re-initialised;
 * a file in use is refused. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "cache_test_util.h"

static char dir[256];
static char path[300];
static uint8_t buf[8192];

static const uint8_t swarm_id[20] = "restart-swarm-id-20";
static const uint8_t pinned_id[32] = "pinned-swarm-id-32-bytes-long!!";

static void file_conf(struct cache_conf *conf)
{
	cache_conf_init(conf);
	conf->classes[0].nslots = 8192;
	conf->classes[1].nslots = 4096;
	conf->max_swarms = 16;
	conf->meta_bytes = 1 << 20;
	conf->max_readers = 2;
	conf->file = path;
	conf->chunk_map_bytes = 4 << 20; /* a chunk map for the pinned swarm (1.2 MiB) */
}

/* Payload length follows from the chunk number so a reader can check it. */
static uint32_t len_of(uint64_t chunk)
{
	return chunk % 3 == 0 ? 8192 - (uint32_t)(chunk % 1000) : 1 + (uint32_t)(chunk % 1024);
}

static int put(struct cache *c, cache_swarm_t s, uint32_t tag, uint64_t chunk, unsigned flags)
{
	uint32_t len = len_of(chunk);

	test_fill(test_seed(tag, chunk), buf, len);
	return cache_insert(c, &(struct cache_key){ s, chunk }, buf, len, flags);
}

/* 1 present and exact, 0 absent, -1 present but wrong */
static int probe(struct cache *c, cache_swarm_t s, uint32_t tag, uint64_t chunk)
{
	struct cache_hit h;

	if (cache_writer_lookup(c, &(struct cache_key){ s, chunk }, &h) < 0)
		return 0;
	if (h.len != len_of(chunk) || test_check(test_seed(tag, chunk), h.data, h.len) != 0 ||
	    cache_chunk_sum16(c, h.slot) != test_sum16(h.data, h.len))
		return -1;
	return 1;
}

static cache_swarm_t find_or_add(struct cache *c, const uint8_t *id, size_t len, bool pinned)
{
	struct cache_swarm_info info;
	uint8_t meta[500];
	cache_swarm_t s = 0;

	if (cache_swarm_find(c, id, len, &info) == 0)
		return info.handle;
	test_fill(7, meta, sizeof(meta));
	struct cache_swarm_conf sc = { .id = id, .id_len = len, .content_len = 1ull << 30,
				       .chunk_size = 8192, .hash_id = 1, .meta = meta,
				       .meta_len = sizeof(meta), .pinned = pinned };
	if (cache_swarm_add(c, &sc, &s) < 0)
		return 0;
	return s;
}

static void test_clean_restart(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_stats st;
	struct cache_swarm_info info;
	uint8_t meta[500];
	cache_swarm_t s, p;
	uint64_t rc_chunks, rc_swarms, dropped;

	unlink(path);
	file_conf(&conf);
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	s = find_or_add(c, swarm_id, sizeof(swarm_id), false);
	p = find_or_add(c, pinned_id, sizeof(pinned_id), true);
	CU_ASSERT_FATAL(s && p);
	for (uint64_t i = 0; i < 500; i++)
		CU_ASSERT_EQUAL(put(c, s, 1, i, i == 7 ? CACHE_INSERT_PIN : 0), 0);
	for (uint64_t i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(put(c, p, 2, i, 0), 0);
	CU_ASSERT_EQUAL(cache_remove(c, &(struct cache_key){ s, 100 }), 0);
	CU_ASSERT_EQUAL(cache_purge_range(c, s, 200, 209), 10);
	CU_ASSERT_EQUAL(cache_swarm_update(c, s, 4242, "tree", 4), 0);
	cache_destroy(c);

	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	cache_recovery_counts(c, &rc_chunks, &rc_swarms, &dropped);
	CU_ASSERT_EQUAL(rc_chunks, 500 - 11 + 20);
	CU_ASSERT_EQUAL(rc_swarms, 2);
	CU_ASSERT_EQUAL(dropped, 0);
	CU_ASSERT_EQUAL(cache_swarm_find(c, swarm_id, sizeof(swarm_id), &info), 0);
	CU_ASSERT_EQUAL(info.handle, s); /* handles survive: the generation is persistent */
	CU_ASSERT_EQUAL(info.content_len, 4242);
	CU_ASSERT_EQUAL(info.meta_len, 4);
	CU_ASSERT_EQUAL(memcmp(info.meta, "tree", 4), 0);
	CU_ASSERT_EQUAL(cache_swarm_find(c, pinned_id, sizeof(pinned_id), &info), 0);
	CU_ASSERT_TRUE(info.pinned);
	test_fill(7, meta, sizeof(meta));
	CU_ASSERT_EQUAL(info.meta_len, sizeof(meta));
	CU_ASSERT_EQUAL(memcmp(info.meta, meta, sizeof(meta)), 0);
	for (uint64_t i = 0; i < 500; i++)
		CU_ASSERT_EQUAL(probe(c, s, 1, i), i == 100 || (i >= 200 && i < 210) ? 0 : 1);
	for (uint64_t i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(probe(c, p, 2, i), 1);
	/* recovered chunks are in their swarm's chunk map too: a reader finds them there */
	CU_ASSERT_EQUAL(info.chunk_map, (1ull << 30) / 8192);
	struct cache_reader *r = cache_reader_register(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	for (uint64_t i = 0; i < 21; i++) {
		struct cache_hit rh, wh;
		struct cache_key k = {p, i};
		int rc = cache_lookup(r, &k, &rh);

		CU_ASSERT_EQUAL(rc, i < 20 ? 0 : -ENOENT);
		if (rc == 0 && cache_writer_lookup(c, &k, &wh) == 0)
			CU_ASSERT_EQUAL(rh.slot, wh.slot);
	}
	cache_reader_unregister(r);
	cache_stats_get(c, &st);
	CU_ASSERT_EQUAL(st.chunks, 509);
	CU_ASSERT_EQUAL(st.pinned_chunks, 21);
	/* the recovered cache keeps working */
	CU_ASSERT_EQUAL(put(c, s, 1, 100, 0), 0);
	CU_ASSERT_EQUAL(probe(c, s, 1, 100), 1);
	cache_destroy(c);
}

static void test_torn_chunks(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_hit h;
	cache_swarm_t s;
	off_t off_a, off_b;
	uint64_t dropped;
	int fd;

	unlink(path);
	file_conf(&conf);
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	s = find_or_add(c, swarm_id, sizeof(swarm_id), false);
	for (uint64_t i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(put(c, s, 1, i, 0), 0);
	CU_ASSERT_EQUAL(cache_writer_lookup(c, &(struct cache_key){ s, 30 }, &h), 0);
	off_a = (const uint8_t *)h.data - (uint8_t *)cache_region_base(c);
	CU_ASSERT_EQUAL(cache_writer_lookup(c, &(struct cache_key){ s, 41 }, &h), 0);
	off_b = (const uint8_t *)h.data - (uint8_t *)cache_region_base(c) + h.len - 1;
	cache_destroy(c);

	/* What a power cut can leave: committed records whose payload pages were only partly
	 * written back. Chunk 30 loses its second half, chunk 41 its last byte. */
	fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(pwrite(fd, buf, len_of(30) / 2, off_a + len_of(30) / 2),
			(ssize_t)(len_of(30) / 2));
	CU_ASSERT_EQUAL(pwrite(fd, "\xff", 1, off_b), 1);
	close(fd);

	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	cache_recovery_counts(c, NULL, NULL, &dropped);
	CU_ASSERT_EQUAL(dropped, 2);
	for (uint64_t i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(probe(c, s, 1, i), i == 30 || i == 41 ? 0 : 1);
	cache_destroy(c);
}

static void test_header_checks(void)
{
	struct cache_conf conf;
	struct cache *c, *c2;
	cache_swarm_t s;
	int fd;

	unlink(path);
	file_conf(&conf);
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	s = find_or_add(c, swarm_id, sizeof(swarm_id), false);
	CU_ASSERT_EQUAL(put(c, s, 1, 5, 0), 0);

	/* one process at a time */
	errno = 0;
	c2 = cache_create(&conf);
	CU_ASSERT_PTR_NULL(c2);
	CU_ASSERT_EQUAL(errno, EBUSY);
	cache_destroy(c);

	/* another geometry: refused, then re-initialised on request */
	conf.classes[0].nslots = 4096;
	errno = 0;
	CU_ASSERT_PTR_NULL(cache_create(&conf));
	CU_ASSERT_EQUAL(errno, EPROTO);
	conf.reinit_on_mismatch = true;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(cache_swarm_find(c, swarm_id, sizeof(swarm_id),
					 &(struct cache_swarm_info){ 0 }),
			-ENOENT);
	cache_destroy(c);

	/* not a cache file at all */
	fd = open(path, O_RDWR | O_TRUNC);
	CU_ASSERT_FATAL(fd >= 0);
	test_fill(99, buf, sizeof(buf));
	memcpy(buf + 104, "\x1e\xab\xa1\x5c", 4); /* looks initialised */
	CU_ASSERT_EQUAL(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	file_conf(&conf);
	errno = 0;
	CU_ASSERT_PTR_NULL(cache_create(&conf));
	CU_ASSERT_EQUAL(errno, EPROTO);

	/* a first start killed before the header was written starts empty */
	fd = open(path, O_RDWR | O_TRUNC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 1 << 20), 0);
	close(fd);
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL(c);
	cache_destroy(c);
}

/* Headroom is part of the file's geometry; the cache never touches it, recovery included. */
static void test_headroom_geometry(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_hit h;
	cache_swarm_t s;
	uint64_t rc_chunks, rc_swarms, dropped;

	unlink(path);
	file_conf(&conf);
	conf.slot_headroom = 128;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(cache_slot_headroom(c), 128);
	s = find_or_add(c, swarm_id, sizeof(swarm_id), false);
	CU_ASSERT_FATAL(s != 0);
	for (uint64_t i = 0; i < 50; i++) {
		CU_ASSERT_EQUAL(put(c, s, 1, i, 0), 0);
		CU_ASSERT_EQUAL_FATAL(cache_writer_lookup(c, &(struct cache_key){ s, i }, &h), 0);
		memset((uint8_t *)h.data - 128, 0xa5, 128);
	}
	cache_destroy(c);

	/* another headroom: refused */
	conf.slot_headroom = 0;
	errno = 0;
	CU_ASSERT_PTR_NULL(cache_create(&conf));
	CU_ASSERT_EQUAL(errno, EPROTO);
	conf.slot_headroom = 256;
	errno = 0;
	CU_ASSERT_PTR_NULL(cache_create(&conf));
	CU_ASSERT_EQUAL(errno, EPROTO);

	/* the same: every chunk back, headroom as the sender left it */
	conf.slot_headroom = 128;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	cache_recovery_counts(c, &rc_chunks, &rc_swarms, &dropped);
	CU_ASSERT_EQUAL(rc_chunks, 50);
	CU_ASSERT_EQUAL(rc_swarms, 1);
	CU_ASSERT_EQUAL(dropped, 0);
	for (uint64_t i = 0; i < 50; i++) {
		CU_ASSERT_EQUAL(probe(c, s, 1, i), 1);
		CU_ASSERT_EQUAL_FATAL(cache_writer_lookup(c, &(struct cache_key){ s, i }, &h), 0);
		CU_ASSERT_EQUAL((uintptr_t)h.data % 64, 0);
		for (unsigned j = 1; j <= 128; j++)
			if (((const uint8_t *)h.data)[-(int)j] != 0xa5) {
				CU_FAIL("headroom changed across a restart");
				break;
			}
	}
	cache_destroy(c);

	/* another headroom with reinit_on_mismatch: starts empty */
	conf.slot_headroom = 0;
	conf.reinit_on_mismatch = true;
	c = cache_create(&conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(cache_slot_headroom(c), 0);
	cache_recovery_counts(c, &rc_chunks, &rc_swarms, &dropped);
	CU_ASSERT_EQUAL(rc_chunks, 0);
	CU_ASSERT_EQUAL(rc_swarms, 0);
	CU_ASSERT_EQUAL(cache_swarm_find(c, swarm_id, sizeof(swarm_id),
					 &(struct cache_swarm_info){ 0 }),
			-ENOENT);
	cache_destroy(c);
}

/* Child: opens the file, inserts chunk after chunk from `from`, reporting each completed insert
 * on the pipe, until killed. */
static void child_fill(int wfd, uint64_t from)
{
	struct cache_conf conf;
	struct cache *c;
	cache_swarm_t s;

	file_conf(&conf);
	c = cache_create(&conf);
	if (!c)
		_exit(2);
	s = find_or_add(c, swarm_id, sizeof(swarm_id), false);
	if (!s)
		_exit(3);
	for (uint64_t i = from;; i++) {
		if (put(c, s, 1, i, 0) != 0)
			_exit(4);
		if (write(wfd, &i, sizeof(i)) != sizeof(i))
			_exit(5);
	}
}

static void test_kill9(void)
{
	struct cache_conf conf;
	struct cache *c;
	struct cache_stats st;
	uint64_t next = 0;

	unlink(path);
	file_conf(&conf);
	srand(12345);
	/* Several rounds: each child continues where the last left off and is killed at a
	 * different point; capacity exceeds everything written, so nothing is evicted. */
	for (int round = 0; round < 5; round++) {
		int pfd[2], status;
		uint64_t acked = UINT64_MAX, v, target = next + 200 + (uint64_t)(rand() % 1500);
		pid_t pid;
		ssize_t n;

		CU_ASSERT_FATAL(pipe(pfd) == 0);
		pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			child_fill(pfd[1], next);
		}
		close(pfd[1]);
		while ((n = read(pfd[0], &v, sizeof(v))) == sizeof(v)) {
			acked = v;
			if (v >= target)
				break;
		}
		CU_ASSERT_FATAL(n == sizeof(v));
		kill(pid, SIGKILL);
		while ((n = read(pfd[0], &v, sizeof(v))) == sizeof(v))
			acked = v;
		close(pfd[0]);
		CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
		CU_ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

		c = cache_create(&conf);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		struct cache_swarm_info info;
		CU_ASSERT_EQUAL_FATAL(cache_swarm_find(c, swarm_id, sizeof(swarm_id), &info), 0);
		/* every acknowledged chunk is back, byte for byte */
		for (uint64_t i = 0; i <= acked; i++)
			CU_ASSERT_EQUAL(probe(c, info.handle, 1, i), 1);
		/* the one in flight is complete or absent, never torn; nothing beyond it */
		CU_ASSERT_NOT_EQUAL(probe(c, info.handle, 1, acked + 1), -1);
		CU_ASSERT_EQUAL(probe(c, info.handle, 1, acked + 2), 0);
		cache_stats_get(c, &st);
		CU_ASSERT(st.chunks == acked + 1 || st.chunks == acked + 2);
		CU_ASSERT_EQUAL(st.evictions, 0);
		next = acked + 1;
		if (probe(c, info.handle, 1, acked + 1) == 1)
			next = acked + 2;
		cache_destroy(c);
	}
	CU_ASSERT(next > 1000);
}

int main(void)
{
	CU_pSuite s;
	unsigned failed;
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/pcdn-cache-restart-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/cache.bin", dir);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("cache restart", NULL, NULL);
	CU_add_test(s, "clean restart", test_clean_restart);
	CU_add_test(s, "torn chunks dropped", test_torn_chunks);
	CU_add_test(s, "header, geometry and lock", test_header_checks);
	CU_add_test(s, "slot headroom is geometry, and survives untouched", test_headroom_geometry);
	CU_add_test(s, "kill -9 mid-insert", test_kill9);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	unlink(path);
	rmdir(dir);
	return failed ? 1 : 0;
}
