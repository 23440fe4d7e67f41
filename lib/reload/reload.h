/* pcdn RELOAD library (RFC 6940): message codec (forwarding header, message contents, security
 * block, every base method's request and answer), fragmentation and reassembly, X.509 identities
 * and signatures, access control, data models of stored values, the XML overlay configuration
 * and certificate enrollment. Bytes and crypto only: no sockets (links, transactions, Chord and
 * the storage service build on this API).
 *
 * Conventions
 * - Functions return 0 (or a count) on success and a negative errno-style code on failure.
 *   Decoders return -EBADMSG on malformed input and never read outside the buffer they are
 *   given; reload_error_code_from_errno() maps a failure to the RFC 6940 §6.3.3.1 error code.
 * - Decoded structures live in a struct reload_arena: every pointer they contain (opaque bytes,
 *   arrays) points into arena memory (decoders copy what they keep), so the input buffer may be
 *   released right after decoding. Structures built by a caller for encoding may point anywhere.
 * - Encoders append to a struct reload_buf (growable; errors are sticky and reported by
 *   reload_buf_error()/the encoder's return value).
 */
#ifndef PCDN_RELOAD_H
#define PCDN_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pcdn_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants (RFC 6940 §6.3.2, §6.7, §14) ---------------------------------------------- */

#define RELOAD_TOKEN			0xd2454c4fu
#define RELOAD_VERSION			0x0a
#define RELOAD_FRAG_HIGH_BIT		0x80000000u
#define RELOAD_FRAG_LAST		0x40000000u
#define RELOAD_FRAG_OFFSET_MASK		0x00ffffffu
#define RELOAD_FRAG_UNFRAGMENTED	(RELOAD_FRAG_HIGH_BIT | RELOAD_FRAG_LAST)
#define RELOAD_DEFAULT_TTL		100
#define RELOAD_DEFAULT_MAX_MESSAGE_SIZE 5000
#define RELOAD_DEFAULT_PORT		6084
#define RELOAD_FIXED_HEADER_LEN		38 /* ForwardingHeader up to and including options_length */
#define RELOAD_CONFIG_SEQ_ANY		65535 /* accepted with ConfigUpdate regardless of sequence */
#define RELOAD_FRAGMENT_TIMEOUT_MS	15000 /* §6.7: maximum request lifetime */

#define RELOAD_NODE_ID_MIN     16
#define RELOAD_NODE_ID_MAX     20
#define RELOAD_NODE_ID_DEFAULT 16
#define RELOAD_RESOURCE_ID_MAX 255
#define RELOAD_OPAQUE_ID_MAX   255

/* Forwarding option flags (§6.3.2.3). */
#define RELOAD_FWDOPT_FORWARD_CRITICAL	   0x01
#define RELOAD_FWDOPT_DESTINATION_CRITICAL 0x02
#define RELOAD_FWDOPT_RESPONSE_COPY	   0x04

/* Message codes (§14.8). Requests are odd, answers are request + 1. */
enum reload_msg_code {
	RELOAD_PROBE_REQ = 0x1,
	RELOAD_PROBE_ANS = 0x2,
	RELOAD_ATTACH_REQ = 0x3,
	RELOAD_ATTACH_ANS = 0x4,
	RELOAD_STORE_REQ = 0x7,
	RELOAD_STORE_ANS = 0x8,
	RELOAD_FETCH_REQ = 0x9,
	RELOAD_FETCH_ANS = 0xa,
	RELOAD_FIND_REQ = 0xd,
	RELOAD_FIND_ANS = 0xe,
	RELOAD_JOIN_REQ = 0xf,
	RELOAD_JOIN_ANS = 0x10,
	RELOAD_LEAVE_REQ = 0x11,
	RELOAD_LEAVE_ANS = 0x12,
	RELOAD_UPDATE_REQ = 0x13,
	RELOAD_UPDATE_ANS = 0x14,
	RELOAD_ROUTE_QUERY_REQ = 0x15,
	RELOAD_ROUTE_QUERY_ANS = 0x16,
	RELOAD_PING_REQ = 0x17,
	RELOAD_PING_ANS = 0x18,
	RELOAD_STAT_REQ = 0x19,
	RELOAD_STAT_ANS = 0x1a,
	RELOAD_APP_ATTACH_REQ = 0x1d,
	RELOAD_APP_ATTACH_ANS = 0x1e,
	RELOAD_CONFIG_UPDATE_REQ = 0x21,
	RELOAD_CONFIG_UPDATE_ANS = 0x22,
	RELOAD_ERROR = 0xffff,
};

/* Error codes (§6.3.3.1, §14.9). */
enum reload_error_code {
	RELOAD_ERR_FORBIDDEN = 0x2,
	RELOAD_ERR_NOT_FOUND = 0x3,
	RELOAD_ERR_REQUEST_TIMEOUT = 0x4,
	RELOAD_ERR_GENERATION_COUNTER_TOO_LOW = 0x5,
	RELOAD_ERR_INCOMPATIBLE_WITH_OVERLAY = 0x6,
	RELOAD_ERR_UNSUPPORTED_FORWARDING_OPTION = 0x7,
	RELOAD_ERR_DATA_TOO_LARGE = 0x8,
	RELOAD_ERR_DATA_TOO_OLD = 0x9,
	RELOAD_ERR_TTL_EXCEEDED = 0xa,
	RELOAD_ERR_MESSAGE_TOO_LARGE = 0xb,
	RELOAD_ERR_UNKNOWN_KIND = 0xc,
	RELOAD_ERR_UNKNOWN_EXTENSION = 0xd,
	RELOAD_ERR_RESPONSE_TOO_LARGE = 0xe,
	RELOAD_ERR_CONFIG_TOO_OLD = 0xf,
	RELOAD_ERR_CONFIG_TOO_NEW = 0x10,
	RELOAD_ERR_IN_PROGRESS = 0x11,
	RELOAD_ERR_EXP_A = 0x12,
	RELOAD_ERR_EXP_B = 0x13,
	RELOAD_ERR_INVALID_MESSAGE = 0x14,
};

