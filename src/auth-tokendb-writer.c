/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The writer of use counts of the tokendb source: one thread per loaded
 * [tokendb] that writes the batches the workers hand over, so that no
 * worker waits for the database lock or the disk.  Also the table the
 * batches are counted in, and the end of a generation's shared data,
 * which the writer frees when it outlives the generation.  At exit the
 * process waits a little for writers that are finishing.  The writer
 * also prunes expired login sessions when a worker asks it to.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenreviewd.h"
#include "tokendb.h"
#include "auth-tokendb.h"

/* FNV-1a of the id picks the first slot; collisions probe linearly. */
int
tdsrc_uses_add(struct tokendb_use *tab, size_t size, size_t *n,
    const char *id, long long last, long long count)
{
	struct tokendb_use	*u;
	uint32_t		 h = 2166136261u;
	size_t			 i;

	for (i = 0; id[i] != '\0'; i++)
		h = (h ^ (uint8_t)id[i]) * 16777619u;
	for (i = h & (size - 1);; i = (i + 1) & (size - 1)) {
		u = &tab[i];
		if (u->count == 0 || strcmp(u->id, id) == 0)
			break;
	}
	if (u->count == 0) {
		if (*n >= size / 4 * 3)
			return -1;
		strlcpy(u->id, id, sizeof(u->id));
		(*n)++;
	}
	u->count += count;
	if (last > u->last_used)
		u->last_used = last;
	return 0;
}

/* Merge the size slots of from into the writer's pending table; mtx held. */
static void
tdsrc_writer_merge(struct tdsrc_shared *ts, const struct tokendb_use *from,
    size_t size)
{
	struct tdsrc_writer	*w = &ts->writer;
	size_t			 i;

	for (i = 0; i < size; i++) {
		if (from[i].count != 0 && tdsrc_uses_add(w->pending,
		    TDSRC_WRITER_SLOTS, &w->npending, from[i].id,
		    from[i].last_used, from[i].count) != 0)
			ADD(ts->uses_dropped, (uint64_t)from[i].count);
	}
}

/* Writers told to stop that have not finished; the process waits for them. */
static pthread_mutex_t	tdsrc_exit_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	tdsrc_exit_cv = PTHREAD_COND_INITIALIZER;
static int		tdsrc_retiring;
static pthread_once_t	tdsrc_exit_once = PTHREAD_ONCE_INIT;

/*
 * At exit, give the writers of unloaded generations the time to write
 * their last batch: main() returns right after dropping the last runtime.
 * Only stopping writers are waited for, so a fatal exit never hangs here.
 */
static void
tdsrc_exit_wait(void)
{
	struct timespec	dl;

	ms_to_abstime(TDSRC_EXIT_WAIT * 1000LL, &dl);
	pthread_mutex_lock(&tdsrc_exit_mtx);
	while (tdsrc_retiring > 0 && pthread_cond_timedwait(
	    &tdsrc_exit_cv, &tdsrc_exit_mtx, &dl) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&tdsrc_exit_mtx);
}

static void
tdsrc_exit_register(void)
{
	atexit(tdsrc_exit_wait);
}

/* By unload, or by the writer thread once it has written the last batch. */
void
tdsrc_shared_free(struct tdsrc_shared *ts)
{
	free(ts->path);
	free(ts->url);
	free(ts->migrate_sql);
	tokendb_close(ts->writer.db);
	free(ts->writer.pending);
	free(ts->writer.writing);
	pthread_cond_destroy(&ts->writer.cv);
	pthread_mutex_destroy(&ts->writer.mtx);
	pthread_mutex_destroy(&ts->hist_mtx);
	free(ts);
}

/* The thread's connection, opened here so that only it ever uses it. */
static struct tokendb *
tdsrc_writer_db(struct tdsrc_shared *ts, char *err, size_t errlen)
{
	struct tdsrc_writer	*w = &ts->writer;

	if (w->db == NULL)
		w->db = ts->url != NULL ? tokendb_open(ts->url, 0,
		    ts->query_timeout, err, errlen) : tokendb_open(ts->path, 0,
		    ts->busy_timeout > TDSRC_WRITER_BUSY ? ts->busy_timeout :
		    TDSRC_WRITER_BUSY, err, errlen);
	return w->db;
}

/* Write the writing table; 0, or -1 with the counts kept there. */
static int
tdsrc_writer_write(struct tdsrc_shared *ts)
{
	struct tdsrc_writer	*w = &ts->writer;
	char			 err[TR_ERRLEN];
	double			 t0 = monotonic_sec();

	if (tdsrc_writer_db(ts, err, sizeof(err)) == NULL)
		goto fail;
	if (tokendb_record_uses(w->db, w->writing, TDSRC_WRITER_SLOTS, err,
	    sizeof(err)) < 0)
		goto fail;
	ADD(ts->flushes, 1);
	ADD(ts->flush_us, (uint64_t)((monotonic_sec() - t0) * 1e6));
	memset(w->writing, 0, TDSRC_WRITER_SLOTS * sizeof(*w->writing));
	return 0;
fail:
	log_msg(LL_WARN, "tokendb_flush", "%s", err);
	return -1;
}

/* Write what is pending, with mtx held on entry and on return. */
static int
tdsrc_writer_pass(struct tdsrc_shared *ts)
{
	struct tdsrc_writer	*w = &ts->writer;
	struct tokendb_use	*tab;
	int			 r;

	tab = w->writing;
	w->writing = w->pending;
	w->pending = tab;
	w->npending = 0;
	pthread_mutex_unlock(&w->mtx);
	r = tdsrc_writer_write(ts);
	pthread_mutex_lock(&w->mtx);
	if (r != 0) {
		/* Merged with what came meanwhile, for the next try. */
		tdsrc_writer_merge(ts, w->writing, TDSRC_WRITER_SLOTS);
		memset(w->writing, 0, TDSRC_WRITER_SLOTS *
		    sizeof(*w->writing));
	}
	return r;
}

