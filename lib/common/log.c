/* One logging facility for every program: components with their own level, stderr or syslog. */
#include "pcdn_common.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#define LOG_MAX_COMPONENTS 64

static struct {
	pthread_mutex_t lock; /* registration only; level reads are relaxed atomics */
	int n;
	char names[LOG_MAX_COMPONENTS][24];
	int levels[LOG_MAX_COMPONENTS];
	int use_syslog;
} g_log = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const char *const level_names[] = { "err", "warning", "notice", "info", "debug" };

int pcdn_log_register(const char *name)
{
	int id = -1;

	pthread_mutex_lock(&g_log.lock);
	for (int i = 0; i < g_log.n; i++)
		if (strcmp(g_log.names[i], name) == 0)
			id = i;
	if (id < 0 && g_log.n < LOG_MAX_COMPONENTS) {
		id = g_log.n++;
		snprintf(g_log.names[id], sizeof(g_log.names[id]), "%s", name);
		__atomic_store_n(&g_log.levels[id], PCDN_LOG_NOTICE, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&g_log.lock);
	/* Too many components share the last slot rather than failing at constructor time. */
	return id < 0 ? LOG_MAX_COMPONENTS - 1 : id;
}

int pcdn_log_set_level(const char *pattern, enum pcdn_log_level level)
{
	int changed = 0;

	pthread_mutex_lock(&g_log.lock);
	for (int i = 0; i < g_log.n; i++) {
		if (fnmatch(pattern, g_log.names[i], 0) == 0) {
			__atomic_store_n(&g_log.levels[i], (int)level, __ATOMIC_RELAXED);
			changed++;
		}
	}
	pthread_mutex_unlock(&g_log.lock);
	return changed;
}

enum pcdn_log_level pcdn_log_get_level(int component)
{
	if (component < 0 || component >= LOG_MAX_COMPONENTS)
		return PCDN_LOG_NOTICE;
	return (enum pcdn_log_level)__atomic_load_n(&g_log.levels[component], __ATOMIC_RELAXED);
}

int pcdn_log_level_parse(const char *s, enum pcdn_log_level *out)
{
	for (size_t i = 0; i < PCDN_ARRAY_SIZE(level_names); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum pcdn_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "error") == 0) {
		*out = PCDN_LOG_ERR;
		return 0;
	}
	if (strcasecmp(s, "warn") == 0) {
		*out = PCDN_LOG_WARNING;
		return 0;
	}
	return -EINVAL;
}

const char *pcdn_log_level_name(enum pcdn_log_level level)
{
	if ((unsigned)level >= PCDN_ARRAY_SIZE(level_names))
		return "?";
	return level_names[level];
}

void pcdn_log_to_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	__atomic_store_n(&g_log.use_syslog, 1, __ATOMIC_RELAXED);
}

void pcdn_log_to_stderr(void)
{
	__atomic_store_n(&g_log.use_syslog, 0, __ATOMIC_RELAXED);
}

bool pcdn_log_enabled(int component, enum pcdn_log_level level)
{
	return (int)level <= (int)pcdn_log_get_level(component);
}

void pcdn_vlog(int component, enum pcdn_log_level level, const char *fmt, va_list ap)
{
	static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
	char msg[1024];
	const char *comp = (component >= 0 && component < g_log.n) ? g_log.names[component] : "?";

	if (!pcdn_log_enabled(component, level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (__atomic_load_n(&g_log.use_syslog, __ATOMIC_RELAXED)) {
		syslog(syslog_prio[level], "%s: %s", comp, msg);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* One fprintf per line: stdio's lock keeps lines from different threads whole. */
	fprintf(stderr, "%02d:%02d:%02d.%03ld %-7s %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, level_names[level], comp, msg);
}

void pcdn_log(int component, enum pcdn_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pcdn_vlog(component, level, fmt, ap);
	va_end(ap);
}