/* The errno-style codes this library returns and the RFC error each stands for:
 *   -EACCES Forbidden              -ENOENT Not_Found            -ETIMEDOUT Request_Timeout
 *   -ESTALE Generation_Counter_Too_Low                          -EPROTO Incompatible_with_Overlay
 *   -EOPNOTSUPP Unsupported_Forwarding_Option                   -EFBIG Data_Too_Large
 *   -ETIME Data_Too_Old            -ELOOP TTL_Exceeded          -EMSGSIZE Message_Too_Large
 *   -ENOSYS Unknown_Kind           -ENOPROTOOPT Unknown_Extension
 *   -E2BIG Response_Too_Large      -EKEYEXPIRED Config_Too_Old  -ERANGE Config_Too_New
 *   -EINPROGRESS In_Progress       -EBADMSG Invalid_Message (any parse failure)
 * Returns the RFC error code, or 0 when the RFC says to drop the message without an answer
 * (-ENOMSG: not a RELOAD message / wrong token; -EPROTONOSUPPORT: other version is mapped to
 * Incompatible_with_Overlay; anything else: Invalid_Message). */
uint16_t reload_error_code_from_errno(int negative_errno);
/* The inverse, for a received ErrorResponse (unknown codes give -EBADMSG). */
int reload_errno_from_error_code(uint16_t code);
const char *reload_error_code_name(uint16_t code);
const char *reload_msg_code_name(uint16_t code);

/* ---- memory helpers --------------------------------------------------------------------- */

/* Bump allocator that owns decoded structures; freed all at once. */
struct reload_arena;
struct reload_arena *reload_arena_new(void);
void reload_arena_free(struct reload_arena *a);
void *reload_arena_alloc(struct reload_arena *a, size_t size); /* zeroed, 16-aligned; NULL on OOM */
void *reload_arena_memdup(struct reload_arena *a, const void *p, size_t len);

struct reload_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err; /* first error (-ENOMEM, -EMSGSIZE), sticky */
};
void reload_buf_init(struct reload_buf *b);
void reload_buf_free(struct reload_buf *b);
void reload_buf_reset(struct reload_buf *b); /* len = 0, err = 0, keeps memory */
int reload_buf_error(const struct reload_buf *b);
int reload_buf_put(struct reload_buf *b, const void *p, size_t len);
int reload_buf_put_u8(struct reload_buf *b, uint8_t v);
int reload_buf_put_u16(struct reload_buf *b, uint16_t v);
int reload_buf_put_u32(struct reload_buf *b, uint32_t v);
int reload_buf_put_u64(struct reload_buf *b, uint64_t v);

/* A run of opaque bytes (not owned). */
struct reload_bytes {
	const uint8_t *data;
	size_t len;
};

/* ---- identifiers (§6.3.1.1, §6.3.2.2) ------------------------------------------------------ */

/* NodeId: fixed length per overlay (node-id-length, 16..20 bytes), most significant byte first. */
struct reload_node_id {
	uint8_t len;
	uint8_t id[RELOAD_NODE_ID_MAX];
};

/* ResourceId: opaque<0..2^8-1>. */
struct reload_resource_id {
	uint8_t len;
	uint8_t id[RELOAD_RESOURCE_ID_MAX];
};

enum reload_dest_type {
	RELOAD_DEST_NODE = 1,
	RELOAD_DEST_RESOURCE = 2,
	RELOAD_DEST_OPAQUE = 3,
};

/* A Destination. type NODE: id[0..len) is the Node-ID; RESOURCE: the Resource-ID; OPAQUE: the
 * opaque_id. compressed: the 16-bit form (first bit 1), type OPAQUE, len 2, id = the two bytes
 * (encoded as such; any OPAQUE of 2 bytes whose top bit is set may be sent compressed by setting
 * the flag). Unknown types (4..127) are kept as raw destination_data in id[0..len). */
struct reload_destination {
	uint8_t type;
	bool compressed;
	uint8_t len;
	uint8_t id[RELOAD_RESOURCE_ID_MAX];
};

void reload_dest_node(struct reload_destination *d, const struct reload_node_id *n);
void reload_dest_resource(struct reload_destination *d, const struct reload_resource_id *r);
/* The 16-bit compressed form; value's top bit is forced to 1 as §6.3.2.2 requires. */
void reload_dest_compressed(struct reload_destination *d, uint16_t value);
bool reload_dest_equal(const struct reload_destination *a, const struct reload_destination *b);

/* Node-ID helpers: all-ones wildcard (§3), comparison as unsigned big numbers. */
void reload_node_id_wildcard(struct reload_node_id *n, unsigned len);
bool reload_node_id_is_wildcard(const struct reload_node_id *n);
int reload_node_id_cmp(const struct reload_node_id *a, const struct reload_node_id *b);
bool reload_node_id_equal(const struct reload_node_id *a, const struct reload_node_id *b);
/* Hex text (2*len digits) <-> Node-ID; parse fails with -EINVAL unless exactly len bytes. */
int reload_node_id_from_hex(const char *hex, unsigned len, struct reload_node_id *out);
void reload_node_id_to_hex(const struct reload_node_id *n, char out[2 * RELOAD_NODE_ID_MAX + 1]);

/* Overlay hash for the forwarding header: the low 32 bits of SHA-1(overlay name) (§6.3.2). */
uint32_t reload_overlay_hash(const char *overlay_name);
/* CHORD-RELOAD hash (§10.2): SHA-1 of data truncated to the most significant len bytes (the
 * overlay's node-id-length; Resource-IDs have the Node-ID length). */
void reload_resource_id_hash(const void *data, size_t len, unsigned id_len,
			     struct reload_resource_id *out);

/* ---- forwarding header (§6.3.2) ---------------------------------------------------------- */

struct reload_fwd_option {
	uint8_t type;
	uint8_t flags;
	struct reload_bytes value;
};

struct reload_fwd_header {
	uint32_t overlay;
	uint16_t config_seq;
	uint8_t version; /* RELOAD_VERSION when sending */
	uint8_t ttl;
	uint32_t fragment;
	uint32_t length; /* whole message (this fragment) incl. header; filled in by the encoder */
	uint64_t transaction_id;
	uint32_t max_response_length;
	struct reload_destination *via;
	size_t via_count;
	struct reload_destination *dest;
	size_t dest_count;
	struct reload_fwd_option *options;
	size_t option_count;
};

/* Encodes the header with length = header size + payload_len. */
int reload_fwd_header_encode(const struct reload_fwd_header *h, size_t payload_len,
			     struct reload_buf *out);
/* Decodes the header at the start of buf. Checks token (-ENOMSG), version (-EPROTONOSUPPORT),
 * the fragment high bit, that length equals len (-EBADMSG) and every list length. node_id_len:
 * the overlay's node-id-length. *hdr_len: bytes the header occupies. */
