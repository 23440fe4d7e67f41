/* Private to the overlay files of lib/reload: the storage service and the transaction table
 * that node.c drives. */
#ifndef RELOAD_OVERLAY_INTERNAL_H
#define RELOAD_OVERLAY_INTERNAL_H

#include "reload_overlay.h"

struct event_base;

/* ---- storage service (storage.c): §7.4 over reload_kind_store, §10.4 replication input ---- */

struct reload_storage;
struct reload_storage *storage_new(const struct reload_overlay_config *cfg,
				   const struct reload_trust *trust);
void storage_free(struct reload_storage *st);
/* §7.4.1.1: verifies every value's signature (§7.1) and the Kind's access policy (§7.3), then
 * applies all kinds atomically. certs: the request's security block certificates. replicas: the
 * Node-IDs reported in the answer. Fills ans (arena). -ENOSYS unknown Kind, -EACCES, -ESTALE,
 * -ETIME, -EFBIG, -EBADMSG. */
int storage_store(struct reload_storage *st, const struct reload_store_req *req,
		  const struct reload_generic_cert *certs, size_t ncert, bool replica,
		  const struct reload_node_id *replicas, size_t nrep, uint64_t now_ms,
		  struct reload_arena *a, struct reload_store_ans *ans);
/* §7.4.2.2; *certs gets the signer certificates of the returned values (arena). */
int storage_fetch(struct reload_storage *st, const struct reload_fetch_req *req, uint64_t now_ms,
		  struct reload_arena *a, struct reload_fetch_ans *ans, struct reload_bytes **certs,
		  size_t *ncert);
int storage_stat(struct reload_storage *st, const reload_stat_req *req, uint64_t now_ms,
		 struct reload_arena *a, struct reload_stat_ans *ans);
/* Calls fn for every (Resource-ID, Kind) held whose Resource-ID is in (lo, hi] (lo == hi: all),
 * with a StoreReq of its values (lifetimes reduced) and their signer certificates. */
typedef int (*storage_export_fn)(void *ctx, const struct reload_store_req *req,
				 const struct reload_bytes *certs, size_t ncert);
int storage_export(struct reload_storage *st, const uint8_t *lo, const uint8_t *hi,
		   unsigned id_len, uint64_t now_ms, storage_export_fn fn, void *ctx);
/* Drops Resource-IDs outside (lo, hi] (§10.7.3: no longer in the replica set). */
size_t storage_drop_outside(struct reload_storage *st, const uint8_t *lo, const uint8_t *hi,
			    unsigned id_len);
size_t storage_expire(struct reload_storage *st, uint64_t now_ms);
size_t storage_count(const struct reload_storage *st);
void storage_show(const struct reload_storage *st, const struct reload_chord *c,
		  struct reload_buf *out);

/* ---- transactions (transaction.c): §6.2.1 end-to-end reliability ------------------------- */

struct reload_txn_table;
/* ans: the decoded answer (Error included), NULL when the request failed after the last
 * transmission (status -ETIMEDOUT) or was cancelled (-ECANCELED). */
typedef void (*reload_txn_cb)(void *arg, int status, const struct reload_message *ans,
			      uint64_t elapsed_us);
typedef int (*reload_txn_send_fn)(void *ctx, const uint8_t *msg, size_t len);

struct reload_txn_table *txn_table_new(struct event_base *base, uint32_t timer_ms,
				       unsigned transmissions, reload_txn_send_fn send, void *ctx);
/* Cancels every pending transaction (-ECANCELED). */
void txn_table_free(struct reload_txn_table *t);
/* Sends msg and retransmits it unchanged every timer_ms until an answer or the last try. */
int txn_start(struct reload_txn_table *t, uint64_t tid, const uint8_t *msg, size_t len,
	      reload_txn_cb cb, void *arg);
/* An answer arrived: runs the callback; false when no transaction has this ID. */
bool txn_complete(struct reload_txn_table *t, uint64_t tid, const struct reload_message *ans);
bool txn_pending(const struct reload_txn_table *t, uint64_t tid);
/* Cancels one transaction without calling its callback. */
void txn_cancel(struct reload_txn_table *t, uint64_t tid);
size_t txn_count(const struct reload_txn_table *t);
uint64_t txn_retransmissions(const struct reload_txn_table *t);
uint64_t txn_timeouts(const struct reload_txn_table *t);

/* §6.2.1: answers to requests are kept for the maximum request lifetime so a retransmitted
 * request gets the same answer (Store must not be applied twice). */
void txn_reply_put(struct reload_txn_table *t, uint64_t tid, const uint8_t *msg, size_t len);
/* The cached answer for tid, or NULL. */
const uint8_t *txn_reply_get(struct reload_txn_table *t, uint64_t tid, size_t *len);

#endif
