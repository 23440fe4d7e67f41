/* libFuzzer target: the RFC 6940 §6.6.2 framing header parser on an arbitrary byte stream, the
 * way the TLS link consumes it (frame after frame, partial frames wait for more bytes), and the
 * ACK bitmask over the sequence numbers seen. Must never read outside the buffer; a parsed
 * frame must fit in what was given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reload_link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reload_fh_rx rx;
	size_t off = 0;
	uint32_t max = size > 0 ? (uint32_t)data[0] * 64 : 0;

	memset(&rx, 0, sizeof(rx));
	while (off < size) {
		struct reload_fh_frame f;
		int n = reload_fh_parse(data + off, size - off, max, &f);

		if (n <= 0)
			break;
		if ((size_t)n > size - off)
			abort();
		if (f.type == RELOAD_FH_DATA) {
			if (f.msg_len > max || f.msg + f.msg_len != data + off + (size_t)n)
				abort();
			(void)reload_fh_rx_mask(&rx, f.seq);
			reload_fh_rx_record(&rx, f.seq);
		} else if (f.type != RELOAD_FH_ACK || n != RELOAD_FH_ACK_LEN) {
			abort();
		}
		off += (size_t)n;
	}
	return 0;
}