int reload_fwd_header_decode(const uint8_t *buf, size_t len, unsigned node_id_len,
			     struct reload_arena *a, struct reload_fwd_header *h, size_t *hdr_len);

/* One Destination (either form) / a list of them (e.g. the destination part of a reload:// URI).
 * decode: *used gets the bytes consumed. */
int reload_destination_encode(const struct reload_destination *d, struct reload_buf *out);
int reload_destination_decode(const uint8_t *buf, size_t len, unsigned node_id_len,
			      struct reload_destination *d, size_t *used);

/* §6.1.2 forwarding on the wire bytes, without decoding or re-encoding the rest of the message
 * (intermediate peers neither verify nor re-sign): optionally removes the first destination
 * entry, optionally prepends entries to the destination list (e.g. after expanding a compressed
 * entry), optionally appends one via entry, and decrements the TTL. Fails with -ELOOP when the
 * TTL is already 0, -EBADMSG on a malformed header. out receives the new message. */
struct reload_fwd_edit {
	bool pop_first_dest;
	const struct reload_destination *push_dest; /* prepended, in order */
	size_t push_dest_count;
	const struct reload_destination *append_via; /* NULL: none */
	bool decrement_ttl;
};
int reload_fwd_rewrite(const uint8_t *msg, size_t len, unsigned node_id_len,
		       const struct reload_fwd_edit *edit, struct reload_buf *out);

/* ---- message contents and security block (§6.3.3, §6.3.4) -------------------------------- */

struct reload_msg_extension {
	uint16_t type;
	bool critical;
	struct reload_bytes contents;
};

/* TLS registries used by the Signature structure. */
enum reload_hash_alg {
	RELOAD_HASH_NONE = 0,
	RELOAD_HASH_SHA1 = 2,
	RELOAD_HASH_SHA256 = 4,
	RELOAD_HASH_SHA384 = 5,
	RELOAD_HASH_SHA512 = 6,
};
enum reload_sig_alg {
	RELOAD_SIG_ANONYMOUS = 0,
	RELOAD_SIG_RSA = 1,
	RELOAD_SIG_ECDSA = 3,
};
enum reload_signer_identity_type {
	RELOAD_ID_CERT_HASH = 1,
	RELOAD_ID_CERT_HASH_NODE_ID = 2,
	RELOAD_ID_NONE = 3,
};
#define RELOAD_CERT_TYPE_X509 0 /* RFC 6091 CertificateType */

struct reload_signer_identity {
	uint8_t type;		  /* enum reload_signer_identity_type */
	uint8_t hash_alg;	  /* for CERT_HASH / CERT_HASH_NODE_ID */
	struct reload_bytes hash; /* certificate_hash / certificate_node_id_hash */
};

struct reload_signature {
	uint8_t hash_alg; /* SignatureAndHashAlgorithm.hash */
	uint8_t sig_alg;  /* SignatureAndHashAlgorithm.signature */
	struct reload_signer_identity identity;
	struct reload_bytes value;
};

struct reload_generic_cert {
	uint8_t type; /* RELOAD_CERT_TYPE_X509 */
	struct reload_bytes der;
};

struct reload_security_block {
	struct reload_generic_cert *certs;
	size_t cert_count;
	struct reload_signature signature;
};

/* A whole message. body/extensions are the MessageContents; body is the method's encoded
 * structure (decode it with reload_body_decode). */
struct reload_message {
	struct reload_fwd_header hdr;
	uint16_t code;
	struct reload_bytes body;
	struct reload_msg_extension *extensions;
	size_t extension_count;
	struct reload_security_block security;
	/* Offsets of MessageContents inside the decoded buffer (kept for signature checks). */
	struct reload_bytes contents_raw;
	struct reload_arena *arena; /* owner of everything above after reload_message_decode */
};

/* Decodes a complete (unfragmented or reassembled) message: header, contents and security
 * block; every length is checked against its container. Fragments (offset != 0 or last bit
 * clear) fail with -EAGAIN: pass them to the reassembly first. max_size (0: no limit) gives
 * -EMSGSIZE. *out is freed with reload_message_free. On failure after the header was read,
 * *hdr_out (if not NULL) gets the transaction ID etc. so the caller can answer with an Error. */
int reload_message_decode(const uint8_t *buf, size_t len, unsigned node_id_len, size_t max_size,
			  struct reload_message **out, struct reload_fwd_header *hdr_out);
void reload_message_free(struct reload_message *m);

/* The MessageContents and SecurityBlock encoders, exposed for tests and tools. */
int reload_contents_encode(uint16_t code, const struct reload_bytes *body,
			   const struct reload_msg_extension *ext, size_t ext_count,
			   struct reload_buf *out);
int reload_signature_encode(const struct reload_signature *s, struct reload_buf *out);
int reload_signature_decode(const uint8_t *buf, size_t len, struct reload_arena *a,
			    struct reload_signature *s, size_t *used);
int reload_signer_identity_encode(const struct reload_signer_identity *id, struct reload_buf *out);

/* ---- method bodies (§6.4.2, §6.5, §7.4, §10) --------------------------------------------- */

/* IpAddressPort (§6.3.1.1). type 1 IPv4 (addr[0..4)), 2 IPv6; unknown types keep raw bytes. */
enum reload_addr_type { RELOAD_ADDR_IPV4 = 1, RELOAD_ADDR_IPV6 = 2 };
struct reload_ip_port {
	uint8_t type;
	uint8_t addr[16];
	uint16_t port;
};
int reload_ip_port_from_addr(const struct pcdn_addr *a, struct reload_ip_port *out);
int reload_ip_port_to_addr(const struct reload_ip_port *p, struct pcdn_addr *out);

/* Probe (§6.4.2.5). */
enum reload_probe_type {
	RELOAD_PROBE_RESPONSIBLE_SET = 1,
	RELOAD_PROBE_NUM_RESOURCES = 2,
	RELOAD_PROBE_UPTIME = 3,
};
struct reload_probe_req {
	uint8_t *requested; /* ProbeInformationType values */
	size_t count;
};
struct reload_probe_info {
	uint8_t type;
	uint32_t
	    value; /* the three defined types are uint32; unknown types are skipped on decode */
};
struct reload_probe_ans {
	struct reload_probe_info *info;
	size_t count;
};