/*
 * Delete up to TDSRC_PRUNE_MAX expired sessions, with mtx held on entry
 * and on return.  A failure is only logged: the next pass tries again.
 */
static void
tdsrc_writer_prune_pass(struct tdsrc_shared *ts)
{
	struct tdsrc_writer	*w = &ts->writer;
	char			 err[TR_ERRLEN];
	int			 n = 0;

	w->prune = 0;
	pthread_mutex_unlock(&w->mtx);
	if (tdsrc_writer_db(ts, err, sizeof(err)) == NULL ||
	    (n = tokendb_session_prune_some(w->db, (int64_t)time(NULL),
	    TDSRC_PRUNE_MAX, err, sizeof(err))) < 0) {
		ADD(ts->errors, 1);
		log_msg(LL_WARN, "tokendb_prune", "%s", err);
	} else if (n > 0)
		log_msg(LL_DEBUG, "tokendb_prune", "%d expired sessions "
		    "deleted", n);
	pthread_mutex_lock(&w->mtx);
}

/* After a failed write: wait flush_interval, or less if told to stop. */
static void
tdsrc_writer_backoff(struct tdsrc_shared *ts)
{
	struct tdsrc_writer	*w = &ts->writer;
	struct timespec		 dl;

	ms_to_abstime(ts->flush_interval, &dl);
	while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mtx,
	    &dl) != ETIMEDOUT)
		;
}

static void *
tdsrc_writer_main(void *arg)
{
	struct tdsrc_shared	*ts = arg;
	struct tdsrc_writer	*w = &ts->writer;
	int			 stop, r = 0;

	pthread_mutex_lock(&w->mtx);
	for (;;) {
		if (r != 0)
			tdsrc_writer_backoff(ts);
		while (w->npending == 0 && !w->prune && !w->stop)
			pthread_cond_wait(&w->cv, &w->mtx);
		/* Everything handed over before the stop is written. */
		stop = w->stop;
		r = w->npending > 0 ? tdsrc_writer_pass(ts) : 0;
		if (w->prune && !stop)
			tdsrc_writer_prune_pass(ts);
		if (stop)
			break;
	}
	if (w->npending > 0)
		log_msg(LL_WARN, "tokendb_flush", "%zu use counts not written",
		    w->npending);
	pthread_mutex_unlock(&w->mtx);
	tdsrc_shared_free(ts);

	pthread_mutex_lock(&tdsrc_exit_mtx);
	tdsrc_retiring--;
	pthread_cond_broadcast(&tdsrc_exit_cv);
	pthread_mutex_unlock(&tdsrc_exit_mtx);
	return NULL;
}

/* Start the writer, with mtx held; 0, or -1 if there is no thread. */
static int
tdsrc_writer_start(struct tdsrc_shared *ts)
{
	struct tdsrc_writer	*w = &ts->writer;
	pthread_t		 t;
	int			 e;

	if (w->started)
		return 0;
	if (w->stop)
		return -1;
	if (w->pending == NULL) {
		w->pending = xcalloc(TDSRC_WRITER_SLOTS,
		    sizeof(*w->pending));
		w->writing = xcalloc(TDSRC_WRITER_SLOTS,
		    sizeof(*w->writing));
	}
	pthread_once(&tdsrc_exit_once, tdsrc_exit_register);
	if ((e = thread_start(&t, tdsrc_writer_main, ts)) != 0) {
		log_msg(LL_ERROR, "tokendb_flush", "no writer thread: %s",
		    strerror(e));
		return -1;
	}
	pthread_detach(t);
	w->started = 1;
	return 0;
}

void
tdsrc_writer_init(struct tdsrc_writer *w)
{
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cv, NULL);
}

/*
 * Tell a started writer to finish: 1 if it now owns ts and frees it.  The
 * writer is not joined here: the last reference to a generation is often
 * dropped by a worker, which must not wait for a write.
 */
int
tdsrc_writer_retire(struct tdsrc_shared *ts)
{
	struct tdsrc_writer	*w = &ts->writer;
	int			 started;

	pthread_mutex_lock(&w->mtx);
	started = w->started;
	w->stop = 1;
	if (started) {
		pthread_mutex_lock(&tdsrc_exit_mtx);
		tdsrc_retiring++;
		pthread_mutex_unlock(&tdsrc_exit_mtx);
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mtx);
	return started;
}

void
tdsrc_writer_prune(struct tdsrc_shared *ts)
{
	struct tdsrc_writer	*w = &ts->writer;

	pthread_mutex_lock(&w->mtx);
	if (tdsrc_writer_start(ts) == 0) {
		w->prune = 1;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mtx);
}

/*
 * Give the batch to the writer thread and start afresh; the worker never
 * waits for the write.  If there is no writer, the counts stay here.
 */
void
tdsrc_hand_over(struct tdsrc_inst *ti)
{
	struct tdsrc_writer	*w = &ti->ts->writer;

	pthread_mutex_lock(&w->mtx);
	if (tdsrc_writer_start(ti->ts) != 0) {
		pthread_mutex_unlock(&w->mtx);
		return;
	}
	tdsrc_writer_merge(ti->ts, ti->uses, TDSRC_MAX_PENDING);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mtx);
	memset(ti->uses, 0, sizeof(ti->uses));
	ti->nuses = 0;
}
