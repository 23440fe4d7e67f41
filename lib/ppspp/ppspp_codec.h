/* RFC 7574 §7, §8: datagrams, messages, handshake options and chunk specifications (§4).
 * Part of ppspp.h; include that. */
#ifndef PPSPP_CODEC_H
#define PPSPP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PPSPP_VERSION 1

/* RFC 7574 §8.2 Table 7 */
enum ppspp_msg_type {
	PPSPP_HANDSHAKE = 0,
	PPSPP_DATA = 1,
	PPSPP_ACK = 2,
	PPSPP_HAVE = 3,
	PPSPP_INTEGRITY = 4,
	PPSPP_PEX_RESV4 = 5,
	PPSPP_PEX_REQ = 6,
	PPSPP_SIGNED_INTEGRITY = 7,
	PPSPP_REQUEST = 8,
	PPSPP_CANCEL = 9,
	PPSPP_CHOKE = 10,
	PPSPP_UNCHOKE = 11,
	PPSPP_PEX_RESV6 = 12,
	PPSPP_PEX_RESCERT = 13,
	PPSPP_MSG_TYPE_MAX = 13,
};

/* RFC 7574 §7 Table 2 */
enum ppspp_option {
	PPSPP_OPT_VERSION = 0,
	PPSPP_OPT_MIN_VERSION = 1,
	PPSPP_OPT_SWARM_ID = 2,
	PPSPP_OPT_CIPM = 3,
	PPSPP_OPT_MERKLE_HASH = 4,
	PPSPP_OPT_LIVE_SIG_ALG = 5,
	PPSPP_OPT_CAM = 6,
	PPSPP_OPT_LIVE_DISCARD = 7,
	PPSPP_OPT_SUPPORTED_MSGS = 8,
	PPSPP_OPT_CHUNK_SIZE = 9,
	PPSPP_OPT_END = 255,
};

/* RFC 7574 §7.5 Table 3: content integrity protection method */
enum ppspp_cipm {
	PPSPP_CIPM_NONE = 0,
	PPSPP_CIPM_MERKLE = 1,
	PPSPP_CIPM_SIGN_ALL = 2,
	PPSPP_CIPM_UNIFIED_MERKLE = 3,
};

/* RFC 7574 §7.6 Table 4: Merkle hash tree function */
enum ppspp_hash_fn {
	PPSPP_HASH_SHA1 = 0,
	PPSPP_HASH_SHA224 = 1,
	PPSPP_HASH_SHA256 = 2,
	PPSPP_HASH_SHA384 = 3,
	PPSPP_HASH_SHA512 = 4,
};
#define PPSPP_HASH_MAX_LEN 64

/* RFC 7574 §7.8 Table 6: chunk addressing method */
enum ppspp_cam {
	PPSPP_CAM_BIN32 = 0,
	PPSPP_CAM_BYTE64 = 1,
	PPSPP_CAM_CHUNK32 = 2,
	PPSPP_CAM_BIN64 = 3,
	PPSPP_CAM_CHUNK64 = 4,
};

#define PPSPP_CHUNK_SIZE_VARIABLE 0xFFFFFFFFu
#define PPSPP_DEFAULT_CHUNK_SIZE 1024u
#define PPSPP_BIN32_NONE 0xFFFFFFFFu
#define PPSPP_BIN64_NONE UINT64_MAX

/* Errors specific to decoding; every decode failure is one of these (negated), so callers can
 * count drops by reason. */
enum ppspp_decode_error {
	PPSPP_ERR_TRUNCATED = 1,     /* a message or option runs past the datagram */
	PPSPP_ERR_UNKNOWN_MSG,       /* message type 14..255 */
	PPSPP_ERR_UNKNOWN_OPTION,    /* option code 10..254 (cannot skip: no length) */
	PPSPP_ERR_BAD_VALUE,         /* a field value the RFC forbids (e.g. end < start) */
	PPSPP_ERR_NO_CONTEXT,        /* message needs a parameter not yet negotiated */
	PPSPP_ERR_OPTION_ORDER,      /* options not ascending, or duplicate */
	PPSPP_ERR_DECODE_MAX,
};
const char *ppspp_decode_error_name(int negative_code);