/* Attach / AppAttach (§6.5.1, §6.5.2). */
enum reload_overlay_link_type {
	RELOAD_LINK_DTLS_UDP_SR = 1,
	RELOAD_LINK_DTLS_UDP_SR_NO_ICE = 3,
	RELOAD_LINK_TLS_TCP_FH_NO_ICE = 4,
};
enum reload_cand_type { RELOAD_CAND_HOST = 1, RELOAD_CAND_SRFLX = 2, RELOAD_CAND_RELAY = 4 };
struct reload_ice_extension {
	struct reload_bytes name;
	struct reload_bytes value;
};
struct reload_ice_candidate {
	struct reload_ip_port addr_port;
	uint8_t overlay_link; /* enum reload_overlay_link_type */
	struct reload_bytes foundation;
	uint32_t priority;
	uint8_t cand_type;		     /* enum reload_cand_type */
	struct reload_ip_port rel_addr_port; /* srflx / relay only */
	struct reload_ice_extension *extensions;
	size_t extension_count;
};
/* AttachReqAns: the same structure for request and answer. */
struct reload_attach {
	struct reload_bytes ufrag;
	struct reload_bytes password;
	struct reload_bytes role; /* "passive" in the request, "active" in the answer */
	struct reload_ice_candidate *candidates;
	size_t candidate_count;
	bool send_update;
};
/* AppAttachReq / AppAttachAns. */
struct reload_app_attach {
	struct reload_bytes ufrag;
	struct reload_bytes password;
	uint16_t application;
	struct reload_bytes role;
	struct reload_ice_candidate *candidates;
	size_t candidate_count;
};
/* True when the candidates are all No-ICE link types, false when all ICE; -EBADMSG when mixed
 * (§6.5.1.1 forbids mixing) or empty. */
int reload_candidates_no_ice(const struct reload_ice_candidate *c, size_t n);

/* Join / Leave (§6.4.2.1, §6.4.2.2). */
struct reload_join_req {
	struct reload_node_id joining_peer_id;
	struct reload_bytes overlay_specific;
};
struct reload_join_ans {
	struct reload_bytes overlay_specific;
};
struct reload_leave_req {
	struct reload_node_id leaving_peer_id;
	struct reload_bytes overlay_specific;
};
/* LeaveAns, UpdateAns, ConfigUpdateAns are empty (decoders accept and ignore trailing bytes
 * only for UpdateAns/LeaveAns, which the RFC leaves to the overlay; ConfigUpdateAns must be
 * empty). */

/* CHORD-RELOAD Update (§10.7), the UpdateReq body of this topology. */
enum reload_chord_update_type {
	RELOAD_CHORD_PEER_READY = 1,
	RELOAD_CHORD_NEIGHBORS = 2,
	RELOAD_CHORD_FULL = 3,
};
struct reload_chord_update {
	uint32_t uptime;
	uint8_t type;
	struct reload_node_id *predecessors;
	size_t predecessor_count;
	struct reload_node_id *successors;
	size_t successor_count;
	struct reload_node_id *fingers; /* FULL only, numerically ascending */
	size_t finger_count;
};

/* RouteQuery (§6.4.2.4); the CHORD-RELOAD answer is a single Node-ID (§10.8). */
struct reload_route_query_req {
	bool send_update;
	struct reload_destination destination;
	struct reload_bytes overlay_specific;
};
struct reload_chord_route_query_ans {
	struct reload_node_id next_peer;
};

/* Ping (§6.5.3). */
struct reload_ping_req {
	struct reload_bytes padding;
};
struct reload_ping_ans {
	uint64_t response_id;
	uint64_t time; /* ms since the epoch, like storage_time */
};

/* ConfigUpdate (§6.5.4). */
enum reload_config_update_type { RELOAD_CONFIG_UPDATE_CONFIG = 1, RELOAD_CONFIG_UPDATE_KIND = 2 };
struct reload_config_update_req {
	uint8_t type;
	struct reload_bytes config_data; /* CONFIG: the Configuration Document; an unknown type:
					  * its content as received */
	struct reload_bytes *kinds;	 /* KIND: KindDescription (XML kind-block) each */
	size_t kind_count;
};

/* Error (§6.3.3.1). */
struct reload_error_response {
	uint16_t error_code;
	struct reload_bytes error_info;
};
/* error_info of Error_Unknown_Kind (§7.4.1.2): KindId unknown_kinds<0..2^8-1>. The error_info
 * of Error_Generation_Counter_Too_Low is a StoreAns: encode it with reload_body_encode. */
int reload_unknown_kinds_encode(const uint32_t *kinds, size_t n, struct reload_buf *out);
int reload_unknown_kinds_decode(const uint8_t *buf, size_t len, uint32_t *kinds, size_t max,
				size_t *n);

/* ---- stored data (§7) ---------------------------------------------------------------------- */

enum reload_data_model {
	RELOAD_MODEL_UNKNOWN = 0, /* Kind not in the configuration: value kept raw */
	RELOAD_MODEL_SINGLE = 1,
	RELOAD_MODEL_ARRAY = 2,
	RELOAD_MODEL_DICTIONARY = 3,
};

#define RELOAD_ARRAY_APPEND 0xffffffffu /* ArrayEntry.index: append (§7.4.1.1) */

struct reload_data_value {
	bool exists;
	struct reload_bytes value;
};

/* StoredDataValue: which fields matter depends on the Kind's model. */
struct reload_stored_data_value {
	uint8_t model;		 /* enum reload_data_model */
	uint32_t index;		 /* ARRAY */
	struct reload_bytes key; /* DICTIONARY */
	struct reload_data_value value;
	struct reload_bytes raw; /* UNKNOWN model: the encoded StoredDataValue */
};

struct reload_stored_data {
	uint64_t storage_time; /* ms since the epoch */
	uint32_t lifetime;     /* seconds */
	struct reload_stored_data_value value;
	struct reload_signature signature;
};

/* Store (§7.4.1). */
struct reload_store_kind_data {
	uint32_t kind;
	uint64_t generation;
	struct reload_stored_data *values;
	size_t value_count;
};
struct reload_store_req {
	struct reload_resource_id resource;
	uint8_t replica_number;
	struct reload_store_kind_data *kind_data;
	size_t kind_count;
};
struct reload_store_kind_response {
	uint32_t kind;
	uint64_t generation;
	struct reload_node_id *replicas;
	size_t replica_count;
};
struct reload_store_ans {
	struct reload_store_kind_response *kinds;
	size_t kind_count;
};

/* Fetch / Stat (§7.4.2, §7.4.3). */
struct reload_array_range {
	uint32_t first; /* int32 on the wire; 0xffffffff means the last element */
	uint32_t last;
};
struct reload_stored_data_specifier {
	uint32_t kind;
	uint64_t generation;
	uint8_t model; /* from the Kind; UNKNOWN keeps the model_specifier raw */
	struct reload_array_range *indices; /* ARRAY */
	size_t index_count;
	struct reload_bytes *keys; /* DICTIONARY; none = wildcard */
	size_t key_count;
	struct reload_bytes raw; /* UNKNOWN model */
};
struct reload_fetch_req {
	struct reload_resource_id resource;
	struct reload_stored_data_specifier *specifiers;
	size_t specifier_count;
};
struct reload_fetch_kind_response {
	uint32_t kind;
	uint64_t generation;
	struct reload_stored_data *values;
	size_t value_count;
};
struct reload_fetch_ans {
	struct reload_fetch_kind_response *kinds;
	size_t kind_count;
};
typedef struct reload_fetch_req reload_stat_req;
struct reload_meta_data {
	bool exists;
	uint32_t value_length;
	uint8_t hash_alg;
	struct reload_bytes hash_value;
};
struct reload_stored_meta_data {
	/* length of the rest of this StoredMetaData, like StoredData.length: set by the decoder,
	 * computed by the encoder (the field's value is ignored when encoding) */
	uint32_t value_length;
	uint64_t storage_time;
	uint32_t lifetime;
	uint8_t model;
	uint32_t index;		 /* ARRAY */
	struct reload_bytes key; /* DICTIONARY */
	struct reload_meta_data meta;
	struct reload_bytes raw; /* UNKNOWN model: the rest of the StoredMetaData, undivided */
};
struct reload_stat_kind_response {
	uint32_t kind;
	uint64_t generation;
	struct reload_stored_meta_data *values;
	size_t value_count;
};
struct reload_stat_ans {
	struct reload_stat_kind_response *kinds;
	size_t kind_count;
};

/* Find (§7.4.4). */
struct reload_find_req {
	struct reload_resource_id resource;
	uint32_t *kinds;
	size_t kind_count;
};
struct reload_find_kind_data {
	uint32_t kind;
	struct reload_resource_id closest;
};
struct reload_find_ans {
	struct reload_find_kind_data *results;
	size_t result_count;
};

/* Every body, selected by the message code. UpdateReq is the CHORD-RELOAD ChordUpdate,
 * RouteQueryAns the ChordRouteQueryAns; answers with no content use no member. */
union reload_body {
	struct reload_probe_req probe_req;
	struct reload_probe_ans probe_ans;
	struct reload_attach attach; /* ATTACH_REQ and ATTACH_ANS */
	struct reload_store_req store_req;
	struct reload_store_ans store_ans;
	struct reload_fetch_req fetch_req;
	struct reload_fetch_ans fetch_ans;
	reload_stat_req stat_req;
	struct reload_stat_ans stat_ans;
	struct reload_find_req find_req;
	struct reload_find_ans find_ans;
	struct reload_join_req join_req;
	struct reload_join_ans join_ans;
	struct reload_leave_req leave_req;
	struct reload_chord_update update_req;
	struct reload_route_query_req route_query_req;
	struct reload_chord_route_query_ans route_query_ans;
	struct reload_ping_req ping_req;
	struct reload_ping_ans ping_ans;
	struct reload_app_attach app_attach; /* APP_ATTACH_REQ and APP_ATTACH_ANS */
	struct reload_config_update_req config_update_req;
	struct reload_error_response error;
};

/* What the body codec needs from the overlay: the Node-ID length and each Kind's data model
 * (Store/Fetch/Stat values are encoded per model). kind_model returns RELOAD_MODEL_UNKNOWN for
 * a Kind it does not know. reload_codec_params_from_config fills it from a configuration. */
struct reload_codec_params {
	unsigned node_id_len;
	enum reload_data_model (*kind_model)(const void *ctx, uint32_t kind);
	const void *kind_ctx;
};

/* Encodes the body of message code `code` (reload_msg_code) from b. -EINVAL: unknown code or a
 * field out of its wire range (e.g. > 2^16-1 candidates bytes). */
int reload_body_encode(uint16_t code, const union reload_body *b,
		       const struct reload_codec_params *p, struct reload_buf *out);
/* Decodes the body of `code` into b (arena-owned). -EBADMSG on malformed input, -ENOTSUP for a
 * code this library has no body for (exp_*, reserved; answer Error_Invalid_Message). */
int reload_body_decode(uint16_t code, const uint8_t *buf, size_t len,
		       const struct reload_codec_params *p, struct reload_arena *a,
		       union reload_body *b);

/* StoredData / StoredDataValue codec (§7, §7.2), also used by signatures and the kind store. */
int reload_stored_data_value_encode(const struct reload_stored_data_value *v,
				    struct reload_buf *out);
int reload_stored_data_encode(const struct reload_stored_data *sd, struct reload_buf *out);
int reload_stored_data_decode(const uint8_t *buf, size_t len, uint8_t model, struct reload_arena *a,
			      struct reload_stored_data *sd, size_t *used);

/* ---- building and signing a message (§6.3.4) -------------------------------------------- */

/* A node's credentials: private key, certificate and the Node-ID it signs as. */
struct reload_signer;
/* Takes references on key and cert. node_id: which of the certificate's Node-IDs to sign as
 * (NULL: the first); fails (NULL, errno EINVAL) if the certificate carries none or the key does
 * not match the certificate. */
struct reload_signer *reload_signer_new(EVP_PKEY *key, X509 *cert,
					const struct reload_node_id *node_id, unsigned node_id_len);
struct reload_signer *reload_signer_load(const char *key_pem_path, const char *cert_pem_path,
					 unsigned node_id_len);
void reload_signer_free(struct reload_signer *s);
const struct reload_node_id *reload_signer_node_id(const struct reload_signer *s);
const char *reload_signer_user(const struct reload_signer *s); /* "" if none */
X509 *reload_signer_cert(const struct reload_signer *s);       /* borrowed */
EVP_PKEY *reload_signer_key(const struct reload_signer *s);    /* borrowed */
/* Signs data with the signer's key and identity: fills sig (arena-owned bytes). The signed
 * input is prefix || SignerIdentity, the form §6.3.4 and §7.1 share. */
int reload_signer_sign(const struct reload_signer *s, const struct reload_bytes *parts,
		       size_t part_count, struct reload_arena *a, struct reload_signature *sig);