/* A chunk specification as it is on the wire, for the channel's addressing method.
 * Bins use `a` only; ranges use [a, b] inclusive (chunks or bytes per cam). The decoder sets
 * b = a for bins; the encoder accepts b = a or b = 0 for a bin and refuses anything else. */
struct ppspp_spec {
	uint64_t a;
	uint64_t b;
};

/* Parameters a decoder and encoder need that the handshake negotiates (§8.1-8.9). */
struct ppspp_codec_ctx {
	uint8_t cam;          /* enum ppspp_cam */
	uint8_t hash_len;     /* bytes of an INTEGRITY hash (from the Merkle hash function) */
	uint16_t sig_len;     /* bytes of a SIGNED_INTEGRITY signature (live only; 0 if unknown) */
	uint32_t chunk_size;  /* bytes, or PPSPP_CHUNK_SIZE_VARIABLE */
};

/* Handshake options. `present` has bit (1u << code) for each option that was (or is to be)
 * on the wire; codes 0..9. On decode, pointers refer into the datagram. */
struct ppspp_options {
	uint32_t present;
	uint8_t version;
	uint8_t min_version;
	uint16_t swarm_id_len;
	const uint8_t *swarm_id;
	uint8_t cipm;
	uint8_t merkle_hash;
	uint8_t live_sig_alg;
	uint8_t cam;
	uint64_t live_discard_window;
	uint8_t supported_msgs_len;   /* bytes of the compressed bitmap, 0..32 */
	uint8_t supported_msgs[32];
	uint32_t chunk_size;
};
#define PPSPP_OPT_BIT(code) (1u << (code))
static inline bool ppspp_options_has(const struct ppspp_options *o, enum ppspp_option code)
{
	return (o->present & PPSPP_OPT_BIT(code)) != 0;
}

struct ppspp_msg {
	uint8_t type; /* enum ppspp_msg_type */
	union {
		struct {
			uint32_t src_channel; /* 0 = close the channel (§8.4) */
			struct ppspp_options opts;
		} handshake;
		struct {
			struct ppspp_spec spec;
			uint64_t timestamp; /* microseconds, sender's clock */
			const uint8_t *data;
			size_t len;
		} data;
		struct {
			struct ppspp_spec spec;
			uint64_t delay_us; /* one-way delay sample */
		} ack;
		struct ppspp_spec have;
		struct ppspp_spec request;
		struct ppspp_spec cancel;
		struct {
			struct ppspp_spec spec;
			const uint8_t *hash; /* ctx.hash_len bytes */
		} integrity;
		struct {
			struct ppspp_spec spec;
			uint64_t timestamp;
			const uint8_t *sig; /* ctx.sig_len bytes */
		} signed_integrity;
		struct {
			uint8_t addr[16]; /* 4 bytes used for PEX_RESv4 */
			uint16_t port;
		} pex;
		struct {
			const uint8_t *cert;
			uint16_t len;
		} pex_cert;
	} u;
};

/* ---- decoding --------------------------------------------------------------------------- */

/* Reads one datagram message by message, without copying. A HANDSHAKE inside the datagram
 * updates the reader's copy of the context (cam, hash length, chunk size) so the messages that
 * follow it in the same datagram decode with the negotiated parameters. */
struct ppspp_reader {
	const uint8_t *buf;
	size_t len;
	size_t off;
	uint32_t dst_channel;
	struct ppspp_codec_ctx ctx;
	int err; /* first decode error (negative), returned again by every later call */
};

/* -PPSPP_ERR_TRUNCATED if len < 4 (no channel ID). ctx NULL means the RFC defaults: 32-bit
 * chunk ranges, 1024-byte chunks, SHA-256 (32-byte hashes), no signature length. */
int ppspp_reader_init(struct ppspp_reader *r, const uint8_t *buf, size_t len,
		      const struct ppspp_codec_ctx *ctx);
/* 1 and *msg filled; 0 at the end of the datagram; a negative ppspp_decode_error otherwise
 * (the rest of the datagram is then unusable). */
int ppspp_reader_next(struct ppspp_reader *r, struct ppspp_msg *msg);