/* Encodes header + MessageContents + SecurityBlock, signing overlay || transaction_id ||
 * MessageContents || SignerIdentity with signer. The security block carries the signer's
 * certificate followed by extra_certs (e.g. the certificates of stored values being returned
 * by a Fetch). h->length and h->version are filled in (version 0x0a). */
int reload_message_encode(const struct reload_fwd_header *h, uint16_t code,
			  const struct reload_bytes *body, const struct reload_msg_extension *ext,
			  size_t ext_count, const struct reload_signer *signer,
			  const struct reload_bytes *extra_certs, size_t extra_cert_count,
			  struct reload_buf *out);
/* Convenience: encodes b with reload_body_encode, then the message. */
int reload_message_build(const struct reload_fwd_header *h, uint16_t code,
			 const union reload_body *b, const struct reload_codec_params *p,
			 const struct reload_signer *signer, struct reload_buf *out);
/* The ErrorResponse for a failed request (§6.3.3.1): code + UTF-8 text. */
int reload_error_build(const struct reload_fwd_header *h, uint16_t error_code, const char *info,
		       const struct reload_codec_params *p, const struct reload_signer *signer,
		       struct reload_buf *out);

/* ---- trust and verification (§6.3.4, §7.1, §11.3, §13.3) --------------------------------- */

/* What a certificate says (§11.3): its Node-IDs (reload:// URIs in subjectAltName) and user
 * name (rfc822Name). */
#define RELOAD_CERT_MAX_NODE_IDS 16
struct reload_cert_identity {
	struct reload_node_id node_ids[RELOAD_CERT_MAX_NODE_IDS];
	size_t node_id_count;
	char user[256];
	bool self_signed;
};
/* Reads the identity from cert; -EBADMSG when a RELOAD URI in it is malformed, -ENOENT when it
 * has no Node-ID. overlay (may be NULL): only URIs for that overlay name count. */
int reload_cert_identity_get(X509 *cert, unsigned node_id_len, const char *overlay,
			     struct reload_cert_identity *out);

/* The overlay's trust policy: root certificates, self-signed mode and its digest, bad nodes. */
struct reload_overlay_config;
struct reload_trust;
struct reload_trust *reload_trust_new(unsigned node_id_len, const char *overlay_name);
struct reload_trust *reload_trust_from_config(const struct reload_overlay_config *cfg);
void reload_trust_free(struct reload_trust *t);
int reload_trust_add_root(struct reload_trust *t, X509 *root); /* takes a reference */
int reload_trust_add_root_der(struct reload_trust *t, const uint8_t *der, size_t len);
/* digest: RELOAD_HASH_SHA1 or RELOAD_HASH_SHA256 (self-signed-permitted digest attribute). */
void reload_trust_set_self_signed(struct reload_trust *t, bool permitted, uint8_t digest);
int reload_trust_add_bad_node(struct reload_trust *t, const struct reload_node_id *n);

/* Checks a certificate at time now: chains to a root (PKIX, BasicConstraints), or, when the
 * overlay permits it, is self-signed with every Node-ID derived from its public key as §11.3.1
 * requires; no listed bad node. -EACCES when refused. */
int reload_trust_check_cert(const struct reload_trust *t, X509 *cert, time_t now,
			    struct reload_cert_identity *out);

/* The verified signer of a message or stored value. */
struct reload_peer {
	struct reload_cert_identity ident;
	struct reload_node_id node_id; /* the Node-ID the signature was made as */
	X509 *cert; /* reference owned by the caller: X509_free when done (may be NULL) */
};
void reload_peer_clear(struct reload_peer *p);

/* Verifies a decoded message's signature (§6.3.4): finds the certificate named by the signer
 * identity in the security block, checks it with reload_trust_check_cert and the signature over
 * overlay || transaction_id || MessageContents || SignerIdentity. -EACCES on any failure. */
int reload_message_verify(const struct reload_message *m, const struct reload_trust *t, time_t now,
			  struct reload_peer *signer);

/* §7.1: signs/verifies a StoredData over resource_id || kind || storage_time ||
 * StoredDataValue || SignerIdentity. For ARRAY the index is taken as 0 (§7.4.2.2). certs: the
 * certificates that came with the message (security block). Verification refuses the
 * anonymous identity (-EACCES). */
int reload_stored_data_sign(const struct reload_signer *s, const struct reload_resource_id *res,
			    uint32_t kind, struct reload_stored_data *sd, struct reload_arena *a);
int reload_stored_data_verify(const struct reload_stored_data *sd,
			      const struct reload_resource_id *res, uint32_t kind,
			      const struct reload_generic_cert *certs, size_t cert_count,
			      const struct reload_trust *t, time_t now, struct reload_peer *signer);

/* ---- Kinds and access control (§7.3, §7.4.5, §11.1) -------------------------------------- */

enum reload_access_policy {
	RELOAD_ACCESS_UNKNOWN = 0,
	RELOAD_ACCESS_USER_MATCH = 1,
	RELOAD_ACCESS_NODE_MATCH = 2,
	RELOAD_ACCESS_USER_NODE_MATCH = 3,
	RELOAD_ACCESS_NODE_MULTIPLE = 4,
	/* pcdn extension ("PCDN-NODE-ANY", §14.4 allows new policies): any node holding a valid
	 * overlay certificate may write; used by shared Kinds such as content location, where
	 * tracker nodes store entries for peers that are not overlay members. */
	RELOAD_ACCESS_PCDN_NODE_ANY = 128,
};

/* Kind-IDs registered by the RFC (§14.6). */
#define RELOAD_KIND_TURN_SERVICE	0x2
#define RELOAD_KIND_CERTIFICATE_BY_NODE 0x3
#define RELOAD_KIND_CERTIFICATE_BY_USER 0x10

struct reload_kind_def {
	uint32_t id;
	char name[64];	/* IANA name when defined by name, "" for private ids */
	uint8_t model;	/* enum reload_data_model */
	uint8_t policy; /* enum reload_access_policy */
	uint32_t max_count;
	uint32_t max_size;
	uint32_t max_node_multiple; /* NODE-MULTIPLE only */
	/* From a configuration document: the kind element's exact bytes and the decoded
	 * kind-signature (empty when unsigned), for reload_config_verify_kind. */
	struct reload_bytes raw;
	struct reload_bytes signature;
};

/* §7.3: may signer write sd (of this Kind) at res? The signer's Node-ID is the one it signed
 * as. Hashes use the CHORD-RELOAD hash with the Resource-ID's length. NODE-MULTIPLE tries
 * H(Node-ID || i) for i = 1..max_node_multiple, i as a 4-byte big-endian integer (the same
 * index encoding §11.3.1 uses for multi-Node-ID certificates). 0 or -EACCES. */
int reload_access_check(const struct reload_kind_def *k, const struct reload_resource_id *res,
			const struct reload_stored_data_value *v, const struct reload_peer *signer);
const char *reload_access_policy_name(uint8_t policy);
int reload_access_policy_parse(const char *s); /* -EINVAL if unknown */
const char *reload_data_model_name(uint8_t model);
int reload_data_model_parse(const char *s); /* -EINVAL if unknown */

/* ---- stored values of one Kind at one Resource-ID (§7.2, §7.4) --------------------------- */

/* The storage semantics of a Kind at one Resource-ID: data model rules (single value replaced,
 * sparse arrays with append, dictionary keyed entries), storage_time ordering, generation
 * counter, max-count/max-size and lifetimes (expiry measured from the local receive time).
 * Values are copied in. The caller (the storage service) checks signatures and access first. */
struct reload_kind_store;
struct reload_kind_store *reload_kind_store_new(const struct reload_kind_def *kind);
void reload_kind_store_free(struct reload_kind_store *ks);
/* Checks without changing anything what apply would do: -ETIME (Data_Too_Old), -ESTALE
 * (Generation_Counter_Too_Low), -EFBIG (Data_Too_Large: a value over max-size or more than
 * max-count values), -EBADMSG (wrong model, replica store with generation 0). Lets a StoreReq
 * with several Kinds be applied atomically (check all, then apply all). */
int reload_kind_store_check(const struct reload_kind_store *ks,
			    const struct reload_store_kind_data *kd, bool replica, uint64_t now_ms);
/* Applies a checked StoreKindData; returns the new generation counter (> 0) via *generation.
 * replica: generation taken from kd (§7.4.1.1). */
int reload_kind_store_apply(struct reload_kind_store *ks, const struct reload_store_kind_data *kd,
			    bool replica, uint64_t now_ms, uint64_t *generation);
/* Answers a Fetch specifier: values in arena memory. Nonexistent requested entries are
 * synthesised with exists = false and the anonymous signature (§7.4.2.2); a generation equal
 * to the stored one returns no values. */
int reload_kind_store_fetch(const struct reload_kind_store *ks,
			    const struct reload_stored_data_specifier *spec, uint64_t now_ms,
			    struct reload_arena *a, struct reload_fetch_kind_response *out);
/* Answers a Stat specifier (SHA-256 over the DataValue.value including its length prefix). */
int reload_kind_store_stat(const struct reload_kind_store *ks,
			   const struct reload_stored_data_specifier *spec, uint64_t now_ms,
			   struct reload_arena *a, struct reload_stat_kind_response *out);
/* Everything stored, with lifetimes reduced by the time held (§7.4.1.1), for replication or
 * hand-over on join/leave. */
int reload_kind_store_export(const struct reload_kind_store *ks, uint64_t now_ms,
			     struct reload_arena *a, struct reload_store_kind_data *out);
/* Drops expired values; returns how many were dropped. */
size_t reload_kind_store_expire(struct reload_kind_store *ks, uint64_t now_ms);
size_t reload_kind_store_count(const struct reload_kind_store *ks);
uint64_t reload_kind_store_generation(const struct reload_kind_store *ks);
/* Certificates of the signers of the stored values are not kept here: the storage service
 * keeps them (§6.3.4 note to implementers). */

/* ---- fragmentation and reassembly (§6.7) ------------------------------------------------- */

/* Splits a message that does not fit in mtu (the next link's PMTU) into fragments of at most
 * mtu - 32 bytes (room for the via list to grow), the header copied into every fragment, pieces
 * of equal size within one byte and at least 256 bytes; a message that fits is emitted
 * unchanged. A fragment given in is split again keeping its offsets. -EMSGSIZE when header +
 * 32 + 256 bytes exceed mtu (then IP fragmentation is left to do the work). emit is called once
 * per fragment; a negative return from it stops and is returned. Returns the fragment count. */
int reload_fragment_split(const uint8_t *msg, size_t len, unsigned node_id_len, size_t mtu,
			  int (*emit)(void *ctx, const uint8_t *frag, size_t frag_len), void *ctx);

/* Holding buffer keyed by transaction ID; incomplete messages time out (15 s by default) and
 * the total held is bounded (an incoming fragment that does not fit is dropped: -ENOBUFS). */
struct reload_reassembly;
struct reload_reassembly *reload_reassembly_new(size_t max_bytes, uint64_t timeout_ms);
void reload_reassembly_free(struct reload_reassembly *r);
/* Adds one fragment. Returns 1 and a malloc'd whole message (header of the first fragment,
 * fragment field 0xC0000000, length fixed) in *msg and *msg_len when complete; 0 while pending;
 * -EBADMSG for an inconsistent fragment (overlap with different bytes, past the end). An
 * unfragmented message is returned as a copy at once. */
int reload_reassembly_add(struct reload_reassembly *r, const uint8_t *frag, size_t len,
			  unsigned node_id_len, uint64_t now_ms, uint8_t **msg, size_t *msg_len);
size_t reload_reassembly_expire(struct reload_reassembly *r, uint64_t now_ms);
size_t reload_reassembly_pending(const struct reload_reassembly *r);

/* ---- overlay configuration document (§11.1) ---------------------------------------------- */

struct reload_bootstrap_node {
	char address[64];
	uint16_t port;
	struct pcdn_addr addr;
};