/* Decodes an options list (§7) starting at p; *consumed includes the end option. */
int ppspp_options_decode(const uint8_t *p, size_t len, struct ppspp_options *o, size_t *consumed);
/* The same, with the addressing method in force before this list (the channel's ctx.cam): it
 * sizes a live discard window that no chunk addressing option precedes (§7.9).
 * ppspp_options_decode uses the RFC default, 32-bit chunk ranges. */
int ppspp_options_decode_cam(const uint8_t *p, size_t len, uint8_t cam, struct ppspp_options *o,
			     size_t *consumed);
/* Applies what a decoded (or sent) option list negotiates to a codec context: chunk addressing,
 * hash length from the Merkle hash function, chunk size, and the signature length when the
 * live signature algorithm (with the swarm ID for RSA) determines it. Absent options leave
 * the context as it was. */
void ppspp_codec_ctx_apply(struct ppspp_codec_ctx *ctx, const struct ppspp_options *o);
/* Bytes of a SIGNED_INTEGRITY signature for a DNSSEC algorithm number (§8.9); RSA derives it
 * from the public key in the swarm ID (1-byte algorithm + RFC 3110 key). 0 if unknown. */
size_t ppspp_live_sig_len(uint8_t alg, const uint8_t *swarm_id, size_t swarm_id_len);

/* ---- encoding --------------------------------------------------------------------------- */

struct ppspp_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	struct ppspp_codec_ctx ctx;
	bool sealed; /* a DATA payload shorter than its spec, or variable-size, ended the datagram */
};

/* Writes the destination channel ID. -ENOSPC if cap < 4. ctx NULL: as for the reader. */
int ppspp_writer_init(struct ppspp_writer *w, uint8_t *buf, size_t cap, uint32_t dst_channel,
		      const struct ppspp_codec_ctx *ctx);
/* Appends one message; -ENOSPC if it does not fit (the writer is unchanged), -EINVAL if the
 * message cannot be expressed (e.g. a range on a bin channel). A HANDSHAKE's options are
 * written in ascending code order and end with the end option. */
int ppspp_writer_put(struct ppspp_writer *w, const struct ppspp_msg *msg);
/* A DATA message whose payload does not have the full length of its spec (end-start+1 chunks
 * of ctx.chunk_size, or bytes), or any DATA with variable-size chunks, can only be decoded as
 * the tail of the datagram (§8.6): after it, and after ppspp_writer_put_data_header, every put
 * fails with -EINVAL. A DATA payload longer than its spec is -EINVAL. */
/* Appends a DATA message header (type, spec, timestamp) without its payload, for zero-copy
 * senders that chain the payload after it; the payload must be the datagram's tail. */
int ppspp_writer_put_data_header(struct ppspp_writer *w, const struct ppspp_spec *spec,
				 uint64_t timestamp_us);
/* Fixed-layout fast paths for a sender's hot datagram on a 32-bit chunk range channel (ctx.cam
 * PPSPP_CAM_CHUNK32, RFC 7574 §4.3.2): INTEGRITY (§8.5) = type, be32 first, be32 last, hash;
 * DATA header (§8.6) = type, be32 chunk, be32 chunk, be64 timestamp. The same bytes and the
 * same errors as ppspp_writer_put / ppspp_writer_put_data_header (-EINVAL: another cam, end
 * before start, no hash length, sealed; -ENOSPC), without building a message and a spec. */
int ppspp_writer_put_integrity_chunk32(struct ppspp_writer *w, uint32_t first, uint32_t last,
				       const uint8_t *hash);
int ppspp_writer_put_data_header_chunk32(struct ppspp_writer *w, uint32_t chunk,
					 uint64_t timestamp_us);
int ppspp_options_encode(const struct ppspp_options *o, uint8_t cam, uint8_t *p, size_t cap,
			 size_t *written);

/* Bytes a chunk spec takes on the wire for a cam (4, 8 or 16); 0 for an unknown cam. */
size_t ppspp_spec_size(uint8_t cam);
/* Bytes of a live discard window for a cam (4 or 8, §7.9); 0 for an unknown cam. */
size_t ppspp_discard_window_size(uint8_t cam);
/* One chunk spec from the wire: bytes read, or -PPSPP_ERR_TRUNCATED, -PPSPP_ERR_BAD_VALUE
 * (range end before start), -PPSPP_ERR_NO_CONTEXT (unknown cam). */
int ppspp_spec_decode(uint8_t cam, const uint8_t *p, size_t len, struct ppspp_spec *s);
/* Bytes written, -ENOSPC, or -EINVAL (value too wide, end before start, a range on a bin cam). */
int ppspp_spec_encode(uint8_t cam, const struct ppspp_spec *s, uint8_t *p, size_t cap);
/* Bytes a hash function's digest takes; 0 for an unknown function. */
size_t ppspp_hash_len(uint8_t hash_fn);

/* ---- chunk addressing (§4) ----------------------------------------------------------------- */

/* Converts a wire spec to an inclusive chunk range. Byte ranges need a fixed chunk size.
 * -EINVAL for an empty bin, an end before start, or a byte range on variable-size chunks. */
int ppspp_spec_to_chunks(uint8_t cam, uint32_t chunk_size, const struct ppspp_spec *s,
			 uint64_t *first, uint64_t *last);
/* Expresses chunks [first, last] in cam. Ranges need one spec; bins may need several: fills up
 * to max specs (largest aligned bins, left to right) and returns how many, or -ENOSPC. */
int ppspp_spec_from_chunks(uint8_t cam, uint32_t chunk_size, uint64_t first, uint64_t last,
			   struct ppspp_spec *out, int max);

/* Bin numbers (§4.2). A bin's layer is the number of trailing 1 bits. The empty bin
 * (all ones, layer 64) and the 64-bit "everything" bin 0x7FFF...F (layer 63) are edge cases the
 * helpers must not shift by 64 for (undefined in C): the empty bin covers nothing and has no
 * relatives, "everything" has no parent or sibling. */
static inline unsigned ppspp_bin_layer(uint64_t bin)
{
	return ~bin == 0 ? 64u : (unsigned)__builtin_ctzll(~bin);
}
static inline uint64_t ppspp_bin_from_chunk(uint64_t chunk)
{
	return chunk * 2;
}
static inline uint64_t ppspp_bin_make(unsigned layer, uint64_t offset)
{
	if (layer >= 63)
		return layer == 63 ? INT64_MAX : PPSPP_BIN64_NONE;
	return (offset << (layer + 1)) | ((1ull << layer) - 1);
}
static inline uint64_t ppspp_bin_base_left(uint64_t bin) /* first chunk number */
{
	unsigned l = ppspp_bin_layer(bin);
	return l >= 63 ? 0 : (bin >> (l + 1)) << l;
}
static inline uint64_t ppspp_bin_base_width(uint64_t bin) /* chunks covered */
{
	unsigned l = ppspp_bin_layer(bin);
	return l >= 64 ? 0 : 1ull << l;
}
static inline uint64_t ppspp_bin_parent(uint64_t bin)
{
	unsigned l = ppspp_bin_layer(bin);
	if (l >= 62)
		return l == 62 ? INT64_MAX : PPSPP_BIN64_NONE;
	return ((bin >> (l + 2)) << (l + 2)) | ((1ull << (l + 1)) - 1);
}
static inline uint64_t ppspp_bin_sibling(uint64_t bin)
{
	unsigned l = ppspp_bin_layer(bin);
	return l >= 63 ? PPSPP_BIN64_NONE : bin ^ (1ull << (l + 1));
}
static inline uint64_t ppspp_bin_left(uint64_t bin) /* layer > 0 */
{
	return bin - (1ull << (ppspp_bin_layer(bin) - 1));
}
static inline uint64_t ppspp_bin_right(uint64_t bin) /* layer > 0 */
{
	return bin + (1ull << (ppspp_bin_layer(bin) - 1));
}
static inline bool ppspp_bin_is_left(uint64_t bin)
{
	unsigned l = ppspp_bin_layer(bin);
	return l >= 63 || (bin & (1ull << (l + 1))) == 0;
}

/* Supported-messages bitmap (§7.10). */
void ppspp_supported_msgs_set(struct ppspp_options *o, uint32_t msg_type_mask);
bool ppspp_supported_msgs_has(const struct ppspp_options *o, enum ppspp_msg_type t);

#ifdef __cplusplus
}
#endif

#endif