struct reload_overlay_config {
	char instance_name[256];
	uint32_t overlay_hash; /* reload_overlay_hash(instance_name) */
	uint16_t sequence;
	int64_t expiration;		 /* Unix seconds, 0 when absent */
	char topology_plugin[64];	 /* "CHORD-RELOAD" by default */
	unsigned node_id_length;	 /* 16..20, default 16 */
	struct reload_bytes *root_certs; /* DER */
	size_t root_cert_count;
	char **enrollment_servers;
	size_t enrollment_server_count;
	bool self_signed_permitted;
	uint8_t self_signed_digest; /* RELOAD_HASH_SHA1 / SHA256 */
	struct reload_bootstrap_node *bootstrap;
	size_t bootstrap_count;
	unsigned turn_density;		/* default 1 */
	bool clients_permitted;		/* default true */
	bool no_ice;			/* default false */
	uint32_t chord_update_interval; /* seconds; 0 when absent (the plug-in picks) */
	uint32_t chord_ping_interval;
	bool chord_reactive;		    /* default true */
	char *shared_secret;		    /* NULL when absent */
	uint32_t max_message_size;	    /* default 5000 */
	unsigned initial_ttl;		    /* default 100 */
	uint32_t overlay_reliability_timer; /* ms, default 3000, >= 200 */
	char **link_protocols;		    /* default one entry: "TLS" */
	size_t link_protocol_count;
	struct reload_node_id *kind_signers;
	size_t kind_signer_count;
	struct reload_node_id *configuration_signers;
	size_t configuration_signer_count;
	struct reload_node_id *bad_nodes;
	size_t bad_node_count;
	char **mandatory_extensions;
	size_t mandatory_extension_count;
	struct reload_kind_def *kinds;
	size_t kind_count;
	/* The configuration element exactly as in the document (signature input, §11.1) and the
	 * base64-decoded signature element that follows it, if any. */
	struct reload_bytes raw_configuration;
	struct reload_bytes signature;
	struct reload_arena *arena;
};

/* Parses an overlay configuration document. instance_name selects the configuration element
 * (NULL: the first). Errors: -EINVAL with err = "source:line: <element>: why" (well-formedness,
 * namespace, missing or malformed required values, node-id-length out of 16..20, duplicate or
 * invalid Kind ids, NODE-MULTIPLE without max-node-multiple, USER-NODE-MATCH on a non-dictionary
 * Kind, unknown data model or access policy, bad base64/DER root-cert, bad bootstrap address,
 * overlay-reliability-timer < 200, an unsupported mandatory-extension, no trust anchors when
 * self-signed certificates are not permitted), -ENOENT when instance_name is not there. */
int reload_config_parse(const char *xml, size_t len, const char *source, const char *instance_name,
			struct reload_overlay_config **out, char *err, size_t errlen);
int reload_config_load(const char *path, const char *instance_name,
		       struct reload_overlay_config **out, char *err, size_t errlen);
void reload_config_free(struct reload_overlay_config *cfg);
const struct reload_kind_def *reload_config_kind(const struct reload_overlay_config *cfg,
						 uint32_t kind);
/* §11.1: the signature element of a configuration is a base64 SecurityBlock over the
 * configuration element's exact bytes. reload_config_sign returns that base64 text (malloc'd)
 * for element (from "<configuration" to "</configuration>" inclusive). reload_config_verify
 * checks cfg->signature over cfg->raw_configuration: the signer's certificate must pass t and
 * its Node-ID must be a configuration-signer of signers_from (the previous configuration; the
 * configuration itself for the first one). -ENOENT: unsigned; -EACCES: bad or unauthorised. */
char *reload_config_sign(const struct reload_bytes *element, const struct reload_signer *s);
int reload_config_verify(const struct reload_overlay_config *cfg,
			 const struct reload_overlay_config *signers_from,
			 const struct reload_trust *t, time_t now);
/* §11.1: a kind-signature covers the kind element from its first "<" to its last ">" and must
 * come from a kind-signer of cfg (reload_config_sign makes one over a kind element too).
 * -ENOENT: unsigned; -EACCES: bad or unauthorised. */
int reload_config_verify_kind(const struct reload_overlay_config *cfg,
			      const struct reload_kind_def *k, const struct reload_trust *t,
			      time_t now);

/* §6.5.4.1: one KindDescription of a ConfigUpdate of type kind (an XML kind-block in the
 * config-base namespace) into *out; its raw kind element and signature live in a. Verify it
 * with reload_config_verify_kind against the current configuration before using it. -EINVAL
 * with err on anything but exactly one valid kind-block. */
int reload_kind_description_parse(const struct reload_bytes *desc, struct reload_arena *a,
				  struct reload_kind_def *out, char *err, size_t errlen);

/* Node-ID length, kind models from cfg; p stays valid while cfg lives. */
void reload_codec_params_from_config(const struct reload_overlay_config *cfg,
				     struct reload_codec_params *p);
/* Defaults only (tests, tools): node_id_len 16, no kinds. */
void reload_codec_params_default(struct reload_codec_params *p);

/* ---- enrollment (§11.3, §11.3.1) ---------------------------------------------------------- */

enum reload_key_type { RELOAD_KEY_RSA2048 = 1, RELOAD_KEY_EC_P256 = 2 };
EVP_PKEY *reload_key_generate(enum reload_key_type type);
/* An operator CA: self-signed, CA:TRUE, keyCertSign. */
X509 *reload_cert_make_ca(EVP_PKEY *ca_key, const char *common_name, unsigned days);
/* Issues a node certificate as §11.3 says: empty subject, subjectAltName with one
 * reload://<node dest>@overlay/ URI per Node-ID and the user as rfc822Name, nothing else.
 * node_ids NULL: n random Node-IDs of node_id_len bytes are chosen (and returned in
 * node_ids_out if not NULL). */
X509 *reload_cert_issue(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *subject_key, const char *overlay,
			const char *user, const struct reload_node_id *node_ids, size_t n,
			unsigned node_id_len, unsigned days, struct reload_node_id *node_ids_out);
/* Self-signed credentials (§11.3.1): Node-ID(s) = digest(subjectPublicKeyInfo DER) (with a
 * 4-byte index prefix when n > 1) truncated to node_id_len. */
X509 *reload_cert_make_self_signed(EVP_PKEY *key, const char *overlay, const char *user, size_t n,
				   unsigned node_id_len, uint8_t digest, unsigned days);
/* The Node-ID a self-signed certificate must carry (index 0: single-Node-ID form). */
int reload_self_signed_node_id(EVP_PKEY *key, uint8_t digest, unsigned node_id_len, uint32_t index,
			       struct reload_node_id *out);
/* PEM files (key written 0600). */
int reload_pem_write_key(const char *path, EVP_PKEY *key);
int reload_pem_write_cert(const char *path, X509 *cert);
EVP_PKEY *reload_pem_read_key(const char *path);
X509 *reload_pem_read_cert(const char *path);
/* base64 DER of cert for a <root-cert> element (malloc'd, NUL-terminated). */
char *reload_cert_to_base64(X509 *cert);

#ifdef __cplusplus
}
#endif

#endif
